"""Event processing in rounds (engine.md section 6, E-51 … E-58) and the model (E-1 … E-4)."""

from __future__ import annotations

from engine_rig import Rig


def test_E54_first_matching_transition_wins(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition one A - key(#key == 1) / set($t=one) -> B;
        transition two A - key(#key < 5) / set($t=two) -> C;
        """,
    )
    rig.key(s, "1")
    assert s.vars["t"] == "one" and rig.where(s) == "d/B"


def test_E54_exit_then_transition_then_enter_order(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A exit { append($o, x) };
        state B enter { append($o, e) };
        transition t A - key / append($o, t) -> B;
        """,
    )
    rig.key(s, "1")
    assert s.vars["o"] == "xte"


def test_E54_no_match_drops_event_silently(rig: Rig) -> None:
    s = rig.run("d", "initial state A; state B; transition t A - timer -> B;")
    rig.key(s, "1")
    assert rig.where(s) == "d/A" and not rig.errors()


def test_E54_missing_target_logs_error_runs_actions_keeps_state(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A exit { set($exit=1) };
        transition t A - key / set($act=1) -> NOWHERE;
        """,
    )
    rig.key(s, "1")
    assert s.vars["exit"] == "1" and s.vars["act"] == "1"
    assert rig.where(s) == "d/A"
    assert any("NOWHERE" in e for e in rig.errors())


def test_E55_self_transition_runs_exit_and_enter(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { inc($enter) } exit { inc($exit) };
        transition t A - key -> A;
        """,
    )
    rig.key(s, "1", "2")
    assert s.vars["enter"] == "3" and s.vars["exit"] == "2"


def test_E56_only_current_state_transitions_are_consulted(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B;
        transition go A - key(#key == 1) -> B;
        transition other A - key(#key == 2) / set($wrong=1) -> A;
        """,
    )
    rig.key(s, "1", "2")
    assert "wrong" not in s.vars and rig.where(s) == "d/B"


def test_E61_repost_reevaluates_in_new_state_with_modified_params(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key(#key == 1) / set(#key=2); repost(); set($after=1) -> B;
        transition u B - key(#key == 2) / set($seen=#key) -> C;
        """,
    )
    params = rig.send(s, "Key", {"key": "1"})
    assert s.vars["after"] == "1" and s.vars["seen"] == "2" and rig.where(s) == "d/C"
    assert params == {"key": "2"}  # E-18: the host sees the modified map


def test_E58_runaway_repost_is_abandoned_with_logged_error(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - key / inc($n); repost() -> A;")
    rig.key(s, "1")
    assert int(s.vars["n"]) == rig.engine.max_rounds
    assert any("abandoned" in e for e in rig.errors())


def test_E52_session_without_state_ignores_events(rig: Rig) -> None:
    rig.load(d="state A; transition t A - key / set($x=1) -> A;")  # no initial state
    s = rig.call("d")
    rig.key(s, "1")
    assert s.state is None and "x" not in s.vars


def test_E4_E18_params_absent_vs_empty(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A;
        transition t A - event / set(#x=1); set($got=#x) -> A;
        """,
    )
    rig.send(s, "DSMEvent", None)
    assert s.vars["got"] == ""
    p = rig.send(s, "DSMEvent", {})
    assert p == {"x": "1"} and s.vars["got"] == "1"


def test_E51_nested_synchronous_processing_reenters(rig: Rig) -> None:
    """An action making the host raise an event processes it at once, nested (E-51)."""
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A enter { append($o, a); t.raise(EarlySession); append($o, b) };
        state B enter { append($o, B) };
        state C;
        transition e A - early / append($o, E) -> B;
        transition s B - start / append($o, S) -> C;
        """,
    )
    assert s.vars["o"] == "aEBbS" and rig.where(s) == "d/C"


def test_E51_nested_processing_is_overridden_by_outer_step7(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A; state N; state T;
        transition k A - key / t.raise(EarlySession) -> T;
        transition e A - early -> N;
        """,
    )
    rig.key(s, "1")
    assert rig.where(s) == "d/T"
    assert "d/N" in rig.states(s)


def test_E147_events_arriving_during_processing_are_queued(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key / postEvent(@local_tag, x); set($x=1); append($o, k) -> B;
        transition e B - event / append($o, e) -> C;
        """,
    )
    rig.key(s, "1")
    assert s.vars["o"] == "ke" and rig.where(s) == "d/C"


def test_E140_clearing_errno_keeps_strerror(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { setTimer(x, 1); setTimer(1, 1) };")
    assert s.vars["errno"] == "" and s.vars["strerror"] == "timer id 'x' not decipherable\n"


def test_E153_rtp_timeout_condition_never_matches_the_rtp_timeout_event(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition r A - rtpTimeout -> B;
        transition t A - test(#type == rtp_timeout) -> C;
        """,
    )
    rig.send(s, "RTPTimeout", {"type": "rtp_timeout", "timeout_value": "30"})
    assert rig.where(s) == "d/C"


def test_E155_params_absent_behaviour(rig: Rig) -> None:
    s = rig.run(
        "d",
        "initial state A; state B; transition t A - sessionStart / set(#x=1); sets($s=a#x b); param($p=x) -> B;",
    )
    rig.send(s, "SessionStart", None)
    assert s.vars["s"] == "a#x b" and s.vars["p"] == "" and rig.where(s) == "d/B"
