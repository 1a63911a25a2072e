"""Tests of the voicemail example: what the caller hears and what gets recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsm.runtime.harness import Harness, assert_played, assert_state, assert_terminated
from dsm.runtime.media.audio import load_audio

HERE = Path(__file__).parent


@pytest.fixture
def harness(tmp_path):
    return Harness(HERE, config_values={"voicemail_file": str(tmp_path / "msg.wav")})


def _speech(seconds: float) -> np.ndarray:
    """A caller 'speaking': a gliding tone, distinct from silence sample by sample."""
    t = np.arange(round(seconds * 8000)) / 8000
    return np.round(4000 * np.sin(2 * np.pi * (300 + 200 * t) * t)).astype(np.int16)


def test_message_is_recorded_and_kept(harness, tmp_path):
    call = harness.call("voicemail")
    call.advance(3)
    assert_state(call, "RECORDING")
    said = _speech(1.5)
    call.say(said)
    call.press("#")
    assert_state(call, "REVIEW")
    recording = load_audio(tmp_path / "msg.wav")
    # the recording holds exactly what the caller said, between stretches of silence
    start = int(np.flatnonzero(recording)[0]) - int(np.flatnonzero(said)[0])
    assert np.array_equal(recording[start : start + said.size], said)
    assert not recording[start + said.size :].any()
    call.press("1")
    call.advance(5)
    assert_terminated(call)
    assert_played(call, ["leave_message", "beep", "keep_or_rerecord", "message_saved", "goodbye"])


def test_heard_audio_is_prompt_then_beep(harness):
    call = harness.call("voicemail")
    call.advance(3)
    expected = np.concatenate([load_audio(HERE / "prompts" / "leave_message.wav"), load_audio(HERE / "prompts" / "beep.wav")])
    heard = call.heard()
    assert np.array_equal(heard[: expected.size], expected)


def test_re_record(harness):
    call = harness.call("voicemail")
    call.advance(3)
    call.press("#")
    call.press("2")
    assert_state(call, "GREETING")
    call.advance(3)
    assert_state(call, "RECORDING")


def test_no_decision_keeps_the_message(harness):
    call = harness.call("voicemail")
    call.advance(3)
    call.press("#")
    call.advance(10.5)
    assert call.state in ("SAVED", "GOODBYE", "END")


def test_hangup_while_recording(harness, tmp_path):
    call = harness.call("voicemail")
    call.advance(3)
    call.say(_speech(0.5))
    call.hangup()
    assert_terminated(call)
    assert (tmp_path / "msg.wav").exists()
