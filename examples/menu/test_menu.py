"""Tests of the menu example: choices, invalid keys, silence with retries."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings

from dsm.runtime.harness import Harness, assert_played, assert_state, assert_terminated
from dsm.runtime.harness.strategies import event_sequences, run_steps

HERE = Path(__file__).parent


def test_choice_1_plays_opening_hours_then_menu_again(dsm_harness):
    call = dsm_harness.call("menu")
    call.press("1")
    assert_state(call, "HOURS")
    call.advance(5)
    assert_state(call, "MENU")
    assert [p.name for p in call.played][-2:] == ["opening_hours", "menu"]


def test_invalid_key(dsm_harness):
    call = dsm_harness.call("menu")
    call.press("7")
    assert_state(call, "INVALID")
    call.advance(5)
    assert_state(call, "MENU")


def test_silence_three_rounds_then_goodbye(dsm_harness):
    call = dsm_harness.call("menu")
    call.advance(8.5)
    assert call.vars["rounds"] == "2"
    call.advance(8)
    call.advance(8)
    assert_state(call, "GOODBYE")
    call.advance(3)
    assert_terminated(call)
    assert_played(call, ["menu", "menu", "menu", "goodbye"])


def test_zero_leaves(dsm_harness):
    call = dsm_harness.call("menu")
    call.press("0")
    call.advance(3)
    assert_terminated(call)


CHART = Harness(HERE).charts["menu"]


@settings(max_examples=30, deadline=None)
@given(event_sequences(CHART, max_size=12))
def test_any_caller_behaviour_ends_cleanly(steps):
    """Property: whatever the caller does, a hang-up ends the call."""
    call = Harness(HERE).call("menu")
    run_steps(call, steps)
    if not call.terminated:
        assert call.state in {"MENU", "HOURS", "ADDRESS", "INVALID", "GOODBYE", "END"}
        call.hangup()
    assert_terminated(call)
