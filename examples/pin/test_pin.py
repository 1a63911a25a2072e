"""Tests of the PIN example, written with the dsm pytest plugin.

The ``dsm_harness`` fixture loads the scripts of this folder (``pin.dsm``) and
the prompts in ``prompts/``; every test is a simulated call on virtual time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsm.runtime.harness import assert_played, assert_state, assert_terminated, assert_var
from dsm.runtime.media.audio import load_audio

HERE = Path(__file__).parent


def test_right_pin_is_granted(dsm_harness):
    call = dsm_harness.call("pin")
    assert_state(call, "COLLECT")
    call.press("1234#")
    assert_state(call, "GRANTED")
    assert_var(call, "authenticated", "1")
    call.advance(5)
    assert_terminated(call)
    assert_played(call, ["welcome", "enter_pin", "access_granted", "goodbye"])
    assert [r.code for r in call.sent_replies] == [200]


def test_wrong_pin_is_retried_then_accepted(dsm_harness):
    call = dsm_harness.call("pin")
    call.press("9999#")
    assert_state(call, "WRONG")
    call.advance(3)  # the wrong_pin prompt ends: back to COLLECT
    assert_state(call, "COLLECT")
    assert_var(call, "tries", "1")
    call.press("1234#")
    assert_state(call, "GRANTED")


def test_three_wrong_pins_end_the_call(dsm_harness):
    call = dsm_harness.call("pin")
    for _ in range(3):
        call.press("0000#")
        call.advance(3)
    call.advance(5)
    assert_terminated(call)
    assert call.played[-1].name == "goodbye"


def test_silence_times_out(dsm_harness):
    call = dsm_harness.call("pin")
    call.advance(15.5)  # timer 1 (15 s) fires
    assert_state(call, "GOODBYE")
    call.advance(2)
    assert_terminated(call)


def test_caller_hangs_up(dsm_harness):
    call = dsm_harness.call("pin")
    call.press("12")
    call.hangup()
    assert_terminated(call)


def test_heard_audio_is_the_prompts_sample_for_sample(dsm_harness, tmp_path):
    call = dsm_harness.call("pin")
    call.advance(3)  # welcome + enter_pin, then silence
    heard = call.heard()
    prompts = HERE / "prompts"
    expected = np.concatenate([load_audio(prompts / "welcome.wav"), load_audio(prompts / "enter_pin.wav")])
    assert np.array_equal(heard[: expected.size], expected)
    assert not heard[expected.size :].any()
    call.write_heard_wav(tmp_path / "heard.wav")
    assert np.array_equal(load_audio(str(tmp_path / "heard.wav")), heard)


def test_same_call_same_transcript(dsm_harness):
    from dsm.runtime.harness import Harness

    def run() -> str:
        h = Harness(HERE)
        c = h.call("pin")
        c.press("12#")
        c.advance(20)
        c.hangup()
        return c.transcript()

    assert run() == run()
