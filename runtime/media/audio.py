"""The common audio form of the media layer and file input/output.

Everything inside the media layer is **8 kHz, mono, signed 16-bit** samples
held in one-dimensional ``numpy.int16`` arrays, moved in frames of 20 ms
(160 samples).  That is the native form of narrow-band telephony (G.711),
so codecs, the DTMF detector, playlists and recorders never convert.

Files are read with :mod:`soundfile` (libsndfile: WAV with PCM, A-law and
µ-law, AU, FLAC, OGG, …), mixed down to mono by averaging the channels, and
resampled to 8 kHz with :mod:`soxr` when they have another rate.  soxr is a
maintained binding of the SoX resampler: band-limited, high quality,
vectorised C code and fast enough to resample prompts at load time, which a
hand-written filter would not be.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

__all__ = [
    "FRAME_MS",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "Samples",
    "AudioFileError",
    "as_samples",
    "frames_in",
    "load_audio",
    "ms_to_samples",
    "samples_to_ms",
    "silence",
    "to_int16",
    "write_wav",
]

SAMPLE_RATE: Final = 8000
"""Samples per second of the common form."""

FRAME_MS: Final = 20
"""Duration of one media frame in milliseconds."""

FRAME_SAMPLES: Final = SAMPLE_RATE * FRAME_MS // 1000
"""Samples in one 20 ms frame (160)."""

Samples: TypeAlias = npt.NDArray[np.int16]
"""A block of audio in the common form."""


class AudioFileError(Exception):
    """An audio file could not be opened, read or written.

    Carries the path exactly as the caller gave it, so that the engine can
    raise the spec's ``{type: file, path: <path>}`` exception (A-core-25,
    A-core-36) with the script's own spelling.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def ms_to_samples(ms: int) -> int:
    """Number of samples in ``ms`` milliseconds (rounded down)."""
    return ms * SAMPLE_RATE // 1000


def samples_to_ms(n: int) -> int:
    """Whole milliseconds covered by ``n`` samples (rounded down)."""
    return n * 1000 // SAMPLE_RATE


def frames_in(n: int) -> int:
    """Number of 20 ms frames needed to carry ``n`` samples (rounded up)."""
    return -(-n // FRAME_SAMPLES)


def silence(n: int) -> Samples:
    """``n`` samples of digital silence."""
    return np.zeros(max(n, 0), dtype=np.int16)


def to_int16(signal: npt.ArrayLike) -> Samples:
    """Round a float signal in sample units to int16, clipping at full scale."""
    values = np.rint(np.asarray(signal, dtype=np.float64))
    return np.clip(values, -32768, 32767).astype(np.int16)


def as_samples(data: npt.ArrayLike) -> Samples:
    """Check and convert caller data to the common form (1-D int16)."""
    array = np.asarray(data)
    if array.ndim != 1:
        raise ValueError(f"audio must be one-dimensional, got shape {array.shape}")
    if array.dtype == np.int16:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array, -32768, 32767).astype(np.int16)
    return to_int16(array)


def load_audio(path: str | Path) -> Samples:
    """Read an audio file into the common form.

    Integer PCM files already at 8 kHz mono are read bit-exactly; anything
    else is read as float, averaged to mono, resampled with soxr ("VHQ") and
    rounded.  Raises :class:`AudioFileError` for a missing, unreadable or
    empty-format file.
    """
    name = str(path)
    try:
        info = soundfile.info(name)
        if info.samplerate == SAMPLE_RATE and info.channels == 1:
            data, _ = soundfile.read(name, dtype="int16", always_2d=False)
            return np.ascontiguousarray(data, dtype=np.int16)
        data, rate = soundfile.read(name, dtype="float64", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioFileError(name, _open_failure(name, exc)) from exc
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE and mono.size:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="VHQ")
    return to_int16(mono * 32768.0)


def audio_problem(path: str | Path) -> str | None:
    """Why an audio file would not load (as :func:`load_audio` words it), or ``None``.

    Reads only the file's header, so it is cheap enough to check many
    prompt files after every reload.
    """
    name = str(path)
    try:
        soundfile.info(name)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        return _open_failure(name, exc)
    return None


def _open_failure(name: str, exc: Exception) -> str:
    """Why an audio file could not be read, in words (not libsndfile's "System error")."""
    path = Path(name)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a directory"
    if not os.access(path, os.R_OK):
        return "permission denied"
    text = str(exc)
    if "Format not recognised" in text or "unknown format" in text.lower():
        return "not an audio file libsndfile can decode"
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def write_wav(path: str | os.PathLike[str], samples: npt.ArrayLike) -> None:
    """Write samples as an 8 kHz, 16-bit, mono WAV file."""
    name = str(path)
    try:
        soundfile.write(name, as_samples(samples), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioFileError(name, str(exc)) from exc
