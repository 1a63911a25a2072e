"""The compile pipeline and public API: text or file -> checked, immutable :class:`Chart`.

``preprocess`` (comments, includes, line map; :mod:`dsm.source`) -> ``tokenize``
(:mod:`dsm.tokenizer`) -> the grammar's LALR parse with its semantic actions
(:mod:`dsm.reader`, :mod:`dsm.parser`) -> chart -> static checks
(:mod:`dsm.checks`).  Compile errors (``language.md`` L-90)
raise :class:`CompileError` carrying every diagnostic found; everything else
(the reference's logged errors, L-92, and consistency findings, L-94)
becomes a warning on :attr:`Chart.warnings`.

Whatever the input, the only exception that leaves :func:`compile_source`
and :func:`compile_file` is :class:`CompileError`: an unexpected internal
failure is reported as diagnostic ``E900`` rather than a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Sequence

from dsm.chart import Chart, State
from dsm.checks import check_chart, unknown_prompts
from dsm.diagnostics import CompileError, Diagnostic
from dsm.fastbuild import constructor
from dsm.parser import ParseResult
from dsm.reader import read
from dsm.source import SourceText, preprocess_file, preprocess_text
from dsm.tokenizer import tokenize

_State = constructor(State)

__all__ = ["compile_file", "compile_source", "check_paths", "compile_unit", "Unit"]


class Unit:
    """Everything one compile produced: the chart (if any) and all diagnostics."""

    __slots__ = ("chart", "diagnostics", "source", "tokens")

    def __init__(
        self,
        chart: Chart | None,
        diagnostics: list[Diagnostic],
        source: SourceText | None,
        tokens: tuple[list[str], list[int]] | None,
    ) -> None:
        self.chart = chart
        self.diagnostics = diagnostics
        self.source = source
        self.tokens = tokens

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


# Consistency findings still reported when the script has errors: a target
# that no state declares, a transition that can never fire, an unused function.
_KEPT_AFTER_ERRORS = frozenset({"W007", "W011", "W012"})
_LOST_END = frozenset({"E017", "E018"})


def _position(d: Diagnostic) -> tuple[str, int, int]:
    return (d.path, d.line, d.column)


def _source_line_lookup(src: SourceText) -> dict[tuple[str, int], str]:
    return {(o[0], o[1]): o[2] for o in src.origins}


def _line_getter(src: SourceText) -> Callable[[str, int], str]:
    """A ``(path, line) -> source text`` lookup for diagnostics."""
    lines = _source_line_lookup(src)

    def source_line(path: str, line: int) -> str:
        return lines.get((path, line), "")

    return source_line


def _build(
    src: SourceText,
    name: str,
    path: str,
    *,
    module_path: Sequence[str],
    consistency_check: bool,
    syntax_only: bool,
) -> Unit:
    values, offsets = tokenize(src.text)
    result: ParseResult = read(
        src,
        values,
        offsets,
        module_path=module_path,
        syntax_only=syntax_only,
    )
    diagnostics = src.diagnostics + result.diagnostics
    if diagnostics:
        diagnostics.sort(key=_position)
    states = tuple(
        [_State(r.name, r.enter, r.exit, tuple(r.transitions), r.loc) for r in result.states]
    )
    imports, import_locs = tuple(result.imports), tuple(result.import_locs)
    chart = Chart(name, states, result.initial, imports, path, (), import_locs)
    errors = {d.code for d in diagnostics if d.is_error} if diagnostics else set()
    # After an error the chart lacks what the erroneous statements held, so
    # only the findings that stay true are kept (one run, several problems);
    # after E017/E018 the end of the script is lost and none are.
    keep = None if not errors else _KEPT_AFTER_ERRORS if not errors & _LOST_END else frozenset()
    if consistency_check and keep != frozenset():
        lines: dict[tuple[str, int], str] | None = None

        def source_line(p: str, line: int) -> str:
            nonlocal lines
            if lines is None:
                lines = _source_line_lookup(src)
            return lines.get((p, line), "")

        findings = check_chart(
            chart,
            functions=result.functions,
            condition_events=result.condition_events,
            source_line=source_line,
        )
        if keep is not None:
            findings = [d for d in findings if d.code in keep]
        if findings:
            diagnostics = diagnostics + sorted(findings, key=_position)
    if diagnostics:
        # The checks need the chart; the warnings they find go into a copy.
        warnings = tuple(d for d in diagnostics if not d.is_error)
        chart = Chart(name, states, result.initial, imports, path, warnings, import_locs)
    return Unit(chart, diagnostics, src, (values, offsets))


def _internal_error(path: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(
        path or "<string>",
        1,
        1,
        "error",
        "E900",
        f"internal compiler error: {type(exc).__name__}: {exc}",
        "this is a bug in the compiler; please report it with the script",
    )


def compile_unit(
    text: str | None,
    path: str,
    name: str,
    include_paths: Sequence[str] = (),
    *,
    module_path: Sequence[str] = (),
    consistency_check: bool = True,
    syntax_only: bool = False,
) -> Unit:
    """Compile without raising: the :class:`Unit` holds the chart and every diagnostic.

    Imported modules' names are read from their source files
    (:func:`dsm.vocabulary.read_module`): no module code runs and none of
    its dependencies is imported.  The runtime imports a module only when it
    binds the chart (``dsm.runtime.executable.build``).

    With ``text`` ``None`` the file ``path`` is read (load path = its
    directory, L-1/L-14); otherwise ``text`` is compiled and ``path`` only
    names it in diagnostics.
    """
    try:
        if text is None:
            src = preprocess_file(path, include_paths)
        else:
            src = preprocess_text(text, path, "", include_paths)
        if not src.origins and any(d.is_error for d in src.diagnostics):
            return Unit(None, list(src.diagnostics), src, None)
        return _build(
            src,
            name,
            path if text is None else "",
            module_path=module_path,
            consistency_check=consistency_check,
            syntax_only=syntax_only,
        )
    except RecursionError as exc:  # pragma: no cover - defensive
        return Unit(None, [_internal_error(path, exc)], None, None)
    except Exception as exc:  # pragma: no cover - defensive: never a traceback for bad input
        return Unit(None, [_internal_error(path, exc)], None, None)


def _finish(unit: Unit) -> Chart:
    if unit.chart is None or (unit.diagnostics and unit.errors):
        raise CompileError(unit.diagnostics)
    return unit.chart


def compile_source(
    text: str,
    name: str = "<string>",
    include_paths: Sequence[str] = (),
    *,
    module_path: Sequence[str] = (),
    consistency_check: bool = True,
) -> Chart:
    """Compile script text; ``name`` names the diagram and the text in diagnostics.

    Relative ``#include``s are resolved against the current directory (an
    empty load path, L-14), then against ``include_paths``.
    """
    if not isinstance(text, str):
        raise CompileError([Diagnostic(name, 1, 1, "error", "E002", "script text must be a str")])
    return _finish(
        compile_unit(
            text,
            name,
            name,
            include_paths,
            module_path=module_path,
            consistency_check=consistency_check,
        )
    )


def compile_file(
    path: str | os.PathLike[str],
    include_paths: Sequence[str] = (),
    *,
    name: str | None = None,
    module_path: Sequence[str] = (),
    consistency_check: bool = True,
) -> Chart:
    """Compile a ``.dsm`` file; the diagram name defaults to the file stem (L-1)."""
    p = os.fspath(path)
    if name is None:
        name = os.path.splitext(os.path.basename(p))[0]
    return _finish(
        compile_unit(
            None,
            p,
            name,
            include_paths,
            module_path=module_path,
            consistency_check=consistency_check,
        )
    )


def iter_script_files(
    paths: Iterable[str | os.PathLike[str]],
) -> Iterable[tuple[str, Diagnostic | None]]:
    """Every file named, and every ``*.dsm`` below every directory named (sorted)."""
    for raw in paths:
        p = os.fspath(raw)
        if os.path.isdir(p):
            found: list[str] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in files if f.endswith(".dsm"))
            yield from ((f, None) for f in sorted(found))
        elif os.path.exists(p):
            yield p, None
        else:
            yield p, Diagnostic(p, 1, 1, "error", "E002", f"no such file or directory: {p}")


def check_paths(
    paths: Iterable[str | os.PathLike[str]],
    include_paths: Sequence[str] = (),
    *,
    syntax_only: bool = False,
    module_path: Sequence[str] = (),
    strict: bool = False,
    known_prompts: Collection[str] | None = None,
) -> list[Diagnostic]:
    """Compile every script named (files or directories) and return all diagnostics.

    Modules are read, not run: checking a script runs none of its modules' code.

    ``syntax_only`` skips the unknown action/condition check (names nobody
    declares then produce no error); ``strict`` adds warnings (W013) where a
    statement relies on a reference leniency (see :mod:`dsm.strict`);
    ``known_prompts`` (the prompt names a configuration provides) adds a
    warning (W017) for every literal ``playPrompt`` name not among them.
    """
    out: list[Diagnostic] = []
    for path, problem in iter_script_files(paths):
        if problem is not None:
            out.append(problem)
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        unit = compile_unit(
            None,
            path,
            name,
            include_paths,
            module_path=module_path,
            syntax_only=syntax_only,
        )
        out.extend(unit.diagnostics)
        if strict and unit.source is not None and unit.tokens is not None:
            from dsm.strict import strict_diagnostics

            out.extend(strict_diagnostics(unit.source, *unit.tokens))
        if known_prompts is not None and unit.chart is not None and unit.source is not None:
            out.extend(unknown_prompts(unit.chart, known_prompts, _line_getter(unit.source)))
    return out
