"""mod_monitoring — write per-call attributes and counters (``modules.md`` section 8).

The reference writes to the host's monitoring component; here the store is
in-process (:data:`store`), always present, and offers a read API
(:meth:`MonitoringStore.record`, :meth:`~MonitoringStore.ids`,
:meth:`~MonitoringStore.counters`, :meth:`~MonitoringStore.snapshot`) for
the control interface.  Values are strings or lists of strings
(multi-valued attributes).  No action touches ``$errno``.

The record of a session is its local tag (``SystemDSM_<id>`` for system
DSMs, which is what ``@local_tag`` gives there).

Reference quirks reproduced:

* ``monitoring.setGlobal`` / ``addGlobal`` split their second part again at
  the first ``,`` *without trimming*, so ``monitoring.setGlobal(stats,
  calls, 5)`` stores `` 5`` with a leading blank (M-monitoring-4).
* Without a monitoring component the reference silently does nothing
  (``monitoring.logVars`` crashes it); this store always exists, so the
  actions always work.
"""

from __future__ import annotations

import threading

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module

__all__ = ["module", "MonitoringStore", "store", "Value"]

module = Module(
    "mod_monitoring", doc="monitoring store attributes and counters (modules.md section 8)"
)

Value = str | list[str]


class MonitoringStore:
    """``record id → {attribute → value | [values]}`` plus ``(type, name) → counter``."""

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


store = MonitoringStore()


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
