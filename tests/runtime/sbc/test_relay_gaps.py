"""The B leg's Contact from the profile and its session timer, on the wire.

sipp caller -> ``dsm serve --sbc`` -> sipp callee on loopback, as in
``test_relay_wire``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLEE_BYE, callee, recv_reply
from test_sip_serve import ACK_2XX, pause, reply_to_last


@pytest.fixture
def rig(sipp: str, tmp_path: Path) -> Iterator[SbcRig]:
    r = SbcRig(sipp, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_profile_contact_is_the_b_legs_contact_and_the_callees_bye_to_it_crosses(rig: SbcRig) -> None:
    """``Contact=<sip:gw@$Ri:$Rp>``: the callee's INVITE carries that Contact (not the server's own);
    the callee's BYE, addressed to it, is answered and crosses to the caller."""
    port = rig.callee(
        callee(
            check("^ *.sip:gw@127.0.0.1:[0-9]+.$", "contact", 'search_in="hdr" header="Contact:"'),
            then=(pause(300), CALLEE_BYE),
        )
    )
    rig.profile("c", f"next_hop=127.0.0.1:{port}\nContact=<sip:gw@$Ri:$Rp>\n")
    rig.start(["c"], "c")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            recv_request("BYE"), reply_to_last(), refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.plan is not None and call.plan.contact == f"<sip:gw@127.0.0.1:{rig.server.port}>"  # type: ignore[union-attr]
