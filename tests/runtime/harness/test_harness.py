"""The simulated call harness (issue: unit-test .dsm scripts like code)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import dsm
from dsm.runtime.harness import (
    DSMAssertionError,
    Harness,
    assert_played,
    assert_replied,
    assert_state,
    assert_terminated,
    assert_var,
)
from dsm.runtime.harness.coverage import Collector

HANGUP = 'transition "bye" (S) - hangup / stop(false) -> S;\n'


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.dsm"
    path.write_text(textwrap.dedent(text))
    return path


def test_start_sequence_E152_start_invite_sessionstart(tmp_path):
    """E-152: Start -> Invite -> SessionStart, 200 OK sent automatically (E-151)."""
    script(
        tmp_path,
        "app",
        """
        initial state S enter { append($seen, s) };
        transition "inv" S - invite / append($seen, i) -> S;
        transition "ss" S - sessionStart / append($seen, t) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    call = Harness(tmp_path).call("app")
    # enter at the start jump, then each self transition re-runs enter (E-54)
    assert call.vars["seen"] == "s" + "is" + "ts"
    assert_replied(call, 200)
    assert call.sent_replies[0].request == "INVITE"


def test_selects_E172_come_from_the_invite(tmp_path):
    script(tmp_path, "app", "initial state S enter { set($u=@user) set($d=@domain) set($t=@local_tag) };\n" + HANGUP)
    call = Harness(tmp_path).call("app", caller="sip:bob@a.example", callee="sip:4711@b.example")
    assert (call.vars["u"], call.vars["d"]) == ("4711", "b.example")
    assert call.vars["t"] == call.id


def test_config_values_become_config_variables_E10(tmp_path):
    script(tmp_path, "app", "initial state S;\n" + HANGUP)
    call = Harness(tmp_path, config_values={"pin": "42"}).call("app")
    assert_var(call, "config.pin", "42")


