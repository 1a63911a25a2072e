"""The items a playlist holds (``actions.md`` §0.5).

Every item is an audio source read in pieces of any length: ``read(n)``
returns at most ``n`` samples and fewer only once the item is
``finished``; ``position`` counts the samples it has produced, which is how
an interrupted item resumes where it stopped.  An item may also have a
record side (``write``), used while the playlist is the session's input --
a conference channel is the typical case; the built-in items ignore input.

Modules add their own items by subclassing :class:`PlaylistItem`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from mypy_extensions import mypyc_attr

from dsm.runtime.media.audio import Samples, as_samples, load_audio
from dsm.runtime.media.tones import RingtoneGenerator, RingtoneSpec, SilenceGenerator

__all__ = [
    "FileItem",
    "PlaylistItem",
    "PromptItem",
    "RingtoneItem",
    "SampleItem",
    "SeparatorItem",
    "SilenceItem",
]


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by plain Python (compiled: mypyc)
class PlaylistItem:
    """Base of all playlist items: a finite or endless audio source."""

    kind: ClassVar[str] = "item"
    """Short name of the item type, used in the played-items log."""

    position: int = 0

    live: ClassVar[bool] = False
    """True for an item that never finishes and always returns the ``n`` samples asked
    for (a conference channel): the playlist then reads it without its general loop."""

    @property
    def label(self) -> str:
        """What the item is, for logs and reports (a path, a prompt name, …)."""
        return self.kind

    @property
    def finished(self) -> bool:
        """True once the item has nothing more to play."""
        raise NotImplementedError

    def read(self, n: int) -> Samples:
        """Up to ``n`` further samples; fewer only when the item ends."""
        raise NotImplementedError

    def write(self, frame: npt.NDArray[np.int16]) -> None:
        """The record side: input audio while the item is current (ignored here)."""
        del frame

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} at {self.position}>"


class SampleItem(PlaylistItem):
    """Pre-loaded audio, played once or looped endlessly.

    A looped item never finishes (A-core-23), so the playlist cannot run
    empty behind it; a looped item without samples is endless silence.
    """

    kind: ClassVar[str] = "audio"

    def __init__(self, samples: npt.ArrayLike, loop: bool = False, name: str = "") -> None:
        self.samples = as_samples(samples)
        self.loop = loop
        self.name = name
        self.position = 0

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def finished(self) -> bool:
        return not self.loop and self.position >= self.samples.size

    def read(self, n: int) -> Samples:
        size = self.samples.size
        if not self.loop:
            piece = self.samples[self.position : self.position + max(n, 0)]
            self.position += piece.size
            return piece
        if size == 0:
            self.position += max(n, 0)
            return np.zeros(max(n, 0), dtype=np.int16)
        start = self.position % size
        indices = (start + np.arange(max(n, 0))) % size
        self.position += indices.size
        return self.samples[indices]


class FileItem(SampleItem):
    """An audio file (``playFile``, A-core-25), loaded when it is added.

    Loading at once is what lets ``playFile`` raise ``{type: file}`` for an
    unreadable file at the action, not later during playback.
    """

    kind: ClassVar[str] = "file"

    def __init__(self, path: str, loop: bool = False, samples: npt.ArrayLike | None = None) -> None:
        super().__init__(load_audio(path) if samples is None else samples, loop, path)
        self.path = path


class PromptItem(SampleItem):
    """A prompt (``playPrompt``, A-core-21): shared pre-loaded samples by name."""

    kind: ClassVar[str] = "prompt"

    def __init__(self, name: str, samples: npt.ArrayLike, loop: bool = False, file: str = "") -> None:
        super().__init__(samples, loop, name)
        self.file = file
        """The audio file the prompt was loaded from (``""`` for generated prompts)."""


class _GeneratedItem(PlaylistItem):
    """An item whose samples come from a generator (silence, ring tones)."""

    _generator: SilenceGenerator | RingtoneGenerator

    @property
    def position(self) -> int:  # type: ignore[override]
        return self._generator.position

    @property
    def finished(self) -> bool:
        return self._generator.finished

    def read(self, n: int) -> Samples:
        return self._generator.read(n)


class SilenceItem(_GeneratedItem):
    """``ms`` of silence (A-core-27); negative = endless (REFERENCE QUIRK)."""

    kind: ClassVar[str] = "silence"

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self._generator = SilenceGenerator(ms)

    @property
    def label(self) -> str:
        return f"silence {self.ms} ms"


class RingtoneItem(_GeneratedItem):
    """A ring-tone generator (``playRingtone``, A-core-29)."""

    kind: ClassVar[str] = "ringtone"

    def __init__(self, spec: RingtoneSpec) -> None:
        self.spec = spec
        self._generator = RingtoneGenerator(spec)

    @property
    def label(self) -> str:
        s = self.spec
        return f"ringtone length={s.length} on={s.on} off={s.off} f={s.f} f2={s.f2}"


class SeparatorItem(PlaylistItem):
    """A zero-length marker (``addSeparator``, A-core-35) that raises an event."""

    kind: ClassVar[str] = "separator"

    def __init__(self, separator_id: int) -> None:
        if separator_id < 0:
            raise ValueError(f"separator id must not be negative: {separator_id}")
        self.separator_id = separator_id
        self.position = 0

    @property
    def label(self) -> str:
        return f"separator {self.separator_id}"

    @property
    def finished(self) -> bool:
        return True

    def read(self, n: int) -> Samples:
        return np.zeros(0, dtype=np.int16)
