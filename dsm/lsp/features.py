"""The LSP answers computed from an :class:`~dsm.lsp.analysis.Analysis` and the open text.

Plain functions: a position and the analysis in, lsprotocol data out, so the
server module only wires them to requests.  Positions are 0-based lines and
character columns of the file's text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types as t

from dsm.diagnostics import Diagnostic
from dsm.lsp.analysis import Analysis, Occurrence, variables
from dsm.lsp.words import ALL_PARAMS, ERRNO_WORDS, EVENT_PARAMS, call, describe
from dsm.vocabulary import CORE_ACTIONS, CORE_CONDITIONS, Signature

__all__ = [
    "to_lsp_diagnostics",
    "completion",
    "hover",
    "definition",
    "references",
    "rename",
    "document_symbols",
    "folding_ranges",
    "semantic_tokens",
    "TOKEN_TYPES",
    "uri_of",
    "path_of",
]

TOKEN_TYPES = [
    "keyword",
    "class",
    "function",
    "event",
    "variable",
    "parameter",
    "string",
    "comment",
    "macro",
]
_TYPE = {name: i for i, name in enumerate(TOKEN_TYPES)}


def uri_of(path: str) -> str:
    return Path(path).absolute().as_uri()


def path_of(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return os.path.abspath(unquote(parsed.path)) if parsed.scheme == "file" else uri


def _range(line: int, col: int, length: int) -> t.Range:
    return t.Range(t.Position(line, col), t.Position(line, col + length))


# -- diagnostics ---------------------------------------------------------------
def to_lsp_diagnostics(diags: Iterable[Diagnostic], default: str) -> dict[str, list[t.Diagnostic]]:
    """Diagnostics grouped by the absolute path of the file they are in."""
    out: dict[str, list[t.Diagnostic]] = {}
    for d in diags:
        path = os.path.abspath(d.path) if d.path and not d.path.startswith("<") else default
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        line, col = max(d.line - 1, 0), max(d.column - 1, 0)
        out.setdefault(path, []).append(
            t.Diagnostic(
                range=_range(line, col, max(1, d.length)),
                message=message,
                severity=t.DiagnosticSeverity.Error if d.is_error else t.DiagnosticSeverity.Warning,
                code=d.code,
                source="dsm",
            )
        )
    return out


# -- vocabulary ----------------------------------------------------------------
def _vocab(a: Analysis, conditions: bool) -> list[tuple[Signature, str]]:
    out = [(s, "") for s in (CORE_CONDITIONS if conditions else CORE_ACTIONS).values()]
    for module, vocab in a.modules:
        table = getattr(vocab, "conditions" if conditions else "actions", None)
        if isinstance(table, dict):
            out.extend((s, module) for s in table.values() if isinstance(s, Signature))
    return out


def _signature(a: Analysis, name: str, conditions: bool) -> tuple[Signature, str] | None:
    for module, vocab in reversed(a.modules):
        get = vocab.condition_signature if conditions else vocab.action_signature
        try:
            sig = get(name)
        except Exception:
            sig = None
        if sig is not None:
            return sig, module
    sig = (CORE_CONDITIONS if conditions else CORE_ACTIONS).get(name)
    return (sig, "") if sig is not None else None


# -- completion ----------------------------------------------------------------
_AFTER_ARROW = re.compile(r"->\s*[\w.]*$")
_SOURCE_LIST = re.compile(r"^\s*transition\s+(\"[^\"]*\"|'[^']*'|\S+)\s+(\([^)]*|[\w.]*)$")
_PARAM = re.compile(r"#\w*$")
_VAR = re.compile(r"\$[\w.]*$")
_WORD = re.compile(r"[\w.]*$")


def _condition_context(before: str) -> bool:
    """Inside a transition's condition list (after ``-``, before ``/``) or an ``if``."""
    m = re.search(r"(?:^|\s)-\s", before)
    if m and "/" not in before[m.end() :]:
        return True
    m = re.search(r"\bif\b", before)
    return bool(m and "{" not in before[m.end() :])


