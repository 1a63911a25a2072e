"""Charts in executable form: every action and condition bound once, at load time.

A :class:`dsm.chart.Chart` is plain data.  Running it event after event
must not look anything up by name, parse or split text (docs/architecture.md),
so :func:`build` turns it once into an :class:`XChart`:

* every simple action becomes an :class:`XAction` holding the implementation
  callable and the pre-split argument tuple; the flow actions (``repost``,
  ``break``, ``jumpFSM``, ``callFSM``, ``returnFSM``) become op codes that the
  session's executor handles itself, because they act on the list being run;
* every condition becomes an :class:`XCondition` whose ``test`` is a closure
  over its event-type filter, operator and operands (``engine.md`` E-39 …
  E-43) — the ``not`` inversion folded in;
* states are found by name through a dict built with "first state wins"
  (L-43), and each state keeps its normal and exception transitions apart
  so a round never checks the flag (E-54 step 2).

Implementations are looked up in the module that the compiler resolved for
each name (``Action.module``), falling back to the chart's imports in import
order and then the core (M-api-3).  A name without an implementation binds to
a stub that raises ``{type: internal}`` when it runs, so one missing action
never prevents loading.

This is where a chart's modules are imported: the compiler only reads their
declarations.  A module that cannot be imported or initialised refuses the
diagram here (M-api-1) with :class:`ModuleLoadFailed`, located at the
``import(...)`` that named it; nothing has been swapped in by then.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from dsm.chart import Action, Chart, Condition, Element, For, If, Loc, State, Transition
from dsm.diagnostics import CompileError, Diagnostic
from dsm.runtime import values
from dsm.runtime.errors import DSMException
from dsm.runtime.modlib import ModuleLibrary
from dsm.runtime.registry import ActionDef, ConditionDef, Module
from dsm.vocabulary import ModuleNotFound

__all__ = [
    "OP_ACTION",
    "OP_IF",
    "OP_FOR",
    "OP_REPOST",
    "OP_BREAK",
    "OP_JUMP",
    "OP_CALL",
    "OP_RETURN",
    "XAction",
    "XIf",
    "XFor",
    "XCondition",
    "XTransition",
    "XState",
    "XChart",
    "XElement",
    "build",
    "core_module",
    "ModuleLoadFailed",
]

OP_ACTION = 0
OP_IF = 1
OP_FOR = 2
OP_REPOST = 3
OP_BREAK = 4
OP_JUMP = 5
OP_CALL = 6
OP_RETURN = 7

# What running an action list returns (E-60): it ran to the end, a break, a flow change.
RUN_NORMAL = 0
RUN_BREAK = 1
RUN_FLOW = 2

MAX_FLOW_DEPTH = 100
"""Nested jumps/returns that run enter lists or remainders (a diagram jumping to itself in
its initial enter list recurses forever in the reference); deeper nesting raises
``{type: internal}`` instead of exhausting the Python stack."""

# A condition test: called with the running session, returns whether it matches.
CondTest = Callable[[Any], bool]


class XAction:
    """A bound simple action: ``fn(session, *args)`` or a flow op code.

    ``blocking`` marks an action declared ``blocking=True``: a session that
    can suspend hands it to the engine's worker pool (runtime/blocking.py).
    """

    __slots__ = ("op", "fn", "args", "src", "blocking")

    def __init__(
        self,
        op: int,
        fn: Callable[..., Any],
        args: tuple[str, ...],
        src: Action,
        blocking: bool = False,
    ) -> None:
        self.op = op
        self.fn = fn
        self.args = args
        self.src = src
        self.blocking = blocking

    def __repr__(self) -> str:
        return f"<XAction {self.src.name} at {self.src.loc}>"


class XCondition:
    """A bound condition; ``test(session)`` already applies ``not``."""

    __slots__ = ("test", "src", "blocking")

    def __init__(self, test: CondTest, src: Condition, blocking: bool = False) -> None:
        self.test = test
        self.src = src
        self.blocking = blocking


class XIf:
    __slots__ = ("op", "conds", "then", "orelse", "src")

    def __init__(
        self,
        conds: tuple[XCondition, ...],
        then: tuple[XElement, ...],
        orelse: tuple[XElement, ...],
        src: If,
    ) -> None:
        self.op = OP_IF
        self.conds = conds
        self.then = then
        self.orelse = orelse
        self.src = src


class XFor:
    """A ``for`` block with its names already ``strip$``-ed (E-64)."""

    __slots__ = ("op", "kind", "counter", "value", "collection", "lower", "upper", "body", "src")

    def __init__(self, src: For, body: tuple[XElement, ...]) -> None:
        self.op = OP_FOR
        self.kind = src.kind
        self.counter = _strip_dollar(src.counter)
        self.value = _strip_dollar(src.value)
        self.collection = _strip_dollar(src.collection)
        self.lower = src.lower
        self.upper = src.upper
        self.body = body
        self.src = src


XElement = XAction | XIf | XFor


class XTransition:
    """A transition of one source state.

    ``target_state`` caches the target looked up in the transition's own
    diagram; the engine uses it only while that diagram is current, because
    E-54 step 3 looks the target up in the *current* diagram (E-70).
    """

    __slots__ = ("name", "target", "target_state", "conds", "tests", "actions", "exception", "src")

    def __init__(
        self,
        src: Transition,
        conds: tuple[XCondition, ...],
        actions: tuple[XElement, ...],
    ) -> None:
        self.name = src.name
        self.target = src.target
        self.target_state: XState | None = None
        self.conds = conds
        self.tests = tuple(c.test for c in conds)
        self.actions = actions
        self.exception = src.exception
        self.src = src


class XState:
    """A state object: it knows its diagram, so a state can outlive a diagram switch (E-70)."""

    __slots__ = ("name", "enter", "exit", "normal", "exceptional", "diagram", "src")

    def __init__(self, src: State, diagram: XChart) -> None:
        self.name = src.name
        self.enter: tuple[XElement, ...] = ()
        self.exit: tuple[XElement, ...] = ()
        self.normal: tuple[XTransition, ...] = ()
        self.exceptional: tuple[XTransition, ...] = ()
        self.diagram = diagram
        self.src = src

    def __repr__(self) -> str:
        return f"<XState {self.diagram.name}/{self.name}>"


class XChart:
    """A diagram in executable form."""

    __slots__ = ("name", "chart", "states", "initial", "modules", "missing", "blocking")

    def __init__(self, chart: Chart, name: str | None = None) -> None:
        self.name = chart.name if name is None else name
        self.chart = chart
        self.states: dict[str, XState] = {}
        self.initial: XState | None = None
        self.modules: tuple[Module, ...] = ()
        self.missing: tuple[str, ...] = ()
        self.blocking = False
        """Whether any action or condition of the diagram is blocking."""

    def __repr__(self) -> str:
        return f"<XChart {self.name} ({len(self.states)} states)>"


def _strip_dollar(text: str) -> str:
    return text[1:] if text.startswith("$") else text


def core_module() -> Module:
    """The core module with every core action registered (imports the action files)."""
    import dsm.runtime.actions  # noqa: F401  (registers the core actions)
    from dsm.runtime.actions.core import core

    return core


class ModuleLoadFailed(CompileError):
    """A module imported by a chart failed to import or initialise: the diagram is refused (M-api-1)."""


def _source_line(path: str, line: int) -> str:
    """The text of ``line`` of ``path`` for the caret, or ``""`` (the chart may come from a string)."""
    if not os.path.isfile(path):
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, text in enumerate(fh, 1):
                if n == line:
                    return text
    except OSError:
        pass
    return ""


def _load_failure(chart: Chart, index: int, name: str, reason: str) -> Diagnostic:
    locs = chart.import_locs
    loc = locs[index] if index < len(locs) else Loc(chart.path or chart.name, 1, 1)
    reason = " ".join(reason.split())  # one line, whatever the module raised
    return Diagnostic(
        loc.path,
        loc.line,
        loc.column,
        "error",
        "E005",
        f"cannot load module `{name}`: {reason}",
        "the diagram is not loaded; fix the module (or its dependencies) and reload",
        _source_line(loc.path, loc.line),
        len(f"import({name})"),
    )


class _Binder:
    """Resolves names to implementations for one chart."""

    def __init__(self, chart: Chart, modules: ModuleLibrary) -> None:
        self.core = core_module()
        self.modules = modules
        self.imports: list[Module] = []
        self.missing: list[str] = []
        self.blocking = False
        self._by_name: dict[str, Module | None] = {}
        failed: list[Diagnostic] = []
        for i, name in enumerate(chart.imports):
            if name in self._by_name:
                mod = self._by_name[name]
            else:
                try:
                    vocab = self.modules.find(name)
                except ModuleNotFound as exc:
                    failed.append(_load_failure(chart, i, name, str(exc)))
                    continue
                mod = vocab if isinstance(vocab, Module) else None
                self._by_name[name] = mod
            if mod is not None:
                self.imports.append(mod)
        if failed:
            raise ModuleLoadFailed(failed)

    def _module(self, name: str) -> Module | None:
        if name == "":
            return self.core
        if name in self._by_name:
            return self._by_name[name]
        mod: Module | None
        try:
            vocab = self.modules.find(name)
        except ModuleNotFound:
            mod = None
        else:
            mod = vocab if isinstance(vocab, Module) else None
        self._by_name[name] = mod
        return mod

    def _candidates(self, module: str) -> list[Module]:
        first = self._module(module)
        out = [first] if first is not None else []
        out.extend(m for m in dict.fromkeys(self.imports) if m is not first)
        if self.core is not first:
            out.append(self.core)
        return out

    def action(self, act: Action) -> ActionDef | None:
        for mod in self._candidates(act.module):
            d = mod.actions.get(act.name)
            if d is not None:
                return d
        return None

    def condition(self, cond: Condition) -> ConditionDef | None:
        for mod in self._candidates(cond.module):
            d = mod.conditions.get(cond.name)
            if d is not None:
                return d
        return None


def _missing_action(name: str, loc: Loc) -> Callable[..., None]:
    def run(ctx: Any, *args: str) -> None:
        raise DSMException("internal", {"cause": f"action '{name}' has no implementation ({loc})"})

    return run


def _bind_action(act: Action, binder: _Binder) -> XAction:
    d = binder.action(act)
    if d is None:
        binder.missing.append(f"action {act.name} at {act.loc}")
        return XAction(OP_ACTION, _missing_action(act.name, act.loc), act.args, act)
    op = getattr(d.fn, "flow_op", OP_ACTION)
    if d.blocking or getattr(d.fn, "offloads", False):  # may park the session (DI: Offload)
        binder.blocking = True
    return XAction(op, d.fn, act.args, act, d.blocking)


def _test_condition(event: str | None, args: tuple[str, ...], invert: bool) -> CondTest:
    """Style-T test condition: event filter plus test expression (E-43 … E-48)."""
    if not args:  # empty expression: only the filter (E-43)
        if event is None:
            return lambda s: not invert
        return lambda s: (s.event_type == event) != invert
    op, left, right = args[0], args[1], args[2]
    if not op:  # no operator recognised at compile time: never matches (E-43)
        return lambda s: invert
    fast = _fast_test(op, left, right)
    if fast is not None:
        if event is None:
            return fast if not invert else (lambda s: not fast(s))

        def fast_typed(s: Any) -> bool:
            if s.event_type != event:
                return invert
            return fast(s) != invert

        return fast_typed
    te = values.test_expression
    if event is None:

        def test_any(s: Any) -> bool:
            return te(op, left, right, s.vars, s.params, s.select) != invert

        return test_any

    def test_typed(s: Any) -> bool:
        if s.event_type != event:
            return invert
        return te(op, left, right, s.vars, s.params, s.select) != invert

    return test_typed


def _no_select(name: str) -> str:
    return ""


# An operand getter: the session -> the operand's value (R of the operand text).
Getter = Callable[[Any], str]


def _operand(text: str) -> tuple[str, str] | None:
    """Classify a test operand for the fast path: ``("lit", value)``, ``("var", name)``, ``("param", name)``.

    ``None`` means "needs the general rules" (selects, ``len(…)`` forms).
    The classification follows R (E-22) exactly: ``$$``/``##`` are literal
    markers, any other text is resolved once at load time.
    """
    if len(text) > 5 and text.startswith("len(") and text.endswith(")"):
        return None
    c = text[:1]
    if c == "$":
        return ("lit", "$") if text.startswith("$$") else ("var", text[1:])
    if c == "#":
        return ("lit", "#") if text.startswith("##") else ("param", text[1:])
    if c == "@":
        return None
    return ("lit", values.resolve(text, {}, None, _no_select))


def _getter(kind: str, value: str) -> Getter:
    if kind == "var":
        return lambda s: s.vars.get(value, "")

    def param(s: Any) -> str:
        p = s.params
        return "" if p is None else p.get(value, "")

    return param


def _fast_test(op: str, left: str, right: str) -> CondTest | None:
    """A specialised predicate for the common operand forms, or ``None``.

    Only ASCII values take the fast comparisons; anything else defers to
    :func:`dsm.runtime.values.test_expression`, which defines the
    semantics (E-44 … E-48).
    """
    lo = _operand(left)
    ro = _operand(right)
    if lo is None or ro is None or op not in ("==", "!=", "<", ">"):
        return None
    slow = values.test_expression
    cnum = values.parse_cnum
    if lo[0] == "lit" and ro[0] == "lit":
        return lambda s: slow(op, left, right, s.vars, s.params, s.select)
    get_l = _getter(*lo) if lo[0] != "lit" else None
    if ro[0] != "lit":
        return None
    rv = ro[1]
    assert get_l is not None
    if not rv.isascii():
        return None
    if op == "==":
        star = rv.find("*")
        if star < 0:
            return lambda s: get_l(s) == rv
        prefix = rv[:star]

        def eq_prefix(s: Any) -> bool:
            lv = get_l(s)
            if lv.isascii():
                return lv.startswith(prefix)
            return slow(op, left, right, s.vars, s.params, s.select)

        return eq_prefix
    if op == "!=":
        return lambda s: get_l(s) != rv
    b = cnum(rv)
    less = op == "<"
    memo: dict[str, int | None] = {}

    def order(s: Any) -> bool:
        lv = get_l(s)
        try:
            a = memo[lv]  # CNUM is pure and operand values repeat (digits, ids)
        except KeyError:
            a = cnum(lv)
            if len(memo) < 256:
                memo[lv] = a
        if a is not None and b is not None:
            return a < b if less else a > b
        if lv.isascii():
            return lv < rv if less else lv > rv
        return slow(op, left, right, s.vars, s.params, s.select)

    return order


def _key_press(args: tuple[str, ...], invert: bool) -> CondTest:
    """``keyPress(k)``: Key events whose ``#key`` equals the literal (E-42)."""
    k = args[0] if args else ""

    def test(s: Any) -> bool:
        if s.event_type != "Key":
            return invert
        p = s.params
        return (p is None or p.get("key") == k) != invert

    return test


