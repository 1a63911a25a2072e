"""Chart coverage: which states a test suite entered and which transitions it took.

Every :class:`~dsm.runtime.harness.Harness` feeds the process-wide
:data:`COVERAGE` collector while the pytest option ``--dsm-cov`` is on.  The
report lists, per chart, states entered and transitions taken out of all of
them, and every transition never taken with its ``file:line`` so the author
knows which test to write next.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from dsm.chart import Chart, Transition

__all__ = ["Collector", "ChartCoverage", "COVERAGE", "transition_key"]


def transition_key(t: Transition) -> str:
    """A transition's identity within its chart: source state and position."""
    return f"{t.source}@{t.loc.line}:{t.loc.column}"


def _shown(path: str) -> str:
    """A path relative to the working directory when it lies below it."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


@dataclass
class ChartCoverage:
    chart: Chart
    states: set[str] = field(default_factory=set)
    transitions: set[str] = field(default_factory=set)

    def all_states(self) -> list[str]:
        seen: list[str] = []
        for st in self.chart.states:
            if st.name not in seen:
                seen.append(st.name)
        return seen

    def all_transitions(self) -> list[Transition]:
        first: dict[str, object] = {}
        out: list[Transition] = []
        for st in self.chart.states:
            if st.name in first:
                continue  # duplicate definitions are unreachable (L-43)
            first[st.name] = st
            out.extend(st.transitions)
        return out

    def summary(self) -> dict[str, object]:
        states = self.all_states()
        trans = self.all_transitions()
        missed = [t for t in trans if transition_key(t) not in self.transitions]
        total = len(states) + len(trans)
        hit = len([s for s in states if s in self.states]) + len(trans) - len(missed)
        return {
            "chart": self.chart.name,
            "path": self.chart.path,
            "states_entered": len([s for s in states if s in self.states]),
            "states_total": len(states),
            "transitions_taken": len(trans) - len(missed),
            "transitions_total": len(trans),
            "percent": round(100.0 * hit / total, 1) if total else 100.0,
            "states_never_entered": [s for s in states if s not in self.states],
            "transitions_never_taken": [
                {
                    "name": t.name,
                    "from": t.source,
                    "to": t.target,
                    "where": f"{_shown(t.loc.path)}:{t.loc.line}",
                }
                for t in missed
            ],
        }


class Collector:
    """Coverage of every chart seen, keyed by chart digest (so versions stay apart)."""

    def __init__(self) -> None:
        self.enabled = False
        self.charts: dict[str, ChartCoverage] = {}

    def reset(self) -> None:
        self.charts.clear()

    def _of(self, chart: Chart) -> ChartCoverage:
        cov = self.charts.get(chart.digest)
        if cov is None:
            cov = self.charts[chart.digest] = ChartCoverage(chart)
        return cov

    def register(self, chart: Chart) -> None:
        if self.enabled:
            self._of(chart)

    def state(self, chart: Chart, name: str) -> None:
        if self.enabled:
            self._of(chart).states.add(name)

    def transition(self, chart: Chart, t: Transition) -> None:
        if self.enabled:
            self._of(chart).transitions.add(transition_key(t))

    def summaries(self) -> list[dict[str, object]]:
        return [c.summary() for c in sorted(self.charts.values(), key=lambda c: (c.chart.path, c.chart.name))]

    def total_percent(self) -> float:
        hit = total = 0
        for s in self.summaries():
            hit += int(s["states_entered"]) + int(s["transitions_taken"])  # type: ignore[call-overload]
            total += int(s["states_total"]) + int(s["transitions_total"])  # type: ignore[call-overload]
        return round(100.0 * hit / total, 1) if total else 100.0

    def report_text(self) -> str:
        lines = ["DSM chart coverage", "-" * 18]
        for s in self.summaries():
            lines.append(
                f"{s['chart']:<20} states {s['states_entered']}/{s['states_total']}  "
                f"transitions {s['transitions_taken']}/{s['transitions_total']}  {s['percent']}%"
            )
            for st in s["states_never_entered"]:  # type: ignore[attr-defined]
                lines.append(f"    state never entered: {st}")
            for t in s["transitions_never_taken"]:  # type: ignore[attr-defined]
                lines.append(f"    {t['where']}: transition {t['name']!r} {t['from']} -> {t['to']} never taken")
        lines.append(f"TOTAL {self.total_percent()}%")
        return "\n".join(lines)

    def report_json(self) -> str:
        return json.dumps({"total_percent": self.total_percent(), "charts": self.summaries()}, indent=2)


COVERAGE = Collector()
