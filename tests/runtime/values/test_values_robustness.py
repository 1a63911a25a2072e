"""R, I, E and the test predicate never raise, whatever the text (engine.md section 4)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.arrays import array_items, array_size, struct_items, varlist_params
from dsm.runtime.values import evaluate, interpolate, resolve, test_expression

ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)  # includes surrogates
MARKER_TEXT = st.text(alphabet="$#@()[]\"'\\ \t,;:-+0123456789abé\udcff", max_size=40)
TEXTS = ANY_TEXT | MARKER_TEXT
MAPS = st.dictionaries(TEXTS, TEXTS, max_size=5)


def select(name: str) -> str:
    return name[::-1]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=TEXTS, vars=MAPS, params=st.none() | MAPS)
def test_E22_E27_E36_never_raise(
    text: str, vars: dict[str, str], params: dict[str, str] | None
) -> None:
    before = dict(vars)
    assert isinstance(resolve(text, vars, params, select), str)
    assert isinstance(interpolate(text, vars, params, select), str)
    assert isinstance(evaluate(text, vars, params, select), str)
    assert vars == before  # pure: the variables are never changed


@settings(max_examples=200, derandomize=True, deadline=None)
@given(left=TEXTS, right=TEXTS, vars=MAPS)
def test_E44_test_expression_never_raises(left: str, right: str, vars: dict[str, str]) -> None:
    for op in ("==", "!=", "<", ">"):
        assert isinstance(test_expression(op, left, right, vars, None, select), bool)
        assert isinstance(
            test_expression(op, f"len({left})", f"len({right})", vars, {}, select), bool
        )


@settings(max_examples=200, derandomize=True, deadline=None)
@given(name=TEXTS, vars=MAPS)
def test_E68_E69_walks_never_raise(name: str, vars: dict[str, str]) -> None:
    array_items(vars, name)
    struct_items(vars, name)
    array_size(vars, name)
    varlist_params(vars, name)
