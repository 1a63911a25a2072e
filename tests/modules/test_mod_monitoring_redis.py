"""mod_monitoring with Redis as its store (modules.md section 8, docs/cluster.md): real Redis.

Two stores on one Redis stand for two nodes: what one writes the other
reads.  The API is the in-process store's; a dead Redis never reaches a
script.
"""

from __future__ import annotations

import uuid

import pytest
from servers import RedisServer, refused_port

from dsm.modules.mod_monitoring import RedisMonitoringStore


def stores(redis_info: RedisServer) -> tuple[RedisMonitoringStore, RedisMonitoringStore]:
    url = f"redis://{redis_info.host}:{redis_info.port}/0"
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    return RedisMonitoringStore(url, prefix), RedisMonitoringStore(url, prefix)


def test_M_monitoring_1_2_records_are_shared_between_nodes(redis_info: RedisServer) -> None:
    n1, n2 = stores(redis_info)
    n1.set("node1.call-1", "app", "menu")
    n1.add("node1.call-1", "path", "a")
    n1.add("node1.call-1", "path", "b")
    n1.set("node1.call-1", "single", "x")
    n1.add("node1.call-1", "single", "y")  # a single value becomes [old, new]
    n2.set("node2.call-1", "app", "other")
    assert n2.record("node1.call-1") == {"app": "menu", "path": ["a", "b"], "single": ["x", "y"]}
    assert n1.ids() == n2.ids() == ["node1.call-1", "node2.call-1"]
    assert n1.get("node2.call-1", "app") == "other"
    assert set(n2.snapshot()) == {"node1.call-1", "node2.call-1"}
    assert n1.record("nobody") is None
    n2.remove("node1.call-1")
    assert n1.ids() == ["node2.call-1"]


def test_M_monitoring_6_7_counters_add_up_over_nodes(redis_info: RedisServer) -> None:
    n1, n2 = stores(redis_info)
    assert n1.inc("calls", "in") == 1
    assert n2.inc("calls", "in") == 2
    assert n2.inc("calls", "in", -1) == 1
    n1.inc("errors", "")
    assert n2.counter("calls", "in") == 1
    assert n1.counters() == {("calls", "in"): 1, ("errors", ""): 1}
    n1.clear()
    assert (n2.counters(), n2.ids()) == ({}, [])


def test_M_monitoring_unreachable_redis_never_reaches_the_script() -> None:
    dead = RedisMonitoringStore(f"redis://127.0.0.1:{refused_port()}/0")
    with pytest.raises(OSError, match="monitoring_redis"):
        dead.check()
    dead.set("r", "a", "1")
    dead.add("r", "a", "2")
    assert dead.inc("c", "n") == 0
    assert (dead.record("r"), dead.ids(), dead.snapshot()) == (None, [], {})
    assert dead.errors >= 4