def _module_condition(d: ConditionDef, args: tuple[str, ...], invert: bool) -> CondTest:
    fn = d.fn
    assert fn is not None
    event = d.signature.event

    if event is None:

        def test(s: Any) -> bool:
            return bool(fn(s, *args)) != invert

        return test

    def test_typed(s: Any) -> bool:
        if s.event_type != event:
            return invert
        return bool(fn(s, *args)) != invert

    return test_typed


def _bind_condition(cond: Condition, binder: _Binder) -> XCondition:
    d = binder.condition(cond)
    if d is None:
        binder.missing.append(f"condition {cond.name} at {cond.loc}")
        name, loc = cond.name, cond.loc

        def fail(s: Any) -> bool:
            raise DSMException(
                "internal", {"cause": f"condition '{name}' has no implementation ({loc})"}
            )

        return XCondition(fail, cond)
    sig = d.signature
    if d.fn is None or getattr(d.fn, "generic_test", False):
        if sig.style == "K":
            return XCondition(_key_press(cond.args, cond.invert), cond)
        return XCondition(_test_condition(sig.event, cond.args, cond.invert), cond)
    if d.blocking:
        binder.blocking = True
    return XCondition(_module_condition(d, cond.args, cond.invert), cond, d.blocking)


def _bind_list(elems: tuple[Element, ...], binder: _Binder) -> tuple[XElement, ...]:
    out: list[XElement] = []
    for el in elems:
        if isinstance(el, Action):
            out.append(_bind_action(el, binder))
        elif isinstance(el, If):
            out.append(
                XIf(
                    tuple(_bind_condition(c, binder) for c in el.conditions),
                    _bind_list(el.then, binder),
                    _bind_list(el.orelse, binder),
                    el,
                )
            )
        elif isinstance(el, For):
            out.append(XFor(el, _bind_list(el.body, binder)))
        else:  # pragma: no cover - the chart model has no other element
            raise TypeError(f"unknown chart element {el!r}")
    return tuple(out)


