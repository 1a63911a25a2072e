"""Timers (section 13), event queues and delivery (section 14), system sessions (section 16)."""

from __future__ import annotations

from engine_rig import Rig

TIMER_CHART = """
initial state A; state B;
transition set A - key(#key == 1) / setTimer(7, 3) -> A;
transition re A - key(#key == 2) / setTimer(7, 5) -> A;
transition rm A - key(#key == 3) / removeTimer(7) -> A;
transition all A - key(#key == 4) / setTimer(1, 1); setTimer(2, 1); removeTimers() -> A;
transition fired A - timer / append($fired, #id); append($fired, ;) -> A;
"""


def test_E142_timer_fires_after_whole_seconds(rig: Rig) -> None:
    s = rig.run("d", TIMER_CHART)
    rig.key(s, "1")
    rig.advance(2.999)
    assert "fired" not in s.vars
    rig.advance(0.001)
    assert s.vars["fired"] == "7;" and s.vars["errno"] == ""


def test_E142_setting_running_timer_restarts_it(rig: Rig) -> None:
    s = rig.run("d", TIMER_CHART)
    rig.key(s, "1")
    rig.advance(2)
    rig.key(s, "2")
    rig.advance(4)
    assert "fired" not in s.vars
    rig.advance(1)
    assert s.vars["fired"] == "7;"


def test_E144_remove_timer_and_remove_timers(rig: Rig) -> None:
    s = rig.run("d", TIMER_CHART)
    rig.key(s, "1", "3", "4")
    rig.advance(10)
    assert "fired" not in s.vars and s.timers == ()


