"""Round-trip benchmark of the server-backed modules against their bare client libraries.

Starts a private MariaDB and redis-server (the test helpers in
``tests/modules/servers.py``), then measures, in the same run:

* ``mysql.queryGetResult`` (select one row and set its columns as variables)
  per second, next to a bare PyMySQL loop doing the same select and putting
  the row into a dict;
* ``redis.execCommand`` (``GET`` into a variable) per second, next to a bare
  redis-py loop (``Redis.execute_command`` into a dict);
* when the harness is importable, the same work run by the engine from a
  script (``for`` loop in an enter block), for reference;
* the pool hand-off (issue 14): ``mysql.queryGetResult`` as ``dsm serve``
  runs it — an engine on dsm serve's event loop whose blocking actions go to the
  worker pool, one event per query — next to bare PyMySQL, and the same
  engine with the query inline (``engine_inline``: what the event round
  trip costs without the hand-off), and eight sessions querying side by side,
  with the floor of any hand-off: a bare loop <-> thread ping-pong;
* ``loop_wait`` (issue 14, the missed figure): the same select-and-set
  with the query sent from the loop and the session waiting for the reply
  on the loop — no thread (``dsm serve``'s path now) — one session and eight
  sessions side by side against eight bare threads, next to the pool
  hand-off and the inline engine, ``--hop-runs`` alternating runs (medians).
  These cases run on ``dsm serve``'s event loop (uvloop; the standard loop
  with ``DSM_EVENT_LOOP=asyncio``), named ``event_loop`` in the JSON: they
  used to run on the standard loop, whose readiness callback costs more per
  reply than uvloop's, so they measured a loop ``dsm serve`` does not use.
  Their blocks are awaited on the running loop (never stopped between
  blocks, as in ``dsm serve``), and the process uses ``dsm serve``'s
  switch interval and collector settings;
* ``paused_mariadb``: ``--serve-calls`` SIP calls (default 200) on a
  ``dsm serve`` process, each running one query a second, while MariaDB is
  paused with SIGSTOP for ``--pause`` seconds (default 10).  The test's own
  sockets receive every call's RTP and count frames arriving more than
  20 ms after their slot (or missing) before, during and after the pause
  (target: under 1 %); OPTIONS probes run during the pause.

The module actions run with a minimal context (no engine), so the ratio
shows what the module itself adds: argument resolution, ``Q`` substitution,
error handling, variable writes.  Timing alternates small module and bare
blocks and compares the medians, which filters out noise from other
work on the machine.  Target: the module adds at most 20 % over the bare client.

Run: ``python benchmarks/modules.py [--calls N] [--rounds R]``.  The last
line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import queue
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "modules"))

import pymysql  # noqa: E402
import redis  # noqa: E402
from servers import FakeContext, MariaDB, RedisServer, mariadb, redis_server  # noqa: E402

import dsm  # noqa: E402
from dsm.modules import mod_mysql, mod_redis  # noqa: E402
from dsm.runtime.blocking import DEFAULT_LANE_WORKERS, PoolRunner  # noqa: E402
from dsm.runtime.call import SystemCall  # noqa: E402
from dsm.runtime.clock import AsyncioClock  # noqa: E402
from dsm.runtime.engine import Engine  # noqa: E402
from dsm.runtime.server import GC_THRESHOLDS, SWITCH_INTERVAL, event_loop_factory  # noqa: E402

TARGET_OVERHEAD = 0.20


BLOCK = 25
"""Calls per timed block: small, so module and bare blocks see the same machine load."""


def interleaved(
    module: Callable[[int], None],
    bare: Callable[[int], None],
    calls: int,
    rounds: int,
    block: int = BLOCK,
) -> tuple[float, float]:
    """(module rate, bare rate) from the median of many small alternating blocks.

    Other work on the machine slows both sides alike when their blocks
    alternate quickly; the median then ignores the blocks hit by a burst.
    """

    async def module_block(n: int) -> None:
        module(n)

    return asyncio.run(interleaved_on_loop(module_block, bare, calls, rounds, block))


async def interleaved_on_loop(
    module: Callable[[int], Awaitable[None]],
    bare: Callable[[int], None],
    calls: int,
    rounds: int,
    block: int = BLOCK,
) -> tuple[float, float]:
    """:func:`interleaved` on a running event loop: the module's blocks are awaited.

    ``dsm serve``'s loop runs without a stop between queries.  Run from
    outside (``run_until_complete`` per block), the engine's side paid a
    start and a stop of the loop every block, which ``dsm serve`` never
    does (``docs/modules.md``).  The bare blocks run from the same coroutine,
    holding the loop meanwhile (nothing else is due on it).
    """
    clock = time.perf_counter
    await module(max(1, calls // 10))
    bare(max(1, calls // 10))
    m_times: list[float] = []
    b_times: list[float] = []
    for i in range(max(rounds, calls // block)):
        if i % 2:  # alternate which side goes first
            start = clock()
            bare(block)
            b_times.append(clock() - start)
        start = clock()
        await module(block)
        m_times.append(clock() - start)
        if not i % 2:
            start = clock()
            bare(block)
            b_times.append(clock() - start)
    return block / statistics.median(m_times), block / statistics.median(b_times)


# --------------------------------------------------------------------------- MySQL
def mysql_setup(db: MariaDB) -> None:
    con = pymysql.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        database=db.database,
        autocommit=True,
    )
    with con.cursor() as cur:
        cur.execute(
            "CREATE TABLE menus (id INT PRIMARY KEY, owner VARCHAR(40), prompt VARCHAR(80))"
        )
        cur.execute(
            "INSERT INTO menus VALUES (1, 'alice', 'wav/alice.wav'), (2, 'bob', 'wav/bob.wav')"
        )
    con.close()


def mysql_rates(db: MariaDB, calls: int, rounds: int) -> tuple[float, float]:
    ctx = FakeContext({"config.db_url": db.url, "user": "alice"})
    mod_mysql.connect(ctx, "")
    assert ctx.vars["errno"] == "", ctx.vars.get("strerror")
    sql = "SELECT prompt, owner FROM menus WHERE owner='$user'"

    def module(n: int) -> None:
        for _ in range(n):
            mod_mysql.query_get_result(ctx, sql, "")
        assert ctx.vars["prompt"] == "wav/alice.wav"

    bare_con = pymysql.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        database=db.database,
        autocommit=True,
    )
    out: dict[str, Any] = {}

    def bare(n: int) -> None:
        for _ in range(n):
            with bare_con.cursor() as cur:
                cur.execute("SELECT prompt, owner FROM menus WHERE owner='alice'")
                rows = cur.fetchall()
                for d, v in zip(cur.description, rows[0]):
                    out[d[0]] = v
        assert out["prompt"] == "wav/alice.wav"

    try:
        return interleaved(module, bare, calls, rounds)
    finally:
        bare_con.close()
        ctx.dispose_all()


# --------------------------------------------------------------------------- Redis
def redis_rates(srv: RedisServer, calls: int, rounds: int) -> tuple[float, float]:
    ctx = FakeContext({"config.redis_db_url": srv.url, "key": "calls:alice"})
    mod_redis.connect(ctx, "")
    assert ctx.vars["errno"] == ""
    mod_redis.exec_command(ctx, "r", "set calls:alice 42")

    def module(n: int) -> None:
        for _ in range(n):
            mod_redis.exec_command(ctx, "v", "get $key")
        assert ctx.vars["v"] == "42"

    client = redis.Redis(host=srv.host, port=srv.port)
    out: dict[str, Any] = {}

    def bare(n: int) -> None:
        for _ in range(n):
            out["v"] = client.execute_command("GET", "calls:alice")
        assert out["v"] == b"42"

    try:
        return interleaved(module, bare, calls, rounds)
    finally:
        client.close()
        ctx.dispose_all()


# --------------------------------------------------------------------------- the pool hand-off
POOL_CHART = """import(mod_mysql)
initial state INIT enter {{ mysql.connect({url}); set($user=alice) }};
state S;
transition q (INIT, S) - test(#go == 1) / mysql.queryGetResult("SELECT prompt, owner FROM menus WHERE owner='$user'") -> S;
"""


def serve_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``dsm serve`` runs on (``event_loop_factory``).

    uvloop when installed (a dependency), the standard loop with
    ``DSM_EVENT_LOOP=asyncio``.  The select-and-set cases measure
    ``dsm serve``'s path, so they run on its loop: the loop's own cost per
    reply (a readiness callback) is part of what a query costs there.
    """
    factory = event_loop_factory()
    return factory() if factory is not None else asyncio.new_event_loop()


def _serve_engine(loop: asyncio.AbstractEventLoop, runner: PoolRunner | None) -> Engine:
    """An engine wired to ``loop`` as ``dsm serve`` wires it (one drain per loop iteration)."""
    engine = Engine(AsyncioClock(loop), runner=runner)
    pending = False

    def drain() -> None:
        nonlocal pending
        pending = False
        engine.run_pending(limit=1_000_000)

    def on_pending() -> None:
        nonlocal pending
        if not pending:
            pending = True
            loop.call_soon(drain)

    engine.on_pending = on_pending
    return engine


def _connected(loop: asyncio.AbstractEventLoop, engine: Engine, db: MariaDB, chart: str, n: int) -> list[Any]:
    engine.load({"q": dsm.compile_source(chart.format(url=db.url), name="q")})
    group = [engine.start_call("q", SystemCall(f"bench-{i}")) for i in range(n)]
    for _ in range(600):  # bounded: connecting takes a while on a loaded machine
        if all("errno" in s.vars and not s.waiting for s in group):
            break
        loop.run_until_complete(asyncio.sleep(0.05))
    assert all(s.vars.get("errno") == "" for s in group), [s.vars for s in group[:3]]
    return group


def _bare_connection(db: MariaDB) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=db.database, autocommit=True
    )


