"""mod_monitoring (modules.md section 8): per-call attributes and counters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake import FakeContext, compile_every_name, harness_call, run_action

from dsm.modules.mod_monitoring import module, store


@pytest.fixture(autouse=True)
def _empty_store() -> Iterator[None]:
    store.clear()
    yield
    store.clear()


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def test_declares_seven_actions_and_two_aliases() -> None:
    assert set(module.actions) == {
        "monitoring.set", "monitoring.log", "monitoring.add", "monitoring.logAdd", "monitoring.logVars",
        "monitoring.setGlobal", "monitoring.addGlobal", "monitoring.inc", "monitoring.dec",
    }  # fmt: skip


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


def test_M_monitoring_1_set_and_alias_log_replace_the_value() -> None:
    ctx = FakeContext({"v": "42"}, local_tag="call-1")
    act(ctx, "monitoring.set", "caller", "$v")
    assert store.get("call-1", "caller") == "42"
    act(ctx, "monitoring.log", "caller", "43")
    assert store.record("call-1") == {"caller": "43"}
    assert "errno" not in ctx.vars


def test_M_monitoring_2_add_makes_a_multi_valued_attribute() -> None:
    ctx = FakeContext(local_tag="c")
    act(ctx, "monitoring.set", "k", "old")
    act(ctx, "monitoring.add", "k", "new")
    act(ctx, "monitoring.logAdd", "k", "newer")
    act(ctx, "monitoring.add", "fresh", "1")
    assert store.record("c") == {"k": ["old", "new", "newer"], "fresh": ["1"]}


def test_M_monitoring_3_logVars() -> None:
    ctx = FakeContext({"a": "1", "b": "2"}, local_tag="c")
    act(ctx, "monitoring.logVars")
    assert store.record("c") == {"a": "1", "b": "2"}


def test_M_monitoring_4_setGlobal_and_its_untrimmed_value_quirk() -> None:
    ctx = FakeContext({"id": "stats"})
    act(ctx, "monitoring.setGlobal", "$id", "calls, 5")
    assert store.get("stats", "calls") == " 5"
    act(ctx, "monitoring.setGlobal", "stats", "calls,5")
    assert store.get("stats", "calls") == "5"
    act(ctx, "monitoring.setGlobal", "stats", "flag")
    assert store.get("stats", "flag") == ""


def test_M_monitoring_5_addGlobal() -> None:
    ctx = FakeContext()
    act(ctx, "monitoring.addGlobal", "stats", "seen,a")
    act(ctx, "monitoring.addGlobal", "stats", "seen,b,c")
    assert store.get("stats", "seen") == ["a", "b,c"]


def test_M_monitoring_6_7_counters() -> None:
    ctx = FakeContext({"t": "calls"})
    act(ctx, "monitoring.inc", "$t", "active")
    act(ctx, "monitoring.inc", "calls", "active")
    act(ctx, "monitoring.dec", "calls", "active")
    act(ctx, "monitoring.dec", "other", "")
    assert store.counter("calls", "active") == 1
    assert store.counters() == {("calls", "active"): 1, ("other", ""): -1}


def test_system_dsm_records_use_the_local_tag_select() -> None:
    ctx = FakeContext(local_tag="SystemDSM_3", kind="system")
    act(ctx, "monitoring.set", "k", "v")
    assert store.ids() == ["SystemDSM_3"]
    assert store.snapshot() == {"SystemDSM_3": {"k": "v"}}


def test_M_monitoring_harness_script(tmp_path: Path) -> None:
    script = """import(mod_monitoring);
initial state S enter {
  monitoring.set(app, demo);
  monitoring.inc(calls, active);
};
"""
    harness_call(tmp_path, script)
    assert any(rec.get("app") == "demo" for rec in store.snapshot().values())
    assert store.counter("calls", "active") == 1


def test_M_monitoring_every_action_in_a_script(tmp_path: Path) -> None:
    """M-monitoring-1 … 7 end to end through the harness."""
    script = r"""import(mod_monitoring);
initial state S enter {
  set($who=alice);
  monitoring.set(caller, $who);
  monitoring.log(state, ringing);
  monitoring.add(steps, one);
  monitoring.logAdd(steps, two);
  monitoring.logVars();
  monitoring.setGlobal(stats, calls, 5);
  monitoring.addGlobal(stats, seen,x);
  monitoring.inc(calls, active);
  monitoring.inc(calls, active);
  monitoring.dec(calls, active);
};
"""
    call = harness_call(tmp_path, script)
    record = store.record(call.session.id)
    assert record is not None
    assert (record["caller"], record["state"], record["who"]) == ("alice", "ringing", "alice")
    assert record["steps"] == ["one", "two"]
    assert store.get("stats", "calls") == " 5"
    assert store.get("stats", "seen") == ["x"]
    assert store.counter("calls", "active") == 1
    assert "errno" not in call.vars
