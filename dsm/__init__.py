"""DSM, the state-machine language of SEMS telephony applications: parse, compile, check.

Public API::

    dsm.compile_file(path, include_paths=())      -> Chart
    dsm.compile_source(text, name="<string>", include_paths=()) -> Chart
    dsm.check_paths(paths, ...)                   -> list[Diagnostic]
    dsm.CompileError                              (.diagnostics)
"""

from __future__ import annotations

from typing import Any

from dsm.chart import Action, Chart, Condition, For, If, Loc, State, Transition
from dsm.diagnostics import CompileError, Diagnostic

__all__ = [
    "Action",
    "Chart",
    "CompileError",
    "Condition",
    "Diagnostic",
    "For",
    "If",
    "Loc",
    "State",
    "Transition",
    "check_paths",
    "compile_file",
    "compile_source",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The compiler is imported on first use so that ``import dsm`` stays cheap.
    if name in ("compile_file", "compile_source", "check_paths"):
        from dsm import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'dsm' has no attribute {name!r}")
