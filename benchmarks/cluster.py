"""A cluster behind Kamailio: calls per second for 1-3 nodes, the failover gap, the cross-node event round trip.

Everything runs on loopback with the processes of ``tests/runtime/cluster``
(the shipped ``examples/cluster/kamailio.cfg``, ``dsm serve`` nodes, sipp
as a caller that follows the Record-Route set):

1. **cps_no_failures** for 1, 2 and 3 nodes: sipp places calls (INVITE,
   ACK, 1 s hold, BYE) through Kamailio at rising rates (``--rates``), each
   for about 4 s; the highest rate without a failed call.  On a machine
   with fewer cores than nodes + Kamailio + sipp the nodes share cores, so
   the figure grows less than linearly.
2. **failover**: 3 nodes, 20 calls/s for 10 s, one node SIGKILLed after
   3 s: calls failed, and calls whose INVITE took more than 1 s to answer
   (delayed by Kamailio's fr_timer before failing over) with the worst
   setup time.
3. **event_round_trip_ms**: the cross-node event path alone (registry
   lookup, stream append, the other node's reader, and back), two
   :class:`~dsm.runtime.cluster_events.RedisEvents` on one loop against a
   private redis-server: median and p99 over 500 round trips.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "runtime" / "cluster"))

from cluster_rig import (  # noqa: E402
    Node,
    Sipp,
    kamailio_binary,
    servers_module,
    start_kamailio,
    start_node,
    stop_process,
)

SCRIPTS = ROOT / "examples" / "cluster" / "scripts"


def cps_for(nodes_count: int, rates: list[int], kamailio: str, sipp: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dsm-bench-cluster-"))
    nodes: list[Node] = []
    front = None
    best = 0
    steps: list[dict[str, Any]] = []
    try:
        nodes = [start_node(f"node{i}", work, SCRIPTS) for i in range(1, nodes_count + 1)]
        front = start_kamailio(kamailio, work, nodes)
        for rate in rates:
            caller = Sipp(sipp, work)
            caller.start(front.port, calls=rate * 4, rate=rate, hold_ms=1000)
            result = caller.wait(120)
            steps.append({"rate": rate, "successful": result.successful, "failed": result.failed})
            if result.failed != 0 or result.successful != rate * 4:
                break
            best = rate
    finally:
        if front is not None:
            stop_process(front.proc)
        for n in nodes:
            stop_process(n.proc)
        shutil.rmtree(work, ignore_errors=True)
    return {"nodes": nodes_count, "cps_no_failures": best, "steps": steps}


def failover(kamailio: str, sipp: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="dsm-bench-failover-"))
    nodes: list[Node] = []
    front = None
    try:
        nodes = [start_node(f"node{i}", work, SCRIPTS) for i in (1, 2, 3)]
        front = start_kamailio(kamailio, work, nodes)
        caller = Sipp(sipp, work)
        caller.start(front.port, calls=200, rate=20, hold_ms=1000, rtt=True)
        time.sleep(3.0)
        nodes[1].proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        result = caller.wait(120)
        setup_ms = caller.response_times()
        delayed = [t for t in setup_ms if t > 1000]
        return {
            "calls": 200, "rate": 20, "killed_after_s": 3.0, "failed": result.failed,
            "successful": result.successful, "delayed_over_1s": len(delayed),
            "worst_setup_ms": max(setup_ms) if setup_ms else None,
            "median_setup_ms": statistics.median(setup_ms) if setup_ms else None,
            "kill_time": killed_at,
        }  # fmt: skip
    finally:
        if front is not None:
            stop_process(front.proc)
        for n in nodes:
            stop_process(n.proc)
        shutil.rmtree(work, ignore_errors=True)


async def _round_trips(url: str, count: int) -> list[float]:
    from dsm.runtime.cluster_events import RedisEvents

    def log(*_a: Any, **_k: Any) -> None:
        pass

    a = RedisEvents(url, "bench-a", log)
    b = RedisEvents(url, "bench-b", log)
    a.connect()
    b.connect()
    a.claim("back")
    b.claim("echo")
    done: asyncio.Queue[float] = asyncio.Queue()

    def at_a(address: str, params: dict[str, str], event_type: str) -> bool:
        done.put_nowait(time.perf_counter() - float(params["t0"]))
        return True

    def at_b(address: str, params: dict[str, str], event_type: str) -> bool:
        return b.post("back", params, event_type)

    a.start(at_a)
    b.start(at_b)
    await asyncio.sleep(0.3)
    times: list[float] = []
    try:
        for _ in range(count):
            assert a.post("echo", {"t0": repr(time.perf_counter())}, "DSMEvent")
            times.append(await asyncio.wait_for(done.get(), 10) * 1000)
    finally:
        await a.close()
        await b.close()
    return times


def event_round_trip(count: int) -> dict[str, Any]:
    servers = servers_module()
    with servers.redis_server() as server:
        times = asyncio.run(_round_trips(f"redis://{server.host}:{server.port}/0", count))
    times.sort()
    return {
        "round_trips": count,
        "median_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="20,40,80,120", help="call rates to try (calls/s)")
    parser.add_argument("--nodes", default="1,2,3", help="cluster sizes to measure")
    args = parser.parse_args()
    kamailio, sipp = kamailio_binary(), shutil.which("sipp")
    if kamailio is None or sipp is None:
        print(json.dumps({"error": "needs kamailio and sipp (Debian packages kamailio, sip-tester)"}))
        return 1
    rates = [int(r) for r in args.rates.split(",")]
    result: dict[str, Any] = {"cps": []}
    for n in (int(x) for x in args.nodes.split(",")):
        step = cps_for(n, rates, kamailio, sipp)
        print(f"{n} node(s): {step['cps_no_failures']} calls/s without failures {step['steps']}", file=sys.stderr)
        result["cps"].append(step)
    result["failover"] = failover(kamailio, sipp)
    print(f"failover: {result['failover']}", file=sys.stderr)
    result["event_round_trip"] = event_round_trip(500)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
