"""mod_groups across cluster nodes (modules.md section 7, docs/cluster.md): two "nodes" in one process.

Each node is a :class:`RedisEvents` (the real cluster registry and streams)
on one private Redis, with an engine that owns some sessions and hands
other addresses to ``remote.post`` as :meth:`Engine.post_event` does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from _fake import FakeContext, run_action
from servers import RedisServer

from dsm.modules.mod_groups import module, on_before_destroy, table
from dsm.runtime.cluster_events import RedisEvents


class NodeEngine:
    """The parts of the engine mod_groups uses: ``remote`` and ``post_event``."""

    def __init__(self, url: str, node_id: str, prefix: str) -> None:
        self.remote = RedisEvents(url, node_id, lambda *a, **k: None, prefix=prefix)
        self.remote.connect()
        self.local: set[str] = set()
        self.got: list[tuple[str, dict[str, str]]] = []

    def add(self, sid: str) -> FakeContext:
        self.local.add(sid)
        self.remote.claim(sid)
        return FakeContext({}, local_tag=sid, engine=self)

    def post_event(self, address: str, params: dict[str, str]) -> bool:
        if address in self.local:
            self.got.append((address, dict(params)))
            return True
        return self.remote.post(address, dict(params), "dsm")

    def deliver(self, address: str, params: dict[str, str], _type: str) -> bool:
        return self.post_event(address, params) if address in self.local else False


@pytest.fixture
def nodes(redis_info: RedisServer) -> Iterator[tuple[NodeEngine, NodeEngine]]:
    table.clear()
    url = f"redis://{redis_info.host}:{redis_info.port}/0"
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    yield NodeEngine(url, "n1", prefix), NodeEngine(url, "n2", prefix)
    table.clear()


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def test_M_groups_membership_is_shared_and_postEvent_reaches_the_other_node(
    nodes: tuple[NodeEngine, NodeEngine],
) -> None:
    n1, n2 = nodes
    a, b = n1.add("n1.a"), n1.add("n1.b")
    c = n2.add("n2.c")
    for s in (a, b, c):
        act(s, "groups.join", "room")
    act(c, "groups.getSize", "$n", "room")
    act(c, "groups.get", "$m", "room")
    assert c.vars["n"] == "3"
    assert [c.vars[f"m[{i}]"] for i in range(3)] == ["n1.a", "n1.b", "n2.c"]

    async def run() -> None:
        n1.remote.start(n1.deliver)
        n2.remote.start(n2.deliver)
        try:
            for seq in range(5):
                a.vars["seq"] = str(seq)
                act(a, "groups.postEvent", "room", "seq")
                assert a.vars["errno"] == ""
            for _ in range(100):  # bounded: 5 s
                if len(n2.got) == 5:
                    break
                await asyncio.sleep(0.05)
        finally:
            await n1.remote.close()
            await n2.remote.close()

    asyncio.run(run())
    assert [p["seq"] for sid, p in n1.got if sid == "n1.b"] == ["0", "1", "2", "3", "4"]
    assert n2.got == [("n2.c", {"seq": str(i)}) for i in range(5)]  # in order, across nodes


def test_M_groups_leave_and_ended_sessions_leave_everywhere(
    nodes: tuple[NodeEngine, NodeEngine],
) -> None:
    n1, n2 = nodes
    a, c = n1.add("n1.a"), n2.add("n2.c")
    act(a, "groups.join", "g1")
    act(a, "groups.join", "g2")
    act(c, "groups.join", "g1")
    act(a, "groups.leave", "g2")
    act(c, "groups.getSize", "$n", "g2")
    assert c.vars["n"] == "0"

    class Ended:
        engine = n1
        local_tag = "n1.a"

    on_before_destroy(Ended())
    act(c, "groups.get", "$m", "g1")
    act(c, "groups.getSize", "$n", "g1")
    assert (c.vars["n"], c.vars["m[0]"]) == ("1", "n2.c")


def test_M_groups_members_of_a_dead_node_are_skipped(nodes: tuple[NodeEngine, NodeEngine]) -> None:
    n1, n2 = nodes
    a, c = n1.add("n1.a"), n2.add("n2.c")
    act(a, "groups.join", "room")
    act(c, "groups.join", "room")
    n2.remote.client.delete(n2.remote._alive_key("n2"))  # node 2 stopped beating
    act(a, "groups.getSize", "$n", "room")
    assert a.vars["n"] == "1"
    act(a, "groups.postEvent", "room")
    assert a.vars["errno"] == "arg"  # nobody else left: as a local group without receivers
