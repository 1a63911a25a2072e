"""Media, DTMF, B2B and DI core actions on the recording fake call (actions.md 5–9, 12)."""

from __future__ import annotations

from typing import Any

from engine_rig import Rig

from dsm.runtime.call import FileItem, PromptItem, RingtoneItem, SeparatorItem, SilenceItem
from dsm.runtime.engine import DIComponent

EXC = "state ERR; transition e A - exception / set($exc=#type); set($name=#name); set($path=#path); set($cause=#cause) -> ERR;"


def run(rig: Rig, actions: str) -> Any:
    return rig.run("d", f"initial state A enter {{ {actions} }}; {EXC}")


def test_A_core_21_prompt_appended_and_errno_cleared(rig: Rig) -> None:
    s = run(rig, "set($errno=x); playPrompt(hello); playPromptFront(bye); playPromptLooped(hello)")
    assert s.call.playlist == [PromptItem("bye"), PromptItem("hello"), PromptItem("hello", loop=True)]
    assert s.vars["errno"] == ""


def test_E120_unknown_prompt_raises_and_creates_fallback_variable(rig: Rig) -> None:
    s = run(rig, "playPrompt(fallback_only)")
    assert s.vars["exc"] == "prompt" and s.vars["name"] == "fallback_only"
    assert s.vars["prompts.default_fallback"] == ""


def test_E120_default_fallback_yes_uses_default_set(rig: Rig) -> None:
    s = run(rig, "set($prompts.default_fallback=yes); playPrompt(fallback_only)")
    assert "exc" not in s.vars and s.call.playlist[0].name == "fallback_only"


def test_A_core_24_set_prompts(rig: Rig) -> None:
    s = run(rig, "setPrompts(de); setPrompts(xx)")
    assert ("prompts", "de") in s.call.ops and s.vars["exc"] == "prompt" and s.vars["name"] == "xx"


def test_A_core_25_play_file_loop_and_open_failure(rig: Rig) -> None:
    s = run(rig, "set($f=a.wav); playFile($f, true); playFileFront(b.wav); playFile(missing.wav)")
    assert s.call.playlist[:2] == [FileItem("b.wav"), FileItem("a.wav", True)]
    assert s.vars["exc"] == "file" and s.vars["path"] == "missing.wav"


def test_A_core_27_silence_and_parse_failure(rig: Rig) -> None:
    s = run(rig, "playSilence(-1); playSilenceFront(20); playSilence(1.5)")
    assert s.call.playlist == [SilenceItem(20), SilenceItem(-1)]
    assert (s.vars["exc"], s.vars["cause"]) == ("core", "cannot parse number")


def test_E124_ringtone_reads_prefixed_variables(rig: Rig) -> None:
    s = run(rig, "set($rt.length=0); set($rt.on=1000); set($rt.off=4000); set($rt.f=425); playRingtone($rt, false)")
    assert s.call.playlist == [RingtoneItem(0, 1000, 4000, 425, 0)]


def test_A_core_29_ringtone_on_off_zero_and_bad_number(rig: Rig) -> None:
    s = run(rig, "playRingtone(r, true); set($r.f=abc); playRingtone(r, true)")
    assert s.call.playlist == [RingtoneItem(0, 1, 0, 0, 0)]
    assert s.vars["cause"] == "cannot parse number"


def test_A_core_35_separator(rig: Rig) -> None:
    s = run(rig, "addSeparator(7); addSeparator(8, true); addSeparator(x); set($e=$errno); set($s=$strerror)")
    assert s.call.playlist == [SeparatorItem(8), SeparatorItem(7)]
    assert s.vars["e"] == "arg" and s.vars["s"] == "separator id 'x' not a number"


def test_A_core_36_to_39_recording(rig: Rig) -> None:
    s = run(
        rig,
        "stopRecord(); set($e1=$errno); set($s1=$strerror); getRecordLength(); set($e2=$errno);"
        "recordFile(r.wav); getRecordLength(); getRecordDataSize(size); stopRecord(); set($e3=$errno);"
        "recordFile(missing.wav)",
    )
    assert s.vars["e1"] == "script" and s.vars["s1"] == "stopRecord used while not recording."
    assert s.vars["e2"] == "script"
    assert s.vars["record_length"] == "1500" and s.vars["size"] == "24000" and s.vars["e3"] == ""
    assert s.vars["exc"] == "file" and s.vars["path"] == "missing.wav"


def test_A_core_40_to_50_media_switches(rig: Rig) -> None:
    s = run(
        rig,
        "flushPlaylist(); closePlaylist(); setInOutPlaylist(); setInputPlaylist(); setOutputPlaylist();"
        "connectMedia(); disconnectMedia(); enableReceiving(); disableReceiving(); enableForceDTMFReceiving();"
        "monitorRTPTimeout(true); monitorRTPTimeout(TRUE); mute(); unmute(); enableDTMFDetection(); disableDTMFDetection()",
    )
    ops = s.call.ops
    assert ops[:7] == [("flush",), ("flush",), ("attach", True, True), ("attach", True, False), ("attach", False, True), ("connect",), ("disconnect",)]
    assert s.call.flags == {
        "receiving": False, "force_dtmf_receiving": True, "rtp_timeout": False,
        "mute": False, "dtmf_detection": False,
    }  # fmt: skip
    assert any("deprecated" in m for _, _, m in rig.logs)


