"""Pool lanes with real servers (issue 14): a paused MariaDB holds only the ``mysql`` lane.

In one process, no SIP: sessions on an engine with the server's
:class:`~dsm.runtime.blocking.PoolRunner` (lanes of two) query a MariaDB
paused with SIGSTOP.  Two queries wait on the server, the others wait their
turn in the lane, a Redis command of another session goes past them all,
and after SIGCONT every query gets its own row.
Every wait is a bounded loop of loop turns; nothing depends on the
machine's speed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from servers import MariaDB, RedisServer, spin, stop_process

import dsm
from dsm.runtime.blocking import PoolRunner
from dsm.runtime.call import SystemCall
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.engine import Engine

DB = """import(mod_mysql)
initial state S enter {{ mysql.connect({url}) }};
transition q S - test(#go == 1) / mysql.queryGetResult("SELECT '#n' AS answer") -> S;
"""

KV = """import(mod_redis)
initial state S enter {{ redis.connect({url}) }};
transition q S - test(#go == 1) / redis.execCommand(v=PING) -> S;
"""




def test_a_paused_mariadb_holds_its_lane_only_and_every_query_resumes_in_order(
    mariadb_server: MariaDB, redis_info: RedisServer, paused: list[int]
) -> None:
    loop = asyncio.new_event_loop()
    runner = PoolRunner(loop, workers=8, lane_workers=2, loop_waits=False)  # queries on the pool
    engine = Engine(AsyncioClock(loop), runner=runner)
    engine.on_pending = lambda: loop.call_soon(engine.run_pending)
    sessions: list[Any] = []
    try:
        engine.load(
            {
                "db": dsm.compile_source(DB.format(url=mariadb_server.url), name="db"),
                "kv": dsm.compile_source(KV.format(url=redis_info.url), name="kv"),
            }
        )
        db = [engine.start_call("db", SystemCall(f"lane-db-{i}")) for i in range(5)]
        kv = engine.start_call("kv", SystemCall("lane-kv"))
        sessions = [*db, kv]
        assert spin(loop, lambda: all("errno" in s.vars and not s.waiting for s in sessions))
        assert [s.vars["errno"] for s in sessions] == [""] * 6, [s.vars.get("strerror") for s in sessions]

        stop_process(mariadb_server.pid)
        paused.append(mariadb_server.pid)
        for i, s in enumerate(db):
            s.deliver("DSMEvent", {"go": "1", "n": str(i)})
        engine.run_pending()
        assert all(s.waiting for s in db)
        assert runner.in_flight == 5 and runner.queued == 3  # two on the server, three in the lane

        kv.deliver("DSMEvent", {"go": "1"})
        assert spin(loop, lambda: kv.vars.get("v") == "PONG" and not kv.waiting)
        assert all(s.waiting for s in db)  # the Redis command went past the stalled lane

        os.kill(mariadb_server.pid, signal.SIGCONT)
        paused.clear()
        assert spin(loop, lambda: not any(s.waiting for s in db))
        assert [s.vars.get("answer") for s in db] == ["0", "1", "2", "3", "4"]
        assert [s.vars["errno"] for s in db] == [""] * 5
        assert runner.in_flight == 0 and runner.queued == 0
    finally:
        for s in sessions:
            engine.end_session(s)
        runner.close()
        loop.close()
