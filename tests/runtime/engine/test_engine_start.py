"""Session start (engine.md section 10, E-88 … E-91)."""

from __future__ import annotations

from engine_rig import Rig


def test_E91_initial_enter_runs_before_start_event(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { append($o, enter) }; state B;
        transition t A - / append($o, start) -> B;
        """,
    )
    assert s.vars["o"] == "enterstart" and rig.where(s) == "d/B"


def test_E89_start_event_has_params_absent(rig: Rig) -> None:
    s = rig.run(
        "d",
        "initial state A; state B; transition t A - start / set(#x=1); set($x=#x); logParams(3) -> B;",
    )
    assert s.vars["x"] == "" and any("no event params" in m for _, _, m in rig.logs)


def test_E89_unknown_start_diagram_fails_start(rig: Rig) -> None:
    rig.load(d="initial state A;")
    s = rig.call("nope")
    assert s.state is None and not s.ended
    assert any("start" in e for e in rig.errors())


def test_E90_exception_in_initial_enter_first_round_has_start_type(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { throw(early, why=x) };
        state B; state N;
        transition n A - start / set($normal=1) -> N;
        transition e A - exception; start / set($why=#why); set($type=#type) -> B;
        """,
    )
    assert s.vars["why"] == "x" and s.vars["type"] == "early" and "normal" not in s.vars
    assert rig.where(s) == "d/B"


def test_E90_start_typed_condition_only_matches_at_start(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B;
        transition k A - key / throw(x) -> A;
        transition e A - exception; start -> B;
        """,
    )
    rig.key(s, "1")
    assert rig.where(s) == "d/A"


def test_E88_system_session_starts_with_startup(rig: Rig) -> None:
    rig.load(sys="initial state A; state B; transition t A - startup -> B;")
    s = rig.engine.start_system("main", "sys")
    rig.engine.run_pending()
    assert rig.where(s) == "sys/B" and s.id.startswith("SystemDSM_")


def test_E162_system_session_with_failing_start_ends(rig: Rig) -> None:
    rig.load(sys="initial state A;")
    s = rig.engine.start_system("main", "nope")
    rig.engine.run_pending()
    assert s.ended and s.id not in rig.engine.sessions
