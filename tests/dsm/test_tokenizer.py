"""The tokenizer (language.md section 3, L-20 … L-30)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.tokenizer import _split_simple, _tokenize_scan, tokenize


def values(text: str) -> list[str]:
    return tokenize(text)[0]


# L-30: the tokenizer examples table, row by row.
L30_TABLE = [
    ("state B;", ["state", "B", ";"]),
    ("enter{set($a=1)}", ["enter", "{", "set($a=1)", "}"]),
    ("A - key(#key == 1) / stop -> B;", ["A", "-", "key(#key == 1)", "/", "stop", "->", "B", ";"]),
    ("A-->B;", ["A-->B", ";"]),
    ("log(1,x)log(2,y)", ["log(1,x)log(2,y)"]),
    ("$list[0]", ["$list", "[", "0", "]"]),
    ("set($list[0]=v)", ["set($list[0]=v)"]),
    ("(S1, S2)", ["(S1, S2)"]),
    ('"t ; x" S1', ["t ; x", "S1"]),
]


@pytest.mark.parametrize(("text", "expected"), L30_TABLE)
def test_L30_tokenizer_table(text: str, expected: list[str]) -> None:
    assert values(text) == expected


def test_L20_offsets_point_at_token_starts() -> None:
    vals, offs = tokenize('  state "B x";')
    assert vals == ["state", "B x", ";"] and offs == [2, 8, 13]


@pytest.mark.parametrize("ws", [" ", "\t", "\n", "\r"])
def test_L21_whitespace_characters(ws: str) -> None:
    assert values(f"a{ws}b") == ["a", "b"]


@pytest.mark.parametrize("notws", ["\f", "\v", "\u00a0"])
def test_L21_no_other_whitespace(notws: str) -> None:
    assert values(f"a{notws}b") == [f"a{notws}b"]


@pytest.mark.parametrize("p", [";", "{", "}", "[", "]"])
def test_L22_punctuation_is_a_token_of_its_own(p: str) -> None:
    assert values(f"a{p}b") == ["a", p, "b"]


def test_L22_other_printables_are_word_characters() -> None:
    assert values("-->/=,)$#@!<") == ["-->/=,)$#@!<"]


def test_L23_spans_continue_the_word() -> None:
    assert values('a"b c"d(e f)g h') == ['a"b c"d(e f)g', "h"]


def test_L24_quoted_span_takes_everything() -> None:
    assert values("'a;{b}(\"' x") == ['a;{b}("', "x"]


def test_L24_escaped_quote_inside_span_does_not_close() -> None:
    assert values(r'"a\"b" c') == [r"a\"b", "c"]


def test_L24_backslash_before_opening_quote_outside_parens_has_no_effect() -> None:
    assert values(r'x\"a b" c') == [r'x\"a b"', "c"]


def test_L24_quote_after_backslash_does_not_close_the_span() -> None:
    assert values("'a\\\\'''b c' d") == ["a\\\\'''b c", "d"]


def test_L25_first_character_after_nested_quote_sees_prev_before_it() -> None:
    # a backslash precedes the opening quote, so the immediately following quote is
    # escaped and the nested span runs to the end of the text
    assert values('f(\\"") x') == ['f(\\"") x']


def test_L25_parenthesised_span_nests() -> None:
    assert values("f(a (b) c) d") == ["f(a (b) c)", "d"]


def test_L25_whitespace_and_punctuation_inside_parens() -> None:
    assert values("log(1, a long text; with { braces })") == [
        "log(1, a long text; with { braces })"
    ]


def test_L25_quotes_inside_parens_protect_parentheses() -> None:
    assert values('log(1, ")") x') == ['log(1, ")")', "x"]


def test_L25_opening_quote_inside_parens_is_never_escaped() -> None:
    assert values(r'f(\"a)" b) c') == [r'f(\"a)" b)', "c"]


def test_L25_escaped_quote_inside_nested_span() -> None:
    assert values(r'f("a\")" b) c') == [r'f("a\")" b)', "c"]


@pytest.mark.parametrize("text", ['"abc', "'abc", "f(abc", 'f("abc)', "f((a)"])
def test_L26_unterminated_spans_end_at_end_of_text(text: str) -> None:
    vals = values("x " + text + "\n more ; stuff")
    assert vals[0] == "x" and len(vals) == 2 and "more ; stuf" in vals[1]


def test_L27_apostrophe_swallows_following_statements() -> None:
    text = "enter { log(2, can't stop);\n set($n=1);\n log(1, 'x') };"
    vals = values(text)
    assert vals[:2] == ["enter", "{"]
    assert vals[2].startswith("log(2, can't stop);") and "set($n=1)" in vals[2]


def test_L27_backslash_terminated_quoted_text() -> None:
    assert values('"c:\\" a b') == ['c:\\" a ']


L28_TABLE = [
    ('"my state"', "my state"),
    ("'a b'", "a b"),
    ('"abc"def', 'abc"de'),
    ('"log(1, x)"', "log(1, x)"),
    ('start"x y"end', 'start"x y"end'),
    (r'"a\nb"', r"a\nb"),
]


@pytest.mark.parametrize(("text", "value"), L28_TABLE)
def test_L28_token_value(text: str, value: str) -> None:
    assert values(text) == [value]


@pytest.mark.parametrize("text", ['""', "''"])
def test_L29_empty_tokens_vanish(text: str) -> None:
    assert values(f"a {text} b") == ["a", "b"]


def test_L29_lone_quote_at_end_vanishes() -> None:
    assert values('a "') == ["a"]


# -- the fast path against a literal reading of L-23 … L-29 -------------------------
def reference_tokenize(text: str) -> list[str]:
    """A character-by-character transcription of L-23 … L-29, for comparison only."""
    ws, punct = " \t\r\n", ";{}[]"
    out: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in ws:
            i += 1
        if i >= n:
            return out
        if text[i] in punct:
            out.append(text[i])
            i += 1
            continue
        start, prev = i, " "
        while i < n and text[i] not in ws and text[i] not in punct:
            c = text[i]
            if c in "\"'":  # L-24
                i += 1
                while i < n and not (text[i] == c and prev != "\\"):
                    prev = text[i]
                    i += 1
                i += 1  # the closing quote (or past the end)
            elif c == "(":  # L-25
                depth = 0
                prev = "("
                i += 1
                while i < n:
                    d = text[i]
                    if d == "(":
                        depth += 1
                    elif d == ")":
                        if depth == 0:
                            prev = ")"
                            i += 1
                            break
                        depth -= 1
                    elif d in "\"'":
                        i += 1
                        while i < n and not (text[i] == d and prev != "\\"):
                            prev = text[i]
                            i += 1
                        prev = d
                        i += 1
                        continue
                    prev = d
                    i += 1
            else:
                i += 1
        word = text[start : min(i, n)]
        if word[0] in "\"'":
            word = word[1:-1]
        if word:
            out.append(word)
        i = min(i, n)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet="ab \n;{}[]()\"'\\-=", max_size=60))
def test_L23_L29_fast_tokenizer_equals_the_literal_rules(text: str) -> None:
    assert tokenize(text)[0] == reference_tokenize(text)


# -- the whole-text split fast path against the scanning path -----------------------
@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet="ab \n\t;{}[]()\"'\\-=", max_size=60))
def test_L20_L29_split_path_equals_scan_path_with_offsets(text: str) -> None:
    """L-20 … L-29: where the one-split fast path applies, values *and* offsets are
    those of the scanning path; where it declines, the scanning path is used."""
    fast = _split_simple(text)
    if fast is not None:
        assert fast == _tokenize_scan(text)
    assert tokenize(text) == _tokenize_scan(text)


@pytest.mark.parametrize(
    "text",
    [
        'transition "a b" S1 - key(#key == 1) / log(1, "x y") -> S2;',
        "state A enter { set($a='q') };",
        'a "" b',  # L-29 inside the fast path
        "(S1, S2) x",
    ],
)
def test_L23_simple_words_take_the_split_path(text: str) -> None:
    fast = _split_simple(text)
    assert fast is not None and fast == _tokenize_scan(text)


@pytest.mark.parametrize(
    "text",
    ["f(a (b) c) d", r'"a\"b" c', "x 'abc", "f(abc", r"f(\"a)", 'a"b'],
)
def test_L24_L26_other_words_take_the_scan_path(text: str) -> None:
    """Nested parentheses, backslashes in spans and unterminated spans (L-24 … L-26)."""
    assert _split_simple(text) is None
    assert tokenize(text)[0] == reference_tokenize(text)
