"""Tests of the meet-me conference example, written with the dsm pytest plugin.

Several simulated calls of one harness share its rooms, so what one caller
says is what the others hear: the checks are on the heard audio (the
amplitude of a tone in it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsm.runtime.harness import assert_state, assert_terminated, assert_var
from dsm.runtime.media.audio import load_audio

HERE = Path(__file__).parent


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * 8000)) / 8000
    return np.round(6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level(x: np.ndarray, freq: float) -> float:
    """Amplitude of ``freq`` in ``x`` (a sine of amplitude A gives about A)."""
    s = np.asarray(x, dtype=np.float64)
    k = np.exp(-2j * np.pi * freq * np.arange(s.size) / 8000)
    return float(2 * abs(np.dot(s, k)) / max(s.size, 1))


def enter(harness, pin: str = "4711#"):
    call = harness.call("conference")
    call.press(pin)
    return call


def test_right_pin_enters_the_empty_room_with_tone_and_alone_prompt(dsm_harness):
    a = enter(dsm_harness)
    assert_state(a, "IN_ROOM")
    assert_var(a, "others", "0")
    a.advance(3)
    start = round(next(p.start for p in a.played if p.name == "join_tone") * 8000)
    prompts = HERE / "prompts"
    expected = np.concatenate([load_audio(prompts / "join_tone.wav"), load_audio(prompts / "alone.wav")])
    heard = a.heard()[start:]
    assert np.array_equal(heard[: expected.size], expected)
    assert not heard[expected.size + 320 :].any()  # then the room: nobody else talks


def test_two_callers_hear_each_other_not_themselves(dsm_harness):
    a = enter(dsm_harness)
    a.advance(2)
    b = enter(dsm_harness)
    assert_state(b, "ROOM")
    assert_var(b, "others", "1")
    b.advance(1)
    a.say(tone(440, 1.0))
    assert level(b.heard()[-4000:], 440) > 5000
    assert level(a.heard()[-4000:], 440) < 50
    b.say(tone(700, 1.0))
    assert level(a.heard()[-4000:], 700) > 5000
    assert level(b.heard()[-4000:], 700) < 50


def test_those_inside_hear_the_join_tone(dsm_harness):
    a = enter(dsm_harness)
    a.advance(3)
    before = round(dsm_harness.now * 8000)
    enter(dsm_harness)
    a.advance(0.5)
    assert level(a.heard()[before:], 880) > 1000  # the join tone, in front of the room


def test_wrong_pins_never_reach_the_room(dsm_harness):
    a = enter(dsm_harness)
    a.advance(3)
    intruder = dsm_harness.call("conference")
    for _ in range(3):
        intruder.press("0000#")
        intruder.advance(3)
    intruder.advance(5)
    assert_terminated(intruder)
    intruder.sim.media.say(tone(440, 0.5))
    a.advance(0.5)
    assert level(a.heard()[-4000:], 440) < 50


def test_hash_leaves_the_room_and_the_others_are_told(dsm_harness):
    a, b = enter(dsm_harness), enter(dsm_harness)
    b.press("#")
    assert_state(b, "GOODBYE")
    b.advance(3)
    assert_terminated(b)
    a.say(tone(440, 0.5))
    assert a.state == "IN_ROOM"


def test_configured_pin_and_room(dsm_harness):
    from dsm.runtime.harness import Harness

    h = Harness(HERE, config_values={"conf_pin": "99", "conf_room": "board"})
    wrong = h.call("conference")
    wrong.press("4711#")
    assert_state(wrong, "WRONG")
    right = h.call("conference")
    right.press("99#")
    assert_state(right, "IN_ROOM")
    assert_var(right, "room", "board")
