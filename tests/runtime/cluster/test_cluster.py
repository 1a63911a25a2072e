"""A cluster of ``dsm serve`` nodes behind Kamailio's dispatcher (issue 22), all real processes.

* a node answers OPTIONS 200 while healthy; ``dsm drain`` turns INVITE and
  OPTIONS into 503 with Retry-After, and the node exits 0 once its calls end;
  the node id is on every log line and every metric sample;
* sipp calls through Kamailio land on every node; a node drained by SIGTERM
  mid-run fails no call; a node killed with SIGKILL is skipped (failover on
  timeout, then OPTIONS probing) and new calls succeed on the others.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_rig import (
    ROOT,
    Kamailio,
    Node,
    Sipp,
    kamailio_binary,
    launcher,
    options,
    start_kamailio,
    start_node,
    stop_process,
)

SCRIPTS = ROOT / "examples" / "cluster" / "scripts"


@pytest.fixture
def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail("sipp is not installed (scripts/test.sh installs it)")
    return binary


@pytest.fixture
def kamailio() -> str:
    binary = kamailio_binary()
    if binary is None:
        pytest.fail("kamailio is not installed (apt-get install kamailio; scripts/test.sh installs it)")
    return binary


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = start_node("solo", tmp_path, SCRIPTS)
    try:
        yield n
    finally:
        stop_process(n.proc)


@pytest.fixture
def cluster(tmp_path: Path, kamailio: str) -> Iterator[tuple[Kamailio, list[Node]]]:
    """Kamailio (the shipped kamailio.cfg) in front of three nodes serving a copy of the scripts."""
    nodes: list[Node] = []
    front: Kamailio | None = None
    scripts = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, scripts)
    try:
        for i in (1, 2, 3):
            nodes.append(start_node(f"node{i}", tmp_path, scripts))
        front = start_kamailio(kamailio, tmp_path, nodes)
        yield front, nodes
    finally:
        if front is not None:
            stop_process(front.proc)
        for n in nodes:
            stop_process(n.proc)


def _metrics(node: Node) -> str:
    token = node.token_file.read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{node.control_port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def test_node_options_200_then_drain_503_and_exit_0(node: Node) -> None:
    """Healthy: OPTIONS 200.  ``dsm drain``: OPTIONS and INVITE 503 with Retry-After; exit 0 without calls."""
    answer = options(node.sip_port)
    assert answer is not None and answer[0] == 200
    metrics = _metrics(node)
    samples = [line for line in metrics.splitlines() if line and not line.startswith("#")]
    assert samples and all('node="solo"' in line for line in samples)
    assert 'dsm_node_draining{node="solo"} 0' in samples
    out = node.dsm("drain", "--drain-timeout", "10")
    assert out.returncode == 0, out.stderr
    assert "node solo drains" in out.stdout
    # the drain answers at once; the process ends when its (zero) calls are done
    assert node.proc.wait(30) == 0
    log = node.log()
    assert "event=drain node=solo reason=control" in log
    assert "event=drained node=solo calls_left=0" in log
    assert "event=stopped node=solo" in log
    lines = [line for line in log.splitlines() if line.startswith("ts=")]
    assert lines and all(" node=solo " in line for line in lines)


def test_sigterm_drain_lets_the_running_call_finish(tmp_path: Path, sipp_binary: str) -> None:
    """SIGTERM with a call up: OPTIONS 503 + Retry-After, the call ends normally, then exit 0.

    The script gets no ServerShutdown (the drain ends before its timeout), so
    the caller's BYE ends the call, not the host.
    """
    n = start_node("busy", tmp_path, SCRIPTS, drain_timeout=20.0)
    try:
        sipp = Sipp(sipp_binary, tmp_path)
        sipp.start(n.sip_port, calls=1, rate=1, hold_ms=3000)
        n.wait_log(r"event=call node=busy ")
        n.proc.send_signal(signal.SIGTERM)
        n.wait_log(r"event=drain node=busy reason=SIGTERM timeout=20.0 calls=1")
        answer = options(n.sip_port)
        assert answer is not None and answer[0] == 503, answer
        assert "Retry-After: " in answer[1]
        result = sipp.wait()
        assert result.returncode == 0 and result.successful == 1, result.output[-3000:]
        assert n.proc.wait(30) == 0
        log = n.log()
        assert "event=drained node=busy calls_left=0" in log
        assert "ServerShutdown" not in log
    finally:
        stop_process(n.proc)


def test_calls_spread_over_nodes_and_sigterm_drains_without_failures(
    cluster: tuple[Kamailio, list[Node]], sipp_binary: str, tmp_path: Path
) -> None:
    """300 calls at 30/s through Kamailio land on all three nodes; SIGTERM node2 mid-run: 0 failed calls."""
    front, nodes = cluster
    sipp = Sipp(sipp_binary, tmp_path)
    sipp.start(front.port, calls=300, rate=30, hold_ms=2000)
    # mid-run: once node2 has taken some calls (bounded wait), it is told to drain
    deadline = time.monotonic() + 30
    while nodes[1].calls() < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    nodes[1].proc.send_signal(signal.SIGTERM)
    result = sipp.wait()
    assert result.failed == 0 and result.returncode == 0, result.output[-3000:]
    assert result.successful == 300
    counts = [n.calls() for n in nodes]
    assert all(c > 0 for c in counts), counts
    assert sum(counts) >= 300
    assert nodes[1].proc.wait(30) == 0
    log = nodes[1].log()
    assert "event=drain node=node2 reason=SIGTERM" in log
    assert "event=drained node=node2 calls_left=0" in log
    # calls placed after the drain went to the two other nodes
    assert counts[0] + counts[2] > counts[1]


def test_sigkilled_node_is_skipped_and_new_calls_succeed(
    cluster: tuple[Kamailio, list[Node]], sipp_binary: str, tmp_path: Path
) -> None:
    """SIGKILL node3: the INVITE it does not answer fails over, probing takes it out; all calls succeed."""
    front, nodes = cluster
    nodes[2].proc.send_signal(signal.SIGKILL)
    nodes[2].proc.wait(10)
    sipp = Sipp(sipp_binary, tmp_path)
    sipp.start(front.port, calls=30, rate=10, hold_ms=500)
    result = sipp.wait()
    assert result.failed == 0 and result.returncode == 0, result.output[-3000:]
    assert result.successful == 30
    assert nodes[0].calls() + nodes[1].calls() == 30
    assert nodes[0].calls() > 0 and nodes[1].calls() > 0
    assert nodes[2].calls() == 0


def _cluster_file(tmp_path: Path, nodes: list[Node]) -> Path:
    path = tmp_path / "nodes.txt"
    path.write_text(launcher().nodes_file([(n.node_id, n.sip_port, n.control_port) for n in nodes], tmp_path))
    return path


def _wait_rows(node: Node, cluster_file: Path, want: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        out = node.dsm("calls", "--cluster", str(cluster_file), "--calls-only", "--json")
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)["calls"]
        if want(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"dsm calls --cluster never showed what was expected: {rows}")


def test_reload_cluster_switches_every_node_and_calls_cluster_lists_all(
    cluster: tuple[Kamailio, list[Node]], sipp_binary: str, tmp_path: Path
) -> None:
    """``dsm calls --cluster`` lists every node's calls; ``dsm reload --cluster`` gives every node the new version.

    New calls after the reload run the new version on all three nodes; with
    one node gone the command reports it and exits 1; a script that does not
    compile is refused by every node (each atomic) and the old version serves on.
    """
    front, nodes = cluster
    cluster_file = _cluster_file(tmp_path, nodes)
    sipp = Sipp(sipp_binary, tmp_path)
    sipp.start(front.port, calls=6, rate=10, hold_ms=3000)
    rows = _wait_rows(nodes[0], cluster_file, lambda r: {x["node"] for x in r} == {"node1", "node2", "node3"})
    (old,) = {r["version"] for r in rows}
    assert sipp.wait().failed == 0
    script = tmp_path / "scripts" / "hold.dsm"
    script.write_text(script.read_text().replace("log(3, call held)", "log(3, call held by version 2)"))
    out = nodes[0].dsm("reload", "--cluster", str(cluster_file))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["node1", "node2", "node3"]
    assert all("reloaded: serving version" in line for line in lines), lines
    sipp = Sipp(sipp_binary, tmp_path)
    sipp.start(front.port, calls=6, rate=10, hold_ms=3000)
    rows = _wait_rows(
        nodes[0], cluster_file,
        lambda r: {x["node"] for x in r if x["version"] != old} == {"node1", "node2", "node3"},
    )  # fmt: skip
    assert sipp.wait().failed == 0
    # a broken script: every node refuses, each keeps its version, exit 1
    script.write_text("initial state BROKEN\n  enter { nosuchaction(1) };\n")
    out = nodes[0].dsm("reload", "--cluster", str(cluster_file))
    assert out.returncode == 1
    assert out.stdout.count("reload refused") == 3
    # a node that is gone: reported by name, exit 1
    stop_process(nodes[2].proc)
    out = nodes[0].dsm("calls", "--cluster", str(cluster_file))
    assert out.returncode == 1
    assert "node3: no answer at 127.0.0.1:" in out.stderr