def build(
    chart: Chart, modules: ModuleLibrary | Sequence[str] = (), name: str | None = None
) -> XChart:
    """Bind ``chart`` once; ``name`` overrides the diagram name (E-5: the load_diags item).

    ``modules`` is the library its imports are found in (a plain module path
    builds one, for callers without a composition root).
    """
    library = modules if isinstance(modules, ModuleLibrary) else ModuleLibrary(modules)
    binder = _Binder(chart, library)
    x = XChart(chart, name)
    x.modules = tuple(binder.imports)
    for st in chart.states:
        if st.name not in x.states:  # first state wins (L-43)
            x.states[st.name] = XState(st, x)
    for xs in x.states.values():
        st = xs.src
        xs.enter = _bind_list(st.enter, binder)
        xs.exit = _bind_list(st.exit, binder)
        normal: list[XTransition] = []
        exceptional: list[XTransition] = []
        for tr in st.transitions:
            xt = XTransition(
                tr,
                tuple(_bind_condition(c, binder) for c in tr.conditions),
                _bind_list(tr.actions, binder),
            )
            xt.target_state = None if tr.target is None else x.states.get(tr.target)
            (exceptional if tr.exception else normal).append(xt)
        xs.normal = tuple(normal)
        xs.exceptional = tuple(exceptional)
    x.initial = None if chart.initial is None else x.states.get(chart.initial)
    x.missing = tuple(binder.missing)
    x.blocking = binder.blocking
    return x
