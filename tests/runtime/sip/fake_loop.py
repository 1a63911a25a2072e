"""A deterministic stand-in for the asyncio loop: injected time, timers run on demand.

Only what the RTP session and the media clock use: ``time``, ``call_at``
(handles with ``cancel``) and ``add_reader``/``remove_reader`` (recorded,
never polled).  :meth:`FakeLoop.advance` moves time and runs the timers that
became due, in time order; a timer callback sees ``time()`` equal to its own
deadline unless the test made the loop late on purpose (``late_by``).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, FakeHandle]] = []
        self._order = itertools.count()
        self.readers: dict[int, Callable[[], object]] = {}
        self.late_by = 0.0
        """Extra delay with which every due timer runs (a busy loop)."""

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> FakeHandle:
        handle = FakeHandle(when, lambda: callback(*args))
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None:
        self.readers[fd] = callback

    def remove_reader(self, fd: int) -> bool:
        return self.readers.pop(fd, None) is not None

    @property
    def pending(self) -> list[FakeHandle]:
        """Timers armed and not cancelled."""
        return [h for _, _, h in self._timers if not h.cancelled]

    def advance(self, until: float) -> int:
        """Run every timer due up to ``until``; returns how many ran."""
        ran = 0
        while self._timers and self._timers[0][0] <= until:
            when, _, handle = heapq.heappop(self._timers)
            if handle.cancelled:
                continue
            self.now = max(self.now, when + self.late_by)
            handle.callback()
            ran += 1
        self.now = max(self.now, until)
        return ran
