"""Runners for blocking actions: where a call that may wait runs while its session waits.

An action or condition declared ``blocking=True`` (``docs/modules.md``)
parks its session's event (:mod:`dsm.runtime.resumable`); the engine's
runner runs it and reports the outcome with :meth:`Session.resume` on the
thread that runs the engine.  The composition root picks the runner:

* :class:`PoolRunner` — ``dsm serve``: a pool of daemon worker threads, the
  outcome handed back to the asyncio loop.  It keeps the metrics (calls in
  flight, seconds per action name), logs a call running longer than
  ``slow_seconds`` once, and lists what still runs at shutdown.  Its threads
  are daemons, so a ``py()`` that never returns cannot keep the process alive;
* :class:`DelayedRunner` — the harness: the call runs at once, the outcome
  arrives after a fixed *virtual* delay, so tests see a session wait
  without depending on wall-clock speed;
* :class:`InlineRunner` — the outcome at once (tests of the resumable executor).

Without a runner (the default engine) blocking actions simply run inline.

A blocking action may also have a *loop form* (:func:`loop_form`): on a
runner with a loop it runs on the loop, sends its request, and the session
waits for the reply with no thread at all (:class:`WaitReply`); the
:class:`PoolRunner` watches the connection's socket, finishes the action
once the whole reply is in, and enforces its timeout with a loop timer.
The other runners ignore loop forms (same traces as before).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dsm.runtime.resumable import ON_POOL, Offload, Outcome, Request, WaitReply, call

if TYPE_CHECKING:
    from dsm.runtime.clock import Clock
    from dsm.runtime.session import Session

__all__ = [
    "BlockingRunner",
    "InlineRunner",
    "DelayedRunner",
    "PoolRunner",
    "Running",
    "on_host",
    "loop_form",
    "LOOP_READ_CHUNK",
    "DEFAULT_WORKERS",
    "DEFAULT_SLOW_SECONDS",
    "DEFAULT_BATCH",
    "DEFAULT_LANE_WORKERS",
    "HISTOGRAM_BUCKETS",
]

DEFAULT_WORKERS = 64
DEFAULT_SLOW_SECONDS = 1.0
DEFAULT_BATCH = 16
"""Sessions a :class:`PoolRunner` resumes per loop iteration before yielding to I/O and timers."""
DEFAULT_LANE_WORKERS = 8
"""Calls of one module (``mysql``, ``redis``, ``py`` ...) running on the pool at once.

A dependency that stalls (a paused database) holds at most this many
workers, so the other modules' calls keep running; when it comes back, at
most this many threads finish together and compete with the loop for the
GIL.  Further calls of that module queue, in order, until one ends."""
HISTOGRAM_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Upper bounds (seconds) of the per-action histogram in ``/metrics``."""


F = TypeVar("F", bound=Callable[..., Any])

SWEEP_SECONDS = 0.1
"""How often a :class:`PoolRunner` looks for loop waits past their timeout (their precision)."""

LOOP_READ_CHUNK = 262144
"""Bytes read from a watched socket per readiness callback."""


def loop_form(action: Callable[..., Any]) -> Callable[[F], F]:
    """Give the blocking ``action`` a loop form, used where the runner has an event loop.

    The form is called like the action (``form(ctx, *args)``) on the loop's
    thread and returns ``None`` (it did the whole action: an argument or
    connection error, say), :data:`~dsm.runtime.resumable.ON_POOL` (run the
    action on the worker pool as usual, e.g. it must connect first) or a
    :class:`~dsm.runtime.resumable.WaitReply` (the request is sent; finish
    once the reply is in).  ``mod_mysql``'s queries use it.
    """

    def deco(form: F) -> F:
        action.on_loop = form  # type: ignore[attr-defined]
        return form

    return deco


class BlockingRunner(Protocol):
    """Runs ``request`` for ``session`` and later calls ``session.resume(outcome)``."""

    def submit(self, session: Session, request: Request) -> None: ...


def _run(session: Session, request: Request) -> Outcome:
    try:
        return (True, call(session, request))
    except Exception as exc:
        return (False, exc)
    except BaseException as exc:  # e.g. KeyboardInterrupt inside a py() script: the call's fault
        return (False, RuntimeError(f"{type(exc).__name__}: {exc}"))


