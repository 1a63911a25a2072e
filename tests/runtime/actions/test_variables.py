"""Core variable, array and struct actions (engine.md 11.1; actions.md A-core-7 … A-core-20)."""

from __future__ import annotations

import pytest

import dsm.runtime.actions.variables  # noqa: F401  (registers the actions)
from dsm.runtime.actions.core import core
from dsm.runtime.harness.stub import StubContext
from dsm.vocabulary import CORE_ACTIONS


class FakeContext(StubContext):
    """A dict-backed ActionContext processing a Key event (values through the real R and I)."""

    def __init__(
        self,
        vars: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        selects: dict[str, str] | None = None,
    ) -> None:
        super().__init__(vars, params, selects, event_type="Key")


def run(ctx: FakeContext, name: str, *args: str) -> None:
    core.actions[name].fn(ctx, *args)


MINE = [
    "set", "sets", "eval", "setVar", "var", "param", "append", "substr", "inc",
    "clear", "clearStruct", "clearArray", "size", "arrayIndex",
]  # fmt: skip


@pytest.mark.parametrize("name", MINE)
def test_L82_registered_style_matches_core_vocabulary(name: str) -> None:
    assert core.actions[name].signature.style == CORE_ACTIONS[name].style


# -- A-core-7 set ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("$greeting", "hello"), {"greeting": "hello"}),
        (("greeting", "hello"), {"greeting": "hello"}),  # L-91.14
        (("$a", "$b"), {"a": "B"}),  # E-25: quotes removed at compile time, R at run time
        (("$a", "x$b"), {"a": "x$b"}),
        (("$a", "$$"), {"a": "$"}),
        (("$a", "@user"), {"a": "alice"}),
        (("$a", "#key"), {"a": "5"}),
        (("", ""), {"": ""}),  # missing "=" (L-84): the empty name is set
        (("$$a", "v"), {"$a": "v"}),  # strip$ removes exactly one $
    ],
)
def test_A_core_7_set_variable(args: tuple[str, str], expected: dict[str, str]) -> None:
    ctx = FakeContext({"b": "B"}, {"key": "5"}, {"user": "alice"})
    run(ctx, "set", *args)
    for k, v in expected.items():
        assert ctx.vars[k] == v


def test_E92_set_param_when_present() -> None:
    ctx = FakeContext(params={"key": "5"})
    run(ctx, "set", "#processed", "true")
    assert ctx.params == {"key": "5", "processed": "true"}
    assert "processed" not in ctx.vars


def test_E18_set_param_silently_ignored_when_absent() -> None:
    ctx = FakeContext()
    run(ctx, "set", "#processed", "true")
    assert ctx.params is None
    assert ctx.vars == {}


def test_A_core_7_set_does_not_resolve_the_target() -> None:
    ctx = FakeContext({"t": "other"})
    run(ctx, "set", "$t", "1")
    assert ctx.vars == {"t": "1"}


# -- A-core-8 sets --------------------------------------------------------------


def test_A_core_8_sets_interpolates() -> None:
    ctx = FakeContext({"n": "3", "user": "ann"}, selects={"user": "bob"})
    run(ctx, "sets", "$msg", "you have $n messages")
    run(ctx, "sets", "$u", "$(user)-x @user")
    run(ctx, "sets", "$q", "$(n)-x")  # E-29: one-character bracketed names do not work
    assert ctx.vars["msg"] == "you have 3 messages"
    assert ctx.vars["u"] == "ann-x bob"
    assert ctx.vars["q"] == ")-x"


def test_E93_sets_param_target() -> None:
    ctx = FakeContext({"n": "3"}, params={})
    run(ctx, "sets", "#out", "n=$n")
    assert ctx.params == {"out": "n=3"}
    ctx2 = FakeContext({"n": "3"})
    run(ctx2, "sets", "#out", "n=$n")
    assert "out" not in ctx2.vars


