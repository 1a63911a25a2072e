"""The grammar-driven reader: tokens -> states, transitions, functions.

``grammar/dsm.lark`` says, as an LALR grammar, what every token means in
every construct (section 4 of ``language.md``).  Lark builds the parse table
from it once per process; this module drives that table with a small loop of
its own (Lark's general ``ParserState`` costs about five times as much per
token, which matters on the compile path) and runs a semantic action when a
rule whose name starts with ``x_`` is reduced.  The actions keep the frames
of section 4 (a state being read, an action list, ...); what they build and
report is in :mod:`dsm.parser` (action and condition lookup, argument
splitting, diagnostics).

``import(...)`` tokens act wherever they occur (L-33) and never reach the
parser: they are handled while the tokens are classified, and a name is
looked up only in the modules imported before its token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dsm.diagnostics import Diagnostic
from dsm.lexclasses import grammar_text
from dsm.parser import (
    A_ENTER,
    A_EXIT,
    A_FOR,
    A_FUNCTION,
    A_THEN,
    A_TRANSITION,
    FUNCTION,
    INITIAL,
    STATE,
    TRANSITION,
    FunctionRecord,
    ParseResult,
    Semantics,
    _Actions,
    _Conditions,
    _For,
    _Frame,
    _Function,
    _If,
    _new_if,
    _State,
    _Transition,
    show,
)
from dsm.source import SourceText
from dsm.vocabulary import Signature, Vocabulary

__all__ = ["classify", "read", "strict_findings"]

_FIXED = {
    "state": "KW_STATE",
    "transition": "KW_TRANSITION",
    "initial": "KW_INITIAL",
    "function": "KW_FUNCTION",
    ";": "SEMI",
    "{": "LBRACE",
    "}": "RBRACE",
    "[": "LBRACK",
    "]": "RBRACK",
    "->": "ARROW",
    "-->": "LARROW",
    "-": "DASH",
    "/": "SLASH",
    "-/": "DSLASH",
    "not": "NOT",
    "exception": "EXCEPTION",
    "enter": "ENTER",
    "exit": "EXIT",
    "if": "IF",
    "else": "ELSE",
    "for": "FOR",
}


# What a well-formed script has where a leniency was used (W013 messages).
_EXPECTED = {
    "stray": "a statement: `state`, `transition`, `function`, `initial` or `import(…)`",
    "nested": "the end of the construct before it",
    "name": "a name",
    "state_word": "`enter`, `exit` or `;`",
    "initial": "`state`",
    "condition": "a condition, `not`, `exception` or the end of the conditions",
    "action": "an action, `if`, `else`, `for` or `}`",
    "if": "`{`",
    "if_bracket": "a condition, `not` or `exception`",
    "for": "`{`",
    "function": "`{` or `;`",
    "close": "`}`",
    "import": "a statement or an action",
    "phase0": "`-`, `/`, `-/`, `->`, `-->` or the target state",
    "phase1": "the end of the conditions",
    "phase2": "`/`, `->` or the target state",
    "phase3": "the end of the actions",
    "phase4": "the target state",
    "phase5": "`->`, `-->` or the target state",
    "phase6": "a word or `;`",
}

# The terminals of a word (section 5's `word`).
_WORDS = frozenset({"WORD", "PWORD", "FORX", "FORP"})

# Token value -> terminal, filled as tokens are met (names repeat a lot).
_KINDS: dict[str, str] = dict(_FIXED)


def classify(token: str) -> str:
    """The grammar terminal of a token (``IMPORT`` never reaches the parser)."""
    fixed = _FIXED.get(token)
    if fixed is not None:
        return fixed
    if token[0] == "i" and len(token) > 6 and token.startswith("import"):
        return "IMPORT"  # L-33
    if token[0] == "f" and token.startswith("for"):
        return "FORP" if "(" in token else "FORX"  # L-61
    return "PWORD" if "(" in token else "WORD"


_CACHE_FORMAT = 2


def _lark_table() -> dict[str, Any]:
    """The LALR table Lark builds from ``dsm.lark``, as plain JSON-able data.

    ``rows[state][symbol]`` is the next state (an int) for a shift or a goto,
    or ``["r", rule]`` for a reduction; ``rules[rule]`` is ``[length,
    nonterminal, is a list append, alias]`` (``lenient_…`` marks a leniency).
    """
    from lark import Lark
    from lark.lexer import Lexer
    from lark.parsers.lalr_analysis import Shift

    class _NoLexer(Lexer):  # tokens come from dsm.tokenizer
        def __init__(self, conf: Any) -> None:
            pass

        def lex(self, data: Any) -> Any:  # type: ignore[override]  # pragma: no cover
            raise NotImplementedError

    lark = Lark(grammar_text(), parser="lalr", lexer=_NoLexer, start="script")
    table = lark.parser.parser.parser.parse_table
    rule_ids: dict[Any, int] = {}
    rules: list[list[Any]] = []
    rows: dict[str, dict[str, Any]] = {}
    for state, row in table.states.items():
        out: dict[str, Any] = {}
        for symbol, (kind, arg) in row.items():
            if kind is Shift:
                out[symbol] = arg
                continue
            n = rule_ids.get(arg)
            if n is None:
                n = rule_ids[arg] = len(rules)
                name = arg.origin.name
                name = name.value if hasattr(name, "value") else str(name)
                first = arg.expansion[0].name if arg.expansion else None
                append = len(arg.expansion) == 2 and first == name
                rules.append([len(arg.expansion), name, append, arg.alias or ""])
            out[symbol] = ["r", n]
        rows[str(state)] = out
    return {"start": table.start_states["script"], "rules": rules, "rows": rows}


def _cached_lark_table() -> dict[str, Any]:
    """:func:`_lark_table`, kept as JSON in the user's cache folder between processes.

    Building the table takes Lark about 0.2 s; reading it back a few
    milliseconds, without importing Lark.  The file name carries a hash of
    the grammar text, so an edited grammar is never read from a stale file
    (a table is a complete automaton for its grammar, whatever Lark version
    built it); a cache that cannot be read or written is simply not used.  (JSON, not
    pickle: a cache file is data and cannot run code.)
    """
    import hashlib
    import json
    import os

    key = hashlib.sha256(
        f"{_CACHE_FORMAT}\0{grammar_text()}".encode("utf-8", "surrogateescape")
    ).hexdigest()[:24]
    folder = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(folder, "dsm", f"grammar-{key}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        if isinstance(data, dict) and {"start", "rules", "rows"} <= data.keys():
            return data
    except (OSError, ValueError):
        pass
    data = _lark_table()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass
    return data


def _action(cls: type[Reader], name: str, alias: str) -> Callable[[Any, int], Any] | None:
    """The semantic action of a rule: its ``x_`` method, and (strict) a leniency's report."""
    method = getattr(cls, name, None) if name.startswith("x_") else None
    if not (cls.strict and alias.startswith("lenient_")):
        return method
    what = alias.removeprefix("lenient_")
    if method is None:

        def lenient(reader: Any, i: int) -> None:
            reader.lenient(what, i)

        return lenient

    def lenient_action(reader: Any, i: int) -> Any:
        reader.lenient(what, i)
        return method(reader, i)

    return lenient_action


