"""Start Kamailio, Redis and N ``dsm serve`` nodes on loopback: a cluster to try out.

::

    python examples/cluster/cluster.py [--nodes 3] [--sip-port 5060] [--scripts DIR]

Kamailio listens on ``127.0.0.1:<sip-port>`` (UDP) and spreads new calls over
the nodes (``docs/cluster.md``); each node is ``dsm serve --node-id nodeN
--drain-timeout 30`` on free loopback ports, serving ``scripts/`` (the
``hold`` application: ``sipp -sn uac -s hold 127.0.0.1:5060``).  Redis
(``redis-server``, when installed) is there for the scripts' shared state.
Ctrl-C stops everything; ``dsm drain --control <node's control>`` takes one
node out gracefully.

The functions here are also what the cluster tests use to start the same
topology (``tests/runtime/cluster``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "kamailio.cfg"
SCRIPTS = HERE / "scripts"


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (bind(0))."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def render_config(
    *,
    listen_port: int,
    dispatcher_list: Path,
    listen_host: str = "127.0.0.1",
    ping_interval: int = 1,
    fr_timer_ms: int = 2000,
    children: int = 2,
    debug: int = 1,
    template: Path = TEMPLATE,
) -> str:
    """The Kamailio configuration with the ``@@NAME@@`` fields of the template filled in."""
    values = {
        "LISTEN_HOST": listen_host,
        "LISTEN_PORT": str(listen_port),
        "DISPATCHER_LIST": str(dispatcher_list),
        "PING_INTERVAL": str(ping_interval),
        "FR_TIMER_MS": str(fr_timer_ms),
        "CHILDREN": str(children),
        "DEBUG": str(debug),
    }
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    left = sorted(set(re.findall(r"@@([A-Z_]+)@@", text)) - {"NAME"})
    if left:
        raise ValueError(f"kamailio.cfg template: fields not filled: {', '.join(left)}")
    return text


def dispatcher_list(nodes: Sequence[tuple[str, int]]) -> str:
    """``dispatcher.list``: set 1 holds every node (``setid destination flags priority``)."""
    return "".join(f"1 sip:{host}:{port} 0 0\n" for host, port in nodes)


def nodes_file(nodes: Sequence[tuple[str, int, int]], workdir: Path) -> str:
    """The cluster file of ``dsm reload --cluster`` / ``dsm calls --cluster``: id, control, token file."""
    return "".join(f"{nid} 127.0.0.1:{control} {workdir / (nid + '.token')}\n" for nid, _, control in nodes)


def kamailio_command(binary: str, config: Path, rundir: Path) -> list[str]:
    """Kamailio in the foreground (``-DD``), logging to stderr (``-E``), with its own pid file."""
    return [binary, "-f", str(config), "-DD", "-E", "-P", str(rundir / "kamailio.pid"),
            "-Y", str(rundir), "-m", "64", "-M", "8"]  # fmt: skip


def node_command(
    python: str, node_id: str, sip_port: int, control_port: int, scripts: Path,
    token_file: Path, drain_timeout: float = 30.0, extra: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """One ``dsm serve`` node on loopback."""
    return [
        python, "-m", "dsm.cli", "serve", "--scripts", str(scripts),
        "--sip", f"127.0.0.1:{sip_port}", "--control", f"127.0.0.1:{control_port}",
        "--control-token-file", str(token_file), "--node-id", node_id,
        "--drain-timeout", str(drain_timeout), *extra,
    ]  # fmt: skip


@dataclass
class Cluster:
    """The processes of one local cluster; :meth:`stop` ends them all."""

    workdir: Path
    sip_port: int = 0
    nodes: list[tuple[str, int, int]] = field(default_factory=list)
    """``(node id, SIP port, control port)`` of each node."""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def start(count: int, sip_port: int, scripts: Path, workdir: Path) -> Cluster:
    """Redis, then the nodes (so the dispatcher's first probes find them), then Kamailio."""
    kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(kamailio).exists():
        raise SystemExit("kamailio not found: apt-get install kamailio")
    cluster = Cluster(workdir, sip_port)
    try:
        _start_all(cluster, count, scripts, workdir, kamailio)
    except BaseException:
        cluster.stop()  # nothing left running behind a failed start
        raise
    return cluster


def _start_all(cluster: Cluster, count: int, scripts: Path, workdir: Path, kamailio: str) -> None:
    extra: list[str] = []
    redis = shutil.which("redis-server")
    if redis:
        redis_port = free_udp_port()
        cluster.procs["redis"] = subprocess.Popen(
            [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        extra = ["--cluster-redis", f"redis://127.0.0.1:{redis_port}/0"]
        print(f"redis: redis://127.0.0.1:{redis_port}/0 (cross-node events; mod_redis: "
              f"redis://tcp:127.0.0.1;port={redis_port})")  # fmt: skip
        time.sleep(0.5)  # let it bind before the nodes connect
    for i in range(1, count + 1):
        node_id, port, control = f"node{i}", free_udp_port(), free_udp_port()
        cmd = node_command(
            sys.executable, node_id, port, control, scripts, workdir / f"{node_id}.token", extra=extra
        )
        cluster.procs[node_id] = subprocess.Popen(cmd)
        cluster.nodes.append((node_id, port, control))
    (workdir / "nodes.txt").write_text(nodes_file(cluster.nodes, workdir))
    listing = workdir / "dispatcher.list"
    listing.write_text(dispatcher_list([("127.0.0.1", port) for _, port, _ in cluster.nodes]))
    config = workdir / "kamailio.cfg"
    config.write_text(render_config(listen_port=cluster.sip_port, dispatcher_list=listing))
    cluster.procs["kamailio"] = subprocess.Popen(kamailio_command(kamailio, config, workdir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="how many dsm serve nodes (default 3)")
    parser.add_argument("--sip-port", type=int, default=5060, help="Kamailio's UDP port (default 5060)")
    parser.add_argument("--scripts", type=Path, default=SCRIPTS, help="scripts every node serves")
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 32:
        parser.error("--nodes: 1 to 32")
    workdir = Path(tempfile.mkdtemp(prefix="dsm-cluster-"))
    cluster = start(args.nodes, args.sip_port, args.scripts, workdir)
    print(f"kamailio: sip:127.0.0.1:{args.sip_port} (files in {workdir})")
    for node_id, port, control in cluster.nodes:
        print(f"{node_id}: sip 127.0.0.1:{port}, control 127.0.0.1:{control} "
              f"(DSM_CONTROL_TOKEN_FILE={workdir / (node_id + '.token')})")  # fmt: skip
    print(f"cluster file: {workdir / 'nodes.txt'} (dsm calls --cluster FILE, dsm reload --cluster FILE)")
    print(f"try: sipp -sn uac -s hold -m 10 -r 5 -d 2000 127.0.0.1:{args.sip_port}; Ctrl-C stops")
    try:
        while all(p.poll() is None for name, p in cluster.procs.items() if name in ("kamailio", "redis")):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
