"""Operator commands over every node of a cluster: ``dsm reload --cluster``, ``dsm calls --cluster``.

The nodes are listed in a file (``--cluster FILE`` or ``$DSM_CLUSTER``), one
per line, the way the dispatcher list names them for Kamailio::

    # node id   control address    token file (optional)
    node1       10.0.0.11:5040     /etc/dsm/node1.token
    node2       10.0.0.12:5040

A plain file, not discovery: the operator's list is the one the dispatcher
uses too, and a node missing from it is visible in review.  Each node is
asked on its own thread, so one slow or dead node costs one timeout, not N.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsm.runtime.control.client import ControlClient, RpcFailure, ServerUnavailable

__all__ = ["ClusterNode", "NodeAnswer", "parse_nodes", "load_nodes", "ask_all"]


@dataclass(frozen=True)
class ClusterNode:
    node_id: str
    control: str
    token_file: str | None = None


@dataclass(frozen=True)
class NodeAnswer:
    """One node's result, or why there is none (``error``)."""

    node: ClusterNode
    result: Any = None
    error: str = ""


def parse_nodes(text: str, origin: str = "<nodes>") -> list[ClusterNode]:
    """The nodes of a cluster file; a bad line raises :class:`ValueError` naming it."""
    nodes: list[ClusterNode] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or ":" not in parts[1]:
            raise ValueError(f"{origin}:{number}: expected 'NODE_ID HOST:PORT [TOKEN_FILE]', got {raw.strip()!r}")
        if any(n.node_id == parts[0] for n in nodes):
            raise ValueError(f"{origin}:{number}: node {parts[0]!r} listed twice")
        nodes.append(ClusterNode(parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    if not nodes:
        raise ValueError(f"{origin}: no nodes listed")
    return nodes


def load_nodes(path: str) -> list[ClusterNode]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read cluster file {path}: {exc.strerror or exc}") from exc
    return parse_nodes(text, path)


def ask_all(
    nodes: Sequence[ClusterNode],
    method: str,
    params: Any = None,
    timeout: float = 10.0,
    token: str | None = None,
    client_factory: Callable[[ClusterNode], ControlClient] | None = None,
) -> list[NodeAnswer]:
    """Call ``method`` on every node at once; the answers in the order of ``nodes``."""

    def make(node: ClusterNode) -> ControlClient:
        return ControlClient(node.control, token, timeout, node.token_file)

    factory = client_factory or make

    def one(node: ClusterNode) -> NodeAnswer:
        try:
            return NodeAnswer(node, factory(node).call(method, params))
        except ServerUnavailable:
            return NodeAnswer(node, error=f"no answer at {node.control}")
        except RpcFailure as exc:
            return NodeAnswer(node, error=exc.message)
        except ValueError as exc:  # a bad address or an unreadable token file
            return NodeAnswer(node, error=str(exc))

    with ThreadPoolExecutor(max_workers=min(32, len(nodes)) or 1) as pool:
        return list(pool.map(one, nodes))