class Table:
    """The LALR table of ``dsm.lark`` ready for :meth:`Reader.run`, built once per process.

    ``rows[state][symbol]`` is the next state (an int) for a shift or a
    goto, ``(length, nonterminal, semantic action or None)`` for a
    reduction, or a folded entry (see :meth:`_fold`).
    """

    def __init__(self, data: dict[str, Any], cls: type[Reader]) -> None:
        reductions = [(n, name, _action(cls, name, alias)) for n, name, _, alias in data["rules"]]
        self.appends: set[int] = {
            id(reductions[i]) for i, (_, _, append, _) in enumerate(data["rules"]) if append
        }
        self.rows: dict[int, dict[str, Any]] = {}
        for state, row in data["rows"].items():
            self.rows[int(state)] = {
                symbol: act if isinstance(act, int) else reductions[act[1]]
                for symbol, act in row.items()
            }
        # States whose every action is the same reduction: at an early end of
        # input that reduction still applies.
        self.only_reduction: dict[int, Any] = {}
        for state, out in self.rows.items():
            found = {id(a): a for s, a in out.items() if s.isupper() or s == "$END"}
            if len(found) == 1:
                (act,) = found.values()
                if act.__class__ is not int:
                    self.only_reduction[state] = act
        self.start: int = data["start"]
        self._fold()
        # The same rows, indexed by state number, for the parse loop.
        self.by_state: list[dict[str, Any]] = [
            self.rows.get(n, {}) for n in range(max(self.rows) + 1)
        ]

    def _fold(self) -> None:
        """Fold unit reductions into the shift or goto that leads to them.

        A state whose only action is the reduction of a one-symbol rule (an
        ``x_`` rule such as ``x_action: WORD``, or ``stmt: state_def``) needs
        no lookahead: entering it is the same as running that rule's action
        and taking the goto from the state below at once.  Such entries
        become ``[final_state, action, action, …]``.  When what follows is
        the reduction of a list rule ``L: L item``, the parser is back in the
        state it shifted the item from, so ``final_state`` is -1 (stay).
        This removes about two thirds of the loop's iterations without
        changing any result.
        """
        only = {state: act for state, act in self.only_reduction.items() if act[0] == 1}
        for state, row in self.rows.items():
            for symbol, act in list(row.items()):
                if act.__class__ is not int or act not in only:
                    continue
                methods: list[Any] = []
                target = act
                seen = 0
                while target in only and seen < 50:
                    _, name, method = only[target]
                    if method is not None:
                        methods.append(method)
                    target = self.rows[state][name]
                    if target.__class__ is list:  # already folded
                        methods.extend(target[1])
                        target = target[0]
                        break
                    seen += 1
                if (
                    target in self.only_reduction
                    and id(self.only_reduction[target]) in self.appends
                ):
                    # `L: L item` returns to this very state: the item leaves
                    # the stack as it was (-1: stay).
                    append_action = self.only_reduction[target][2]
                    if append_action is not None:
                        methods.append(append_action)
                    target = -1
                row[symbol] = [target, tuple(methods)]


