"""Engine rules not covered elsewhere (engine.md sections 3, 5–8, 11, 12, 18, 21, 22).

Each test reads like its rule: a small chart on the virtual-clock rig (or the
simulated-call harness where the host's part of a call matters).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_rig import Rig

import dsm
from dsm.runtime.call import FileItem, SeparatorItem, SilenceItem
from dsm.runtime.engine import DIComponent
from dsm.runtime.harness import Harness

EXC = "state ERR; transition e A - exception / set($exc=#type); set($path=#path); set($cause=#cause); set($name=#name) -> ERR;"
HANGUP = 'transition "bye" S - hangup / stop(false) -> S;\n'


def run(rig: Rig, actions: str) -> Any:
    return rig.run("d", f"initial state A enter {{ {actions} }}; {EXC}")


# -- section 3: data model ------------------------------------------------------


def test_E21_errno_and_strerror_report_errors(rig: Rig) -> None:
    """E-21: errno/strerror are the error-reporting variables (set on failure, emptied on success)."""
    s = run(rig, "removeTimer(x); set($e1=$errno); set($s1=$strerror); removeTimer(1); set($e2=$errno)")
    assert s.vars["e1"] == "arg" and s.vars["s1"].startswith("timer id 'x'")
    assert s.vars["e2"] == ""


# -- section 5: conditions ------------------------------------------------------


def test_E39_condition_has_type_filter_predicate_and_not(rig: Rig) -> None:
    """E-39: a typed condition filters by event type; `not` inverts the predicate."""
    s = rig.run(
        "d",
        """
        initial state A;
        transition "typed" A - key(#key == 5) / append($seen, k5) -> A;
        transition "any" A - test(#key == 7) / append($seen, any7) -> A;
        transition "inv" A - not test(#key == 5) / append($seen, n) -> A;
        """,
    )
    rig.key(s, "5")
    rig.send(s, "Custom", {"key": "5"})
    rig.send(s, "Custom", {"key": "7"})
    # start: no #key, so "inv" matches; Custom key=5 matches nothing (wrong type, then not-true)
    assert s.vars["seen"] == "n" + "k5" + "" + "any7"
    rig.send(s, "Custom", {"key": "1"})
    assert s.vars["seen"].endswith("n")


def test_E41_conditions_left_to_right_first_miss_stops(rig: Rig) -> None:
    """E-41: after a non-matching condition, later ones are not evaluated (no side effects)."""
    chart = """
        import(mod_enginetest);
        initial state A enter {{ {init} }};
        transition "guarded" A - test($x == 1); t.boomCond() -> B;
        transition "all" A - / set($matched=yes) -> C;
        state B; state C;
        transition "fault" (A, B, C) - exception / set($exc=#type) -> C;
        """
    s = rig.run("d", chart.format(init=""))
    # test($x == 1) fails, so t.boomCond (which raises) is never evaluated
    assert rig.where(s) == "d/C" and s.vars["matched"] == "yes"
    assert "exc" not in s.vars and not rig.errors()
    # control: once the first condition matches, the second one is evaluated (and raises)
    s2 = rig.run("d2", chart.format(init="set($x=1)"))
    assert s2.vars["exc"] == "internal" and "matched" not in s2.vars


def test_E41_no_conditions_matches_everything(rig: Rig) -> None:
    """E-41: a transition without conditions matches every event."""
    s = rig.run("d", "initial state A; transition t A - / append($n, x) -> A;")
    rig.send(s, "Whatever")
    rig.key(s, "1")
    assert s.vars["n"].count("x") >= 2


def test_E49_module_condition_ignores_event_type_not_still_applies(rig: Rig) -> None:
    """E-49: a module predicate may match any event type; `not` still inverts it."""
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A;
        transition "set" A - t.isSet(flag) / append($seen, s) -> A;
        transition "unset" A - not t.isSet(flag) / append($seen, u) -> A;
        """,
    )
    rig.send(s, "Custom")
    s.vars["flag"] = "1"
    rig.key(s, "3")
    assert s.vars["seen"].endswith("us")


# -- section 6: processing rounds -------------------------------------------------


def test_E53_first_round_uses_event_type_and_params(rig: Rig) -> None:
    """E-53: the first round is in normal mode with the event's own type and params."""
    s = rig.run(
        "d",
        """
        initial state A;
        transition "k" A - key / set($k=#key); set($d=#duration) -> B;
        state B;
        transition "x" B - exception / set($t=#type) -> B;
        """,
    )
    rig.key(s, "4")
    assert (s.vars["k"], s.vars["d"]) == ("4", "100") and "t" not in s.vars


# -- section 7: loops ---------------------------------------------------------------


def test_E66_struct_loop_items_collected_before_first_iteration(rig: Rig) -> None:
    """E-66: members added during a struct loop are not visited."""
    s = rig.run(
        "d",
        """
        initial state A enter {
          set($rec.a=1);
          for ($k,$v in rec) { append($seen, $k); set($rec.b=2) };
        };
        """,
    )
    assert s.vars["seen"] == "a" and s.vars["rec.b"] == "2"


# -- section 8: exceptions during start ------------------------------------------------


def test_E78_start_exception_is_handled_by_start_rule(rig: Rig) -> None:
    """E-78/E-90: an exception in the initial enter list is handled with the start type."""
    s = rig.run(
        "d",
        """
        initial state A enter { throw(boom) };
        transition "at start" A - exception; start / set($how=start) -> B;
        transition "other" A - exception / set($how=other) -> B;
        state B;
        """,
    )
    assert s.vars["how"] == "start"


# -- section 11: core actions -------------------------------------------------------


def test_E98_append_resolves_value_creates_variable(rig: Rig) -> None:
    """E-98: append(p1, p2) appends R(p2) to strip$(p1), creating it."""
    s = run(rig, "set($v=lo); append($new, hel); append($new, $v); append(new, !)")
    assert s.vars["new"] == "hello!"


def test_E100_inc_modulo_and_unparsable(rig: Rig) -> None:
    """E-100: inc is UINT+1 mod 2^32; unparsable (or negative) counts as 0; unset → 1."""
    s = run(
        rig,
        "set($a=-3); inc($a); set($b=abc); inc(b); inc($c); set($d=4294967295); inc($d); set($e=41); inc($e)",
    )
    assert [s.vars[k] for k in "abcde"] == ["1", "1", "1", "0", "42"]


def test_E101_clear_deletes_variable(rig: Rig) -> None:
    """E-101: clear(a) deletes the variable strip$(a)."""
    s = run(rig, "set($a=1); set($b=2); clear($a); clear(b)")
    assert "a" not in s.vars and "b" not in s.vars


def test_E108_log_shortcuts_levels_and_format(rig: Rig) -> None:
    """E-108: logs(level, text) and dbg/info/warn/error log "FSM: '<I(a)>'" at 3/2/1/0."""
    run(rig, "set($x=42); logs(2, v=$x); dbg(d $x); info(i); warn(w); error(e)")
    got = [(lvl, m) for _, lvl, m in rig.logs if m.startswith("FSM: ")]
    assert got == [(2, "FSM: 'v=42'"), (3, "FSM: 'd 42'"), (2, "FSM: 'i'"), (1, "FSM: 'w'"), (0, "FSM: 'e'")]


def test_E115_remove_timer_and_remove_timers(rig: Rig) -> None:
    """E-115: removeTimer cancels one timer (bad id → errno arg); removeTimers cancels all."""
    s = rig.run(
        "d",
        """
        initial state A enter { setTimer(1, 5); setTimer(2, 5); setTimer(3, 5); removeTimer(1); set($e=$errno) };
        transition "t" A - timer / append($fired, #id) -> A;
        transition "clear" A - key / removeTimers(); set($e2=$errno) -> B;
        state B;
        transition "tb" B - timer / append($fired, #id) -> B;
        """,
    )
    assert s.vars["e"] == "" and s.timers == (2, 3)
    s2 = run(rig, "removeTimer(abc)")
    assert s2.vars["errno"] == "arg" and s2.vars["strerror"] == "timer id 'abc' not decipherable\n"
    rig.key(s, "1")
    rig.advance(10)
    assert "fired" not in s.vars and s.vars["e2"] == "" and s.timers == ()


def test_E121_set_prompts_known_and_unknown(rig: Rig) -> None:
    """E-121: setPrompts selects a prompt set; unknown raises {type: prompt, name}."""
    s = run(rig, "set($errno=x); setPrompts(en); set($e=$errno); setPrompts(xx)")
    assert ("prompts", "en") in s.call.ops and s.vars["e"] == ""
    assert (s.vars["exc"], s.vars["name"]) == ("prompt", "xx")


def test_E122_play_file_looped_front_and_open_failure(rig: Rig) -> None:
    """E-122: looped iff R(p2) is exactly `true`; Front inserts first; open failure raises file."""
    s = run(rig, "playFile(a.wav, yes); playFile(b.wav, true); playFileFront(c.wav); set($e=$errno); playFile(missing.wav)")
    assert s.call.playlist == [FileItem("c.wav"), FileItem("a.wav"), FileItem("b.wav", True)]
    assert s.vars["e"] == "" and (s.vars["exc"], s.vars["path"]) == ("file", "missing.wav")


def test_E123_play_silence_and_parse_failure(rig: Rig) -> None:
    """E-123: playSilence(ms) appends, Front inserts; a bad number raises core/cannot parse number."""
    s = run(rig, "playSilence(100); playSilenceFront(20); playSilence(x)")
    assert s.call.playlist == [SilenceItem(20), SilenceItem(100)]
    assert (s.vars["exc"], s.vars["cause"]) == ("core", "cannot parse number")


def test_E125_recording_and_lengths(rig: Rig) -> None:
    """E-125: recordFile / stopRecord / getRecordLength / getRecordDataSize and their errno."""
    s = run(
        rig,
        "getRecordDataSize(); set($e0=$errno); set($s0=$strerror); recordFile(a.wav); recordFile(b.wav);"
        "set($n=); getRecordLength($n); getRecordDataSize(); stopRecord(); set($e1=$errno)",
    )
    assert s.vars["record_data_size"] == "24000" and s.vars["record_length"] == "1500"
    assert s.vars["e0"] == "script" and s.vars["s0"] == "getRecordDataSize used while not recording."
    assert ("record_stop", True) in s.call.ops and s.vars["e1"] == ""
    assert [op for op in s.call.ops if op[0] == "record"] == [("record", "a.wav"), ("record", "b.wav")]


def test_E126_playlist_and_media_control(rig: Rig) -> None:
    """E-126: flush/attach/connect/disconnect and the media flags."""
    s = run(
        rig,
        "playFile(a.wav); flushPlaylist(); setInOutPlaylist(); setInputPlaylist(); setOutputPlaylist();"
        "connectMedia(); disconnectMedia(); enableReceiving(); disableForceDTMFReceiving(); enableDTMFDetection();"
        "monitorRTPTimeout(yes); mute(); unmute(); closePlaylist()",
    )
    ops = s.call.ops
    assert ("flush",) in ops and ("connect",) in ops and ("disconnect",) in ops
    assert ("attach", True, True) in ops and ("attach", True, False) in ops and ("attach", False, True) in ops
    assert s.call.flags == {
        "receiving": True,
        "force_dtmf_receiving": False,
        "dtmf_detection": True,
        "rtp_timeout": False,
        "mute": False,
    }
    assert any(lvl == 1 and "closePlaylist" in m for _, lvl, m in rig.logs)  # deprecated alias warns
    assert ops[-1] == ("flush",)  # … and still flushes


def test_E127_separator(rig: Rig) -> None:
    """E-127: addSeparator appends (front iff `true`); bad id → errno arg."""
    s = run(rig, "addSeparator(1); addSeparator(2, true); set($e=$errno); addSeparator(-x)")
    assert s.call.playlist == [SeparatorItem(2), SeparatorItem(1)] and s.vars["e"] == ""
    assert s.vars["errno"] == "arg" and s.vars["strerror"] == "separator id '-x' not a number"


def test_E128_send_dtmf_and_sequence(rig: Rig) -> None:
    """E-128: sendDTMF(event, ms) default 500 ms; sequences map *,#,A-F and skip others."""
    s = run(rig, "sendDTMF(5); sendDTMF(1, 80); sendDTMFSequence(1*#AFx, 100); sendDTMF(z)")
    dtmf = [op[1:] for op in s.call.ops if op[0] == "dtmf"]
    assert dtmf == [(5, 500), (1, 80), (1, 100), (10, 100), (11, 100), (12, 100), (17, 100)]
    assert (s.vars["exc"], s.vars["cause"]) == ("core", "invalid DTMF:z")
    s2 = run(rig, "sendDTMF(1, soon)")
    assert s2.vars["cause"] == "invalid DTMF duration:soon"


def test_E129_E167_connect_callee_relayed_and_leg_settings(rig: Rig) -> None:
    """E-129/E-167: B2B.connectCallee uses b2b_relayed_invite and the b2b_* variables."""
    s = run(
        rig,
        "set($b2b_relayed_invite=true); set($b2b_callid=cid1); set($b2b_local_party=<sip:me@x>);"
        "set($to=sip:bob@y); B2B.connectCallee($to, sip:bob@10.0.0.1)",
    )
    op = next(op for op in s.call.ops if op[0] == "connect_callee")
    assert op[1:4] == ("sip:bob@y", "sip:bob@10.0.0.1", True)
    assert op[4]["b2b_callid"] == "cid1" and op[4]["b2b_local_party"] == "<sip:me@x>"
    s2 = run(rig, "set($b2b_relayed_invite=yes); B2B.connectCallee(a, b)")
    assert next(op for op in s2.call.ops if op[0] == "connect_callee")[3] is False


# -- section 14/15: B2B relay ---------------------------------------------------------


def _script(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / f"{name}.dsm").write_text(textwrap.dedent(text))


def test_E149_relayed_b2b_event_reaches_other_leg(tmp_path: Path) -> None:
    """E-149: B2B.relayEvent delivers the params to the other leg of the B2B call."""
    _script(
        tmp_path,
        "app",
        """
        initial state S enter { B2B.connectCallee(sip:bob@b, sip:bob@b) };
        transition "k" S - key / set($what=hello); B2B.relayEvent(what) -> T;
        state T;
        transition "bye" (S, T) - hangup / stop(false) -> T;
        """,
    )
    call = Harness(tmp_path).call("app")
    call.press("1")
    assert call.callee is not None
    assert call.sim.relayed and call.sim.relayed[-1].get("what") == "hello"
    assert call.callee.events[-1].get("what") == "hello"


# -- section 18: special variables ------------------------------------------------------


def test_E167_connect_session_0_keeps_playlist_detached(tmp_path: Path) -> None:
    """E-167: connect_session = 0 after SessionStart → the host does not connect media."""
    _script(tmp_path, "on", "initial state S;\n" + HANGUP)
    _script(tmp_path, "off", "initial state S enter { set($connect_session=0) };\n" + HANGUP)
    h = Harness(tmp_path)
    on, off = h.call("on"), h.call("off")
    assert on.sim.media.connected and not off.sim.media.connected


def test_E167_enable_request_events_raises_sip_request(tmp_path: Path) -> None:
    """E-167: SipRequest events are raised only when enable_request_events is exactly `true`."""
    _script(
        tmp_path,
        "app",
        """
        initial state S;
        transition "req" S - sipRequest / append($got, #method) -> S;
        transition "on" S - key / set($enable_request_events=true) -> S;
        """
        + HANGUP,
    )
    call = Harness(tmp_path).call("app")
    call.send_request("INFO")
    assert "got" not in call.vars
    call.press("1")
    call.send_request("INFO")
    assert call.vars["got"] == "INFO"


def test_E168_host_set_variables(rig: Rig) -> None:
    """E-168: config.*, DI_res and record_length are set by the host/core."""

    class Echo(DIComponent):
        def invoke(self, function: str, args: list[Any]) -> Any:
            return args[0] if args else ""

    rig.engine.di["echo"] = Echo()
    rig.load("main", d=f"initial state A enter {{ recordFile(r.wav); getRecordLength(); DIgetResult(echo, f, hi) }}; {EXC}")
    rig.engine.main.values["who"] = "main"
    s = rig.call("d")
    assert s.vars["config.who"] == "main" and s.vars["record_length"] == "1500"
    assert s.vars["DI_res"] == "hi"


# -- section 21: modules -------------------------------------------------------------------


def test_E175_module_hooks_invite_veto_and_before_destroy(rig: Rig) -> None:
    """E-175: every imported module's invite hook runs (a veto wins); before-destroy after BeforeDestroy."""
    rig.load(
        "main",
        d="import(mod_enginetest); initial state A; transition t A - hangup / stop(true) -> A;",
        plain="initial state P; transition t P - hangup / stop(true) -> P;",
    )
    s = rig.call("d")
    other = rig.call("plain")  # no import of its own: the collection's modules still hook it
    mod = sys.modules["dsm_user_modules.mod_enginetest"]
    mod.hook_calls.clear()
    assert rig.engine.run_invite_hooks(s, "ok") is True
    assert rig.engine.run_invite_hooks(s, "veto") is False
    rig.send(s, "Hangup", {"headers": ""})
    assert ("invite", "ok") in mod.hook_calls and ("invite", "veto") in mod.hook_calls
    assert ("destroy", s.id) in mod.hook_calls and s.ended
    assert rig.engine.run_invite_hooks(other, "veto") is False


# -- section 22: documentation versus reference ---------------------------------------------


def test_E178_reference_wins_errno_words_and_setPrompts_name(rig: Rig) -> None:
    """E-178: errno values are words (item 5); the prompt-set action is setPrompts, not setPromptSet (item 4)."""
    with pytest.raises(dsm.CompileError, match="setPromptSet"):
        dsm.compile_source("initial state A enter { setPromptSet(de) };", name="x")
    s = run(rig, "stopRecord(); setPrompts(de)")
    assert s.vars["errno"] == "" and ("prompts", "de") in s.call.ops
    s2 = run(rig, "stopRecord()")
    assert s2.vars["errno"] == "script"

