"""Charts as pictures: Graphviz DOT, Mermaid ``stateDiagram-v2`` and SVG.

Reviewing a call flow is easier on a diagram than in the script.  Each state
is a node (the initial state is marked by an arrow from a start point), each
transition an edge labelled with its name and conditions; exception
transitions are dashed.  Transitions to states that do not exist point to a
red "missing" node so the mistake is visible.  SVG is produced by running
Graphviz's ``dot``; when it is not installed, :class:`GraphvizMissing` says
how to get it.
"""

from __future__ import annotations

import shutil
import subprocess

from dsm.chart import Chart, Condition, Transition

__all__ = ["to_dot", "to_mermaid", "to_svg", "GraphvizMissing", "edge_label"]

INSTALL_HINT = "Graphviz `dot` is not on PATH; install it (e.g. `apt-get install graphviz`) or use --format dot/mermaid"


class GraphvizMissing(RuntimeError):
    """The ``dot`` program is needed for SVG output but cannot be found."""


def _condition_text(c: Condition) -> str:
    return ("not " if c.invert else "") + c.text


def edge_label(t: Transition) -> str:
    """``name: cond1, cond2`` (``exception`` prefixed for exception transitions)."""
    conds = ", ".join(_condition_text(c) for c in t.conditions)
    if t.exception:
        conds = "exception" + (", " + conds if conds else "")
    return f"{t.name}: {conds}" if conds else t.name


def _dot_quote(text: str) -> str:
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
        + '"'
    )


def to_dot(chart: Chart) -> str:
    """The chart as a Graphviz ``digraph``."""
    lines = [
        f"digraph {_dot_quote(chart.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded"];',
    ]
    declared: list[str] = []
    for st in chart.states:
        if st.name in declared:
            continue
        declared.append(st.name)
        attrs = ", peripheries=2" if st.name == chart.initial else ""
        lines.append(f"  {_dot_quote(st.name)} [label={_dot_quote(st.name)}{attrs}];")
    if chart.initial is not None:
        lines.append('  "__start__" [shape=point, label=""];')
        lines.append(f'  "__start__" -> {_dot_quote(chart.initial)};')
    missing: set[str] = set()
    seen: set[str] = set()
    for st in chart.states:
        if st.name in seen:
            continue
        seen.add(st.name)
        for t in st.transitions:
            target = t.target if t.target is not None else "?"
            if target not in declared and target not in missing:
                missing.add(target)
                lines.append(f"  {_dot_quote(target)} [color=red, fontcolor=red, style=dashed];")
            style = ", style=dashed" if t.exception else ""
            lines.append(
                f"  {_dot_quote(st.name)} -> {_dot_quote(target)} [label={_dot_quote(edge_label(t))}{style}];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(name: str, ids: dict[str, str]) -> str:
    if name not in ids:
        ids[name] = f"s{len(ids)}"
    return ids[name]


def _mermaid_text(text: str) -> str:
    # Mermaid labels end at a line break and treat `:` specially only in the first position.
    return text.replace("\n", " ").replace("\r", "").replace(";", "#59;")


def to_mermaid(chart: Chart) -> str:
    """The chart as a Mermaid ``stateDiagram-v2`` (exception edges are labelled ``⚡``)."""
    ids: dict[str, str] = {}
    lines = ["stateDiagram-v2"]
    for st in chart.states:
        if st.name in ids:
            continue
        sid = _mermaid_id(st.name, ids)
        lines.append(f'    state "{_mermaid_text(st.name)}" as {sid}')
    if chart.initial is not None:
        lines.append(f"    [*] --> {_mermaid_id(chart.initial, ids)}")
    seen: set[str] = set()
    for st in chart.states:
        if st.name in seen:
            continue
        seen.add(st.name)
        for t in st.transitions:
            target = t.target if t.target is not None else "?"
            new = target not in ids
            tid = _mermaid_id(target, ids)
            if new:
                lines.append(f'    state "{_mermaid_text(target)} (missing)" as {tid}')
            label = _mermaid_text(("⚡ " if t.exception else "") + edge_label(t))
            lines.append(f"    {ids[st.name]} --> {tid}: {label}")
    return "\n".join(lines) + "\n"


def to_svg(chart: Chart, dot_program: str = "dot") -> str:
    """Render with Graphviz; raises :class:`GraphvizMissing` when ``dot`` is not installed."""
    exe = shutil.which(dot_program)
    if exe is None:
        raise GraphvizMissing(INSTALL_HINT)
    proc = subprocess.run(
        [exe, "-Tsvg"],
        input=to_dot(chart).encode("utf-8", "surrogateescape"),
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout.decode("utf-8", "replace")
