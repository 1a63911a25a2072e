"""Monitoring of sessions by the engine (E-174, K-17, K-18) and ``$(mon_select)`` (E-177, AS-9).

With monitoring enabled (``mod_monitoring`` in the main configuration's
``preload_mods``: the analogue of the reference's loaded monitoring
component) every call's record in the monitoring store — the one
``monitoring.set`` writes, keyed by the local tag — gets ``dsm_diag`` and
``dsm_state``; ``monitoring_full_stategraph=yes`` appends every state entered
(``<diagram>/<state>``) to ``dsm_stategraph`` and
``monitoring_full_transitions=yes`` every transition taken (``> name >``).
``dsm call-info`` shows the record.

``$(mon_select)`` as ``inbound_start_diag`` takes an incoming call's start
diagram from the ``app`` attribute of a record matching the caller, the
callee and the ``P-App-Param`` filters (K-19 … K-22).

The store is passed in (duck-typed: ``set``, ``add``, ``record``,
``snapshot``), so the runtime does not import the modules layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Store",
    "StateMonitor",
    "MonSelect",
    "MON_SELECT",
    "CallRefused",
    "header_keyvalue",
]

MON_SELECT = "$(mon_select)"


class CallRefused(ValueError):
    """A new call the DSM component refuses with a SIP status (E-9, K-9, AS-9)."""

    def __init__(self, status: int, reason: str, why: str) -> None:
        super().__init__(f"{status} {reason}: {why}")
        self.status = status
        self.reason = reason
        self.why = why


class Store(Protocol):
    def set(self, record: str, name: str, value: str) -> None: ...

    def add(self, record: str, name: str, value: str) -> None: ...

    def record(self, record: str) -> dict[str, Any] | None: ...

    def snapshot(self) -> dict[str, dict[str, Any]]: ...


class StateMonitor:
    """Writes a session's diagram, state and optionally its path into the store (E-174)."""

    __slots__ = ("store", "full_stategraph", "full_transitions")

    def __init__(self, store: Store, full_stategraph: bool = False, full_transitions: bool = False) -> None:
        self.store = store
        self.full_stategraph = full_stategraph
        self.full_transitions = full_transitions

    def diagram(self, record: str, diagram: str, state: str) -> None:
        """Start, jump, call and return: ``dsm_diag`` and ``dsm_state`` (K-17 path point)."""
        self.store.set(record, "dsm_diag", diagram)
        self.store.set(record, "dsm_state", state)
        if self.full_stategraph:
            self.store.add(record, "dsm_stategraph", f"{diagram}/{state}")

    def transition(self, record: str, name: str, diagram: str, state: str) -> None:
        """A transition into ``state``: ``dsm_state``, then ``> name >`` (K-18) and the state (K-17)."""
        self.store.set(record, "dsm_state", state)
        if self.full_transitions:
            self.store.add(record, "dsm_stategraph", f"> {name} >")
        if self.full_stategraph:
            self.store.add(record, "dsm_stategraph", f"{diagram}/{state}")

    def record(self, record: str) -> dict[str, Any] | None:
        return self.store.record(record)


# --------------------------------------------------------------------------- $(mon_select)
_URI_USER = re.compile(r"^\s*(?:[^<]*<)?\s*sips?:([^@;>?]*)@", re.IGNORECASE)


def _user(uri: str) -> str | None:
    """The user part of a URI or name-addr, ``None`` when there is no SIP URI with a user."""
    m = _URI_USER.match(uri)
    return m.group(1) if m else None


def header_keyvalue(value: str, key: str) -> str:
    """The value of ``key`` in ``a=1;b="x;y"`` (key case-insensitive, quotes honoured), or ``""``."""
    i, n, low = 0, len(value), key.lower()
    while i < n:
        j = i
        while j < n and value[j] not in "=;":
            j += 1
        name = value[i:j].strip()
        v = ""
        if j < n and value[j] == "=":
            j += 1
            while j < n and value[j] == " ":
                j += 1
            if j < n and value[j] == '"':
                end = value.find('"', j + 1)
                end = n if end < 0 else end
                v = value[j + 1 : end]
                j = value.find(";", end)
                j = n if j < 0 else j
            else:
                end = value.find(";", j)
                end = n if end < 0 else end
                v = value[j:end].strip()
                j = end
        if name.lower() == low:
            return v
        i = j + 1
    return ""


@dataclass(frozen=True)
class MonSelect:
    """The K-19 … K-22 settings of the main configuration."""

    caller: str = "from"  # "from" | "pai" | "none"
    callee: str = "ruri"  # "ruri" | "to" | "none"
    filters: tuple[str, ...] = ()
    fallback: str = ""

    @classmethod
    def from_values(cls, values: Mapping[str, str], filters: Sequence[str]) -> MonSelect:
        caller = {"": "from", "from": "from", "pai": "pai", "no": "none"}.get(
            values.get("monitor_select_use_caller", ""), "none"
        )
        callee = {"": "ruri", "ruri": "ruri", "from": "to", "no": "none"}.get(
            values.get("monitor_select_use_callee", ""), "none"
        )
        return cls(caller, callee, tuple(filters), values.get("monitor_select_fallback", ""))

    def select(
        self,
        store: Store | None,
        *,
        from_uri: str,
        ruri_user: str,
        to: str,
        pai: str | None,
        app_param: str | None,
    ) -> tuple[str, str | None, Any]:
        """AS-9: ``(start diagram, record id or None, appParams)``; :class:`CallRefused` (500) if none."""

        def fallback(why: str) -> tuple[str, str | None, Any]:
            if not self.fallback:
                raise CallRefused(500, "Internal Server Error", f"$(mon_select): {why}")
            return self.fallback, None, None

        if store is None:
            return fallback("monitoring not enabled")
        filters: list[tuple[str, str]] = []
        if self.caller != "none":
            user = _user(pai or "") if self.caller == "pai" else _user(from_uri)
            if user is None:
                return fallback("caller URI not parsable")
            filters.append(("caller", user))
        if self.callee != "none":
            if self.callee == "ruri":
                filters.append(("callee", ruri_user))
            else:
                user = _user(to)
                if user is None:
                    return fallback("To URI not parsable")
                filters.append(("callee", user))
        for name in self.filters:
            filters.append((name, header_keyvalue(app_param or "", name)))
        records = store.snapshot()
        found = [rid for rid in sorted(records) if all(_matches(records[rid].get(k), v) for k, v in filters)]
        if not found:
            return fallback("no matching monitoring record")
        rid = found[0]
        attrs = records[rid]
        app = attrs.get("app")
        if not isinstance(app, str) or not app:
            return fallback(f"monitoring record {rid!r} has no 'app'")
        return app, rid, attrs.get("appParams")


def _matches(value: Any, wanted: str) -> bool:
    return value == wanted