def completion(a: Analysis, text: str, line: int, col: int) -> t.CompletionList:
    lines = text.split("\n")
    current = lines[line] if 0 <= line < len(lines) else ""
    before = current[:col]
    items: list[t.CompletionItem] = []
    if _PARAM.search(before):
        names = re.findall(r"([\w.]+)\s*\(", before)
        params: tuple[str, ...] = ()
        for n in reversed(names):
            found = _signature(a, n, True)
            if found and found[0].event in EVENT_PARAMS:
                params = EVENT_PARAMS[found[0].event or ""]
                break
        for p in params or ALL_PARAMS:
            items.append(
                t.CompletionItem(
                    label="#" + p,
                    kind=t.CompletionItemKind.Field,
                    insert_text=p,
                    detail="event parameter",
                )
            )
    elif _VAR.search(before):
        for name, (ln, _) in sorted(variables(text).items()):
            items.append(
                t.CompletionItem(
                    label="$" + name,
                    kind=t.CompletionItemKind.Variable,
                    insert_text=name,
                    detail=f"set at line {ln + 1}",
                )
            )
    elif _AFTER_ARROW.search(before) or _SOURCE_LIST.match(before):
        for name in a.names("state"):
            items.append(
                t.CompletionItem(label=name, kind=t.CompletionItemKind.Class, detail="state")
            )
    else:
        conditions = _condition_context(before)
        for sig, module in _vocab(a, conditions):
            items.append(
                t.CompletionItem(
                    label=sig.name,
                    kind=t.CompletionItemKind.Event
                    if conditions
                    else t.CompletionItemKind.Function,
                    detail=call(sig) + (f" ({module})" if module else ""),
                    documentation=t.MarkupContent(
                        t.MarkupKind.Markdown, describe(sig, module, conditions)
                    ),
                )
            )
        if not conditions:
            for name in a.names("function"):
                items.append(
                    t.CompletionItem(
                        label=name,
                        kind=t.CompletionItemKind.Method,
                        insert_text=name + "()",
                        detail="function of this script",
                    )
                )
    return t.CompletionList(is_incomplete=False, items=items)


# -- hover ---------------------------------------------------------------------
def _word_at(text: str, line: int, col: int) -> tuple[str, int]:
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return "", col
    current = lines[line]
    start = col
    while start > 0 and (current[start - 1].isalnum() or current[start - 1] in "_.$#"):
        start -= 1
    end = col
    while end < len(current) and (current[end].isalnum() or current[end] in "_."):
        end += 1
    return current[start:end], start


def _elements(elements: Iterable[object]) -> str:
    names = [getattr(e, "name", type(e).__name__.lower()) for e in elements]
    return ", ".join(f"`{n}`" for n in names[:8]) + (" …" if len(names) > 8 else "") or "nothing"


def hover(a: Analysis, text: str, line: int, col: int) -> t.Hover | None:
    occ = a.at(a.path, line, col)
    word, start = _word_at(text, line, col)
    body = ""
    if occ is not None and occ.kind in ("action", "condition"):
        found = _signature(a, occ.name, occ.kind == "condition")
        if found:
            body = describe(found[0], found[1], occ.kind == "condition")
    elif (
        occ is not None
        and occ.kind in ("state", "state-ref")
        or (word and word in a.names("state"))
    ):
        name = occ.name if occ is not None else word
        st = a.chart.state(name) if a.chart is not None else None
        body = f"**state {name}**"
        if a.chart is not None and a.chart.initial == name:
            body += " (initial)"
        if st is not None:
            body += f"\n\nenter: {_elements(st.enter)}\n\nexit: {_elements(st.exit)}"
            body += f"\n\n{len(st.transitions)} transition(s) out"
    elif occ is not None and occ.kind in ("function", "call"):
        defs = a.named(occ.name, ("function",))
        calls = a.named(occ.name, ("call",))
        where = f" defined at line {defs[0].line + 1}" if defs else ""
        body = f"**function {occ.name}**{where}, called {len(calls)} time(s)"
    elif word in ("$errno", "$strerror"):
        body = (
            f"**{word}**: set by actions that can fail. `$errno` is one of "
            + ", ".join(f"`{w}`" for w in ERRNO_WORDS)
            + " or empty (no error); `$strerror` says what failed and is kept when"
            " `$errno` is cleared. `throwOnError` turns a set `$errno` into an exception."
        )
    elif word.startswith("$"):
        found_at = variables(text).get(word[1:])
        if found_at:
            body = f"**{word}** first set (or used) at line {found_at[0] + 1}"
    elif word.startswith("#"):
        events = [ev for ev, ps in EVENT_PARAMS.items() if word[1:] in ps]
        body = f"**{word}**: event parameter" + (
            f" of {', '.join(events)} events" if events else ""
        )
    if not body:
        return None
    return t.Hover(
        contents=t.MarkupContent(t.MarkupKind.Markdown, body),
        range=_range(line, start, len(word)) if word else None,
    )


