"""Every core action and condition exists with its style and runs on a fake call (actions.md 1.1, 1.2)."""

from __future__ import annotations

import pytest
from engine_rig import Rig

from dsm.runtime.actions import core
from dsm.vocabulary import CORE_ACTIONS, CORE_CONDITIONS

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
    for name, sig in CORE_ACTIONS.items():
        assert core.actions[name].signature.style == sig.style, name


def test_actions_md_1_2_core_conditions_registered_with_filters() -> None:
    assert set(core.conditions) == set(CORE_CONDITIONS)
    for name, sig in CORE_CONDITIONS.items():
        d = core.conditions[name]
        assert d.signature.style == sig.style and d.signature.event == sig.event, name


@pytest.mark.parametrize("name", sorted(CORE_ACTIONS))
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


@pytest.mark.parametrize("name", sorted(CORE_ACTIONS))
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


@pytest.mark.parametrize("name", sorted(CORE_CONDITIONS))
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
