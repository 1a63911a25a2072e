"""Argument styles (language.md 6.3, L-83 … L-88; actions.md 0.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lang_helpers import chart

from dsm.styles import (
    quick_splitter,
    split_K,
    split_L,
    split_N,
    split_P,
    split_raw,
    split_S,
    split_T,
    splitter,
    unquote_part,
)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("  x \t", "x"),
        ('"a b"', "a b"),
        ('""a""', "a"),
        ("'q'", "q"),
        ('"a" "b"', 'a" "b'),
        ("'a\"", 'a"'),
        (r'"a\"', "a\\"),
        ("", ""),
    ],
)
def test_L83_style_S(text: str, part: str) -> None:
    assert split_S(text) == ((part,), [])


# L-84 examples table (mandatory, separator `=`)
L84_TABLE = [
    ("$a = 5", "$a", "5", False),
    ('$a="x=y"', "$a", "x=y", False),
    ("$a=b=c", "$a", "b=c", False),
    ('"k=v"=1', "k=v", "1", False),
    ("$a=", "$a", "", True),
    ("$a", "", "", True),
    ("$q='it\\'s'", "$q", "it's", False),
]


@pytest.mark.parametrize(("text", "p1", "p2", "logged"), L84_TABLE)
def test_L84_style_P_mandatory_table(text: str, p1: str, p2: str, logged: bool) -> None:
    parts, problems = split_P(text, "=", True)
    assert parts == (p1, p2)
    assert bool(problems) == logged


def test_L84_quote_tracking_ignores_backslashes() -> None:
    """REFERENCE QUIRK: an escaped quote still opens a quoted region."""
    # the \" opens a region that the next " closes, so the first , inside is skipped
    assert split_P('a\\"b,c",d', ",", True)[0] == ('a\\"b,c"', "d")


def test_L84_optional_second_part() -> None:
    assert split_P(" file.wav ", ",", False) == (("file.wav", ""), [])
    assert split_P("f.wav, true", ",", False) == (("f.wav", "true"), [])


def test_L84_unquoting_only_for_parts_starting_with_a_quote() -> None:
    assert split_P("x, 'c\\\\'d'", ",", True)[0] == ("x", "c'd")
    # a part that does not start with a quote keeps quotes and backslashes
    assert split_P("a\\'b', x", ",", True)[0] == ("a\\'b'", "x")
    assert unquote_part('"x\\"y"') == 'x"y'
    assert unquote_part("x'y") == "x'y"


def test_L84_empty_first_part_logged() -> None:
    parts, problems = split_P(", x", ",", True)
    assert parts == ("", "x") and problems


def test_L85_style_L() -> None:
    assert split_L('mod, f, "a,b"') == (("mod", " f", ' "a', 'b"'), [])
    assert split_L("a,,b, ") == (("a", "b", " "), [])
    parts, problems = split_L("only")
    assert parts == ("only",) and problems


# L-86 table
L86_TABLE = [
    ("#key == 1", ("==", "#key", "1")),
    ("$a != b==c", ("==", "$a != b", "c")),
    ("$n <= 3", ("<", "$n", "= 3")),
    ("#type = file", ("", "", "")),
    ("$x>-1", (">", "$x", "-1")),
    ("\t$a == 1\t", ("==", "\t$a", "1\t")),
    ("", ()),
]


@pytest.mark.parametrize(("text", "parts"), L86_TABLE)
def test_L86_style_T_table(text: str, parts: tuple[str, ...]) -> None:
    got, problems = split_T(text)
    assert got == parts
    assert bool(problems) == (parts == ("", "", ""))


def test_L87_style_K_verbatim() -> None:
    assert split_K(' "1" ') == ((' "1" ',), [])


def test_L88_style_N_ignores_the_text() -> None:
    assert split_N("anything") == ((), [])


def test_raw_style_verbatim() -> None:
    assert split_raw(" a, b ") == ((" a, b ",), [])


def test_splitter_for_every_style_code() -> None:
    for style in ("N", "S", "P,opt", "P,mand", "P=opt", "P=mand", "L", "T", "K", "raw"):
        parts, problems = splitter(style)("x")
        assert isinstance(parts, tuple) and isinstance(problems, list)


@pytest.mark.parametrize(
    ("action", "args"),
    [
        ("set($a=1)", ("$a", "1")),
        ("log(2, hi)", ("2", "hi")),
        ("playFile(f.wav)", ("f.wav", "")),
        ("playPrompt( 'x' )", ("x",)),
        ("stop", ("",)),
        ("repost(ignored)", ()),
        ("DI(a, b, c)", ("a", " b", " c")),
    ],
)
def test_L82_actions_are_split_once_at_compile_time(action: str, args: tuple[str, ...]) -> None:
    c = chart(f"initial state A enter {{ {action} }};")
    assert c.states[0].enter[0].args == args


# -- the quick splitters of the compile path ----------------------------------------
_STYLE_CODES = ("N", "S", "P,opt", "P,mand", "P=opt", "P=mand", "L", "T", "K", "raw")


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=" \t,=\"'\\ab<>!$#()", max_size=24))
def test_L82_quick_split_equals_full_split_for_every_style(text: str) -> None:
    """L-82 … L-88: the compile path's quick split gives the full split's parts, and
    declines (``None``) exactly when the full split logs an error (L-92)."""
    for style in _STYLE_CODES:
        parts, problems = splitter(style)(text)
        quick = quick_splitter(style)(text)
        if problems:
            assert quick is None, (style, text)
        else:
            assert quick == parts, (style, text)
