"""The opt-in per-call trace: events, transitions, states and exceptions as JSON lines.

Tracing is off until an operator asks for it (``traceSet`` over the control
endpoint, ``dsm trace``), and then covers one of: every session, a set of
calls (by session id), or a set of diagrams (the diagram the session is in
when the line is written).  Each line is one JSON object::

    {"seq": 17, "t": 12.345, "call": "call-3", "version": "9f2c1ab04d7e",
     "diagram": "pin", "kind": "transition", "detail": "PIN ok"}

``t`` is engine time (the clock's seconds), ``seq`` a running number that
clients use to poll for new lines (:meth:`TraceRecorder.read`).  Lines are
kept in a bounded ring buffer and, if a file is given, appended to it.
Details go through :func:`~dsm.runtime.redact.redact_text` with the
session's secret values, like every operator view.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from dsm.runtime.redact import redact_text, secret_values

if TYPE_CHECKING:
    from dsm.runtime.clock import Clock
    from dsm.runtime.session import Session

__all__ = ["TraceRecorder", "format_line"]


class TraceRecorder:
    """Selection, ring buffer and optional file of trace lines."""

    def __init__(self, clock: Clock, capacity: int = 10_000) -> None:
        self.clock = clock
        self.lines: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.mode = "off"
        self.calls: set[str] = set()
        self.diagrams: set[str] = set()
        self._seq = itertools.count(1)
        self.last_seq = 0
        self.file: TextIO | None = None

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def configure(
        self,
        mode: str,
        calls: list[str] | None = None,
        diagrams: list[str] | None = None,
    ) -> dict[str, Any]:
        """Select what is traced: ``off``, ``all``, ``calls`` (ids) or ``diagrams`` (names)."""
        if mode not in ("off", "all", "calls", "diagrams"):
            raise ValueError(f"trace mode must be off, all, calls or diagrams, not {mode!r}")
        self.mode = mode
        self.calls = set(calls or ())
        self.diagrams = set(diagrams or ())
        return self.status()

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "calls": sorted(self.calls),
            "diagrams": sorted(self.diagrams),
            "last_seq": self.last_seq,
        }

    def open_file(self, path: str) -> None:
        self.close()
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while tracing

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def wants(self, session: Session) -> bool:
        mode = self.mode
        if mode == "all":
            return True
        if mode == "calls":
            return session.id in self.calls
        if mode == "diagrams":
            d = session.diagram
            return d is not None and d.name in self.diagrams
        return False

    def record(self, session: Session, kind: str, detail: str) -> None:
        if not self.wants(session):
            return
        seq = next(self._seq)
        self.last_seq = seq
        line = {
            "seq": seq,
            "t": round(self.clock.now(), 6),
            "call": session.id,
            "version": session.chartset.digest[:12],
            "diagram": session.diagram.name if session.diagram is not None else "",
            "kind": kind,
            "detail": redact_text(detail, secret_values(session.vars, session.params)),
        }
        self.lines.append(line)
        if self.file is not None:
            self.file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.file.flush()

    def read(self, since: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Lines with ``seq > since``, oldest first, at most ``limit``."""
        out = [line for line in self.lines if line["seq"] > since]
        return out[:limit]


def format_line(line: dict[str, Any]) -> str:
    """One trace line for people: ``t call version diagram kind detail``."""
    return (
        f"{line.get('t', 0):>10.3f} {line.get('call', '-'):<14} {line.get('version', '-'):<12} "
        f"{line.get('diagram', '-'):<12} {line.get('kind', '-'):<10} {line.get('detail', '')}"
    )
