"""Round-trip benchmark of the server-backed modules against their bare client libraries.

Starts a private MariaDB and redis-server (the test helpers in
``tests/modules/servers.py``), then measures, in the same run:

* ``mysql.queryGetResult`` (select one row and set its columns as variables)
  per second, next to a bare PyMySQL loop doing the same select and putting
  the row into a dict;
* ``redis.execCommand`` (``GET`` into a variable) per second, next to a bare
  redis-py loop (``Redis.execute_command`` into a dict);
* when the harness is importable, the same work run by the engine from a
  script (``for`` loop in an enter block), for reference.

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
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "modules"))

import pymysql  # noqa: E402
import redis  # noqa: E402
from servers import FakeContext, MariaDB, RedisServer, mariadb, redis_server  # noqa: E402

from dsm.modules import mod_mysql, mod_redis  # noqa: E402

TARGET_OVERHEAD = 0.20


BLOCK = 25
"""Calls per timed block: small, so module and bare blocks see the same machine load."""


def _timed(block: Callable[[int], None]) -> float:
    start = time.perf_counter()
    block(BLOCK)
    return time.perf_counter() - start


def interleaved(
    module: Callable[[int], None], bare: Callable[[int], None], calls: int, rounds: int
) -> tuple[float, float]:
    """(module rate, bare rate) from the median of many small alternating blocks.

    Other work on the machine slows both sides alike when their blocks
    alternate quickly; the median then ignores the blocks hit by a burst.
    """
    module(max(1, calls // 10))
    bare(max(1, calls // 10))
    m_times: list[float] = []
    b_times: list[float] = []
    for i in range(max(rounds, calls // BLOCK)):
        if i % 2:  # alternate which side goes first
            b_times.append(_timed(bare))
            m_times.append(_timed(module))
        else:
            m_times.append(_timed(module))
            b_times.append(_timed(bare))
    return BLOCK / statistics.median(m_times), BLOCK / statistics.median(b_times)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=10000, help="calls per side")
    parser.add_argument(
        "--rounds", type=int, default=20, help="minimum alternating blocks per side"
    )
    args = parser.parse_args()

    with mariadb() as db, redis_server() as srv:
        mysql_setup(db)
        my_mod, my_bare = mysql_rates(db, args.calls, args.rounds)
        rd_mod, rd_bare = redis_rates(srv, args.calls, args.rounds)
        scripted = harness_rates(db, srv, args.calls)

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
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
