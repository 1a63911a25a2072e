"""The three number parsers UINT, INT and CNUM (engine.md 4.4, E-38)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.values import parse_cnum, parse_int, parse_uint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 12 apples", 12),
        ("", 0),
        ("   ", 0),
        ("12a", None),
        ("-1", None),
        ("+1", None),
        ("1.5", None),
        ("12\r\nx", 12),
        ("12\nx", 12),
        ("\t12", None),
        ("4294967295", 4294967295),
        ("4294967296", None),
        ("0000000001", 1),
        ("00000000001", None),  # more than 10 digits
        ("9999999999", None),
        ("１２", None),  # only ASCII digits count
    ],
)
def test_E38_uint(text: str, expected: int | None) -> None:
    assert parse_uint(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("-", 0),
        ("- 3", -3),
        ("  -  3 x", -3),
        ("-12", -12),
        ("12", 12),
        ("+3", None),
        ("2147483647", 2147483647),
        ("2147483648", None),
        ("-2147483647", -2147483647),
        ("-2147483648", None),
        ("--3", None),
        ("3-", None),
    ],
)
def test_E38_int(text: str, expected: int | None) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("5", 5),
        (" 5", 5),
        ("\t\n\v\f\r 5", 5),
        ("5 ", None),
        ("+5", 5),
        ("-5", -5),
        (" ", None),
        ("-", None),
        ("+", None),
        ("5x", None),
        ("0x10", None),
        ("9223372036854775807", 9223372036854775807),
        ("9223372036854775808", 9223372036854775807),
        ("-9223372036854775809", -9223372036854775808),
        ("1" * 5000, 9223372036854775807),
        ("-" + "1" * 5000, -9223372036854775808),
        ("000000000000000000000000042", 42),
        ("٣", None),  # non-ASCII digits are not C digits
    ],
)
def test_E38_cnum(text: str, expected: int | None) -> None:
    assert parse_cnum(text) == expected


# -- reference models written from the spec text --------------------------------


def model_uint(s: str, limit: int = 4294967295) -> int | None:
    rest = s.lstrip(" ")
    digits = ""
    for c in rest:
        if c in "0123456789":
            digits += c
        elif c in " \r\n":
            break
        else:
            return None
    if len(digits) > 10:
        return None
    value = int(digits) if digits else 0
    return value if value <= limit else None


def model_int(s: str) -> int | None:
    rest = s.lstrip(" ")
    sign = 1
    if rest.startswith("-"):
        sign = -1
        rest = rest[1:].lstrip(" ")
    v = model_uint(rest, 2147483647)
    return None if v is None else sign * v


def model_cnum(s: str) -> int | None:
    if s == "":
        return 0
    rest = s.lstrip(" \t\n\v\f\r")
    sign = 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if not rest or any(c not in "0123456789" for c in rest):
        return None
    v = sign * int(rest)
    return max(-(2**63), min(2**63 - 1, v))


NUMERIC_TEXT = st.text(alphabet="0123456789 -+\r\n\t\v\fa.", max_size=14)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(NUMERIC_TEXT)
def test_E38_parsers_agree_with_models(text: str) -> None:
    assert parse_uint(text) == model_uint(text)
    assert parse_int(text) == model_int(text)
    assert parse_cnum(text) == model_cnum(text)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.integers(min_value=0, max_value=2**33))
def test_E38_uint_round_trips_decimal_text(n: int) -> None:
    assert parse_uint(str(n)) == (n if n <= 4294967295 else None)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_E38_cnum_round_trips_and_saturates(n: int) -> None:
    assert parse_cnum(str(n)) == max(-(2**63), min(2**63 - 1, n))
