"""One analysis of one open script: the diagnostics ``dsm check`` gives, plus an index.

The diagnostics come from the compiler exactly as ``dsm check`` computes them
(modules read statically, no module code runs).  The index (where each state,
transition, function, action and condition stands) comes from the same
grammar-driven reader: :class:`IndexReader` is the compiler's
:class:`~dsm.reader.Reader` with its semantic actions noting positions, so
there is no second parser.  Nothing here knows about LSP transport.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dsm.chart import Chart
from dsm.checks import unknown_prompts
from dsm.compiler import _build
from dsm.diagnostics import Diagnostic
from dsm.parser import split_sources
from dsm.reader import Reader
from dsm.source import SourceText, preprocess_text
from dsm.tokenizer import tokenize
from dsm.vocabulary import Vocabulary

__all__ = ["Occurrence", "Span", "Analysis", "analyse"]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A name where it stands: ``line``/``col`` 0-based, in file ``path``."""

    path: str
    line: int
    col: int
    length: int
    kind: str  # state | state-ref | function | call | action | condition | transition
    name: str


@dataclass(frozen=True, slots=True)
class Span:
    """A construct from its keyword to its end: ``(line, col)`` pairs, 0-based."""

    path: str
    kind: str  # state | transition | function
    name: str
    start: tuple[int, int]
    end: tuple[int, int]
    detail: str = ""


