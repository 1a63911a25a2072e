"""Consistency check (L-94, L-95) and the static checks of dsm/checks.py."""

from __future__ import annotations

import pytest
from lang_helpers import warning_codes

from dsm import CompileError, compile_source

END = "state END enter { stop(true) };\n"
HANG = 'transition "h" ({states}) - hangup / stop(false) -> END;\n'


def build(body: str, states: str, **kw: object) -> list[str]:
    c = compile_source(body + HANG.format(states=states), "t", **kw)  # type: ignore[arg-type]
    return warning_codes(c)


def test_clean_chart_has_no_warnings() -> None:
    text = "initial state A enter { playPrompt(x) };\n" + END + "transition t A - noAudio -> END;\n"
    assert build(text, "A, END") == []


def test_L94_1_no_initial_state() -> None:
    text = "state A enter { stop(true) };\n"
    assert "W006" in build(text + END, "A, END")


def test_L94_2_undeclared_target_with_hint() -> None:
    text = "initial state A;\n" + END + "transition t A - key -> ENDD;\n"
    c = compile_source(text + HANG.format(states="A, END"), "t")
    w = [d for d in c.warnings if d.code == "W007"]  # type: ignore[attr-defined]
    assert len(w) == 1
    assert (
        "never declared" in w[0].hint and "`END`" in w[0].hint and "did you mean `END`" in w[0].hint
    )


def test_L95_missing_target_is_not_an_error() -> None:
    c = compile_source("initial state A; transition t A - hangup -> B;", "t")
    assert "W007" in warning_codes(c)


def test_L94_3_state_without_hangup_transition() -> None:
    text = "initial state A enter { stop(true) };\nstate B;\ntransition t A - key -> B;\n"
    codes = warning_codes(compile_source(text + "transition h A - hangup -> A;", "t"))
    assert codes.count("W008") == 1


def test_L94_3_inverted_or_combined_hangup_counts() -> None:
    text = "initial state A enter { stop(true) };\ntransition h A - key not hangup -> A;"
    assert "W008" not in warning_codes(compile_source(text, "t"))


def test_consistency_check_can_be_disabled() -> None:
    c = compile_source("state A;", "t", consistency_check=False)
    assert c.warnings == ()


def test_unreachable_state() -> None:
    text = (
        "initial state A;\nstate LOST enter { stop(true) };\n"
        + END
        + "transition t A - key -> END;\n"
    )
    assert build(text, "A, LOST, END") == ["W009"]


def test_trap_state() -> None:
    text = "initial state A;\nstate TRAP;\n" + END + "transition t A - key -> TRAP;\n"
    text += 'transition "h" (A, END) - hangup / stop(false) -> END;\ntransition "h2" TRAP - hangup -> TRAP;\n'
    c = compile_source(text, "t")
    assert warning_codes(c) == ["W010"]


def test_not_a_trap_when_it_stops_or_leaves() -> None:
    text = "initial state A;\nstate S enter { if test($a == 1) { jumpFSM(other) } };\n" + END
    text += "transition t A - key -> S;\n"
    assert build(text, "A, S, END") == []


def test_shadowed_transition() -> None:
    text = "initial state A;\n" + END
    text += "transition always A - / log(1,x) -> A;\ntransition never A - key -> END;\n"
    text += "transition exc A - exception -> END;\n"
    # `never` and the hangup transition added by build() are shadowed; `exc` is not
    assert build(text, "A, END") == ["W011", "W011"]


def test_unused_function() -> None:
    text = (
        "function unused() { stop };\ninitial state A;\n" + END + "transition t A - key -> END;\n"
    )
    assert build(text, "A, END") == ["W012"]


def test_unfinished_constructs_at_end_of_input_are_errors() -> None:
    """L-71: no longer a warning (W014) but an error where the state opened."""
    text = (
        "initial state A;\n" + END + "transition t A - key -> END;\n" + HANG.format(states="A, END")
    )
    with pytest.raises(CompileError) as info:
        compile_source(text + "state LATE enter { stop }", "t")
    (d,) = info.value.diagnostics
    assert (d.code, d.severity, d.line, d.column) == ("E018", "error", 5, 1)


def test_duplicate_state() -> None:
    text = "initial state A;\nstate A;\n" + END + "transition t A - key -> END;\n"
    assert build(text, "A, END") == ["W016"]


def test_warnings_are_sorted_by_position() -> None:
    c = compile_source("state B;\ninitial state A;\ntransition t A - key -> X;", "t")
    lines = [d.line for d in c.warnings]  # type: ignore[attr-defined]
    assert lines == sorted(lines)
