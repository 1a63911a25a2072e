"""Mix-in: a file or a playlist mixed into a call's outgoing audio (M-conference-9 … 12).

:class:`MixIn` sits between the call's playlist and what is sent: while
its *source* plays, each frame is ``(1 - level) * playlist + level *
source``; with ``level`` below 0.01 the playlist is not read at all (it
pauses and resumes where it stopped) and only the source is heard.

Timing, counted in frames of the call's own media (no clock of its own):
with ``seconds == 0`` a new source starts at once and plays once; with
``seconds > 0`` it starts ``seconds`` after it was set and, once it ends,
starts again (a file rewound) ``seconds`` after that end.
"""

from __future__ import annotations

import numpy as np

from dsm.runtime.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Samples
from dsm.runtime.media.items import PlaylistItem, SampleItem
from dsm.runtime.media.playlist import Playlist, PlaylistEvent

__all__ = ["MixIn", "MixInList"]

PAUSE_BELOW = 0.01


class MixInList(Playlist):
    """The mix-in playlist (``conf.mixlist``): a playlist that reports no events."""

    def dispose(self) -> None:
        self.flush()


class MixIn:
    """The mix-in mixer of one call (``conf.mixer``)."""

    def __init__(self, level: float, seconds: int) -> None:
        self.level = level
        self.interval = seconds * SAMPLE_RATE // FRAME_SAMPLES
        """Frames between a source's end (or being set) and its next start; 0 = once, now."""
        self.source: PlaylistItem | MixInList | None = None
        self._wait = 0
        self._playing = False

    def set_source(self, source: PlaylistItem | MixInList) -> None:
        self.source = source
        self._playing = self.interval == 0
        self._wait = self.interval

    def dispose(self) -> None:
        self.source = None

    def _source_frame(self) -> Samples | None:
        """The source's next frame while it plays, else ``None`` (and advance its timing)."""
        source = self.source
        if source is None:
            return None
        if isinstance(source, MixInList):
            if self.interval and not self._playing:
                if self._wait > 0:
                    self._wait -= 1
                    return None
                self._playing = True
            if not len(source):
                if self.interval and self._playing:
                    self._playing = False
                    self._wait = self.interval
                return None
            frame, _events = source.read_frame()
            return frame
        if not self._playing:
            if not self.interval:
                return None
            if self._wait > 0:
                self._wait -= 1
                return None
            self._playing = True
            if isinstance(source, SampleItem):
                source.position = 0  # a file is rewound for every repetition
        piece = source.read(FRAME_SAMPLES)
        if source.finished:
            self._playing = False
            self._wait = self.interval
            if not self.interval:
                self.source = None
        if piece.size < FRAME_SAMPLES:
            piece = np.concatenate([piece, np.zeros(FRAME_SAMPLES - piece.size, dtype=np.int16)])
        return piece

    def read_frame(
        self, playlist: Playlist, now: float | None = None
    ) -> tuple[Samples, list[PlaylistEvent]]:
        """The next outgoing frame: the playlist's, mixed with the source while it plays."""
        mix = self._source_frame()
        if mix is None:
            return playlist.read_frame(now=now)
        if self.level < PAUSE_BELOW:
            playlist.frame_source = None
            return mix, []
        frame, events = playlist.read_frame(now=now)
        playlist.frame_source = None
        out = (1.0 - self.level) * frame.astype(np.float32) + self.level * mix.astype(np.float32)
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16), events
