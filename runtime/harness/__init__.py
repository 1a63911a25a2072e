"""The simulated call harness: unit-test ``.dsm`` scripts without a phone.

::

    from dsm.runtime.harness import Harness

    h = Harness(scripts="examples/pin")
    call = h.call("pin")
    call.press("1234#")
    call.advance(10.0)
    call.hangup()
    assert call.terminated
"""

from dsm.runtime.harness.assertions import (
    DSMAssertionError,
    assert_played,
    assert_replied,
    assert_state,
    assert_terminated,
    assert_var,
)
from dsm.runtime.harness.callee import SimCallee
from dsm.runtime.harness.harness import KEY_CODES, Harness, SystemHandle, TestCall
from dsm.runtime.harness.records import Line, Played, Reply, Request
from dsm.runtime.harness.sbc import SbcTestCall, SimSbcLeg
from dsm.runtime.harness.simcall import SimCall

__all__ = [
    "DSMAssertionError",
    "Harness",
    "KEY_CODES",
    "Line",
    "Played",
    "Reply",
    "Request",
    "SbcTestCall",
    "SimCall",
    "SimSbcLeg",
    "SimCallee",
    "SystemHandle",
    "TestCall",
    "assert_played",
    "assert_replied",
    "assert_state",
    "assert_terminated",
    "assert_var",
]
