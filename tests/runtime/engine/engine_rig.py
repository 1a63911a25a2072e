"""A small test rig: an engine on a virtual clock, charts from ``.dsm`` text, captured logs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine_fake_call import FakeCall

import dsm
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.engine import ChartSet
from dsm.runtime.session import Session

HERE = str(Path(__file__).parent)


class Rig:
    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self.clock = VirtualClock()
        self.engine = build_engine(self.clock, mod_path=[HERE], max_rounds=50)
        self.logs: list[tuple[str, int, str]] = []
        self.trace: list[tuple[str, str, str]] = []
        self.engine.log_sink = lambda s, lvl, msg: self.logs.append(
            (s.id if s is not None else "-", lvl, msg)
        )
        self.engine.tracer = lambda s, kind, detail: self.trace.append((s.id, kind, detail))
        self._tags = 0

    # charts ---------------------------------------------------------------
    def load(self, config: str = "main", **diagrams: str) -> ChartSet:
        charts = {
            name: dsm.compile_source(textwrap.dedent(text), name=name, module_path=[HERE])
            for name, text in diagrams.items()
        }
        return self.engine.load(charts, config)

    # sessions -------------------------------------------------------------
    def call(self, app: str, call: FakeCall | None = None, **kw: Any) -> Session:
        if call is None:
            self._tags += 1
            call = FakeCall(f"tag{self._tags}", {"user": "alice", "domain": "example.com"})
        s = self.engine.start_call(app, call, **kw)
        self.engine.run_pending(limit=self.limit)
        return s

    def run(self, name: str, text: str, **kw: Any) -> Session:
        """Load one diagram and start a call session on it."""
        self.load(**{name: text})
        return self.call(name, **kw)

    def send(self, s: Session, event_type: str, params: dict[str, str] | None = None) -> dict[str, str] | None:
        s.deliver(event_type, params)
        self.engine.run_pending(limit=self.limit)
        return params

    def key(self, s: Session, *keys: str) -> None:
        for k in keys:
            self.send(s, "Key", {"key": k, "duration": "100"})

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.engine.run_pending(limit=self.limit)

    # observations ------------------------------------------------------------
    def errors(self) -> list[str]:
        return [m for _, lvl, m in self.logs if lvl == 0]

    def states(self, s: Session) -> list[str]:
        return [d for sid, kind, d in self.trace if sid == s.id and kind == "state"]

    @staticmethod
    def where(s: Session) -> str:
        return "-" if s.state is None else f"{s.state.diagram.name}/{s.state.name}"