# -- A-core-9 eval --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [("$n+1", "8"), ("10-2+3", "5"), ("abc", "abc"), ("$n - 10", "-3"), ("#key+1", "6")],
)
def test_A_core_9_eval(expr: str, expected: str) -> None:
    ctx = FakeContext({"n": "7"}, {"key": "5"})
    run(ctx, "eval", "$r", expr)
    assert ctx.vars["r"] == expected


def test_E94_eval_has_no_param_form() -> None:
    ctx = FakeContext(params={})
    run(ctx, "eval", "#r", "1+1")
    assert ctx.vars["#r"] == "2"
    assert ctx.params == {}


# -- A-core-10 setVar -----------------------------------------------------------


def test_A_core_10_set_var_sets_the_named_variable() -> None:
    ctx = FakeContext({"ref": "slot[2]", "v": "five"})
    run(ctx, "setVar", "$ref", "$v")
    run(ctx, "setVar", "n", "5")
    assert ctx.vars["slot[2]"] == "five"
    assert ctx.vars["n"] == "5"
    assert ctx.vars["ref"] == "slot[2]"


def test_E95_set_var_has_no_param_form() -> None:
    ctx = FakeContext(params={"p": "x"})
    run(ctx, "setVar", "#p", "1")  # R(#p) = "x" names the variable
    assert ctx.vars["x"] == "1"
    assert ctx.params == {"p": "x"}


# -- A-core-11 var --------------------------------------------------------------


def test_A_core_11_var_copies_indirectly() -> None:
    ctx = FakeContext({"src": "S", "ref": "src"})
    run(ctx, "var", "$a", "src")
    run(ctx, "var", "$b", "$ref")
    assert ctx.vars["a"] == "S"
    assert ctx.vars["b"] == "S"


def test_E96_var_creates_a_missing_source_quirk() -> None:
    ctx = FakeContext()
    run(ctx, "var", "$a", "nosuch")
    assert ctx.vars == {"a": "", "nosuch": ""}
    ctx = FakeContext()
    run(ctx, "var", "$a", "$empty")
    assert ctx.vars == {"a": "", "": ""}


# -- A-core-12 param ------------------------------------------------------------


def test_A_core_12_param_copies_the_parameter() -> None:
    ctx = FakeContext({"which": "key"}, {"key": "5"})
    run(ctx, "param", "$k", "$which")
    run(ctx, "param", "$m", "missing")
    assert ctx.vars["k"] == "5"
    assert ctx.vars["m"] == ""


def test_E97_param_without_params_writes_empty() -> None:
    ctx = FakeContext({"k": "old"})
    run(ctx, "param", "k", "key")
    assert ctx.vars["k"] == ""


# -- A-core-13 append -----------------------------------------------------------


def test_A_core_13_append() -> None:
    ctx = FakeContext(params={"key": "4"})
    run(ctx, "append", "$pin", "#key")
    run(ctx, "append", "pin", "2")
    run(ctx, "append", "$pin", "$nothing")
    assert ctx.vars["pin"] == "42"


# -- A-core-14 substr -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("4, 2", "01"),
        ("4,2", "01"),
        ("6", "31"),
        ("0", "20240131"),
        ("4,0", "0131"),  # len 0 means "to the end" (REFERENCE QUIRK)
        ("6,10", "31"),  # clipped
        ("8", ""),  # pos == length is allowed
        ("$p,$l", "0131"),
    ],
)
def test_A_core_14_substr(spec: str, expected: str) -> None:
    ctx = FakeContext({"d": "20240131", "p": "4", "l": ""})
    run(ctx, "substr", "$d", spec)
    assert ctx.vars["d"] == expected
    assert ctx.logs == []


@pytest.mark.parametrize("spec", ["x", "-1", "1,y", "1.5", "1, -2"])
def test_E99_substr_bad_number_is_a_logged_error(spec: str) -> None:
    ctx = FakeContext({"d": "abc"})
    run(ctx, "substr", "$d", spec)
    assert ctx.vars == {"d": "abc"}
    assert len(ctx.logs) == 1 and ctx.logs[0][0] == 0


