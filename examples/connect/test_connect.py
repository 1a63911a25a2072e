"""Tests of the call-through example, written with the dsm pytest plugin.

The callee is the harness's simulated B leg (``call.callee``): the test makes
it ring, answer, refuse or hang up, as a real callee would over SIP
(``tests/runtime/sip/test_sip_b2b.py`` runs the same script against sipp).
"""

from __future__ import annotations

import pytest

from dsm.runtime.harness import assert_played, assert_state, assert_terminated


def test_extension_is_collected_and_connected(dsm_harness):
    call = dsm_harness.call("connect")
    assert_state(call, "COLLECT")
    call.press("42#")
    assert_state(call, "CALLING")
    callee = call.callee
    assert callee is not None
    assert (callee.to, callee.request_uri) == ("sip:42@127.0.0.1:5080", "sip:42@127.0.0.1:5080")
    callee.ring()
    assert_state(call, "CALLING")
    callee.answer()
    assert_state(call, "CONNECTED")
    assert_played(call, ["enter_extension", "connecting"])


@pytest.mark.dsm(config_values={"pbx": "pbx.example.org"})
def test_the_pbx_comes_from_the_configuration(dsm_harness):
    call = dsm_harness.call("connect")
    call.press("7#")
    assert call.callee is not None
    assert call.callee.request_uri == "sip:7@pbx.example.org"


def test_busy_extension_plays_busy_and_lets_the_caller_retry(dsm_harness):
    call = dsm_harness.call("connect")
    call.press("42#")
    assert call.callee is not None
    call.callee.reject(486)
    assert_state(call, "BUSY")
    assert call.vars["reason"] == "Busy Here"
    call.advance(1)  # busy played
    assert_state(call, "COLLECT")
    call.press("43#")
    assert call.callee is not None and call.callee.to == "sip:43@127.0.0.1:5080"


def test_three_failures_end_the_call(dsm_harness):
    call = dsm_harness.call("connect")
    for _ in range(3):
        call.press("1#")
        assert call.callee is not None
        call.callee.reject(404)
        call.advance(1)
    assert_state(call, "GOODBYE")
    call.advance(1)
    assert_terminated(call)


def test_callee_hangs_up_ends_the_call(dsm_harness):
    call = dsm_harness.call("connect")
    call.press("5#")
    assert call.callee is not None
    call.callee.answer()
    call.callee.hangup()
    assert call.vars["callee_hung_up"] == "1"
    assert_terminated(call)


def test_silence_says_goodbye(dsm_harness):
    call = dsm_harness.call("connect")
    call.advance(15.5)
    assert_state(call, "GOODBYE")
    call.advance(1)
    assert_terminated(call)


def test_caller_hangs_up_while_the_callee_rings(dsm_harness):
    call = dsm_harness.call("connect")
    call.press("5#")
    call.hangup()
    assert_terminated(call)
