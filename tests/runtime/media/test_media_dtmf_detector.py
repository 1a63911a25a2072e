"""In-band DTMF detection (Key events, ``engine.md`` E-151; ``actions.md`` §8).

Digits are generated with :func:`dtmf_tone` (level convention in
``dsm.runtime.media.dtmf``), noise is white Gaussian, talk-off signals come
from :mod:`media_signals`.
"""

from __future__ import annotations

import numpy as np
import pytest
from media_signals import music_like, speech_like, white_noise

from dsm.runtime.media.audio import FRAME_SAMPLES, to_int16
from dsm.runtime.media.dtmf import KEY_CHARS, KeyPress, dtmf_tone
from dsm.runtime.media.dtmf_detector import (
    DetectionBatch,
    DtmfDetector,
    DtmfDetectorBank,
    classify_windows,
)


def silence_ms(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def detect(signal: np.ndarray) -> list[KeyPress]:
    detector = DtmfDetector()
    return detector.process_samples(signal) + detector.flush()


def with_noise(signal: np.ndarray, level_dbm0: float, seed: int) -> np.ndarray:
    return to_int16(signal.astype(np.float64) + white_noise(signal.size, level_dbm0, seed))


@pytest.mark.parametrize("level", [0, -5, -10, -15, -20, -25])
def test_all_16_keys_detected_from_0_to_minus_25_dBm0_at_20_dB_snr(level: int) -> None:
    """Key codes 0–15 (§8) each reported once, with about the tone's duration."""
    for key in range(16):
        signal = np.concatenate([silence_ms(30), dtmf_tone(key, 100, level), silence_ms(100)])
        presses = detect(with_noise(signal, level - 20, seed=key))
        assert [p.key for p in presses] == [key], (level, key, presses)
        assert 80 <= presses[0].duration_ms <= 110


def test_key_event_params_are_decimal_key_and_duration() -> None:
    """E-151: Key has ``key`` (0–15) and ``duration`` (ms)."""
    press = detect(np.concatenate([dtmf_tone("#", 200, -10), silence_ms(60)]))[0]
    assert press.event_type == "Key"
    assert press.params == {"key": "11", "duration": "200"}
    assert press.char == "#"


def test_a_digit_string_is_reported_in_order() -> None:
    digits = "0123456789*#ABCD"
    parts = []
    for char in digits:
        parts += [dtmf_tone(char, 60, -12), silence_ms(60)]
    assert "".join(p.char for p in detect(np.concatenate(parts))) == digits


@pytest.mark.parametrize("twist", [-3.5, 0.0, 4.0, 7.5])
def test_twist_within_limits_is_accepted(twist: float) -> None:
    """Normal twist (high tone louder) up to 8 dB, reverse twist up to 4 dB."""
    for key in range(16):
        presses = detect(np.concatenate([dtmf_tone(key, 80, -10, twist), silence_ms(60)]))
        assert [p.key for p in presses] == [key], (twist, key)


@pytest.mark.parametrize("twist", [-6.0, -5.0, 9.0, 10.0])
def test_twist_beyond_limits_is_rejected(twist: float) -> None:
    for key in range(16):
        assert detect(np.concatenate([dtmf_tone(key, 80, -10, twist), silence_ms(60)])) == []


def test_tones_of_40_ms_are_accepted_at_every_alignment() -> None:
    """Minimum duration: every tone of 40 ms counts, wherever it starts in a frame."""
    for offset in range(0, FRAME_SAMPLES, 5):
        signal = np.concatenate([np.zeros(offset, np.int16), dtmf_tone(5, 40, -10), silence_ms(80)])
        assert [p.key for p in detect(signal)] == [5], offset


def test_tones_of_20_ms_are_rejected_at_every_alignment() -> None:
    for offset in range(0, FRAME_SAMPLES, 5):
        signal = np.concatenate([np.zeros(offset, np.int16), dtmf_tone(5, 20, -10), silence_ms(80)])
        assert detect(signal) == [], offset


def test_repeated_key_needs_an_inter_digit_pause() -> None:
    """A 40 ms pause separates two presses of the same key; a 10 ms dropout does not."""
    pause = np.concatenate([dtmf_tone(7, 60, -10), silence_ms(40), dtmf_tone(7, 60, -10), silence_ms(60)])
    assert [p.key for p in detect(pause)] == [7, 7]
    dropout = np.concatenate([dtmf_tone(7, 60, -10), silence_ms(10), dtmf_tone(7, 60, -10), silence_ms(60)])
    presses = detect(dropout)
    assert [p.key for p in presses] == [7]
    assert 120 <= presses[0].duration_ms <= 140


def test_one_event_per_press_even_when_held_long() -> None:
    presses = detect(np.concatenate([dtmf_tone(9, 3000, -10), silence_ms(60)]))
    assert len(presses) == 1 and 2980 <= presses[0].duration_ms <= 3000


def test_key_held_at_end_of_input_is_reported_by_flush() -> None:
    detector = DtmfDetector()
    assert detector.process_samples(dtmf_tone(3, 200, -10)) == []
    assert [p.key for p in detector.flush()] == [3]
    assert detector.flush() == []


def test_frequency_deviation_of_1_5_percent_is_accepted_and_5_percent_rejected() -> None:
    for sign in (-1, 1):
        near = dtmf_tone(1, 80, -10, low_hz=697 * (1 + sign * 0.015), high_hz=1209 * (1 + sign * 0.015))
        assert [p.key for p in detect(np.concatenate([near, silence_ms(60)]))] == [1]
        far = dtmf_tone(1, 80, -10, low_hz=697 * (1 + sign * 0.05), high_hz=1209 * (1 + sign * 0.05))
        assert detect(np.concatenate([far, silence_ms(60)])) == []


def test_single_tones_noise_and_silence_are_not_keys() -> None:
    t = np.arange(8000) / 8000
    for f in (697, 941, 1209, 1633, 1000):
        assert detect(to_int16(10000 * np.sin(2 * np.pi * f * t))) == []
    assert detect(to_int16(white_noise(8000, -10, seed=1))) == []
    assert detect(silence_ms(1000)) == []


def test_a_key_with_its_second_harmonics_is_rejected() -> None:
    t = np.arange(800) / 8000
    tone = dtmf_tone(5, 100, -10).astype(np.float64)
    tone += 3000 * np.sin(2 * np.pi * 2 * 770 * t) + 3000 * np.sin(2 * np.pi * 2 * 1336 * t)
    assert detect(np.concatenate([to_int16(tone), silence_ms(60)])) == []


def test_very_weak_keys_are_ignored() -> None:
    assert detect(np.concatenate([dtmf_tone(5, 100, -45), silence_ms(60)])) == []


@pytest.mark.parametrize(("make", "seed"), [(speech_like, 1), (music_like, 2)])
def test_no_talk_off_in_five_minutes_of_speech_and_of_music(make, seed) -> None:  # type: ignore[no-untyped-def]
    """Ten minutes in all of speech-like and music-like audio give no key at all."""
    signal = make(300.0, seed=seed)
    windows = np.lib.stride_tricks.sliding_window_view(signal, 160)[::80]
    assert int((classify_windows(windows) >= 0).sum()) == 0
    # the stateful tracker too, running the five minutes as 60 parallel 5 s "calls"
    calls = signal[: 60 * 40000].reshape(60, -1, 160)
    bank = DtmfDetectorBank(60)
    assert [press for step in range(calls.shape[1]) for press in bank.process(calls[:, step])] == []


def keying(rng: np.random.Generator, keys: int, frames: int) -> np.ndarray:
    """``keys`` random keys of random length, level and spacing, cut to ``frames`` frames."""
    parts = [silence_ms(int(rng.integers(0, 50)))]
    for key in rng.integers(0, 16, keys):
        level = -float(rng.integers(0, 25))
        parts += [dtmf_tone(int(key), int(rng.integers(50, 150)), level), silence_ms(int(rng.integers(50, 100)))]
    return np.concatenate([*parts, silence_ms(2000)])[: 160 * frames]


def test_bank_gives_each_call_the_same_result_as_a_single_detector() -> None:
    """Batching over calls changes nothing: call i of the bank sees only its own frames."""
    rng = np.random.default_rng(4)
    signals = [keying(rng, keys=4, frames=100) for _call in range(6)]
    bank = DtmfDetectorBank(len(signals))
    block = np.stack(signals).reshape(len(signals), -1, 160)
    got: list[list[KeyPress]] = [[] for _ in signals]
    for step in range(block.shape[1]):
        for call, press in bank.process(block[:, step]):
            got[call].append(press)
    assert got == [detect(s) for s in signals]
    assert all(len(g) == 4 for g in got)


def test_detection_batch_gives_each_detector_the_same_result_as_processing_alone() -> None:
    """E-151: one classification for the frames of many calls, two frames of each call per
    batch (a late session catching up), grouped by call or interleaved; each detector tracks
    its own frames in order."""
    rng = np.random.default_rng(9)
    signals = [keying(rng, keys=3, frames=90).reshape(-1, 160) for _call in range(5)]
    detectors = [DtmfDetector() for _ in signals]
    got: list[list[KeyPress]] = [[] for _ in signals]
    batch = DetectionBatch()
    calls = range(len(signals))
    for step in range(0, 90, 2):
        if step % 4:
            order = [(call, step + i) for i in (0, 1) for call in calls]
        else:
            order = [(call, step + i) for call in calls for i in (0, 1)]
        for call, frame in order:
            batch.add(detectors[call], signals[call][frame], got[call].extend)
        assert len(batch) == 2 * len(signals)
        batch.run()
        assert len(batch) == 0
    assert got == [detect(s.reshape(-1)) for s in signals]
    assert all(len(g) == 3 for g in got)


def test_detection_batch_with_uneven_catch_up_tracks_each_detector_in_order() -> None:
    """E-151: a tick where some calls catch up (one to three frames each, in any order)
    is classified in rounds; every detector still finds what it finds alone."""
    rng = np.random.default_rng(21)
    signals = [keying(rng, keys=3, frames=120).reshape(-1, 160) for _call in range(6)]
    detectors = [DtmfDetector() for _ in signals]
    got: list[list[KeyPress]] = [[] for _ in signals]
    next_frame = [0] * len(signals)
    batch = DetectionBatch()
    while min(next_frame) < 120:
        entries = []
        for call in range(len(signals)):
            take = min(int(rng.integers(1, 4)), 120 - next_frame[call])
            entries += [(call, next_frame[call] + i) for i in range(take)]
            next_frame[call] += take
        # shuffled across calls, then each call's frames put back in order at its places
        shuffled = [entries[i] for i in rng.permutation(len(entries))]
        for call in {c for c, _f in entries}:
            frames = sorted(f for c, f in shuffled if c == call)
            positions = [k for k, (c, _f) in enumerate(shuffled) if c == call]
            for k, f in zip(positions, frames, strict=True):
                shuffled[k] = (call, f)
        for call, frame in shuffled:
            batch.add(detectors[call], signals[call][frame], got[call].extend)
        batch.run()
    assert got == [detect(s.reshape(-1)) for s in signals]
    assert all(len(g) == 3 for g in got)


def test_detection_batch_with_calls_joining_leaving_and_going_alone_keeps_each_tail() -> None:
    """E-151: calls join and leave the tick's batch and some frames go through ``process``
    alone; each detector's tail follows it from batch to batch and to and from the one-call
    path, so every detector finds what it finds alone."""
    rng = np.random.default_rng(5)
    signals = [keying(rng, keys=2, frames=90).reshape(-1, 160) for _call in range(6)]
    detectors = [DtmfDetector() for _ in signals]
    got: list[list[KeyPress]] = [[] for _ in signals]
    batch = DetectionBatch()
    starts = [0, 0, 10, 25, 40, 0]
    for tick in range(90 + max(starts)):
        order = [call for call in range(len(signals)) if 0 <= tick - starts[call] < 90]
        if tick % 7 == 3:
            order.reverse()
        for call in order:
            frame = signals[call][tick - starts[call]]
            if (tick + call) % 11 == 0:
                got[call].extend(detectors[call].process(frame))
            else:
                batch.add(detectors[call], frame, got[call].extend)
        batch.run()
    assert got == [detect(s.reshape(-1)) for s in signals]
    assert all(len(g) == 2 for g in got)


def test_detection_batch_of_one_frame_per_call_matches_processing_alone() -> None:
    """E-151: the media clock's usual batch -- one frame of each call per tick, windows built
    for all calls at once -- gives every detector what it finds alone, and a detector that
    is mid-key when a batch of only silence comes still ends its key."""
    rng = np.random.default_rng(11)
    signals = [keying(rng, keys=2, frames=80).reshape(-1, 160) for _call in range(7)]
    detectors = [DtmfDetector() for _ in signals]
    got: list[list[KeyPress]] = [[] for _ in signals]
    batch = DetectionBatch()
    for frame in range(80):
        for call, detector in enumerate(detectors):
            batch.add(detector, signals[call][frame], got[call].extend)
        batch.run()
    assert got == [detect(s.reshape(-1)) for s in signals]
    assert all(len(g) == 2 for g in got)
    # a frame given as a (1, 160) block is analysed the same
    detector = DtmfDetector()
    alone = DtmfDetector()
    tone = dtmf_tone(7, 100, -10.0)
    frames = np.concatenate([tone, np.zeros(3200, np.int16)]).reshape(-1, 160)
    found: list[KeyPress] = []
    for frame in frames:
        batch.add(detector, frame.reshape(1, 160), found.extend)
        batch.run()
    assert found == alone.process_samples(frames.reshape(-1)) and [p.key for p in found] == [7]


def test_detection_batch_reports_nothing_for_frames_without_keys() -> None:
    batch = DetectionBatch()
    calls: list[list[KeyPress]] = []
    batch.run()  # empty: nothing to do
    for frame in silence_ms(200).reshape(-1, 160):
        batch.add(DtmfDetector(), frame, calls.append)
    batch.run()
    assert calls == []


def test_inactive_calls_keep_their_state() -> None:
    bank = DtmfDetectorBank(2)
    tone = dtmf_tone(2, 100, -10).reshape(-1, 160)
    for frame in tone:
        bank.process(np.stack([frame, frame]), active=[True, False])
    out = []
    for _ in range(5):
        out += bank.process(np.zeros((2, 160), np.int16))
    assert [(call, p.key) for call, p in out] == [(0, 2)]


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        DtmfDetectorBank(2).process(np.zeros((3, 160), np.int16))
    with pytest.raises(ValueError, match="160"):
        classify_windows(np.zeros((2, 100)))
    with pytest.raises(ValueError):
        DtmfDetectorBank(0)


def test_key_chars_table() -> None:
    assert KEY_CHARS[10] == "*" and KEY_CHARS[11] == "#" and KEY_CHARS[12:] == "ABCD"
