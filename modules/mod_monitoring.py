"""mod_monitoring — write per-call attributes and counters (``modules.md`` section 8).

The reference writes to the host's monitoring component; here the store is
in-process (:data:`store`), always present, and offers a read API
(:meth:`MonitoringStore.record`, :meth:`~MonitoringStore.ids`,
:meth:`~MonitoringStore.counters`, :meth:`~MonitoringStore.snapshot`) for
the control interface.  Values are strings or lists of strings
(multi-valued attributes).  No action touches ``$errno``.

The record of a session is its local tag (``SystemDSM_<id>`` for system
DSMs, which is what ``@local_tag`` gives there).

**Redis as the store** (``monitoring_redis=redis://HOST:PORT[/DB]`` in the
main ``dsm.conf``, see ``docs/cluster.md``): :class:`RedisMonitoringStore`
has the same API and keeps records and counters in Redis, so every node of
a cluster writes to, and reads from, one place.  :func:`use_store` puts it
in; the in-process store stays the default.

Reference quirks reproduced:

* ``monitoring.setGlobal`` / ``addGlobal`` split their second part again at
  the first ``,`` *without trimming*, so ``monitoring.setGlobal(stats,
  calls, 5)`` stores `` 5`` with a leading blank (M-monitoring-4).
* Without a monitoring component the reference silently does nothing
  (``monitoring.logVars`` crashes it); this store always exists, so the
  actions always work.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import redis

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module

__all__ = ["module", "MonitoringStore", "RedisMonitoringStore", "store", "use_store", "Value"]

module = Module(
    "mod_monitoring", doc="monitoring store attributes and counters (modules.md section 8)"
)

Value = str | list[str]


class MonitoringStore:
    """``record id → {attribute → value | [values]}`` plus ``(type, name) → counter``."""

    shared = False
    """Whether other nodes write here too (call-info then shows their calls' records)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Value]] = {}
        self._counters: dict[tuple[str, str], int] = {}

    # -- writing -------------------------------------------------------------
    def set(self, record: str, name: str, value: str) -> None:
        """Set an attribute, replacing any earlier value (single or multi)."""
        with self._lock:
            self._records.setdefault(record, {})[name] = value

    def add(self, record: str, name: str, value: str) -> None:
        """Append to a multi-valued attribute; a single value first becomes ``[old]``."""
        with self._lock:
            attrs = self._records.setdefault(record, {})
            old = attrs.get(name)
            if old is None:
                attrs[name] = [value]
            elif isinstance(old, list):
                old.append(value)
            else:
                attrs[name] = [old, value]

    def inc(self, type: str, name: str, delta: int = 1) -> int:
        with self._lock:
            value = self._counters.get((type, name), 0) + delta
            self._counters[(type, name)] = value
            return value

    def remove(self, record: str) -> None:
        with self._lock:
            self._records.pop(record, None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._counters.clear()

    # -- reading (the control interface) ---------------------------------------
    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    def record(self, record: str) -> dict[str, Value] | None:
        """A copy of one record, or ``None`` if it does not exist."""
        with self._lock:
            attrs = self._records.get(record)
            if attrs is None:
                return None
            return {k: list(v) if isinstance(v, list) else v for k, v in attrs.items()}

    def get(self, record: str, name: str) -> Value | None:
        attrs = self.record(record)
        return None if attrs is None else attrs.get(name)

    def counter(self, type: str, name: str = "") -> int:
        with self._lock:
            return self._counters.get((type, name), 0)

    def counters(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counters)

    def snapshot(self) -> dict[str, dict[str, Value]]:
        with self._lock:
            return {
                rid: {k: list(v) if isinstance(v, list) else v for k, v in attrs.items()}
                for rid, attrs in self._records.items()
            }


_ADD = """
local old = redis.call('hget', KEYS[1], ARGV[1])
local v
if not old then v = {ARGV[2]} else
  local d = cjson.decode(old)
  if type(d) == 'table' then table.insert(d, ARGV[2]); v = d else v = {d, ARGV[2]} end
end
redis.call('hset', KEYS[1], ARGV[1], cjson.encode(v))
redis.call('sadd', KEYS[2], ARGV[3])
return 1
"""


class RedisMonitoringStore(MonitoringStore):
    """The same store in Redis: one hash per record, a set of record ids, a hash of counters.

    Keys (``prefix`` ``dsm:``): ``dsm:mon:ids``, ``dsm:mon:rec:<id>`` (attribute →
    JSON string or list), ``dsm:mon:counters`` (``type<US>name`` → integer).
    A Redis error never reaches a script: a write is dropped and a read is
    empty (monitoring must not break calls); ``errors`` counts them.
    """

    shared = True

    def __init__(self, url: str, prefix: str = "dsm:") -> None:
        super().__init__()
        self.url = url
        self.client = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
        )
        self._ids = f"{prefix}mon:ids"
        self._rec = f"{prefix}mon:rec:"
        self._counters_key = f"{prefix}mon:counters"
        self.errors = 0

    def check(self) -> None:
        """Raise OSError with a clear message when Redis does not answer."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise OSError(f"monitoring_redis {self.url}: {exc}") from exc

    def _safe(self, fn: Any, default: Any = None) -> Any:
        try:
            return fn()
        except redis.RedisError:
            self.errors += 1
            return default

    @staticmethod
    def _field(type: str, name: str) -> str:
        return f"{type}\x1f{name}"

    def set(self, record: str, name: str, value: str) -> None:
        def run() -> None:
            pipe = self.client.pipeline()
            pipe.hset(self._rec + record, name, json.dumps(value))
            pipe.sadd(self._ids, record)
            pipe.execute()

        self._safe(run)

    def add(self, record: str, name: str, value: str) -> None:
        self._safe(lambda: self.client.eval(_ADD, 2, self._rec + record, self._ids, name, value, record))

    def inc(self, type: str, name: str, delta: int = 1) -> int:
        return int(self._safe(lambda: self.client.hincrby(self._counters_key, self._field(type, name), delta), 0))

    def remove(self, record: str) -> None:
        def run() -> None:
            pipe = self.client.pipeline()
            pipe.delete(self._rec + record)
            pipe.srem(self._ids, record)
            pipe.execute()

        self._safe(run)

    def clear(self) -> None:
        def run() -> None:
            ids = [str(i) for i in self.client.smembers(self._ids)]  # type: ignore[union-attr]
            keys = [self._rec + i for i in ids] + [self._ids, self._counters_key]
            self.client.delete(*keys)

        self._safe(run)

    def ids(self) -> list[str]:
        return sorted(self._safe(lambda: self.client.smembers(self._ids), set()))

    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for k, v in raw.items():
            try:
                d = json.loads(v)
            except ValueError:
                d = v
            out[k] = [str(x) for x in d] if isinstance(d, list) else str(d)
        return out

    def record(self, record: str) -> dict[str, Value] | None:
        raw = self._safe(lambda: self.client.hgetall(self._rec + record), {})
        return self._decode(raw) if raw else None

    def counter(self, type: str, name: str = "") -> int:
        found = self._safe(lambda: self.client.hget(self._counters_key, self._field(type, name)))
        return int(found) if found else 0

    def counters(self) -> dict[tuple[str, str], int]:
        raw = self._safe(lambda: self.client.hgetall(self._counters_key), {})
        out: dict[tuple[str, str], int] = {}
        for field, value in raw.items():
            type, _, name = field.partition("\x1f")
            out[(type, name)] = int(value)
        return out

    def snapshot(self) -> dict[str, dict[str, Value]]:
        def run() -> dict[str, dict[str, Value]]:
            ids = sorted(str(i) for i in self.client.smembers(self._ids))  # type: ignore[union-attr]
            pipe = self.client.pipeline()
            for i in ids:
                pipe.hgetall(self._rec + i)
            return {i: self._decode(raw) for i, raw in zip(ids, pipe.execute(), strict=True) if raw}

        result: dict[str, dict[str, Value]] = self._safe(run, {})
        return result


store: MonitoringStore = MonitoringStore()


def use_store(new: MonitoringStore) -> None:
    """Make ``new`` the store every action writes to (the composition root's choice)."""
    global store
    store = new


def _record_id(ctx: ActionContext) -> str:
    return ctx.select("local_tag")


def _split_global(ctx: ActionContext, p2: str) -> tuple[str, str]:
    """M-monitoring-4: ``p2`` split again at its first ``,`` without trimming."""
    name, comma, value = p2.partition(",")
    return ctx.resolve(name), ctx.resolve(value) if comma else ""


@module.action("monitoring.set", "P,opt")
def set_attr(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-1: set attribute ``R(p1)`` of this session's record to ``R(p2)``."""
    store.set(_record_id(ctx), ctx.resolve(p1), ctx.resolve(p2))


module.action("monitoring.log", "P,opt")(set_attr)


@module.action("monitoring.add", "P,opt")
def add_attr(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-2: append ``R(p2)`` to the multi-valued attribute ``R(p1)``."""
    store.add(_record_id(ctx), ctx.resolve(p1), ctx.resolve(p2))


module.action("monitoring.logAdd", "P,opt")(add_attr)


@module.action("monitoring.logVars", "N")
def log_vars(ctx: ActionContext, *_: str) -> None:
    """M-monitoring-3: every session variable becomes an attribute of the record."""
    record = _record_id(ctx)
    for name, value in list(ctx.vars.items()):
        store.set(record, name, value)


@module.action("monitoring.setGlobal", "P,opt")
def set_global(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-4: set an attribute in record ``R(p1)`` (REFERENCE QUIRK: value not trimmed)."""
    name, value = _split_global(ctx, p2)
    store.set(ctx.resolve(p1), name, value)


@module.action("monitoring.addGlobal", "P,opt")
def add_global(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-5: append to an attribute in record ``R(p1)``."""
    name, value = _split_global(ctx, p2)
    store.add(ctx.resolve(p1), name, value)


@module.action("monitoring.inc", "P,opt")
def inc(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-6: increment counter (``R(p1)``, ``R(p2)``)."""
    store.inc(ctx.resolve(p1), ctx.resolve(p2), 1)


@module.action("monitoring.dec", "P,opt")
def dec(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-monitoring-7: decrement counter (``R(p1)``, ``R(p2)``)."""
    store.inc(ctx.resolve(p1), ctx.resolve(p2), -1)