class InlineRunner:
    """The outcome at once, on the calling thread."""

    def submit(self, session: Session, request: Request) -> None:
        session.resume(_run(session, request))


class DelayedRunner:
    """The call runs at once; its outcome arrives ``seconds`` later on ``clock`` (virtual time)."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds

    def submit(self, session: Session, request: Request) -> None:
        outcome = _run(session, request)
        self.clock.call_at(self.clock.now() + self.seconds, lambda: session.resume(outcome))


class Running:
    """One blocking call on the pool: call id, action name, when it was submitted.

    ``loc`` (``file:line``) is formatted only when asked for (the slow-call
    log, the shutdown list): formatting it for every call cost ~1 µs a query.
    """

    __slots__ = ("session", "action", "src", "started", "warned")

    def __init__(self, session: str, src: Any, started: float) -> None:
        self.session = session
        self.action: str = src.name
        self.src = src
        self.started = started
        self.warned = False

    @property
    def loc(self) -> str:
        return str(self.src.loc)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(HISTOGRAM_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(HISTOGRAM_BUCKETS, seconds)] += 1
        self.total += seconds


_local = threading.local()


def on_host(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` on the engine's thread and return its result.

    Code running on a pool worker (a ``py()`` script asking for a prompt to be
    played) must not touch the call's media or SIP state from its own thread;
    its session is parked, so the loop is free to run the call meanwhile.
    Elsewhere ``fn`` runs directly.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None:
        return fn(*args)

    async def run() -> Any:
        return fn(*args)

    return asyncio.run_coroutine_threadsafe(run(), loop).result()


def lane_of(request: Request) -> str:
    """The pool lane of a blocking call: its action's prefix (``mysql`` of ``mysql.query``)."""
    src = request.src
    name: str = getattr(src, "name", "") or ""
    return name.partition(".")[0]


class _Lane:
    """Calls of one module: how many run on the pool, and those waiting for a free slot."""

    __slots__ = ("running", "waiting")

    def __init__(self) -> None:
        self.running = 0
        self.waiting: collections.deque[tuple[int, Session, Request]] = collections.deque()


def _first(
    waiting: collections.deque[tuple[int, Session, Request]], key: str
) -> tuple[int, str, Session, Request]:
    job_id, session, request = waiting.popleft()
    return job_id, key, session, request


class _Waiting:
    """A loop form's wait: its session, request, reply, deadline and watched socket."""

    __slots__ = ("job_id", "key", "session", "request", "wait", "deadline", "watch", "queued")

    def __init__(
        self, job_id: int, key: str, session: Session, request: Request, wait: WaitReply
    ) -> None:
        self.job_id = job_id
        self.key = key
        self.session = session
        self.request = request
        self.wait = wait
        self.deadline = 0.0
        self.watch: _Watch | None = None
        self.queued = False  # whole, waiting in the backlog for its turn


class _Watch:
    """A socket registered with the loop, kept between replies (cheaper than per reply).

    ``sock`` is kept so its number is not mistaken for another socket's
    after a close: a different object under the same number means the old
    registration is stale.  Only the loop's thread registers or releases.
    """

    __slots__ = ("fd", "sock", "session", "entry", "abandon")

    def __init__(self, fd: int, sock: Any, session: str, release: Callable[[_Watch], None]) -> None:
        self.fd = fd
        self.sock = sock
        self.session = session
        self.entry: _Waiting | None = None
        self.abandon = lambda: release(self)  # made once per socket, not once per reply


def _noop() -> None:
    return None


def _ignore(_value: Any) -> None:
    return None


def _raise(exc: Exception) -> Any:
    raise exc


