"""What the engine's tracer reports, kept for operators: recent transitions, counters, traces.

The engine has one ``tracer`` slot (``tracer(session, kind, detail)``).  An
:class:`Observer` takes it (chaining any tracer installed before it) and

* keeps the last few trace lines of every live session, for ``callInfo``;
* remembers when each session was first seen, for the age in ``listCalls``
  (sessions carry no creation time of their own);
* counts events, transitions and exceptions for ``/metrics``;
* hands every line to the opt-in :class:`~dsm.runtime.control.trace.TraceRecorder`.

Per-session data lives in weak dictionaries, so ended sessions cost nothing
once the engine has dropped them.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from dsm.runtime.control.trace import TraceRecorder

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = ["Observer", "RECENT"]

RECENT = 50
"""Trace lines kept per live session for ``callInfo``."""

_Tracer = Callable[["Session", str, str], None]


class Observer:
    """Installs itself as ``engine.tracer``; see the module docstring."""

    def __init__(self, engine: Engine, recorder: TraceRecorder | None = None, recent: int = RECENT) -> None:
        self.engine = engine
        self.recorder = recorder or TraceRecorder(engine.clock)
        self.recent_size = recent
        self.recent: weakref.WeakKeyDictionary[Session, deque[tuple[float, str, str]]] = (
            weakref.WeakKeyDictionary()
        )
        self.born: weakref.WeakKeyDictionary[Session, float] = weakref.WeakKeyDictionary()
        self.events = 0
        self.transitions = 0
        self.exceptions = 0
        self.calls_started = 0
        self._seen_ids: set[str] = set()
        self._window: deque[tuple[int, int]] = deque()
        self._chained: _Tracer | None = engine.tracer
        engine.tracer = self

    # -- the tracer -----------------------------------------------------------------
    def __call__(self, session: Session, kind: str, detail: str) -> None:
        now = self.engine.clock.now()
        if session not in self.born:
            self.seen(session, now)
        lines = self.recent.get(session)
        if lines is None:
            lines = self.recent[session] = deque(maxlen=self.recent_size)
        lines.append((now, kind, detail))
        if kind == "event":
            self.events += 1
            self._tick(now)
        elif kind == "transition":
            self.transitions += 1
        elif kind == "exception":
            self.exceptions += 1
        rec = self.recorder
        if rec.active:
            rec.record(session, kind, detail)
        if self._chained is not None:
            self._chained(session, kind, detail)

    def seen(self, session: Session, when: float | None = None) -> None:
        """Note a session's birth (called by whoever creates it, or on its first trace line)."""
        if session not in self.born:
            self.born[session] = self.engine.clock.now() if when is None else when
            if session.kind == "call":
                self.calls_started += 1

    def age(self, session: Session) -> float:
        born = self.born.get(session)
        if born is None:
            self.seen(session)
            return 0.0
        return max(0.0, self.engine.clock.now() - born)

    def recent_lines(self, session: Session) -> list[tuple[float, str, str]]:
        return list(self.recent.get(session, ()))

    # -- events per second ----------------------------------------------------------------
    def _tick(self, now: float) -> None:
        sec = int(now)
        w = self._window
        if w and w[-1][0] == sec:
            w[-1] = (sec, w[-1][1] + 1)
        else:
            w.append((sec, 1))
        while w and w[0][0] <= sec - 10:
            w.popleft()

    def events_per_second(self) -> float:
        """Mean event rate over the last ten seconds of engine time."""
        now = int(self.engine.clock.now())
        total = sum(n for sec, n in self._window if sec > now - 10)
        return total / 10.0
