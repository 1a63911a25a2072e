"""Plain resolution R (engine.md 4.1, E-22 … E-26)."""

from __future__ import annotations

import pytest

from dsm.runtime.values import resolve, strip_dollar

VARS = {"a": "A", "a b": "spaced", "": "empty-name", "n-x": "dash"}
PARAMS = {"key": "5", "": "empty-param"}
SELECTS = {"user": "alice", "example.com": "ex"}


def select(name: str) -> str:
    return SELECTS.get(name, "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("$$x", "$"),
        ("$$", "$"),
        ("$a", "A"),
        ("$missing", ""),
        ("$", "empty-name"),
        ("##", "#"),
        ("##key", "#"),
        ("#key", "5"),
        ("#nope", ""),
        ("#", "empty-param"),
        ("@@", "@"),
        ("@@user", "@"),
        ("@", "@"),
        ("@user", "alice"),
        ("@unknown", ""),
        ("plain", "plain"),
        ('"say hi"', "say hi"),
        ('""x""', "x"),
        ('"', ""),
        ("'hi'", "'hi'"),
    ],
)
def test_E22_first_character_decides(text: str, expected: str) -> None:
    assert resolve(text, VARS, PARAMS, select) == expected


def test_E22_hash_without_params_is_empty() -> None:
    assert resolve("#key", VARS, None, select) == ""
    assert resolve("##", VARS, None, select) == "#"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$a b", "spaced"),  # the whole rest is the name
        ("a $b", "a $b"),
        (" $a", " $a"),
        ("$n-x", "dash"),
        ('"$a"', "$a"),  # quotes stripped, but R is not applied again
        ("  x  ", "  x  "),  # never trims
    ],
)
def test_E23_whole_rest_is_the_name_and_nothing_is_trimmed(text: str, expected: str) -> None:
    assert resolve(text, VARS, PARAMS, select) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$$x", "$"),
        ("#", "empty-param"),
        ("##", "#"),
        ("@", "@"),
        ('"say hi"', "say hi"),
        ("'hi'", "'hi'"),
        ('""x""', "x"),
    ],
)
def test_E24_examples(text: str, expected: str) -> None:
    assert resolve(text, VARS, PARAMS, select) == expected


def test_E25_text_merely_containing_dollar_is_literal() -> None:
    assert resolve("x$a", VARS, PARAMS, select) == "x$a"


@pytest.mark.parametrize(("text", "expected"), [("$x", "x"), ("x", "x"), ("$$x", "$x"), ("", "")])
def test_strip_dollar_removes_exactly_one(text: str, expected: str) -> None:
    assert strip_dollar(text) == expected
