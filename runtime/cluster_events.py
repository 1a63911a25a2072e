"""Events to calls on other nodes of a cluster, through Redis (``docs/cluster.md``).

* **Registry:** a Redis hash ``dsm:registry`` maps every address a node owns
  (session ids, ``registerEventQueue`` names) to the node's id.  A node
  claims an address when it appears and releases it (compare-and-delete,
  so a name taken over by another node stays theirs) when it goes.
* **Delivery:** one Redis stream per node, ``dsm:events:<node>``.  A post
  to an address this node does not own looks the owner up and appends the
  event to the owner's stream; the owner reads its stream with one reader
  and delivers in stream order, so events to one target arrive in the order
  they were posted.  A stream keeps what its reader has not read yet: while
  both nodes are up nothing is lost.
* **Liveness:** each node refreshes ``dsm:node:<id>`` (5 s expiry) every
  second.  An address with no owner, or whose owner's key has expired, is
  unknown: the post fails as a local unknown address does (``$errno=arg``,
  ``postDSMEvent`` 404).
* **Groups** (``mod_groups``): a Redis set ``dsm:group:<name>`` per group
  holds the member addresses; the registry tells each member's node.  A
  read drops members whose node is gone (no owner, or its liveness key
  expired), so a dead node's members are neither counted nor posted to.

The registry calls are synchronous on the engine's loop (a loopback Redis
answers in well under a millisecond); after a Redis error the node stops
asking for :data:`BACKOFF` seconds instead of stalling every call, and posts
to other nodes fail meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aredis

__all__ = ["RedisEvents", "BACKOFF", "ALIVE_SECONDS"]

BACKOFF = 5.0
"""Seconds without Redis calls after a Redis error."""
ALIVE_SECONDS = 5
"""Expiry of a node's liveness key; refreshed every second."""
MAX_STREAM = 100_000
"""Approximate cap of a node's stream (events not yet read by a stopped node)."""

_RELEASE = "if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end return 0"

Deliver = Callable[[str, dict[str, str], str], bool]
Log = Callable[..., None]


class RedisEvents:
    """The registry and the event streams of one node (``engine.remote``)."""

    def __init__(self, url: str, node_id: str, log: Log, prefix: str = "dsm:") -> None:
        self.url = url
        self.node_id = node_id
        self.log = log
        self.registry = f"{prefix}registry"
        self.prefix = prefix
        self.stream = f"{prefix}events:{node_id}"
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True)
        self._down_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self.posted = 0
        self.delivered = 0

    def _alive_key(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def connect(self) -> None:
        """Check Redis, drop what a previous run of this node left, announce the node; raises OSError."""
        try:
            self.client.ping()
            stale = [k for k, v in self.client.hgetall(self.registry).items() if v == self.node_id]
            if stale:
                self.client.hdel(self.registry, *stale)
            self.client.delete(self.stream)
            self.client.set(self._alive_key(self.node_id), "1", ex=ALIVE_SECONDS)
        except redis.RedisError as exc:
            raise OSError(f"cluster Redis {self.url}: {exc}") from exc

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        if time.monotonic() < self._down_until:
            return None
        try:
            return fn()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + BACKOFF
            self.log("cluster", "warn", msg=f"Redis {what} failed, retrying in {BACKOFF:g} s: {exc}")
            return None

    # -- engine.remote ---------------------------------------------------------------------------
    def claim(self, address: str) -> None:
        self._call("claim", lambda: self.client.hset(self.registry, address, self.node_id))

    def release(self, address: str) -> None:
        self._call("release", lambda: self.client.eval(_RELEASE, 1, self.registry, address, self.node_id))

    def post(self, address: str, params: dict[str, str], event_type: str) -> bool:
        """Append to the owner's stream; ``False`` when no live node owns ``address``."""

        def send() -> bool:
            found: Any = self.client.hget(self.registry, address)
            owner = str(found) if found else ""
            if not owner or owner == self.node_id or not self.client.exists(self._alive_key(owner)):
                return False
            fields = {"to": address, "type": event_type, "params": json.dumps(params), "from": self.node_id}
            stream = f"{self.prefix}events:{owner}"
            self.client.xadd(stream, fields, maxlen=MAX_STREAM, approximate=True)  # type: ignore[arg-type]
            return True

        ok = bool(self._call("post", send))
        self.posted += ok
        return ok

    # -- mod_groups --------------------------------------------------------------------------------
    def _group_key(self, group: str) -> str:
        return f"{self.prefix}group:{group}"

    def group_join(self, group: str, member: str) -> None:
        self._call("group join", lambda: self.client.sadd(self._group_key(group), member))

    def group_leave(self, group: str, member: str) -> None:
        self._call("group leave", lambda: self.client.srem(self._group_key(group), member))

    def group_members(self, group: str) -> list[str] | None:
        """Live members of ``group`` on every node (unsorted); ``None`` while Redis is unreachable."""

        def read() -> list[str]:
            key = self._group_key(group)
            members = sorted(str(m) for m in self.client.smembers(key))  # type: ignore[union-attr]
            if not members:
                return []
            owners: list[Any] = list(self.client.hmget(self.registry, members))
            nodes = sorted({str(o) for o in owners if o})
            alive = {n for n in nodes if n == self.node_id or self.client.exists(self._alive_key(n))}
            live = [m for m, o in zip(members, owners, strict=True) if o and str(o) in alive]
            gone = [m for m in members if m not in set(live)]
            if gone:  # members of a dead node, or of calls that ended without leaving
                self.client.srem(key, *gone)
            return live

        result: list[str] | None = self._call("group read", read)
        return result

    # -- this node's reader ----------------------------------------------------------------------
    def start(self, deliver: Deliver) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(deliver))

    async def _run(self, deliver: Deliver) -> None:
        reader = aredis.Redis.from_url(self.url, socket_connect_timeout=1.0, decode_responses=True)
        last = "0-0"  # the stream was emptied by connect(): everything in it is for this run
        beat = 0.0
        try:
            while True:
                try:
                    now = time.monotonic()
                    if now - beat >= 1.0:
                        await reader.set(self._alive_key(self.node_id), "1", ex=ALIVE_SECONDS)
                        beat = now
                    batches: Any = await reader.xread({self.stream: last}, count=200, block=1000)
                except (redis.RedisError, OSError) as exc:
                    self.log("cluster", "warn", msg=f"Redis read failed, retrying: {exc}")
                    await asyncio.sleep(1.0)
                    continue
                for _stream, entries in batches or []:
                    for entry_id, fields in entries:
                        last = str(entry_id)
                        self._deliver_one(deliver, dict(fields))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.aclose(), 1.0)

    def _deliver_one(self, deliver: Deliver, fields: dict[str, str]) -> None:
        try:
            params = json.loads(fields.get("params", "{}"))
            if not isinstance(params, dict):
                raise ValueError("params is not an object")
        except ValueError as exc:
            self.log("cluster", "warn", msg=f"bad event from {fields.get('from', '?')}: {exc}")
            return
        target = fields.get("to", "")
        if deliver(target, {str(k): str(v) for k, v in params.items()}, fields.get("type", "")):
            self.delivered += 1
        else:
            self.log("cluster", "warn", msg=f"event from {fields.get('from', '?')} for {target}: no such session here")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # a read blocked in Redis may not give way at once: shutdown never waits long for it
            await asyncio.wait({self._task}, timeout=2.0)
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self._alive_key(self.node_id))
        self.client.close()
