"""One slow dependency must never stall the other calls (issue 14), on a real ``dsm serve --sip``.

Each test runs the server as its own process with scripts written into
``tmp_path``: one call (``talk``) only streams RTP, another one blocks —
on a MariaDB or redis-server paused with SIGSTOP, on ``sys.popen`` of a
``sleep``, or in a ``py()`` that never returns.  Meanwhile OPTIONS probes
must be answered at once and the ``talk`` call's packets must keep arriving
on time (measured where they arrive, in the test); the blocked call resumes
afterwards with its result or its timeout errno.

Bounds: the issue asks for OPTIONS within 50 ms; the median is held to
that, the maximum to a looser bound because the machine running the suite
is shared (2 cores).  A frame gap over 60 ms counts as late.
"""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_rig import Phone, ServeProcess, probe_options
from servers import MariaDB, RedisServer, stop_process

OPTIONS_MEDIAN = 0.050
OPTIONS_MAX = 0.250
LATE_GAP = 0.060
LATE_SHARE = 0.05

TALK = """
initial state S;
transition bye S - hangup / stop(false) -> S;
"""


def _serve(tmp_path: Path, scripts: dict[str, str]) -> ServeProcess:
    folder = tmp_path / "scripts"
    folder.mkdir()
    for name, text in {"talk": TALK, **scripts}.items():
        (folder / f"{name}.dsm").write_text(text)
    return ServeProcess(folder, "--blocking-grace", "1")


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for p in made:
        p.hang_up()
        p.close()


def _call(phones: list[Phone], srv: ServeProcess, app: str) -> Phone:
    phone = Phone(srv.port, app)
    phones.append(phone)
    phone.call()
    return phone


def _pause(pid: int, paused: list[int]) -> None:
    """SIGSTOP a server; ``paused`` remembers it so that the test's end resumes it whatever happens."""
    stop_process(pid)
    paused.append(pid)


def _assert_responsive_for(srv: ServeProcess, talk: Phone, seconds: float) -> None:
    """Probe OPTIONS for ``seconds``; answers and ``talk``'s RTP must stay on time meanwhile."""
    start = time.monotonic()
    latencies = probe_options(srv.port, seconds)
    _assert_responsive(latencies, talk, start, time.monotonic())


def _assert_responsive(latencies: list[float], talk: Phone, start: float, end: float) -> None:
    assert latencies, "no OPTIONS probe ran"
    assert statistics.median(latencies) < OPTIONS_MEDIAN, latencies
    assert max(latencies) < OPTIONS_MAX, latencies
    late, gaps = talk.late_fraction(start, end, LATE_GAP)
    assert gaps >= 0.5 * (end - start) / 0.020, f"only {gaps} RTP gaps in {end - start:.1f} s"
    assert late <= LATE_SHARE * gaps, f"{late} of {gaps} frame gaps over {LATE_GAP * 1000:.0f} ms"


