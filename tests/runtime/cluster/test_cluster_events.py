"""Events between calls on different nodes, through Redis (issue 22): real nodes, real Redis.

A call on node1 posts to an event queue a call on node3 registered; the
script on node3 takes the transition for each event, in the order posted.
A target nobody owns, or one whose call has ended, gives ``$errno=arg`` as
a local unknown target does; ``postDSMEvent`` over the control endpoint
reaches a call on another node too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_rig import Node, servers_module, start_node, stop_process

LISTENER = """\
initial state WAIT
  enter { registerEventQueue(room) };

state END;

transition "got one" WAIT - event(#cmd == say) / log(2, #seq) -> WAIT;
transition "caller hung up" (WAIT, END) - hangup / stop(false) -> END;
"""

SENDER = """\
initial state SEND
  enter {
    set($seq=first)
    postEvent(room, seq)
    set($cmd=say)
    set($seq=1)
    postEvent(room, cmd;seq)
    set($seq=2)
    postEvent(room, cmd;seq)
    set($seq=3)
    postEvent(room, cmd;seq)
    set($posted=$errno)
    postEvent(nobody_here, cmd;seq)
    logs(2, "posted=[$posted] unknown=[$errno]")
  };

state END;

transition "caller hung up" (SEND, END) - hangup / stop(false) -> END;
"""


@pytest.fixture
def redis_url() -> Iterator[str]:
    servers = servers_module()
    try:
        with servers.redis_server() as server:
            yield f"redis://{server.host}:{server.port}/0"
    except servers.ServerUnavailable as exc:
        pytest.fail(f"redis-server is needed (scripts/test.sh installs it): {exc}")


@pytest.fixture
def two_nodes(tmp_path: Path, redis_url: str) -> Iterator[tuple[Node, Node]]:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "listener.dsm").write_text(LISTENER)
    (scripts / "sender.dsm").write_text(SENDER)
    nodes: list[Node] = []
    try:
        for node_id in ("node1", "node3"):
            nodes.append(start_node(node_id, tmp_path, scripts, extra=["--cluster-redis", redis_url]))
        yield nodes[0], nodes[1]
    finally:
        for n in nodes:
            stop_process(n.proc)


def _wait(node: Node, pattern: str, count: int = 1) -> list[Any]:
    deadline = time.monotonic() + 30
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = re.findall(pattern, node.log())
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{node.node_id}: {count} x {pattern!r} not logged, got {found}:\n{node.log()[-3000:]}")


def _start(node: Node, app: str) -> str:
    out = node.dsm("start-call", app, "--json")
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["id"])


def test_event_to_a_call_on_another_node_in_order_and_unknown_target_errno(two_nodes: tuple[Node, Node]) -> None:
    """E-116 across nodes: node1's postEvent reaches node3's queue `room`; 1, 2, 3 in order; unknown → errno arg."""
    node1, node3 = two_nodes
    listener = _start(node3, "listener")
    _start(node1, "sender")
    # the event without #cmd takes no transition; the three others do, in the order posted
    seqs = _wait(node3, r"event=session node=node3 session=\S+ msg=\"FSM: #seq '(\d)'\"", 3)
    assert seqs == ["1", "2", "3"]
    # delivered, and the target nobody owns failed like a local unknown address (A-core-79)
    assert _wait(node1, r"posted=\[(\w*)\] unknown=\[(\w*)\]") == [("", "arg")]
    # postDSMEvent over node1's control endpoint reaches the call on node3 (D-1)
    out = node1.dsm("post-event", "room", "cmd=say", "seq=4")
    assert out.returncode == 0, out.stdout + out.stderr
    assert _wait(node3, r"event=session node=node3 session=\S+ msg=\"FSM: #seq '(\d)'\"", 4)[-1] == "4"
    # its session id names its node and addresses it from node1 too
    assert listener.startswith("node3.")
    out = node1.dsm("post-event", listener, "cmd=say", "seq=5")
    assert out.returncode == 0, out.stdout + out.stderr
    assert _wait(node3, r"event=session node=node3 session=\S+ msg=\"FSM: #seq '(\d)'\"", 5)[-1] == "5"
    # the call on node3 ends: its queue is released, a post to it now fails on node1
    out = node3.dsm("hangup", listener)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = node1.dsm("post-event", "room", "cmd=say", "seq=6")
        if out.returncode != 0:
            break
        time.sleep(0.1)
    assert out.returncode == 1 and "Session not found" in out.stdout + out.stderr


MEMBER = """\
import(mod_groups);
initial state WAIT
  enter { groups.join(room7) };

state END;

transition "hi" WAIT - event(#cmd == hi) / log(2, #seq) -> WAIT;
transition "caller hung up" (WAIT, END) - hangup / stop(false) -> END;
"""

CALLER = """\
import(mod_groups);
initial state SEND
  enter {
    groups.join(room7)
    groups.getSize($n=room7)
    set($cmd=hi)
    set($seq=1)
    groups.postEvent(room7, cmd;seq)
    set($seq=2)
    groups.postEvent(room7, cmd;seq)
    logs(2, "size=[$n] errno=[$errno]")
  };

state END;

transition "caller hung up" (SEND, END) - hangup / stop(false) -> END;
"""


def test_M_groups_postEvent_reaches_members_on_another_node(tmp_path: Path, redis_url: str) -> None:
    """M-groups-1/5/6 across nodes: a member on node3 counts on node1 and gets node1's posts in order."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "member.dsm").write_text(MEMBER)
    (scripts / "caller.dsm").write_text(CALLER)
    nodes: list[Node] = []
    try:
        for node_id in ("node1", "node3"):
            nodes.append(start_node(node_id, tmp_path, scripts, extra=["--cluster-redis", redis_url]))
        node1, node3 = nodes
        member = _start(node3, "member")
        first = _start(node1, "caller")
        assert _wait(node1, r"size=\[(\d+)\] errno=\[(\w*)\]") == [("2", "")]
        seqs = _wait(node3, r"event=session node=node3 session=\S+ msg=\"FSM: #seq '(\d)'\"", 2)
        assert seqs == ["1", "2"]
        # both calls end: they leave the group on every node; a new caller is alone in it
        for n, sid in ((node3, member), (node1, first)):
            assert n.dsm("hangup", sid).returncode == 0
        for attempt in range(2, 40):  # bounded: the hangups are processed asynchronously
            sid = _start(node1, "caller")
            last = _wait(node1, r"size=\[(\d+)\] errno=\[(\w*)\]", attempt)[-1]
            assert node1.dsm("hangup", sid).returncode == 0
            if last == ("1", "arg"):
                break
            time.sleep(0.2)
        assert last == ("1", "arg")  # nobody else in the group: as a local group without receivers
    finally:
        for n in nodes:
            stop_process(n.proc)