# -- definition, references, rename --------------------------------------------
_INCLUDE = re.compile(r"^\s*#include\s+[\"']?([^\"'\r]+?)[\"']?\s*$")


def _target(a: Analysis, line: int, col: int) -> Occurrence | None:
    occ = a.at(a.path, line, col)
    if occ is None or occ.kind not in ("state", "state-ref", "function", "call"):
        return None
    return occ


def _family(kind: str) -> tuple[str, ...]:
    return ("state", "state-ref") if kind.startswith("state") else ("function", "call")


def _location(o: Occurrence) -> t.Location:
    return t.Location(uri=uri_of(o.path), range=_range(o.line, o.col, o.length))


def _included(a: Analysis, line_text: str, include_paths: Iterable[str]) -> str | None:
    """The file an ``#include`` line names (L-14: relative to the top script's folder)."""
    m = _INCLUDE.match(line_text)
    if not m:
        return None
    name = m.group(1)
    for base in [os.path.dirname(a.path), *include_paths]:
        for candidate in (os.path.join(base, name), os.path.join(base, name) + ".dsm"):
            if os.path.isfile(candidate):
                return os.path.abspath(candidate)
    return None


def definition(
    a: Analysis, text: str, line: int, col: int, include_paths: Iterable[str] = ()
) -> list[t.Location]:
    lines = text.split("\n")
    if 0 <= line < len(lines) and _INCLUDE.match(lines[line]):
        target = _included(a, lines[line], include_paths)
        return [t.Location(uri=uri_of(target), range=_range(0, 0, 0))] if target else []
    occ = _target(a, line, col)
    if occ is None:
        return []
    kind = "state" if occ.kind.startswith("state") else "function"
    return [_location(o) for o in a.named(occ.name, (kind,))]


def _include_references(
    a: Analysis, text: str, target: str, include_paths: Iterable[str]
) -> list[t.Location]:
    """Every ``#include`` line of the script and its includes that names ``target``."""
    out: list[t.Location] = []
    for path in a.files:
        if path == a.path:
            body = text
        else:
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                    body = fh.read()
            except OSError:
                continue
        for number, line_text in enumerate(body.split("\n")):
            if _included(a, line_text, include_paths) == target:
                start = len(line_text) - len(line_text.lstrip(" \t"))
                out.append(
                    t.Location(
                        uri=uri_of(path),
                        range=_range(number, start, len(line_text.rstrip()) - start),
                    )
                )
    return out


def references(
    a: Analysis,
    line: int,
    col: int,
    include_declaration: bool = True,
    text: str | None = None,
    include_paths: Iterable[str] = (),
) -> list[t.Location]:
    """A state's or function's declaration and uses; on an ``#include`` line, every line including that file."""
    if text is not None:
        lines = text.split("\n")
        if 0 <= line < len(lines) and _INCLUDE.match(lines[line]):
            target = _included(a, lines[line], include_paths)
            return _include_references(a, text, target, include_paths) if target else []
    occ = _target(a, line, col)
    if occ is None:
        return []
    kinds = _family(occ.kind)
    if not include_declaration:
        kinds = kinds[1:]
    return [_location(o) for o in a.named(occ.name, kinds)]


_NAME = re.compile(r"^[A-Za-z_][\w.]*$")


