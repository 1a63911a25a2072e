"""Diagnostics: what a script author is told, with file:line:column and a caret.

A :class:`Diagnostic` is plain data; :func:`render` turns it into the
``path:line:col: severity: message [CODE]`` line followed by the source line and
a caret under the column, and :func:`render_json` into a JSON-ready dict.
:class:`CompileError` carries every diagnostic of a failed compile, so callers
never see a Python traceback for bad input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Diagnostic", "CompileError", "render", "render_all", "render_json"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding.  ``line``/``column`` are 1-based; ``source_line`` is the text shown under it."""

    path: str
    line: int
    column: int
    severity: Severity
    code: str
    message: str
    hint: str = ""
    source_line: str = ""
    length: int = 1

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class CompileError(Exception):
    """Raised when a diagram (or a set of diagrams) does not compile.

    ``diagnostics`` holds every diagnostic found, errors and warnings alike.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error] or list(self.diagnostics)
        super().__init__(render_all(errors[:1]) if errors else "compile error")

    def __str__(self) -> str:
        return render_all(self.diagnostics)


def render(d: Diagnostic) -> str:
    """Render one diagnostic as text: header line, source line, caret, hint."""
    out = [f"{d.path}:{d.line}:{d.column}: {d.severity}: {d.message} [{d.code}]"]
    if d.source_line:
        src = d.source_line.rstrip("\r\n").expandtabs(1)
        out.append(f"    {src}")
        caret_col = max(d.column - 1, 0)
        width = max(1, min(d.length, max(1, len(src) - caret_col)))
        out.append("    " + " " * caret_col + "^" + "~" * (width - 1))
    if d.hint:
        out.append(f"    hint: {d.hint}")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic]) -> str:
    return "\n".join(render(d) for d in diags)


def render_json(d: Diagnostic) -> dict[str, object]:
    return {
        "path": d.path,
        "line": d.line,
        "column": d.column,
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
    }
