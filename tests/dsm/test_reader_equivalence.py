"""The grammar-driven reader (dsm.reader, grammar/reader.lark) against the statement machine.

Both readers run side by side over the examples, every script text written
in the test suite (string literals of tests/**.py that contain a statement
keyword), generated well-formed charts and token soups.  They must agree:
the same chart digest, or the same diagnostic codes at the same positions.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import PIECES, charts

from dsm.compiler import Unit, compile_unit

ROOT = Path(__file__).resolve().parents[2]
SOUP = [*PIECES, "state", "transition", "enter", "exit", "else", "fortune", "f(", "x(", "'q'"]
QUICK = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(unit: Unit) -> tuple[Any, ...]:
    """What must be equal: the chart (by digest) unless there are errors, and every diagnostic."""
    errors = any(d.is_error for d in unit.diagnostics)
    digest = unit.chart.digest if unit.chart is not None and not errors else None
    diags = tuple((d.code, d.path, d.line, d.column, d.severity) for d in unit.diagnostics)
    return digest, diags


def assert_same(text: str | None, path: str = "t", **kw: Any) -> None:
    old = compile_unit(text, path, "t", reader="machine", **kw)
    new = compile_unit(text, path, "t", reader="grammar", **kw)
    assert outcome(new) == outcome(old), text


def suite_texts() -> list[str]:
    """Every string literal in the test suite that looks like (part of) a script."""
    found: dict[str, None] = {}
    for py in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                s = node.value
                if any(k in s for k in ("state", "transition", "function", "initial")):
                    found[s] = None
    return list(found)


SUITE = suite_texts()
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").rglob("*.dsm"))


def test_the_corpus_is_not_empty() -> None:
    assert len(SUITE) > 500 and len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=[Path(p).name for p in EXAMPLES])
def test_examples_read_the_same(path: str) -> None:
    assert_same(None, path, include_paths=[str(Path(path).parent)])


def test_every_script_text_of_the_suite_reads_the_same() -> None:
    for text in SUITE:
        assert_same(text)
        assert_same(text, consistency_check=False, syntax_only=True)


@QUICK
@given(charts())
def test_generated_charts_read_the_same(case: tuple[str, Any]) -> None:
    assert_same(case[0])


@QUICK
@given(
    st.lists(st.sampled_from(SOUP), max_size=60),
    st.lists(st.sampled_from([" ", "\n", ""]), max_size=60),
)
def test_token_soups_read_the_same(pieces: list[str], seps: list[str]) -> None:
    text = "".join(p + (seps[i] if i < len(seps) else " ") for i, p in enumerate(pieces))
    assert_same(text)


@QUICK
@given(st.text(alphabet="sti;{}[]-/>()'\"\\ \nfoarnxelpdc", max_size=120))
def test_character_soups_read_the_same(text: str) -> None:
    assert_same(text)
