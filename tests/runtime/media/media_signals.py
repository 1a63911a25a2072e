"""Deterministic test signals: speech-like and music-like audio, noise.

These stand in for the talk-off test tapes of DTMF receiver testing: long
stretches of voice and music through which a detector must not report a
key.  Both are synthesised from a seeded generator, so every run is the
same.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsm.runtime.media.audio import SAMPLE_RATE, Samples, to_int16
from dsm.runtime.media.dtmf import dbm0_to_power

_VOWELS = (  # F1, F2, F3 in Hz
    (730, 1090, 2440),
    (270, 2290, 3010),
    (530, 1840, 2480),
    (660, 1720, 2410),
    (570, 840, 2410),
    (300, 870, 2240),
    (440, 1020, 2240),
    (490, 1350, 1690),
)


_CHORDS = ((0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 7, 12), (0, 5), (0, 9))


def _resonator_response(formants: tuple[int, ...], taps: int = 256) -> npt.NDArray[np.float64]:
    """Impulse response of a cascade-free sum of damped sinusoids at the formants."""
    t = np.arange(taps) / SAMPLE_RATE
    response = np.zeros(taps)
    for number, f in enumerate(formants):
        bandwidth = 60.0 + 40.0 * number
        response += np.exp(-np.pi * bandwidth * t) * np.sin(2 * np.pi * f * t) / (number + 1)
    return response


def speech_like(seconds: float, seed: int = 7, level_dbm0: float = -15.0) -> Samples:
    """Syllables of formant-filtered glottal pulse trains with pitch glides, plus fricatives."""
    rng = np.random.default_rng(seed)
    total = int(seconds * SAMPLE_RATE)
    out = np.zeros(total + SAMPLE_RATE)
    position = 0
    while position < total:
        length = int(rng.uniform(0.08, 0.35) * SAMPLE_RATE)
        kind = rng.random()
        if kind < 0.7:
            f_start, f_end = rng.uniform(80, 260, size=2)
            pitch = np.linspace(f_start, f_end, length)
            phase = np.cumsum(pitch) / SAMPLE_RATE
            pulses = np.zeros(length)
            pulses[np.flatnonzero(np.diff(np.floor(phase), prepend=0.0) > 0)] = 1.0
            formants = _VOWELS[rng.integers(len(_VOWELS))]
            shift = rng.uniform(0.85, 1.2)
            voiced = np.convolve(pulses, _resonator_response(tuple(int(f * shift) for f in formants)))
            envelope = np.hanning(voiced.size)
            segment = voiced * envelope
        elif kind < 0.85:
            noise = rng.normal(size=length)
            segment = np.diff(noise, prepend=0.0) * np.hanning(length)  # hiss, tilted up
        else:
            segment = np.zeros(length)  # pause
        end = min(position + segment.size, out.size)
        out[position:end] += segment[: end - position]
        position += length
    out = out[:total]
    power = np.mean(out**2) or 1.0
    return to_int16(out * np.sqrt(dbm0_to_power(level_dbm0) / power))


def music_like(seconds: float, seed: int = 11, level_dbm0: float = -15.0) -> Samples:
    """Chords of notes with harmonics, attack/decay envelopes and some vibrato."""
    rng = np.random.default_rng(seed)
    total = int(seconds * SAMPLE_RATE)
    out = np.zeros(total + 2 * SAMPLE_RATE)
    position = 0
    while position < total:
        length = int(rng.uniform(0.2, 1.0) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        root = rng.integers(40, 76)  # MIDI note numbers, E2 .. E5
        chord = root + np.array(_CHORDS[rng.integers(len(_CHORDS))])
        segment = np.zeros(length)
        vibrato = 1.0 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
        for note in chord:
            f0 = 440.0 * 2.0 ** ((note - 69) / 12.0)
            harmonics = int(rng.integers(3, 8))
            for k in range(1, harmonics + 1):
                if k * f0 >= SAMPLE_RATE / 2 - 200:
                    break
                phase = 2 * np.pi * np.cumsum(k * f0 * vibrato) / SAMPLE_RATE
                segment += np.sin(phase + rng.uniform(0, 2 * np.pi)) / k
        envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * rng.uniform(0.5, 3.0))
        end = min(position + length, out.size)
        out[position:end] += (segment * envelope)[: end - position]
        position += int(length * rng.uniform(0.6, 1.0))  # notes overlap a little
    out = out[:total]
    power = np.mean(out**2) or 1.0
    return to_int16(out * np.sqrt(dbm0_to_power(level_dbm0) / power))


def white_noise(n: int, level_dbm0: float, seed: int = 3) -> npt.NDArray[np.float64]:
    """Gaussian white noise at a given level (float, to be added before rounding)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, np.sqrt(dbm0_to_power(level_dbm0)), n)
