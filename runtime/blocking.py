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
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dsm.runtime.resumable import Outcome, Request, call

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
    "DEFAULT_WORKERS",
    "DEFAULT_SLOW_SECONDS",
    "DEFAULT_BATCH",
    "HISTOGRAM_BUCKETS",
]

DEFAULT_WORKERS = 64
DEFAULT_SLOW_SECONDS = 1.0
DEFAULT_BATCH = 16
"""Sessions a :class:`PoolRunner` resumes per loop iteration before yielding to I/O and timers."""
HISTOGRAM_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Upper bounds (seconds) of the per-action histogram in ``/metrics``."""


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


@dataclass
class Running:
    """One blocking call on the pool."""

    session: str
    action: str
    loc: str
    started: float
    warned: bool = False


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


class PoolRunner:
    """Daemon worker threads for blocking calls; outcomes go back to ``loop``.

    Threads start on demand up to ``workers`` and then live on, each
    blocked on one queue of ``(id, session, request)`` jobs (no per-call
    future or executor).  Finished calls go on a completion deque; only the
    worker that finds it unwatched wakes the loop (one self-pipe write per
    batch), and the loop resumes at most ``batch`` sessions per iteration
    before yielding, so a burst of completions (a paused database resumed)
    cannot hold media and SIP for long.  ``log`` receives
    ``(event, level, fields)`` for slow calls.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        workers: int = DEFAULT_WORKERS,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        batch: int = DEFAULT_BATCH,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.loop = loop
        self.workers = max(1, workers)
        self.slow_seconds = slow_seconds
        self.batch = max(1, batch)
        self.log = log
        self.running: dict[int, Running] = {}
        self.histograms: dict[str, _Histogram] = {}
        self.completed = 0
        self._ids = itertools.count(1)
        self._jobs: queue.SimpleQueue[tuple[int, Session, Request]] = queue.SimpleQueue()
        self._finished: collections.deque[tuple[int, Session, Outcome]] = collections.deque()
        self._woken = False  # a flush is scheduled on the loop: workers need not wake it
        self._threads: list[threading.Thread] = []
        self._outstanding = 0  # submitted and not finished: a thread starts when all are busy
        self._lock = threading.Lock()
        self._watch: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        return len(self.running)

    def submit(self, session: Session, request: Request) -> None:
        job_id = next(self._ids)
        src = request.src
        self.running[job_id] = Running(session.id, src.name, str(src.loc), time.monotonic())
        with self._lock:
            self._outstanding += 1
            if self._outstanding > len(self._threads) and len(self._threads) < self.workers:
                t = threading.Thread(
                    target=self._work, name=f"dsm-blocking-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(t)
                t.start()
        self._jobs.put((job_id, session, request))
        if self._watch is None:
            self._watch = self.loop.call_later(self.slow_seconds, self._check_slow)

    def _work(self) -> None:
        loop = self.loop
        _local.loop = loop
        jobs = self._jobs
        finished = self._finished
        while True:
            job_id, session, request = jobs.get()
            outcome = _run(session, request)
            with self._lock:
                self._outstanding -= 1
            finished.append((job_id, session, outcome))
            if not self._woken:
                self._woken = True
                with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
                    loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        """Resume up to ``batch`` finished sessions; the rest on the next loop iteration."""
        self._woken = False
        finished = self._finished
        running = self.running
        histograms = self.histograms
        now = time.monotonic()
        for _ in range(self.batch):
            if not finished:
                return
            job_id, session, outcome = finished.popleft()
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
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