def test_A_core_51_52_dtmf(rig: Rig) -> None:
    s = run(rig, "sendDTMF(11); sendDTMF(3, 120); sendDTMFSequence(1a#*F, 80); sendDTMF(x)")
    assert [o for o in s.call.ops if o[0] == "dtmf"] == [
        ("dtmf", 11, 500), ("dtmf", 3, 120), ("dtmf", 1, 80), ("dtmf", 11, 80), ("dtmf", 10, 80), ("dtmf", 17, 80),
    ]  # fmt: skip
    assert s.vars["cause"] == "invalid DTMF:x"


def test_A_core_52_bad_duration_checked_first(rig: Rig) -> None:
    s = run(rig, "sendDTMFSequence(123, soon)")
    assert s.vars["cause"] == "invalid DTMF duration:soon" and not [o for o in s.call.ops if o[0] == "dtmf"]


def test_A_core_53_connect_callee_reads_b2b_variables(rig: Rig) -> None:
    s = run(rig, 'set($b2b_local_party="<sip:ivr@x>"); set($b2b_relayed_invite=true); B2B.connectCallee("<sip:bob@x>", sip:bob@10.0.0.7)')
    assert s.call.ops[-1] == ("connect_callee", "<sip:bob@x>", "sip:bob@10.0.0.7", True, {"b2b_local_party": "<sip:ivr@x>"})


def test_E131_send_reinvite_arguments_not_resolved(rig: Rig) -> None:
    s = run(rig, "set($t=true); B2B.sendReinvite($t, $h)")
    assert s.call.ops[-1] == ("reinvite", False, "$h")


def test_E132_header_block_rules(rig: Rig) -> None:
    s = run(rig, 'B2B.addHeader("X-A: 1"); B2B.addHeader("X-B: 2"); B2B.removeHeader(x-a)')
    assert s.call.headers == "X-B: 2\r\n"
    s2 = run(rig, 'B2B.setHeaders("X-C: 3"); B2B.setHeaders("X-D: 4\\r\\nX-E: 5", true)')
    assert s2.call.headers == "X-C: 3\r\nX-D: 4\r\nX-E: 5\r\n"
    s3 = run(rig, "B2B.addHeader(X: 1); B2B.clearHeaders()")
    assert s3.call.headers == ""


def test_E119_relay_event_builds_params_like_post_event(rig: Rig) -> None:
    s = run(rig, "set($cmd=hold); set($p.a=1); set($p.b=2); B2B.relayEvent(cmd;p.;missing); B2B.setRelayOnly(true)")
    assert ("relay", {"cmd": "hold", "p.a": "1", "p.b": "2"}) in s.call.ops
    assert s.call.ops[-1] == ("b2b_flag", "relay_only", True)


class Echo(DIComponent):
    def invoke(self, function: str, args: list[Any]) -> Any:
        if function == "echo":
            return args[0]
        if function == "args":
            return args
        if function == "need":
            return args[5]
        if function == "typed":
            raise TypeError("x")
        if function == "boom":
            raise RuntimeError("x")
        raise NotImplementedError(function)


def di_rig(rig: Rig, actions: str) -> Any:
    rig.engine.di["echo"] = Echo()
    return run(rig, actions)


def test_E133_too_few_pieces(rig: Rig) -> None:
    s = di_rig(rig, "DI(echo)")
    assert s.vars["errno"] == "arg"
    assert s.vars["strerror"] == "DI needs at least: mod_name, function_name (in 'DI(echo)%s')\n"


def test_E134_unknown_component(rig: Rig) -> None:
    s = di_rig(rig, "DI(nope, f)")
    assert s.vars["errno"] == "config" and s.vars["strerror"] == "load module for factory 'nope'.\n"


def test_E135_argument_forms(rig: Rig) -> None:
    s = di_rig(
        rig,
        'set($v=val); set($n=42); set($rec.a=1); set($rec.b.c=2); set($arr[0]=x); set($arr[1]=y);'
        'DIgetResult(echo, args, "$v", $v, (int)$n, (struct)rec, (array)arr, (json)"[1]")',
    )
    sess = s
    assert sess.di_result == ["$v", "val", 42, {"a": "1", "b": {"c": "2"}}, ["x", "y"], [1]]
    assert s.vars["DI_res0"] == "$v" and s.vars["DI_res2"] == "42"
    assert s.vars["errno"] == "arg" and s.vars["strerror"] == "unsupported AmArg return type"


def test_E135_bad_int_stops_call(rig: Rig) -> None:
    s = di_rig(rig, "set($x=abc); DI(echo, echo, (int)$x)")
    assert s.vars["strerror"] == "converting value 'abc' to int\n"


def test_E136_failures(rig: Rig) -> None:
    s = di_rig(rig, "DI(echo, nofn); set($s1=$strerror); DI(echo, need); set($s2=$strerror); DI(echo, typed); set($s3=$strerror); DI(echo, boom)")
    assert s.vars["s1"] == "not implemented DI function 'nofn'\n"
    assert s.vars["s2"].startswith("out of bounds in  DI call")
    assert s.vars["s3"].startswith("type mismatch in  DI call")
    assert s.vars["strerror"].startswith("unexpected Exception in  DI call")


def test_E137_result_conversion(rig: Rig) -> None:
    s = di_rig(
        rig,
        'set($a[0]=p); set($a[1]=q); DIgetResult(echo, echo, hi); set($one=$DI_res);'
        "DIgetResultArray(echo, echo, (array)a); DI(echo, echo, ignored)",
    )
    assert s.vars["one"] == "hi" and s.vars["DI_res[0]"] == "p" and s.vars["DI_res[1]"] == "q"
    assert s.vars["DI_res_size"] == "2" and s.vars["DI_res"] == "hi" and s.vars["errno"] == ""
