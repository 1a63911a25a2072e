"""Test expressions of style-T conditions (engine.md 5, E-43 … E-48; actions.md 16, C-core-1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.values import test_condition, test_expression

VARS = {
    "pin": "1234",
    "a": "abc",
    "x": "$x",
    "star": "ab*",
    "u": "sip:joe@example.com",
    "five": "5",
    "empty": "",
    "long": "x" * 53,
    "big": "x" * 300,
    "uni": "é",
}
PARAMS = {"key": "1", "type": "file", "n": "10"}


def select(name: str) -> str:
    return {"user": "alice"}.get(name, "")


def T(op: str, left: str, right: str, params: dict[str, str] | None = PARAMS) -> bool:
    return test_expression(op, left, right, VARS, params, select)


def test_E43_empty_expression_is_always_true() -> None:
    assert test_condition((), VARS, PARAMS, select) is True
    assert test_condition((), VARS, None, select) is True


def test_E43_unrecognised_operator_never_matches() -> None:
    assert test_condition(("", "", ""), VARS, PARAMS, select) is False
    assert T("", "#type", "file") is False
    assert T("=", "#type", "file") is False


def test_E43_test_condition_applies_the_expression() -> None:
    assert test_condition(("==", "#key", "1"), VARS, PARAMS, select) is True
    assert test_condition(("==", "#key", "2"), VARS, PARAMS, select) is False


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("==", "len($pin)", "4", True),
        ("<", "len($pin)", "5", True),
        (">", "len($empty)", "0", False),
        ("==", "len($empty)", "0", True),
        ("==", "len(abc)", "3", True),  # R(X) of a literal
        ("==", 'len("ab")', "2", True),
        ("==", "len()", "", False),  # too short: R("len()") is the text itself
        ("==", "len()", "len()", True),
        ("==", "len($uni)", "2", True),  # byte length
        ("==", "len(@user)", "5", True),
    ],
)
def test_E44_len_on_the_left_is_the_decimal_byte_length(
    op: str, left: str, right: str, expected: bool
) -> None:
    assert T(op, left, right) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("3", "len($a)", False),  # practically never true (REFERENCE QUIRK)
        ("\x03", "len($a)", True),  # the single byte 3
        ("5", "len($long)", True),  # '5' is byte 53
        ("\x00", "len($empty)", True),
        (",", "len($big)", True),  # 300 % 256 = 44 = ','
    ],
)
def test_E44_len_on_the_right_is_one_byte_quirk(left: str, right: str, expected: bool) -> None:
    vars = dict(VARS, raw=left)
    assert test_expression("==", "$raw", right, vars, PARAMS, select) is expected


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("==", '"abc"', "abc", True),
        ("==", "$a", '"abc"', True),
        ("==", "'abc'", "abc", False),  # single quotes stay (REFERENCE QUIRK)
        ("==", "'abc'", "'abc'", True),
        ("==", '"$x"', "$x", True),  # literal text $x ... and variable x holds "$x"
        ("==", '"$a"', "abc", False),  # "$a" is literal, not the variable
        ("==", '"$a"', '"$a"', True),
    ],
)
def test_E45_quotes_survive_to_run_time(op: str, left: str, right: str, expected: bool) -> None:
    assert T(op, left, right) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("$u", "sip:*", True),
        ("$u", "sips:*", False),
        ("$a", "ab*cd", True),  # text after * is ignored
        ("$a", "abc*", True),
        ("$a", "abcd*", False),  # left shorter than the prefix
        ("$a", "*", True),
        ("$empty", "*", True),
        ("$a", "$star", True),  # the * may come from a variable
        ("ab*", "ab*", True),
        ("ab*", "abc", False),  # the left side is never a pattern
        ("$pin", "1234", True),
        ("$pin", "123", False),
        ("#key", "1", True),
        ("@user", "alice", True),
        ("$uni", "é*", True),
    ],
)
def test_E46_equality_with_star_prefix(left: str, right: str, expected: bool) -> None:
    assert T("==", left, right) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [("$a", "abc", False), ("$a", "ab*", True), ("$a", "x", True), ("$missing", "", False)],
)
def test_E47_inequality_is_exact(left: str, right: str, expected: bool) -> None:
    assert T("!=", left, right) is expected


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("<", "$unset", "1", True),  # CNUM("") is 0
        (">", '"abc"', '"10"', True),  # string comparison
        ("<", '" 5"', "10", True),  # numeric
        ("<", '"5 "', "10", False),  # string comparison
        ("<", "9", "10", True),
        (">", "9", "10", False),
        ("<", "-5", "3", True),
        (">", "#n", "9", True),
        ("<", "abc", "abd", True),
        (">", "b", "abc", True),
        ("<", "abc", "abc", False),
        (">", "abc", "abc", False),
        ("<", "ab", "abc", True),  # a prefix sorts first
        ("<", "99999999999999999999", "1", False),  # saturates at the 64-bit maximum
        ("<", "$a", "é", True),  # byte-wise
        (">", "$uni", "z", True),
        ("<", "len($pin)", "10", True),
    ],
)
def test_E48_less_and_greater(op: str, left: str, right: str, expected: bool) -> None:
    assert T(op, left, right) is expected


def test_E48_hash_operands_without_params_are_empty() -> None:
    assert T("<", "#key", "1", params=None) is True
    assert T("==", "#key", "", params=None) is True


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("==", "#key", "1", True),
        ("==", "$a != b", "c", False),  # "$a != b" resolves to the variable "a != b"
        ("<", "$n", "= 3", True),  # "" sorts before "= 3" byte-wise
        (">", "$x", "-1", True),  # numeric: 0 > -1
    ],
)
def test_L86_split_examples_evaluate(op: str, left: str, right: str, expected: bool) -> None:
    assert test_expression(op, left, right, {"x": "0"}, PARAMS, select) is expected


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    op=st.sampled_from(["==", "!=", "<", ">", "", "=", "<="]),
    left=st.text(max_size=12),
    right=st.text(max_size=12),
)
def test_E44_never_raises_on_arbitrary_operands(op: str, left: str, right: str) -> None:
    assert isinstance(test_expression(op, left, right, VARS, PARAMS, select), bool)
