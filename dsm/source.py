"""Line pre-processing: comment lines and ``#include`` (``language.md`` section 2).

The reference reader works on lines before it ever sees a token: it drops
comment lines (L-6), replaces ``#include`` lines by the kept lines of the
named file (L-11 … L-18) and glues everything into one *chart text* with a
single LF after every kept line (L-10).  This module does exactly that and
keeps a line map beside the text, so that every token can later be reported
as ``file:line:column`` of the file it physically came from, even through
nested includes.

Include problems are compile errors (L-90.1); they are collected as
diagnostics and pre-processing carries on with the next line, so that one
run reports every broken include.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from dsm.diagnostics import Diagnostic

__all__ = ["Origin", "SourceText", "preprocess_file", "preprocess_text", "read_text"]

# Deeper than any real include tree; guards against pathological (non-cyclic) fan-out.
MAX_INCLUDE_DEPTH = 64
_STRIP_INCLUDE = " \"'"  # L-11: only space and the two quotes, never tabs or CR


class Origin(NamedTuple):
    """Where one kept line of the chart text came from (a plain tuple: one per line)."""

    path: str
    line: int
    text: str


@dataclass(slots=True)
class SourceText:
    """The chart text with its line map (``starts[i]`` is the offset of kept line ``i``)."""

    text: str
    origins: list[Origin] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    default_path: str = "<string>"

    def locate(self, offset: int) -> tuple[str, int, int, str]:
        """``(path, line, column, source line)`` of a chart-text offset (1-based)."""
        if not self.origins:
            return (self.default_path, 1, offset + 1, "")
        i = bisect_right(self.starts, offset) - 1
        if i < 0:
            i = 0
        o = self.origins[i]
        return (o[0], o[1], offset - self.starts[i] + 1, o[2])


def read_text(path: str) -> str:
    """Read a script file as text; bytes that are not UTF-8 survive as surrogates.

    The reference works on raw bytes (no Unicode processing); decoding with
    ``surrogateescape`` keeps every byte distinct and round-trippable.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return data.decode("utf-8", "surrogateescape")


