"""The worker pool hands outcomes back in batches (issue 14).

Calls that finish together (a paused database resumed) are resumed at most
``batch`` per loop iteration, so SIP, media timers and the control endpoint
run between batches; every session still gets its outcome, in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dsm
from dsm.runtime.blocking import PoolRunner
from dsm.runtime.call import SystemCall
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.compose import build_engine

HERE = str(Path(__file__).parent)

CHART = """import(mod_blockingtest)
initial state S enter { blk.work(start) };
state T;
transition "w" (S, T) - test(#go == 1) / blk.work(#n) -> T;
"""


def test_completions_arriving_together_are_resumed_a_batch_per_loop_iteration() -> None:
    loop = asyncio.new_event_loop()
    runner = PoolRunner(loop, workers=8, batch=2)
    try:
        engine = build_engine(AsyncioClock(loop), mod_path=[HERE], runner=runner)
        engine.on_pending = lambda: loop.call_soon(engine.run_pending)
        engine.load({"p": dsm.compile_source(CHART, name="p", module_path=[HERE])})
        sessions = [engine.start_call("p", SystemCall(f"pool-{i}")) for i in range(6)]
        for _ in range(400):  # bounded: starts run on the pool
            if all(s.vars.get("done") == "start" and not s.waiting for s in sessions):
                break
            loop.run_until_complete(asyncio.sleep(0.01))
        assert all(s.vars.get("done") == "start" for s in sessions)
        for s in sessions:
            s.deliver("DSMEvent", {"go": "1", "n": "1"})
            s.deliver("DSMEvent", {"go": "1", "n": "2"})  # queued behind the parked one (E-146)
        engine.run_pending()
        assert all(s.waiting for s in sessions)
        for _ in range(400):  # let every worker finish while the loop does not run
            if len(runner._finished) == 6:
                break
            time.sleep(0.01)
        assert len(runner._finished) == 6
        runner._flush()
        assert len(runner._finished) == 4  # two resumed; the rest wait for the next iteration
        for _ in range(400):
            if all(s.vars.get("done") == "start,1,2" and not s.waiting for s in sessions):
                break
            loop.run_until_complete(asyncio.sleep(0.01))
        assert [s.vars.get("done") for s in sessions] == ["start,1,2"] * 6
        assert runner.in_flight == 0
        assert runner.completed == 18
    finally:
        runner.close()
        loop.close()


LANES = """import(mod_blockingtest)
initial state S;
transition "g" (S, S) - test(#go == 1) / gate.wait(#n) -> S;
transition "w" (S, S) - test(#go == 2) / blk.work(#n) -> S;
"""


def _spin(loop: asyncio.AbstractEventLoop, done: Callable[[], bool]) -> bool:
    for _ in range(1000):  # bounded: at most ~10 s of loop turns
        if done():
            return True
        loop.run_until_complete(asyncio.sleep(0.01))
    return done()


def test_a_stalled_module_holds_only_its_lane_and_its_waiting_calls_run_in_order() -> None:
    """Issue 14: one slow dependency must not stall the others -- nor take every worker."""
    loop = asyncio.new_event_loop()
    runner = PoolRunner(loop, workers=8, lane_workers=2)
    gate = threading.Event()
    entered: list[str] = []
    try:
        engine = build_engine(AsyncioClock(loop), mod_path=[HERE], runner=runner)
        engine.on_pending = lambda: loop.call_soon(engine.run_pending)
        engine.load({"l": dsm.compile_source(LANES, name="l", module_path=[HERE])})
        gated = [engine.start_call("l", SystemCall(f"lane-{i}")) for i in range(4)]
        for s in gated:
            s.objects["gate"] = gate
            s.objects["entered"] = entered
        other = engine.start_call("l", SystemCall("lane-other"))
        engine.run_pending()
        for i, s in enumerate(gated):
            s.deliver("DSMEvent", {"go": "1", "n": str(i)})
        engine.run_pending()
        assert all(s.waiting for s in gated)
        assert runner.in_flight == 4
        assert runner.queued == 2  # two run (and wait on the stalled gate), two wait their turn
        other.deliver("DSMEvent", {"go": "2", "n": "x"})
        assert _spin(loop, lambda: other.vars.get("done") == "x" and not other.waiting)
        assert all(s.waiting for s in gated)  # the other lane went past the stalled one
        assert entered == ["0", "1"]
        gate.set()
        assert _spin(loop, lambda: all(s.vars.get("gated") == "1" and not s.waiting for s in gated))
        assert entered == ["0", "1", "2", "3"]  # the lane's waiting calls ran in order
        assert runner.in_flight == 0 and runner.queued == 0
    finally:
        gate.set()  # never leave a worker waiting
        runner.close()
        loop.close()
