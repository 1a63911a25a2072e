"""The recent calls of ``dsm serve`` (``SipCalls.recent``): kept for operators and tests, released on leaving.

An ended call still among the recent calls keeps its session and media for
whoever looks at it; the one that leaves them is released (its reference
cycles cut) if it ended.  Whether a call is still there is answered without
a scan of them, once per ended call.
"""

from __future__ import annotations

from typing import Any, cast

from dsm.runtime.sip.rtp_session import RtpPortPool
from dsm.runtime.sip.sipcall import SipCall, SipCalls


def _ended(call_id: str) -> SipCall:
    """A SipCall with just what :meth:`SipCalls.remember` looks at (a compiled SipCalls checks the type)."""
    call = SipCall.__new__(SipCall)
    call.call_id = call_id
    call.session = None  # no session: ended
    call.recent_number = None
    call.released = False  # type: ignore[attr-defined]
    call.release = lambda: setattr(call, "released", True)  # type: ignore[method-assign]
    return call


def _calls(keep: int) -> SipCalls:
    nothing = cast(Any, None)
    return SipCalls(
        nothing,
        host="127.0.0.1",
        choose_app=lambda request: "",
        prompts_for=nothing,
        rtp_ports=RtpPortPool("127.0.0.1"),  # a compiled SipCalls checks the types it is given
        log=lambda *args, **fields: None,
        keep_recent=keep,
    )


def test_a_call_is_recent_until_as_many_newer_ones_came_as_are_kept() -> None:
    calls = _calls(keep=2)
    a, b, c = (_ended(name) for name in "abc")
    for call in (a, b):
        calls.remember(cast(SipCall, call))
    assert calls.is_recent(cast(SipCall, a)) and calls.is_recent(cast(SipCall, b))
    calls.remember(cast(SipCall, c))
    assert list(calls.recent) == [b, c]
    assert not calls.is_recent(cast(SipCall, a)) and calls.is_recent(cast(SipCall, c))
    assert a.released and not b.released  # ended, forgotten and out of the recent calls


def test_a_call_never_remembered_or_none_kept_is_not_recent() -> None:
    assert not _calls(keep=2).is_recent(cast(SipCall, _ended("x")))
    none_kept = _calls(keep=0)
    call = _ended("y")
    none_kept.remember(cast(SipCall, call))
    assert list(none_kept.recent) == [] and not none_kept.is_recent(cast(SipCall, call))
