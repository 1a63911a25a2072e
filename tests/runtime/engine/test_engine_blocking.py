"""Blocking actions park their session's event and resume it (issue 14, E-146, E-147).

The same charts run three ways — blocking calls inline (no runner), through
the resumable executor with the outcome at once (:class:`InlineRunner`), and
parked for virtual seconds while more events arrive (:class:`DelayedRunner`).
The traces and variables must be the same: waiting must not change what a
script does, only when.  Flow changes, ``for`` loops, ``callFSM``/``returnFSM``,
exceptions and conditions that block are all crossed by a parked call.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_fake_call import FakeCall

import dsm
from dsm.runtime.blocking import BlockingRunner, DelayedRunner, InlineRunner
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.engine import DIComponent, Engine
from dsm.runtime.session import Session

HERE = str(Path(__file__).parent)

MAIN = """
import(mod_blockingtest)
initial state START
  enter { blk.work(enter-start); set($n=0) };
state LOOP;
state DONE;
transition "begin" START - start / blk.work(begin); callFSM(sub); blk.work(after-call) -> LOOP;
transition "count" (START, LOOP) - key blk.is(#key) / for ($i in range(0, 3)) { blk.work($i); if blk.is($i) { blk.work(one) } }; inc($n) -> LOOP;
transition "other key" (START, LOOP) - key / blk.work(#key) -> LOOP;
transition "boom" (START, LOOP) - test(#cmd == fail) / blk.fail(oops); blk.work(never) -> LOOP;
transition "crash" (START, LOOP) - test(#cmd == crash) / blk.crash() -> LOOP;
transition "fail alone" (START, LOOP) - test(#cmd == fail1) / blk.fail(single) -> LOOP;
transition "again" (START, LOOP) - test(#cmd == repost) / set(#cmd=bye); blk.work(reposting); repost() -> LOOP;
transition "bye" (START, LOOP) - test(#cmd == bye) / blk.work(bye) -> DONE;
transition "caught" (START, LOOP) - exception / blk.work(#type) -> LOOP;
"""

SUB = """
import(mod_blockingtest)
initial state SUB
  enter { blk.work(sub-enter); returnFSM(); blk.work(not-run) };
"""


def _run(runner_kind: str) -> tuple[list[tuple[str, str]], dict[str, str], list[str]]:
    clock = VirtualClock()
    runner: BlockingRunner | None = None
    if runner_kind == "inline":
        runner = InlineRunner()
    elif runner_kind == "delayed":
        runner = DelayedRunner(clock, 0.5)
    engine: Engine = build_engine(clock, mod_path=[HERE], runner=runner)
    trace: list[tuple[str, str]] = []
    logs: list[str] = []
    engine.tracer = lambda s, kind, detail: trace.append((kind, detail))
    engine.log_sink = lambda s, level, msg: logs.append(msg)
    engine.on_pending = lambda: engine.run_pending()
    charts = {
        name: dsm.compile_source(textwrap.dedent(text), name=name, module_path=[HERE])
        for name, text in (("main", MAIN), ("sub", SUB))
    }
    engine.load(charts)
    s = engine.start_call("main", FakeCall("t1", {}))
    engine.run_pending()
    # every input arrives at once: with the delayed runner they queue behind parked calls
    for event, params in (
        ("Key", {"key": "1"}),
        ("Key", {"key": "7"}),
        ("DSMEvent", {"cmd": "fail"}),
        ("DSMEvent", {"cmd": "crash"}),
        ("DSMEvent", {"cmd": "fail1"}),  # a lone blocking action that raises
        ("DSMEvent", {"cmd": "repost"}),
    ):
        s.deliver(event, params)
    engine.run_pending()
    for _ in range(200):  # bounded: each step lets one parked call finish
        if not s.waiting and not s.pending:
            break
        clock.advance(0.5)
        engine.run_pending()
    assert not s.waiting and not s.pending
    return trace, dict(s.vars), logs


def test_E147_parked_calls_leave_traces_and_variables_unchanged() -> None:
    plain = _run("none")
    assert plain[1]["done"] == (
        "enter-start,begin,sub-enter,after-call,0,1,one,2,7,oops,internal,single,"
        "reposting,bye"
    )
    assert plain[1]["n"] == "1"
    assert _run("inline") == plain
    assert _run("delayed") == plain


def test_E146_events_for_a_waiting_session_queue_and_run_in_order_afterwards() -> None:
    clock = VirtualClock()
    engine = build_engine(clock, mod_path=[HERE], runner=DelayedRunner(clock, 2.0))
    engine.on_pending = lambda: engine.run_pending()
    charts = {"main": dsm.compile_source(textwrap.dedent(MAIN), name="main", module_path=[HERE]),
              "sub": dsm.compile_source(textwrap.dedent(SUB), name="sub", module_path=[HERE])}
    engine.load(charts)
    s: Session = engine.start_call("main", FakeCall("t1", {}))
    engine.run_pending()
    assert s.waiting and s.vars["done"] == "enter-start"  # the first call ran, its outcome is due at 2 s
    s.deliver("Key", {"key": "7"})
    engine.run_pending()
    assert s.pending == 1 and "7" not in s.vars["done"]
    clock.advance(1.9)
    engine.run_pending()
    assert s.vars["done"] == "enter-start"
    for _ in range(20):
        clock.advance(2.0)
        engine.run_pending()
    assert s.vars["done"] == "enter-start,begin,sub-enter,after-call,7"
    assert not s.waiting and s.pending == 0


def test_a_session_ended_while_waiting_drops_the_late_outcome() -> None:
    clock = VirtualClock()
    engine = build_engine(clock, mod_path=[HERE], runner=DelayedRunner(clock, 1.0))
    engine.on_pending = lambda: engine.run_pending()
    charts = {"main": dsm.compile_source(textwrap.dedent(MAIN), name="main", module_path=[HERE]),
              "sub": dsm.compile_source(textwrap.dedent(SUB), name="sub", module_path=[HERE])}
    engine.load(charts)
    s = engine.start_call("main", FakeCall("t1", {}))
    engine.run_pending()
    assert s.waiting
    engine.end_session(s)
    assert s.ended and not s.waiting
    clock.advance(5.0)
    engine.run_pending()
    assert s.vars["done"] == "enter-start"


def test_without_a_runner_blocking_actions_run_inline_on_the_plain_executor() -> None:
    engine = build_engine(VirtualClock(), mod_path=[HERE])
    charts = {"main": dsm.compile_source(textwrap.dedent(MAIN), name="main", module_path=[HERE]),
              "sub": dsm.compile_source(textwrap.dedent(SUB), name="sub", module_path=[HERE])}
    cs = engine.load(charts)
    assert cs.blocking
    s = engine.start_call("main", FakeCall("t1", {}))
    engine.run_pending()
    assert not s._resumable and s.vars["done"] == "enter-start,begin,sub-enter,after-call"


def _harness_run(tmp_path: Path, delay: float | None) -> tuple[list[tuple[str, str]], dict[str, str]]:
    from dsm.runtime.harness import Harness

    folder = tmp_path / f"delay-{delay}"
    folder.mkdir()
    (folder / "app.dsm").write_text(textwrap.dedent("""
        import(mod_blockingtest)
        initial state A
          enter { blk.work(start) };
        state B;
        transition k A - key / blk.work(#key) -> B;
        transition k B - key / blk.work(#key) -> B;
        transition t B - timer / blk.work(timer) -> B;
        transition bye (A, B) - hangup / stop(false) -> B;
    """))
    h = Harness(folder, module_path=[HERE], blocking_delay=delay)
    call = h.call("app")
    h.advance(10)  # answered once the start's blocking call is done (the 200 OK waits for it)
    call.press("123")
    h.advance(30)
    call.hangup()
    h.advance(30)
    script = {"event", "transition", "state", "exception", "error", "warning"}
    return [(line.kind, line.detail) for line in h.lines[call.id] if line.kind in script], call.vars


def test_harness_event_order_is_the_same_when_an_action_blocks(tmp_path: Path) -> None:
    """Harness ``blocking_delay``: keys pressed while a call waits are handled after, in order.

    Every blocking call parks the session for 3 virtual seconds, longer than
    the keys take to arrive (keys 2 and 3 come while key 1 is handled); the transcript (events, transitions, states) is
    the one of the run where blocking calls are instant (the host's own
    lines — keys sent, replies — come earlier relative to the script's).
    """
    instant = _harness_run(tmp_path, None)
    waiting = _harness_run(tmp_path, 3.0)
    assert instant[1]["done"] == "start,1,2,3"
    assert waiting == instant


class SlowLookup(DIComponent):
    """A component that would wait on a network service: ``blocking`` (A-core-76, issue 14)."""

    blocking = True

    def __init__(self) -> None:
        self.threads: list[str] = []

    def invoke(self, function: str, args: list[Any]) -> Any:
        if function != "lookup":
            raise NotImplementedError(function)
        return [f"found-{args[0]}", "2"]


DI_CHART = """
initial state A
  enter { DIgetResult(slow, lookup, $who); set($after=$DI_res0) };
state B;
transition k A - key / DIgetResult(slow, nosuch) -> B;
"""


@pytest.mark.parametrize("delay", [None, 1.0])
def test_A_core_77_blocking_component_parks_the_session_and_stores_the_result(delay: Any) -> None:
    clock = VirtualClock()
    runner = None if delay is None else DelayedRunner(clock, delay)
    engine = build_engine(clock, runner=runner)
    engine.on_pending = lambda: engine.run_pending()
    engine.di["slow"] = SlowLookup()
    engine.load({"main": dsm.compile_source(DI_CHART, name="main")})
    s = engine.start_call("main", FakeCall("t1", {}), params={"who": "bob"})
    engine.run_pending()
    assert s.waiting == (delay is not None)
    s.deliver("Key", {"key": "1"})
    for _ in range(10):
        clock.advance(1.0)
        engine.run_pending()
    assert s.vars["after"] == "found-bob" and s.vars["DI_res1"] == "2"
    assert s.vars["errno"] == "arg" and "not implemented DI function 'nosuch'" in s.vars["strerror"]


def _invite_run(tmp_path: Path, delay: float | None) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    from dsm.runtime.harness import Harness

    folder = tmp_path / f"invite-{delay}"
    folder.mkdir()
    (folder / "busy.dsm").write_text(textwrap.dedent("""
        import(mod_blockingtest)
        import(mod_dlg)
        initial state A
          enter { blk.work(lookup) };
        state DONE;
        transition "refuse" A - invite / dlg.reply(486, Busy Here) -> DONE;
        transition "answered" A - sessionStart / blk.work(talking) -> DONE;
    """))
    h = Harness(folder, module_path=[HERE], blocking_delay=delay)
    call = h.call("busy")
    h.advance(20)
    script = {"event", "transition", "state"}
    return (
        [(r.code, r.reason) for r in call.sent_replies],
        [(line.kind, line.detail) for line in h.lines[call.id] if line.kind in script],
    )


def test_E151_a_script_waiting_at_its_start_still_answers_the_invite_itself(tmp_path: Path) -> None:
    """The host's automatic 200 OK waits until the parked session has seen the Invite (E-151)."""
    instant = _invite_run(tmp_path, None)
    assert [code for code, _ in instant[0]] == [486]
    assert _invite_run(tmp_path, 2.0) == instant
