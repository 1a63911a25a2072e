"""The chart model's positions (``dsm/chart.py``): ``Loc`` behaves as a frozen value.

Diagnostics, traces, coverage and exceptions report chart positions as
``file:line:column`` (L-90, E-2); the compiler builds one ``Loc`` per chart
node, so it is a tuple underneath, but it keeps the behaviour of the other
chart classes.
"""

from __future__ import annotations

import copy
import operator
import pickle

import pytest
from lang_helpers import chart

from dsm.chart import Loc


def test_loc_fields_text_and_repr() -> None:
    loc = Loc("a.dsm", 3, 7)
    assert (loc.path, loc.line, loc.column) == ("a.dsm", 3, 7)
    assert str(loc) == "a.dsm:3:7"
    assert repr(loc) == "Loc(path='a.dsm', line=3, column=7)"
    assert Loc(path="a.dsm", line=3, column=7) == loc


def test_loc_equals_only_a_loc_with_the_same_fields() -> None:
    loc = Loc("a.dsm", 3, 7)
    same, plain = Loc("a.dsm", 3, 7), ("a.dsm", 3, 7)
    assert operator.eq(loc, same) and not operator.ne(loc, same)
    assert loc != Loc("a.dsm", 3, 8) and loc != Loc("b.dsm", 3, 7)
    for left, right in ((loc, plain), (plain, loc)):  # both operand orders
        assert not operator.eq(left, right) and operator.ne(left, right)
    assert hash(loc) == hash(same) == hash(plain)
    assert {loc: 1}[same] == 1


def test_loc_is_frozen_and_not_ordered() -> None:
    loc = Loc("a.dsm", 3, 7)
    with pytest.raises(AttributeError):
        loc.line = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        _ = loc < Loc("a.dsm", 4, 1)


def test_loc_survives_copy_and_pickle() -> None:
    loc = Loc("a.dsm", 3, 7)
    for other in (copy.copy(loc), copy.deepcopy(loc), pickle.loads(pickle.dumps(loc))):
        assert type(other) is Loc and other == loc


def test_E2_node_positions_after_a_compile() -> None:
    """Every node carries the file:line:column of its token (L-90)."""
    c = chart(
        'initial state A\n  enter { log(1, x) };\ntransition "t" A - hangup / stop(false) -> A;\n'
    )
    st = c.states[0]
    assert st.loc == Loc("t", 1, 15)
    assert st.enter[0].loc == Loc("t", 2, 11)
    t = st.transitions[0]
    assert t.loc == Loc("t", 3, 1)
    assert t.conditions[0].loc == Loc("t", 3, 20) and t.actions[0].loc == Loc("t", 3, 29)
    assert chart("initial state A;").digest == chart("initial state A;").digest
