"""Property tests: robustness, round trips and stable digests (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsm import Action, Chart, CompileError, For, If, compile_source

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

PIECES = [
    "state",
    "initial",
    "transition",
    "function",
    "enter",
    "exit",
    "if",
    "else",
    "for",
    "not",
    "exception",
    "import(x)",
    "import",
    "-",
    "->",
    "-->",
    "/",
    "-/",
    ";",
    "{",
    "}",
    "[",
    "]",
    "A",
    "B",
    "(A, B)",
    "f()",
    "log(1, x)",
    "set($a=1)",
    "stop",
    "key(#key == 1)",
    "hangup",
    "test($a = 1)",
    "for($i in $l)",
    "($k,$v in $s)",
    "format(x)",
    "'",
    '"',
    "(",
    ")",
    "\\",
    "#include x",
    "-- c",
    "\n",
    "\r\n",
    " ",
    "\t",
    "keyPress(1)",
    "DI(a)",
    "important",
]


def _compile_or_error(text: str) -> None:
    try:
        compile_source(text, "fuzz")
    except CompileError as exc:
        assert exc.diagnostics and any(d.is_error for d in exc.diagnostics)


@FAST
@given(st.text(max_size=300))
def test_random_text_raises_only_compile_error(text: str) -> None:
    _compile_or_error(text)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_compile_error(data: bytes) -> None:
    _compile_or_error(data.decode("utf-8", "surrogateescape"))


@FAST
@given(
    st.lists(st.sampled_from(PIECES), max_size=60),
    st.lists(st.sampled_from([" ", "\n", ""]), max_size=60),
)
def test_random_token_soup_raises_only_compile_error(pieces: list[str], seps: list[str]) -> None:
    out = []
    for i, p in enumerate(pieces):
        out.append(p)
        out.append(seps[i] if i < len(seps) else " ")
    _compile_or_error("".join(out))


# -- generated well-formed charts -----------------------------------------------
NAMES = st.sampled_from(["A", "B2", "MENU", "PIN_OK", "X_1", "WAIT", "END", "S"])
WORD = st.sampled_from(["a", "b", "x1", "hello", "42", "menu"])


@st.composite
def actions(draw: Any, depth: int = 0) -> tuple[str, Any]:
    """An element as (source text, expected structure)."""
    kind = draw(
        st.sampled_from(
            ["log", "set", "stop", "play", "if", "for"] if depth < 2 else ["log", "set", "stop"]
        )
    )
    w = draw(WORD)
    if kind == "log":
        return f"log(2, {w})", ("log", ("2", w))
    if kind == "set":
        return f"set($v_{w}={w})", ("set", (f"$v_{w}", w))
    if kind == "stop":
        return "stop(true)", ("stop", ("true",))
    if kind == "play":
        return f"playPrompt({w})", ("playPrompt", (w,))
    body = draw(st.lists(actions(depth + 1), max_size=3))
    body_text = " ".join(t for t, _ in body)
    body_tree = tuple(e for _, e in body)
    if kind == "if":
        orelse = draw(st.lists(actions(depth + 1), max_size=2))
        text = f"if test($x == {w}) {{ {body_text} }}"
        if orelse:
            text += " else { " + " ".join(t for t, _ in orelse) + " }"
        return text, ("if", (("test", ("==", "$x", w)),), body_tree, tuple(e for _, e in orelse))
    return f"for ($i in $list_{w}) {{ {body_text} }}", ("for", "$i", f"$list_{w}", body_tree)


def tree(elements: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for e in elements:
        if isinstance(e, Action):
            out.append((e.name, e.args))
        elif isinstance(e, If):
            out.append(
                ("if", tuple((c.name, c.args) for c in e.conditions), tree(e.then), tree(e.orelse))
            )
        elif isinstance(e, For):
            out.append(("for", e.counter, e.collection, tree(e.body)))
    return tuple(out)


@st.composite
def charts(draw: Any) -> tuple[str, Any]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    initial = draw(st.sampled_from(names))
    lines: list[str] = []
    states: list[Any] = []
    for n in names:
        enter = draw(st.lists(actions(), max_size=3))
        prefix = "initial " if n == initial else ""
        lines.append(f"{prefix}state {n} enter {{ " + " ".join(t for t, _ in enter) + " };")
        states.append([n, tuple(e for _, e in enter), []])
    for i in range(draw(st.integers(0, 6))):
        src = draw(st.integers(0, len(names) - 1))
        target = draw(st.sampled_from(names))
        key = draw(st.integers(0, 9))
        invert = draw(st.booleans())
        exc = draw(st.booleans())
        acts = draw(st.lists(actions(), max_size=2))
        cond = ("not " if invert else "") + f"key(#key == {key})" + (" exception" if exc else "")
        lines.append(
            f'transition "t{i}" {names[src]} - {cond} / '
            + " ".join(t for t, _ in acts)
            + f" -> {target};"
        )
        states[src][2].append(
            (
                f"t{i}",
                target,
                (("key", ("==", "#key", str(key)), invert),),
                exc,
                tuple(e for _, e in acts),
            )
        )
    expected = (initial, tuple((n, enter, tuple(ts)) for n, enter, ts in states))
    return "\n".join(lines) + "\n", expected


def structure(c: Chart) -> Any:
    return (
        c.initial,
        tuple(
            (
                s.name,
                tree(s.enter),
                tuple(
                    (
                        t.name,
                        t.target,
                        tuple((x.name, x.args, x.invert) for x in t.conditions),
                        t.exception,
                        tree(t.actions),
                    )
                    for t in s.transitions
                ),
            )
            for s in c.states
        ),
    )


@settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(charts())
def test_generated_charts_round_trip_with_stable_digest(case: tuple[str, Any]) -> None:
    """Rendered to text, a generated chart compiles back to what it was generated from;
    compiling the same text twice gives equal charts and equal digests."""
    text, expected = case
    a = compile_source(text, "gen", consistency_check=False)
    assert structure(a) == expected
    b = compile_source(text, "gen", consistency_check=False)
    assert a == b and a.digest == b.digest and hash(a.states) == hash(b.states)


def test_digest_changes_with_content() -> None:
    a = compile_source("initial state A;", "x", consistency_check=False)
    b = compile_source("initial state B;", "x", consistency_check=False)
    assert a.digest != b.digest
