"""What the tokens of a script build: frames, lookups, diagnostics (``language.md`` section 4).

The grammar (``grammar/dsm.lark``, driven by :mod:`dsm.reader`) decides what
each token means where it stands; this module holds what that meaning does.
The reference reader keeps a stack of open constructs ("frames"); the
semantic actions keep the same frames, because several results depend on
them beyond the grammar's structure: a state is added when its ``;`` is
read, ``initial`` marks the state completed right above it, ``else``
reopens the last ``if`` of the list, a function's body is inlined as it is
at the call (L-68), and what is still open at the end is reported where it
was opened.

REFERENCE QUIRKS reproduced here or in the grammar (each has a test named
after its rule): every token longer than six characters starting with
``import`` is an import (L-33); every action token starting with ``for`` is
a loop header, so ``format(…)`` fails (L-61); a FUNCTION frame is never
popped, so a stray top-level ``{ … }`` replaces the last function's body
(L-64, L-65); ``else if`` needs an extra ``}`` (L-59); a second ``else``
replaces the first (L-59); transitions attach to the first state of a name
(L-43, L-45); quotes are not removed inside a source list (L-45).

Compile errors (L-90) are recorded and reading goes on with the next token,
so one run reports several errors.  Logged errors of the reference (L-92)
are recorded as warnings.  The result is a :class:`ParseResult`;
:mod:`dsm.compiler` freezes it into a chart.
"""

from __future__ import annotations

import difflib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from dsm.chart import Action, Condition, Element, For, If, Loc, Transition
from dsm.diagnostics import Diagnostic
from dsm.fastbuild import constructor
from dsm.source import SourceText
from dsm.styles import QuickSplit, Split, quick_splitter, splitter
from dsm.tokenizer import open_span
from dsm.vocabulary import (
    CORE_ACTIONS,
    CORE_CONDITIONS,
    ModuleNotFound,
    Signature,
    Vocabulary,
    read_module,
)

__all__ = ["ParseResult", "StateRecord", "FunctionRecord", "Semantics"]

# Frame kinds (L-31).
FUNCTION, INITIAL, STATE, TRANSITION, CONDITIONS, ACTIONS, IF, FOR = range(8)
# Action list kinds.
A_ENTER, A_EXIT, A_TRANSITION, A_THEN, A_ELSE, A_FUNCTION, A_FOR = range(7)
_LIST_NAMES = ("enter", "exit", "transition", "then", "else", "function", "for")
_FRAME_NAMES = (
    "function",
    "initial",
    "state",
    "transition",
    "condition list",
    "action list",
    "if",
    "for",
)

# Warning codes for the logged errors of argument splitting, by style.
_STYLE_CODES = {
    "P,opt": "W001",
    "P,mand": "W001",
    "P=opt": "W001",
    "P=mand": "W001",
    "T": "W002",
    "L": "W005",
}

# Fast constructors for the chart nodes built per token (see dsm.fastbuild).
_tuple_new = tuple.__new__  # builds a Loc in C: _tuple_new(Loc, (path, line, column))
_new_action = constructor(Action)
_new_condition = constructor(Condition)
_new_transition = constructor(Transition)
_new_if = constructor(If)
_new_for = constructor(For)

_STYLES = ("N", "S", "P,opt", "P,mand", "P=opt", "P=mand", "L", "T", "K", "raw")
_SPLITTERS = {style: splitter(style) for style in _STYLES}
# Parts without the list of logged errors; ``None`` sends a token to the full split.
_QUICK: dict[str, QuickSplit] = {style: quick_splitter(style) for style in _STYLES}


class _Frame:
    __slots__ = ("kind", "offset")

    def __init__(self, kind: int, offset: int) -> None:
        self.kind = kind
        self.offset = offset


class _Function(_Frame):
    __slots__ = ("name", "body", "registered")

    def __init__(self, offset: int) -> None:
        self.kind = FUNCTION
        self.offset = offset
        self.name: str | None = None
        self.body: tuple[Element, ...] = ()
        self.registered = False


class _State(_Frame):
    __slots__ = ("name", "name_offset", "enter", "exit")

    def __init__(self, offset: int) -> None:
        self.kind = STATE
        self.offset = offset
        self.name: str | None = None
        self.name_offset = offset
        self.enter: tuple[Element, ...] = ()
        self.exit: tuple[Element, ...] = ()


