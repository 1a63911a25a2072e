"""Broken input never breaks the language server's analysis (L-90: errors are diagnostics).

Every line-by-line typing state of every example, and random edits of them
(hypothesis), give diagnostics and answer every request without raising and
within a bounded time.  The analysis and the answers are the server's own
functions, called in-process; the stdio transport is covered end to end in
``test_lsp_server.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsm.lsp import features as f
from dsm.lsp.analysis import analyse

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/*.dsm"))
FRAGMENTS = [
    "state ",
    "transition ",
    "initial ",
    "function f() {",
    "enter {",
    "exit {",
    "}",
    "{",
    ";",
    "->",
    "-",
    "/",
    "(",
    ")",
    '"',
    "'",
    "$x",
    "#key",
    "if ",
    "else ",
    "for ",
    "not ",
    '#include "nowhere.dsm"\n',
    "import(mod_regex)",
    "\n",
    " ",
    "\r",
    "\t",
    "é",
    "\x00",
    "--",
    "playPrompt(",
    "key(#key == 1)",
    "test($a ==",
    "[",
    "]",
]


def _exercise(text: str, path: str) -> None:
    start = time.monotonic()
    a = analyse(text, path)
    assert a.diagnostics is not None
    assert all(d.code != "E900" for d in a.diagnostics), a.diagnostics
    lines = text.split("\n")
    f.document_symbols(a)
    f.folding_ranges(a)
    data = f.semantic_tokens(a, text)
    assert len(data) % 5 == 0 and all(v >= 0 for v in data)
    f.to_lsp_diagnostics(a.diagnostics, path)
    for line in range(0, len(lines), max(1, len(lines) // 8)):
        for col in {0, len(lines[line]) // 2, len(lines[line])}:
            f.completion(a, text, line, col)
            f.hover(a, text, line, col)
            f.definition(a, text, line, col)
            f.references(a, line, col)
            f.rename(a, line, col, "NEW")
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_line_typed_of_every_example(example: Path) -> None:
    """Each prefix ending mid-line or at a line end, as typed: never an exception or a hang."""
    text = example.read_text()
    cuts = sorted({i for i, c in enumerate(text) if c == "\n"} | {len(text)})
    mids = [c - 3 for c in cuts if c >= 3]
    for cut in sorted(set(cuts) | set(mids)):
        _exercise(text[:cut], str(example))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    example=st.sampled_from(EXAMPLES),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1),
            st.integers(0, 12),
            st.lists(st.sampled_from(FRAGMENTS), max_size=4).map("".join),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_random_edits_of_examples(example: Path, edits: list[tuple[float, int, str]]) -> None:
    text = example.read_text()
    for where, delete, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + delete :]
    _exercise(text, str(example))


def test_textmate_grammar_is_valid_and_its_patterns_compile() -> None:
    """The TextMate grammar for editors without semantic tokens loads, and every pattern compiles."""
    import json
    import re

    root = Path(__file__).resolve().parents[2] / "docs" / "editors" / "vscode-dsm"
    grammar = json.loads((root / "syntaxes" / "dsm.tmLanguage.json").read_text())
    manifest = json.loads((root / "package.json").read_text())
    assert (
        manifest["contributes"]["grammars"][0]["scopeName"] == grammar["scopeName"] == "source.dsm"
    )
    patterns: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            patterns.extend(v for k, v in node.items() if k in ("match", "begin", "end"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(grammar)
    assert len(patterns) > 10
    for p in patterns:
        re.compile(p)
    state = re.compile(grammar["repository"]["state"]["match"])
    assert state.search("initial state MENU").group(2) == "MENU"  # type: ignore[union-attr]


def test_dsm_lsp_is_a_builtin_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """``dsm lsp`` is listed by ``dsm --help`` and has its own help, without loading plug-ins."""
    from dsm.cli import build_parser, main

    assert main(["lsp", "--help"]) == 0
    assert "Language Server Protocol" in capsys.readouterr().out
    assert "lsp" in build_parser().format_help()