def _bare_select(con: pymysql.connections.Connection, out: dict[str, Any]) -> None:
    """The bare side's select-and-set: the same select, the row's columns into a dict."""
    with con.cursor() as cur:
        cur.execute("SELECT prompt, owner FROM menus WHERE owner='alice'")
        rows = cur.fetchall()
        for d, v in zip(cur.description, rows[0]):
            out[d[0]] = v


class BareThreads:
    """``n`` threads with one PyMySQL connection each: the bare side of a concurrent comparison.

    :meth:`run` has every thread do ``count`` select-and-sets and returns
    when all are done (threads live across runs, as the pool's do).
    """

    def __init__(self, db: MariaDB, n: int) -> None:
        self.orders: list[queue.SimpleQueue[int | None]] = [queue.SimpleQueue() for _ in range(n)]
        self.done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.cons = [_bare_connection(db) for _ in range(n)]
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def _work(self, i: int) -> None:
        con = self.cons[i]
        out: dict[str, Any] = {}
        while (count := self.orders[i].get()) is not None:
            for _ in range(count):
                _bare_select(con, out)
            self.done.put(i)

    def run(self, count: int) -> None:
        for order in self.orders:
            order.put(count)
        for _ in self.orders:
            self.done.get(timeout=60)

    def close(self) -> None:
        for order in self.orders:
            order.put(None)
        for t in self.threads:
            t.join(10)
        for con in self.cons:
            con.close()


