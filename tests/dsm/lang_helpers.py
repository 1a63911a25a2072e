"""Shared helpers for the language-layer tests (``language.md``)."""

from __future__ import annotations

import pytest

from dsm import Chart, CompileError, compile_source
from dsm.diagnostics import Diagnostic
from dsm.source import preprocess_text
from dsm.tokenizer import tokenize

# A state that satisfies the consistency check, for tests that need a clean base.
HANGUP_OK = 'transition "h" {s} - hangup / stop(false) -> {s};\n'


def toks(text: str) -> list[str]:
    """Token values of ``text`` after pre-processing."""
    return tokenize(preprocess_text(text).text)[0]


def chart(text: str, **kw: object) -> Chart:
    """Compile without the consistency check (only the language is under test)."""
    kw.setdefault("consistency_check", False)
    return compile_source(text, "t", **kw)  # type: ignore[arg-type]


def fail(text: str, **kw: object) -> list[Diagnostic]:
    """Compile ``text`` expecting a CompileError; return its error diagnostics."""
    kw.setdefault("consistency_check", False)
    with pytest.raises(CompileError) as info:
        compile_source(text, "t", **kw)  # type: ignore[arg-type]
    errs = [d for d in info.value.diagnostics if d.is_error]
    assert errs, "a CompileError must carry at least one error"
    return errs


def codes(diags: object) -> list[str]:
    return [d.code for d in diags]  # type: ignore[attr-defined]


def warning_codes(c: Chart) -> list[str]:
    return [d.code for d in c.warnings]  # type: ignore[attr-defined]
