"""Static checks of a compiled chart: the reference's consistency check and more.

``language.md`` L-94 lists the reference's own load-time warnings (no initial
state, a target that does not exist, a state without a ``hangup``
transition).  Beside those, this module points out constructs that load fine
but are almost certainly mistakes: unreachable states, states a call can
never leave, transitions that can never fire, unused functions.  (A
duplicate state name and constructs left open at end of input are reported
by the parser itself, where they happen.)  All findings are warnings: the diagram still loads
(L-94), exactly as in the reference.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping

from dsm.chart import Action, Chart, Element, For, If, Loc, State
from dsm.diagnostics import Diagnostic
from dsm.parser import FunctionRecord

__all__ = ["check_chart"]

# Actions after which the session leaves the state's diagram or ends.
_LEAVING_ACTIONS = frozenset({"stop", "jumpFSM", "returnFSM"})

SourceLine = Callable[[str, int], str]


def _walk(elements: Iterable[Element]) -> Iterable[Action]:
    """Every simple action in a list, branches and loop bodies included (iterative: any depth)."""
    todo: list[Iterable[Element]] = [elements]
    while todo:
        for e in todo.pop():
            if isinstance(e, Action):
                yield e
            elif isinstance(e, If):
                todo.append(e.then)
                todo.append(e.orelse)
            elif isinstance(e, For):
                todo.append(e.body)


def _leaves(elements: Iterable[Element]) -> bool:
    return any(a.name in _LEAVING_ACTIONS and not a.module for a in _walk(elements))


def _state_list(chart: Chart) -> str:
    names = [f"`{name}`" for name in dict.fromkeys(s.name for s in chart.states)]
    if len(names) > 15:
        names = names[:15] + ["…"]
    return ", ".join(names) or "none"


def check_chart(
    chart: Chart,
    *,
    functions: Iterable[FunctionRecord] = (),
    condition_events: Mapping[tuple[str, str], str | None] | None = None,
    source_line: SourceLine | None = None,
) -> list[Diagnostic]:
    """Every consistency finding of ``chart`` as warnings (codes W006 … W016)."""
    out: list[Diagnostic] = []
    events = condition_events or {}

    def warn(loc: Loc, code: str, message: str, hint: str = "", length: int = 1) -> None:
        text = source_line(loc.path, loc.line) if source_line else ""
        out.append(
            Diagnostic(loc.path, loc.line, loc.column, "warning", code, message, hint, text, length)
        )

    first: dict[str, State] = {}
    for st in chart.states:
        first.setdefault(st.name, st)

    if chart.initial is None:
        where = chart.states[0].loc if chart.states else Loc(chart.path or chart.name, 1, 1)
        warn(
            where,
            "W006",
            f"diagram `{chart.name}` has no initial state",
            "mark one state with `initial state NAME;`",
        )

    for st in chart.states:
        if first.get(st.name) is not st:
            continue
        for t in st.transitions:
            if t.target is None:
                warn(
                    t.loc,
                    "W007",
                    f"transition `{t.name}` has no target state",
                    "end it with `-> STATE;`",
                    10,
                )
            elif t.target not in first:
                close = difflib.get_close_matches(t.target, list(first), n=1)
                hint = (
                    f"state `{t.target}` is never declared; declared states: {_state_list(chart)}"
                )
                if close:
                    hint = f"did you mean `{close[0]}`? " + hint
                warn(
                    t.loc,
                    "W007",
                    f"transition `{t.name}` goes to undeclared state `{t.target}`",
                    hint,
                    10,
                )

    for st in chart.states:
        if first.get(st.name) is not st:
            continue
        has_hangup = any(
            events.get(
                (c.module, c.name), "Hangup" if (c.name == "hangup" and not c.module) else None
            )
            == "Hangup"
            for t in st.transitions
            for c in t.conditions
        )
        if not has_hangup:
            warn(
                st.loc,
                "W008",
                f"state `{st.name}` has no transition on `hangup`",
                f'add e.g. `transition "bye" {st.name} - hangup / stop(false) -> {st.name};`',
            )

    if chart.initial is not None and chart.initial in first:
        reached = {chart.initial}
        todo = [chart.initial]
        while todo:
            st = first[todo.pop()]
            for t in st.transitions:
                if t.target is not None and t.target in first and t.target not in reached:
                    reached.add(t.target)
                    todo.append(t.target)
        for name, st in first.items():
            if name not in reached:
                warn(
                    st.loc,
                    "W009",
                    f"state `{name}` is unreachable from the initial state `{chart.initial}`",
                )

    for name, st in first.items():
        goes_out = any(t.target is not None and t.target != name for t in st.transitions)
        if goes_out or _leaves(st.enter) or any(_leaves(t.actions) for t in st.transitions):
            continue
        warn(
            st.loc,
            "W010",
            f"state `{name}` is a trap: no transition leaves it and it never stops the call",
            "add a transition to another state or `stop(true)` in its enter actions",
        )

    for name, st in first.items():
        catch_all = None
        for t in st.transitions:
            if t.exception:
                continue
            if catch_all is not None:
                warn(
                    t.loc,
                    "W011",
                    f"transition `{t.name}` from `{name}` can never fire: "
                    f"the earlier transition `{catch_all.name}` (line {catch_all.loc.line}) has no conditions",
                    "transitions are tried in order and the first match wins",
                    10,
                )
            elif not t.conditions:
                catch_all = t

    for fn in functions:
        if fn.calls == 0:
            warn(fn.loc, "W012", f"function `{fn.name}` is never called", length=8)

    return out


_PROMPT_ACTIONS = frozenset({"playPrompt", "playPromptFront", "playPromptLooped"})


def unknown_prompts(
    chart: Chart, known: Collection[str], source_line: SourceLine
) -> list[Diagnostic]:
    """W017: a ``playPrompt`` name that no configured prompt file provides.

    Only literal names are checked: a name starting with ``$``, ``#`` or ``@``
    is resolved at run time (E-22) and may be anything.
    """
    out: list[Diagnostic] = []
    for state in chart.states:
        lists = [state.enter, state.exit, *(t.actions for t in state.transitions)]
        for elements in lists:
            for a in _walk(elements):
                if a.name not in _PROMPT_ACTIONS or a.module or not a.args:
                    continue
                name = a.args[0].strip('"')
                if not name or name[0] in "$#@" or name in known:
                    continue
                hint = ""
                close = difflib.get_close_matches(name, list(known), n=1)
                if close:
                    hint = f"did you mean `{close[0]}`?"
                out.append(
                    Diagnostic(
                        a.loc.path,
                        a.loc.line,
                        a.loc.column,
                        "warning",
                        "W017",
                        f"prompt `{name}` is not provided by any configured prompt file",
                        hint,
                        source_line(a.loc.path, a.loc.line),
                        len(a.text),
                    )
                )
    return out
