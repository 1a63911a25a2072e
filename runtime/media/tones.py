"""Ring-tone and silence generators (``playRingtone``, ``playSilence``).

Generators are read in pieces of any size and keep their phase between
reads, so a tone interrupted by a front insertion resumes seamlessly
(``actions.md`` §0.5).  Each tone of a ring tone is sent at
:data:`RINGTONE_LEVEL_DBM0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from dsm.runtime.media.audio import SAMPLE_RATE, Samples, ms_to_samples, to_int16
from dsm.runtime.media.dtmf import DBM0_PEAK

__all__ = ["RINGTONE_LEVEL_DBM0", "RingtoneSpec", "RingtoneGenerator", "SilenceGenerator"]

RINGTONE_LEVEL_DBM0: Final = -10.0
"""Level of each frequency of a ring tone."""

_AMPLITUDE: Final = DBM0_PEAK * 10.0 ** (RINGTONE_LEVEL_DBM0 / 20.0)


@dataclass(frozen=True, slots=True)
class RingtoneSpec:
    """The settings of ``playRingtone`` (A-core-29), all in ms or Hz.

    ``length`` is the total duration, 0 (or negative) for endless; ``on`` and
    ``off`` the cadence; ``f`` the tone and ``f2`` a second frequency mixed
    in (0 = none).  Negative ``on``/``off`` count as 0.
    """

    length: int = 0
    on: int = 0
    off: int = 0
    f: int = 0
    f2: int = 0

    def cadence(self) -> tuple[int, int]:
        """(on, off) in samples; both 0 means on = 1 ms (A-core-29)."""
        on = max(self.on, 0)
        off = max(self.off, 0)
        if on == 0 and off == 0:
            on = 1
        return ms_to_samples(on), ms_to_samples(off)


class RingtoneGenerator:
    """Generates a ring tone piece by piece; finished after ``length`` ms."""

    def __init__(self, spec: RingtoneSpec) -> None:
        self.spec = spec
        self._on, self._off = spec.cadence()
        self._total = ms_to_samples(spec.length) if spec.length > 0 else None
        self.position = 0
        """Samples generated so far."""

    @property
    def finished(self) -> bool:
        return self._total is not None and self.position >= self._total

    def read(self, n: int) -> Samples:
        """Up to ``n`` further samples (fewer only at the end of the tone)."""
        if self._total is not None:
            n = min(n, self._total - self.position)
        n = max(n, 0)
        index = np.arange(self.position, self.position + n, dtype=np.int64)
        self.position += n
        period = self._on + self._off
        sounding = (index % period) < self._on if period else np.zeros(n, dtype=bool)
        t = index.astype(np.float64) / SAMPLE_RATE
        signal = np.zeros(n)
        for frequency in (self.spec.f, self.spec.f2):
            if frequency:
                signal += _AMPLITUDE * np.sin(2.0 * math.pi * frequency * t)
        return to_int16(np.where(sounding, signal, 0.0))


class SilenceGenerator:
    """``ms`` milliseconds of silence; negative ``ms`` is endless.

    REFERENCE QUIRK (A-core-27): ``playSilence(-1)`` is accepted and gives
    silence that only ``flushPlaylist`` ends.
    """

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self._total = ms_to_samples(ms) if ms >= 0 else None
        self.position = 0

    @property
    def finished(self) -> bool:
        return self._total is not None and self.position >= self._total

    def read(self, n: int) -> Samples:
        """Up to ``n`` further samples of silence."""
        if self._total is not None:
            n = min(n, self._total - self.position)
        n = max(n, 0)
        self.position += n
        return np.zeros(n, dtype=np.int16)