def test_press_sends_one_key_event_per_key_with_virtual_time(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S;
        transition "k" S - key / append($keys, #key) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    h = Harness(tmp_path)
    call = h.call("app")
    call.press("1*#A")
    assert call.vars["keys"] == "1101112"
    assert h.now == pytest.approx(0.8)
    with pytest.raises(ValueError, match="not a DTMF key"):
        call.press("x")


def test_timers_fire_exactly_on_virtual_time(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S enter { setTimer(7, 5) };
        transition "t" S - timer(#id == 7) / set($fired=yes) -> T;
        state T;
        transition "bye" (S, T) - hangup / stop(false) -> T;
        """,
    )
    call = Harness(tmp_path).call("app")
    call.advance(4.999)
    assert_state(call, "S")
    call.advance(0.001)
    assert_state(call, "T")


def test_missing_prompt_raises_the_prompt_exception(tmp_path):
    """E-79: playPrompt of an unknown name raises {type: prompt, name}."""
    script(
        tmp_path,
        "app",
        """
        initial state S enter { playPrompt(nothere) };
        transition "ex" S - exception / set($t=#type) set($n=#name) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    call = Harness(tmp_path).call("app")
    assert (call.vars["t"], call.vars["n"]) == ("prompt", "nothere")


def test_generated_prompts_have_their_length(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S enter { playPrompt(hello) };
        transition "done" S - noAudio -> T;
        state T;
        transition "bye" (S, T) - hangup / stop(false) -> T;
        """,
    )
    call = Harness(tmp_path, prompts={"hello": 1.5}).call("app")
    call.advance(1.4)
    assert_state(call, "S")
    call.advance(0.2)
    assert_state(call, "T")
    assert call.played[0].name == "hello"
    assert call.played[0].end == pytest.approx(1.5)
    assert call.heard()[:12000].any()


def test_play_file_relative_to_working_directory(tmp_path, monkeypatch):
    from dsm.runtime.media.audio import write_wav

    monkeypatch.chdir(tmp_path)
    write_wav("tone.wav", (1000 * np.ones(800)).astype(np.int16))
    script(tmp_path, "app", "initial state S enter { playFile(tone.wav) };\n" + HANGUP)
    call = Harness(tmp_path).call("app")
    call.advance(1)
    assert_played(call, ["tone.wav"])
    assert call.played[0].end == pytest.approx(0.1)


def test_missing_file_raises_file_exception_with_path(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S enter { playFile(/nonexistent/x.wav) };
        transition "ex" S - exception test(#type == file) / set($p=#path) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    call = Harness(tmp_path).call("app")
    assert call.vars["p"] == "/nonexistent/x.wav"


def test_hangup_is_answered_and_script_must_stop(tmp_path):
    """E-151: BYE answered 200 by the host; the session ends only when the script stops."""
    script(tmp_path, "app", "initial state S;\ntransition h S - hangup / set($h=1) -> S;\n")
    call = Harness(tmp_path).call("app")
    call.hangup()
    assert_replied(call, 200, "BYE")
    assert not call.terminated
    assert call.vars["h"] == "1"


def test_post_event_between_two_calls(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S;
        transition "ping" S - event(#cmd == ping) / set($cmd=pong) postEvent(#from, cmd) -> S;
        transition "pong" S - event(#cmd == pong) / set($got=pong) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    h = Harness(tmp_path)
    a, b = h.call("app"), h.call("app")
    assert b.post_event({"cmd": "ping", "from": a.id})
    assert a.vars.get("got") == "pong"


def test_info_dtmf_relay_becomes_a_key(tmp_path):
    script(tmp_path, "app", "initial state S;\ntransition k S - key / set($k=#key) -> S;\n" + HANGUP)
    call = Harness(tmp_path).call("app")
    call.send_request("INFO", {"Content-Type": "application/dtmf-relay"}, "Signal=5\r\nDuration=160\r\n")
    assert call.vars["k"] == "5"
    assert_replied(call, 200, "INFO")


def test_request_events_and_processed_E157(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S enter { set($enable_request_events=true) };
        transition r S - sipRequest(#method == INFO) / set($m=#method) set(#processed=true) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    call = Harness(tmp_path).call("app")
    call.send_request("INFO", {"Content-Type": "text/plain"}, "x")
    assert call.vars["m"] == "INFO"
    assert [r.request for r in call.sent_replies] == ["INVITE"]  # processed: no host reply


def test_b2b_callee_answer_and_hangup(tmp_path):
    script(
        tmp_path,
        "app",
        """
        initial state S enter { B2B.connectCallee(<sip:bob@x>, sip:bob@x) };
        transition "answered" S - B2B.otherReply(#code == 200) -> CONNECTED;
        transition "refused" S - B2B.otherReply(#code == 486) / set($busy=1) -> FAILED;
        state CONNECTED;
        state FAILED;
        transition "other bye" CONNECTED - B2B.otherBye / stop(true) -> CONNECTED;
        transition "bye" (S, CONNECTED, FAILED) - hangup / stop(false) -> FAILED;
        """,
    )
    h = Harness(tmp_path)
    call = h.call("app")
    assert call.callee is not None
    call.callee.ring()
    assert_state(call, "S")
    call.callee.answer()
    assert_state(call, "CONNECTED")
    call.callee.hangup()
    assert_terminated(call)
    busy = h.call("app")
    assert busy.callee is not None
    busy.callee.reject(486)
    assert_state(busy, "FAILED")
    assert busy.vars["busy"] == "1"


def test_system_dsm(tmp_path):
    script(tmp_path, "sys", "initial state S enter { set($started=1) };\ntransition s S - startup / set($su=1) -> S;\n")
    h = Harness(tmp_path)
    s = h.call_system("sys")
    assert s.vars["started"] == "1"
    assert s.vars["su"] == "1"


def test_inband_keys_are_detected_unless_detection_is_off(tmp_path):
    """A-core-49/50: detection (in-band included) is on by default; off means no Key events."""
    script(
        tmp_path,
        "app",
        """
        initial state S;
        transition "off" S - event(#cmd == off) / disableDTMFDetection -> S;
        transition k S - key / append($k, #key) -> S;
        transition "bye" S - hangup / stop(false) -> S;
        """,
    )
    h = Harness(tmp_path)
    call = h.call("app")
    call.press("37#", inband=True)
    assert call.vars.get("k") == "3711"
    call.post_event({"cmd": "off"})
    call.press("12", inband=True)
    assert call.vars.get("k") == "3711"


def test_reload_keeps_running_calls_on_their_version(tmp_path):
    path = script(tmp_path, "app", "initial state S enter { set($v=1) };\n" + HANGUP)
    h = Harness(tmp_path)
    old = h.call("app")
    path.write_text("initial state S enter { set($v=2) };\n" + HANGUP)
    h.reload()
    new = h.call("app")
    assert (old.vars["v"], new.vars["v"]) == ("1", "2")
    path.write_text("initial state S enter { nosuchaction(1) };\n")
    with pytest.raises(dsm.CompileError) as err:
        h.reload()
    assert err.value.diagnostics
    assert h.call("app").vars["v"] == "2"  # the broken set never serves


def test_transcript_is_deterministic_and_readable(tmp_path):
    script(tmp_path, "app", "initial state S enter { setTimer(1, 2) };\ntransition t S - timer / log(2, tick) -> T;\nstate T;\n" + 'transition "bye" (S, T) - hangup / stop(false) -> T;\n')

    def run() -> str:
        c = Harness(tmp_path).call("app")
        c.advance(3)
        c.hangup()
        return c.transcript()

    first = run()
    assert first == run()
    assert "transition" in first and "Timer" in first


def test_assertion_messages_speak_of_the_call(tmp_path):
    script(tmp_path, "app", "initial state S;\ntransition k S - key -> T;\nstate T;\n" + 'transition "bye" (S, T) - hangup / stop(false) -> T;\n')
    call = Harness(tmp_path).call("app")
    call.press("123")
    with pytest.raises(DSMAssertionError, match="expected state MENU, call is in T after keys 1,2,3"):
        assert_state(call, "MENU")
    with pytest.raises(DSMAssertionError, match="still in T"):
        assert_terminated(call)


def test_coverage_counts_states_and_transitions(tmp_path):
    chart = dsm.compile_source(
        "initial state S;\ntransition a S - key -> T;\nstate T;\ntransition b T - key -> S;\n", name="c"
    )
    cov = Collector()
    cov.enabled = True
    cov.register(chart)
    cov.state(chart, "S")
    cov.transition(chart, chart.states[0].transitions[0])
    summary = cov.summaries()[0]
    assert (summary["states_entered"], summary["states_total"]) == (1, 2)
    assert (summary["transitions_taken"], summary["transitions_total"]) == (1, 2)
    assert "never taken" in cov.report_text()
