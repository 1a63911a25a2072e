"""Tests of the cc_dsm example bundle (sbc_control.conf + sbc_control.dsm) on simulated SBC legs.

Each test is one simulated SBC call (``Harness.sbc_call``): the A leg's
session starts before the INVITE is relayed, the test plays the callee and
the caller, and virtual time runs the call-time limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsm.runtime.harness import Harness, SbcTestCall
from dsm.runtime.sbc.profile import CallProfile

HERE = Path(__file__).parent


@pytest.fixture
def harness() -> Harness:
    h = Harness(scripts=HERE / "sbc_control.dsm")
    h.load_bundle(HERE / "sbc_control.conf")
    return h


def place(h: Harness, caller_user: str, **values: str) -> SbcTestCall:
    return h.sbc_call(
        "sbc_control",
        "sbc_control",
        values={"caller": caller_user, **values},  # what ctl_caller=$fU gives
        caller=f"sip:{caller_user}@example.org",
        profile=CallProfile("example"),
    )


def test_blacklisted_caller_is_refused_with_403(harness: Harness) -> None:
    call = place(harness, "mallory")
    assert [(r.code, r.reason) for r in call.replies] == [(403, "Forbidden")]
    assert call.b_invites == [] and call.ended


def test_other_callers_are_relayed(harness: Harness) -> None:
    call = place(harness, "alice")
    assert call.b is not None and call.replies == []
    call.ring()
    call.answer()
    assert call.leg("a").session.state.name == "CONNECTED"  # type: ignore[union-attr]
    assert call.leg("b").session.state.name == "B_LEG"  # type: ignore[union-attr]


def test_call_time_limit_stops_the_call(harness: Harness) -> None:
    call = place(harness, "alice", **{"config.max_call_time": "60"})  # a profile may override the bundle
    call.answer()
    call.advance(59)
    assert not call.ended
    call.advance(1)
    assert call.ended
    assert call.leg("a").did == [("stopCall", "call time limit")]
    assert [m.method for m in call.leg("a").sent] == ["BYE"]  # type: ignore[union-attr]
    assert [m.method for m in call.leg("b").sent] == ["BYE"]  # type: ignore[union-attr]


def test_default_limit_is_an_hour(harness: Harness) -> None:
    call = place(harness, "bob")
    call.answer()
    call.advance(3599)
    assert not call.ended
    call.advance(1)
    assert call.ended


def test_hangup_before_the_limit_clears_the_timer(harness: Harness) -> None:
    call = place(harness, "alice")
    call.answer()
    call.advance(10)
    call.hangup("b")
    assert call.ended and call.leg("a").did == []
    assert call.leg("a").session.state.name == "END"  # type: ignore[union-attr]