_TABLES: dict[str, Table] = {}


def table(cls: type[Reader] | None = None) -> Table:
    """The table for a reader class (once per process; see :func:`_cached_lark_table`)."""
    cls = cls or Reader
    t = _TABLES.get(cls.__qualname__)
    if t is None:
        t = _TABLES[cls.__qualname__] = Table(_cached_lark_table(), cls)
    return t


class Reader(Semantics):
    """One read of one compilation unit: the grammar's dispatch, the machine's frames."""

    strict = False  # see StrictReader

    def __init__(
        self,
        source: SourceText,
        values: list[str],
        offsets: list[int],
        *,
        module_path: Sequence[str] = (),
        syntax_only: bool = False,
    ) -> None:
        super().__init__(
            source,
            values,
            offsets,
            module_path=module_path,
            syntax_only=syntax_only,
        )
        self._import_offsets: list[int] = []  # offset of each module's first import
        self._at = 0  # offset of the token being given a meaning
        self._no_context_run = False

    # -- vocabulary as of the current token -----------------------------------
    def _visible(self) -> list[tuple[str, Vocabulary]]:
        at = self._at
        return [m for m, o in zip(self.modules, self._import_offsets) if o < at]

    def _lookup(self, name: str, conditions: bool) -> tuple[str, Signature | None]:
        if self._import_offsets and self._import_offsets[-1] >= self._at:
            everything = self.modules
            self.modules = self._visible()
            try:
                return super()._lookup(name, conditions)
            finally:
                self.modules = everything
        return super()._lookup(name, conditions)

    def _known_names(self, conditions: bool) -> list[str]:
        everything = self.modules
        self.modules = self._visible()
        try:
            return super()._known_names(conditions)
        finally:
            self.modules = everything

    # -- the parse ------------------------------------------------------------
    def run(self) -> None:
        """Classify the tokens (doing imports), then drive the LALR table.

        Every ``x_`` rule covers exactly one token, and a rule is reduced
        before the next token is shifted, so its semantic action is simply
        given the index of the last token shifted; no value stack is needed.
        """
        offsets = self.offsets
        kinds = _KINDS
        t = table(type(self))
        rows = t.by_state
        stack = [t.start]
        push = stack.append
        state = t.start
        row = rows[state]
        last = -1
        for i, tok in enumerate(self.values):
            kind = kinds.get(tok)
            if kind is None:
                kind = classify(tok)
                if len(tok) <= 64 and len(kinds) < 20000:
                    kinds[tok] = kind
            if kind == "IMPORT":
                if self.strict:
                    self._on_import(i)
                before = len(self.modules)
                self.do_import(tok, offsets[i])
                if len(self.modules) > before:
                    self._import_offsets.append(offsets[i])
                continue
            while True:
                act = row[kind]
                cls = act.__class__
                if cls is int:
                    push(act)
                    state = act
                    row = rows[act]
                    last = i
                    break
                if cls is list:  # a shift with its unit reductions folded in
                    last = i
                    for method in act[1]:
                        method(self, i)
                    if act[0] >= 0:
                        state = act[0]
                        row = rows[state]
                        push(state)
                    break
                n, name, method = act
                if n:
                    del stack[-n:]
                if method is not None:
                    method(self, last)
                state = rows[stack[-1]][name]
                if state.__class__ is list:
                    for method in state[1]:
                        method(self, last)
                    if state[0] < 0:
                        state = stack[-1]
                        row = rows[state]
                        continue
                    state = state[0]
                row = rows[state]
                push(state)
        # End of input: reduce what the end completes; what stays open is
        # reported by `finish` from the frames (E018).  The last token's own
        # rules take effect even then, as far as they do not depend on what
        # would follow.
        only = t.only_reduction
        while True:
            act = rows[state].get("$END")
            if act is None:
                act = only.get(state)
                if act is None:
                    return
            elif act.__class__ is not tuple:  # accepted
                return
            n, name, method = act
            if n:
                del stack[-n:]
            if method is not None:
                method(self, last)
            state = rows[stack[-1]][name]
            if state.__class__ is list:
                for method in state[1]:
                    method(self, last)
                if state[0] < 0:
                    state = stack[-1]
                    continue
                state = state[0]
            push(state)

    # -- semantic actions: each gets the index of the rule's last token --------
    def _open(self, frame: _Frame) -> None:
        stack = self.stack
        if stack:
            self._followers.setdefault(stack[-1], frame.offset)
        self._no_context_run = False
        stack.append(frame)

    def _on_import(self, i: int) -> None:
        """An ``import(…)`` token (strict mode checks where it stands)."""

    def x_stray(self, i: int) -> int:
        if not self._no_context_run:
            self.no_context(self.values[i], self.offsets[i])
        self._no_context_run = True
        return i

    def x_state_open(self, i: int) -> int:
        self._open(_State(self.offsets[i]))
        return i

    def x_state_name(self, i: int) -> int:
        frame: _State = self.stack[-1]  # type: ignore[assignment]
        frame.name = self.values[i]
        frame.name_offset = self.offsets[i]
        return i

    def x_enter_open(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_ENTER))
        return i

    def x_exit_open(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_EXIT))
        return i

    def x_state_end(self, i: int) -> int:
        stack = self.stack
        frame: _State = stack.pop()  # type: ignore[assignment]
        initial = False
        if stack and stack[-1].kind == INITIAL:
            stack.pop()
            initial = True
        self.add_state(frame, initial)
        return i

    def x_initial_open(self, i: int) -> int:
        self._open(_Frame(INITIAL, self.offsets[i]))
        return i

    def x_transition_open(self, i: int) -> int:
        self._open(_Transition(self.offsets[i]))
        return i

    def x_transition_name(self, i: int) -> int:
        frame: _Transition = self.stack[-1]  # type: ignore[assignment]
        frame.name = self.values[i]
        return i

    def x_transition_source(self, i: int) -> int:
        frame: _Transition = self.stack[-1]  # type: ignore[assignment]
        frame.source = self.values[i]
        frame.source_offset = self.offsets[i]
        return i

    def x_transition_word(self, i: int) -> int:
        frame: _Transition = self.stack[-1]  # type: ignore[assignment]
        if frame.target is None:
            frame.target = self.values[i]
        return i

    def x_transition_end(self, i: int) -> int:
        frame: _Transition = self.stack.pop()  # type: ignore[assignment]
        self.complete_transition(frame)
        return i

    def x_tconditions_open(self, i: int) -> int:
        self.stack.append(_Conditions(self.offsets[i], False))
        return i

    def x_tactions_open(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_TRANSITION))
        return i

    def _close_conditions(self) -> None:
        stack = self.stack
        frame: _Conditions = stack.pop()  # type: ignore[assignment]
        below: _Transition | _If = stack[-1]  # type: ignore[assignment]
        below.conditions = tuple(frame.items)
        below.exception = frame.exception

    def x_cond_close(self, i: int) -> int:
        self._close_conditions()
        return i

    def x_cond_slash(self, i: int) -> int:
        self._close_conditions()
        self.stack.append(_Actions(self.offsets[i], A_TRANSITION))
        return i

    def x_then_open(self, i: int) -> int:
        self._close_conditions()
        self.stack.append(_Actions(self.offsets[i], A_THEN))
        return i

    def x_not(self, i: int) -> int:
        frame: _Conditions = self.stack[-1]  # type: ignore[assignment]
        frame.invert_next = not frame.invert_next
        return i

    def x_exception(self, i: int) -> int:
        frame: _Conditions = self.stack[-1]  # type: ignore[assignment]
        frame.exception = True
        return i

    def x_condition(self, i: int) -> int:
        frame: _Conditions = self.stack[-1]  # type: ignore[assignment]
        off = self._at = self.offsets[i]
        cond = self.make_condition(self.values[i], off, frame.invert_next)
        frame.invert_next = False
        if cond is not None:
            frame.items.append(cond)
        return i

    def x_actions_close(self, i: int) -> int:
        frame: _Actions = self.stack[-1]  # type: ignore[assignment]
        self.close_actions(frame, self.offsets[i], self.values[i])
        return i

    def x_action(self, i: int) -> int:
        frame: _Actions = self.stack[-1]  # type: ignore[assignment]
        tok = self.values[i]
        off = self._at = self.offsets[i]
        if self.functions:
            paren = tok.find("(")
            if paren >= 0:
                fn = self.functions.get(tok[:paren])
                if fn is not None:
                    frame.items.extend(fn.body)  # L-68: inlined as the body is now
                    self.function_records[tok[:paren]].calls += 1
                    return i
        action = self.make_action(tok, off)
        if action is not None:
            frame.items.append(action)
        return i

    def x_if_open(self, i: int) -> int:
        off = self.offsets[i]
        self.stack.append(_If(off))
        self.stack.append(_Conditions(off, True))
        return i

    def x_if_unexpected(self, i: int) -> int:
        tok = self.values[i]
        self.error(
            "E009",
            self.offsets[i],
            f"unexpected `{show(tok)}` after the conditions of an if",
            "expected `{`",
            tok,
        )
        return i

    def x_if_reopen(self, i: int) -> int:
        self.stack.append(_Conditions(self.offsets[i], True))
        return i

    def x_if_then(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_THEN))
        return i

    def x_if_end(self, i: int) -> int:
        frame: _If = self.stack.pop()  # type: ignore[assignment]
        element = _new_if(frame.conditions, frame.then, frame.orelse, self._if_loc(frame))
        self.append_element(element, self.offsets[i], self.values[i])
        return i

    def x_else_open(self, i: int) -> int:
        frame: _Actions = self.stack[-1]  # type: ignore[assignment]
        self.on_else(frame, self.offsets[i])
        return i

    def x_for_glued(self, i: int) -> int:
        tok = self.values[i]
        loop = _For(self.offsets[i])
        self.stack.append(loop)
        self.parse_header(loop, tok[3:], self.offsets[i], tok)
        return i

    def x_for_bare(self, i: int) -> int:
        self.stack.append(_For(self.offsets[i]))
        return i

    def x_for_header(self, i: int) -> int:
        loop: _For = self.stack[-1]  # type: ignore[assignment]
        tok = self.values[i]
        self.parse_header(loop, tok, self.offsets[i], tok)
        return i

    def x_for_body(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_FOR))
        return i

    def x_for_brace(self, i: int) -> int:
        loop: _For = self.stack.pop()  # type: ignore[assignment]
        if loop.valid:
            self.warning(
                "W004",
                self.offsets[i],
                "`}` right after a for header: the loop is dropped",
                "the body of a `for` needs braces: `for ($x in $a) { … }`",
                "}",
            )
        return i

    def x_function_open(self, i: int) -> int:
        self._open(_Function(self.offsets[i]))
        return i

    def x_function_badname(self, i: int) -> int:
        tok = self.values[i]
        self.error(
            "E007",
            self.offsets[i],
            f"function name `{show(tok)}` must be followed directly by `(`",
            "write `function name() { … };` without a blank before `(`",
            tok,
        )
        return i

    def x_function_name(self, i: int) -> int:
        frame: _Function = self.stack[-1]  # type: ignore[assignment]
        tok = self.values[i]
        frame.name = tok[: tok.find("(")]
        return i

    def x_function_body(self, i: int) -> int:
        self.stack.append(_Actions(self.offsets[i], A_FUNCTION))
        return i

    def x_function_register(self, i: int) -> int:
        frame: _Function = self.stack[-1]  # type: ignore[assignment]
        assert frame.name is not None
        name = frame.name
        if not frame.registered:
            frame.registered = True
            if name not in self.function_records:
                self.function_records[name] = FunctionRecord(name, self.loc(frame.offset))
        self.functions.setdefault(name, frame)  # first registered wins (L-67)
        return i

    def x_function_unexpected(self, i: int) -> int:
        frame: _Function = self.stack[-1]  # type: ignore[assignment]
        tok = self.values[i]
        hint = ""
        if frame.registered:
            hint = "after a function definition, stray top-level tokens are handed to it"
        self.error(
            "E008",
            self.offsets[i],
            f"unexpected `{show(tok)}` in function `{frame.name}`",
            hint,
            tok,
        )
        return i