def test_E99_substr_position_beyond_end() -> None:
    ctx = FakeContext({"d": "abc"})
    run(ctx, "substr", "$d", "4")
    assert ctx.vars["d"] == "abc"
    assert ctx.logs and ctx.logs[0][0] == 0


def test_E99_substr_creates_missing_variable() -> None:
    ctx = FakeContext()
    run(ctx, "substr", "$d", "0")
    assert ctx.vars == {"d": ""}


def test_E99_substr_counts_bytes() -> None:
    ctx = FakeContext({"d": "héllo"})
    run(ctx, "substr", "$d", "3")
    assert ctx.vars["d"] == "llo"


# -- A-core-15 inc --------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "1"),
        ("", "1"),
        ("41", "42"),
        ("-3", "1"),
        ("abc", "1"),
        ("4294967295", "0"),
        (" 7 x", "8"),
    ],
)
def test_A_core_15_inc(before: str | None, after: str) -> None:
    ctx = FakeContext({} if before is None else {"n": before})
    run(ctx, "inc", "$n")
    assert ctx.vars["n"] == after


def test_A_core_15_inc_is_not_resolved() -> None:
    ctx = FakeContext({"ref": "n"})
    run(ctx, "inc", "$ref")
    assert ctx.vars == {"ref": "1"}


# -- A-core-16 clear ------------------------------------------------------------


def test_A_core_16_clear_exact_name_only() -> None:
    ctx = FakeContext({"a": "1", "a.b": "2", "a[0]": "3"})
    run(ctx, "clear", "$a")
    run(ctx, "clear", "missing")
    assert ctx.vars == {"a.b": "2", "a[0]": "3"}


# -- A-core-17, A-core-18 -------------------------------------------------------


def test_A_core_17_clear_struct() -> None:
    ctx = FakeContext({"rec": "0", "rec.a": "1", "rec.b.c": "2", "recx": "3"})
    run(ctx, "clearStruct", "$rec")
    assert ctx.vars == {"rec": "0", "recx": "3"}


def test_A_core_18_clear_array() -> None:
    ctx = FakeContext({"list": "0", "list[0]": "1", "list[10].x": "2", "list[abc]": "3"})
    run(ctx, "clearArray", "list")
    assert ctx.vars == {"list": "0"}


# -- A-core-19 size -------------------------------------------------------------


def test_A_core_19_size() -> None:
    ctx = FakeContext({"l[0]": "a", "l[1]": "b", "l[3]": "d"})
    run(ctx, "size", "$l", "$cnt")
    assert ctx.vars["cnt"] == "2"


def test_E104_size_neither_part_resolved() -> None:
    ctx = FakeContext({"l": "x[0]", "x[0]": "1", "cnt": "dest"})
    run(ctx, "size", "$l", "$cnt")
    assert ctx.vars["cnt"] == "0"


def test_E104_size_counts_long_arrays() -> None:
    ctx = FakeContext({f"l[{i}]": str(i) for i in range(25)})
    run(ctx, "size", "l", "n")
    assert ctx.vars["n"] == "25"


# -- A-core-20 arrayIndex -------------------------------------------------------


def test_A_core_20_array_index_to_index_variable() -> None:
    ctx = FakeContext({"fruits[0]": "pear", "fruits[1]": "apple"})
    run(ctx, "arrayIndex", "$fruits", "apple")
    assert ctx.vars["index"] == "1"


def test_A_core_20_array_index_to_named_index_variable() -> None:
    ctx = FakeContext({"fruits[0]": "pear", "fruits[1]": "apple", "want": "kiwi"})
    run(ctx, "arrayIndex", "$fruits", "$want")
    assert ctx.vars["want.index"] == "nil"
    assert "index" not in ctx.vars
