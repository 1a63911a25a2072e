"""Conference rooms and their N-1 mixer (``modules.md`` section 4).

A :class:`Conferences` object holds the rooms of one engine and one
:class:`Mixer` for all of them.  A session takes part in a room through a
*slot* of the mixer (at most one per session and room; a second request
reuses it).  Each slot has a row in the mixer's input and output matrices:

* the call's media writes each received 20 ms frame into its input row
  (:meth:`Slot.write`, through the conference playlist item or a tee);
* once per frame period the media clock calls :meth:`Mixer.step`, which
  computes, for every slot of every room at once, the sum of the other
  speakers' frames of its room (N-1 mixing, clipped to 16 bit) into the
  output row, and clears the inputs: a participant whose caller sent
  nothing in a period contributes silence, never stale audio;
* the call's media reads the output row on its next frame (:class:`ChannelItem`).

The step is one ``np.add.reduceat`` over the speakers sorted by room, one
gather of each slot's room sum and one subtraction of its own frame, so the
cost per period is a few numpy calls whatever the number of rooms.  A
listen-only slot never speaks (its input is ignored), a speak-only slot
hears nothing.

The mixer is driven by :meth:`Conferences.attach_driver`: on the loop's
shared :class:`~dsm.runtime.sip.media_clock.MediaClock` for SIP calls, or
by a 20 ms timer on any :class:`~dsm.runtime.clock.Clock` (the harness's
virtual clock).  Room events (``#id`` 1 on join, 2 on leave) go through the
``notify`` callback given to :class:`Conferences`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, Final, Protocol

import numpy as np
import numpy.typing as npt

from dsm.runtime.media.audio import FRAME_SAMPLES, Samples
from dsm.runtime.media.items import PlaylistItem

__all__ = [
    "ChannelItem",
    "Conferences",
    "EVENT_JOIN",
    "EVENT_LEAVE",
    "Mixer",
    "Slot",
]

EVENT_JOIN: Final = 1
EVENT_LEAVE: Final = 2
FRAME_PERIOD: Final = 0.020

Notify = Callable[[str, int], None]
"""``notify(session_id, event_id)``: deliver a conference event to a session."""


class Slot:
    """One participant's place in a room: a row of the mixer's matrices."""

    __slots__ = ("mixer", "room", "session", "index", "speak", "listen", "holders")

    def __init__(self, mixer: Mixer, room: Room, session: str, index: int) -> None:
        self.mixer = mixer
        self.room = room
        self.session = session
        self.index = index
        self.speak = True
        self.listen = True
        self.holders = 0
        """Channels (main, tee) using this slot; it is released with the last one."""

    @property
    def active(self) -> bool:
        return self.index >= 0

    def write(self, frame: npt.NDArray[np.int16]) -> None:
        """The caller's frame of this period (the last one written in a period wins)."""
        index = self.index
        if index >= 0 and self.speak:
            mixer = self.mixer
            if frame.size == FRAME_SAMPLES:
                mixer.input[index] = frame
                mixer.fresh[index] = True
            else:
                mixer.write(index, frame)

    def mix(self) -> tuple[int, Samples]:
        """``(generation, frame)``: the last mix computed for this slot."""
        return self.mixer.generation, self.mixer.output[self.index]


class Room:
    """A named room: its slots by session id, in join order."""

    __slots__ = ("name", "slots", "code")

    def __init__(self, name: str, code: int) -> None:
        self.name = name
        self.slots: dict[str, Slot] = {}
        self.code = code
        """The room's number in the mixer's room index (stable while the room exists)."""


