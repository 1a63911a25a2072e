"""Every core action and condition exists with its style and runs on a fake call (actions.md 1.1, 1.2)."""

from __future__ import annotations

import pytest
from engine_rig import Rig

from dsm.runtime.actions import core
from dsm.vocabulary import CORE_ACTIONS, CORE_CONDITIONS

RULE_OF: dict[str, str] = {
    "repost": "A-core-1",
    "jumpFSM": "A-core-2",
    "callFSM": "A-core-3",
    "returnFSM": "A-core-4",
    "break": "A-core-5",
    "stop": "A-core-6",
    "set": "A-core-7",
    "sets": "A-core-8",
    "eval": "A-core-9",
    "setVar": "A-core-10",
    "var": "A-core-11",
    "param": "A-core-12",
    "append": "A-core-13",
    "substr": "A-core-14",
    "inc": "A-core-15",
    "clear": "A-core-16",
    "clearStruct": "A-core-17",
    "clearArray": "A-core-18",
    "size": "A-core-19",
    "arrayIndex": "A-core-20",
    "playPrompt": "A-core-21",
    "playPromptFront": "A-core-22",
    "playPromptLooped": "A-core-23",
    "setPrompts": "A-core-24",
    "playFile": "A-core-25",
    "playFileFront": "A-core-26",
    "playSilence": "A-core-27",
    "playSilenceFront": "A-core-28",
    "playRingtone": "A-core-29",
    "flushPlaylist": "A-core-30",
    "closePlaylist": "A-core-31",
    "setInOutPlaylist": "A-core-32",
    "setInputPlaylist": "A-core-33",
    "setOutputPlaylist": "A-core-34",
    "addSeparator": "A-core-35",
    "recordFile": "A-core-36",
    "stopRecord": "A-core-37",
    "getRecordLength": "A-core-38",
    "getRecordDataSize": "A-core-39",
    "connectMedia": "A-core-40",
    "disconnectMedia": "A-core-41",
    "enableReceiving": "A-core-42",
    "disableReceiving": "A-core-43",
    "enableForceDTMFReceiving": "A-core-44",
    "disableForceDTMFReceiving": "A-core-45",
    "monitorRTPTimeout": "A-core-46",
    "mute": "A-core-47",
    "unmute": "A-core-48",
    "enableDTMFDetection": "A-core-49",
    "disableDTMFDetection": "A-core-50",
    "sendDTMF": "A-core-51",
    "sendDTMFSequence": "A-core-52",
    "B2B.connectCallee": "A-core-53",
    "B2B.terminateOtherLeg": "A-core-54",
    "B2B.sendReinvite": "A-core-55",
    "B2B.enableEarlyMediaRelay": "A-core-56",
    "B2B.addHeader": "A-core-57",
    "B2B.removeHeader": "A-core-58",
    "B2B.clearHeaders": "A-core-59",
    "B2B.setHeaders": "A-core-60",
    "B2B.relayEvent": "A-core-61",
    "B2B.setRelayOnly": "A-core-62",
    "setTimer": "A-core-63",
    "removeTimer": "A-core-64",
    "removeTimers": "A-core-65",
    "log": "A-core-66",
    "logs": "A-core-67",
    "dbg": "A-core-68",
    "info": "A-core-69",
    "warn": "A-core-70",
    "error": "A-core-71",
    "logVars": "A-core-72",
    "logParams": "A-core-73",
    "logSelects": "A-core-74",
    "logAll": "A-core-75",
    "DI": "A-core-76",
    "DIgetResult": "A-core-77",
    "DIgetResultArray": "A-core-78",
    "postEvent": "A-core-79",
    "registerEventQueue": "A-core-80",
    "unregisterEventQueue": "A-core-81",
    "createSystemDSM": "A-core-82",
    "throw": "A-core-83",
    "throwOnError": "A-core-84",
    "trackObject": "A-core-85",
    "releaseObject": "A-core-86",
    "freeObject": "A-core-87",
    "test": "C-core-1",
    "keyPress": "C-core-2",
    "key": "C-core-3",
    "keyTest": "key",
    "timer": "C-core-4",
    "timerTest": "timer",
    "noAudio": "C-core-5",
    "noAudioTest": "noAudio",
    "separator": "C-core-6",
    "separatorTest": "separator",
    "hangup": "C-core-7",
    "event": "C-core-8",
    "eventTest": "event",
    "B2Bevent": "C-core-9",
    "invite": "C-core-10",
    "early": "C-core-11",
    "earlySession": "early",
    "sessionStart": "C-core-12",
    "ringing": "C-core-13",
    "failed": "C-core-14",
    "B2B.otherRequest": "C-core-15",
    "B2B.otherReply": "C-core-16",
    "B2B.otherBye": "C-core-17",
    "sipRequest": "C-core-18",
    "sipReply": "C-core-19",
    "remoteDisappeared": "C-core-20",
    "sessionTimeout": "C-core-21",
    "rtpTimeout": "C-core-22",
    "jsonRpcRequest": "C-core-23",
    "jsonRpcResponse": "C-core-24",
    "subscription": "C-core-25",
    "startup": "C-core-26",
    "start": "C-core-27",
    "beforeDestroy": "C-core-28",
    "reload": "C-core-29",
    "system": "C-core-30",
}
"""The actions.md entry of every core action and condition (A-core-N, C-core-N)."""


