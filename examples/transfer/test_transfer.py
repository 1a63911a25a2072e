"""Tests of the transfer example: callFSM into support.dsm and returnFSM back."""

from __future__ import annotations

from dsm.runtime.harness import assert_state, assert_terminated


def test_support_menu_and_back(dsm_harness):
    call = dsm_harness.call("main")
    call.press("1")
    assert call.diagram == "support"
    assert_state(call, "SUPPORT_MENU")
    call.press("0")  # back: returnFSM
    assert call.diagram == "main"
    assert_state(call, "IN_SUPPORT")
    call.advance(3)  # welcome_back played
    assert_state(call, "MAIN_MENU")


def test_ticket_then_return(dsm_harness):
    call = dsm_harness.call("main")
    call.press("1")
    call.press("1")
    assert_state(call, "TICKET")
    assert call.vars["ticket_requested"] == "1"
    call.advance(4)
    assert call.diagram == "main"
    assert "welcome_back" in [p.name for p in call.played]


def test_quit(dsm_harness):
    call = dsm_harness.call("main")
    call.press("9")
    call.advance(3)
    assert_terminated(call)
