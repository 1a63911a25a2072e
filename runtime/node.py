"""A ``dsm serve`` process as one node of a cluster: its id, its drain settings, labelled metrics.

A dispatcher in front (Kamailio, ``docs/cluster.md``) tells nodes apart by
address; operators tell them apart by the node id, which every log line
(``node=…``) and every metric sample (``{node="…"}``) carries.  Draining is
the way out of the dispatcher's set without failing a call: new INVITEs and
OPTIONS probes get ``503`` with Retry-After, calls in progress finish, then
the process exits 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["NodeSettings", "label_metrics", "DEFAULT_DRAIN_TIMEOUT", "RETRY_AFTER"]

DEFAULT_DRAIN_TIMEOUT = 30.0
"""Seconds ``dsm drain`` waits for calls when neither the flag nor ``drain_timeout`` says."""
RETRY_AFTER = 30
"""Retry-After of the 503 a draining node answers (seconds)."""

_NODE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?( .*)$")


@dataclass(frozen=True)
class NodeSettings:
    """``node_id`` and ``drain_timeout`` from ``dsm.conf`` with the command line on top.

    ``drain_timeout`` ``None`` means SIGTERM stops at once (ServerShutdown,
    as a single server does); a number makes SIGTERM drain for that long.
    """

    node_id: str = ""
    drain_timeout: float | None = None
    redis: str = ""
    """``cluster_redis``: Redis URL of the call registry and event streams (cross-node events)."""

    @classmethod
    def from_settings(
        cls,
        conf: Mapping[str, str],
        node_id: str | None = None,
        drain_timeout: float | None = None,
        redis: str | None = None,
    ) -> NodeSettings:
        """Validate; a bad value raises :class:`ValueError` naming the key."""
        nid = node_id if node_id is not None else conf.get("node_id", "")
        if nid and not _NODE_ID.match(nid):
            raise ValueError(f"node_id {nid!r}: use 1-64 letters, digits, '_', '.', ':' or '-'")
        timeout = drain_timeout
        if timeout is None and conf.get("drain_timeout", "").strip():
            try:
                timeout = float(conf["drain_timeout"])
            except ValueError:
                raise ValueError(f"drain_timeout {conf['drain_timeout']!r}: expected seconds") from None
        if timeout is not None and not 0 <= timeout <= 86400:
            raise ValueError(f"drain_timeout {timeout}: expected 0 to 86400 seconds")
        url = redis if redis is not None else conf.get("cluster_redis", "")
        if url and not nid:
            raise ValueError("cluster_redis needs a node_id (--node-id)")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"cluster_redis {url!r}: expected redis://HOST:PORT[/DB]")
        return cls(nid, timeout, url)


def label_metrics(text: str, node_id: str) -> str:
    """Add ``node="<id>"`` to every sample of a Prometheus text exposition."""
    if not node_id:
        return text
    out: list[str] = []
    for line in text.splitlines():
        m = _SAMPLE.match(line) if line and not line.startswith("#") else None
        if m is None:
            out.append(line)
            continue
        name, labels, rest = m.group(1), m.group(2), m.group(3)
        inner = labels[1:-1] if labels else ""
        joined = f'node="{node_id}"' + (f",{inner}" if inner else "")
        out.append(f"{name}{{{joined}}}{rest}")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
