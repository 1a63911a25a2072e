"""jumpFSM, callFSM, returnFSM (engine.md section 9, E-80 … E-87; A-core-1 … A-core-5)."""

from __future__ import annotations

from engine_rig import Rig


def test_E82_jump_runs_initial_enter_and_interrupts(rig: Rig) -> None:
    rig.load(
        sub="initial state S enter { set($in_sub=1) };",
        d="initial state A enter { jumpFSM(sub); set($after=1) };",
    )
    s = rig.call("d")
    assert s.vars["in_sub"] == "1" and "after" not in s.vars and rig.where(s) == "sub/S"


def test_E82_unknown_diagram_logs_and_continues(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { jumpFSM(nope); set($after=1) };")
    assert s.vars["after"] == "1" and rig.where(s) == "d/A"
    assert any("nope" in e for e in rig.errors())


def test_E82_diagram_without_initial_state_leaves_no_state(rig: Rig) -> None:
    rig.load(noinit="state X;", d="initial state A; transition t A - key / jumpFSM(noinit); set($after=1) -> A;")
    s = rig.call("d")
    rig.key(s, "1")
    # the list continued; step 7 then made A (of the old diagram) current again
    assert s.vars["after"] == "1" and rig.where(s) == "d/A"
    assert s.diagram is not None and s.diagram.name == "noinit"


def test_E82_jump_in_transition_cancels_state_change(rig: Rig) -> None:
    rig.load(
        sub="initial state S;",
        d="initial state A; state B enter { set($b=1) }; transition t A - key / jumpFSM(sub) -> B;",
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert "b" not in s.vars and rig.where(s) == "sub/S"


def test_E61_repost_in_jumped_enter_has_no_effect(rig: Rig) -> None:
    rig.load(
        sub="initial state S enter { repost() }; state T; transition t S - key / set($reposted=1) -> T;",
        d="initial state A; transition t A - key / jumpFSM(sub) -> A;",
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert "reposted" not in s.vars and rig.where(s) == "sub/S"


def test_E86_repost_then_jump_reevaluates_in_new_diagram(rig: Rig) -> None:
    rig.load(
        sub="initial state S; state T; transition t S - key / set($reposted=1) -> T;",
        d="initial state A; transition t A - key / repost(); jumpFSM(sub) -> A;",
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert s.vars["reposted"] == "1" and rig.where(s) == "sub/T"


def test_E83_E85_call_and_return_run_saved_remainder(rig: Rig) -> None:
    rig.load(
        sub="initial state S enter { append($o, s) }; transition r S - key / returnFSM(); append($o, never) -> S;",
        d="""
        initial state A enter { append($o, a); callFSM(sub); append($o, rest) };
        state B enter { set($b=1) };
        transition t A - key -> B;
        """,
    )
    s = rig.call("d")
    assert s.vars["o"] == "as" and s.call_stack_depth == 1
    rig.key(s, "1")
    assert s.vars["o"] == "asrest" and rig.where(s) == "d/A" and s.call_stack_depth == 0
    assert "b" not in s.vars  # E-85: the state's enter actions do not run


def test_E84_call_in_transition_saves_source_state(rig: Rig) -> None:
    rig.load(
        sub="initial state S; transition r S - key / returnFSM() -> S;",
        d="initial state A; state B; transition t A - key(#key == 1) / callFSM(sub) -> B;",
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert rig.where(s) == "sub/S"
    rig.key(s, "2")
    assert rig.where(s) == "d/A"


def test_E84_only_innermost_list_remainder_is_saved(rig: Rig) -> None:
    rig.load(
        sub="initial state S; transition r S - key / returnFSM() -> S;",
        d="initial state A enter { if test(1 == 1) { callFSM(sub); append($o, inner) }; append($o, lost) };",
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert s.vars["o"] == "inner"


def test_E83_failed_call_keeps_frame_and_continues(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { callFSM(nope); set($after=1) };")
    assert s.vars["after"] == "1" and s.call_stack_depth == 1


def test_E85_return_with_empty_stack_logs_and_continues(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { returnFSM(); set($after=1) };")
    assert s.vars["after"] == "1" and any("empty" in e for e in rig.errors())


def test_E85_repost_in_return_remainder_has_no_effect(rig: Rig) -> None:
    rig.load(
        sub="initial state S; transition r S - key(#key == 1) / returnFSM() -> S;",
        d="""
        initial state A enter { callFSM(sub); repost() };
        state B;
        transition t A - key(#key == 1) / set($reposted=1) -> B;
        """,
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert "reposted" not in s.vars and rig.where(s) == "d/A"


def test_E87_jump_does_not_clear_call_stack(rig: Rig) -> None:
    rig.load(
        sub="initial state S enter { jumpFSM(sub2) };",
        sub2="initial state S2; transition r S2 - key / returnFSM() -> S2;",
        d="initial state A enter { callFSM(sub); set($back=1) };",
    )
    s = rig.call("d")
    assert rig.where(s) == "sub2/S2" and s.call_stack_depth == 1
    rig.key(s, "1")
    assert s.vars["back"] == "1" and rig.where(s) == "d/A"


def test_E81_variables_and_event_shared_across_diagrams(rig: Rig) -> None:
    rig.load(
        sub="initial state S enter { set($key_in_sub=#key) };",
        d="initial state A; transition t A - key / set($shared=1); jumpFSM(sub) -> A;",
    )
    s = rig.call("d")
    rig.key(s, "7")
    assert s.vars["key_in_sub"] == "7" and s.vars["shared"] == "1"