@dataclass(slots=True)
class Analysis:
    path: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    chart: Chart | None = None
    modules: list[tuple[str, Vocabulary]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # this file and every file it includes

    def named(self, name: str, kinds: Sequence[str]) -> list[Occurrence]:
        return [o for o in self.occurrences if o.name == name and o.kind in kinds]

    def at(self, path: str, line: int, col: int) -> Occurrence | None:
        for o in self.occurrences:
            if o.path == path and o.line == line and o.col <= col <= o.col + o.length:
                return o
        return None

    def names(self, kind: str) -> list[str]:
        seen: dict[str, None] = {}
        for o in self.occurrences:
            if o.kind == kind:
                seen.setdefault(o.name, None)
        return list(seen)


class IndexReader(Reader):
    """The compiler's reader, noting where each name stands as its rule is read."""

    def __init__(
        self, source: SourceText, values: list[str], offsets: list[int], **kw: object
    ) -> None:
        super().__init__(source, values, offsets, **kw)  # type: ignore[arg-type]
        self.found: list[tuple[int, int, str, str]] = []  # offset, length, kind, name
        self.opened: list[tuple[str, int, str]] = []  # kind, offset, name
        self.closed: list[tuple[str, int, int, str, str]] = []  # kind, start, end, name, detail
        self._target_seen = False
        self._source = ""

    def _note(self, i: int, kind: str, name: str, shift: int = 0) -> None:
        self.found.append((self.offsets[i] + shift, len(name), kind, name))

    def _close(self, kind: str, i: int, detail: str = "") -> None:
        for k in range(len(self.opened) - 1, -1, -1):
            if self.opened[k][0] == kind:
                _, start, name = self.opened.pop(k)
                end = self.offsets[i] + len(self.values[i])
                self.closed.append((kind, start, end, name, detail))
                return

    def x_state_open(self, i: int) -> int:
        self.opened.append(("state", self.offsets[i], ""))
        return super().x_state_open(i)

    def x_state_name(self, i: int) -> int:
        self._note(i, "state", self.values[i])
        if self.opened and self.opened[-1][0] == "state":
            self.opened[-1] = ("state", self.opened[-1][1], self.values[i])
        return super().x_state_name(i)

    def x_state_end(self, i: int) -> int:
        self._close("state", i)
        return super().x_state_end(i)

    def x_transition_open(self, i: int) -> int:
        self.opened.append(("transition", self.offsets[i], ""))
        self._target_seen = False
        self._source = ""
        return super().x_transition_open(i)

    def x_transition_name(self, i: int) -> int:
        if self.opened and self.opened[-1][0] == "transition":
            self.opened[-1] = ("transition", self.opened[-1][1], self.values[i].strip("\"'"))
        return super().x_transition_name(i)

    def x_transition_source(self, i: int) -> int:
        tok = self.values[i]
        self._source = tok
        pos = 0
        for name in split_sources(tok):
            at = tok.find(name, pos)
            if at >= 0 and name:
                self._note(i, "state-ref", name, at)
                pos = at + len(name)
        return super().x_transition_source(i)

    def x_transition_word(self, i: int) -> int:
        if not self._target_seen:
            self._target_seen = True
            self._note(i, "state-ref", self.values[i])
            self._source += " -> " + self.values[i]
        return super().x_transition_word(i)

    def x_transition_end(self, i: int) -> int:
        self._close("transition", i, self._source)
        return super().x_transition_end(i)

    def x_function_open(self, i: int) -> int:
        self.opened.append(("function", self.offsets[i], ""))
        return super().x_function_open(i)

    def x_function_name(self, i: int) -> int:
        tok = self.values[i]
        name = tok[: tok.find("(")]
        self._note(i, "function", name)
        if self.opened and self.opened[-1][0] == "function":
            self.opened[-1] = ("function", self.opened[-1][1], name)
        return super().x_function_name(i)

    def x_function_register(self, i: int) -> int:
        self._close("function", i)
        return super().x_function_register(i)

    def x_action(self, i: int) -> int:
        tok = self.values[i]
        paren = tok.find("(")
        name = tok if paren < 0 else tok[:paren]
        self._note(i, "call" if name in self.functions else "action", name)
        return super().x_action(i)

    def x_condition(self, i: int) -> int:
        tok = self.values[i]
        paren = tok.find("(")
        self._note(i, "condition", tok if paren < 0 else tok[:paren])
        return super().x_condition(i)


@lru_cache(maxsize=4096)
def _local(path: str) -> str:
    return os.path.abspath(path) if path and not path.startswith("<") else path


def analyse(
    text: str,
    path: str,
    *,
    include_paths: Sequence[str] = (),
    module_path: Sequence[str] = (),
    known_prompts: Collection[str] | None = None,
) -> Analysis:
    """Analyse ``text`` as the content of file ``path`` (its includes resolved from its folder).

    ``known_prompts`` (the prompt names of a ``dsm.conf``) adds W017 as
    ``dsm check --config`` does.
    """
    out = Analysis(path, text)
    name = os.path.splitext(os.path.basename(path))[0]
    directory = os.path.dirname(path)
    load_path = directory + "/" if directory else ""
    try:
        src = preprocess_text(text, path, load_path, include_paths)
        files: dict[str, None] = {_local(path): None}
        for o in src.origins:
            files.setdefault(_local(o[0]), None)
        out.files = list(files)
        if not src.origins and any(d.is_error for d in src.diagnostics):
            out.diagnostics = list(src.diagnostics)
            return out
        unit = _build(
            src,
            name,
            path,
            module_path=module_path,
            consistency_check=True,
            syntax_only=False,
        )
        out.diagnostics = unit.diagnostics
        out.chart = unit.chart
        if known_prompts is not None and unit.chart is not None:
            lines = {(o[0], o[1]): o[2] for o in src.origins}
            out.diagnostics = out.diagnostics + unknown_prompts(
                unit.chart, known_prompts, lambda p, n: lines.get((p, n), "")
            )
        values, offsets = unit.tokens or tokenize(src.text)
        reader = IndexReader(src, values, offsets, module_path=module_path)
        reader.run()
        out.modules = list(reader.modules)
        for offset, length, kind, what in reader.found:
            p, line, col, _ = src.locate(offset)
            out.occurrences.append(Occurrence(_local(p), line - 1, col - 1, length, kind, what))
        for kind, start, end, what, detail in reader.closed:
            p, line, col, _ = src.locate(start)
            p2, line2, col2, _ = src.locate(max(start, end - 1))
            if p2 != p:
                line2, col2 = line, col
            out.spans.append(
                Span(_local(p), kind, what, (line - 1, col - 1), (line2 - 1, col2), detail)
            )
    except Exception as exc:  # never take the server down for one bad script
        out.diagnostics.append(
            Diagnostic(
                path, 1, 1, "error", "E900", f"internal analysis error: {type(exc).__name__}: {exc}"
            )
        )
    return out


_VARIABLE = re.compile(r"\$([A-Za-z_][\w.]*)")
_ASSIGNED = re.compile(r"\$([A-Za-z_][\w.]*)\s*=")


def variables(text: str) -> dict[str, tuple[int, int]]:
    """Every ``$variable`` of ``text`` with where it is first set (or first used), 0-based."""
    found: dict[str, tuple[int, int]] = {}
    used: dict[str, tuple[int, int]] = {}
    for number, line in enumerate(text.split("\n")):
        stripped = line.lstrip()
        if stripped.startswith(("--", "#")):
            continue
        for m in _ASSIGNED.finditer(line):
            found.setdefault(m.group(1), (number, m.start()))
        for m in _VARIABLE.finditer(line):
            used.setdefault(m.group(1), (number, m.start()))
    for name, where in used.items():
        found.setdefault(name, where)
    return found
