"""Array and struct naming conventions (engine.md E-16, E-17, E-68, E-69, E-102 … E-105, E-130)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.arrays import (
    array_index,
    array_items,
    array_size,
    array_values,
    clear_array,
    clear_struct,
    names_in_order,
    struct_items,
    varlist_params,
)


def test_E16_name_order_is_unsigned_bytes() -> None:
    names = ["b", "a", "ab", "", "B", "é", "z", "\udcff", "A[10]", "A[1]", "A[0]"]
    assert names_in_order(names) == [
        "",
        "A[0]",
        "A[10]",
        "A[1]",
        "B",
        "a",
        "ab",
        "b",
        "z",
        "é",
        "\udcff",
    ]


# -- E-68 array loops -----------------------------------------------------------


@pytest.mark.parametrize(
    ("vars", "expected"),
    [
        ({"A[0]": "a", "A[1]": "b", "A[2]": "c"}, ["a", "b", "c"]),
        ({"A[0]": "x", "A[0].sub": "y", "A[1]": "z"}, ["x", "y", "z"]),  # members too
        ({"A[0]": "x", "A[2]": "z"}, ["x"]),  # gaps stop
        ({"A[1]": "b", "A[2]": "c"}, ["b", "c"]),  # missing A[0] still starts at A[1]
        ({"A[2]": "c"}, []),
        ({f"A[{i}]": str(i) for i in range(11)}, ["0"]),  # A[10] sorts after A[0]
        ({f"A[{i}]": str(i) for i in range(10)}, [str(i) for i in range(10)]),
        ({"A": "self", "A[": "open", "A[!]": "bang", "A[0]": "a", "AB[0]": "other"}, ["a"]),
        ({"B[0]": "b"}, []),
        ({}, []),
    ],
)
def test_E68_array_items(vars: dict[str, str], expected: list[str]) -> None:
    assert array_items(vars, "A") == expected


def model_array_items(vars: dict[str, str], name: str) -> list[str]:
    """E-68 as written: walk *all* variables in name order from the first >= A[0]."""
    ordered = names_in_order(list(vars))
    start = (name + "[0]").encode("utf-8", "surrogateescape")
    items: list[str] = []
    i = 0
    for k in ordered:
        if k.encode("utf-8", "surrogateescape") < start:
            continue
        if not k.startswith(f"{name}[{i}]"):
            i += 1
            if not k.startswith(f"{name}[{i}]"):
                break
        items.append(vars[k])
    return items


ARRAY_NAMES = st.text(alphabet="A[]0123.x", max_size=6)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.dictionaries(ARRAY_NAMES, st.text(alphabet="v", max_size=2), max_size=10))
def test_E68_block_walk_equals_full_walk(vars: dict[str, str]) -> None:
    assert array_items(vars, "A") == model_array_items(vars, "A")


# -- E-69 struct loops ----------------------------------------------------------


def test_E69_struct_items_prefix_quirks() -> None:
    vars = {
        "rec.a": "1",
        "rec[0]": "2",
        "recx": "3",
        "rec.addr.city": "4",
        "re": "no",
        "other": "no",
    }
    assert struct_items(vars, "rec") == [("a", "1"), ("addr.city", "4"), ("0]", "2"), ("", "3")]


def test_E69_variable_named_exactly_like_the_struct_is_skipped() -> None:
    assert struct_items({"rec": "self", "rec.a": "1"}, "rec") == [("a", "1")]


def test_E69_keys_drop_bytes_not_characters() -> None:
    # "é" is two bytes; dropping len("rec") + 1 bytes of "recé" leaves the second byte.
    assert struct_items({"recé": "v"}, "rec") == [("\udca9", "v")]


def test_E69_empty_struct() -> None:
    assert struct_items({"a": "1"}, "rec") == []


# -- E-104 size, E-105 arrayIndex -----------------------------------------------


@pytest.mark.parametrize(
    ("vars", "expected"),
    [
        ({"l[0]": "a", "l[1]": "b", "l[3]": "d"}, 2),
        ({f"l[{i}]": "x" for i in range(12)}, 12),  # any length
        ({"l[0].x": "a", "l[1]": "b"}, 2),  # members count
        ({"l[1]": "b"}, 0),
        ({"l": "x", "l[": "y", "l[a]": "z"}, 0),
        ({}, 0),
    ],
)
def test_E104_array_size(vars: dict[str, str], expected: int) -> None:
    assert array_size(vars, "l") == expected


def test_E105_array_index() -> None:
    vars = {"f[0]": "pear", "f[1]": "apple", "f[2]": "apple", "f[4]": "kiwi"}
    assert array_index(vars, "f", "apple") == "1"
    assert array_index(vars, "f", "pear") == "0"
    assert array_index(vars, "f", "kiwi") == "nil"  # behind a gap
    assert array_index(vars, "f", "fig") == "nil"
    assert array_index({"f[0].x": "a"}, "f", "a") == "nil"  # exact names only


def test_E135_array_values_until_first_gap() -> None:
    assert array_values({"a[0]": "x", "a[1]": "y", "a[3]": "z"}, "a") == ["x", "y"]
    assert array_values({}, "a") == []


# -- E-102, E-103 ---------------------------------------------------------------


def test_E102_clear_struct_keeps_the_plain_name() -> None:
    vars = {"rec": "0", "rec.a": "1", "rec.b.c": "2", "recx": "3", "rec[0]": "4"}
    clear_struct(vars, "rec")
    assert vars == {"rec": "0", "recx": "3", "rec[0]": "4"}


def test_E103_clear_array_removes_everything_bracketed() -> None:
    vars = {"list": "0", "list[0]": "1", "list[10].x": "2", "list[abc]": "3", "list.a": "4"}
    clear_array(vars, "list")
    assert vars == {"list": "0", "list.a": "4"}


# -- E-130 postEvent / relayEvent variable lists --------------------------------


VARS = {
    "cmd": "transfer",
    "dest": "2001",
    "config.a": "1",
    "config.b": "2",
    "errno": "",
    "$x": "dollar",
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", {}),
        ("var", VARS),
        ("cmd;dest", {"cmd": "transfer", "dest": "2001"}),
        (";;cmd;;", {"cmd": "transfer"}),
        ("cmd;missing", {"cmd": "transfer"}),
        ("config.", {"config.a": "1", "config.b": "2"}),
        ("$x", {"$x": "dollar"}),  # no $ removal
        ("name;$cmd", {}),
        ("var;cmd", {"cmd": "transfer"}),  # only exactly "var" copies all
    ],
)
def test_E130_varlist_params(spec: str, expected: dict[str, str]) -> None:
    got = varlist_params(VARS, spec)
    assert got == expected
    assert got is not VARS
