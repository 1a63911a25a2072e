"""Model-level rules and cross-cutting checks (E-1 … E-3, E-15, E-19, E-57, E-110, E-141, E-150 … E-159, E-171, E-173)."""

from __future__ import annotations

import pytest
from engine_rig import Rig

from dsm.runtime.events import EVENT_TYPES


def test_E1_E2_E3_session_owns_state_variables_objects(rig: Rig) -> None:
    rig.load(d="initial state A enter { set($x=1) }; state B; transition t A - key / if test(1 == 1) { for ($i in range(1)) { set($y=$i) } } -> B;")
    a = rig.call("d")
    b = rig.call("d")
    rig.key(a, "1")
    assert (a.vars["y"], rig.where(a), rig.where(b)) == ("0", "d/B", "d/A")
    a.objects["h"] = object()
    assert "h" not in b.objects and a.di_result is None


def test_E15_E81_one_variable_map_shared_by_sub_diagrams(rig: Rig) -> None:
    rig.load(sub="initial state S enter { append($v, sub) };", d="initial state A enter { set($v=main); callFSM(sub) };")
    assert rig.call("d").vars["v"] == "mainsub"


def test_E19_E57_exception_params_replace_event_map(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A; state E;
        transition t A - key; t.boomCond() -> A;
        transition e A - exception / set($key=#key); set($type=#type) -> E;
        """,
    )
    rig.key(s, "3")
    assert s.vars["key"] == "" and s.vars["type"] == "internal"


def test_E110_flow_action_arguments_are_ignored(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key / repost(whatever) -> B;
        transition u B - key / set($reposted=1); break(now); set($never=1) -> C;
        """,
    )
    rig.key(s, "1")
    assert s.vars["reposted"] == "1" and "never" not in s.vars and rig.where(s) == "d/B"


CLEARING = {
    "setTimer": "1, 5", "removeTimer": "1", "removeTimers": "", "postEvent": "@local_tag",
    "playPrompt": "hello", "playPromptFront": "hello", "playPromptLooped": "hello",
    "playFile": "a.wav", "playFileFront": "a.wav", "playSilence": "1", "playSilenceFront": "1",
    "playRingtone": "r, false", "recordFile": "r.wav", "getRecordLength": "", "getRecordDataSize": "",
    "setPrompts": "de", "addSeparator": "1",
}  # fmt: skip
KEEPING = {
    "flushPlaylist": "", "connectMedia": "", "mute": "", "sendDTMF": "1", "inc": "$n",
    "registerEventQueue": "q", "B2B.addHeader": "X: 1", "stop": "false", "set": "$a=1",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CLEARING) + sorted(KEEPING))
def test_E141_which_actions_clear_errno(rig: Rig, name: str) -> None:
    args = CLEARING.get(name, KEEPING.get(name, ""))
    pre = "recordFile(x.wav); " if name.startswith("getRecord") else ""
    s = rig.run("d", f"initial state A enter {{ {pre}set($errno=old); {name}({args}) }};")
    assert s.vars["errno"] == ("" if name in CLEARING else "old"), name


def test_E150_event_types_known() -> None:
    for t in ("Start", "Key", "Timer", "Exception", "RTPTimeout", "RtpTimeout", "ZRTPSecurityEvent", "BeforeDestroy"):
        assert t in EVENT_TYPES
    assert len(EVENT_TYPES) == 49


def test_E152_E173_typical_incoming_call_order_is_traced(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C; state D;
        transition s A - start -> A;
        transition i A - invite -> B;
        transition ss B - sessionStart -> C;
        transition k C - key -> C;
        transition h C - hangup / stop(false) -> D;
        transition bd D - beforeDestroy / set($last=1) -> D;
        """,
    )
    for t, p in (("Invite", None), ("SessionStart", None), ("Key", {"key": "1"}), ("Hangup", {"headers": ""})):
        rig.send(s, t, p)
    events = [d for sid, kind, d in rig.trace if sid == s.id and kind == "event"]
    assert events == ["Start", "Invite", "SessionStart", "Key", "Hangup", "BeforeDestroy"]
    assert rig.states(s)[-1] == "d/D" and s.vars["last"] == "1" and s.ended


def test_E158_E159_system_session_gets_config_variables_only(rig: Rig) -> None:
    rig.engine.load({}, values={"k": "v"})
    rig.load(sys="initial state S;")
    s = rig.engine.start_system("main", "sys")
    rig.engine.run_pending()
    assert s.vars == {"config.k": "v"} and s.kind == "system"


def test_E171_incoming_order_config_then_p_app_param_then_params(rig: Rig) -> None:
    rig.engine.load({}, values={"x": "conf"}, set_param_variables=True)
    rig.load(d="initial state A;")
    rig.engine.main.set_param_variables = True
    s = rig.call("d", headers="P-App-Param: config.x=pap;y=pap", params={"y": "mon"})
    assert s.vars["config.x"] == "pap" and s.vars["y"] == "mon"
