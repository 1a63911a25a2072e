"""MySQL queries waiting on the event loop (issue 14): no thread while the server thinks.

An engine with the server's :class:`~dsm.runtime.blocking.PoolRunner`
sends ``mysql.query``/``queryGetResult``/``execute`` from the loop and
finishes them when the whole reply is in.  Real MariaDB (the fixture's),
paused with SIGSTOP: the other session and the loop's timers carry on, the
waiting session gets its row after SIGCONT or the usual ``errno = query``
on the read timeout.  Large replies arrive in pieces and are read whole;
the traces are those of the same chart run inline.  Every wait is a
bounded loop of loop turns; nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from servers import MariaDB, spin, stop_process

import dsm
from dsm.modules.mod_mysql import LOOP_REPLY_LIMIT
from dsm.runtime.blocking import PoolRunner
from dsm.runtime.call import SystemCall
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.engine import Engine

DB = """import(mod_mysql)
initial state INIT enter {{ set($config.mysql_read_timeout={timeout}); mysql.connect({url}) }};
state S;
transition q (INIT, S) - test(#go == 1) / mysql.queryGetResult("SELECT '#n' AS answer") -> S;
transition big (INIT, S) - test(#go == big) / mysql.queryGetResult("SELECT REPEAT('x', #n) AS payload, #n AS n") -> S;
transition ex (INIT, S) - test(#go == ex) / mysql.execute("DO SLEEP(0)") -> S;
transition keep (INIT, S) - test(#go == keep) / mysql.query("SELECT 1 AS a UNION SELECT 2"); mysql.getResult(1) -> S;
transition bad (INIT, S) - test(#go == bad) / mysql.queryGetResult("SELEKT nonsense") -> S;
transition proc (INIT, S) - test(#go == proc) / mysql.queryGetResult("CALL dsm_two_results('#n')") -> S;
transition procex (INIT, S) - test(#go == procex) / mysql.execute("CALL dsm_two_results('#n')") -> S;
transition local (INIT, S) - test(#go == local) / set($local=#n) -> S;
"""




class Rig:
    """An engine wired to its own loop as ``dsm serve`` wires it, with ``n`` connected sessions."""

    def __init__(
        self, db: MariaDB, n: int, timeout: float = 10.0, runner: bool = True, batch: int = 16
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner = PoolRunner(self.loop, workers=4, batch=batch) if runner else None
        self.engine = Engine(AsyncioClock(self.loop), runner=self.runner)
        self.trace: list[tuple[str, str, str]] = []
        self.engine.tracer = lambda s, kind, detail: self.trace.append((s.id, kind, detail))
        self.engine.on_pending = lambda: self.loop.call_soon(self.engine.run_pending)
        self.engine.load({"db": dsm.compile_source(DB.format(url=db.url, timeout=timeout), name="db")})
        self.sessions = [self.engine.start_call("db", SystemCall(f"loop-{i}")) for i in range(n)]
        assert self.spin(lambda: all("errno" in s.vars and not s.waiting for s in self.sessions))
        assert [s.vars["errno"] for s in self.sessions] == [""] * n

    def spin(self, done: Callable[[], bool]) -> bool:
        return spin(self.loop, done)

    def send(self, s: Any, **params: str) -> None:
        s.deliver("DSMEvent", params)
        self.engine.run_pending()

    def idle(self, s: Any) -> bool:
        return not s.waiting and not s.pending

    def close(self) -> None:
        for s in self.sessions:
            self.engine.end_session(s)
        if self.runner is not None:
            self.runner.close()
        self.loop.close()


@pytest.fixture
def rig_factory() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(*args: Any, **kwargs: Any) -> Rig:
        rig = Rig(*args, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_a_query_waits_on_the_loop_without_a_thread_while_mariadb_is_paused(
    mariadb_server: MariaDB, paused: list[int], rig_factory: Callable[..., Rig]
) -> None:
    rig = rig_factory(mariadb_server, 2)
    runner = rig.runner
    assert runner is not None
    db, other = rig.sessions
    rig.send(db, go="1", n="warm")
    assert rig.spin(lambda: rig.idle(db)) and db.vars["answer"] == "warm"
    busy_before = runner._outstanding

    stop_process(mariadb_server.pid)
    paused.append(mariadb_server.pid)
    rig.send(db, go="1", n="7")
    rig.send(db, go="local", n="queued")  # queues behind the waiting query (E-146)
    assert db.waiting and runner.waiting_on_loop == 1 and runner.in_flight == 1
    assert runner._outstanding == busy_before  # no worker thread holds the query
    ticks: list[float] = []
    for k in range(5):
        rig.loop.call_later(0.01 * k, lambda: ticks.append(rig.loop.time()))
    rig.send(other, go="local", n="meanwhile")
    assert rig.spin(lambda: len(ticks) == 5 and other.vars.get("local") == "meanwhile")
    assert db.waiting and "local" not in db.vars  # still waiting; its next event still queued

    os.kill(mariadb_server.pid, signal.SIGCONT)
    paused.clear()
    assert rig.spin(lambda: rig.idle(db))
    assert db.vars["answer"] == "7" and db.vars["errno"] == "" and db.vars["local"] == "queued"
    assert runner.in_flight == 0 and runner.waiting_on_loop == 0
    assert runner.histograms["mysql.queryGetResult"].counts  # counted as any blocking call


def test_the_read_timeout_fails_the_query_with_errno_query_and_the_next_one_reconnects(
    mariadb_server: MariaDB, paused: list[int], rig_factory: Callable[..., Rig]
) -> None:
    rig = rig_factory(mariadb_server, 1, timeout=1)
    (db,) = rig.sessions
    stop_process(mariadb_server.pid)
    paused.append(mariadb_server.pid)
    rig.send(db, go="1", n="lost")
    assert db.waiting
    assert rig.spin(lambda: rig.idle(db))
    assert db.vars["errno"] == "query"
    assert db.vars["db.ereason"] == "Lost connection to MySQL server during query (timed out)"
    assert "answer" not in db.vars
    assert rig.runner is not None and not rig.runner._watches  # the closed socket is unregistered
    os.kill(mariadb_server.pid, signal.SIGCONT)
    paused.clear()
    rig.send(db, go="1", n="back")  # auto-reconnect (on the pool), then the loop again
    assert rig.spin(lambda: rig.idle(db))
    assert db.vars["answer"] == "back" and db.vars["errno"] == ""
    rig.send(db, go="1", n="again")
    assert rig.spin(lambda: rig.idle(db))
    assert db.vars["answer"] == "again" and rig.runner.waiting_on_loop == 0


@pytest.mark.parametrize("size", [300_000, LOOP_REPLY_LIMIT + 500_000])
def test_a_large_result_arriving_in_pieces_is_read_whole(
    mariadb_server: MariaDB, rig_factory: Callable[..., Rig], size: int
) -> None:
    """Below the limit the pieces gather on the loop; above it a worker reads the rest."""
    rig = rig_factory(mariadb_server, 1)
    (db,) = rig.sessions
    rig.send(db, go="big", n=str(size))
    assert rig.spin(lambda: rig.idle(db))
    assert db.vars["errno"] == "", db.vars.get("db.ereason")
    assert db.vars["payload"] == "x" * size and db.vars["n"] == str(size)
    rig.send(db, go="1", n="after")  # the connection is in step afterwards
    assert rig.spin(lambda: rig.idle(db)) and db.vars["answer"] == "after"


def test_execute_query_and_errors_finish_on_the_loop_as_inline(
    mariadb_server: MariaDB, rig_factory: Callable[..., Rig]
) -> None:
    """Same variables and traces as the same chart with every query inline (no runner)."""
    results = []
    for with_runner in (False, True):
        rig = rig_factory(mariadb_server, 1, runner=with_runner)
        (db,) = rig.sessions
        for params in (
            {"go": "ex"},
            {"go": "keep"},
            {"go": "bad"},
            {"go": "1", "n": "x"},
            {"go": "local", "n": "last"},
        ):
            db.deliver("DSMEvent", params)  # all at once: they queue behind the waiting ones
        rig.engine.run_pending()
        assert rig.spin(lambda db=db, rig=rig: rig.idle(db))
        keep = {k: v for k, v in db.vars.items() if k != "db.insert_id"}
        results.append(([(kind, detail) for _, kind, detail in rig.trace], keep))
    assert results[0] == results[1]
    trace, variables = results[1]
    assert variables["a"] == "2" and variables["answer"] == "x" and variables["local"] == "last"
    assert variables["db.ereason"].startswith("You have an error in your SQL syntax")


def test_a_procedure_reply_of_several_results_finishes_on_the_loop_as_inline(
    mariadb_server: MariaDB, rig_factory: Callable[..., Rig]
) -> None:
    """The first result set is the action's; the further ones are read, so the next query is in step."""
    db_ = mariadb_server
    con = pymysql.connect(
        host=db_.host, port=db_.port, user=db_.user, password=db_.password, database=db_.database
    )
    try:
        with con.cursor() as cur:
            cur.execute(
                "CREATE OR REPLACE PROCEDURE dsm_two_results(v VARCHAR(20)) "
                "BEGIN SELECT v AS first_col; SELECT 'second' AS second_col; END"
            )
    finally:
        con.close()
    results = []
    for with_runner in (False, True):
        rig = rig_factory(mariadb_server, 1, runner=with_runner)
        (db,) = rig.sessions
        for params in (
            {"go": "proc", "n": "p1"},
            {"go": "1", "n": "after-proc"},
            {"go": "procex", "n": "p2"},
            {"go": "keep"},
        ):
            db.deliver("DSMEvent", params)
        rig.engine.run_pending()
        assert rig.spin(lambda db=db, rig=rig: rig.idle(db))
        keep = {k: v for k, v in db.vars.items() if k != "db.insert_id"}
        results.append(([(kind, detail) for _, kind, detail in rig.trace], keep))
    assert results[0] == results[1]
    variables = results[1][1]
    assert variables["first_col"] == "p1" and "second_col" not in variables
    assert variables["answer"] == "after-proc" and variables["a"] == "2"
    assert variables["errno"] == ""


def test_a_session_ending_while_its_query_waits_leaves_nothing_registered(
    mariadb_server: MariaDB, paused: list[int], rig_factory: Callable[..., Rig]
) -> None:
    rig = rig_factory(mariadb_server, 1)
    (db,) = rig.sessions
    runner = rig.runner
    assert runner is not None
    stop_process(mariadb_server.pid)
    paused.append(mariadb_server.pid)
    rig.send(db, go="1", n="gone")
    assert db.waiting and runner.waiting_on_loop == 1
    rig.engine.end_session(db)  # the connection is disposed: the watch goes first
    assert runner.waiting_on_loop == 0 and runner.in_flight == 0 and not runner._watches


def test_a_burst_of_replies_after_sigcont_finishes_in_batches_and_in_order(
    mariadb_server: MariaDB, paused: list[int], rig_factory: Callable[..., Rig]
) -> None:
    """Twelve sessions on a paused server: eight wait on the loop (the lane), four in the lane.

    After SIGCONT the replies finish three per loop iteration and every query gets its row.
    """
    rig = rig_factory(mariadb_server, 12, batch=3)
    runner = rig.runner
    assert runner is not None
    stop_process(mariadb_server.pid)
    paused.append(mariadb_server.pid)
    for i, s in enumerate(rig.sessions):
        s.deliver("DSMEvent", {"go": "1", "n": f"a{i}"})
        s.deliver("DSMEvent", {"go": "1", "n": f"b{i}"})  # queued behind the first
    rig.engine.run_pending()
    assert runner.waiting_on_loop == 8 and runner.queued == 4  # a lane holds 8 at once, no thread
    os.kill(mariadb_server.pid, signal.SIGCONT)
    paused.clear()
    assert rig.spin(lambda: all(rig.idle(s) for s in rig.sessions))
    assert [s.vars["answer"] for s in rig.sessions] == [f"b{i}" for i in range(12)]
    assert runner.in_flight == 0 and not runner._backlog
    assert sum(runner.histograms["mysql.queryGetResult"].counts) == 24
