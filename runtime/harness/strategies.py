"""Hypothesis strategies that generate what a caller might do to a script.

A property test of a script fits in a few lines::

    from hypothesis import given
    from dsm.runtime.harness import Harness
    from dsm.runtime.harness.strategies import event_sequences, run_steps

    h0 = Harness("examples/pin")

    @given(event_sequences(h0.charts["pin"]))
    def test_any_sequence_ends_cleanly(steps):
        h = Harness("examples/pin")
        call = h.call("pin")
        run_steps(call, steps)
        call.hangup()
        assert call.terminated

Steps are plain frozen dataclasses (:class:`Press`, :class:`Wait`,
:class:`Hangup`, :class:`Post`), so Hypothesis shrinks a failing sequence to
a short, readable one.  :func:`event_sequences` looks at the chart to make
the interesting inputs likely: the keys its conditions compare with, the
timer lengths it sets, and the ``#name == value`` tests of its event
transitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from dsm.chart import Action, Chart, Condition, Element, For, If

if TYPE_CHECKING:
    from dsm.runtime.harness.harness import TestCall

__all__ = ["Press", "Wait", "Hangup", "Post", "Step", "event_sequences", "steps", "run_steps"]

_KEYS = "0123456789*#"
_KEY_CHARS = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class Press:
    keys: str


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Post:
    params: tuple[tuple[str, str], ...]


Step = Press | Wait | Hangup | Post


def _elements(elems: Iterable[Element]) -> Iterable[Action | Condition]:
    for e in elems:
        if isinstance(e, Action):
            yield e
        elif isinstance(e, If):
            yield from e.conditions
            yield from _elements(e.then)
            yield from _elements(e.orelse)
        elif isinstance(e, For):
            yield from _elements(e.body)


def _chart_hints(chart: Chart) -> tuple[list[str], list[float], list[tuple[str, str]]]:
    """Keys, waits and event params that the chart's own text mentions."""
    keys: set[str] = set()
    waits: set[float] = set()
    params: set[tuple[str, str]] = set()
    for state in chart.states:
        things: list[Action | Condition] = list(_elements(state.enter)) + list(_elements(state.exit))
        for t in state.transitions:
            things.extend(t.conditions)
            things.extend(_elements(t.actions))
        for x in things:
            if isinstance(x, Condition):
                if x.name == "keyPress" and x.args:
                    code = x.args[0]
                    if code.isdigit() and int(code) < 16:
                        keys.add(_KEY_CHARS[int(code)])
                elif len(x.args) == 3 and x.args[0] == "==":
                    left, right = x.args[1], x.args[2]
                    if left == "#key" and right.isdigit() and int(right) < 16:
                        keys.add(_KEY_CHARS[int(right)])
                    elif left.startswith("#") and x.name in ("event", "eventTest", "test"):
                        params.add((left[1:], right.strip('"')))
            elif x.name == "setTimer" and len(x.args) == 2 and x.args[1].isdigit():
                waits.add(float(x.args[1]) + 0.5)
    return sorted(keys), sorted(waits), sorted(params)


def steps(chart: Chart | None = None) -> st.SearchStrategy[Step]:
    """One caller step, biased towards the inputs ``chart`` reacts to."""
    keys, waits, params = _chart_hints(chart) if chart is not None else ([], [], [])
    key_alphabet = "".join(sorted(set(_KEYS) | set(keys)))
    press = st.builds(Press, st.text(alphabet=key_alphabet, min_size=1, max_size=6))
    if keys:
        press = st.one_of(st.builds(Press, st.sampled_from(keys)), press)
    wait_values = st.floats(min_value=0.0, max_value=30.0, allow_nan=False).map(lambda s: round(s, 2))
    if waits:
        wait_values = st.one_of(st.sampled_from(waits), wait_values)
    post_params = st.lists(
        st.tuples(st.sampled_from(["k", "cmd", "type"]), st.text(alphabet="abc123", max_size=4)),
        max_size=3,
    ).map(tuple)
    if params:
        post_params = st.one_of(st.sampled_from(params).map(lambda p: (p,)), post_params)
    return st.one_of(
        press,
        st.builds(Wait, wait_values),
        st.builds(Post, post_params),
        st.just(Hangup()),
    )


def event_sequences(chart: Chart | None = None, *, max_size: int = 20) -> st.SearchStrategy[list[Step]]:
    """A list of caller steps (keys, waits, posted events, hang-up) for ``chart``."""
    return st.lists(steps(chart), max_size=max_size)


def run_steps(call: TestCall, seq: Sequence[Step]) -> None:
    """Apply steps to a call; steps after the call ended are ignored."""
    for step in seq:
        if call.terminated:
            return
        if isinstance(step, Press):
            call.press(step.keys)
        elif isinstance(step, Wait):
            call.advance(step.seconds)
        elif isinstance(step, Hangup):
            call.hangup()
        else:
            call.post_event(dict(step.params))
