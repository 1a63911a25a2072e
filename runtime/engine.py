"""The engine: loaded chart sets, sessions, addresses, queues and system DSMs.

An :class:`Engine` owns everything that is shared between sessions
(``engine.md`` sections 2, 14, 16, 21):

* configurations (:class:`AppConfig`, the main one and application bundles),
  each with a :class:`ChartSet` — the executable diagrams of one collection,
  identified by a digest; sessions keep the chart set they were created
  with, so a reload only affects later sessions (E-14);
* the address table of E-146 (local tags and ``registerEventQueue`` names);
* the run queue: sessions with pending events.  Events between sessions are
  always queued and processed by :meth:`Engine.run_pending`, never
  re-entrantly (E-147); the virtual-clock harness calls it after every
  input, the server after every wake-up (``on_pending``);
* the DI component registry used by the ``DI`` actions (A-core-76).

Nothing here reads the wall clock; timers run on the :class:`Clock` given.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dsm.chart import Chart
from dsm.diagnostics import Diagnostic
from dsm.runtime.actions.objects import dispose_owned
from dsm.runtime.call import Call, SystemCall
from dsm.runtime.clock import Clock
from dsm.runtime.errors import DSMException
from dsm.runtime.events import (
    BEFORE_DESTROY,
    DSM_EVENT,
    START,
    STARTUP,
    SYSTEM,
    SYSTEM_SHUTDOWN,
    processed,
)
from dsm.runtime.executable import ModuleLoadFailed, XChart, build
from dsm.runtime.modlib import ModuleLibrary
from dsm.runtime.monitor import MON_SELECT, CallRefused, MonSelect, StateMonitor
from dsm.runtime.registry import Module
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_ERROR, LEVEL_INFO, LEVEL_WARN, Session

if TYPE_CHECKING:
    from dsm.runtime.blocking import BlockingRunner

__all__ = ["Engine", "ChartSet", "AppConfig", "Tracer", "LogSink", "DIComponent"]

_log = logging.getLogger("dsm.session")
NO_MOD_PATH = ModuleLibrary()
"""The default module library: installed modules only, no ``mod_path``."""
_PY_LEVELS = {
    LEVEL_ERROR: logging.ERROR,
    LEVEL_WARN: logging.WARNING,
    LEVEL_INFO: logging.INFO,
    LEVEL_DEBUG: logging.DEBUG,
}

Tracer = Callable[[Session, str, str], None]
"""``tracer(session, kind, detail)``: kinds ``event``, ``transition``, ``state``, ``exception``."""

LogSink = Callable[[Session | None, int, str], None]
"""Receives every session log line with its DSM level (0 error … 3 debug, E-106)."""


class RemoteEvents(Protocol):
    """Where addresses not on this node are looked up (:mod:`dsm.runtime.cluster_events`)."""

    def claim(self, address: str) -> None: ...

    def release(self, address: str) -> None: ...

    def post(self, address: str, params: dict[str, str], event_type: str) -> bool: ...


class DIComponent:
    """A named server component callable through ``DI`` (A-core-76).

    Subclasses override :meth:`invoke`.  Failures: raise
    :class:`NotImplementedError` for an unknown function, :class:`IndexError`
    for missing arguments, :class:`TypeError` for wrong argument types.

    A component whose functions wait (network, disk) sets ``blocking = True``:
    on a server, ``DI`` then runs :meth:`invoke` on the worker pool while the
    calling session waits, so it must not touch the engine.  A component that
    only partly waits splits a call with :meth:`offload` instead.
    """

    blocking = False

    def invoke(self, function: str, args: list[Any]) -> Any:
        raise NotImplementedError(function)

    def offload(
        self, function: str, args: list[Any]
    ) -> tuple[Callable[[], Any], Callable[[Any], Any]] | None:
        """``(work, finish)`` to run ``work()`` on the pool and ``finish(value)`` → result after.

        ``None`` (the default): the call is not split.
        """
        return None


class ChartSet:
    """The executable diagrams of one collection (E-5, E-6), with a digest.

    ``get`` finds a diagram by exact name, first one wins.  ``modules`` are
    all module instances imported by the collection's diagrams in load
    order, duplicates included (M-api-7, E-175).
    """

    __slots__ = ("diagrams", "digest", "modules", "missing", "blocking")

    def __init__(self, diagrams: Sequence[XChart]) -> None:
        self.diagrams: dict[str, XChart] = {}
        h = hashlib.sha256()
        mods: list[Module] = []
        missing: list[str] = []
        for d in diagrams:
            self.diagrams.setdefault(d.name, d)
            h.update(d.name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(d.chart.digest.encode() + b"\0")
            mods.extend(d.modules)
            missing.extend(f"{d.name}: {m}" for m in d.missing)
        self.digest = h.hexdigest()
        self.modules: tuple[Module, ...] = tuple(mods)
        self.missing: tuple[str, ...] = tuple(missing)
        self.blocking = any(d.blocking for d in diagrams)
        """Whether a session of this set may suspend on a blocking action or condition."""

    def get(self, name: str) -> XChart | None:
        return self.diagrams.get(name)

    def names(self) -> list[str]:
        return list(self.diagrams)

    def __contains__(self, name: object) -> bool:
        return name in self.diagrams

    def __repr__(self) -> str:
        return f"<ChartSet {self.digest[:12]} {sorted(self.diagrams)}>"


class AppConfig:
    """One configuration (main or application bundle) as the engine uses it (E-7 … E-10)."""

    __slots__ = ("name", "chartset", "values", "set_param_variables", "register_apps", "prompts")

    def __init__(
        self,
        name: str,
        chartset: ChartSet,
        values: Mapping[str, str] | None = None,
        set_param_variables: bool = False,
        register_apps: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.chartset = chartset
        self.values: dict[str, str] = dict(values or {})
        self.set_param_variables = set_param_variables
        self.register_apps: tuple[str, ...] = tuple(register_apps)

    def config_variables(self) -> dict[str, str]:
        """``config.<key>`` for every key of the configuration (E-10, CF-7)."""
        return {"config." + k: v for k, v in self.values.items()}


def app_params(header_value: str) -> dict[str, str]:
    """P-App-Param → variables (E-169, AS-7): ``;`` pieces, exactly two ``=`` parts, first wins."""
    out: dict[str, str] = {}
    for piece in header_value.split(";"):
        if not piece:
            continue
        parts = [p for p in piece.split("=") if p]
        if len(parts) == 2 and parts[0] not in out:
            out[parts[0]] = parts[1]
    return out


def first_header(headers: str, name: str) -> str | None:
    """Value of the first header ``name`` (case-insensitive) in a header block."""
    low = name.lower()
    for line in headers.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == low:
            return value.lstrip(" \t")
    return None


def _shutdown_default(s: Session) -> Callable[[dict[str, str] | None], None]:
    """The host's default after ``system``/``ServerShutdown`` unless ``#processed`` (E-157)."""

    def done(params: dict[str, str] | None) -> None:
        if processed(params):
            return
        call = s.call
        with contextlib.suppress(Exception):  # a leg already gone: nothing to end
            call.b2b_terminate_other_leg()
        with contextlib.suppress(Exception):
            call.bye()
        s.stop()

    return done