SAMPLE_ARGS: dict[str, str] = {
    "jumpFSM": "d",
    "callFSM": "d",
    "throw": "x",
    "stop": "false",
    "playPrompt": "hello",
    "playPromptFront": "hello",
    "playPromptLooped": "hello",
    "playFile": "a.wav",
    "playFileFront": "a.wav",
    "playSilence": "10",
    "playSilenceFront": "10",
    "playRingtone": "$r, true",
    "recordFile": "r.wav",
    "addSeparator": "1",
    "monitorRTPTimeout": "true",
    "sendDTMF": "1",
    "sendDTMFSequence": "12#",
    "trackObject": "o",
    "releaseObject": "o",
    "freeObject": "o",
    "set": "$a=1",
    "sets": "$a=1",
    "eval": "$a=1+1",
    "setVar": "a=1",
    "var": "$a=b",
    "param": "$a=key",
    "append": "$a, x",
    "substr": "$a, 1",
    "inc": "$a",
    "clear": "$a",
    "clearStruct": "$a",
    "clearArray": "$a",
    "size": "a, $n",
    "arrayIndex": "a, x",
    "log": "1, x",
    "logs": "1, x",
    "dbg": "x",
    "info": "x",
    "warn": "x",
    "error": "x",
    "logVars": "3",
    "logParams": "3",
    "logSelects": "3",
    "logAll": "3",
    "setTimer": "1, 5",
    "removeTimer": "1",
    "setPrompts": "de",
    "postEvent": "@local_tag",
    "registerEventQueue": "q",
    "unregisterEventQueue": "q",
    "createSystemDSM": "main, d",
    "DI": "x, y",
    "DIgetResult": "x, y",
    "DIgetResultArray": "x, y",
    "B2B.connectCallee": "a, sip:b@c",
    "B2B.sendReinvite": "true",
    "B2B.enableEarlyMediaRelay": "true",
    "B2B.addHeader": "X: 1",
    "B2B.removeHeader": "X",
    "B2B.setHeaders": "X: 1, false",
    "B2B.relayEvent": "a",
    "B2B.setRelayOnly": "true",
}

CHART = """
initial state A; state B; state C;
transition t A - key / {name}({args}); set($done=1) -> B;
transition e A - exception / set($exc=#type); set($cause=#cause) -> C;
"""


def test_actions_md_1_1_core_registry_matches_vocabulary() -> None:
    assert set(core.actions) == set(CORE_ACTIONS)
    assert set(RULE_OF) >= set(CORE_ACTIONS) | set(CORE_CONDITIONS)
    for name, sig in CORE_ACTIONS.items():
        assert core.actions[name].signature.style == sig.style, name


def test_actions_md_1_2_core_conditions_registered_with_filters() -> None:
    assert set(core.conditions) == set(CORE_CONDITIONS)
    for name, sig in CORE_CONDITIONS.items():
        d = core.conditions[name]
        assert d.signature.style == sig.style and d.signature.event == sig.event, name


@pytest.mark.parametrize("name", sorted(CORE_ACTIONS), ids=lambda n: f"{RULE_OF[n]}-{n}")
def test_every_core_action_runs_on_a_fake_call(rig: Rig, name: str) -> None:
    s = rig.run("d", CHART.format(name=name, args=SAMPLE_ARGS.get(name, "")))
    rig.key(s, "1")
    assert s.vars.get("exc") != "internal", s.vars.get("cause")
    if name not in ("throw", "jumpFSM", "callFSM", "break", "returnFSM"):
        assert s.vars.get("done") == "1" and rig.where(s) == "d/B", (name, s.vars)


