"""The playlist of a call session (``actions.md`` §0.5, A-core-21 … A-core-35).

An ordered queue of items; only the head (the *current* item) plays.  The
caller drives it one 20 ms frame at a time with :meth:`Playlist.read_frame`
(and :meth:`Playlist.write_frame` for the input side); nothing here knows
about time other than by counting samples, so the same object serves a
simulated call on a virtual clock and a real RTP call.

Rules implemented here:

* items play gap-free in order; a frame may hold the end of one item and
  the start of the next (A-core-25, A-core-27);
* front insertion makes the new item current at once; the item that was
  playing goes back to the head of the queue and later resumes from the
  sample where it stopped (§0.5, A-core-22/26/28/29/35);
* a looped item never ends, so the queue behind it never plays and no
  NoAudio follows (A-core-23, A-core-25);
* reaching a separator reports PlaylistSeparator with its id (A-core-35,
  C-core-6);
* when the current item ends and nothing is queued, NoAudio with
  ``type=noAudio`` is reported once (§0.5, C-core-5); from then on the
  frames are silence.  A separator that is the last item reports its
  separator event and then NoAudio;
* :meth:`flush` empties the queue, the current item included, and reports
  nothing (A-core-30).

Every stretch of audio actually played is logged in :attr:`Playlist.played`
with its stream and item sample offsets, so a caller can report which items
were heard when, and reproduce the output exactly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt
from mypy_extensions import mypyc_attr

from dsm.runtime.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Samples
from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.items import (
    FileItem,
    PlaylistItem,
    PromptItem,
    SampleItem,
    SeparatorItem,
)

__all__ = ["PlayedSegment", "Playlist", "PlaylistEvent"]

PlaylistEvent: TypeAlias = NoAudio | PlaylistSeparatorReached
"""What :meth:`Playlist.read_frame` can report."""

_PLAIN_SAMPLE_ITEMS: Final = (SampleItem, FileItem, PromptItem)
"""Item types whose ``read`` is known to be plain slicing (subclasses may do more)."""


@dataclass(slots=True)
class PlayedSegment:
    """One uninterrupted stretch of one item in the output stream.

    ``start``/``end`` are stream sample offsets (the sample count of the
    playlist's output when the stretch began/ended); ``item_start``/
    ``item_end`` are positions inside the item.  ``outcome`` says why the
    stretch ended: ``finished``, ``interrupted`` (front insertion),
    ``flushed`` or ``playing`` (still open).  ``start_time``/``end_time``
    are the same moments on the caller's clock (seconds), when the caller
    passes ``now`` to :meth:`Playlist.read_frame`; they stay right across
    stretches in which the playlist was not read (media disconnected).
    """

    item: PlaylistItem
    start: int
    item_start: int
    end: int = -1
    item_end: int = -1
    outcome: str = "playing"
    start_time: float | None = None
    end_time: float | None = None

    def __init__(
        self,
        item: PlaylistItem,
        start: int,
        item_start: int,
        end: int = -1,
        item_end: int = -1,
        outcome: str = "playing",
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> None:
        self.item = item
        self.start = start
        self.item_start = item_start
        self.end = end
        self.item_end = item_end
        self.outcome = outcome
        self.start_time = start_time
        self.end_time = end_time

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def label(self) -> str:
        return self.item.label

    @property
    def start_ms(self) -> float:
        return self.start * 1000 / SAMPLE_RATE

    @property
    def end_ms(self) -> float:
        return self.end * 1000 / SAMPLE_RATE


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by plain Python (compiled: mypyc)
class Playlist:
    """A queue of playlist items read one frame at a time."""

    def __init__(self) -> None:
        self._items: deque[PlaylistItem] = deque()
        self._open: PlayedSegment | None = None
        self.position = 0
        """Samples read from the playlist so far (the output stream clock)."""
        self.played: list[PlayedSegment] = []
        """In-order log of what was played (see :class:`PlayedSegment`)."""
        self._frame_time: float | None = None
        self._frame_start = 0
        self.frame_source: tuple[Samples, int] | None = None
        """``(array, start)`` when the last frame read is ``array[start:start + n]`` of one
        item's samples, unchanged (lets a sender reuse codes computed once per array)."""

    # -- queue ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> tuple[PlaylistItem, ...]:
        """The queue, current item first."""
        return tuple(self._items)

    @property
    def current(self) -> PlaylistItem | None:
        """The head item, or ``None`` when the playlist is empty."""
        return self._items[0] if self._items else None

    def append(self, item: PlaylistItem) -> None:
        """Add ``item`` at the end of the queue."""
        self._items.append(item)

    def insert_front(self, item: PlaylistItem) -> None:
        """Make ``item`` current at once; the current item resumes after it (§0.5)."""
        self._close_open("interrupted")
        self._items.appendleft(item)

    def flush(self) -> None:
        """Remove every item, the current one included; no event (A-core-30)."""
        self._close_open("flushed")
        self._items.clear()

    # -- media ------------------------------------------------------------

    def advance_plain(self, samples: int = FRAME_SAMPLES, now: float | None = None) -> SampleItem | None:
        """The next ``samples`` when they are a plain slice of the current item, read without a copy.

        When the current item is plain pre-loaded audio (a prompt, a file,
        samples; not looped), already started, with more than ``samples``
        left -- the frame of almost every call that plays something -- the
        playlist moves past them exactly as :meth:`read_frame` would and
        returns the item: the frame is ``item.samples[item.position -
        samples : item.position]``, and no event can come of it.  Anything
        else returns ``None`` and changes nothing (read the frame with
        :meth:`read_frame`).  The RTP send path uses this to send a slice of
        the prompt's codes without building the frame at all.
        """
        items = self._items
        if self._open is None or not items:
            return None
        head = items[0]
        if head.__class__ not in _PLAIN_SAMPLE_ITEMS:
            return None
        item = cast(SampleItem, head)  # compiled: the attributes below are read in place
        if not item.loop and item.samples.size - item.position > samples:
            self._frame_time = now
            self._frame_start = self.position
            self.position += samples
            item.position += samples
            self.frame_source = None
            return item
        return None

    def advance_silence(self, samples: int = FRAME_SAMPLES, now: float | None = None) -> bool:
        """An empty playlist's next ``samples`` (silence), taken without building them.

        ``True`` when the playlist is empty: it moved on exactly as
        :meth:`read_frame` would have (no item, so no event and no frame
        source).  ``False`` changes nothing.
        """
        if self._items:
            return False
        self.frame_source = None
        self._frame_time = now
        self._frame_start = self.position
        self.position += samples
        return True

    def read_frame(
        self, samples: int = FRAME_SAMPLES, now: float | None = None
    ) -> tuple[Samples, list[PlaylistEvent]]:
        """The next ``samples`` of output and the events reached while producing them.

        ``now`` is the caller's clock (seconds) at the first sample of this
        frame; when given, segments and events also carry times.
        """
        items = self._items
        if self._open is not None and items:
            # The frame of almost every call: the current item, already started,
            # has more than a frame left -- one slice, no event, nothing to log.
            plain = self.advance_plain(samples, now)
            if plain is not None:
                start = plain.position - samples
                self.frame_source = (plain.samples, start)
                return plain.samples[start : plain.position], []
            item = items[0]
            if item.live:
                self._frame_time = now
                self._frame_start = self.position
                self.position += samples
                self.frame_source = None
                return item.read(samples), []
        self.frame_source = None
        pieces: list[npt.NDArray[np.int16]] = []
        events: list[PlaylistEvent] = []
        self._frame_time = now
        self._frame_start = self.position
        need = samples
        while need > 0 and self._items:
            item = self._items[0]
            if self._open is None:
                self._open = PlayedSegment(
                    item, self.position, item.position, start_time=self._time_at(self.position)
                )
            if isinstance(item, SeparatorItem):
                events.append(
                    PlaylistSeparatorReached(
                        item.separator_id, self.position, self._time_at(self.position)
                    )
                )
            else:
                piece = item.read(need)
                if piece.size:
                    pieces.append(piece)
                    need -= piece.size
                    self.position += piece.size
                if not item.finished:
                    if piece.size == 0:
                        break  # a source that has nothing right now; retry next frame
                    continue
            self._close_open("finished")
            self._items.popleft()
            if not self._items:
                events.append(NoAudio("noAudio", self.position, self._time_at(self.position)))
        if need > 0:
            pieces.append(np.zeros(need, dtype=np.int16))
            self.position += need
        frame = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        return frame, events

    def write_frame(self, frame: npt.NDArray[np.int16]) -> None:
        """Input audio: handed to the current item's record side, if any."""
        if self._items:
            self._items[0].write(frame)

    def _close_open(self, outcome: str) -> None:
        segment = self._open
        if segment is None:
            return
        segment.end = self.position
        segment.end_time = self._time_at(self.position)
        segment.item_end = segment.item.position
        segment.outcome = outcome
        self.played.append(segment)
        self._open = None

    def _time_at(self, position: int) -> float | None:
        if self._frame_time is None:
            return None
        return self._frame_time + (position - self._frame_start) / SAMPLE_RATE

    def open_segment(self) -> PlayedSegment | None:
        """The stretch being played right now, not yet in :attr:`played`."""
        return self._open
