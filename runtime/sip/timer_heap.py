"""Deadlines of many owners in one binary heap, with lazy deletion.

A SIP core holds thousands of transactions and dialogs, each with a few
timers that are started, stopped and restarted by every message.  Asking
every one of them for its next deadline after every datagram costs O(n) per
datagram; this heap costs O(log n) per started timer instead.

Nothing is ever removed from the middle of the heap.  An entry is only a
hint "look at this owner at this time": when it reaches the top, the owner
is asked for its real next deadline (``deadline_of``), and the entry is
dropped when the owner is gone (``None``) or its earliest deadline has moved
past the entry's time (the timer was stopped or restarted later, and the new
time has an entry of its own).  The owner's part of the contract is that
every deadline it holds has an entry at or before its time.

:class:`NotifyingDict` is the other half: a ``dict`` that reports each value
put into it, so that a table of transactions can register new entries with
the heap in one place, whoever inserts them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TimerHeap", "NotifyingDict"]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class TimerHeap(Generic[T]):
    """A min-heap of ``(time, owner)`` hints; see the module docstring."""

    __slots__ = ("_entries", "_order", "deadline_of")

    def __init__(self, deadline_of: Callable[[T], float | None]) -> None:
        self._entries: list[tuple[float, int, T]] = []
        self._order = itertools.count()
        self.deadline_of = deadline_of
        """The owner's current earliest deadline, or ``None`` when it is gone or idle."""

    def __len__(self) -> int:
        """Entries held, stale ones included (they go when they reach the top)."""
        return len(self._entries)

    def push(self, at: float, owner: T) -> None:
        """Look at ``owner`` at ``at`` (ties keep the order of the pushes)."""
        heapq.heappush(self._entries, (at, next(self._order), owner))

    def _live(self, at: float, owner: T) -> bool:
        deadline = self.deadline_of(owner)
        return deadline is not None and deadline <= at

    def earliest(self) -> float | None:
        """The time of the first live entry; stale entries on top are dropped on the way."""
        entries = self._entries
        while entries:
            at, _, owner = entries[0]
            if self._live(at, owner):
                return at
            heapq.heappop(entries)
        return None

    def pop_due(self, now: float) -> list[T]:
        """Remove every entry up to ``now``; the owners with work due, each once, in time order.

        Owners are told apart by identity, so they must be long-lived objects
        (a table entry), not tuples built for each push.
        """
        entries = self._entries
        due: dict[int, T] = {}
        while entries and entries[0][0] <= now:
            at, _, owner = heapq.heappop(entries)
            if id(owner) not in due and self._live(now, owner):
                due[id(owner)] = owner
        return list(due.values())


class NotifyingDict(dict[K, V]):
    """A ``dict`` that calls ``added(key, value)`` after every ``d[key] = value``.

    Only item assignment reports (``update`` and ``setdefault`` do not): the
    tables that use it are filled by assignment alone.
    """

    __slots__ = ("_added",)

    def __init__(self, added: Callable[[K, V], None]) -> None:
        super().__init__()
        self._added = added

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self._added(key, value)
