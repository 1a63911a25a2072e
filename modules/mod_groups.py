"""mod_groups — named groups of sessions and event broadcast (``modules.md`` section 7).

Members are sessions identified by their local tag (``@local_tag``).  The
group table is process-wide (M-api-2): every diagram and every session sees
the same groups, and a group disappears when its last member leaves.  The
table keeps a reverse index (session → groups) so that the destroy hook
(M-api-8) can remove a finished call session from all its groups.

Events are delivered through the engine (``ctx.engine.post_event(session_id,
params)``), which queues a DSMEvent for the addressed session.

**Across a cluster** (``docs/cluster.md``): when the engine has cluster
Redis (``engine.remote`` offers ``group_join``/``group_leave``/
``group_members``), membership is also kept in Redis, reads see the members
of every node, and ``groups.postEvent`` posts through ``engine.post_event``,
which hands addresses of other nodes to their owner's event stream (in
order per target).  Members on a dead node are dropped as unknown targets.
The local table stays the reverse index for this node's sessions, and the
whole of it while Redis is unreachable.

Reference quirks reproduced:

* ``groups.postEvent`` sends missing variables as empty parameters *and
  creates them empty* in the sender; there is no ``prefix.`` struct form
  and names keep a leading ``$`` (M-groups-6);
* system DSMs and SBC sessions are not removed from their groups when they
  end — only call sessions get the destroy hook (M-api-8).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module
from dsm.runtime.values import byte_key, strip_dollar

__all__ = ["module", "GroupTable", "table"]

module = Module("mod_groups", doc="session groups and event broadcast (modules.md section 7)")

_LOG_WARN = 1


class GroupTable:
    """Process-wide ``group → members`` table with its reverse index, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, set[str]] = {}
        self._groups_of: dict[str, set[str]] = {}

    def join(self, group: str, member: str) -> None:
        with self._lock:
            self._members.setdefault(group, set()).add(member)
            self._groups_of.setdefault(member, set()).add(group)

    def leave(self, group: str, member: str) -> None:
        with self._lock:
            self._leave_locked(group, member)

    def _leave_locked(self, group: str, member: str) -> None:
        members = self._members.get(group)
        if members is None or member not in members:
            return
        members.discard(member)
        if not members:
            del self._members[group]
        groups = self._groups_of.get(member)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._groups_of[member]

    def leave_all(self, member: str) -> None:
        with self._lock:
            for group in list(self._groups_of.get(member, ())):
                self._leave_locked(group, member)

    def members(self, group: str) -> list[str]:
        """The members of ``group`` in byte order (empty for an unknown group)."""
        with self._lock:
            return sorted(self._members.get(group, ()), key=byte_key)

    def groups_of(self, member: str) -> list[str]:
        with self._lock:
            return sorted(self._groups_of.get(member, ()), key=byte_key)

    def snapshot(self) -> dict[str, list[str]]:
        """All groups with their members (a copy, for the control interface)."""
        with self._lock:
            return {g: sorted(m, key=byte_key) for g, m in sorted(self._members.items())}

    def clear(self) -> None:
        with self._lock:
            self._members.clear()
            self._groups_of.clear()


table = GroupTable()


class SharedGroups(Protocol):
    """Cluster-wide membership (:class:`dsm.runtime.cluster_events.RedisEvents`)."""

    def group_join(self, group: str, member: str) -> None: ...

    def group_leave(self, group: str, member: str) -> None: ...

    def group_members(self, group: str) -> list[str] | None: ...


def _shared(engine: Any) -> SharedGroups | None:
    remote = getattr(engine, "remote", None)
    return remote if remote is not None and hasattr(remote, "group_members") else None


def _members(ctx: ActionContext, group: str) -> list[str]:
    """Members in byte order: every node's with cluster Redis, else (or while it is down) this node's."""
    shared = _shared(ctx.engine)
    found = shared.group_members(group) if shared is not None else None
    return table.members(group) if found is None else sorted(found, key=byte_key)


def _leave_all(engine: Any, member: str) -> None:
    shared = _shared(engine)
    if shared is not None:
        for group in table.groups_of(member):
            shared.group_leave(group, member)
    table.leave_all(member)


def _self_id(ctx: ActionContext) -> str:
    return ctx.select("local_tag")


@module.action("groups.join", "S")
def join(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-groups-1: add this session to group ``R(a)`` (idempotent)."""
    group, me = ctx.resolve(a), _self_id(ctx)
    table.join(group, me)
    shared = _shared(ctx.engine)
    if shared is not None:
        shared.group_join(group, me)


@module.action("groups.leave", "S")
def leave(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-groups-2: remove this session from group ``R(a)`` (not a member: nothing)."""
    group, me = ctx.resolve(a), _self_id(ctx)
    table.leave(group, me)
    shared = _shared(ctx.engine)
    if shared is not None:
        shared.group_leave(group, me)


@module.action("groups.leaveAll", "N")
def leave_all(ctx: ActionContext, *_: str) -> None:
    """M-groups-3: leave every group."""
    _leave_all(ctx.engine, _self_id(ctx))


@module.action("groups.get", "P=mand")
def get(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-groups-4: ``$array[i]`` = members in byte order; no size variable, older elements stay."""
    array = strip_dollar(p1)
    for i, member in enumerate(_members(ctx, ctx.resolve(p2))):
        ctx.vars[f"{array}[{i}]"] = member


@module.action("groups.getSize", "P=mand")
def get_size(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-groups-5: ``$var`` = member count (``0`` for an unknown group)."""
    ctx.vars[strip_dollar(p1)] = str(len(_members(ctx, ctx.resolve(p2))))


def _event_params(ctx: ActionContext, spec: str) -> dict[str, str]:
    if not spec:
        return {}
    if spec == "var":
        return dict(ctx.vars)
    params: dict[str, str] = {}
    for name in spec.split(";"):
        if not name:
            continue
        # REFERENCE QUIRK: a missing variable is created empty and sent empty.
        params[name] = ctx.vars.setdefault(name, "")
    return params


def _post(ctx: ActionContext, member: str, params: dict[str, str]) -> bool:
    try:
        result = ctx.engine.post_event(member, dict(params))
    except Exception as exc:  # a broken or finished receiver must not break the sender
        ctx.log(_LOG_WARN, f"groups.postEvent: posting to {member} failed: {exc}")
        return False
    return result is not False


@module.action("groups.postEvent", "P,opt")
def post_event(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-groups-6: post a DSMEvent to every member except the sender.

    errno is cleared if at least one member received it; otherwise
    ``errno = arg`` with ``event could not be posted\\n``.
    """
    group, spec = ctx.resolve(p1), ctx.resolve(p2)
    params = _event_params(ctx, spec)
    me = _self_id(ctx)
    delivered = 0
    for member in _members(ctx, group):
        if member != me and _post(ctx, member, params):
            delivered += 1
    if delivered:
        ctx.clear_error()
    else:
        ctx.set_error("arg", "event could not be posted\n")


def _session_id(session: Any) -> str | None:
    select = getattr(session, "select", None)
    if callable(select):
        tag = select("local_tag")
        if isinstance(tag, str) and tag:
            return tag
    for attr in ("local_tag", "id"):
        value = getattr(session, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


@module.on_before_destroy
def on_before_destroy(session: Any, host: Any = None) -> None:
    """M-api-8: a call session leaves all its groups after BeforeDestroy."""
    member = _session_id(session)
    if member is not None:
        _leave_all(getattr(session, "engine", None), member)
