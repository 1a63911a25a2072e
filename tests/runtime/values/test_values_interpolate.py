"""Interpolation I (engine.md 4.2, E-27 … E-35), including every REFERENCE QUIRK."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.values import interpolate, resolve

VARS = {"a": "X", "ab": "AB", "n": "7", "list": "L"}
PARAMS = {"key": "5"}


def select(name: str) -> str:
    return {"user": "alice"}.get(name, "")


def I(text: str, vars: dict[str, str] = VARS, params: dict[str, str] | None = PARAMS) -> str:  # noqa: E743
    return interpolate(text, vars, params, select)


# -- the spec's algorithm, transcribed literally (in-place, positions in res) --

DELIMS = " \t,()[]$#@;:'\""


def literal_model(x: str, vars: dict[str, str], params: dict[str, str] | None, sel: object) -> str:
    """E-27 steps 1-7 exactly as written, editing ``res`` in place."""
    res = x
    pos = 0
    while True:
        ks = [i for i in range(pos, len(res)) if res[i] in "$#@"]
        if not ks:
            return res
        k = ks[0]
        m = res[k]
        pos = k + 1
        if k > 0 and k + 1 < len(res) and res[k + 1] == m:
            res = res[:k] + res[k + 1 :]
            continue
        if k > 0 and res[k - 1] == "\\":
            continue
        start = k + 2 if k + 1 < len(res) and res[k + 1] in "(\"'" else k + 1
        e = next((i for i in range(start, len(res)) if res[i] in DELIMS), len(res))
        name = res[k + 1 : e]
        if len(name) > 2 and (
            (name[0] == "(" and e < len(res) and res[e] == ")")
            or (name[0] in "\"'" and e < len(res) and res[e] == name[0])
        ):
            name = name[1:]
            if e != len(res):
                e += 1
        if m == "$":
            if name in vars:
                v = vars[name]
                res = res[:k] + v + res[e:]
                pos = k + len(v) if v else k + 1
            else:
                res = res[:k] + res[e:]
                pos = k
        elif m == "#":
            if params is None:
                pos = k + 1
            elif name in params:
                v = params[name]
                res = res[:k] + v + res[e:]
                pos = k + len(v)
            else:
                res = res[:k] + res[e:]
                pos = k
        else:
            v = resolve("@" + name, vars, params, sel)  # type: ignore[arg-type]
            res = res[:k] + v + res[e:]
            pos = k + len(v) if v else k + 1


# -- E-35: the spec's example table ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("val=$ab end", "val=AB end"),
        ("$(ab)cd", "ABcd"),
        ("$(a)cd", ")cd"),
        ("k=#key, #(key)!", "k=5, 5!"),
        ("##key", "5"),
        ("x ##key", "x #key"),
        ("\\$ab", "\\$ab"),
        ("@user@@host", "alice@host"),
        ("n=$n.", "n="),
        ("$'ab'x", "ABx"),
        ("item[$n]", "item[7]"),
    ],
)
def test_E35_examples(text: str, expected: str) -> None:
    assert I(text) == expected


def test_E27_text_without_markers_is_returned_unchanged() -> None:
    text = "no markers here"
    assert I(text) is text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('$"ab"!', "AB!"),
        ("$(ab", ""),  # no closing bracket: name "(ab", missing → deleted
        ("$(ab x", " x"),
        ("#(key)x", "5x"),
        ("@(user)x", "alicex"),
        ("$ab;rest", "AB;rest"),
        ("$ab:rest", "AB:rest"),
        ("$ab\tt", "AB\tt"),
    ],
)
def test_E27_bracketed_and_quoted_names(text: str, expected: str) -> None:
    assert I(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$a.b", ""), ("$a-1", ""), ("#key!", ""), ("$(a)-1", ")-1"), ("$(ab)-1", "AB-1")],
)
def test_E28_punctuation_is_part_of_names(text: str, expected: str) -> None:
    assert I(text) == expected


def test_E28_dotted_names_read_dotted_variables() -> None:
    assert I("$a.b!", {"a.b!": "deep"}) == "deep"


def test_E29_short_bracketed_name_is_not_recognised() -> None:
    assert I("$(a)cd") == ")cd"
    assert I("$(a)cd", {"(a": "P"}) == "P)cd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$$a and $$a", "X and $a"),
        ("cost: 5$$", "cost: 5$"),
        ("##key", "5"),
        ("@@user", "@alice"),  # "@" with empty name stays "@"; then @user
        ("x @@user", "x @user"),
    ],
)
def test_E30_doubling_at_start_is_not_unescaped(text: str, expected: str) -> None:
    assert I(text) == expected


def test_E30_doubling_at_start_without_params_keeps_hashes() -> None:
    assert I("##key", params=None) == "##key"


def test_E31_empty_value_skips_the_next_character() -> None:
    assert I("pre$e$b post", {"e": "", "b": "B"}) == "pre$b post"
    assert I("pre$e$b post", {"b": "B"}) == "preB post"


def test_E31_empty_select_skips_the_next_character() -> None:
    assert I("@nosuch$a") == "$a"


def test_E31_empty_param_does_not_skip() -> None:
    assert I("#e$a", params={"e": ""}) == "X"


def test_E32_brackets_end_names() -> None:
    assert I("$list[0]") == "L[0]"


@pytest.mark.parametrize(
    ("text", "params", "expected"),
    [
        ("5 $ each", PARAMS, "5  each"),
        ("5 # each", PARAMS, "5  each"),
        ("5 # each", None, "5 # each"),
        ("5 @ each", PARAMS, "5 @ each"),
        ("end$", PARAMS, "end"),
        ("end@", PARAMS, "end@"),
    ],
)
def test_E33_marker_followed_by_delimiter_or_end(
    text: str, params: dict[str, str] | None, expected: str
) -> None:
    assert I(text, params=params) == expected


def test_E34_at_followed_by_a_name_is_always_replaced() -> None:
    assert I("joe@example.com") == "joe"
    assert I("joe@@example.com") == "joe@example.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\\$ab", "a\\$ab"), ("a\\#key", "a\\#key"), ("a\\@user", "a\\@user")],
)
def test_E27_backslash_escape_keeps_marker_and_backslash(text: str, expected: str) -> None:
    assert I(text) == expected


def test_E27_escape_sees_the_end_of_a_replacement_value() -> None:
    assert I("$s$ab", {"s": "x\\", "ab": "AB"}) == "x\\$ab"


def test_E27_replacement_text_is_never_rescanned() -> None:
    assert I("$r", {"r": "$ab", "ab": "AB"}) == "$ab"


def test_E27_hash_without_params_leaves_reference_text() -> None:
    assert I("k=#key and $a", params=None) == "k=#key and X"


# -- agreement with the literal algorithm ---------------------------------------

ALPHABET = "$#@()\"' \t,;:[]\\abxe"
NAMES = st.text(alphabet="abxe()'\"", max_size=3)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(
    text=st.text(alphabet=ALPHABET, max_size=24),
    vars=st.dictionaries(NAMES, st.text(alphabet="ab$\\ ", max_size=3), max_size=6),
    params=st.none() | st.dictionaries(NAMES, st.text(alphabet="ab#", max_size=2), max_size=4),
)
def test_E27_matches_the_literal_in_place_algorithm(
    text: str, vars: dict[str, str], params: dict[str, str] | None
) -> None:
    def sel(name: str) -> str:
        return {"a": "SA", "b": ""}.get(name, "")

    assert interpolate(text, vars, params, sel) == literal_model(text, vars, params, sel)