def _split_lines(text: str) -> list[str]:
    """Lines at LF, like the reference's line reader: a final LF ends the last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class _Preprocessor:
    """Walks files and includes; appends kept lines to ``out``."""

    def __init__(self, include_paths: Sequence[str]) -> None:
        self.include_paths = tuple(include_paths)
        self.parts: list[str] = []
        self.origins: list[Origin] = []
        self.starts: list[int] = []
        self.offset = 0
        self.diagnostics: list[Diagnostic] = []
        self.open_files: list[str] = []
        self.top_path = "<string>"
        # A text's own path joins ``open_files`` only when the first #include
        # needs cycle detection (see ``preprocess_text``).
        self.unresolved_top: str | None = None

    # -- diagnostics -----------------------------------------------------
    def error(self, origin: Origin, column: int, code: str, message: str, hint: str = "") -> None:
        self.diagnostics.append(
            Diagnostic(
                origin.path,
                origin.line,
                column,
                "error",
                code,
                message,
                hint,
                origin.text,
                max(1, len(origin.text.rstrip("\r")) - column + 1),
            )
        )

    # -- the line loop ---------------------------------------------------
    def run_text(self, text: str, path: str, load_path: str) -> None:
        """Pre-process ``text`` (the content of ``path``) with load path ``load_path``."""
        parts = self.parts
        origins = self.origins
        starts = self.starts
        offset = self.offset  # kept local; an #include continues from self.offset
        for number, line in enumerate(_split_lines(text), 1):
            stripped = line.lstrip(" \t")
            if stripped:
                first = stripped[0]
                if first == "-" and stripped.startswith("--"):
                    continue  # L-6: comment line
                if first == "#":
                    if not stripped.startswith("#include"):
                        continue  # L-6: comment line
                    column = len(line) - len(stripped) + 1
                    self.offset = offset
                    self.include(Origin(path, number, line), column, stripped[8:], path, load_path)
                    offset = self.offset
                    continue
            starts.append(offset)
            origins.append((path, number, line))  # type: ignore[arg-type]
            parts.append(line)
            offset += len(line) + 1  # L-10: every kept line ends with one LF
        self.offset = offset

    def run_file(self, path: str, load_path: str, origin: Origin | None, column: int) -> None:
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            real = path
        if real in self.open_files:
            chain = " -> ".join(self.open_files[self.open_files.index(real) :] + [real])
            assert origin is not None  # the top-level file cannot be on the stack already
            self.error(origin, column, "E003", f"include cycle: {chain}")
            return
        if len(self.open_files) >= MAX_INCLUDE_DEPTH:
            assert origin is not None
            self.error(origin, column, "E003", f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            return
        try:
            text = read_text(path)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
            reason = getattr(exc, "strerror", None) or str(exc)
            if origin is None:
                self.diagnostics.append(
                    Diagnostic(path, 1, 1, "error", "E002", f"cannot read {path}: {reason}")
                )
            else:
                self.error(origin, column, "E002", f"cannot read included file {path!r}: {reason}")
            return
        self.open_files.append(real)
        try:
            self.run_text(text, path, load_path)
        finally:
            self.open_files.pop()

    def include(
        self, origin: Origin, column: int, argument: str, current: str, load_path: str
    ) -> None:
        """One ``#include`` line (L-11 … L-18).

        REFERENCE QUIRKS: only spaces and quotes are stripped, so trailing
        text and a CR stay in the file name (L-13); a relative name is
        appended to the *original* load path, also inside included files
        (L-14).  Extra ``include_paths`` are searched only after that fails.
        """
        if self.unresolved_top is not None:
            top, self.unresolved_top = self.unresolved_top, None
            if os.path.isfile(top):
                self.open_files.insert(0, os.path.realpath(top))
        name = argument.strip(_STRIP_INCLUDE)
        if not name:
            self.error(origin, column, "E001", "empty #include name")
            return
        if name.startswith("/"):
            resolved = name
            inner_lp = name[: name.rfind("/") + 1]  # L-14: LP becomes the argument's directory
        else:
            resolved = load_path + name  # plain concatenation; LP unchanged (L-14 quirk)
            inner_lp = load_path
        target = self._resolve(resolved, current)
        if target is None and not name.startswith("/"):
            for directory in self.include_paths:
                candidate = self._resolve(os.path.join(directory, name), current)
                if candidate is not None:
                    target = candidate
                    break
        if target is None:
            hint = ""
            if "\r" in name:
                hint = "the file name ends in a CR (CRLF line end); include lines keep it"
            elif '"' in name or "'" in name or "--" in name:
                hint = "text after the file name is part of the name"
            self.error(origin, column, "E002", f"cannot open included file {resolved!r}", hint)
            return
        if os.path.isdir(target):
            self.include_directory(origin, column, target, inner_lp)
        else:
            self.run_file(target, inner_lp, origin, column)

    @staticmethod
    def _resolve(path: str, current: str) -> str | None:
        """The path to read, applying the ``.dsm`` fallback of L-16, or ``None``."""
        if os.path.exists(path):
            return path
        alt = path + ".dsm"
        if alt != current and os.path.isfile(alt):
            return alt
        return None

    def include_directory(
        self, origin: Origin, column: int, directory: str, load_path: str
    ) -> None:
        """L-15: every regular ``*.dsm`` file of the directory, sorted by name.

        REFERENCE QUIRK: an entry whose name is exactly three characters long
        is read too, whatever its extension (the reference's suffix test
        underflows for such names).  Only regular files are read.
        """
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            self.error(
                origin,
                column,
                "E002",
                f"cannot open included directory {directory!r}: {exc.strerror}",
            )
            return
        for entry in names:
            if not (entry.endswith(".dsm") or len(entry) == 3):
                continue
            full = os.path.join(directory, entry)
            if os.path.isfile(full):
                self.run_file(full, load_path, origin, column)

    def result(self) -> SourceText:
        text = "\n".join(self.parts)
        if self.parts:
            text += "\n"
        return SourceText(text, self.origins, self.starts, self.diagnostics, self.top_path)


def preprocess_text(
    text: str, path: str = "<string>", load_path: str = "", include_paths: Sequence[str] = ()
) -> SourceText:
    """Pre-process script text that did not come from a file (or was read already).

    If ``path`` names an existing file, an ``#include`` of that file is a
    cycle.  Asking the file system costs more than pre-processing a small
    text, so it is asked only when the text has an ``#include`` at all.
    """
    pp = _Preprocessor(include_paths)
    pp.top_path = path
    if not path.startswith("<"):
        pp.unresolved_top = path
    pp.run_text(text, path, load_path)
    return pp.result()


def preprocess_file(
    path: str, include_paths: Sequence[str] = (), load_path: str | None = None
) -> SourceText:
    """Pre-process a top-level file; LP defaults to the file's directory plus ``/`` (L-1)."""
    if load_path is None:
        directory = os.path.dirname(path)
        load_path = directory + "/" if directory else ""
    pp = _Preprocessor(include_paths)
    pp.top_path = path
    pp.run_file(path, load_path, None, 1)
    return pp.result()
