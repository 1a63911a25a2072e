"""``dsm serve``: the engine on the asyncio clock, its scripts, and the control endpoint.

::

    dsm serve [--config dsm.conf | --scripts DIR …] [--control 127.0.0.1:5040]
              [--control-token T] [--control-token-file PATH] [--control-host NAME …]
              [--watch] [--log-level info]
              [--sip 127.0.0.1:5070 [--application VALUE] [--rtp-ports LOW-HIGH]
                                    [--rtp-timeout SECONDS] [--rtp-strict yes|no]
                                    [--rtp-symmetric yes|no] [--sip-max-message-bytes N]
                                    [--sip-max-headers N] [--tcp-max-per-source N]
                                    [--tcp-message-timeout SECONDS]
                                    [--tcp-idle-timeout SECONDS]]

* Without ``--config`` and ``--scripts`` the ``examples/`` directory is
  served with an embedded default configuration: every script of it (and
  of its sub-folders) is a diagram of the main collection and an
  application named after it.
* The control endpoint (JSON-RPC 2.0 at ``/``, Prometheus at ``/metrics``)
  binds to loopback only unless ``--control-token`` is given; port ``0``
  picks a free port, reported in the ``event=listening`` log line.  It
  always needs a token: ``--control-token`` / ``$DSM_CONTROL_TOKEN`` or a
  random one, written to a file only this user can read (its path is the
  ``token_file`` field of ``event=listening``), where the ``dsm`` client
  commands find it (:mod:`dsm.runtime.control.token`).
* ``--watch`` reloads when a ``.dsm`` or ``.conf`` file under the script
  folders changes, with the rule of :mod:`dsm.runtime.versions`: all
  compile, or nothing changes — a failed reload is logged with its
  diagnostics and the old collection keeps serving.
* Logs are one line per event, ``key=value`` pairs (values with blanks
  quoted), on stderr: ``ts=… level=info event=reload ok=true version=…``.
* SIGTERM or SIGINT: stop accepting requests, end every session (calls
  get ``BeforeDestroy``), log ``event=stopped`` and exit 0.  Before that,
  on SIGTERM every session's script gets ``system`` with
  ``#type=ServerShutdown`` (SIGUSR1/SIGUSR2: ``User1``/``User2``, and the
  server keeps running); a call whose script does not set
  ``#processed=true`` is ended (BYE) as the host's default.

With ``--sip HOST:PORT`` the server also answers real calls over UDP and TCP
(``docs/sip.md``, "Serving calls"): the application of a new INVITE is
chosen as ``--application`` says (AS-1, default ``$(ruri.user)``; an empty
or unknown name is refused with ``500 Server Internal Error``), prompts come
from the configuration's prompt keys or, when serving script folders, from
the ``prompts/`` folder beside each script, and every call gets one RTP
socket from ``--rtp-ports``.  Without ``--sip`` calls are started over the
control endpoint (``startCall``) with a headless simulated call.

The limits an untrusted peer meets (strict RTP latching, TCP caps and
deadlines, message size caps: :class:`~dsm.runtime.sip.limits.SipLimits`,
``docs/security.md``) come from the ``dsm.conf`` keys of
:data:`~dsm.runtime.sip.limits.CONF_KEYS`, with the command line on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from threadpoolctl import threadpool_limits

from dsm.diagnostics import CompileError, Diagnostic
from dsm.runtime import native
from dsm.runtime.blocking import (
    DEFAULT_LANE_WORKERS,
    DEFAULT_SLOW_SECONDS,
    DEFAULT_WORKERS,
    PoolRunner,
)
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.cluster_events import RedisEvents
from dsm.runtime.components import install as install_components
from dsm.runtime.config import DSMConfig, install, load_config
from dsm.runtime.control.http_server import ControlServer, parse_hostport
from dsm.runtime.control.jsonrpc import INVALID_PARAMS, RpcError
from dsm.runtime.control.methods import ControlAPI, param, sbc_methods
from dsm.runtime.control.metrics import render_metrics
from dsm.runtime.control.observer import Observer
from dsm.runtime.control.token import new_token, remove_token, token_path, write_token
from dsm.runtime.engine import Engine
from dsm.runtime.management import install_component
from dsm.runtime.media.prompts import PromptLibrary
from dsm.runtime.modlib import ModuleLibrary
from dsm.runtime.node import DEFAULT_DRAIN_TIMEOUT, RETRY_AFTER, NodeSettings, label_metrics
from dsm.runtime.redact import redact_text, secret_values
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_ERROR, LEVEL_INFO, LEVEL_WARN, Session
from dsm.runtime.sip.limits import CONF_KEYS, SipCounters, SipLimits
from dsm.runtime.sip.message import Request
from dsm.runtime.sip.rtp_session import DEFAULT_RTP_TIMEOUT, RtpPortPool
from dsm.runtime.sip.session_timer import TimerConfig
from dsm.runtime.sip.sipcall import SipCalls
from dsm.runtime.sip.transaction import TimerSettings
from dsm.runtime.sip.transport import SipTransport, open_sip_transport
from dsm.runtime.versions import (
    ChartLibrary,
    ConfigSource,
    DirectorySource,
    ReloadFailed,
    ScriptSource,
)

__all__ = ["Server", "StructuredLog", "LoggingBridge", "find_examples", "DEFAULT_CONFIG", "serve_main"]

DEFAULT_CONFIG: dict[str, str] = {"set_param_variables": "no"}
"""Configuration values of the embedded default (``$config.<key>`` for scripts)."""
DEFAULT_APPLICATION = "$(ruri.user)"
"""AS-1 application selection used when ``--application`` is not given."""
DEFAULT_RTP_PORTS = (10000, 19999)
SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits (Python's default: 0.005)."""
GC_THRESHOLDS = (5000, 20, 20)
"""The collector's thresholds while serving (Python's default: 700, 10, 10).

With the start-up heap frozen and no cycle left by an ended call, the young
generation holds what live calls allocate; collecting it every 700
allocations cost 0.35–0.42 ms of each answer-play-hangup call (``gc.callbacks``
over 500 calls at 100/s), at 5,000 0.09–0.12 ms.  A young collection then
takes a few milliseconds, well under the 10 ms after which a frame is late.
"""
DEFAULT_BLOCKING_GRACE = 5.0
"""How long a stopping server waits for blocking actions still running on its pool."""

