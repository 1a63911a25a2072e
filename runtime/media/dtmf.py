"""DTMF keys: key codes, the key event, and tone generation.

Key codes are those of ``actions.md`` §8 and RFC 4733: ``0``–``9`` digits,
``10`` = ``*``, ``11`` = ``#``, ``12``–``15`` = ``A``–``D``.

**Level convention.**  0 dBm0 is the G.711 reference level: a sine whose
peak is 3.17 dB below the µ-law overload point, i.e. a peak of
``32768 * 10**(-3.17/20)`` ≈ 22,750 in 16-bit samples (the "digital
milliwatt").  A DTMF *level* given here is the power of the two-tone
signal; each of the two tones carries its share according to the twist
(equal shares, 3.01 dB below the total, without twist).  So a 0 dBm0 key
never clips, and "-25 dBm0" means what a line tester would read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np

from dsm.runtime.media.audio import SAMPLE_RATE, Samples, ms_to_samples, to_int16

__all__ = [
    "DBM0_PEAK",
    "HIGH_GROUP_HZ",
    "KEY_CHARS",
    "KEY_CODES",
    "dtmf_relay_key",
    "KEY_FREQUENCIES",
    "LOW_GROUP_HZ",
    "KeyPress",
    "dbm0_to_power",
    "dtmf_tone",
    "key_code",
]

DBM0_PEAK: Final = 32768.0 * 10.0 ** (-3.17 / 20.0)
"""Peak sample value of a 0 dBm0 sine (µ-law reference, see module docstring)."""

LOW_GROUP_HZ: Final = (697.0, 770.0, 852.0, 941.0)
"""Row frequencies."""

HIGH_GROUP_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
"""Column frequencies."""

KEY_CHARS: Final = "0123456789*#ABCD"
"""Character of each key code (index = code)."""

KEY_CODES: Final[dict[str, int]] = {c: i for i, c in enumerate(KEY_CHARS)}
"""Key character -> key code (the ``#key`` of Key events, E-151)."""

_LAYOUT: Final = ("123A", "456B", "789C", "*0#D")

KEY_FREQUENCIES: Final[dict[int, tuple[float, float]]] = {
    KEY_CHARS.index(char): (LOW_GROUP_HZ[row], HIGH_GROUP_HZ[col])
    for row, line in enumerate(_LAYOUT)
    for col, char in enumerate(line)
}
"""Key code -> (low, high) tone frequency in Hz."""


@dataclass(frozen=True, slots=True)
class KeyPress:
    """One key press, as the Key event reports it (``engine.md`` E-151)."""

    key: int
    """Key code 0..15."""
    duration_ms: int
    """How long the key was held, in milliseconds."""

    event_type: ClassVar[str] = "Key"

    @property
    def params(self) -> dict[str, str]:
        """The Key event's params: ``key`` and ``duration`` in decimal."""
        return {"key": str(self.key), "duration": str(self.duration_ms)}

    @property
    def char(self) -> str:
        """The key as a character (``0``–``9``, ``*``, ``#``, ``A``–``D``)."""
        return KEY_CHARS[self.key]


def key_code(key: int | str) -> int:
    """Key code of a key given as code or character; ``ValueError`` otherwise."""
    if isinstance(key, str):
        if len(key) != 1 or key.upper() not in KEY_CHARS:
            raise ValueError(f"not a DTMF key: {key!r}")
        return KEY_CHARS.index(key.upper())
    if not 0 <= key <= 15:
        raise ValueError(f"DTMF key code out of range 0..15: {key}")
    return key


def dbm0_to_power(level_dbm0: float) -> float:
    """Mean power (sample units squared) of a signal at ``level_dbm0``."""
    return DBM0_PEAK**2 / 2.0 * 10.0 ** (level_dbm0 / 10.0)


def dtmf_tone(
    key: int | str,
    duration_ms: int,
    level_dbm0: float = -6.0,
    twist_db: float = 0.0,
    *,
    low_hz: float | None = None,
    high_hz: float | None = None,
) -> Samples:
    """The two-tone signal of ``key`` for ``duration_ms`` milliseconds.

    ``level_dbm0`` is the total level; ``twist_db`` is the high tone's level
    minus the low tone's (positive = "normal" twist).  ``low_hz``/``high_hz``
    override the nominal frequencies, for frequency-tolerance tests.
    """
    low, high = KEY_FREQUENCIES[key_code(key)]
    low = low if low_hz is None else low_hz
    high = high if high_hz is None else high_hz
    n = ms_to_samples(max(duration_ms, 0))
    total = dbm0_to_power(level_dbm0)
    high_share = 10.0 ** (twist_db / 10.0)
    low_power = total / (1.0 + high_share)
    high_power = total - low_power
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    signal = math.sqrt(2.0 * low_power) * np.sin(2.0 * np.pi * low * t)
    signal += math.sqrt(2.0 * high_power) * np.sin(2.0 * np.pi * high * t)
    return to_int16(signal)


def dtmf_relay_key(body: str) -> tuple[int, str] | None:
    """``Signal=5`` / ``Duration=160`` of an ``application/dtmf-relay`` body -> (key code, ms).

    The signal is a key character (``0``–``9``, ``*``, ``#``, ``A``–``D``) or a
    key code up to 15; ``None`` when the body names no key.  A missing or
    malformed duration counts as 100 ms.
    """
    fields = {}
    for line in body.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            fields[name.strip().lower()] = value.strip()
    signal = fields.get("signal", "")
    code = KEY_CODES.get(signal.upper()) if signal else None
    if code is None and signal.isdigit() and int(signal) <= 15:
        code = int(signal)
    if code is None:
        return None
    duration = fields.get("duration", "100")
    return code, duration if duration.isdigit() else "100"
