"""Fast constructors of the chart classes (``dsm/fastbuild.py``): identical objects.

Chart nodes built on the compile path must be indistinguishable from nodes
built by the classes themselves, so that chart equality and digests (E-2)
do not depend on how a node was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from dsm.chart import Action, Chart, Condition, For, If, Loc, State, Transition
from dsm.fastbuild import constructor

LOC = Loc("a.dsm", 2, 5)
SAMPLES: list[tuple[type, tuple[object, ...]]] = [
    (Action, ("log", "", ("1", "x"), "log(1, x)", LOC)),
    (Condition, ("key", "", ("==", "#key", "1"), True, "key(#key == 1)", LOC)),
    (Transition, ("t", "A", "B", (), False, (), LOC)),
    (If, ((), (), (), LOC)),
    (For, ("range", "$i", "", "", "1", "3", (), LOC)),
    (State, ("A", (), (), (), LOC)),
]


@pytest.mark.parametrize(("cls", "fields"), SAMPLES)
def test_built_node_is_the_same_as_a_constructed_one(cls: type, fields: tuple[object, ...]) -> None:
    made = constructor(cls)(*fields)
    normal = cls(*fields)
    assert type(made) is cls
    assert made == normal and hash(made) == hash(normal) and repr(made) == repr(normal)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.loc = LOC  # the write guard is back once the node is built


def test_classes_it_cannot_handle_keep_their_constructor() -> None:
    @dataclass(frozen=True)
    class Plain:  # not slotted
        a: int

    @dataclass(frozen=True, slots=True)
    class WithDefault:
        a: int = 0

    assert constructor(Plain) is Plain
    assert constructor(WithDefault) is WithDefault
    assert constructor(Chart) is Chart