class _Transition(_Frame):
    __slots__ = ("name", "source", "source_offset", "target", "conditions", "exception", "actions")

    def __init__(self, offset: int) -> None:
        self.kind = TRANSITION
        self.offset = offset
        self.name: str | None = None
        self.source: str | None = None
        self.source_offset = offset
        self.target: str | None = None
        self.conditions: tuple[Condition, ...] = ()
        self.exception = False
        self.actions: tuple[Element, ...] = ()


class _Conditions(_Frame):
    __slots__ = ("is_if", "items", "invert_next", "exception")

    def __init__(self, offset: int, is_if: bool) -> None:
        self.kind = CONDITIONS
        self.offset = offset
        self.is_if = is_if
        self.items: list[Condition] = []
        self.invert_next = False
        self.exception = False


class _Actions(_Frame):
    __slots__ = ("list_kind", "items")

    def __init__(self, offset: int, list_kind: int) -> None:
        self.kind = ACTIONS
        self.offset = offset
        self.list_kind = list_kind
        self.items: list[Element] = []


class _If(_Frame):
    __slots__ = ("conditions", "exception", "then", "orelse", "loc")

    def __init__(self, offset: int) -> None:
        self.kind = IF
        self.offset = offset
        self.loc: Loc | None = None  # kept when `else` reopens a finished block
        self.conditions: tuple[Condition, ...] = ()
        self.exception = False
        self.then: tuple[Element, ...] = ()
        self.orelse: tuple[Element, ...] = ()


class _For(_Frame):
    __slots__ = ("parsed", "valid", "kind_", "counter", "value", "collection", "lower", "upper")

    def __init__(self, offset: int) -> None:
        self.kind = FOR
        self.offset = offset
        self.parsed = False
        self.valid = False
        self.kind_ = "array"
        self.counter = ""
        self.value = ""
        self.collection = ""
        self.lower = ""
        self.upper = ""


@dataclass(slots=True)
class StateRecord:
    """A completed state; transitions are attached later, to the first of a name (L-43)."""

    name: str
    enter: tuple[Element, ...]
    exit: tuple[Element, ...]
    loc: Loc
    transitions: list[Transition] = field(default_factory=list)


@dataclass(slots=True)
class FunctionRecord:
    name: str
    loc: Loc
    calls: int = 0


@dataclass(slots=True)
class ParseResult:
    states: list[StateRecord]
    initial: str | None
    imports: list[str]
    functions: list[FunctionRecord]
    diagnostics: list[Diagnostic]
    condition_events: dict[tuple[str, str], str | None]
    """Event type filter of every condition name used, keyed by (module, name)."""
    import_locs: list[Loc] = field(default_factory=list)
    """Where each entry of ``imports`` was written (for the runtime's load errors)."""


def show(token: str, limit: int = 60) -> str:
    """A token as shown inside a message: line breaks escaped, long text shortened."""
    text = token.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_for_header(header: str) -> tuple[str, str, str, str, str, str] | None:
    """L-60: ``(kind, counter, value, collection, lower, upper)`` or ``None`` if invalid."""
    if len(header) < 2 or header[0] != "(" or header[-1] != ")":
        return None
    pieces = [p for p in header[1:-1].split(" in ") if p]
    if len(pieces) != 2:
        return None
    left, right = pieces
    names = [p for p in left.split(",") if p]
    if len(names) == 2:
        return ("struct", names[0], names[1], right, "", "")
    if len(right) > 7 and right.startswith("range(") and right.endswith(")"):
        bounds = [p for p in right[6:-1].split(",") if p]
        if len(bounds) == 2:
            return ("range", left, "", "", bounds[0].strip(" "), bounds[1].strip(" "))
        return ("range", left, "", "", "0", right[6:-1].strip(" "))
    return ("array", left, "", right, "", "")


def split_sources(source: str) -> list[str]:
    """L-45: the source state names of a transition's source text."""
    if "(" not in source:
        return [source]
    s = source[1:] if source.startswith("(") else source
    if s.endswith(")"):
        s = s[:-1]
    out: list[str] = []
    for piece in s.split(","):
        if not piece:
            continue
        if piece[:1] == " ":
            piece = piece[1:]
        if piece[-1:] == " ":
            piece = piece[:-1]
        out.append(piece)
    return out


def name_and_argument(token: str) -> tuple[str, str]:
    """L-75: name before the first ``(``; argument text up to the last ``)`` after it."""
    i = token.find("(")
    if i < 0:
        return token, ""
    j = token.rfind(")")
    if j <= i:
        return token[:i], token[i + 1 :]
    return token[:i], token[i + 1 : j]


