"""Time for the engine: a small clock protocol with a virtual and an asyncio implementation.

The engine never reads the wall clock (docs/architecture.md): timers
(``engine.md`` section 13) are scheduled on a :class:`Clock`.  Tests and the
harness use :class:`VirtualClock`, which only moves when told to and runs due
callbacks in a fixed order, so every run of a scenario is identical.  The
server uses :class:`AsyncioClock`, a thin shell over the event loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "TimerHandle", "VirtualClock", "AsyncioClock"]


@runtime_checkable
class TimerHandle(Protocol):
    """What :meth:`Clock.call_at` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds plus one-shot callbacks at absolute times."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class _VirtualHandle:
    __slots__ = ("when", "seq", "callback", "cancelled", "clock")

    def __init__(
        self, when: int, seq: int, callback: Callable[[], None], clock: VirtualClock
    ) -> None:
        self.when = when
        self.seq = seq
        self.callback: Callable[[], None] | None = callback
        self.cancelled = False
        self.clock: VirtualClock | None = clock

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.callback = None  # drop the closure at once
            clock = self.clock
            self.clock = None
            if clock is not None:
                clock._note_cancel()


class VirtualClock:
    """A clock that moves only through :meth:`advance`.

    Time is kept in whole milliseconds internally so that repeated advances
    never accumulate floating-point drift ("exact to the millisecond").
    Callbacks due at the same millisecond run in the order they were
    scheduled; a callback may schedule further callbacks, which run in the
    same :meth:`advance` if they fall due before its end.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now_ms = round(start * 1000)
        self._heap: list[tuple[int, int, _VirtualHandle]] = []
        self._seq = itertools.count()
        self._cancelled = 0

    def now(self) -> float:
        return self._now_ms / 1000.0

    def call_at(self, when: float, callback: Callable[[], None]) -> _VirtualHandle:
        when_ms = round(when * 1000)
        if when_ms < self._now_ms:
            when_ms = self._now_ms
        seq = next(self._seq)
        handle = _VirtualHandle(when_ms, seq, callback, self)
        heapq.heappush(self._heap, (when_ms, seq, handle))
        return handle

    def _note_cancel(self) -> None:
        """Cancelled handles stay in the heap until popped; purge them when they dominate."""
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [e for e in self._heap if not e[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> _VirtualHandle:
        return self.call_at(self.now() + delay, callback)

    def pending(self) -> int:
        """Number of scheduled, not cancelled callbacks."""
        return sum(1 for e in self._heap if not e[2].cancelled)

    def next_due(self) -> float | None:
        """Time of the earliest pending callback, or ``None``."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
            if self._cancelled:
                self._cancelled -= 1
        return self._heap[0][0] / 1000.0 if self._heap else None

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds`` running due callbacks in time order.

        Returns the number of callbacks run.  Negative amounts are refused.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        end_ms = self._now_ms + round(seconds * 1000)
        ran = 0
        heap = self._heap
        while heap and heap[0][0] <= end_ms:
            handle = heapq.heappop(heap)[2]
            callback = handle.callback
            if handle.cancelled or callback is None:
                if self._cancelled:
                    self._cancelled -= 1
                continue
            self._now_ms = max(self._now_ms, handle.when)
            handle.cancelled = True
            handle.callback = None
            handle.clock = None
            callback()
            ran += 1
            heap = self._heap  # a purge may have replaced the list
        self._now_ms = end_ms
        return ran

    def run_due(self) -> int:
        """Run callbacks due at the current time (e.g. zero-second timers)."""
        return self.advance(0)


class AsyncioClock:
    """The event loop's monotonic time; callbacks through ``loop.call_at``."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        loop = self._loop  # the property's call saved: the engine and tracer ask often
        return (loop if loop is not None else self.loop).time()

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop
        return (loop if loop is not None else self.loop).call_at(when, callback)