def test_py_that_never_returns_leaves_the_server_responsive_and_sigterm_exits_0(
    tmp_path: Path, phones: list[Phone]
) -> None:
    """A spinning ``py()`` runs on a worker: OPTIONS and RTP go on; SIGTERM exits 0 and names it."""
    srv = _serve(
        tmp_path,
        {
            "spin": """
import(mod_py)
initial state S;
transition spin S - key / py(while True: pass) -> S;
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        talk = _call(phones, srv, "talk")
        _call(phones, srv, "spin").key("1")
        _assert_responsive_for(srv, talk, 2.5)
        srv.wait_for(r"event=slow_action action=py loc=\S+spin.dsm:4:\d+ call=\S+")
        assert srv.terminate() == 0
        srv.wait_for(r"event=still_running call=\S+ action=py loc=\S+spin.dsm:4")
        srv.wait_for("event=stopped")
    finally:
        srv.close()


def test_popen_sleep_waits_alone_and_resumes_with_its_output(tmp_path: Path, phones: list[Phone]) -> None:
    srv = _serve(
        tmp_path,
        {
            "slow": """
import(mod_sys)
initial state S;
transition slow S - key / sys.popen($out=sleep 2; echo done); logs(2, "popen out=$out") -> S;
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        talk = _call(phones, srv, "talk")
        _call(phones, srv, "slow").key("1")
        _assert_responsive_for(srv, talk, 1.5)
        assert "dsm_blocking_in_flight 1" in srv.metrics()
        srv.wait_for("popen out=done")
        lines = srv.metrics()
        assert "dsm_blocking_in_flight 0" in lines
        assert 'dsm_blocking_action_seconds_count{action="sys.popen"} 1' in lines
        assert 'dsm_blocking_action_seconds_bucket{action="sys.popen",le="1.0"} 0' in lines
        assert 'dsm_blocking_action_seconds_bucket{action="sys.popen",le="5.0"} 1' in lines
        assert srv.terminate() == 0
    finally:
        srv.close()



def test_mysql_paused_times_out_for_its_call_only_then_answers_again(
    tmp_path: Path, phones: list[Phone], mariadb_server: MariaDB, paused: list[int]
) -> None:
    """MariaDB stopped: the waiting query fails with ``errno = query`` after ``mysql_read_timeout``.

    Meanwhile OPTIONS and the other call's RTP are on time; after SIGCONT the
    next query of the same call gets its row (the connection is re-opened).
    """
    url = mariadb_server.url
    srv = _serve(
        tmp_path,
        {
            "db": f"""
import(mod_mysql)
initial state S
  enter {{
    set($config.mysql_read_timeout=2)
    mysql.connect({url})
    logs(2, "connected errno=$errno")
  }};
transition q1 S - key(#key == 1) / mysql.queryGetResult(select 42 as answer); logs(2, "query1 answer=$answer errno=$errno") -> S;
transition q2 S - key(#key == 2) / mysql.queryGetResult(select 43 as answer); logs(2, "query2 answer=$answer errno=$errno") -> S;
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        talk = _call(phones, srv, "talk")
        db = _call(phones, srv, "db")
        srv.wait_for("connected errno=(\\s|'|\")")
        _pause(mariadb_server.pid, paused)
        db.key("1")
        _assert_responsive_for(srv, talk, 1.5)
        line = srv.wait_for("query1 answer=")
        assert "errno=query" in line
        os.kill(mariadb_server.pid, signal.SIGCONT)
        paused.clear()
        db.key("2")
        assert "errno=query" not in srv.wait_for("query2 answer=43")
        assert srv.terminate() == 0
    finally:
        srv.close()


def test_redis_paused_waits_for_its_call_only_and_resumes_with_the_reply(
    tmp_path: Path, phones: list[Phone], redis_info: RedisServer, paused: list[int]
) -> None:
    """redis-server stopped for a while: the waiting command gets its reply once it continues."""
    srv = _serve(
        tmp_path,
        {
            "kv": f"""
import(mod_redis)
initial state S
  enter {{
    redis.connect({redis_info.url})
    redis.execCommand($r=SET blocking_key 7)
    logs(2, "connected errno=$errno")
  }};
transition q S - key(#key == 1) / redis.execCommand($v=GET blocking_key); logs(2, "reply v=$v errno=$errno") -> S;
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        talk = _call(phones, srv, "talk")
        kv = _call(phones, srv, "kv")
        srv.wait_for("connected errno=")
        _pause(redis_info.pid, paused)
        kv.key("1")
        _assert_responsive_for(srv, talk, 1.5)
        assert "reply v=" not in srv.log()  # still waiting, not failed: redis_timeout is 5 s
        os.kill(redis_info.pid, signal.SIGCONT)
        paused.clear()
        line = srv.wait_for("reply v=")
        assert "reply v=7" in line
        assert srv.terminate() == 0
    finally:
        srv.close()


def test_E151_invite_answered_once_a_start_that_waits_is_done(tmp_path: Path, phones: list[Phone]) -> None:
    """A blocking action in the start diagram's enter list: the 200 OK waits for the script.

    The host answers only after the script has seen the Invite (it might
    have replied itself); other requests are answered meanwhile.
    """
    srv = _serve(
        tmp_path,
        {
            "lookup": """
import(mod_sys)
initial state S
  enter { sys.popen($who=sleep 1; echo alice) };
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        start = time.monotonic()
        done = threading.Event()

        def place() -> None:
            _call(phones, srv, "lookup")
            done.set()

        caller = threading.Thread(target=place, daemon=True)
        caller.start()
        latencies = probe_options(srv.port, 0.5)
        assert max(latencies) < OPTIONS_MAX
        caller.join(30)
        assert done.is_set()
        assert time.monotonic() - start >= 0.9
        assert srv.terminate() == 0
    finally:
        srv.close()


def test_redis_paused_longer_than_redis_timeout_gives_the_connection_errno(
    tmp_path: Path, phones: list[Phone], redis_info: RedisServer, paused: list[int]
) -> None:
    """``redis_timeout`` (here 1 s): the waiting command fails with ``errno = connection``;
    after SIGCONT the next command reconnects and gets its reply."""
    srv = _serve(
        tmp_path,
        {
            "kv": f"""
import(mod_redis)
initial state S
  enter {{
    set($config.redis_timeout=1)
    redis.connect({redis_info.url})
    redis.execCommand($r=SET timeout_key 9)
    logs(2, "connected errno=$errno")
  }};
transition q1 S - key(#key == 1) / redis.execCommand($v=GET timeout_key); logs(2, "first v=$v errno=$errno") -> S;
transition q2 S - key(#key == 2) / set($errno=""); redis.execCommand($w=GET timeout_key); logs(2, "second w=$w errno=$errno") -> S;
transition bye S - hangup / stop(false) -> S;
"""
        },
    )
    try:
        talk = _call(phones, srv, "talk")
        kv = _call(phones, srv, "kv")
        srv.wait_for("connected errno=")
        _pause(redis_info.pid, paused)
        kv.key("1")
        _assert_responsive_for(srv, talk, 1.5)
        assert "errno=connection" in srv.wait_for("first v=")
        os.kill(redis_info.pid, signal.SIGCONT)
        paused.clear()
        kv.key("2")
        line = srv.wait_for("second w=")
        assert "second w=9" in line and "errno=connection" not in line
        assert srv.terminate() == 0
    finally:
        srv.close()
