"""The recent calls of ``dsm serve`` (``SipCalls.recent``): kept for operators and tests, released on leaving.

An ended call still among the recent calls keeps its session and media for
whoever looks at it; the one that leaves them is released (its reference
cycles cut) if it ended.  Whether a call is still there is answered without
a scan of them, once per ended call.
"""

from __future__ import annotations

from typing import Any, cast

from dsm.runtime.sip.sipcall import SipCall, SipCalls


class _Ended:
    """Just what :meth:`SipCalls.remember` looks at of a call."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.session = None  # no session: ended
        self.recent_number: int | None = None
        self.released = False

    def release(self) -> None:
        self.released = True


def _calls(keep: int) -> SipCalls:
    nothing = cast(Any, None)
    return SipCalls(
        nothing,
        host="127.0.0.1",
        choose_app=lambda request: "",
        prompts_for=nothing,
        rtp_ports=nothing,
        log=lambda *args, **fields: None,
        keep_recent=keep,
    )


def test_a_call_is_recent_until_as_many_newer_ones_came_as_are_kept() -> None:
    calls = _calls(keep=2)
    a, b, c = (_Ended(name) for name in "abc")
    for call in (a, b):
        calls.remember(cast(SipCall, call))
    assert calls.is_recent(cast(SipCall, a)) and calls.is_recent(cast(SipCall, b))
    calls.remember(cast(SipCall, c))
    assert list(calls.recent) == [b, c]
    assert not calls.is_recent(cast(SipCall, a)) and calls.is_recent(cast(SipCall, c))
    assert a.released and not b.released  # ended, forgotten and out of the recent calls


def test_a_call_never_remembered_or_none_kept_is_not_recent() -> None:
    assert not _calls(keep=2).is_recent(cast(SipCall, _Ended("x")))
    none_kept = _calls(keep=0)
    call = _Ended("y")
    none_kept.remember(cast(SipCall, call))
    assert list(none_kept.recent) == [] and not none_kept.is_recent(cast(SipCall, call))