def outgoing_variables(params: Mapping[str, Any]) -> dict[str, str]:
    """Variables from an outgoing call's parameter dictionary (E-170, AS-5)."""
    out: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, list | tuple):
            out[f"{k}_size"] = str(len(v))
            for i, item in enumerate(v):
                out[f"{k}_{i}"] = item if isinstance(item, str) else repr(item)
        else:
            out[k] = str(v)
    return out


class Engine:
    """Runs sessions of loaded charts on a clock.

    Typical use::

        engine = Engine(VirtualClock())
        engine.load({"pin": chart})
        s = engine.start_call("pin", call)
        engine.run_pending()
        s.deliver("Key", {"key": "1", "duration": "100"})
        engine.run_pending()
    """

    dialout: Callable[..., str] | None = None
    """The host's outgoing-call service, ``None`` when the host cannot place calls.

    ``dialout(app, *, r_uri, from_, from_uri, to, local_tag="", headers="",
    auth_user="", auth_pwd="", variables=None) -> str`` starts an outgoing
    call running ``app`` (``dlg.dialout``, M-dlg-6) and returns its local tag
    (the session id); it raises :class:`LookupError` for an unknown
    application and :class:`ValueError` for a local tag in use.  The engine
    itself carries no calls: the harness sets it to a simulated call, a
    server serving SIP to :func:`dsm.runtime.sip.outgoing.dialout`.
    """

    subscriptions: Any = None
    """The host's SIP subscription service (``mod_subscription``), ``None`` when it has none.

    ``create(session, target, expires) -> handle``, ``refresh(handle,
    expires) -> bool``, ``remove(handle)``; status changes come back to the
    session as ``SIPSubscription`` events (C-core-25).  A server serving SIP
    sets it to :class:`dsm.runtime.sip.subscriber.SipSubscriptions`.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        modules: ModuleLibrary = NO_MOD_PATH,
        max_rounds: int = 1000,
        runner: BlockingRunner | None = None,
        config: Any = None,
    ) -> None:
        """An engine with its collaborators handed in by the composition root.

        ``runner`` runs blocking actions and conditions off the event loop
        (:mod:`dsm.runtime.blocking`); without one they run inline, as every
        other action.  ``modules`` is the library the charts' imports are
        found in (:mod:`dsm.runtime.modlib`; by default the installed
        modules only).  ``config`` is the loaded ``dsm.conf`` (kept for the
        management functions), installed by the caller —
        :func:`dsm.runtime.compose.build_engine` does all of it.  The ``dsm``
        DI component is registered by the caller too (``engine.di``).
        """
        self.clock = clock
        self.modules = modules
        self.max_rounds = max_rounds
        self.runner = runner
        self.sessions: dict[str, Session] = {}
        self.addresses: dict[str, Session] = {}
        self._owned: dict[str, list[str]] = {}
        """Each session's addresses (by session id): its end drops them without a scan of all."""
        self.id_prefix = ""
        """Put before every new session id (``node1.call-7``): ids unique across a cluster."""
        self.remote: RemoteEvents | None = None
        """Cluster event delivery (``docs/cluster.md``): told of every address, asked for unknown ones."""
        self.configs: dict[str, AppConfig] = {}
        self.apps: dict[str, AppConfig] = {}
        self.inbound_start_diag = ""
        self.outbound_start_diag = ""
        # E-174: set (with the store) when monitoring is enabled; AS-9 settings for $(mon_select)
        self.monitor: StateMonitor | None = None
        self.mon_select = MonSelect()
        self.di: dict[str, DIComponent] = {}
        self.tracer: Tracer | None = None
        self.log_sink: LogSink | None = None
        self.on_pending: Callable[[], None] | None = None
        self._ready: deque[Session] = deque()
        self._ids = itertools.count(1)
        self._busy = 0
        self.configs["main"] = AppConfig("main", ChartSet(()))
        self.config: Any = config

    # -- charts -----------------------------------------------------------------
    def load(
        self,
        charts: Mapping[str, Chart] | Iterable[Chart],
        config: str = "main",
        *,
        values: Mapping[str, str] | None = None,
        register_apps: Sequence[str] | None = None,
        set_param_variables: bool | None = None,
        mod_path: Sequence[str] | None = None,
    ) -> ChartSet:
        """Bind ``charts`` into a new chart set for configuration ``config``.

        A mapping gives the diagram names (E-5: the ``load_diags`` item);
        a plain iterable uses each chart's own name.  The configuration is
        created if needed; sessions started earlier keep their chart set.
        Every diagram name becomes an application name unless
        ``register_apps`` says otherwise.  The charts' modules are imported
        here, from the engine's module library (``mod_path``: a reload's new
        path, searched by the same library); one that fails raises
        :class:`ModuleLoadFailed` (M-api-1) before anything changes.
        """
        items = list(charts.items()) if isinstance(charts, Mapping) else [(c.name, c) for c in charts]
        library = self.modules if mod_path is None else self.modules.at(mod_path)
        built: list[XChart] = []
        failed: list[Diagnostic] = []
        for name, chart in items:
            try:
                built.append(build(chart, library, name))
            except ModuleLoadFailed as exc:  # M-api-1: report every refused diagram at once
                failed.extend(exc.diagnostics)
        if failed:
            raise ModuleLoadFailed(failed)
        cs = ChartSet(built)
        for m in cs.missing:
            self.log(None, LEVEL_WARN, f"no implementation for {m}")
        old = self.configs.get(config)
        cfg = AppConfig(
            config,
            cs,
            values if values is not None else (old.values if old else {}),
            set_param_variables
            if set_param_variables is not None
            else (old.set_param_variables if old else False),
            register_apps if register_apps is not None else [n for n, _ in items],
        )
        self.configs[config] = cfg
        for app in cfg.register_apps:
            if app not in cs:
                raise ValueError(f"register_apps: '{app}' is not a loaded diagram of '{config}'")
            if config != "main" or app not in self.apps or self.apps[app].name == "main":
                self.apps[app] = cfg
        return cs

    @property
    def main(self) -> AppConfig:
        return self.configs["main"]

    # -- sessions -----------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        while True:
            sid = f"{self.id_prefix}{prefix}{next(self._ids)}"
            if sid not in self.addresses:
                return sid

    def start_call(
        self,
        app_name: str,
        call: Call,
        params: Mapping[str, Any] | None = None,
        headers: str = "",
        *,
        outgoing: bool = False,
    ) -> Session:
        """Create a call session and queue its start (E-9, E-89, AS-3, AS-4).

        ``params`` is the dictionary an outgoing call's creator passes
        (E-170); ``headers`` the header block of the INVITE (P-App-Param,
        E-169).  The start runs in :meth:`run_pending`.
        """
        mon_vars: dict[str, str] = {}
        if app_name == "dsm":
            start = self._generic_start(call, headers, outgoing, mon_vars)
        else:
            start = app_name
        cfg = self.apps.get(start, self.main)
        variables = cfg.config_variables()
        if outgoing and params:
            variables.update(outgoing_variables(params))
        if cfg.set_param_variables:
            pap = first_header(headers, "P-App-Param")
            if pap is not None:
                variables.update(app_params(pap))
        if not outgoing and params:
            variables.update(outgoing_variables(params))
        variables.update(mon_vars)  # E-171: $(mon_select) variables last
        sid = call.local_tag or self._new_id("call-")
        if sid in self.addresses:
            raise ValueError(f"a session with address {sid!r} already exists")
        call.local_tag = sid
        s = Session(self, sid, "call", call, cfg.chartset, cfg, variables)
        self._add(s)
        s._enqueue((START, None, None, None, start))
        return s

    def _generic_start(
        self, call: Call, headers: str, outgoing: bool, mon_vars: dict[str, str]
    ) -> str:
        """E-9, K-8, K-9, AS-9: the start diagram of a call to the generic name ``dsm``.

        :class:`CallRefused` (488) when the matching ``*_start_diag`` is empty;
        an outgoing call otherwise gets an empty start diagram (E-12 quirk).
        """
        if outgoing:
            if not self.outbound_start_diag:
                raise CallRefused(488, "Not Acceptable Here", "no outbound calls allowed")
            return ""  # E-12 REFERENCE QUIRK: outbound_start_diag is never used
        if not self.inbound_start_diag:
            raise CallRefused(488, "Not Acceptable Here", "no inbound calls allowed")
        if self.inbound_start_diag != MON_SELECT:
            return self.inbound_start_diag
        start, record, params = self.mon_select.select(
            self.monitor.store if self.monitor is not None else None,
            from_uri=call.select("remote_party"),
            ruri_user=call.select("user"),
            to=call.select("local_party"),
            pai=first_header(headers, "P-Asserted-Identity"),
            app_param=first_header(headers, "P-App-Param"),
        )
        if record is not None:
            if isinstance(params, Mapping):
                mon_vars.update(outgoing_variables(params))
            mon_vars["mon_session_record"] = record
        return start

    def start_system(
        self, config: str, diagram: str, start_type: str = STARTUP
    ) -> Session:
        """Create a system session and queue its start (E-158 … E-160).

        Raises :class:`KeyError` for an unknown configuration name.
        """
        cfg = self.configs[config]
        sid = self._new_id("SystemDSM_")
        call = SystemCall(sid)
        s = Session(self, sid, "system", call, cfg.chartset, cfg, cfg.config_variables())
        self._add(s)
        s._enqueue((start_type, None, None, None, diagram))
        return s

    def start_sbc(
        self, app_bundle: str, start_diag: str, call: Call, cc_vars: Mapping[str, str] | None = None
    ) -> Session:
        """Create an SBC call-control session (E-163) and queue its ``Start``.

        Both names must be set and valid, otherwise :class:`ValueError` (the
        leg's call-control initialisation fails).  Variables: ``config.*`` of
        the bundle, then every call-control variable as a plain variable.
        """
        cfg = self.configs.get(app_bundle) if app_bundle else None
        if cfg is None or not start_diag or start_diag not in cfg.chartset:
            raise ValueError(f"DSM call control: bad app_bundle {app_bundle!r} or start_diag {start_diag!r}")
        variables = cfg.config_variables()
        variables.update(cc_vars or {})
        sid = call.local_tag or self._new_id("sbc-")
        if sid in self.addresses:
            raise ValueError(f"a session with address {sid!r} already exists")
        call.local_tag = sid
        s = Session(self, sid, "sbc", call, cfg.chartset, cfg, variables)
        self._add(s)
        s._enqueue((START, None, None, None, start_diag))
        return s

    def bundle_names(self) -> list[str]:
        return [n for n in self.configs if n != "main"]

    def _add(self, s: Session) -> None:
        self.sessions[s.id] = s
        self.addresses[s.id] = s
        self._owned.setdefault(s.id, []).append(s.id)
        if self.remote is not None:
            self.remote.claim(s.id)

    def session(self, address: str) -> Session | None:
        return self.addresses.get(address)

    # -- addresses and posting (section 14) -----------------------------------------
    def register_address(self, name: str, session: Session) -> bool:
        """E-117: register ``name`` unless taken; returns whether it was registered."""
        if name in self.addresses:
            return False
        self.addresses[name] = session
        self._owned.setdefault(session.id, []).append(name)
        if self.remote is not None:
            self.remote.claim(name)
        return True

    def unregister_address(self, name: str) -> None:
        owner = self.addresses.pop(name, None)
        if owner is None:
            return
        owned = self._owned.get(owner.id)
        if owned is not None and name in owned:
            owned.remove(name)
        if self.remote is not None:
            self.remote.release(name)

    def post_event(
        self, address: str, params: dict[str, str] | None, event_type: str = DSM_EVENT
    ) -> bool:
        """Queue an event to ``address`` (E-147, D-1); ``False`` if nobody owns it.

        The address ``dsm`` is the component's own queue: the event is
        accepted and discarded with a warning (A-core-79).
        """
        s = self.addresses.get(address)
        if s is None or s.ended:
            if address == "dsm":
                self.log(None, LEVEL_WARN, f"event posted to the dsm queue discarded: {params!r}")
                return True
            if s is None and self.remote is not None:  # a call on another node of the cluster
                return self.remote.post(address, dict(params or {}), event_type)
            return False
        return s.deliver(event_type, params)

    # -- system events (engine.md event table: System, C-core-30) -------------------------
    def system_event(self, kind: str) -> int:
        """Queue ``system`` with ``#type=kind`` to every live session; the number reached.

        ``kind`` is ``ServerShutdown``, ``User1`` or ``User2``; SBC leg sessions
        are not told (their legs end with the relay).  For a call
        session a shutdown ends the call (both legs, then stop) unless its
        script set ``#processed=true``; system DSMs are only told.
        """
        count = 0
        for s in list(self.sessions.values()):
            if s.ended or s.kind == "sbc":  # M-ccdsm-4: SBC leg sessions get no System events
                continue
            done = None
            if kind == SYSTEM_SHUTDOWN and s.kind == "call":
                done = _shutdown_default(s)
            if s.deliver(SYSTEM, {"type": kind}, on_done=done):
                count += 1
        return count

    # -- running --------------------------------------------------------------------
    def _schedule(self, s: Session) -> None:
        self._ready.append(s)
        if self.on_pending is not None and not self._busy:
            self.on_pending()

    def _schedule_end(self, s: Session) -> None:
        if not s._scheduled:
            s._scheduled = True
            self._schedule(s)

    def run_pending(self, limit: int | None = None) -> int:
        """Process queued events of all sessions until nothing is pending.

        Each ready session drains its whole queue (E-147) before the next
        one runs; a stopped session then ends.  ``limit`` bounds the number
        of events (a guard against sessions posting to each other forever).
        Returns the number of events processed.
        """
        done = 0
        ready = self._ready
        self._busy += 1
        try:
            while ready:
                s = ready.popleft()
                if s.ended:
                    continue
                try:
                    done += s._drain()
                except Exception as exc:  # never let one session stop the others
                    self.log(s, LEVEL_ERROR, f"session failed and is ended: {type(exc).__name__}: {exc}")
                    s.stopped = True
                    if s._queue:
                        s._queue.clear()
                if s.stopped and not s.pending and s._parked is None:
                    self.end_session(s)
                if limit is not None and done >= limit:
                    break
        finally:
            self._busy -= 1
        return done

    def end_session(self, s: Session) -> None:
        """End a session (E-156, M-api-8): BeforeDestroy for calls, hooks, cleanup."""
        if s.ended:
            return
        parked = s._parked
        if parked is not None:  # a blocking call still runs: its event is abandoned
            s._parked = None
            parked.gen.close()
            self.log(s, LEVEL_WARN, f"session ended while '{parked.request.src.name}' was running")
        if s.kind == "call" and s.started:
            params: dict[str, str] = {}
            s._with_objects(BEFORE_DESTROY, params, None)
            for mod in s.chartset.modules:
                hook = mod.hooks.get("on_before_destroy")
                if hook is not None:
                    try:
                        hook(s, s.call)
                    except Exception as exc:  # a faulty hook must not stop the cleanup
                        self.log(s, LEVEL_ERROR, f"{mod.name}: before-destroy hook failed: {exc}")
        s.ended = True
        s.remove_timers()
        if s._queue:
            s._queue.clear()
        for err in dispose_owned(s):
            self.log(s, LEVEL_ERROR, f"disposing an owned object failed: {err}")
        owned = self._owned.pop(s.id, [])
        for name in [n for n in owned if self.addresses.get(n) is s]:
            if name != s.id:
                self.log(s, LEVEL_DEBUG, f"event queue '{name}' dropped with its session")
            del self.addresses[name]
            if self.remote is not None:
                self.remote.release(name)
        self.sessions.pop(s.id, None)
        try:
            s.call.on_session_end()
        except Exception as exc:
            self.log(s, LEVEL_ERROR, f"call end hook failed: {exc}")

    def run_invite_hooks(self, s: Session, request: Any) -> bool:
        """M-api-7: every attached module's invite hook; results ANDed, all are called."""
        ok = True
        for mod in s.chartset.modules:
            hook = mod.hooks.get("on_invite")
            if hook is not None:
                try:
                    ok = bool(hook(request, s)) and ok
                except Exception as exc:
                    self.log(s, LEVEL_ERROR, f"{mod.name}: invite hook failed: {exc}")
        return ok

    def process_sdp_offer(self, s: Session, sdp: Any) -> Any:
        """M-api-9: every attached module may edit a locally generated SDP offer."""
        for mod in s.chartset.modules:
            hook = mod.hooks.get("process_sdp_offer")
            if hook is not None:
                try:
                    result = hook(sdp)
                except Exception as exc:  # a faulty module keeps the SDP as it was
                    self.log(s, LEVEL_ERROR, f"{mod.name}: SDP offer hook failed: {exc}")
                    continue
                sdp = sdp if result is None else result
        return sdp

    def process_sdp_answer(self, s: Session, offer: Any, answer: Any) -> Any:
        """M-api-9: every attached module may edit a locally generated SDP answer."""
        for mod in s.chartset.modules:
            hook = mod.hooks.get("process_sdp_answer")
            if hook is not None:
                try:
                    result = hook(offer, answer)
                except Exception as exc:  # a faulty module keeps the SDP as it was
                    self.log(s, LEVEL_ERROR, f"{mod.name}: SDP answer hook failed: {exc}")
                    continue
                answer = answer if result is None else result
        return answer

    def create_system_dsm(self, config: str, diagram: str) -> Session:
        """``createSystemDSM`` (E-118, D-11) with its exact error texts."""
        if not config or not diagram:
            raise DSMException(
                "core",
                {
                    "cause": "parameters missing - need both conf_name and script_name for createSystemDSM"
                },
            )
        if config not in self.configs:
            names = ", ".join(self.bundle_names())
            raise DSMException(
                "core", {"cause": f"Error: Script config '{config}' not found, in [{names}]"}
            )
        return self.start_system(config, diagram)

    # -- logging ----------------------------------------------------------------
    def log(self, session: Session | None, level: int, message: str) -> None:
        level = LEVEL_DEBUG if level > LEVEL_DEBUG else max(level, LEVEL_ERROR)
        sink = self.log_sink
        if sink is not None:
            sink(session, level, message)
        pylevel = _PY_LEVELS[level]
        if _log.isEnabledFor(pylevel):
            _log.log(pylevel, "[%s] %s", session.id if session else "-", message)
