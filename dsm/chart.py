"""The chart model: what a compiled ``.dsm`` diagram is, as immutable data.

A :class:`Chart` is the checked result of compiling one diagram (one top-level
file with its includes expanded).  Every node is a frozen, slotted dataclass
(positions, :class:`Loc`, are a frozen tuple class with the same behaviour), so
charts are hashable and compare by content; :attr:`Chart.digest` is a stable
hash of that content (two compiles of the same text give equal digests), used
to identify chart versions on reload.

The model mirrors ``engine.md`` E-1/E-2: states with enter/exit action lists
and ordered transitions; action lists whose elements are simple actions,
``if`` blocks or ``for`` blocks.  Action and condition arguments are already
split according to their argument style (``language.md`` L-82), so the engine
never parses text per event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

__all__ = [
    "Loc",
    "Action",
    "Condition",
    "If",
    "For",
    "Element",
    "Transition",
    "State",
    "Chart",
]


class Loc(tuple[str, int, int]):
    """A position in a source file: 1-based line and column.

    ``path`` is the file the text physically came from, so positions inside an
    ``#include``d file name that file and its own line.

    It behaves like the other chart classes (frozen, hashable, equal only to
    a ``Loc`` with the same fields, not ordered, shown as ``Loc(path=…,
    line=…, column=…)``) but is a tuple underneath, because the compiler
    makes one for every chart node and ``tuple.__new__(Loc, (path, line,
    column))`` builds it in C, several times faster than a dataclass.
    """

    __slots__ = ()
    __match_args__ = ("path", "line", "column")

    def __new__(cls, path: str, line: int, column: int) -> Loc:
        return tuple.__new__(cls, (path, line, column))

    def __getnewargs__(self) -> tuple[str, int, int]:  # type: ignore[override]
        return (self[0], self[1], self[2])

    @property
    def path(self) -> str:
        return self[0]

    @property
    def line(self) -> int:
        return self[1]

    @property
    def column(self) -> int:
        return self[2]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is Loc:
            return tuple.__eq__(self, other)  # type: ignore[arg-type]
        # A plain tuple would compare equal by its items when asked in turn.
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:
        if other.__class__ is Loc:
            return tuple.__ne__(self, other)  # type: ignore[arg-type]
        return True if isinstance(other, tuple) else NotImplemented

    __hash__ = tuple.__hash__  # the hash a dataclass Loc had: hash((path, line, column))

    def _unordered(self, other: object) -> bool:
        return NotImplemented

    __lt__ = __le__ = __gt__ = __ge__ = _unordered  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Loc(path={self[0]!r}, line={self[1]!r}, column={self[2]!r})"

    def __str__(self) -> str:
        return f"{self[0]}:{self[1]}:{self[2]}"


@dataclass(frozen=True, slots=True)
class Action:
    """A simple action: ``name(argument text)`` with its arguments pre-split.

    ``module`` is the import name of the module that provides the action
    (``""`` for the core).  ``args`` holds the parts produced by the action's
    argument style (``language.md`` 6.3): style N gives ``()``, S gives
    ``(a,)``, P gives ``(p1, p2)``, L gives the list pieces, ``raw`` gives the
    argument text verbatim as ``(text,)``.
    """

    name: str
    module: str
    args: tuple[str, ...]
    text: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition with its ``not`` inversion and pre-split arguments.

    For style T (test expression) ``args`` is ``(op, left, right)`` or ``()``
    when the text is empty ("always"); ``("", "", "")`` marks an expression
    without a recognised operator (never matches, L-86).  Style K gives
    ``(literal,)``.
    """

    name: str
    module: str
    args: tuple[str, ...]
    invert: bool
    text: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class If:
    """An ``if`` block (E-63): all conditions must match to run ``then``."""

    conditions: tuple[Condition, ...]
    then: tuple[Element, ...]
    orelse: tuple[Element, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class For:
    """A ``for`` block (L-60, E-64 … E-70).

    ``kind`` is ``array`` (counter over ``collection``), ``struct`` (``counter``
    is the key variable, ``value`` the value variable) or ``range`` (``lower``
    and ``upper`` are the unresolved bound texts).  Names keep their ``$``;
    the engine strips it at run time (E-64).
    """

    kind: Literal["array", "struct", "range"]
    counter: str
    value: str
    collection: str
    lower: str
    upper: str
    body: tuple[Element, ...]
    loc: Loc


Element = Action | If | For


@dataclass(frozen=True, slots=True)
class Transition:
    """One transition as attached to one source state (L-45).

    ``target`` is ``None`` when the script never gave one; targets are not
    checked at compile time (L-95).
    """

    name: str
    source: str
    target: str | None
    conditions: tuple[Condition, ...]
    exception: bool
    actions: tuple[Element, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class State:
    """A state in definition order; duplicates are kept but lookups find the first (L-43)."""

    name: str
    enter: tuple[Element, ...]
    exit: tuple[Element, ...]
    transitions: tuple[Transition, ...]
    loc: Loc


@dataclass(frozen=True)
class Chart:
    """A compiled diagram.

    ``initial`` is the name of the initial state (``None`` if the diagram has
    none, L-91.18).  ``imports`` lists the modules imported by the compilation
    unit, in import order, and ``import_locs`` where each was written (the
    runtime names that place when a module fails to load).  ``warnings`` carries the non-fatal diagnostics of
    the compile (logged errors of the reference and consistency findings);
    they are not part of the chart's identity, nor are the import positions.
    """

    name: str
    states: tuple[State, ...]
    initial: str | None
    imports: tuple[str, ...]
    path: str = ""
    warnings: tuple[object, ...] = field(default=(), compare=False, repr=False)
    import_locs: tuple[Loc, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def digest(self) -> str:
        """A hex SHA-256 of the chart's content (positions included, warnings not)."""
        text = repr((self.name, self.states, self.initial, self.imports, self.path))
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def state(self, name: str) -> State | None:
        """The first state with this name (L-43), or ``None``."""
        for st in self.states:
            if st.name == name:
                return st
        return None

    @property
    def initial_state(self) -> State | None:
        return None if self.initial is None else self.state(self.initial)