def rename(a: Analysis, line: int, col: int, new_name: str) -> t.WorkspaceEdit | None:
    occ = _target(a, line, col)
    if occ is None or not _NAME.match(new_name):
        return None
    changes: dict[str, list[t.TextEdit]] = {}
    for o in a.named(occ.name, _family(occ.kind)):
        changes.setdefault(uri_of(o.path), []).append(
            t.TextEdit(range=_range(o.line, o.col, o.length), new_text=new_name)
        )
    return t.WorkspaceEdit(changes=changes)


# -- outline, folding ----------------------------------------------------------
def document_symbols(a: Analysis) -> list[t.DocumentSymbol]:
    kinds = {
        "state": t.SymbolKind.Class,
        "transition": t.SymbolKind.Event,
        "function": t.SymbolKind.Function,
    }
    out: list[t.DocumentSymbol] = []
    for s in sorted(a.spans, key=lambda s: s.start):
        if s.path != a.path or not s.name:
            continue
        rng = t.Range(t.Position(*s.start), t.Position(*s.end))
        if (s.end[0], s.end[1]) < s.start:
            rng = t.Range(t.Position(*s.start), t.Position(*s.start))
        sel = rng
        for o in a.occurrences:
            if (
                o.path == a.path
                and o.name == s.name
                and o.kind == s.kind
                and (o.line, o.col) >= s.start
            ):
                sel = _range(o.line, o.col, o.length)
                break
        out.append(
            t.DocumentSymbol(
                name=s.name,
                kind=kinds[s.kind],
                range=rng,
                selection_range=sel,
                detail=s.detail or s.kind,
            )
        )
    return out


def folding_ranges(a: Analysis) -> list[t.FoldingRange]:
    return [
        t.FoldingRange(start_line=s.start[0], end_line=s.end[0])
        for s in a.spans
        if s.path == a.path and s.end[0] > s.start[0]
    ]


# -- semantic tokens -----------------------------------------------------------
_KEYWORDS = re.compile(
    r"\b(state|transition|initial|function|enter|exit|if|else|for|not|exception|import)\b"
)
_LEX = re.compile(r"\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?|\$[\w.]+|#\w+")


def semantic_tokens(a: Analysis, text: str) -> list[int]:
    """The relative-encoded token data of LSP for the whole file."""
    toks: list[tuple[int, int, int, int]] = []  # line, col, length, type
    for number, line in enumerate(text.split("\n")):
        stripped = line.lstrip(" \t")
        indent = len(line) - len(stripped)
        if stripped.startswith("--") or (
            stripped.startswith("#") and not stripped.startswith("#include")
        ):
            toks.append((number, indent, len(stripped.rstrip("\r")), _TYPE["comment"]))
            continue
        if stripped.startswith("#include"):
            toks.append((number, indent, 8, _TYPE["macro"]))
            continue
        masked = list(line)
        for m in _LEX.finditer(line):
            kind = (
                "variable"
                if m.group().startswith("$")
                else "parameter"
                if m.group().startswith("#")
                else "string"
            )
            toks.append((number, m.start(), m.end() - m.start(), _TYPE[kind]))
            masked[m.start() : m.end()] = " " * (m.end() - m.start())
        for m in _KEYWORDS.finditer("".join(masked)):
            toks.append((number, m.start(), m.end() - m.start(), _TYPE["keyword"]))
    lexical = len(toks)
    kind_of = {
        "state": "class",
        "state-ref": "class",
        "function": "function",
        "call": "function",
        "action": "function",
        "condition": "event",
    }
    for o in a.occurrences:
        if o.path == a.path and o.kind in kind_of:
            toks.append((o.line, o.col, o.length, _TYPE[kind_of[o.kind]]))
    # What the reader found wins over the lexical guess at the same place (a state named `exit`).
    order = sorted(
        range(len(toks)), key=lambda i: (toks[i][0], toks[i][1], -toks[i][2], i < lexical)
    )
    toks = [toks[i] for i in order]
    data: list[int] = []
    last_line = last_col = 0
    end = (-1, -1)
    for ln, col, length, ttype in toks:
        if length <= 0 or (ln, col) < end:
            continue
        delta_line = ln - last_line
        delta_col = col - last_col if delta_line == 0 else col
        data.extend((delta_line, delta_col, length, ttype, 0))
        last_line, last_col = ln, col
        end = (ln, col + length)
    return data