class Mixer:
    """The matrices of all slots and the vectorised N-1 step."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self.input = np.zeros((capacity, FRAME_SAMPLES), dtype=np.int16)
        self.output = np.zeros((capacity, FRAME_SAMPLES), dtype=np.int16)
        self.fresh = np.zeros(capacity, dtype=bool)
        """Rows written since the last step."""
        self.used: list[Slot | None] = [None] * capacity
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self.generation = 0
        """Steps run so far; a reader takes a mix once per generation."""
        self._layout: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp],
                            npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None = None
        self.steps_mixed = 0

    def __len__(self) -> int:
        return self.capacity - len(self._free)

    def allocate(self, slot: Slot) -> int:
        if not self._free:
            self._grow()
        index = self._free.pop()
        self.used[index] = slot
        self.input[index] = 0
        self.output[index] = 0
        self.fresh[index] = False
        self._layout = None
        return index

    def release(self, index: int) -> None:
        self.used[index] = None
        self.fresh[index] = False
        self.output[index] = 0
        self._free.append(index)
        self._layout = None

    def changed(self) -> None:
        """A slot's mode changed: rebuild the layout at the next step."""
        self._layout = None

    def _grow(self) -> None:
        old = self.capacity
        new = old * 2
        self.input = np.concatenate([self.input, np.zeros_like(self.input)])
        self.output = np.concatenate([self.output, np.zeros_like(self.output)])
        self.fresh = np.concatenate([self.fresh, np.zeros(old, dtype=bool)])
        self.used.extend([None] * old)
        self._free = list(range(new - 1, old - 1, -1)) + self._free
        self.capacity = new

    def write(self, index: int, frame: npt.NDArray[np.int16]) -> None:
        row = self.input[index]
        n = min(frame.size, FRAME_SAMPLES)
        row[:n] = frame[:n]
        if n < FRAME_SAMPLES:
            row[n:] = 0
        self.fresh[index] = True

    def _build_layout(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp],
                                     npt.NDArray[np.intp], npt.NDArray[np.bool_],
                                     npt.NDArray[np.bool_]]:
        active = [s for s in self.used if s is not None]
        active.sort(key=lambda s: s.room.code)
        order = np.fromiter((s.index for s in active), dtype=np.intp, count=len(active))
        codes = [s.room.code for s in active]
        starts: list[int] = []
        group: list[int] = []
        last = None
        for i, code in enumerate(codes):
            if code != last:
                starts.append(i)
                last = code
            group.append(len(starts) - 1)
        speak = np.fromiter((s.speak for s in active), dtype=bool, count=len(active))
        listen = np.fromiter((s.listen for s in active), dtype=bool, count=len(active))
        return (order, np.asarray(starts, dtype=np.intp), np.asarray(group, dtype=np.intp),
                speak, listen)

    def step(self) -> None:
        """One frame period: every slot's output = its room's speakers minus itself."""
        self.generation += 1
        if self._layout is None:
            self._layout = self._build_layout()
        order, starts, group, speak, listen = self._layout
        if order.size == 0:
            return
        talking = self.fresh[order] & speak
        if not talking.any():
            self.output[order] = 0
        else:
            frames = self.input[order].astype(np.int32)
            frames[~talking] = 0
            sums = np.add.reduceat(frames, starts, axis=0)
            mixed = sums[group]
            mixed -= frames
            mixed[~listen] = 0
            np.clip(mixed, -32768, 32767, out=mixed)
            self.output[order] = mixed
            self.steps_mixed += 1
        self.fresh[:] = False


class ChannelItem(PlaylistItem):
    """The playlist item of a conference channel: plays the room's mix, records into the room.

    ``speak``/``listen`` are the channel's mode (``conference.join``): a
    listen-only channel never writes into the room, so nobody hears it; a
    speak-only one plays silence.  It never finishes.  Once released (``conference.leave``) it stays in the
    playlist and is silent (M-conference-2).  Reads of any length are served
    from a short queue filled with one new mix per mixer step; a read with no
    new mix gets silence, so a stalled mixer never repeats audio.
    """

    kind: ClassVar[str] = "conference"
    live: ClassVar[bool] = True

    def __init__(self, slot: Slot, speak: bool = True, listen: bool = True) -> None:
        self.slot: Slot | None = slot
        self.speak = speak
        self.listen = listen
        self.room_name = slot.room.name
        self.name = f"conference {slot.room.name}"
        self.position = 0
        self._taken = slot.mixer.generation
        self._queue: Samples = np.zeros(0, dtype=np.int16)

    @property
    def label(self) -> str:
        return self.name

    @property
    def finished(self) -> bool:
        return False

    def release(self) -> None:
        self.slot = None
        self._queue = np.zeros(0, dtype=np.int16)

    def read(self, n: int) -> Samples:
        n = max(n, 0)
        slot = self.slot
        self.position += n
        if slot is None or slot.index < 0 or not self.listen:
            return np.zeros(n, dtype=np.int16)
        mixer = slot.mixer
        fresh = mixer.generation != self._taken
        queue = self._queue
        if n == FRAME_SAMPLES and not queue.size:  # the frame of almost every call
            if not fresh:
                return np.zeros(n, dtype=np.int16)
            self._taken = mixer.generation
            return mixer.output[slot.index].copy()
        if fresh:
            self._taken = mixer.generation
            frame = mixer.output[slot.index]
            queue = frame.copy() if queue.size == 0 else np.concatenate([queue, frame])
        if queue.size >= n:
            out, self._queue = queue[:n], queue[n:]
            if self._queue.size > 2 * FRAME_SAMPLES:  # bounded delay
                self._queue = self._queue[-FRAME_SAMPLES:]
            return out
        self._queue = np.zeros(0, dtype=np.int16)
        if queue.size == 0:
            return np.zeros(n, dtype=np.int16)
        return np.concatenate([queue, np.zeros(n - queue.size, dtype=np.int16)])

    def write(self, frame: npt.NDArray[np.int16]) -> None:
        slot = self.slot
        if slot is not None and self.speak:
            slot.write(frame)


