"""Arithmetic E of ``eval`` (engine.md 4.3, E-36, E-37)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.values import evaluate, resolve

VARS = {"n": "7", "big": "4294967296", "neg": "-3", "n-x": "nx"}


def select(name: str) -> str:
    return ""


def E(text: str, vars: dict[str, str] = VARS) -> str:
    return evaluate(text, vars, None, select)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1+2", "3"),
        ("$n + 4", "11"),
        ("2+3-1", "4"),
        ("10-2+3", "5"),
        ("10-2-3", "10-2-3"),
        ("3-5", "-2"),
        ("-5", "-5"),
        ("abc", "abc"),
        ("$n-x", "nx"),
        ('"4"', "4"),
    ],
)
def test_E37_table(text: str, expected: str) -> None:
    assert E(text) == expected


def test_E37_missing_dashed_variable_gives_empty() -> None:
    assert E("$n-x", {"n": "7"}) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2", "3"),
        (" 1+ 2 ", "3"),
        ("1\t+2", "1\t+2"),  # tabs are not removed; "1\t" is not all digits
        ("a b", "ab"),
        ("5", "5"),
        ("", ""),
        ("1+", "1+"),
        ("+1", "+1"),
        ("1++2", "1++2"),
        ("$n+$n", "14"),
        ("$neg+1", ""),  # "-3" is not a digit string → R($neg+1): variable "neg+1"
        ("007+1", "8"),
        ("1+2+3", "6"),
        ("9-1-1", "9"),  # 9 - (1-1)
        ("5-1+1", "3"),
    ],
)
def test_E36_algorithm(text: str, expected: str) -> None:
    assert E(text) == expected


def test_E37_large_operands_wrap_to_signed_32_bits() -> None:
    assert E("2147483647+1") == "-2147483648"
    assert E("$big+1") == "1"
    assert E("0-2147483648") == "-2147483648"


def reference_E(x: str, vars: dict[str, str]) -> str:
    """E-36 written as its recursive definition (for short inputs)."""

    def digits(s: str) -> bool:
        return s != "" and all("0" <= c <= "9" for c in s)

    def wrap(v: int) -> int:
        v %= 2**32
        return v - 2**32 if v >= 2**31 else v

    def e(t: str) -> str:
        for op in "-+":
            if op in t:
                left, _, right = t.partition(op)
                lv, rv = e(left), e(right)
                if digits(lv) and digits(rv):
                    a, b = wrap(int(lv)), wrap(int(rv))
                    return str(wrap(a - b if op == "-" else a + b))
                return resolve(t, vars, None, select)
        return resolve(t, vars, None, select)

    return e(x.replace(" ", ""))


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.text(alphabet='0123456789+- $n"x', max_size=16))
def test_E36_agrees_with_the_recursive_definition(text: str) -> None:
    assert E(text) == reference_E(text, VARS)


def test_E36_long_chains_do_not_exhaust_the_stack() -> None:
    assert E("1-" * 5000 + "2") == "1-" * 5000 + "2"
    assert E("+".join(["1"] * 5000)) == "5000"
