"""One timer for all the RTP sessions of an event loop.

Each call used to arm its own ``loop.call_at`` every 20 ms: with hundreds of
calls that is hundreds of timer handles, heap operations and callback
dispatches per frame interval.  :class:`MediaClock` keeps one grid of *ticks*
instead, ``origin + j * step`` with ``step = period / phases``, and one timer
on it.  Every session belongs to one *phase* (``j % phases``; a new session
joins the least crowded one) and its frames are due at the ticks of its
phase, one period apart.  At each tick the clock serves the sessions of that
phase, one after the other.

Why phases: a frame is late when it leaves more than 10 ms after its slot;
serving every call in one burst per period would make the last calls of a
big burst late although the loop is far from busy.  Four phases cut the
bursts to a quarter, as the calls' own timers used to spread them.

Why few phases while there are few calls: every tick wakes the process,
and a wake-up costs far more than serving a frame (about 100 µs of CPU on
a virtual machine with nothing to do; docs/sip.md, "Wake-ups").  A tick
whose phase has no session is therefore not armed, unless a watched
socket has received something (below): then every tick runs, as every
tick reads.  And while no socket has, a new session joins the fullest
phase holding fewer than :data:`PHASE_FILL` sessions (a burst of that
many frames of calls whose peers send nothing takes a few milliseconds),
the least crowded one only when every phase is that full; once one has,
it joins the least crowded phase, for the shortest bursts.  Calls whose
peers send no RTP (announcements, the benchmark's callers) then wake the
process 50 times a second instead of 200; the first packet of such a
peer waits at most one period.

A session's frames are numbered by tick index, so every schedule lies on the
grid (no float drift): the first frame of a session started at ``t`` is due
at the first tick of its phase at or after ``t + period`` -- up to one period
later than a schedule of its own would have put it.  Everything else (which
frames, their order, catch-up after a stall, the late-frame counts) is
decided by the session as before; the clock only says "tick ``j`` is here".

In-band DTMF: the sessions of a tick queue their received frames on the
clock's :attr:`MediaClock.dtmf` batch, analysed together once every session
of the tick was served -- one analysis of hundreds of frames costs about
what a handful of single-frame analyses would.  The keys a frame ends are
delivered after that frame's playlist events, within the same tick.

Received RTP: the sessions register their RTP sockets with the clock
(:meth:`MediaClock.watch`, with the function that reads one packet), and
every tick asks the kernel once which of them hold packets (one ``epoll``
poll without waiting) and reads **one packet from each readable socket** --
whatever the sessions' phases.
A socket is read exactly once per readiness, so no read ever comes back
empty (draining until empty cost a failed ``recvfrom`` per socket and
frame); with four ticks a period a socket is read up to 200 times a second,
four times a phone's rate, so a burst after a stall drains within a few
frames while a flood beyond that stays in the kernel's buffer, which drops
it.  A call whose peer sends nothing costs no read at all, and no packet
costs a loop callback.  The reads come *after* the sessions of the tick
were served: the frames sent are what is heard on time or late, while a
packet read goes to a jitter buffer whose next frame is a tick or more
away (read first, every send of a tick waited for the reads of all calls).

Every tick is timed on the loop's clock (:attr:`MediaClock.tick_durations`,
:attr:`MediaClock.tick_delays`, bucketed by :data:`TICK_BOUNDS`;
:attr:`MediaClock.tick_overruns`), so a measurement can tell a tick that
ran too long from a loop that started it late.

Received audio is decoded for all the sessions of a tick at once: a
session that receives RTP registers a *fetch* (:meth:`MediaClock.fetch_from`);
before the sessions of a tick are served, every fetch takes the packet of
its session's coming frame out of the jitter buffer and queues its payload
on :attr:`MediaClock.decode` (a :class:`DecodeBatch`), which decodes all of
them with one table lookup per codec and hands each session its row.  The
G.711 decode of a frame alone cost more than its share of the batch (about
2.8 µs against 0.6 µs at 125 frames).

Nothing here reads a clock of its own: time is the loop's (``loop.time()``)
and the timer is ``loop.call_at``, so tests drive it with a fake loop.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import select
import weakref
from collections.abc import Callable
from typing import ClassVar, Final, Protocol

import numpy as np
import numpy.typing as npt

from dsm.runtime.media.audio import FRAME_SAMPLES
from dsm.runtime.media.dtmf_detector import DetectionBatch

__all__ = [
    "DecodeBatch",
    "MediaClock",
    "PacedSession",
    "Prefetching",
    "FRAME_PERIOD",
    "PHASES",
    "PHASE_FILL",
    "TICK_BOUNDS",
]

FRAME_PERIOD: Final = 0.020
"""Seconds per frame (160 samples at 8 kHz)."""

PHASES: Final = 4
"""Ticks per frame period; each session is served at one of them."""

PHASE_FILL: Final = 256
"""Sessions a phase takes before a new session goes to another one (module docstring)."""

TICK_BOUNDS: Final = (0.001, 0.002, 0.005, 0.010, 0.020)
"""Upper bounds (seconds) of the buckets of :attr:`MediaClock.tick_durations` and ``tick_delays``."""

_EPSILON: Final = 1e-9
"""Tolerance when mapping a time to a tick (float rounding of ``origin + j * step``)."""


class PacedSession(Protocol):
    """What the clock needs of a session: serve the frames due by tick time ``at``."""

    def pace(self, at: float) -> None: ...


class Prefetching(Protocol):
    """A session whose coming frame a :class:`DecodeBatch` decodes: the row lands here."""

    prefetched: npt.NDArray[np.int16] | None


class DecodeBatch:
    """20 ms G.711 payloads of many sessions, decoded with one table lookup per codec.

    :attr:`add` queues ``(table, payload, owner)``: one frame's 160 code
    bytes with the decode table of its codec; :meth:`run` decodes everything
    queued and sets each owner's :attr:`Prefetching.prefetched` to its frame
    (a row of one fresh array that nothing else writes to).
    """

    def __init__(self) -> None:
        self._queued: list[tuple[npt.NDArray[np.int16], bytes, Prefetching]] = []
        self.add: Callable[[tuple[npt.NDArray[np.int16], bytes, Prefetching]], None] = (
            self._queued.append
        )
        """Queue one entry (the list's own ``append``: one C call per frame and call)."""
        self.frames = 0
        """Frames decoded so far (for tests and diagnostics)."""

    def __len__(self) -> int:
        return len(self._queued)

    def run(self) -> None:
        """Decode every queued payload; each owner gets its frame in ``prefetched``."""
        pending = self._queued[:]
        self._queued.clear()  # the same list: ``add`` stays bound to it
        while pending:  # one round per codec in the batch (each round takes at least one entry)
            table = pending[0][0]
            same = [entry for entry in pending if entry[0] is table]
            pending = [entry for entry in pending if entry[0] is not table]
            codes = np.frombuffer(b"".join([entry[1] for entry in same]), dtype=np.uint8)
            frames = table.take(codes).reshape(len(same), FRAME_SAMPLES)  # take: ~30 % under table[codes]
            self.frames += len(same)
            for (_table, _payload, owner), frame in zip(same, frames, strict=True):
                owner.prefetched = frame


class MediaClock:
    """Frame ticks shared by the sessions of one loop; see the module docstring."""

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        period: float = FRAME_PERIOD,
        phases: int = PHASES,
        fill: int = PHASE_FILL,
    ) -> None:
        if period <= 0 or phases < 1 or fill < 1:
            raise ValueError("the frame period must be positive, phases and fill at least 1")
        self.loop = loop
        self.period = period
        self.phases = phases
        """Tick indices between two frames of one session."""
        self.fill = fill
        """Sessions a phase takes before new sessions go to another phase."""
        self.step = period / phases
        self.origin: float | None = None
        """Time of tick 0: the loop's time when the first session joined."""
        self._groups: list[dict[PacedSession, Callable[[float], None] | None]] = [
            {} for _ in range(phases)
        ]
        """Per phase: the sessions and the fetch of each that receives audio (see ``fetch_from``)."""
        self._timer: asyncio.TimerHandle | None = None
        self._next_tick = 0
        self.ticks = 0
        """Tick callbacks run so far (for tests and diagnostics)."""
        self.dtmf = DetectionBatch()
        self.decode = DecodeBatch()
        """This tick's received payloads, decoded together before the sessions are served."""
        """Received frames of this tick's sessions awaiting in-band DTMF analysis."""
        self._poll = select.epoll() if hasattr(select, "epoll") else None
        self._readers: dict[int, Callable[[], None]] = {}
        """Watched RTP sockets and the function that reads one packet of each."""
        self._heard: set[int] = set()
        """Watched sockets found readable at least once: while there is one, every tick runs."""
        self._shared_fds: dict[int, Callable[[], None]] = {}
        """Sockets read by a loop reader while the clock stands, at its ticks while it runs (``share``)."""
        self._running = False
        """Whether some session is served (the shared sockets are then read at the ticks)."""
        self.now = 0.0
        """The loop's time when this tick's packets were read (their arrival time, to a tick)."""
        self.reads = 0
        """Packets read for the watched sockets so far (one read per readiness)."""
        self.tick_durations = [0] * (len(TICK_BOUNDS) + 1)
        """Ticks by how long they ran (loop time), bucketed by :data:`TICK_BOUNDS` (last: longer)."""
        self.tick_delays = [0] * (len(TICK_BOUNDS) + 1)
        """Ticks by how long after their slot they started, bucketed the same way."""
        self.tick_overruns = 0
        """Ticks that ran longer than :attr:`step` (the next one started late because of it)."""

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> MediaClock:
        """The clock every session of ``loop`` shares unless given its own."""
        clock = cls._shared.get(loop)
        if clock is None:
            clock = cls._shared[loop] = cls(loop)
        return clock

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups)

    def slot_time(self, tick: int) -> float:
        """When tick ``tick`` is due (the same float for the same tick, always)."""
        assert self.origin is not None, "no session has joined the clock yet"
        return self.origin + tick * self.step

    def grid(self) -> tuple[float, float]:
        """``(origin, step)``: tick ``j`` is due at ``origin + j * step`` (as :meth:`slot_time`)."""
        assert self.origin is not None, "no session has joined the clock yet"
        return self.origin, self.step

    def join(self, session: PacedSession) -> int:
        """Serve ``session`` from now on; returns the tick of its first frame.

        The session joins the fullest phase with room (fewer than
        :attr:`fill` sessions), else the least crowded one; its first frame
        is due at the first tick of that phase one period after now.
        """
        now = self.loop.time()
        if self.origin is None:
            self.origin = now
        if not self._running:
            self._start_sharing()
        phase = self._phase_to_join()
        first = max(0, math.ceil((now + self.period - self.origin) / self.step - _EPSILON))
        first += (phase - first) % self.phases
        self._groups[phase][session] = None
        if self._timer is None:
            self._arm(max(first - self.phases + 1, 0))
        return first

    def _phase_to_join(self) -> int:
        """The fullest phase holding fewer than :attr:`fill` sessions, else the least crowded.

        Once a watched socket has received, every tick runs whatever the
        phases hold: the least crowded phase then, for the shortest bursts.
        """
        sizes = [len(group) for group in self._groups]
        room = [p for p in range(self.phases) if sizes[p] < self.fill]
        if room and not self._every_tick_runs():
            return max(room, key=lambda p: (sizes[p], -p))
        return min(range(self.phases), key=lambda p: sizes[p])

    def fetch_from(self, session: PacedSession, fetch: Callable[[float], None]) -> None:
        """Before each of its ticks, call ``fetch(at)`` for ``session`` (while it is served).

        ``fetch`` queues the payload of the session's frame due at ``at`` on
        :attr:`decode` (or does nothing); it never raises.
        """
        for group in self._groups:
            if session in group:
                group[session] = fetch

    def leave(self, session: PacedSession) -> None:
        """Stop serving ``session`` (idempotent); the timer stops with the last one."""
        for group in self._groups:
            group.pop(session, None)
        if any(self._groups):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running:
            self._stop_sharing()

    def share(self, fd: int, read_ready: Callable[[], None]) -> None:
        """Read socket ``fd`` (``read_ready`` drains it) at the ticks while the clock runs.

        While no session is served the loop reads it (``add_reader``), as
        before.  While sessions are, the clock's poll at each tick does: a
        datagram that arrives between ticks then waits for the next tick
        (at most a period) instead of waking the process on its own -- at
        100 calls a second the SIP socket woke it more often than the
        clock did.  ``read_ready`` never raises.  Without ``epoll`` the loop
        keeps reading it.
        """
        self._shared_fds[fd] = read_ready
        if self._running and self._poll is not None:
            self._poll.register(fd, select.EPOLLIN)
        else:
            self.loop.add_reader(fd, read_ready)

    def unshare(self, fd: int) -> None:
        """Stop reading ``fd`` (idempotent); call before the socket is closed."""
        if self._shared_fds.pop(fd, None) is None:
            return
        self.loop.remove_reader(fd)
        if self._poll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._poll.unregister(fd)

    def _start_sharing(self) -> None:
        self._running = True
        if self._poll is None:
            return
        for fd in self._shared_fds:
            self.loop.remove_reader(fd)
            self._poll.register(fd, select.EPOLLIN)

    def _stop_sharing(self) -> None:
        self._running = False
        if self._poll is None:
            return
        for fd, read_ready in self._shared_fds.items():
            with contextlib.suppress(OSError, ValueError):
                self._poll.unregister(fd)
            self.loop.add_reader(fd, read_ready)

    def watch(self, fd: int, read_one: Callable[[], None]) -> None:
        """Poll socket ``fd`` at every tick; ``read_one`` reads one packet when it is readable.

        ``read_one`` never raises (it reports its own faults): the tick
        goes on with the other sockets and sessions.
        """
        if self._poll is not None and fd not in self._readers:
            self._poll.register(fd, select.EPOLLIN)
        self._readers[fd] = read_one

    def unwatch(self, fd: int) -> None:
        """Forget ``fd`` (idempotent); call before the socket is closed."""
        self._heard.discard(fd)
        if self._readers.pop(fd, None) is not None and self._poll is not None:
            try:  # noqa: SIM105 - per call: contextlib.suppress would run interpreted code
                self._poll.unregister(fd)
            except (OSError, ValueError):
                pass

    def _read_ready(self) -> None:
        """One packet from every watched socket the kernel says is readable (one poll)."""
        readers = self._readers
        shared = self._shared_fds
        if not readers and not shared:
            return
        self.now = self.loop.time()
        if self._poll is None:  # no epoll: every socket is tried (its read may find nothing)
            ready = list(readers)
        else:
            try:
                ready = [fd for fd, _mask in self._poll.poll(0, len(readers) + len(shared))]
            except OSError:
                return
        if not ready:
            return
        drains = [shared[fd] for fd in ready if fd in shared] if shared else []
        if drains:
            ready = [fd for fd in ready if fd not in shared]
        if self._poll is not None:
            # From now on every tick runs (see _rearm); noted before the shared sockets are
            # read, so that a call their datagrams end takes its socket out again (unwatch).
            self._heard.update(ready)
        for drain in drains:
            drain()
        for fd in ready:
            read_one = readers.get(fd)  # a packet read before may have ended that call
            if read_one is not None:
                read_one()
        self.reads += len(ready)

    def _arm(self, tick: int) -> None:
        if self._timer is not None:  # e.g. a session joined while a tick was running
            self._timer.cancel()
        self._next_tick = tick
        self._timer = self.loop.call_at(self.slot_time(tick), self._tick)

    def _tick(self) -> None:
        """Serve the tick's sessions (fetch, decode, send), then read what arrived.

        Sending comes first: the sessions' frames are what the peers hear on
        time or late, and the packets of the tick's reads go to the jitter
        buffers, whose next frame is at least one tick away (reading first
        delayed every send of the tick by all the reads of all the calls).
        """
        self._timer = None
        tick = self._next_tick
        at = self.slot_time(tick)
        self.ticks += 1
        loop_time = self.loop.time
        started = loop_time()
        try:
            group = self._groups[tick % self.phases]
            sessions = list(group)
            fetches = [fetch for fetch in group.values() if fetch is not None]
            if fetches:
                for fetch in fetches:
                    fetch(at)
                self.decode.run()
            for session in sessions:
                session.pace(at)  # a session never raises (it reports its own faults)
            self._read_ready()
            self.dtmf.run()  # the callbacks report their own faults too
        finally:
            ran = loop_time() - started
            self.tick_durations[bisect.bisect_left(TICK_BOUNDS, ran)] += 1
            self.tick_delays[bisect.bisect_left(TICK_BOUNDS, started - at)] += 1
            if ran > self.step:
                self.tick_overruns += 1
            self._rearm(tick)

    def _every_tick_runs(self) -> bool:
        """Whether every tick reads: a watched socket has received (without epoll: any is watched)."""
        return bool(self._heard) if self._poll is not None else bool(self._readers)

    def _rearm(self, tick: int) -> None:
        groups = self._groups
        if not any(groups):
            return
        # The very next tick, even when it is already past: every phase gets its turn,
        # and a late one simply runs at once.  While no watched socket has received
        # anything, a tick without a session of its phase has nothing to do: skipped
        # (a wake-up saved; see the module docstring).
        following = tick + 1
        if not self._every_tick_runs():
            while not groups[following % self.phases]:  # bounded: some group holds a session
                following += 1
        self._arm(following)