class Driver(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class TimerDriver:
    """Steps a mixer every 20 ms on a :class:`~dsm.runtime.clock.Clock` while it runs."""

    def __init__(self, clock: Any, step: Callable[[], None]) -> None:
        self.clock = clock
        self._step = step
        self._handle: Any = None
        self._next = 0.0

    def start(self) -> None:
        if self._handle is None:
            self._next = self.clock.now() + FRAME_PERIOD
            self._handle = self.clock.call_at(self._next, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        self._step()
        now = self.clock.now()
        self._next += FRAME_PERIOD
        if self._next < now:  # far behind: one step, then back on the grid
            self._next = now + FRAME_PERIOD
        self._handle = self.clock.call_at(self._next, self._tick)


class MediaClockDriver:
    """Steps a mixer once per frame period as a session of the loop's media clock.

    Each call's frames come once per period at the tick of its phase; the
    mixer is one more member of the clock, so between two steps every call
    has read and written exactly one frame.
    """

    def __init__(self, media_clock: Any, step: Callable[[], None]) -> None:
        self.media_clock = media_clock
        self._step = step
        self._running = False
        self._slot = 0

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._slot = self.media_clock.join(self)

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.media_clock.leave(self)

    def pace(self, at: float) -> None:
        clock = self.media_clock
        due = clock.slot_time(self._slot)
        if due > at + 1e-9:
            return
        try:
            self._step()
        finally:
            # one step per period even when late: skip the missed ones
            while clock.slot_time(self._slot) <= at + 1e-9:
                self._slot += clock.phases


class Conferences:
    """The rooms of one engine, their mixer and its driver."""

    def __init__(self, notify: Notify) -> None:
        self.notify = notify
        self.rooms: dict[str, Room] = {}
        self.mixer = Mixer()
        self.lock = threading.RLock()
        self.driver: Driver | None = None
        self._codes = 0

    def attach_driver(self, driver: Driver) -> None:
        with self.lock:
            if self.driver is not None:
                self.driver.stop()
            self.driver = driver
            if len(self.mixer):
                driver.start()

    def step(self) -> None:
        with self.lock:
            self.mixer.step()

    def size(self, room: str) -> int:
        with self.lock:
            r = self.rooms.get(room)
            return 0 if r is None else len(r.slots)

    def participants(self, room: str) -> list[str]:
        with self.lock:
            r = self.rooms.get(room)
            return [] if r is None else list(r.slots)

    def acquire(self, room: str, session: str, speak: bool = True, listen: bool = True) -> Slot:
        """A slot for ``session`` in ``room`` (reused if it has one); events ``#id`` 1 as specified.

        ``speak``/``listen`` set the slot's own directions (a reused slot takes
        the new ones); a channel's mode is better kept on its item
        (:class:`ChannelItem`), so that two channels sharing a slot keep theirs.
        """
        with self.lock:
            r = self.rooms.get(room)
            if r is None:
                self._codes += 1
                r = self.rooms[room] = Room(room, self._codes)
            slot = r.slots.get(session)
            if slot is None:
                others = list(r.slots)
                slot = Slot(self.mixer, r, session, -1)
                slot.index = self.mixer.allocate(slot)
                r.slots[session] = slot
                targets = others if others else [session]
            else:
                targets = []
            slot.speak, slot.listen = speak, listen
            slot.holders += 1
            self.mixer.changed()
            if self.driver is not None:
                self.driver.start()
        for target in targets:
            self.notify(target, EVENT_JOIN)
        return slot

    def release(self, slot: Slot) -> None:
        """A channel on ``slot`` is released; the last one frees it (``#id`` 2 to the others)."""
        with self.lock:
            if not slot.active:
                return
            slot.holders -= 1
            if slot.holders > 0:
                return
            room = slot.room
            room.slots.pop(slot.session, None)
            self.mixer.release(slot.index)
            slot.index = -1
            others = list(room.slots)
            if not room.slots and self.rooms.get(room.name) is room:
                del self.rooms[room.name]
            if not len(self.mixer) and self.driver is not None:
                self.driver.stop()
        for target in others:
            self.notify(target, EVENT_LEAVE)

    def post(self, room: str, event_id: int) -> int:
        """An event to every participant of ``room``; returns how many."""
        targets = self.participants(room)
        for target in targets:
            self.notify(target, event_id)
        return len(targets)