def test_E142_zero_seconds_fires_at_once(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { setTimer(3, 0) }; state B; transition t A - timer / set($id=#id) -> B;")
    assert s.vars["id"] == "3"


def test_E143_large_ids_are_reported_signed(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { setTimer(4294967295, 0) }; state B; transition t A - timer / set($id=#id) -> B;")
    assert s.vars["id"] == "-1"


def test_E114_bad_arguments_set_errno(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { setTimer(x, 1); set($e1=$errno); set($s1=$strerror); setTimer(1, 1.5); set($s2=$strerror); removeTimer(y); set($s3=$strerror) };")
    assert s.vars["e1"] == "arg" and s.vars["s1"] == "timer id 'x' not decipherable\n"
    assert s.vars["s2"] == "timeout value '1.5' not decipherable\n"
    assert s.vars["s3"] == "timer id 'y' not decipherable\n"


def test_E142_durations_clipped_to_one_year(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { setTimer(1, 999999999) }; state B; transition t A - timer / set($f=1) -> B;")
    rig.advance(365 * 24 * 3600)
    assert s.vars["f"] == "1"


def test_E146_E148_post_event_between_sessions(rig: Rig) -> None:
    rig.load(
        rx="initial state A enter { registerEventQueue(inbox) }; transition t A - event(#cmd == go) / set($got=#dest) -> A;",
        tx="initial state A enter { set($cmd=go); set($dest=2001); postEvent(inbox, cmd;dest); set($e=$errno) };",
    )
    rx = rig.call("rx")
    tx = rig.call("tx")
    assert rx.vars["got"] == "2001" and tx.vars["e"] == ""


def test_E116_post_to_unknown_address_sets_errno(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { postEvent(nobody, x) };")
    assert s.vars["errno"] == "arg" and s.vars["strerror"] == "event could not be posted\n"


def test_A_core_79_post_to_dsm_queue_is_accepted_and_discarded(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { set($errno=x); postEvent(dsm, x) };")
    assert s.vars["errno"] == ""


def test_E117_register_taken_name_keeps_owner_unregister_removes_any(rig: Rig) -> None:
    rig.load(
        a="initial state A enter { registerEventQueue(q) };",
        b="initial state A enter { registerEventQueue(q) }; state B; transition t A - event / unregisterEventQueue(q) -> B;",
    )
    a = rig.call("a")
    b = rig.call("b")
    assert rig.engine.session("q") is a
    rig.engine.post_event(b.id, {})
    rig.engine.run_pending()
    assert rig.engine.session("q") is None


def test_A_core_80_addresses_dropped_when_session_ends(rig: Rig) -> None:
    rig.load(a="initial state A enter { registerEventQueue(q) }; transition t A - key / stop(false) -> A;")
    a = rig.call("a")
    rig.key(a, "1")
    assert a.ended and rig.engine.session("q") is None
    assert rig.engine.post_event("q", {}) is False and rig.engine.post_event(a.id, {}) is False


def test_A_core_80_session_end_drops_only_what_it_still_owns(rig: Rig) -> None:
    """A name taken over by another session after an unregister stays with the new owner."""
    rig.load(
        a="initial state A enter { registerEventQueue(q) registerEventQueue(r) }; transition t A - key / stop(false) -> A;",
        b="initial state A enter { unregisterEventQueue(q) };",
        c="initial state A enter { registerEventQueue(q) };",
    )
    a = rig.call("a")
    rig.call("b")
    c = rig.call("c")
    assert rig.engine.session("q") is c and rig.engine.session("r") is a
    rig.key(a, "1")
    assert a.ended and rig.engine.session("r") is None and rig.engine.session(a.id) is None
    assert rig.engine.session("q") is c and rig.engine.session(c.id) is c


def test_E147_stopped_session_drains_queue_then_before_destroy_last(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A;
        transition t A - key / stop(false); postEvent(@local_tag, x); append($o, k) -> A;
        transition e A - event / append($o, e) -> A;
        transition d A - beforeDestroy / append($o, D) -> A;
        """,
    )
    rig.key(s, "1")
    assert s.vars["o"] == "keD" and s.ended and s.call.ended  # type: ignore[attr-defined]


def test_E111_stop_true_sends_bye_and_does_not_interrupt(rig: Rig) -> None:
    s = rig.run("d", "initial state A; state B enter { set($b=1) }; transition t A - key / stop(true); set($after=1) -> B;")
    rig.key(s, "1")
    assert s.vars["after"] == "1" and s.vars["b"] == "1" and ("bye",) in s.call.ops  # type: ignore[attr-defined]


def test_E118_create_system_dsm_runs_asynchronously(rig: Rig) -> None:
    rig.load(
        sys="initial state S enter { set($me=@local_tag); postEvent(caller, hello) }; transition t S - startup -> S;",
        d="""
        initial state A enter { registerEventQueue(caller); createSystemDSM(main, sys); set($after=1) };
        state B;
        transition t A - event / set($from_system=1) -> B;
        """,
    )
    s = rig.call("d")
    assert s.vars["after"] == "1" and s.vars["from_system"] == "1"
    systems = [x for x in rig.engine.sessions.values() if x.kind == "system"]
    assert len(systems) == 1 and systems[0].vars["me"].startswith("SystemDSM_")


def test_E118_create_system_dsm_errors(rig: Rig) -> None:
    rig.load(
        d="""
        initial state A; state B;
        transition t A - key(#key == 1) / createSystemDSM(main, ) -> A;
        transition u A - key(#key == 2) / createSystemDSM(nope, x) -> A;
        transition e A - exception / set($cause=#cause); set($type=#type) -> A;
        """,
    )
    rig.load("bundle1", other="initial state O;")
    s = rig.call("d")
    rig.key(s, "1")
    assert s.vars["type"] == "core"
    assert s.vars["cause"] == "parameters missing - need both conf_name and script_name for createSystemDSM"
    rig.key(s, "2")
    assert s.vars["cause"] == "Error: Script config 'nope' not found, in [bundle1]"


def test_E160_E162_system_session_selects_and_media_core_ex(rig: Rig) -> None:
    rig.load(
        sys="""
        initial state S; state ERR;
        transition t S - startup / set($user=@user); set($tag=@local_tag); playFile(x.wav) -> S;
        transition e S - exception; test(#type == core) / set($cause=#cause); set($type=#type); B2B.relayEvent(x) -> ERR;
        transition f S - exception; test(#type == script) / set($cause2=#cause); stop() -> ERR;
        """
    )
    s = rig.engine.start_system("main", "sys")
    rig.engine.run_pending()
    assert s.vars["user"] == "" and s.vars["tag"] == s.id
    assert s.vars["type"] == "core" and s.vars["cause"] == "not implemented in SystemDSM"
    assert s.vars["cause2"] == "relayEvent used without B2B call"
    assert s.ended


def test_E145_timers_in_system_sessions_and_stop_ends_it(rig: Rig) -> None:
    rig.load(sys="initial state S enter { setTimer(1, 2) }; transition t S - timer / stop() -> S;")
    s = rig.engine.start_system("main", "sys")
    rig.engine.run_pending()
    rig.advance(2)
    assert s.ended


def test_E161_system_session_has_no_before_destroy(rig: Rig) -> None:
    rig.load(sys="initial state S enter { stop() }; transition d S - beforeDestroy / set($x=1) -> S;")
    s = rig.engine.start_system("main", "sys")
    rig.engine.run_pending()
    assert s.ended and "x" not in s.vars


def test_D1_post_event_from_outside(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - event(#action == take) / set($room=#room) -> A;")
    assert rig.engine.post_event(s.id, {"action": "take", "room": "lobby"})
    rig.engine.run_pending()
    assert s.vars["room"] == "lobby"
    assert rig.engine.post_event("gone", {}) is False
