"""What the engine's tracer reports, kept for operators: recent transitions, counters, traces.

The engine has one ``tracer`` slot (``tracer(session, kind, detail)``).  An
:class:`Observer` takes it (chaining any tracer installed before it) and

* keeps the last few trace lines of every live session, for ``callInfo``;
* remembers when each session was first seen, for the age in ``listCalls``
  (sessions carry no creation time of their own);
* counts events, transitions and exceptions for ``/metrics``;
* hands every line to the opt-in :class:`~dsm.runtime.control.trace.TraceRecorder`.

Per-session data lives in a weak dictionary, so ended sessions cost nothing
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


def _nobody() -> None:
    """The dead weak reference the one-entry cache starts with."""
    return None


class _Seen:
    """What is kept of one live session: when it was first seen and its last trace lines.

    One record per session, so a trace line costs one weak-dictionary
    look-up (the tracer runs for every event, transition and state).
    """

    __slots__ = ("born", "lines")

    def __init__(self, born: float, lines: deque[tuple[float, str, str]]) -> None:
        self.born = born
        self.lines = lines


class Observer:
    """Installs itself as ``engine.tracer``; see the module docstring."""

    def __init__(self, engine: Engine, recorder: TraceRecorder | None = None, recent: int = RECENT) -> None:
        self.engine = engine
        self.recorder = recorder or TraceRecorder(engine.clock)
        self.recent_size = recent
        self._seen: weakref.WeakKeyDictionary[Session, _Seen] = weakref.WeakKeyDictionary()
        self.events = 0
        self.transitions = 0
        self.exceptions = 0
        self.calls_started = 0
        self._seen_ids: set[str] = set()
        self._window: deque[tuple[int, int]] = deque()
        self._chained: _Tracer | None = engine.tracer
        self._now = engine.clock.now
        self._last_session: Callable[[], Session | None] = _nobody
        self._last_seen = _Seen(0.0, deque())
        engine.tracer = self

    # -- the tracer -----------------------------------------------------------------
    def __call__(self, session: Session, kind: str, detail: str) -> None:
        now = self._now()
        if self._last_session() is session:  # most lines follow one of the same session
            seen = self._last_seen
        else:
            found = self._seen.get(session)
            seen = found if found is not None else self._first(session, now)
            self._last_session = weakref.ref(session)
            self._last_seen = seen
        seen.lines.append((now, kind, detail))
        if kind == "event":
            self.events += 1
            sec = int(now)
            window = self._window
            if window and window[-1][0] == sec:  # this second's count, in place
                window[-1] = (sec, window[-1][1] + 1)
            else:
                self._new_second(sec)
        elif kind == "transition":
            self.transitions += 1
        elif kind == "exception":
            self.exceptions += 1
        rec = self.recorder
        if rec.mode != "off":
            rec.record(session, kind, detail)
        if self._chained is not None:
            self._chained(session, kind, detail)

    def seen(self, session: Session, when: float | None = None) -> None:
        """Note a session's birth (called by whoever creates it, or on its first trace line)."""
        if session not in self._seen:
            self._first(session, self.engine.clock.now() if when is None else when)

    def _first(self, session: Session, when: float) -> _Seen:
        seen = self._seen[session] = _Seen(when, deque(maxlen=self.recent_size))
        if session.kind == "call":
            self.calls_started += 1
        return seen

    def age(self, session: Session) -> float:
        seen = self._seen.get(session)
        if seen is None:
            self.seen(session)
            return 0.0
        return max(0.0, self.engine.clock.now() - seen.born)

    def recent_lines(self, session: Session) -> list[tuple[float, str, str]]:
        seen = self._seen.get(session)
        return list(seen.lines) if seen is not None else []

    # -- events per second ----------------------------------------------------------------
    def _new_second(self, sec: int) -> None:
        """The first event of second ``sec``: counted, and the seconds before the last ten dropped."""
        w = self._window
        w.append((sec, 1))
        while w[0][0] <= sec - 10:  # stops at the entry just appended
            w.popleft()

    def events_per_second(self) -> float:
        """Mean event rate over the last ten seconds of engine time."""
        now = int(self.engine.clock.now())
        total = sum(n for sec, n in self._window if sec > now - 10)
        return total / 10.0
