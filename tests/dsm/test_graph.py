"""Charts drawn as DOT and Mermaid (dsm/graph.py)."""

from __future__ import annotations

import shutil

import pytest

from dsm import compile_source
from dsm.graph import GraphvizMissing, to_dot, to_mermaid, to_svg

TEXT = """initial state A;
state B;
transition "go" A - key(#key == 1) not hangup -> B;
transition "oops" A - exception / stop -> B;
transition "lost" B - key -> NOWHERE;
"""


def test_dot_nodes_edges_initial_and_exception_style() -> None:
    dot = to_dot(compile_source(TEXT, "demo", consistency_check=False))
    assert dot.startswith('digraph "demo" {')
    assert '"A" [label="A", peripheries=2];' in dot
    assert '"__start__" -> "A";' in dot
    assert '"A" -> "B" [label="go: key(#key == 1), not hangup"];' in dot
    assert '"A" -> "B" [label="oops: exception", style=dashed];' in dot
    assert '"NOWHERE" [color=red' in dot


def test_dot_escapes_quotes() -> None:
    chart = compile_source('initial state "a\\"b";', "q", consistency_check=False)
    assert chart.states[0].name == 'a\\"b'  # L-28: the word loses its outer quotes only
    dot = to_dot(chart)
    # both the backslash and the quote of the name are escaped in the DOT string
    assert '  "a\\\\\\"b" [label="a\\\\\\"b", peripheries=2];' in dot.splitlines()
    assert '  "__start__" -> "a\\\\\\"b";' in dot.splitlines()


def test_mermaid() -> None:
    text = to_mermaid(compile_source(TEXT, "demo", consistency_check=False))
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert '    state "A" as s0' in lines
    assert "    [*] --> s0" in lines
    assert "    s0 --> s1: go: key(#key == 1), not hangup" in lines
    assert "    s0 --> s1: ⚡ oops: exception" in lines
    assert any("(missing)" in line for line in lines)


def test_svg_missing_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dsm.graph.shutil.which", lambda name: None)
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        to_svg(compile_source(TEXT, "demo", consistency_check=False))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_svg_with_graphviz() -> None:
    assert "<svg" in to_svg(compile_source(TEXT, "demo", consistency_check=False))