SYS_CORE_EX = {
    "playPrompt", "playPromptFront", "playPromptLooped", "playFile", "playFileFront",
    "playSilence", "playSilenceFront", "playRingtone", "recordFile", "stopRecord",
    "getRecordLength", "getRecordDataSize", "setInOutPlaylist", "setInputPlaylist",
    "setOutputPlaylist", "flushPlaylist", "closePlaylist", "setPrompts", "addSeparator",
    "connectMedia", "disconnectMedia", "mute", "unmute", "B2B.connectCallee",
    "B2B.terminateOtherLeg", "B2B.enableEarlyMediaRelay", "B2B.addHeader",
    "B2B.removeHeader", "B2B.clearHeaders", "B2B.setHeaders",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CORE_ACTIONS), ids=lambda n: f"{RULE_OF[n]}-{n}")
def test_E162_every_core_action_in_a_system_session(rig: Rig, name: str) -> None:
    """Sys availability (actions.md 0.3): core-ex, script-ex, no-op or yes."""
    chart = CHART.replace("key", "startup").format(name=name, args=SAMPLE_ARGS.get(name, ""))
    rig.load(d=chart)
    s = rig.engine.start_system("main", "d")
    rig.engine.run_pending(limit=1000)
    exc = s.vars.get("exc")
    assert exc != "internal", s.vars.get("cause")
    if name in SYS_CORE_EX:
        assert (exc, s.vars.get("cause")) == ("core", "not implemented in SystemDSM")
    elif name in ("B2B.relayEvent", "B2B.setRelayOnly"):
        assert exc == "script"
    elif name not in ("throw", "jumpFSM", "callFSM", "break", "returnFSM"):
        assert exc is None and s.vars.get("done") == "1", (name, s.vars)


EVENT_OF = {name: sig.event for name, sig in CORE_CONDITIONS.items()}


@pytest.mark.parametrize("name", sorted(CORE_CONDITIONS), ids=lambda n: f"{RULE_OF[n]}-{n}")
def test_every_core_condition_filters_on_its_event_type(rig: Rig, name: str) -> None:
    event = EVENT_OF[name] or "DSMEvent"
    arg = "11" if name == "keyPress" else ""
    s = rig.run("d", f"initial state A; state B; transition t A - {name}({arg}) -> B;")
    if name in ("start",):
        assert rig.where(s) == "d/B"
        return
    other = "Timer" if event != "Timer" else "Key"
    rig.send(s, other, {"key": "11", "id": "1"})
    assert rig.where(s) == ("d/B" if name == "test" else "d/A"), name
    rig.send(s, event, {"key": "11", "id": "1"})
    assert rig.where(s) == "d/B", name


@pytest.mark.parametrize("name", sorted(n for n in CORE_CONDITIONS if n not in ("keyPress", "start")))
@pytest.mark.parametrize("ident", ["7", "8"])
def test_E40_E43_inverted_typed_condition_and_test_expression(rig: Rig, name: str, ident: str) -> None:
    event = EVENT_OF[name] or "DSMEvent"
    s = rig.run(
        "d",
        f"""
        initial state A; state B; state C;
        transition t A - {name}(#id == 7) -> B;
        transition n A - not {name}(#id == 7); not start -> C;
        """,
    )
    assert rig.where(s) == "d/A"
    rig.send(s, event, {"id": ident})
    assert rig.where(s) == ("d/B" if ident == "7" else "d/C"), name


def test_E42_key_press_literal_compare(rig: Rig) -> None:
    s = rig.run("d", "initial state A; state B; transition t A - keyPress(5) -> B;")
    rig.send(s, "Key", {"key": " 5"})
    assert rig.where(s) == "d/A"
    rig.send(s, "Key", {"key": "5"})
    assert rig.where(s) == "d/B"


def test_E43_expression_without_operator_never_matches(rig: Rig) -> None:
    s = rig.run("d", "initial state A; state B; state C; transition t A - test(#type = x) -> B; transition n A - key; not test(#type = x) -> C;")
    rig.key(s, "1")
    assert rig.where(s) == "d/C"
