"""Ring tones (A-core-29) and silence (A-core-27) generators."""

from __future__ import annotations

import numpy as np

from dsm.runtime.media.tones import RingtoneGenerator, RingtoneSpec, SilenceGenerator


def sounding_ms(samples: np.ndarray) -> list[bool]:
    """Per millisecond: is there any signal?"""
    return [bool(np.any(samples[i : i + 8])) for i in range(0, samples.size, 8)]


def test_A_core_29_cadence_and_total_length() -> None:
    tone = RingtoneGenerator(RingtoneSpec(length=1000, on=200, off=300, f=425))
    out = tone.read(100_000)
    assert out.size == 8000 and tone.finished
    on = sounding_ms(out)
    assert not any(on[200:500]) and not any(on[700:1000])
    assert sum(on[0:200]) >= 195 and sum(on[500:700]) >= 195


def test_A_core_29_length_0_is_endless() -> None:
    tone = RingtoneGenerator(RingtoneSpec(length=0, on=1000, off=4000, f=425))
    assert tone.read(8000 * 60).size == 8000 * 60 and not tone.finished


def test_A_core_29_on_and_off_both_0_means_on_1_ms() -> None:
    spec = RingtoneSpec(length=100, on=0, off=0, f=440)
    assert spec.cadence() == (8, 0)
    assert np.any(RingtoneGenerator(spec).read(800))


def test_A_core_29_frequency_and_second_frequency() -> None:
    out = RingtoneGenerator(RingtoneSpec(length=1000, on=1000, off=0, f=425, f2=0)).read(8000)
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    assert abs(int(np.argmax(spectrum)) / 1.0 - 425) <= 1  # 1 Hz bins over one second
    mixed = RingtoneGenerator(RingtoneSpec(length=1000, on=1000, off=0, f=350, f2=440)).read(8000)
    spectrum = np.abs(np.fft.rfft(mixed.astype(float)))
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [350, 440]


def test_pieces_join_without_a_phase_jump() -> None:
    """Reading in pieces (a front insertion in between) gives the same signal."""
    spec = RingtoneSpec(length=500, on=100, off=50, f=425, f2=480)
    whole = RingtoneGenerator(spec).read(4000)
    pieced = RingtoneGenerator(spec)
    parts = [pieced.read(n) for n in (7, 160, 333, 1000, 5000)]
    assert np.array_equal(np.concatenate(parts), whole)


def test_frequency_0_is_silent_and_negative_settings_are_clamped() -> None:
    assert not np.any(RingtoneGenerator(RingtoneSpec(length=100, on=100, f=0)).read(800))
    assert RingtoneSpec(on=-5, off=-5).cadence() == (8, 0)


def test_A_core_27_silence_length_and_quirk_negative_is_endless() -> None:
    silence = SilenceGenerator(30)
    assert silence.read(1000).size == 240 and silence.finished
    assert SilenceGenerator(0).finished
    endless = SilenceGenerator(-1)
    assert endless.read(10**6).size == 10**6 and not endless.finished
