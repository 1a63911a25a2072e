"""The worker pool hands outcomes back in batches (issue 14).

Calls that finish together (a paused database resumed) are resumed at most
``batch`` per loop iteration, so SIP, media timers and the control endpoint
run between batches; every session still gets its outcome, in order.
"""

from __future__ import annotations

import asyncio
import time
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