_LEVELS = {"error": LEVEL_ERROR, "warn": LEVEL_WARN, "info": LEVEL_INFO, "debug": LEVEL_DEBUG}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}


def find_examples() -> Path | None:
    """``./examples`` if present, else the ``examples/`` folder of the source tree."""
    for candidate in (Path.cwd() / "examples", Path(__file__).resolve().parent.parent / "examples"):
        if candidate.is_dir():
            return candidate
    return None


def _positive(text: str | None, default: Any, kind: Any) -> Any:
    """A positive number from a dsm.conf value, else ``default``."""
    try:
        value = kind(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default


def _fmt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, list | dict | bool) else str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class StructuredLog:
    """``key=value`` log lines, one per event, greppable (``grep event=reload``); secrets masked."""

    def __init__(self, out: TextIO | None = None, level: str = "info") -> None:
        self.out = out or sys.stderr
        self.level = _LEVELS.get(level, LEVEL_INFO)
        self.node = ""
        """The node id (``node_id``): every line carries ``node=…`` once it is set."""

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        if _LEVELS.get(level, LEVEL_INFO) > self.level:
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [f"ts={ts}", f"level={level}", f"event={event}"]
        if self.node:
            parts.append(f"node={self.node}")
        # every text goes through the one masking rule: SIP reasons, diagnostics quoting a
        # script line with a password literal, messages of modules (docs/security.md)
        parts.extend(f"{k}={_fmt(redact_text(v) if isinstance(v, str) else v)}" for k, v in fields.items())
        try:
            self.out.write(" ".join(parts) + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def session_sink(self, session: Session | None, level: int, message: str) -> None:
        """The engine's log sink: script and engine messages as ``event=session`` lines.

        Secrets are masked (``logVars``, ``log(2, $o_auth_pwd)``, values
        interpolated into ``logs``): :mod:`dsm.runtime.redact`.
        """
        hidden = secret_values(session.vars, session.params) if session is not None else []
        self(
            "session",
            _LEVEL_NAMES.get(level, "debug"),
            session=session.id if session is not None else "-",
            msg=redact_text(message.rstrip("\n"), hidden),
        )


class LoggingBridge(logging.Handler):
    """Python :mod:`logging` records as structured lines: secrets masked, no traceback.

    ``dsm serve`` installs it on the root logger, so a warning of any library
    (or asyncio's report of a failed task) is one ``event=python`` line with
    the exception's type and message, never a multi-line traceback.  Records
    of ``dsm.session`` are left out: the engine's log sink wrote them already.
    """

    def __init__(self, log: StructuredLog) -> None:
        super().__init__(logging.DEBUG)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "dsm.session":
            return
        try:
            fields: dict[str, Any] = {"logger": record.name, "msg": redact_text(record.getMessage())}
        except Exception:  # a record whose arguments do not fit its format
            fields = {"logger": record.name, "msg": redact_text(str(record.msg))}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            fields["error"] = redact_text(f"{type(exc).__name__}: {exc}")
        level = "error" if record.levelno >= logging.ERROR else "warn" if record.levelno >= logging.WARNING else "info"
        self.log("python", level, **fields)


class Server:
    """One serving process: engine, library, control endpoint, optional watcher."""

    def __init__(
        self,
        *,
        config: str | None = None,
        scripts: Sequence[str] = (),
        control: str = "127.0.0.1:5040",
        token: str | None = None,
        token_file: str | None = None,
        control_hosts: Sequence[str] = (),
        watch: bool = False,
        log: StructuredLog | None = None,
        item_seconds: float = 1.0,
        sip: str | None = None,
        application: str = DEFAULT_APPLICATION,
        app_mapping: str | None = None,
        rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
        rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
        sip_settings: Mapping[str, str] | None = None,
        sip_timers: TimerSettings | None = None,
        blocking_grace: float = DEFAULT_BLOCKING_GRACE,
        blocking_workers: int | None = None,
        blocking_lane_workers: int | None = None,
        node_id: str | None = None,
        drain_timeout: float | None = None,
        cluster_redis: str | None = None,
        sbc: str | None = None,
        sbc_call_control: Mapping[str, Any] | None = None,
    ) -> None:
        self.sbc = sbc
        """``--sbc sbc.conf``: every incoming INVITE is relayed by call profile (:mod:`dsm.runtime.sbc`)."""
        self.sbc_call_control = dict(sbc_call_control or {})
        """Call-control factories of the SBC by module name, besides ``cc_dsm`` (always there)."""
        self.sbc_relay: Any = None
        self._node_args = (node_id, drain_timeout, cluster_redis)
        self.remote_events: RedisEvents | None = None
        self.node = NodeSettings()
        """Node id and drain timeout (``dsm.conf`` keys, the command line on top)."""
        self.draining = False
        self._drain_task: asyncio.Task[None] | None = None
        self.config_path = config
        self.sip_settings = dict(sip_settings or {})
        """Limit keys (:data:`CONF_KEYS`) given on the command line: over ``dsm.conf``'s."""
        self.sip_timers = sip_timers
        """RFC 3261 T1/T2/T4 (tests shorten them); ``None``: the RFC's values."""
        self._sip_conf: dict[str, str] = {}
        self.sip_limits: SipLimits | None = None
        self.blocking_workers = blocking_workers
        self.blocking_lane_workers = blocking_lane_workers
        self.blocking_grace = blocking_grace
        self.runner: PoolRunner | None = None
        self.rtp_timeout = rtp_timeout
        self.sip = sip
        self.application = application
        self.app_mapping = app_mapping
        self.rtp_ports = rtp_ports
        self.sip_address: tuple[str, int] | None = None
        self.sip_calls: SipCalls | None = None
        self._sip_transport: SipTransport | None = None
        self._prompts: dict[str, PromptLibrary] = {}
        self._session_timer_settings: dict[str, Any] = {}
        self.scripts = list(scripts)
        self.control = control
        self.token = token
        self.token_given = bool(token)
        self.token_file = token_file
        self.token_path: Path | None = None
        self.control_hosts = tuple(control_hosts)
        self.watch = watch
        self.log = log or StructuredLog()
        self.item_seconds = item_seconds
        self.stopping = asyncio.Event()
        self._ended_by_system = 0
        self.address: tuple[str, int] | None = None
        self.engine: Engine | None = None
        self.library: ChartLibrary | None = None
        self.api: ControlAPI | None = None
        self.control_server: ControlServer | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    # -- start ---------------------------------------------------------------------------
    def _source(self) -> ScriptSource:
        if self.config_path:
            return ConfigSource(self.config_path)
        folders = self.scripts
        if not folders:
            ex = find_examples()
            if ex is None:
                raise FileNotFoundError("no --config, no --scripts and no examples/ directory to serve")
            folders = [str(ex)]
        for folder in folders:
            if not Path(folder).exists():
                raise FileNotFoundError(errno.ENOENT, f"--scripts {folder}: no such directory")
        return DirectorySource(folders)

    def _load(self, engine: Engine, source: ScriptSource, cfg: DSMConfig | None) -> ChartLibrary:
        library = ChartLibrary(engine, source)
        if cfg is not None:
            self._session_timer_settings = cfg.session_timer
            values = cfg.main.conf.values
            self._sip_conf = {key: values[key] for key in CONF_KEYS if key in values}
            self._set_node(values)
            install(engine, cfg)
            library.adopt()
        else:
            self._set_node({})
            engine.configs["main"].values.update(DEFAULT_CONFIG)
            library.reload()
            library.reloads = library.failed_reloads = 0  # the start-up load is no reload
        library.listeners.append(self._reloaded)
        return library

    def _set_node(self, conf: Mapping[str, str]) -> None:
        self.node = NodeSettings.from_settings(conf, *self._node_args)
        self.log.node = self.node.node_id

    async def start(self) -> tuple[str, int]:
        """Compose the server: configuration, worker pool, engine, library, ``dsm`` component."""
        loop = asyncio.get_running_loop()
        source = self._source()
        cfg = load_config(source.path) if isinstance(source, ConfigSource) else None
        values = cfg.main.values if cfg is not None else {}
        runner = PoolRunner(
            loop,
            workers=self.blocking_workers
            or _positive(values.get("blocking_workers"), DEFAULT_WORKERS, int),
            slow_seconds=_positive(values.get("slow_action_seconds"), DEFAULT_SLOW_SECONDS, float),
            lane_workers=self.blocking_lane_workers
            or _positive(values.get("blocking_lane_workers"), DEFAULT_LANE_WORKERS, int),
            log=self.log,
        )
        self.runner = runner
        if cfg is not None:
            modules = ModuleLibrary(cfg.main.mod_path)
        else:
            modules = ModuleLibrary(source.mod_path if isinstance(source, DirectorySource) else ())
        engine = Engine(AsyncioClock(loop), modules=modules, runner=runner, config=cfg)
        engine.log_sink = self.log.session_sink
        observer = Observer(engine)
        pending = False

        def drain() -> None:
            nonlocal pending
            pending = False
            engine.run_pending(limit=1_000_000)

        def on_pending() -> None:
            nonlocal pending
            if not pending:
                pending = True
                loop.call_soon(drain)

        engine.on_pending = on_pending
        self.engine = engine
        library = self._load(engine, source, cfg)
        self.library = library
        self.log_diagnostics(library.warnings)
        self.load_prompts()
        if self.node.redis:
            self._start_remote_events(engine)
        component = install_component(engine, library)
        install_components(engine)  # user_timer, xmlrpc2di, jsonrpc and the dsm.di entry points
        self.api = ControlAPI(engine, library, component, observer, item_seconds=self.item_seconds)
        host, port = parse_hostport(self.control)
        dispatcher = self.api.dispatcher()
        for name, fn in self.api.offloaded_reloads(
            lambda: asyncio.to_thread(library.compile_outcome)
        ).items():
            dispatcher.add(name, fn)
        dispatcher.add("drain", self._rpc_drain)
        for name, fn in sbc_methods(lambda: self.sbc_relay).items():
            dispatcher.add(name, fn)
        if not self.token:
            self.token = new_token()
        control_server = ControlServer(
            dispatcher,
            lambda: label_metrics(
                render_metrics(
                    engine,
                    observer,
                    library,
                    time.monotonic() - self._started,
                    sip=self.sip_calls,
                    control=control_server,
                    blocking=runner,
                )
                + _DRAINING_METRIC.format(int(self.draining))
                + (self.sbc_relay.metrics() if self.sbc_relay is not None else ""),
                self.node.node_id,
            ),
            self.token,
            allowed_hosts=self.control_hosts,
            explicit_token=self.token_given,
        )
        self.control_server = control_server
        if self.sip:
            await self._start_sip(engine)
        try:
            self.address = await control_server.start(host, port)
        except OSError as exc:
            hint = " (is another dsm serve running? use --control HOST:PORT)" if exc.errno == errno.EADDRINUSE else ""
            raise OSError(exc.errno, f"cannot listen for control on {host}:{port}: {exc.strerror or exc}{hint}") from exc
        path = token_path(self.address[1], self.token_file)
        try:
            write_token(path, self.token)
        except OSError as exc:
            raise OSError(
                f"cannot write the control token file {path}: {exc.strerror or exc} "
                "(use --control-token-file or $DSM_RUNTIME_DIR)"
            ) from exc
        self.token_path = path
        current = library.current
        sip_fields = {"sip": f"{self.sip_address[0]}:{self.sip_address[1]}"} if self.sip_address else {}
        self.log(
            "listening",
            control=f"{self.address[0]}:{self.address[1]}",
            **sip_fields,
            source=library.source.describe(),
            version=current.id if current else "-",
            diagrams=",".join(engine.main.chartset.names()),
            token_file=str(path),
            watch="yes" if self.watch else "no",
            media_path=native.describe(),
        )
        if self.watch:
            self._watch_task = asyncio.create_task(self._watch_loop())
        return self.address

    def _start_remote_events(self, engine: Engine) -> None:
        """Cross-node events through Redis (:mod:`dsm.runtime.cluster_events`); OSError if unreachable."""
        events = RedisEvents(self.node.redis, self.node.node_id, self.log)
        events.connect()
        # session ids name their node, so a post to an ended local call never reaches
        # another node's call of the same number
        engine.id_prefix = f"{self.node.node_id}."
        for address in engine.addresses:  # system DSMs started with the configuration
            events.claim(address)
        engine.remote = events
        self.remote_events = events

        def deliver(address: str, params: dict[str, str], event_type: str) -> bool:
            s = engine.addresses.get(address)
            return s is not None and not s.ended and s.deliver(event_type, params)

        events.start(deliver)

    # -- SIP ----------------------------------------------------------------------------------
    async def _start_sip(self, engine: Engine) -> None:
        """Bind the SIP listener; bad settings raise :class:`ValueError` before anything binds."""
        from functools import partial

        from dsm.runtime.config import parse_app_mapping, select_application
        from dsm.runtime.sip.outgoing import dialout
        from dsm.runtime.sip.subscriber import SipSubscriptions

        assert self.sip is not None
        host, port = parse_hostport(self.sip)
        mapping: list[Any] = []
        if self.application == "$(mapping)":
            if not self.app_mapping:
                raise ValueError("--application '$(mapping)' needs --app-mapping FILE (app_mapping.conf)")
            mapping = parse_app_mapping(Path(self.app_mapping).read_text(encoding="utf-8"), self.app_mapping)
        setting = self.application

        def choose(request: Request) -> str:
            if setting != "$(apphdr)":  # the only setting that reads headers
                return select_application(setting, request.uri, None, mapping)
            headers = {name: value for name, value in reversed(list(request.headers))}
            return select_application(setting, request.uri, headers, mapping)

        low, high = self.rtp_ports
        limits = SipLimits.from_settings({**self._sip_conf, **self.sip_settings})
        self.sip_limits = limits
        counters = SipCounters()
        timer: TimerConfig | None = None
        if self._session_timer_settings.get("enabled"):
            try:
                timer = TimerConfig.from_settings(self._session_timer_settings)
            except ValueError as exc:  # K-24: an invalid configuration leaves timers off
                self.log("sip", "error", msg=f"session timers disabled: {exc}")
        calls = SipCalls(
            engine,
            host=host,
            choose_app=choose,
            prompts_for=self._prompts_for,
            rtp_ports=RtpPortPool(host, low, high),
            log=self.log,
            rtp_timeout=self.rtp_timeout,
            session_timer=timer,
            limits=limits,
            counters=counters,
        )

        def on_error(message: str) -> None:
            self.log("sip", "warn", msg=message)

        options = calls.core_options()
        if self.sip_timers is not None:
            options["timers"] = self.sip_timers
        on_event = calls.on_event
        if self.sbc:  # profiles may turn RFC 4028 timers on: INVITEs with Require: timer are not 420
            options["extensions"] = tuple(dict.fromkeys([*options.get("extensions", ()), "timer"]))
            self.sbc_relay = self._sbc_relay(calls, self.sbc)
            on_event = self.sbc_relay.on_event
        try:
            transport = await open_sip_transport(  # UDP and TCP on the same address (RFC 3261 18)
                host, port, on_event, on_error=on_error, tcp=True, limits=limits, **options
            )
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen for SIP on {host}:{port} (UDP and TCP): {exc.strerror or exc}") from exc
        calls.transport = transport
        if self.sbc_relay is not None:
            self.sbc_relay.attach()  # the simple relay's hook into the SIP core
        engine.dialout = partial(dialout, calls)  # dlg.dialout places real calls (M-dlg-6)
        calls.subscriptions = engine.subscriptions = SipSubscriptions(calls)  # mod_subscription
        self.sip_calls = calls
        self._sip_transport = transport
        self.sip_address = (host, transport.core.port)

    def _sbc_relay(self, calls: SipCalls, path: str) -> Any:
        """The SBC mode's relay; a broken ``sbc.conf`` raises :class:`ValueError` before SIP binds."""
        from dsm.runtime.sbc.cc_dsm import make_call_control
        from dsm.runtime.sbc.relay import SbcRelay
        from dsm.runtime.sbc.relay_store import ProfileStore

        store = ProfileStore(path)  # SbcConfigError is a ValueError
        engine = self.engine
        assert engine is not None
        factories = {"cc_dsm": make_call_control(engine), **self.sbc_call_control}
        relay = SbcRelay(calls, store, call_control=factories)
        self.log(
            "sbc", profiles=",".join(store.config.profiles) or "-",
            active_profile=",".join(store.config.active_profile), config=path,
        )  # fmt: skip
        return relay

    def _prompts_for(self, app: str) -> PromptLibrary:
        """The prompts of one application, loaded on its first call and kept.

        With a configuration file: its prompt keys (``load_prompts``, prompt
        sets), shared by every application.  Serving script folders: the
        audio files of the ``prompts/`` folder beside the application's script.
        """
        key = "" if self.config_path else app
        cached = self._prompts.get(key)
        if cached is not None:  # every call after the first: no import statements on the way
            return cached
        from dsm.runtime.harness.media import build_prompts
        from dsm.runtime.media.prompts import PromptConfigError

        library = PromptLibrary()
        problems: list[str] = []
        try:
            if self.config_path:
                assert self.engine is not None
                library.configure(self.engine.main.values)
                problems = library.messages
            else:
                source = self.library.source if self.library is not None else None
                files = source.files() if isinstance(source, DirectorySource) else []
                folder = next((f.parent for f in files if f.stem == app), None)
                if folder is not None:
                    library = build_prompts(None, folder / "prompts", None, problems)
        except (PromptConfigError, OSError, ValueError) as exc:
            problems.append(str(exc))
        for message in problems:
            self.log("prompts", "error", app=app or "-", msg=message)
        self._prompts[key] = library
        return library

    def load_prompts(self) -> None:
        """Load every application's prompts now (at start), logging each problem.

        A missing or undecodable prompt file is then reported when the server
        starts, not first when a call plays it.
        """
        self._prompts.clear()
        if self.config_path:
            self._prompts_for("")
        elif self.engine is not None:
            for app in self.engine.main.chartset.names():
                self._prompts_for(app)

    def _prompt_problems(self) -> list[tuple[str, str]]:
        """``(app, message)`` for each prompt file that would not load, from file headers only."""
        from dsm.runtime.harness.media import AUDIO_SUFFIXES
        from dsm.runtime.media.audio import audio_problem
        from dsm.runtime.media.prompts import prompt_file_problems

        if self.config_path:
            assert self.engine is not None
            return [("-", m) for m in prompt_file_problems(dict(self.engine.main.values))]
        source = self.library.source if self.library is not None else None
        out: list[tuple[str, str]] = []
        seen: set[Path] = set()
        for script in source.files() if isinstance(source, DirectorySource) else []:
            folder = script.parent / "prompts"
            if folder in seen or not folder.is_dir():
                continue
            seen.add(folder)
            for f in sorted(folder.iterdir()):
                if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file():
                    why = audio_problem(f)
                    if why is not None:
                        out.append((script.stem, f"prompt '{f.stem}': cannot load audio file '{f}': {why}"))
        return out

    def _recheck_prompts(self) -> None:
        """After a reload: check the prompt files again in a worker thread and log the problems.

        Prompts already loaded stay as they are (a reload re-reads scripts,
        not prompts, D-2); the check only makes a broken file visible.
        """
        def report(problems: list[tuple[str, str]]) -> None:
            for app, message in problems:
                self.log("prompts", "error", app=app, msg=message)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            report(self._prompt_problems())
            return
        future = loop.run_in_executor(None, self._prompt_problems)
        future.add_done_callback(lambda f: report(f.result()) if not f.exception() else None)

    # -- reload logging ------------------------------------------------------------------------
    def _reloaded(self, ok: bool, version: Any, error: ReloadFailed | None, seconds: float) -> None:
        if ok:
            warnings = self.library.warnings if self.library is not None else []
            self.log(
                "reload", ok="true", version=version.id, diagrams=len(version.names),
                warnings=len(warnings), ms=round(seconds * 1000, 2),
            )  # fmt: skip
            self.log_diagnostics(warnings)
            self._recheck_prompts()
            return
        assert error is not None
        self.log("reload", "error", ok="false", reason=error.reason, ms=round(seconds * 1000, 2))
        self.log_diagnostics(error.diagnostics)

    def log_diagnostics(self, diagnostics: Sequence[Diagnostic]) -> None:
        """One ``event=diagnostic`` line per finding: ``at=file:line:col code=… msg=…``."""
        for d in diagnostics:
            hint = {"hint": d.hint} if d.hint else {}
            self.log(
                "diagnostic", "error" if d.is_error else "warn",
                at=f"{d.path}:{d.line}:{d.column}", code=d.code, msg=d.message, **hint,
            )  # fmt: skip

    async def _watch_loop(self) -> None:
        import watchfiles

        assert self.library is not None
        paths = [p for p in self.library.source.watch_paths() if Path(p).exists()]
        if not paths:
            self.log("watch", "warn", msg="nothing to watch")
            return
        self.log("watch", paths=",".join(paths))

        def wanted(change: watchfiles.Change, path: str) -> bool:
            return path.endswith((".dsm", ".conf"))

        try:
            async for changes in watchfiles.awatch(
                *paths, watch_filter=wanted, stop_event=self.stopping, debounce=200, step=50
            ):
                files = sorted({Path(p).name for _, p in changes})
                self.log("change", files=",".join(files))
                await self._reload_off_thread()
        except Exception as exc:  # the watcher must never take the server down
            self.log("watch", "error", msg=f"watcher stopped: {exc}")

    async def _reload_off_thread(self) -> None:
        """Compile in a worker thread, swap on the loop: calls keep running meanwhile."""
        assert self.library is not None
        library = self.library
        compiled = await asyncio.to_thread(library.compile_outcome)
        with contextlib.suppress(ReloadFailed):
            library.reload(compiled)

    # -- run and stop ---------------------------------------------------------------------------
    async def run(self) -> int:
        try:
            await self.start()
        except (CompileError, OSError, ValueError) as exc:
            if isinstance(exc, CompileError):
                self.log_diagnostics(exc.diagnostics)
                errors = sum(1 for d in exc.diagnostics if d.is_error)
                message = f"the scripts or configuration have {errors} error(s), logged above"
            else:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.log("start", "error", ok="false", msg=message)
            if self._sip_transport is not None:
                self._sip_transport.close()
            return 1
        # Everything loaded so far (modules, compiled charts, prompts) lives as long as the
        # process: out of the collector's sight it no longer makes full collections long
        # enough to delay every call's RTP frames at once.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        # One loop on one core: the media clock's batched DTMF analysis (a matrix product
        # over hundreds of calls) must not wake BLAS worker threads that spin beside it.
        threadpool_limits(limits=1, user_api="blas")
        # Blocking actions run on worker threads; one that computes in Python (a py() loop)
        # holds the GIL for a whole switch interval each time: a shorter interval gives the
        # loop (SIP, RTP, timers) the GIL back sooner.  Without such a thread nothing changes.
        sys.setswitchinterval(SWITCH_INTERVAL)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signal, sig)
        await self.stopping.wait()
        await self.shutdown()
        return 0

    async def _drain_blocking(self) -> None:
        """Give blocking actions still running ``blocking_grace`` to end, then name the rest.

        A call that never returns (a ``py()`` loop) cannot be stopped in
        Python; its thread is a daemon, so it does not keep the process alive.
        """
        runner = self.runner
        if runner is None:
            return
        deadline = time.monotonic() + self.blocking_grace
        while runner.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for entry in runner.running.values():
            self.log(
                "still_running",
                "warn",
                call=entry.session,
                action=entry.action,
                loc=entry.loc,
                seconds=round(time.monotonic() - entry.started, 3),
            )
        runner.close()

    def _signal(self, sig: signal.Signals) -> None:
        self.log("signal", signal=sig.name)
        if sig == signal.SIGTERM and self.node.drain_timeout is not None and not self.draining:
            # drain mode: no ServerShutdown yet; calls finish, the drain's end sends it (docs/cluster.md)
            self.drain(self.node.drain_timeout, reason="SIGTERM")
            return
        self._system_shutdown(sig)

    def _system_shutdown(self, sig: signal.Signals) -> None:
        kind = _SYSTEM_EVENTS.get(sig)
        if kind is not None and self.engine is not None:
            # every script first gets `system` with #type (engine.md event table), then the default
            before = len(self.engine.sessions)
            reached = self.engine.system_event(kind)
            if not self.engine._busy:
                self.engine.run_pending()
            self._ended_by_system += max(0, before - len(self.engine.sessions))
            self.log("system_event", type=kind, sessions=reached)
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stopping.set()

    def stop(self) -> None:
        self.stopping.set()

    # -- drain ------------------------------------------------------------------------------------
    def calls_in_progress(self) -> int:
        """Call sessions not ended, or SIP dialogs still open (whichever is more)."""
        sessions = 0
        if self.engine is not None:
            sessions = sum(1 for s in self.engine.sessions.values() if s.kind == "call" and not s.ended)
        dialogs = len(self._sip_transport.core.calls) if self._sip_transport is not None else 0
        return max(sessions, dialogs)

    def drain(self, timeout: float, reason: str = "drain") -> dict[str, Any]:
        """Stop taking calls (503 + Retry-After), let the running ones finish, then stop.

        After ``timeout`` seconds the calls still up get ServerShutdown and the
        host's default, as on SIGTERM without drain.  A second call only reports.
        """
        if not self.draining:
            self.draining = True
            if self._sip_transport is not None:
                self._sip_transport.core.unavailable = RETRY_AFTER
            self.log("drain", reason=reason, timeout=timeout, calls=self.calls_in_progress())
            self._drain_task = asyncio.get_running_loop().create_task(self._drain_loop(timeout))
        return {"node": self.node.node_id, "draining": True, "calls": self.calls_in_progress()}

    def _rpc_drain(self, params: Any) -> dict[str, Any]:
        timeout = param(params, 0, "timeout", None)
        if timeout is None:
            timeout = self.node.drain_timeout if self.node.drain_timeout is not None else DEFAULT_DRAIN_TIMEOUT
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 86400:
            raise RpcError(INVALID_PARAMS, "timeout must be a number of seconds from 0 to 86400")
        return self.drain(float(timeout), reason="control")

    async def _drain_loop(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.calls_in_progress() > 0 and loop.time() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
        left = self.calls_in_progress()
        self.log("drained", calls_left=left)
        if left:
            self._system_shutdown(signal.SIGTERM)
        self.stopping.set()

    async def shutdown(self) -> None:
        self.stopping.set()
        if self.control_server is not None:
            await self.control_server.close()
        if self.token_path is not None and self.token:
            remove_token(self.token_path, self.token)
            self.token_path = None
        if self._drain_task is not None and not self._drain_task.done():
            self._drain_task.cancel()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        if self.remote_events is not None:
            await self.remote_events.close()
        ended = self._ended_by_system  # calls the ServerShutdown default already ended
        if self.engine is not None:
            for s in list(self.engine.sessions.values()):
                self.engine.end_session(s)
                ended += 1
        await self._drain_blocking()
        if self.sbc_relay is not None:
            self.sbc_relay.close_all()
        if self.sip_calls is not None:
            self.sip_calls.close_all()
        if self._sip_transport is not None:
            self._sip_transport.close()
        self.log("stopped", sessions_ended=ended)


_DRAINING_METRIC = (
    "# HELP dsm_node_draining 1 while the node drains (503 to new calls), else 0.\n"
    "# TYPE dsm_node_draining gauge\ndsm_node_draining {}\n"
)

_SYSTEM_EVENTS = {
    signal.SIGTERM: "ServerShutdown",
    signal.SIGINT: "ServerShutdown",
    signal.SIGUSR1: "User1",
    signal.SIGUSR2: "User2",
}
"""Signals that reach the scripts as the ``system`` event (C-core-30)."""


def serve_main(
    config: str | None,
    scripts: Sequence[str],
    control: str,
    token: str | None,
    watch: bool,
    log_level: str = "info",
    item_seconds: float = 1.0,
    *,
    token_file: str | None = None,
    control_hosts: Sequence[str] = (),
    sip: str | None = None,
    application: str = DEFAULT_APPLICATION,
    app_mapping: str | None = None,
    rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
    rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
    sip_settings: Mapping[str, str] | None = None,
    blocking_grace: float = DEFAULT_BLOCKING_GRACE,
    blocking_workers: int | None = None,
    blocking_lane_workers: int | None = None,
    node_id: str | None = None,
    drain_timeout: float | None = None,
    cluster_redis: str | None = None,
    sbc: str | None = None,
) -> int:
    """Run a server until SIGTERM/SIGINT (or the end of a drain); the exit code."""
    log = StructuredLog(level=log_level)
    logging.getLogger().addHandler(LoggingBridge(log))
    server = Server(
        config=config,
        scripts=scripts,
        control=control,
        token=token,
        token_file=token_file,
        control_hosts=control_hosts,
        watch=watch,
        log=log,
        item_seconds=item_seconds,
        sip=sip,
        application=application,
        app_mapping=app_mapping,
        rtp_ports=rtp_ports,
        rtp_timeout=rtp_timeout,
        sip_settings=sip_settings,
        blocking_grace=blocking_grace,
        blocking_workers=blocking_workers,
        blocking_lane_workers=blocking_lane_workers,
        node_id=node_id,
        drain_timeout=drain_timeout,
        cluster_redis=cluster_redis,
        sbc=sbc,
    )
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(server.run())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (cheaper timers and callbacks), else the standard one.

    ``DSM_EVENT_LOOP=asyncio`` keeps the standard loop even with uvloop installed.
    """
    if os.environ.get("DSM_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        return None
    return uvloop.new_event_loop