class StrictReader(Reader):
    """The reader for ``dsm check --strict``: it also reports the leniencies a script uses.

    The grammar marks every alternative that exists only for a leniency of the
    reference reader with an alias ``-> lenient_<what>``; this reader's table
    runs :meth:`lenient` when such a rule is reduced.  The order of a
    transition's parts (conditions, actions, arrow, target: section 5), the
    bracketed form of an ``if``'s conditions, a function's body and the place
    of ``import(…)`` tokens are checked by the overridden actions below.  One
    finding per statement (W013): what follows a first leniency inside the
    same statement is usually its consequence.
    """

    strict = True

    def __init__(self, source: SourceText, values: list[str], offsets: list[int]) -> None:
        super().__init__(source, values, offsets, syntax_only=True)
        self.lenient_diagnostics: list[Diagnostic] = []
        self._regions: set[object] = set()
        self._top_region = 0
        self._phase: dict[_Frame, int] = {}
        self._bracketed: set[_Frame] = set()
        self._bodies: set[_Frame] = set()

    def _at_top(self) -> bool:
        """Whether a statement opened now would be a top-level one."""
        stack = self.stack
        return not stack or (isinstance(stack[-1], _Function) and stack[-1].registered)

    def _keyword(self, frame: _Frame) -> str:
        return self.values[self._index_of(frame.offset)]

    def _region(self) -> object:
        """The innermost open statement (W013 is reported once per statement)."""
        for f in reversed(self.stack):
            if isinstance(f, _Function) and f.registered:
                break
            if f.kind in (STATE, TRANSITION, FUNCTION, INITIAL):
                return f
        return ("top", self._top_region)

    def lenient(self, what: str, i: int) -> None:
        """A `lenient_…` alternative of the grammar was used at token ``i``."""
        if what != "nested":  # reported at the statement's keyword by `_open`
            self._report_lenient(what, self.offsets[i], self.values[i])

    def _report_lenient(self, what: str, offset: int, token: str, expected: str = "") -> None:
        region = self._region()
        if region in self._regions:
            return
        self._regions.add(region)
        if what == "end":
            message = "script ends inside an unfinished statement"
        else:
            expected = expected or _EXPECTED[what]
            message = f"unexpected `{show(token)}` here (expected {expected})"
        path, line, column, text = self.src.locate(offset)
        self.lenient_diagnostics.append(
            Diagnostic(
                path,
                line,
                column,
                "warning",
                "W013",
                message,
                "accepted only through a leniency of the reference reader (language.md section 8)",
                text,
                max(1, len(token)),
            )
        )

    def _on_import(self, i: int) -> None:
        top = self.stack[-1] if self.stack else None
        if not (self._at_top() or isinstance(top, _Actions)):
            self._report_lenient("import", self.offsets[i], self.values[i])

    def _transition_step(
        self, frame: _Transition, i: int, allowed: tuple[int, ...], then: int
    ) -> None:
        """The order of a transition's parts (section 5): conditions, actions, arrow, target."""
        phase = self._phase.get(frame, 0)
        if phase not in allowed:
            self._report_lenient(f"phase{phase}", self.offsets[i], self.values[i])
        self._phase[frame] = then

    def strict_end(self) -> None:
        """End of input inside an open construct."""
        for f in self.stack:
            if not (isinstance(f, _Function) and f.registered):
                last = max(0, len(self.src.text) - 1)
                self._report_lenient("end", last, "")
                return

    def _open(self, frame: _Frame) -> None:
        if not self.stack:
            self._top_region += 1
        elif not self._at_top() and self.stack[-1].kind != INITIAL:
            # the grammar's `stmt -> lenient_nested`, reported at the keyword
            region = self._region()
            expected = _EXPECTED["nested"]
            if isinstance(region, (_State, _Transition, _Function)) and region.name:
                kind = self._keyword(region)
                expected = f"the end of {kind} `{show(region.name)}` first"
            self._report_lenient("nested", frame.offset, self._keyword(frame), expected)
        super()._open(frame)

    def x_transition_word(self, i: int) -> int:
        frame: _Transition = self.stack[-1]  # type: ignore[assignment]
        if frame.target is None:
            self._transition_step(frame, i, (0, 2, 4, 5), 6)
        elif classify(self.values[i]) not in _WORDS:
            self._transition_step(frame, i, (), 6)  # only words after the target
        return super().x_transition_word(i)

    def x_transition_arrow(self, i: int) -> int:
        self._transition_step(self.stack[-1], i, (0, 5), 4)  # type: ignore[arg-type]
        return i

    def x_transition_end(self, i: int) -> int:
        if self._phase.get(self.stack[-1], 0) != 6:  # no target
            self._transition_step(self.stack[-1], i, (), 6)  # type: ignore[arg-type]
        return super().x_transition_end(i)

    def x_tconditions_open(self, i: int) -> int:
        self._transition_step(self.stack[-1], i, (0,), 1)  # type: ignore[arg-type]
        return super().x_tconditions_open(i)

    def x_tactions_open(self, i: int) -> int:
        self._transition_step(self.stack[-1], i, (0, 2), 3)  # type: ignore[arg-type]
        return super().x_tactions_open(i)

    def x_cond_close(self, i: int) -> int:
        super().x_cond_close(i)
        below = self.stack[-1]
        bracket = self.values[i] == "]"
        if isinstance(below, _Transition):
            self._phase[below] = 2 if bracket else 4
        elif not (bracket and below in self._bracketed):
            self._report_lenient("if", self.offsets[i], self.values[i])
        return i

    def x_cond_slash(self, i: int) -> int:
        below = self.stack[-2]
        if isinstance(below, _Transition):
            self._phase[below] = 3
        else:
            self._report_lenient("if", self.offsets[i], self.values[i])
        return super().x_cond_slash(i)

    def x_then_open(self, i: int) -> int:
        if self.stack[-2] in self._bracketed:
            self._report_lenient("if_bracket", self.offsets[i], self.values[i])
        return super().x_then_open(i)

    def x_if_bracket(self, i: int) -> int:
        """`[` among an if's conditions: well-formed only right after `if`."""
        frame = self.stack[-2]
        if i > 0 and self.values[i - 1] == "if" and frame not in self._bracketed:
            self._bracketed.add(frame)
        else:
            self._report_lenient("if_bracket", self.offsets[i], self.values[i])
        return i

    def x_actions_close(self, i: int) -> int:
        frame: _Actions = self.stack[-1]  # type: ignore[assignment]
        self._strict_close(frame, i)
        return super().x_actions_close(i)

    def _strict_close(self, frame: _Actions, i: int) -> None:
        arrow = self.values[i] == "->"
        below = self.stack[-2] if len(self.stack) > 1 else None
        if frame.list_kind == A_TRANSITION and isinstance(below, _Transition):
            self._phase[below] = 4 if arrow else 5
        elif arrow and frame.list_kind not in (A_ENTER, A_EXIT):
            self._report_lenient("close", self.offsets[i], self.values[i])

    def x_if_then(self, i: int) -> int:
        if self.stack[-1] not in self._bracketed:
            self._report_lenient("if", self.offsets[i], self.values[i])
        return super().x_if_then(i)

    def x_function_body(self, i: int) -> int:
        body_of = self.stack[-1]
        if body_of in self._bodies:
            self._report_lenient("function", self.offsets[i], self.values[i])
        self._bodies.add(body_of)
        return super().x_function_body(i)

    def x_function_register(self, i: int) -> int:
        if self.stack[-1] not in self._bodies:
            self._report_lenient("function", self.offsets[i], self.values[i])
        return super().x_function_register(i)


def read(
    source: SourceText,
    values: list[str],
    offsets: list[int],
    *,
    module_path: Sequence[str] = (),
    syntax_only: bool = False,
) -> ParseResult:
    """Read one compilation unit's tokens with the grammar."""
    r = Reader(
        source,
        values,
        offsets,
        module_path=module_path,
        syntax_only=syntax_only,
    )
    r.run()
    r.finish()
    return ParseResult(
        r.states,
        r.initial,
        r.imports,
        list(r.function_records.values()),
        r.diagnostics,
        r.condition_events,
        r.import_locs,
    )


def strict_findings(source: SourceText, values: list[str], offsets: list[int]) -> list[Diagnostic]:
    """W013 wherever the script uses a `lenient_…` alternative of the grammar (``--strict``)."""
    r = StrictReader(source, values, offsets)
    r.run()
    r.strict_end()
    return r.lenient_diagnostics