def pool_rates(
    db: MariaDB, calls: int, rounds: int, sessions: int = 1, pool: bool = True, loop_waits: bool = False
) -> tuple[float, float]:
    """(select-and-sets/s through the engine, bare PyMySQL/s), closed loop, same concurrency.

    The engine side is ``dsm serve``'s wiring: its event loop (:func:`serve_loop`), the
    server's :class:`PoolRunner`; each event parks its session, the query
    runs on a worker thread and the session resumes on the loop.  Each
    finished event delivers the session's next one from its ``on_done``
    callback (no future or task per query, so the driver costs next to
    nothing).  ``sessions`` sessions query side by side; the bare side then
    runs as many threads, one connection each (:class:`BareThreads`).
    ``pool=False``: the same engine and loop with the query inline.
    ``loop_waits=True``: the server's runner as it is now, each query waiting
    for its reply on the loop (no thread); ``False``: the pool hand-off.
    """
    loop = serve_loop()
    runner = PoolRunner(loop, workers=max(4, sessions), loop_waits=loop_waits) if pool else None
    engine = _serve_engine(loop, runner)
    group = _connected(loop, engine, db, POOL_CHART, sessions)

    async def module(n: int) -> None:
        per = max(1, n // sessions)
        left = {s.id: per for s in group}
        done: asyncio.Future[None] = loop.create_future()
        active = [len(group)]

        def next_query(s: Any) -> None:
            left[s.id] -= 1
            if left[s.id] >= 0:
                s.deliver("DSMEvent", {"go": "1"}, on_done=lambda _p: next_query(s))
                return
            active[0] -= 1
            if not active[0]:
                done.set_result(None)

        for s in group:
            next_query(s)
        await done
        assert group[0].vars["prompt"] == "wav/alice.wav"

    if sessions == 1:
        bare_con = _bare_connection(db)
        out: dict[str, Any] = {}

        def bare(n: int) -> None:
            for _ in range(n):
                _bare_select(bare_con, out)

        close: Callable[[], None] = bare_con.close
    else:
        threads = BareThreads(db, sessions)

        def bare(n: int) -> None:
            threads.run(max(1, n // sessions))

        close = threads.close

    try:
        # both sides do BLOCK queries per session and block, on dsm serve's running loop
        return loop.run_until_complete(interleaved_on_loop(module, bare, calls, rounds, block=BLOCK * sessions))
    finally:
        close()
        for s in group:
            engine.end_session(s)
        if runner is not None:
            runner.close()
        loop.close()


OPEN_CHART = """import(mod_mysql)
initial state INIT enter {{ mysql.connect({url}); set($user=alice) }};
state S;
transition q (INIT, S) - test(#go == 1) / mysql.queryGetResult("SELECT prompt, owner FROM menus WHERE owner='$user'") -> S;
"""


def _latency(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
    }


def _open_engine(
    db: MariaDB, calls: int, rounds: int, pool: bool, loop_waits: bool = False
) -> dict[str, float]:
    """The engine side of :func:`open_loop` (through the pool, waiting on the loop, or inline)."""
    loop = asyncio.new_event_loop()
    runner = PoolRunner(loop, loop_waits=loop_waits) if pool else None
    engine = _serve_engine(loop, runner)
    group = _connected(loop, engine, db, OPEN_CHART, calls)
    lat: list[float] = []

    def fire(s: Any) -> None:
        start = time.perf_counter()
        s.deliver("DSMEvent", {"go": "1"}, on_done=lambda _p: lat.append(time.perf_counter() - start))

    t0 = loop.time() + 0.1
    for k in range(rounds):
        for i, s in enumerate(group):
            loop.call_at(t0 + k + i / calls, fire, s)
    cpu = time.process_time()
    loop.run_until_complete(asyncio.sleep(rounds + 0.6))
    cpu = time.process_time() - cpu
    for s in group:
        engine.end_session(s)
    if runner is not None:
        runner.close()
    loop.close()
    assert len(lat) == rounds * calls, len(lat)
    return {**_latency(lat), "cpu_us_per_query": round(cpu / len(lat) * 1e6, 1)}


def open_loop(db: MariaDB, calls: int, seconds: float) -> dict[str, Any]:
    """The issue's scenario: ``calls`` calls, each one select-and-set a second, spread evenly.

    Through the pool: ``calls`` sessions on an engine as ``dsm serve`` runs
    it, each sent an event at its own phase of every second; the latency of
    a query runs from the event's delivery to the end of its processing
    (``on_done``).  ``engine_inline``: the same with the query run on the
    loop (what the engine costs without the hand-off).  Bare: ``calls``
    threads, one PyMySQL connection each, each running the same
    select-and-set at its own phase of every second; latency from just
    before ``execute`` to the row in the dict.  CPU is the process's CPU
    time (all threads) over the window, per query.
    """
    rounds = max(1, int(seconds))
    result: dict[str, Any] = {"calls": calls, "seconds": rounds}
    result["pool"] = _open_engine(db, calls, rounds, pool=True)
    result["loop_wait"] = _open_engine(db, calls, rounds, pool=True, loop_waits=True)
    result["engine_inline"] = _open_engine(db, calls, rounds, pool=False)
    # -- bare threads
    cons = [_bare_connection(db) for _ in range(calls)]
    bare_lat: list[list[float]] = [[] for _ in range(calls)]
    start_at = time.monotonic() + 0.3

    def worker(i: int) -> None:
        out: dict[str, Any] = {}
        for k in range(rounds):
            delay = start_at + k + i / calls - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            begin = time.perf_counter()
            _bare_select(cons[i], out)
            bare_lat[i].append(time.perf_counter() - begin)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(calls)]
    for t in threads:
        t.start()
    cpu = time.process_time()
    for t in threads:
        t.join(rounds + 30)
    cpu = time.process_time() - cpu
    for con in cons:
        con.close()
    flat = [x for xs in bare_lat for x in xs]
    assert len(flat) == rounds * calls, len(flat)
    result["bare"] = {**_latency(flat), "cpu_us_per_query": round(cpu / len(flat) * 1e6, 1)}
    result["added_median_us"] = round(result["pool"]["median_us"] - result["bare"]["median_us"], 1)
    bare_cpu = result["bare"]["cpu_us_per_query"]
    result["cpu_overhead"] = round(result["pool"]["cpu_us_per_query"] / bare_cpu - 1, 4)
    result["loop_wait_cpu_overhead"] = round(result["loop_wait"]["cpu_us_per_query"] / bare_cpu - 1, 4)
    result["engine_inline_cpu_overhead"] = round(result["engine_inline"]["cpu_us_per_query"] / bare_cpu - 1, 4)
    return result


def thread_hop_floor(rounds: int = 15, trips: int = 500) -> float:
    """Microseconds per bare loop -> thread -> loop round trip (median of ``rounds``).

    The floor under any pool hand-off on this machine: a thread blocked on
    a ``SimpleQueue`` is woken, answers with ``call_soon_threadsafe``; no
    work at all in between.
    """
    loop = asyncio.new_event_loop()
    jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()

    def worker() -> None:
        while (fut := jobs.get()) is not None:
            loop.call_soon_threadsafe(fut.set_result, None)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()

    async def ping(n: int) -> None:
        for _ in range(n):
            fut: asyncio.Future[None] = loop.create_future()
            jobs.put(fut)
            await fut

    try:
        loop.run_until_complete(ping(trips))
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            loop.run_until_complete(ping(trips))
            times.append((time.perf_counter() - start) / trips)
    finally:
        jobs.put(None)
        thread.join(10)
        loop.close()
    return statistics.median(times) * 1e6


# --------------------------------------------------------------------------- a resume burst, in process
BURST_CHART = """import(mod_mysql)
initial state INIT enter {{ mysql.connect({url}); setTimer(1, 1) }};
state S;
transition q (INIT, S) - timer(#id == 1) / mysql.queryGetResult("SELECT prompt, owner FROM menus WHERE owner='alice'"); setTimer(1, 1) -> S;
"""


def _lag_stats(lags: list[tuple[float, float]], start: float, end: float) -> dict[str, float]:
    xs = sorted(lag for t, lag in lags if start <= t <= end)
    if not xs:
        return {}
    return {
        "p99_ms": round(xs[int(len(xs) * 0.99)] * 1000, 1),
        "max_ms": round(xs[-1] * 1000, 1),
        "over_10ms": round(sum(1 for x in xs if x > 0.010) / len(xs), 4),
    }


def pool_burst(
    db: MariaDB, calls: int, lane_workers: int, pause: float = 2.0, loop_waits: bool = True
) -> dict[str, Any]:
    """How late a 5 ms ticker on the loop runs while a paused MariaDB's queries resume.

    In one process, no SIP or RTP: ``calls`` sessions on an engine wired as
    ``dsm serve`` wires it, each querying once a second (started evenly over
    one second), MariaDB paused for ``pause`` seconds, then resumed.  The
    ticker stands for the media clock; its lateness is taken before the
    pause, in the first second after SIGCONT (every parked query finishes)
    and in the two seconds after that (the calls' timers now fire together).
    Less at the mercy of other work on the machine than ``paused_mariadb``:
    the process sends no media, and a run takes ten seconds.
    """
    loop = asyncio.new_event_loop()
    runner = PoolRunner(loop, lane_workers=lane_workers, loop_waits=loop_waits)
    engine = _serve_engine(loop, runner)
    engine.load({"q": dsm.compile_source(BURST_CHART.format(url=db.url), name="q")})
    lags: list[tuple[float, float]] = []
    step = 0.005
    due = [loop.time() + step]
    handle: list[asyncio.TimerHandle] = []

    def tick() -> None:
        now = loop.time()
        lags.append((now, now - due[0]))
        due[0] += step
        while due[0] < now:
            due[0] += step
        handle[:] = [loop.call_at(due[0], tick)]

    handle.append(loop.call_at(due[0], tick))

    async def scenario() -> tuple[tuple[float, float], tuple[float, float]]:
        sessions = []
        for i in range(calls):
            sessions.append(engine.start_call("q", SystemCall(f"burst-{i}")))
            await asyncio.sleep(1.0 / calls)
        await asyncio.sleep(2.0)
        start = loop.time()
        await asyncio.sleep(2.0)
        before = (start, loop.time())
        os.kill(db.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(pause)
        finally:
            os.kill(db.pid, signal.SIGCONT)
        start = loop.time()
        await asyncio.sleep(3.0)
        for s in sessions:
            engine.end_session(s)
        return before, (start, loop.time())

    try:
        before, after = loop.run_until_complete(scenario())
    finally:
        for h in handle:
            h.cancel()
        runner.close()
        loop.close()
    return {
        "lane_workers": lane_workers,
        "before": _lag_stats(lags, *before),
        "after_first_s": _lag_stats(lags, after[0], after[0] + 1.0),
        "after_rest": _lag_stats(lags, after[0] + 1.0, after[1]),
    }


# --------------------------------------------------------------------------- a paused MariaDB under load
SERVE_SCRIPT = """import(mod_mysql)
initial state INIT
  enter {{ set($config.mysql_read_timeout=60); mysql.connect({url}); setTimer(1, 1) }};
state S;
transition q (INIT, S) - timer(#id == 1) / mysql.queryGetResult("SELECT prompt, owner FROM menus WHERE owner='alice'"); setTimer(1, 1) -> S;
transition bye (INIT, S) - hangup / stop(false) -> S;
"""


class RtpClock:
    """Arrival times of every RTP packet of many calls, taken in one thread where they arrive."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.packets: dict[int, list[tuple[int, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, call: int, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.packets[call] = []
        self.sel.register(sock, selectors.EVENT_READ, call)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        last: dict[int, int] = {}
        while not self._stop.is_set():
            for key, _ in self.sel.select(0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                call: int = key.data
                for _ in range(64):  # bounded per wake-up
                    try:
                        data = sock.recv(2048)
                    except (BlockingIOError, OSError):
                        break
                    now = time.monotonic()
                    if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F != 0:
                        continue  # not PCMU RTP (RTCP of a neighbour's port + 1)
                    seq = int.from_bytes(data[2:4], "big")
                    prev = last.get(call)
                    if prev is not None:  # extend the 16-bit sequence number
                        seq += (prev >> 16) << 16
                        if seq < prev - 32768:
                            seq += 1 << 16
                    last[call] = seq
                    self.packets[call].append((seq, now))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def gaps(self, start: float, end: float, gap: float = 0.060) -> tuple[int, int]:
        """(arrival gaps over ``gap``, gaps) of all calls between ``start`` and ``end``.

        Unlike :meth:`late`, a stall counts once: frames after it that are on
        time again relative to each other are not late (the tests' measure).
        """
        over = total = 0
        for packets in self.packets.values():
            times = sorted(t for _, t in packets if start <= t <= end)
            total += max(0, len(times) - 1)
            over += sum(1 for a, b in zip(times, times[1:]) if b - a > gap)
        return over, total

    def late(self, start: float, end: float, late_after: float = 0.020) -> tuple[int, int]:
        """(late or lost frames, frames) of all calls between ``start`` and ``end``.

        A frame is late when it arrives more than ``late_after`` after its
        slot; a call's slots are ``seq * 20 ms`` from its earliest-arriving
        packet of the window (the sender may have restarted its schedule
        before).  Sequence numbers missing inside the window count as late.
        """
        late = frames = 0
        for packets in self.packets.values():
            inside = [(seq, t) for seq, t in packets if start <= t <= end]
            if not inside:
                continue
            base = min(t - seq * 0.020 for seq, t in inside)
            seqs = [seq for seq, _ in inside]
            expected = max(seqs) - min(seqs) + 1
            frames += expected
            late += expected - len(set(seqs))
            late += sum(1 for seq, t in inside if t - (base + seq * 0.020) > late_after)
        return late, frames


def _sip(method: str, port: int, local: int, call_id: str, user: str, cseq: int = 1, tag: str = "",
         body: str = "") -> bytes:
    to_tag = f";tag={tag}" if tag else ""
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{method.lower()}{time.monotonic_ns()}\r\n"
        f"From: <sip:bench@127.0.0.1>;tag=b{call_id}\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:bench@127.0.0.1:{local}>\r\n"
        f"Max-Forwards: 70\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def _options_ms(port: int) -> float | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        start = time.monotonic()
        sock.sendto(_sip("OPTIONS", port, sock.getsockname()[1], f"o{time.monotonic_ns()}", "x"), ("127.0.0.1", port))
        sock.settimeout(1.0)
        try:
            while True:
                data, _ = sock.recvfrom(65535)
                if data.startswith(b"SIP/2.0 2"):
                    return (time.monotonic() - start) * 1000
        except TimeoutError:
            return None


def _metric(control: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{control}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def serve_pause(
    db: MariaDB,
    calls: int,
    pause: float,
    rate: float = 50.0,
    workers: int | None = None,
    lane_workers: int | None = None,
) -> dict[str, Any]:
    """``calls`` SIP calls on a ``dsm serve`` process, each querying MariaDB once a second.

    MariaDB is paused (SIGSTOP) for ``pause`` seconds in the middle; frame
    lateness is measured where the packets arrive, in three windows:
    before, during and after the pause.
    """
    work = tempfile.mkdtemp(prefix="dsm-bench-pause-")
    folder = os.path.join(work, "scripts")
    os.makedirs(folder)
    with open(os.path.join(folder, "db.dsm"), "w") as fh:
        fh.write(SERVE_SCRIPT.format(url=db.url))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        low = max(1024, probe.getsockname()[1] - 2 * calls - 200) // 2 * 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsm.cli", "serve", "--scripts", folder, "--sip", "127.0.0.1:0",
         "--control", "127.0.0.1:0", "--rtp-ports", f"{low}-{low + 4 * calls + 400}", "--log-level", "info",
         "--blocking-grace", "1", *(["--blocking-workers", str(workers)] if workers else []),
         *(["--blocking-lane-workers", str(lane_workers)] if lane_workers else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp = RtpClock()
    socks: list[socket.socket] = []
    out: dict[str, Any] = {"calls": calls, "pause_s": pause, "lane_workers": lane_workers or DEFAULT_LANE_WORKERS}
    paused = False
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "event=listening" not in line:
            line = proc.stderr.readline()
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError("dsm serve did not start")
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        port = int(fields["sip"].rpartition(":")[2])
        control = fields["control"]
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
        sip.bind(("127.0.0.1", 0))
        local = sip.getsockname()[1]
        for i in range(calls):
            r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            r.bind(("127.0.0.1", 0))
            socks.append(r)
            rtp.add(i, r)
        rtp.start()
        tags: dict[str, str] = {}
        sip.settimeout(0.002)
        t0 = time.monotonic()
        for i in range(calls):
            sdp = (
                "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {socks[i].getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            )
            sip.sendto(_sip("INVITE", port, local, f"c{i}", "db", body=sdp), ("127.0.0.1", port))
            while time.monotonic() < t0 + (i + 1) / rate:
                _collect_answers(sip, port, local, tags)
        deadline = time.monotonic() + 30
        while len(tags) < calls and time.monotonic() < deadline:
            _collect_answers(sip, port, local, tags)
        out["answered"] = len(tags)
        time.sleep(3.0)  # connections made, first queries done
        windows: dict[str, tuple[float, float]] = {}
        q0 = _metric(control, 'dsm_blocking_action_seconds_count{action="mysql.queryGetResult"}')
        a = time.monotonic()
        time.sleep(5.0)
        windows["before"] = (a, time.monotonic())
        os.kill(db.pid, signal.SIGSTOP)
        paused = True
        a = time.monotonic()
        options = []
        while time.monotonic() - a < pause:
            options.append(_options_ms(port))
            time.sleep(0.25)
        windows["paused"] = (a, time.monotonic())
        in_flight = _metric(control, "dsm_blocking_in_flight")
        os.kill(db.pid, signal.SIGCONT)
        paused = False
        a = time.monotonic()
        time.sleep(5.0)
        windows["after"] = (a, time.monotonic())
        q1 = _metric(control, 'dsm_blocking_action_seconds_count{action="mysql.queryGetResult"}')
        for name, (start, end) in windows.items():
            late, frames = rtp.late(start, end)
            out[f"late_{name}"] = round(late / frames, 5) if frames else None
            out[f"frames_{name}"] = frames
            over, gaps = rtp.gaps(start, end)
            out[f"gaps_over_60ms_{name}"] = round(over / gaps, 5) if gaps else None
        start = windows["after"][0]
        out["late_after_by_second"] = [  # where in the window the late frames are
            round(late / frames, 4) if frames else None
            for late, frames in (rtp.late(start + k, start + k + 1) for k in range(5))
        ]
        answered = [o for o in options if o is not None]
        out["options_during_pause"] = len(options)
        out["options_unanswered"] = len(options) - len(answered)
        out["options_max_ms"] = round(max(answered), 1) if answered else None
        out["in_flight_at_end_of_pause"] = in_flight
        out["queries_done"] = q1 - q0
        proc.send_signal(signal.SIGTERM)
        out["exit"] = proc.wait(30)
    finally:
        if paused:
            os.kill(db.pid, signal.SIGCONT)
        rtp.stop()
        for r in socks:
            r.close()
        sip.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return out


def _collect_answers(sip: socket.socket, port: int, local: int, tags: dict[str, str]) -> None:
    """Read SIP answers for a moment; ACK each 200 OK to an INVITE once."""
    try:
        data, _ = sip.recvfrom(65535)
    except (TimeoutError, BlockingIOError):
        return
    if not data.startswith(b"SIP/2.0 200") or b" INVITE\r\n" not in data:
        return
    text = data.decode("utf-8", "replace")
    call_id = tag = ""
    for line in text.split("\r\n"):
        low = line.lower()
        if low.startswith(("call-id:", "i:")):
            call_id = line.split(":", 1)[1].strip()
        elif low.startswith(("to:", "t:")) and ";tag=" in line:
            tag = line.split(";tag=", 1)[1].split(";")[0].strip()
    if call_id and call_id not in tags:
        tags[call_id] = tag
        sip.sendto(_sip("ACK", port, local, call_id, "db", tag=tag), ("127.0.0.1", port))


# --------------------------------------------------------------------------- through the engine
def harness_rates(db: MariaDB, srv: RedisServer, calls: int) -> dict[str, float] | None:
    """Module calls per second inside a running script, or ``None`` without the harness."""
    try:
        from dsm.runtime.harness import Harness
    except ImportError:
        return None
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in (
            (
                "mysql",
                f"import(mod_mysql);\ninitial state S enter {{\n  mysql.connect({db.url});\n"
                f"  set($user=alice);\n  for($i in range(0, {calls})) {{\n"
                "    mysql.queryGetResult(\"SELECT prompt, owner FROM menus WHERE owner='$user'\");\n"
                "  }\n};\n",
            ),
            (
                "redis",
                f"import(mod_redis);\ninitial state S enter {{\n  redis.connect({srv.url});\n"
                f"  for($i in range(0, {calls})) {{\n    redis.execCommand(v=get calls:alice);\n  }}\n}};\n",
            ),
        ):
            path = os.path.join(tmp, f"{name}.dsm")
            with open(path, "w") as fh:
                fh.write(body)
            try:
                h = Harness(scripts=path)
                start = time.perf_counter()
                call = h.call(name)
                elapsed = time.perf_counter() - start
                got = call.vars.get("prompt" if name == "mysql" else "v")
                if got not in ("wav/alice.wav", "42") or call.vars.get("errno"):
                    raise RuntimeError(
                        f"unexpected result {got!r}, errno {call.vars.get('errno')!r}"
                    )
                result[f"{name}_script_per_s"] = calls / elapsed
            except Exception as exc:  # the engine is optional here; report, do not fail
                print(f"harness run of {name} failed: {exc}", file=sys.stderr)
    return result or None


HOP_CASES: dict[str, tuple[int, bool, bool]] = {
    "engine_inline": (1, False, False),
    "pool": (1, True, False),
    "loop": (1, True, True),
    "pool_8": (8, True, False),
    "loop_8": (8, True, True),
}
"""Select-and-set cases: (sessions, through a runner, waiting on the loop)."""


def _median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (engine, bare) pair of the run with the median overhead."""
    ranked = sorted(pairs, key=lambda p: p[1] / p[0])
    return ranked[len(ranked) // 2]


def _median_of(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(value)
    return round(statistics.median(values), 5) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=10000, help="calls per side")
    parser.add_argument(
        "--rounds", type=int, default=20, help="minimum alternating blocks per side"
    )
    parser.add_argument("--serve-calls", type=int, default=200, help="SIP calls for the paused-MariaDB run (0: skip)")
    parser.add_argument("--pause", type=float, default=10.0, help="seconds MariaDB stays paused")
    parser.add_argument("--runs", type=int, default=3, help="runs of each paused-MariaDB case (medians)")
    parser.add_argument(
        "--old-lanes", type=int, default=64,
        help="lane_workers of the 'before' case: 64 = every worker, as before lanes existed",
    )
    parser.add_argument("--hop-runs", type=int, default=3, help="runs of each select-and-set case (medians)")
    parser.add_argument("--open-seconds", type=float, default=5.0, help="seconds of the open-loop case (0: skip)")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL)  # as dsm serve does (runtime/server.py), and its collector:
    gc.collect()  # what is loaded stays out of the collector's sight, young objects collected
    gc.freeze()  # every GC_THRESHOLDS[0] allocations instead of Python's 700
    gc.set_threshold(*GC_THRESHOLDS)
    loads = [os.getloadavg()[0]]

    with mariadb() as db, redis_server() as srv:
        mysql_setup(db)
        my_mod, my_bare = mysql_rates(db, args.calls, args.rounds)
        rd_mod, rd_bare = redis_rates(srv, args.calls, args.rounds)
        scripted = harness_rates(db, srv, args.calls)
        hop_calls = min(args.calls, 3000)
        hop_runs: dict[str, list[tuple[float, float]]] = {k: [] for k in HOP_CASES}
        for _ in range(args.hop_runs):  # the cases alternate, so all see the same machine
            for case, (sessions, pool, loop_waits) in HOP_CASES.items():
                hop_runs[case].append(
                    pool_rates(db, hop_calls, args.rounds, sessions, pool=pool, loop_waits=loop_waits)
                )
            loads.append(os.getloadavg()[0])
        (inline_mod, inline_bare), (pool_mod, pool_bare), (pool8_mod, pool8_bare) = (
            _median_pair(hop_runs[k]) for k in ("engine_inline", "pool", "pool_8")
        )
        floor_us = thread_hop_floor()
        sys.setswitchinterval(0.005)  # Python's default, for comparison
        floor_5ms_us = thread_hop_floor()
        sys.setswitchinterval(SWITCH_INTERVAL)
        loads.append(os.getloadavg()[0])
        opened = open_loop(db, args.serve_calls or 200, args.open_seconds) if args.open_seconds > 0 else None
        bursts: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        paused_runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(args.runs):  # old and new alternate, so both see the same machine
            for case, lanes in (("before", args.old_lanes), ("after", DEFAULT_LANE_WORKERS)):
                # before: the pool as on main (queries on threads); after: queries wait on the loop
                bursts[case].append(pool_burst(db, args.serve_calls or 200, lanes, loop_waits=case == "after"))
                loads.append(os.getloadavg()[0])
        if args.serve_calls > 0:
            for _ in range(args.runs):
                for case, lanes in (("before", args.old_lanes), ("after", DEFAULT_LANE_WORKERS)):
                    run = serve_pause(db, args.serve_calls, args.pause, lane_workers=lanes)
                    run["load_average"] = round(os.getloadavg()[0], 2)
                    paused_runs[case].append(run)
                    loads.append(os.getloadavg()[0])

    my_over = my_bare / my_mod - 1.0
    rd_over = rd_bare / rd_mod - 1.0
    print(
        f"mysql.queryGetResult  {my_mod:10.0f}/s   bare PyMySQL     {my_bare:10.0f}/s   overhead {my_over:+.1%}"
    )
    print(
        f"redis.execCommand     {rd_mod:10.0f}/s   bare redis-py    {rd_bare:10.0f}/s   overhead {rd_over:+.1%}"
    )
    if scripted:
        for key, value in scripted.items():
            print(f"{key:30s} {value:10.0f}/s")
    hop = {
        "compares": "select-and-set, one event per query, closed loop: engine on dsm serve's event loop "
        "(inline, or through the pool) against bare PyMySQL; x8: 8 sessions against 8 threads "
        "with a connection each",
        "engine_inline_per_s": round(inline_mod),
        "engine_inline_bare_per_s": round(inline_bare),
        "engine_inline_overhead": round(inline_bare / inline_mod - 1.0, 4),
        "pool_per_s": round(pool_mod),
        "pool_bare_per_s": round(pool_bare),
        "pool_overhead": round(pool_bare / pool_mod - 1.0, 4),
        "pool_8_sessions_per_s": round(pool8_mod),
        "bare_8_threads_per_s": round(pool8_bare),
        "pool_8_sessions_overhead": round(pool8_bare / pool8_mod - 1.0, 4),
        "thread_ping_pong_us": round(floor_us, 1),
        "thread_ping_pong_us_switch_5ms": round(floor_5ms_us, 1),
    }
    serve_loop_probe = serve_loop()
    serve_loop_probe.close()
    loop_wait: dict[str, Any] = {
        "compares": "select-and-set as dsm serve runs it now: the query sent from the loop, the "
        "session waiting for the reply on the loop (no thread), against bare PyMySQL; x8: 8 "
        "sessions against 8 bare threads; pool: the same through the worker pool (as on main)",
        "runs": args.hop_runs,
        "event_loop": type(serve_loop_probe).__module__.split(".")[0],
    }
    for case in ("loop", "loop_8", "pool", "engine_inline"):
        pairs = hop_runs[case]
        loop_wait[f"{case}_overheads"] = [round(b / m - 1.0, 4) for m, b in pairs]
        loop_wait[f"{case}_median_overhead"] = round(statistics.median(b / m - 1.0 for m, b in pairs), 4)
        loop_wait[f"{case}_per_s"] = [round(m) for m, _ in pairs]
        loop_wait[f"{case}_bare_per_s"] = [round(b) for _, b in pairs]
    loop_wait["within_target"] = loop_wait["loop_median_overhead"] <= TARGET_OVERHEAD
    print(
        f"queryGetResult waiting on the loop: {loop_wait['loop_median_overhead']:+.1%} against bare PyMySQL "
        f"(runs {loop_wait['loop_overheads']}); 8 sessions {loop_wait['loop_8_median_overhead']:+.1%} against "
        f"8 bare threads; through the pool {loop_wait['pool_median_overhead']:+.1%}; inline "
        f"{loop_wait['engine_inline_median_overhead']:+.1%} (medians of {args.hop_runs})"
    )
    print(
        f"queryGetResult via engine, inline {inline_mod:8.0f}/s ({hop['engine_inline_overhead']:+.1%}), "
        f"pool {pool_mod:8.0f}/s ({hop['pool_overhead']:+.1%}) against bare PyMySQL; "
        f"8 sessions {pool8_mod:8.0f}/s against 8 bare threads {pool8_bare:8.0f}/s "
        f"({hop['pool_8_sessions_overhead']:+.1%}); "
        f"bare thread ping-pong {floor_us:.0f} us (switch interval 5 ms: {floor_5ms_us:.0f} us)"
    )
    if opened is not None:
        print(
            f"open loop, {opened['calls']} calls x 1 query/s: latency median {opened['pool']['median_us']:.0f} us "
            f"(p99 {opened['pool']['p99_us']:.0f}) through the pool, {opened['bare']['median_us']:.0f} us "
            f"(p99 {opened['bare']['p99_us']:.0f}) bare threads; CPU per query {opened['pool']['cpu_us_per_query']:.0f} "
            f"vs {opened['bare']['cpu_us_per_query']:.0f} us ({opened['cpu_overhead']:+.1%})"
        )
    burst = {
        case: {
            "lane_workers": args.old_lanes if case == "before" else DEFAULT_LANE_WORKERS,
            "runs": runs,
            **{
                f"median_{window}_{key}": _median_of(runs, window, key)
                for window in ("before", "after_first_s", "after_rest")
                for key in ("p99_ms", "max_ms")
            },
        }
        for case, runs in bursts.items()
    }
    for case, b in burst.items():
        print(
            f"resume burst, {case} (lane_workers {b['lane_workers']}): ticker p99 lateness "
            f"{b['median_before_p99_ms']} ms before the pause, {b['median_after_first_s_p99_ms']} ms "
            f"first second after, {b['median_after_rest_p99_ms']} ms after that (medians of {len(b['runs'])})"
        )
    paused: dict[str, Any] | None = None
    if args.serve_calls > 0:
        paused = {}
        for case, runs in paused_runs.items():
            paused[case] = {
                "lane_workers": args.old_lanes if case == "before" else DEFAULT_LANE_WORKERS,
                "runs": runs,
                **{f"median_late_{w}": _median_of(runs, f"late_{w}") for w in ("before", "paused", "after")},
                **{
                    f"median_gaps_over_60ms_{w}": _median_of(runs, f"gaps_over_60ms_{w}")
                    for w in ("before", "paused", "after")
                },
            }
            print(
                f"paused MariaDB, {case} (lane_workers {paused[case]['lane_workers']}): late frames "
                f"{paused[case]['median_late_before']} before, {paused[case]['median_late_paused']} during, "
                f"{paused[case]['median_late_after']} after SIGCONT; arrival gaps over 60 ms "
                f"{paused[case]['median_gaps_over_60ms_before']} / {paused[case]['median_gaps_over_60ms_paused']} / "
                f"{paused[case]['median_gaps_over_60ms_after']} (medians of {len(runs)})"
            )
    report = {
        "mysql_module_per_s": round(my_mod),
        "mysql_bare_per_s": round(my_bare),
        "mysql_overhead": round(my_over, 4),
        "redis_module_per_s": round(rd_mod),
        "redis_bare_per_s": round(rd_bare),
        "redis_overhead": round(rd_over, 4),
        "target_overhead": TARGET_OVERHEAD,
        "within_target": my_over <= TARGET_OVERHEAD and rd_over <= TARGET_OVERHEAD,
        "scripted": scripted,
        "pool_hand_off": hop,
        "loop_wait": loop_wait,
        "open_loop": opened,
        "resume_burst": burst,
        "paused_mariadb": paused,
        "load_average": [round(x, 2) for x in loads],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