class PoolRunner:
    """Daemon worker threads for blocking calls; outcomes go back to ``loop``.

    Threads start on demand up to ``workers`` and then live on, each
    blocked on one queue of ``(id, session, request)`` jobs (no per-call
    future or executor).  Each module's calls form a *lane* (:func:`lane_of`)
    with at most ``lane_workers`` of them on the queue or running; the rest
    wait in the lane, in order, and go to the queue as the lane's calls end.
    A call's time (histogram, slow-call log) counts from its submission,
    waiting in the lane included: that is how long its call waited.
    Finished calls go on a completion deque; only the worker that finds it
    unwatched wakes the loop (one self-pipe write per batch), and the loop
    resumes at most ``batch`` sessions per iteration before yielding, so a
    burst of completions (a paused database resumed) cannot hold media and
    SIP for long.  ``log`` receives ``(event, level, fields)`` for slow calls.

    An action with a loop form (:func:`loop_form`) runs on the loop and its
    session waits for the reply with no thread, holding a slot of its lane
    (``loop_waits=False``: on the pool like any other, as before loop forms);
    it counts in :attr:`in_flight`, the histogram and the slow-call log alike.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        workers: int = DEFAULT_WORKERS,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        batch: int = DEFAULT_BATCH,
        lane_workers: int = DEFAULT_LANE_WORKERS,
        log: Callable[..., None] | None = None,
        loop_waits: bool = True,
    ) -> None:
        self.loop = loop
        self.loop_waits = loop_waits
        self.workers = max(1, workers)
        self.lane_workers = max(1, lane_workers)
        self._lanes: dict[str, _Lane] = {}  # touched on the loop's thread only
        self.slow_seconds = slow_seconds
        self.batch = max(1, batch)
        self.log = log
        self.running: dict[int, Running] = {}
        self.histograms: dict[str, _Histogram] = {}
        self.completed = 0
        self._ids = itertools.count(1)
        self._jobs: queue.SimpleQueue[tuple[int, str, Session, Request]] = queue.SimpleQueue()
        self._finished: collections.deque[tuple[int, str, Session, Outcome]] = collections.deque()
        self._woken = False  # a flush is scheduled on the loop: workers need not wake it
        self._threads: list[threading.Thread] = []
        self._outstanding = 0  # submitted and not finished: a thread starts when all are busy
        self._lock = threading.Lock()
        self._watch: asyncio.TimerHandle | None = None
        self.waiting_on_loop = 0
        """Actions waiting for a reply on the loop (no thread; part of :attr:`in_flight`)."""
        self._watches: dict[int, _Watch] = {}
        self._by_session: dict[str, list[_Watch]] = {}
        self._waits: dict[int, _Waiting] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._turn_done = 0  # loop waits finished in this loop iteration (bounded by ``batch``)
        self._backlog: collections.deque[_Waiting] = collections.deque()

    @property
    def in_flight(self) -> int:
        return len(self.running)

    @property
    def queued(self) -> int:
        """Calls waiting in their lane for a free slot (part of :attr:`in_flight`)."""
        return sum(len(lane.waiting) for lane in self._lanes.values())

    def submit(self, session: Session, request: Request) -> None:
        job_id = next(self._ids)
        self.running[job_id] = Running(session.id, request.src, time.monotonic())
        if self._watch is None:
            self._watch = self.loop.call_later(self.slow_seconds, self._check_slow)
        key = lane_of(request)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        if lane.running >= self.lane_workers:
            lane.waiting.append((job_id, session, request))
        else:
            lane.running += 1
            self._start(job_id, key, session, request)

    def _start(self, job_id: int, key: str, session: Session, request: Request) -> None:
        """Run a call that holds a lane slot: on the loop (a loop form) or on a worker."""
        form = getattr(getattr(request, "fn", None), "on_loop", None) if self.loop_waits else None
        if form is not None and self._on_loop(job_id, key, session, request, form):
            return
        if self._by_session:
            self._release_session(session)
        self._dispatch(job_id, key, session, request)

    def _free(self, key: str) -> None:
        """A call of lane ``key`` ended: its slot goes to the lane's next waiting call."""
        lane = self._lanes[key]
        if lane.waiting:
            self._start(*_first(lane.waiting, key))
        else:
            lane.running -= 1

    # -- waiting on the loop (loop forms) ------------------------------------------
    def _on_loop(
        self, job_id: int, key: str, session: Session, request: Request, form: Any
    ) -> bool:
        """Run a loop form; ``False`` when the action should go to the pool instead."""
        try:
            wait = form(session, *request.args)  # type: ignore[union-attr]
        except Exception as exc:
            self._done(job_id, session, (False, exc), key=key)
            return True
        if wait is ON_POOL:
            return False
        if wait is None:
            self._done(job_id, session, (True, None), key=key)
            return True
        assert isinstance(wait, WaitReply)
        loop = self.loop
        entry = _Waiting(job_id, key, session, request, wait)
        entry.deadline = loop.time() + wait.timeout
        self._waits[job_id] = entry
        if self._sweeper is None:
            self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)
        sock = wait.sock
        fd = sock.fileno()
        watch = self._watches.get(fd)
        if watch is None or watch.sock is not sock:
            if watch is not None:  # a socket closed elsewhere left its number registered
                self._release(watch)
            watch = self._watches[fd] = _Watch(fd, sock, session.id, self._release)
            self._by_session.setdefault(session.id, []).append(watch)
            loop.add_reader(fd, self._readable, watch)
        watch.entry = entry
        entry.watch = watch
        wait.abandon = watch.abandon
        self.waiting_on_loop += 1
        return True

    def _stop(self, entry: _Waiting) -> None:
        """``entry`` no longer waits (its socket may stay registered for the next reply)."""
        watch = entry.watch
        if watch is not None and watch.entry is entry:
            watch.entry = None
        entry.watch = None
        self.waiting_on_loop -= 1
        self._waits.pop(entry.job_id, None)

    def _release(self, watch: _Watch) -> None:
        """Unregister ``watch``'s socket (before it is closed, or found closed or idle-readable).

        A reply still awaited on it is abandoned: its owner is closing the
        connection (its session ended), so nobody waits for the outcome.
        """
        if self._watches.get(watch.fd) is watch:
            del self._watches[watch.fd]
            self.loop.remove_reader(watch.fd)
        group = self._by_session.get(watch.session)
        if group is not None:
            with contextlib.suppress(ValueError):
                group.remove(watch)
            if not group:
                del self._by_session[watch.session]
        entry = watch.entry
        if entry is not None:
            self._stop(entry)
            self.running.pop(entry.job_id, None)
            self._free(entry.key)

    def _release_session(self, session: Session) -> None:
        """A pool call of ``session`` may close or reopen its connections: unregister them first."""
        group = self._by_session.get(session.id)
        if group:
            for watch in list(group):
                self._release(watch)

    def _readable(self, watch: _Watch) -> None:
        entry = watch.entry
        if entry is None:  # readable while no reply is awaited: closed by the peer
            self._release(watch)
            return
        wait = entry.wait
        try:
            data = os.read(watch.fd, LOOP_READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # a reset connection: the client library reports it as it would
        try:
            whole = wait.feed(data)
        except Exception as exc:
            failed = exc
            self._finish(entry, lambda: _raise(failed))
            return
        if whole is False:
            return
        if whole is None:  # finish on a worker thread (a reply too large to hold here)
            self._stop(entry)
            self._release(watch)
            off = Offload(wait.complete, _ignore)
            off.src = entry.request.src
            self._dispatch(entry.job_id, entry.key, entry.session, off)  # keeps its lane slot
            return
        if entry.queued:
            return
        if self._turn_done >= self.batch:  # a burst (a paused server resumed): yield first
            entry.queued = True
            self._backlog.append(entry)
            if len(self._backlog) == 1:
                self.loop.call_soon(self._drain_backlog)
            return
        if self.waiting_on_loop > 1:  # others may finish in this loop iteration too: count them
            if not self._turn_done:
                self.loop.call_soon(self._new_turn)
            self._turn_done += 1
        self._finish(entry, wait.complete)

    def _new_turn(self) -> None:
        self._turn_done = 0

    def _drain_backlog(self) -> None:
        """Finish up to ``batch`` whole replies per loop iteration, so timers and I/O run between."""
        backlog = self._backlog
        for _ in range(self.batch):
            if not backlog:
                return
            entry = backlog.popleft()
            entry.queued = False
            self._finish(entry, entry.wait.complete)
        if backlog:
            self.loop.call_soon(self._drain_backlog)

    def _sweep(self) -> None:
        """Expire the loop waits past their deadline (one timer for all, not one per query)."""
        self._sweeper = None
        now = self.loop.time()
        for entry in [e for e in self._waits.values() if e.deadline <= now]:
            self._expire(entry)
        if self._waits:
            self._sweeper = self.loop.call_later(SWEEP_SECONDS, self._sweep)

    def _expire(self, entry: _Waiting) -> None:
        watch = entry.watch
        if watch is None:
            return
        self._stop(entry)
        self._release(watch)  # expire() closes the connection
        self._end(entry, entry.wait.expire, None)

    def _finish(self, entry: _Waiting, end: Callable[[], Any]) -> None:
        watch = entry.watch
        if watch is None:
            return
        self._stop(entry)
        self._end(entry, end, watch)

    def _end(self, entry: _Waiting, end: Callable[[], Any], watch: _Watch | None) -> None:
        """Finish the action on the loop, then resume its session at once.

        A connection the end closed (a lost connection) is unregistered
        before anything else runs, so its number cannot be reused meanwhile.
        """
        try:
            outcome: Outcome = (True, end())
        except Exception as exc:
            outcome = (False, exc)
        if watch is not None and watch.sock.fileno() != watch.fd:
            self._release(watch)
        self._done(entry.job_id, entry.session, outcome, at_once=True, key=entry.key)

    def _done(
        self, job_id: int, session: Session, outcome: Outcome, at_once: bool = False, key: str = ""
    ) -> None:
        """An action finished on the loop: its lane slot freed, metrics as for a pool call, resume."""
        self._free(key)
        entry = self.running.pop(job_id, None)
        if entry is not None:
            hist = self.histograms.get(entry.action)
            if hist is None:
                hist = self.histograms[entry.action] = _Histogram()
            hist.observe(time.monotonic() - entry.started)
            self.completed += 1
        session.resume(outcome, at_once)

    def _dispatch(self, job_id: int, key: str, session: Session, request: Request) -> None:
        """Put a call on the workers' queue, starting a thread when every one is busy."""
        with self._lock:
            self._outstanding += 1
            if self._outstanding > len(self._threads) and len(self._threads) < self.workers:
                t = threading.Thread(
                    target=self._work, name=f"dsm-blocking-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(t)
                t.start()
        self._jobs.put((job_id, key, session, request))

    def _work(self) -> None:
        loop = self.loop
        _local.loop = loop
        jobs = self._jobs
        finished = self._finished
        while True:
            job_id, key, session, request = jobs.get()
            outcome = _run(session, request)
            with self._lock:
                self._outstanding -= 1
            finished.append((job_id, key, session, outcome))
            if not self._woken:
                self._woken = True
                with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
                    loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        """Resume up to ``batch`` finished sessions; the rest on the next loop iteration.

        Each finished call frees its lane's slot for the lane's next waiting call.
        """
        self._woken = False
        finished = self._finished
        running = self.running
        histograms = self.histograms
        now = time.monotonic()
        for _ in range(self.batch):
            if not finished:
                return
            job_id, key, session, outcome = finished.popleft()
            self._free(key)
            entry = running.pop(job_id, None)
            if entry is not None:
                hist = histograms.get(entry.action)
                if hist is None:
                    hist = histograms[entry.action] = _Histogram()
                hist.observe(now - entry.started)
                self.completed += 1
            session.resume(outcome)
        if finished and not self._woken:
            self._woken = True
            self.loop.call_soon(self._flush)  # yield to I/O and timers between batches

    def _check_slow(self) -> None:
        """Log, once each, calls running longer than ``slow_seconds`` (name, file:line, call)."""
        self._watch = None
        if not self.running:
            return
        now = time.monotonic()
        for entry in self.running.values():
            if not entry.warned and now - entry.started >= self.slow_seconds:
                entry.warned = True
                if self.log is not None:
                    self.log(
                        "slow_action",
                        "warn",
                        action=entry.action,
                        loc=entry.loc,
                        call=entry.session,
                        seconds=round(now - entry.started, 3),
                    )
        self._watch = self.loop.call_later(min(self.slow_seconds, 0.25), self._check_slow)

    def close(self) -> None:
        for watch in list(self._watches.values()):
            self._release(watch)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
