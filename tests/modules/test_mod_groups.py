"""mod_groups (modules.md section 7): session groups and event broadcast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake import FakeContext, FakeEngine, compile_every_name, harness, harness_call, run_action

from dsm.modules.mod_groups import module, on_before_destroy, table


@pytest.fixture(autouse=True)
def _empty_table() -> Iterator[None]:
    table.clear()
    yield
    table.clear()


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def session(engine: FakeEngine, tag: str, **vars: str) -> FakeContext:
    return FakeContext(dict(vars), local_tag=tag, engine=engine)


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def test_declares_six_actions_and_the_destroy_hook() -> None:
    assert set(module.actions) == {
        "groups.join", "groups.leave", "groups.leaveAll", "groups.get", "groups.getSize", "groups.postEvent",
    }  # fmt: skip
    assert "on_before_destroy" in module.hooks


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


def test_M_groups_1_join_is_idempotent_and_resolves(engine: FakeEngine) -> None:
    a = session(engine, "A", g="room7")
    act(a, "groups.join", "$g")
    act(a, "groups.join", "room7")
    assert table.members("room7") == ["A"]
    assert "errno" not in a.vars


def test_M_groups_2_leave_and_group_disappears(engine: FakeEngine) -> None:
    a, b = session(engine, "A"), session(engine, "B")
    act(a, "groups.join", "g")
    act(b, "groups.join", "g")
    act(a, "groups.leave", "g")
    assert table.members("g") == ["B"]
    act(a, "groups.leave", "g")  # not a member: nothing
    act(b, "groups.leave", "g")
    assert table.snapshot() == {}


def test_M_groups_3_leaveAll(engine: FakeEngine) -> None:
    a = session(engine, "A")
    for g in ("x", "y"):
        act(a, "groups.join", g)
    act(a, "groups.leaveAll")
    assert table.snapshot() == {}


def test_M_groups_4_get_lists_members_in_byte_order(engine: FakeEngine) -> None:
    for tag in ("b", "B", "a"):
        act(session(engine, tag), "groups.join", "g")
    ctx = session(engine, "Z", **{"m[3]": "old"})
    act(ctx, "groups.get", "$m", "g")
    assert [ctx.vars[f"m[{i}]"] for i in range(3)] == ["B", "a", "b"]
    assert ctx.vars["m[3]"] == "old"
    assert "m_size" not in ctx.vars and "m.size" not in ctx.vars


def test_M_groups_5_getSize(engine: FakeEngine) -> None:
    act(session(engine, "A"), "groups.join", "g")
    ctx = session(engine, "Z")
    act(ctx, "groups.getSize", "$n", "g")
    act(ctx, "groups.getSize", "$u", "unknown")
    assert (ctx.vars["n"], ctx.vars["u"]) == ("1", "0")


def test_M_groups_6_postEvent_reaches_every_member_except_the_sender(engine: FakeEngine) -> None:
    a, b, c = (
        session(engine, "A", evt="hello", errno="x"),
        session(engine, "B"),
        session(engine, "C"),
    )
    for s in (a, b, c):
        act(s, "groups.join", "room7")
    act(a, "groups.postEvent", "room7", "evt")
    assert sorted(engine.posted) == [("B", {"evt": "hello"}), ("C", {"evt": "hello"})]
    assert a.vars["errno"] == ""


def test_M_groups_6_quirk_missing_variables_are_created_and_sent_empty(engine: FakeEngine) -> None:
    a = session(engine, "A", x="1")
    act(a, "groups.join", "g")
    act(session(engine, "B"), "groups.join", "g")
    act(a, "groups.postEvent", "g", "x;missing;$x")
    assert engine.posted == [("B", {"x": "1", "missing": "", "$x": ""})]
    assert a.vars["missing"] == "" and a.vars["$x"] == ""


def test_M_groups_6_varlist_forms(engine: FakeEngine) -> None:
    a = session(engine, "A", x="1", y="2")
    act(a, "groups.join", "g")
    act(session(engine, "B"), "groups.join", "g")
    act(a, "groups.postEvent", "g", "")
    act(a, "groups.postEvent", "g", "var")
    assert engine.posted[0] == ("B", {})
    assert engine.posted[1] == ("B", {"x": "1", "y": "2", "errno": ""})


def test_M_groups_6_nobody_reached_sets_arg(engine: FakeEngine) -> None:
    a = session(engine, "A")
    act(a, "groups.postEvent", "unknown", "")
    assert (a.vars["errno"], a.vars["strerror"]) == ("arg", "event could not be posted\n")
    act(a, "groups.join", "solo")
    a.vars["errno"] = ""
    act(a, "groups.postEvent", "solo", "")
    assert a.vars["errno"] == "arg"
    act(session(engine, "dead"), "groups.join", "solo")
    engine.dead.add("dead")
    a.vars["errno"] = ""
    act(a, "groups.postEvent", "solo", "")
    assert a.vars["errno"] == "arg"


def test_M_groups_6_a_failing_engine_does_not_break_the_sender() -> None:
    class Broken:
        def post_event(self, session_id: str, params: dict[str, str]) -> bool:
            raise RuntimeError("gone")

    a = FakeContext(local_tag="A", engine=Broken())
    act(a, "groups.join", "g")
    act(FakeContext(local_tag="B"), "groups.join", "g")
    act(a, "groups.postEvent", "g", "")
    assert a.vars["errno"] == "arg"


def test_M_api_8_destroy_hook_leaves_all_groups(engine: FakeEngine) -> None:
    a = session(engine, "A")
    act(a, "groups.join", "x")
    act(a, "groups.join", "y")
    act(session(engine, "B"), "groups.join", "y")
    on_before_destroy(a, None)
    assert table.snapshot() == {"y": ["B"]}


def test_M_groups_harness_script(tmp_path: Path) -> None:
    script = """import(mod_groups);
initial state S enter {
  groups.join(room7);
  groups.getSize($n=room7);
  groups.get($m=room7);
};
transition "bye" S - hangup / stop(false) -> S;
"""
    call = harness_call(tmp_path, script)
    assert call.vars["n"] == "1"
    assert table.members("room7") == [call.vars["m[0]"]]
    call.hangup()
    assert call.terminated
    assert table.members("room7") == []  # M-api-8: the destroy hook left the group


def test_M_groups_6_harness_broadcast_between_two_calls(tmp_path: Path) -> None:
    script = """import(mod_groups);
initial state S enter {
  groups.join(room7);
  set($evt=hello);
  groups.postEvent(room7, evt);
};
transition "heard" S - event(#evt == hello) / set($got=yes) -> T;
state T;
"""
    h = harness(tmp_path, {"g": script})
    first = h.call("g")
    assert first.vars["errno"] == "arg"  # alone in the group: nobody to post to
    second = h.call("g")
    assert second.vars["errno"] == ""
    assert first.vars.get("got") == "yes"
    assert "got" not in second.vars  # not sent to the sender


def test_M_groups_leave_and_leaveAll_in_a_script(tmp_path: Path) -> None:
    """M-groups-2, M-groups-3 end to end."""
    script = r"""import(mod_groups);
initial state S enter {
  groups.join(a);
  groups.join(b);
  groups.join(c);
  groups.leave(a);
  groups.getSize($na=a);
  groups.getSize($nb=b);
  groups.leaveAll();
  groups.getSize($nc=c);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["na"], v["nb"], v["nc"]) == ("0", "1", "0")
    assert table.snapshot() == {}
