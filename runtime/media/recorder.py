"""Recording the caller's audio (``recordFile``/``stopRecord``, A-core-36 … A-core-39).

A :class:`Recorder` is the session's input while it runs: the caller hands
it every received 20 ms frame with :meth:`Recorder.write_frame`.  It writes
a real file as it goes (8 kHz, mono, 16-bit PCM WAV for ``.wav``; other
extensions libsndfile knows get that container with 16-bit PCM where the
format allows it, its default encoding otherwise), so a recording survives a
crash up to the last frame.

``length_ms`` and ``data_size`` are what ``getRecordLength`` (milliseconds)
and ``getRecordDataSize`` (bytes of audio data written, i.e. 2 per sample
for 16-bit PCM) report.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from dsm.runtime.media.audio import SAMPLE_RATE, AudioFileError, as_samples, samples_to_ms

__all__ = ["Recorder"]

_PCM16 = "PCM_16"


def _format_for(path: str) -> tuple[str, str]:
    extension = Path(path).suffix.lstrip(".").upper()
    if not extension:
        raise AudioFileError(path, "no file name extension to choose the format from")
    formats = soundfile.available_formats()
    if extension not in formats:
        raise AudioFileError(path, f"unknown audio file format '.{extension.lower()}'")
    subtype = _PCM16 if soundfile.check_format(extension, _PCM16) else ""
    return extension, subtype or soundfile.default_subtype(extension) or _PCM16


def _create_failure(path: str, exc: Exception) -> str:
    """Why a recording file could not be created, in words (not libsndfile's "System error")."""
    folder = Path(path).parent
    if not folder.is_dir():
        return f"no such directory: {folder}"
    if not os.access(folder, os.W_OK):
        return f"no permission to write in {folder}"
    text = str(exc)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


class Recorder:
    """Writes input frames to an audio file between start and :meth:`close`.

    Opening fails with :class:`AudioFileError` (the engine's
    ``{type: file, path}``, A-core-36) when the file cannot be created.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        file_format, subtype = _format_for(path)
        self.bytes_per_sample = 1 if subtype in ("ULAW", "ALAW") else 2
        try:
            self._file: soundfile.SoundFile | None = soundfile.SoundFile(
                path, "w", SAMPLE_RATE, 1, subtype, format=file_format
            )
        except (OSError, RuntimeError) as exc:
            raise AudioFileError(path, _create_failure(path, exc)) from exc
        self.samples = 0
        """Samples written so far."""

    @property
    def recording(self) -> bool:
        return self._file is not None

    @property
    def length_ms(self) -> int:
        """Length of the recording so far in milliseconds (A-core-38)."""
        return samples_to_ms(self.samples)

    @property
    def data_size(self) -> int:
        """Audio data bytes written so far (A-core-39)."""
        return self.samples * self.bytes_per_sample

    def write_frame(self, frame: npt.ArrayLike) -> None:
        """Append input audio (any number of samples); ignored once closed."""
        if self._file is None:
            return
        samples = as_samples(np.asarray(frame).reshape(-1))
        try:
            self._file.write(samples)
        except (OSError, RuntimeError) as exc:
            self.close()
            raise AudioFileError(self.path, str(exc)) from exc
        self.samples += samples.size

    def close(self) -> None:
        """Finish the file (``stopRecord`` or session end); idempotent."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