class Semantics:
    """The frames and results of reading one compilation unit (see :class:`dsm.reader.Reader`)."""

    def __init__(
        self,
        source: SourceText,
        values: list[str],
        offsets: list[int],
        *,
        module_path: Sequence[str] = (),
        syntax_only: bool = False,
    ) -> None:
        self.src = source
        self.values = values
        self.offsets = offsets
        self.module_path = tuple(module_path)
        self.syntax_only = syntax_only
        self.stack: list[_Frame] = []
        self.states: list[StateRecord] = []
        self.by_name: dict[str, StateRecord] = {}
        self.initial: str | None = None
        self.imports: list[str] = []
        self.import_locs: list[Loc] = []
        self.modules: list[tuple[str, Vocabulary]] = []
        self.functions: dict[str, _Function] = {}
        self.function_records: dict[str, FunctionRecord] = {}
        self.diagnostics: list[Diagnostic] = []
        self.condition_events: dict[tuple[str, str], str | None] = {}
        self._starts = source.starts
        self._followers: dict[_Frame, int] = {}
        self._last_error = -1  # offset of the last error reported, for `finish`
        self._origins = source.origins

    # -- positions and diagnostics --------------------------------------
    def loc(self, offset: int) -> Loc:
        """The position of a chart-text offset.

        Offsets of tokens always lie on a kept line (the first kept line
        starts at 0), which the inline copies in ``make_action`` and
        ``make_condition`` rely on.
        """
        starts = self._starts
        i = bisect_right(starts, offset) - 1
        if i < 0:
            return _tuple_new(Loc, (self.src.default_path, 1, offset + 1))
        o = self._origins[i]
        return _tuple_new(Loc, (o[0], o[1], offset - starts[i] + 1))

    def report(
        self, severity: str, code: str, offset: int, message: str, hint: str = "", length: int = 1
    ) -> None:
        path, line, column, text = self.src.locate(offset)
        if severity == "error" and offset > self._last_error:
            self._last_error = offset
        self.diagnostics.append(
            Diagnostic(
                path,
                line,
                column,
                "error" if severity == "error" else "warning",
                code,
                message,
                hint,
                text,
                length,
            )
        )

    def error(self, code: str, offset: int, message: str, hint: str = "", token: str = "") -> None:
        self.report("error", code, offset, message, hint, max(1, len(token)))

    def warning(
        self, code: str, offset: int, message: str, hint: str = "", token: str = ""
    ) -> None:
        self.report("warning", code, offset, message, hint, max(1, len(token)))

    # -- vocabulary -------------------------------------------------------
    def _known_names(self, conditions: bool) -> list[str]:
        names = list(CORE_CONDITIONS if conditions else CORE_ACTIONS)
        for _, vocab in self.modules:
            table = getattr(vocab, "conditions" if conditions else "actions", None)
            if isinstance(table, dict):
                names.extend(str(k) for k in table)
        if not conditions:
            names.extend(self.functions)
        return names

    def _suggest(self, name: str, conditions: bool) -> str:
        matches = difflib.get_close_matches(name, self._known_names(conditions), n=3, cutoff=0.6)
        if matches:
            return "did you mean " + " or ".join(f"`{m}`" for m in matches) + "?"
        return ""

    def _lookup(self, name: str, conditions: bool) -> tuple[str, Signature | None]:
        if not self.modules:
            return "", (CORE_CONDITIONS if conditions else CORE_ACTIONS).get(name)
        for mname, vocab in self.modules:
            try:
                sig = (
                    vocab.condition_signature(name) if conditions else vocab.action_signature(name)
                )
            except Exception:  # a broken module must not crash the compile
                sig = None
            if sig is not None:
                return mname, sig
        table = CORE_CONDITIONS if conditions else CORE_ACTIONS
        return "", table.get(name)

    def _split(
        self, sig: Signature | None, argument: str, offset: int, token: str
    ) -> tuple[str, ...]:
        """Pre-split the argument text by the signature's style (L-82); problems become warnings."""
        if sig is None:
            return (argument,)
        custom = sig.split
        if custom is None:
            parts, problems = _SPLITTERS[sig.style](argument)
        else:
            try:
                result: Split = custom(argument)
                parts, problems = result
                parts = tuple(str(p) for p in parts)
                problems = [str(p) for p in problems]
            except Exception as exc:  # a module's own split function failed
                self.warning(
                    "W015", offset, f"argument splitter of `{sig.name}` failed: {exc}", token=token
                )
                return (argument,)
        if problems:
            code = _STYLE_CODES.get(sig.style, "W015") if custom is None else "W015"
            for problem in problems:
                self.warning(code, offset, f"`{sig.name}`: {problem}", token=token)
        return parts

    def make_action(self, token: str, offset: int) -> Action | None:
        """An action token (L-75, L-80); ``None`` (and an error) for an unknown name."""
        name, _, rest = token.partition("(")  # name_and_argument, inline: runs for every action
        j = rest.rfind(")")
        argument = rest if j < 0 else rest[:j]
        if self.modules:
            module, sig = self._lookup(name, False)
        else:
            module = ""
            sig = CORE_ACTIONS.get(name)
        if sig is not None and sig.split is None:
            parts = _QUICK[sig.style](argument)
            if parts is not None:
                starts = self._starts  # self.loc(offset), inline
                k = bisect_right(starts, offset) - 1
                o = self._origins[k]
                loc = _tuple_new(Loc, (o[0], o[1], offset - starts[k] + 1))
                return _new_action(name, module, parts, token, loc)
        if sig is None and not self.syntax_only:
            hint = self._suggest(name, False)
            if not name and token.startswith("("):
                hint = "a blank between an action name and `(` splits the token"
            elif token.startswith("--"):
                hint = "`--` starts a comment only at the beginning of a line"
            self.error("E014", offset, f"unknown action `{show(name)}`", hint, token)
            return None
        return _new_action(
            name, module, self._split(sig, argument, offset, token), token, self.loc(offset)
        )

    def make_condition(self, token: str, offset: int, invert: bool) -> Condition | None:
        """A condition token (L-75, L-81); ``None`` (and an error) for an unknown name."""
        name, _, rest = token.partition("(")  # name_and_argument, inline: runs for every condition
        j = rest.rfind(")")
        argument = rest if j < 0 else rest[:j]
        if self.modules:
            module, sig = self._lookup(name, True)
        else:
            module = ""
            sig = CORE_CONDITIONS.get(name)
        if sig is not None and sig.split is None:
            parts = _QUICK[sig.style](argument)
            if parts is not None:
                self.condition_events[(module, name)] = sig.event
                starts = self._starts  # self.loc(offset), inline
                k = bisect_right(starts, offset) - 1
                o = self._origins[k]
                loc = _tuple_new(Loc, (o[0], o[1], offset - starts[k] + 1))
                return _new_condition(name, module, parts, invert, token, loc)
        if sig is None and not self.syntax_only:
            self.error(
                "E015",
                offset,
                f"unknown condition `{show(name)}`",
                self._suggest(name, True),
                token,
            )
            return None
        self.condition_events[(module, name)] = None if sig is None else sig.event
        return _new_condition(
            name, module, self._split(sig, argument, offset, token), invert, token, self.loc(offset)
        )

    def do_import(self, token: str, offset: int) -> None:
        """L-33, L-73: load a module; its names are visible to the tokens after it."""
        i = token.find("(")
        if i < 0:
            name = ""
        else:
            j = token.rfind(")")
            name = token[i + 1 : j] if j > i else token[i + 1 :]
        quirk = (
            ""
            if token.startswith("import(")
            else (
                "every token longer than six characters that starts with `import` is a module import"
            )
        )
        if not name:
            self.error("E004", offset, f"empty module name in `{show(token)}`", quirk, token)
            return
        try:
            # Names are read from the module's source, never imported:
            # compiling runs no module code (dsm.vocabulary.read_module).
            vocab = read_module(name, self.module_path)
        except ModuleNotFound as exc:
            self.error("E005", offset, f"cannot import module `{show(name)}`: {exc}", quirk, token)
            return
        except Exception as exc:  # defensive: a module that crashes while loading
            self.error("E005", offset, f"cannot import module `{show(name)}`: {exc}", quirk, token)
            return
        # Every import is an instance of its own (M-api-2: hooks run per import);
        # name lookups need each module once, in first-import order (L-80).
        if name not in self.imports:
            self.modules.append((name, vocab))
        self.imports.append(name)
        self.import_locs.append(self.loc(offset))

    # -- completion of constructs ----------------------------------------
    def add_state(self, frame: _State, initial: bool) -> None:
        name = frame.name if frame.name is not None else ""
        rec = StateRecord(name, frame.enter, frame.exit, self.loc(frame.name_offset))
        self.states.append(rec)
        first = self.by_name.setdefault(name, rec)
        if first is not rec:
            where = f"line {first.loc.line}"
            if first.loc.path != rec.loc.path:
                where = f"{first.loc.path}:{first.loc.line}"
            self.warning(
                "W016",
                frame.name_offset,
                f"state `{show(name)}` is already declared at {where}; this second definition is ignored",
                "transitions attach to the first state of a name; rename or remove one of them",
                name,
            )
        if initial:
            if self.initial is None:
                self.initial = name
            else:
                self.warning(
                    "W003",
                    frame.offset,
                    f"second initial state `{name}`; `{self.initial}` stays the initial state",
                    token="initial",
                )

    def complete_transition(self, frame: _Transition) -> None:
        source = frame.source or ""
        attach: list[StateRecord] = []
        for sname in split_sources(source) if "(" in source else (source,):
            rec = self.by_name.get(sname)
            if rec is None:
                self.error(
                    "E016",
                    frame.source_offset,
                    f"transition `{show(frame.name or '')}`: source state `{show(sname)}` is not defined before this transition",
                    self._undefined_state_hint(sname),
                    source,
                )
                continue
            attach.append(rec)
        loc = self.loc(frame.offset)
        for rec in attach:
            rec.transitions.append(
                _new_transition(
                    frame.name or "",
                    rec.name,
                    frame.target,
                    frame.conditions,
                    frame.exception,
                    frame.actions,
                    loc,
                )
            )

    def _undefined_state_hint(self, name: str) -> str:
        for f in self.stack:
            if isinstance(f, _State) and f.name == name:
                line = self.loc(f.offset).line
                return (
                    f"state `{name}` opened at line {line} is not complete yet: "
                    "a state exists only after its terminating `;` (L-41, L-72)"
                )
        if name != name.strip(" ") or name.startswith('"') or name.startswith("'"):
            return "inside a source list only one blank each side is removed and quotes stay"
        unique = list(self.by_name)
        declared = ", ".join(f"`{s}`" for s in unique[:12]) or "none"
        close = difflib.get_close_matches(name, unique, n=1)
        if close:
            return f"did you mean `{close[0]}`? declared states so far: {declared}"
        return f"declared states so far: {declared}"

    def close_actions(self, frame: _Actions, offset: int, token: str) -> None:
        """L-50: pop an action list and hand it to the frame below."""
        stack = self.stack
        stack.pop()
        items = tuple(frame.items)
        kind = frame.list_kind
        if not stack:
            self.error(
                "E010",
                offset,
                f"`{show(token)}` closes an {_LIST_NAMES[kind]} action list that belongs to nothing",
                token=token,
            )
            return
        below = stack[-1]
        # The cases exclude each other (one list kind each); commonest first.
        if kind == A_TRANSITION and isinstance(below, _Transition):
            below.actions = items
        elif kind == A_ENTER and isinstance(below, _State):
            below.enter = items
        elif kind == A_EXIT and isinstance(below, _State):
            below.exit = items
        elif kind == A_FUNCTION and isinstance(below, _Function):
            below.body = items
        elif (kind in (A_THEN, A_ELSE)) and isinstance(below, _If):
            if kind == A_THEN:
                below.then = items
            else:
                below.orelse = items
            stack.pop()
            self.append_element(
                _new_if(below.conditions, below.then, below.orelse, self._if_loc(below)),
                offset,
                token,
            )
        elif kind == A_FOR and isinstance(below, _For):
            stack.pop()
            if below.valid:
                element = _new_for(
                    below.kind_,  # type: ignore[arg-type]
                    below.counter,
                    below.value,
                    below.collection,
                    below.lower,
                    below.upper,
                    items,
                    self.loc(below.offset),
                )
                self.append_element(element, offset, token)
        else:
            hint = ""
            if kind == A_TRANSITION and isinstance(below, _If):
                hint = "`if cond / …` is not usable: write `if cond { … }`"
            self.error(
                "E010",
                offset,
                f"`{token}` closes a {_LIST_NAMES[kind]} action list, but the enclosing construct is a {_FRAME_NAMES[below.kind]}",
                hint,
                token,
            )

    def append_element(self, element: Element, offset: int, token: str) -> None:
        top = self.stack[-1] if self.stack else None
        if isinstance(top, _Actions):
            top.items.append(element)
        else:
            self.error(
                "E010", offset, "an if or for block ended outside an action list", token=token
            )

    def no_context(self, tok: str, off: int) -> None:
        """L-38: a token other than `;` while the stack is empty."""
        hint = "statements start with `state`, `transition`, `function`, `initial` or `import(…)`"
        if tok.startswith("--"):
            hint += "; `--` starts a comment only at the beginning of a line"
        self.error("E006", off, f"`{show(tok)}` outside any statement (no context)", hint, tok)

    def on_else(self, frame: _Actions, off: int) -> None:
        """L-58: reopen the IF block that is the last element of the list."""
        last = frame.items[-1] if frame.items else None
        if not isinstance(last, If):
            self.error(
                "E012",
                off,
                "`else` does not follow an if block"
                if frame.items
                else "`else` at the start of an action list",
                "`else` must come right after the `}` of an `if … { … }` block",
                "else",
            )
            # Carry on as if it were an else of an empty if, so the branch's `}` pairs up.
            last = _new_if((), (), (), self.loc(off))
        else:
            frame.items.pop()
        reopened = _If(off)
        reopened.conditions = last.conditions
        reopened.then = last.then
        reopened.orelse = last.orelse
        reopened.loc = last.loc
        self.stack.append(reopened)
        self.stack.append(_Actions(off, A_ELSE))

    def parse_header(self, loop: _For, header: str, off: int, token: str) -> None:
        loop.parsed = True
        parsed = parse_for_header(header)
        if parsed is None:
            hint = "a loop header looks like `($x in $array)`, `($k, $v in $struct)` or `($i in range(1, 5))`"
            if token.startswith("for") and len(token) > 3 and token[3] != "(":
                hint = f"every action name starting with `for` is taken for a `for` loop, so `{token}` cannot be used"
            self.error("E013", off, f"invalid for header `{show(header)}`", hint, token)
            return
        loop.valid = True
        loop.kind_, loop.counter, loop.value, loop.collection, loop.lower, loop.upper = parsed

    def _if_loc(self, frame: _If) -> Loc:
        return frame.loc or self.loc(frame.offset)

    # -- end of input ------------------------------------------------------
    def finish(self) -> None:
        """End of input: whatever is still open is an error here (L-71, section 0).

        The reference drops such constructs silently, so a forgotten `;` or
        `)` loses the rest of a script without a word.  Each open construct
        is reported where it was opened; an argument list or quoted text that
        runs to the end (L-26, L-27) is reported at its `(` or quote.
        """
        span = open_span(self.src.text, self.offsets)
        if span is not None:
            off, opener = span
            if opener == "(":
                message = "`(` is never closed: the argument list runs to the end of the input"
                hint = "add the missing `)`; everything after the `(` was read as part of this one token"
            else:
                message = (
                    f"quote {opener} is never closed: the quoted text runs to the end of the input"
                )
                hint = f"add the closing {opener} or write this one as \\{opener}; everything after it was read as part of this one token"
            self.error("E017", off, message, hint)
        # An error inside a construct usually is why it never closed (an
        # invalid `for` header, an unknown action); it already says so.
        last_error = self._last_error
        reported = False
        for f in self.stack:
            if isinstance(f, _Function) and f.registered:
                continue
            if f.kind == INITIAL and f is not self.stack[-1]:
                continue  # the state above it is reported
            if last_error >= f.offset:
                reported = True
                continue
            if f.kind in (STATE, TRANSITION, FUNCTION, INITIAL):
                self._unfinished_statement(f)
                reported = True
            elif not reported:
                self.error(
                    "E018",
                    f.offset,
                    f"{_FRAME_NAMES[f.kind]} opened here is not closed at the end of the input",
                    "close it (`}`, `]` or `;`); the reference drops it silently",
                    self.values[self._index_of(f.offset)],
                )
                reported = True

    def _index_of(self, offset: int) -> int:
        i = bisect_right(self.offsets, offset) - 1
        return max(i, 0)

    def _unfinished_statement(self, f: _Frame) -> None:
        keyword = {STATE: "state", TRANSITION: "transition", FUNCTION: "function"}.get(
            f.kind, "initial"
        )
        name = getattr(f, "name", None)
        what = f"{keyword} `{show(name)}`" if name else f"`{keyword}`"
        follower = self._followers.get(f)
        if follower is not None:
            loc = self.loc(follower)
            nxt = self.values[self._index_of(follower)]
            hint = (
                f"a `;` is probably missing before the `{nxt}` at line {loc.line}, "
                f"column {loc.column}, where the next statement starts"
            )
        else:
            hint = "a state, transition or function definition ends with `;`"
        self.error(
            "E018",
            f.offset,
            f"{what} is not finished at the end of the input (no terminating `;`)",
            hint + "; the reference drops it silently",
            keyword,
        )
