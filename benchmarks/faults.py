"""The fault table of issue 14: one call blocks, the others must not notice.

For each fault — ``py(while True: pass)``, ``sys.popen(sleep 4)``, a
redis-server and a MariaDB paused with SIGSTOP — a ``dsm serve --sip``
process runs two calls from plain UDP sockets: ``talk`` only streams RTP,
``blk`` runs the blocking action on a key press.  For 3 s OPTIONS probes
(1 s timeout each, 10 a second) measure the server's answers, and the
``talk`` call's packets are timed where they arrive (gaps over 40 ms).
The ``py`` case then sends SIGTERM and reports the exit code and time.

Run: ``.venv/bin/python benchmarks/faults.py [dsm serve options]``; one JSON
line per fault.  ``WHICH=spin,popen`` picks faults.
"""

import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "modules"))
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from serve_rig import Phone, ServeProcess, _request, _status_and_to_tag  # noqa: E402
from servers import mariadb, redis_server  # noqa: E402

EXTRA = sys.argv[1:]
TALK = "initial state S;\ntransition bye S - hangup / stop(false) -> S;\n"


def probe(port: int, timeout: float = 1.0) -> float | None:
    """Seconds to the final answer of one OPTIONS, ``None`` when none came in ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        start = time.monotonic()
        request = _request("OPTIONS", port, s.getsockname()[1], "probe", f"o{time.monotonic_ns()}")
        s.sendto(request, ("127.0.0.1", port))
        s.settimeout(timeout)
        try:
            while True:
                data, _ = s.recvfrom(65535)
                if _status_and_to_tag(data)[0] >= 200:
                    return time.monotonic() - start
        except TimeoutError:
            return None


def scenario(
    name: str,
    script: str,
    before: Callable[[Phone], None] | None = None,
    during: Callable[[], None] | None = None,
    seconds: float = 3.0,
    sigterm: bool = False,
) -> None:
    folder = Path(tempfile.mkdtemp()) / "s"
    folder.mkdir()
    (folder / "talk.dsm").write_text(TALK)
    (folder / "blk.dsm").write_text(script)
    srv = ServeProcess(folder, *EXTRA)
    out: dict[str, Any] = {"fault": name}
    try:
        talk = Phone(srv.port, "talk")
        talk.call()
        blk = Phone(srv.port, "blk")
        blk.call()
        time.sleep(0.5)
        if before is not None:
            before(blk)
        t0 = time.monotonic()
        latencies = []
        while time.monotonic() - t0 < seconds:
            latencies.append(probe(srv.port))
            time.sleep(0.1)
        t1 = time.monotonic()
        ok = [x for x in latencies if x is not None]
        out["options"] = len(latencies)
        out["unanswered"] = len(latencies) - len(ok)
        out["options_max_ms"] = round(max(ok) * 1000, 1) if ok else None
        out["options_median_ms"] = round(statistics.median(ok) * 1000, 1) if ok else None
        late, gaps = talk.late_fraction(t0, t1, 0.040)
        out["rtp_packets"] = len([t for t in talk.arrivals if t0 <= t <= t1])
        out["rtp_expected"] = int((t1 - t0) / 0.02)
        out["gaps_over_40ms"] = late
        if during is not None:
            during()
        if sigterm:
            start = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            try:
                out["sigterm_exit"] = srv.proc.wait(15)
                out["sigterm_s"] = round(time.monotonic() - start, 2)
            except Exception:
                out["sigterm_exit"] = "no exit in 15 s"
        for phone in (talk, blk):
            phone.hang_up()
            phone.close()
    finally:
        srv.close()
    print(json.dumps(out), flush=True)


def pause_then_key(pid: int) -> Callable[[Phone], None]:
    """Stop the server process ``pid``, then press the key that makes the call use it."""

    def run(phone: Phone) -> None:
        os.kill(pid, signal.SIGSTOP)
        phone.key("1")

    return run


def on_key(script: str) -> str:
    return f"initial state S;\ntransition q S - key / {script} -> S;\n"


def main() -> None:
    which = os.environ.get("WHICH", "spin,popen,redis,mysql").split(",")
    if "spin" in which:
        scenario(
            "py(while True: pass)",
            "import(mod_py)\n" + on_key("py(while True: pass)"),
            before=lambda ph: ph.key("1"),
            sigterm=True,
        )
    if "popen" in which:
        scenario(
            "sys.popen(sleep 4)", "import(mod_sys)\n" + on_key("sys.popen($o=sleep 4)"),
            before=lambda ph: ph.key("1"),
        )
    if "redis" in which:
        with redis_server() as r:
            try:
                scenario(
                    "redis-server SIGSTOP",
                    f"import(mod_redis)\ninitial state S\n  enter {{ redis.connect({r.url}) }};\n"
                    "transition q S - key / redis.execCommand($v=GET k) -> S;\n",
                    before=pause_then_key(r.pid),
                    during=lambda: os.kill(r.pid, signal.SIGCONT),
                )
            finally:
                os.kill(r.pid, signal.SIGCONT)
    if "mysql" in which:
        with mariadb() as m:
            try:
                scenario(
                    "mariadbd SIGSTOP",
                    f"import(mod_mysql)\ninitial state S\n  enter {{ mysql.connect({m.url}) }};\n"
                    "transition q S - key / mysql.query(select 1) -> S;\n",
                    before=pause_then_key(m.pid),
                    during=lambda: os.kill(m.pid, signal.SIGCONT),
                )
            finally:
                os.kill(m.pid, signal.SIGCONT)


if __name__ == "__main__":
    main()
