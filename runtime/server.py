"""``dsm serve``: the engine on the asyncio clock, its scripts, and the control endpoint.

::

    dsm serve [--config dsm.conf | --scripts DIR …] [--control 127.0.0.1:5040]
              [--control-token T] [--watch] [--log-level info]
              [--sip 127.0.0.1:5070 [--application VALUE] [--rtp-ports LOW-HIGH]
                                    [--rtp-timeout SECONDS]]

* Without ``--config`` and ``--scripts`` the ``examples/`` directory is
  served with an embedded default configuration: every script of it (and
  of its sub-folders) is a diagram of the main collection and an
  application named after it.
* The control endpoint (JSON-RPC 2.0 at ``/``, Prometheus at ``/metrics``)
  binds to loopback only unless ``--control-token`` is given; port ``0``
  picks a free port, reported in the ``event=listening`` log line.
* ``--watch`` reloads when a ``.dsm`` or ``.conf`` file under the script
  folders changes, with the rule of :mod:`dsm.runtime.versions`: all
  compile, or nothing changes — a failed reload is logged with its
  diagnostics and the old collection keeps serving.
* Logs are one line per event, ``key=value`` pairs (values with blanks
  quoted), on stderr: ``ts=… level=info event=reload ok=true version=…``.
* SIGTERM or SIGINT: stop accepting requests, end every session (calls
  get ``BeforeDestroy``), log ``event=stopped`` and exit 0.

With ``--sip HOST:PORT`` the server also answers real calls over UDP and TCP
(``docs/sip.md``, "Serving calls"): the application of a new INVITE is
chosen as ``--application`` says (AS-1, default ``$(ruri.user)``; an empty
or unknown name is refused with ``500 Server Internal Error``), prompts come
from the configuration's prompt keys or, when serving script folders, from
the ``prompts/`` folder beside each script, and every call gets one RTP
socket from ``--rtp-ports``.  Without ``--sip`` calls are started over the
control endpoint (``startCall``) with a headless simulated call.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from threadpoolctl import threadpool_limits

from dsm.diagnostics import CompileError, render
from dsm.runtime.blocking import DEFAULT_SLOW_SECONDS, DEFAULT_WORKERS, PoolRunner
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.config import DSMConfig, install, load_config
from dsm.runtime.control.http_server import ControlServer, parse_hostport
from dsm.runtime.control.methods import ControlAPI
from dsm.runtime.control.metrics import render_metrics
from dsm.runtime.control.observer import Observer
from dsm.runtime.engine import Engine
from dsm.runtime.management import install_component
from dsm.runtime.media.prompts import PromptLibrary
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_ERROR, LEVEL_INFO, LEVEL_WARN, Session
from dsm.runtime.sip.message import Request
from dsm.runtime.sip.rtp_session import DEFAULT_RTP_TIMEOUT, RtpPortPool
from dsm.runtime.sip.session_timer import TimerConfig
from dsm.runtime.sip.sipcall import SipCalls
from dsm.runtime.sip.transport import SipTransport, open_sip_transport
from dsm.runtime.versions import (
    ChartLibrary,
    ConfigSource,
    DirectorySource,
    ReloadFailed,
    ScriptSource,
)

__all__ = ["Server", "StructuredLog", "find_examples", "DEFAULT_CONFIG", "serve_main"]

DEFAULT_CONFIG: dict[str, str] = {"set_param_variables": "no"}
DEFAULT_APPLICATION = "$(ruri.user)"
"""AS-1 application selection used when ``--application`` is not given."""
DEFAULT_RTP_PORTS = (10000, 19999)
SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits (Python's default: 0.005)."""
DEFAULT_DRAIN_SECONDS = 5.0
"""How long a stopping server waits for blocking actions still running on its pool."""
"""Configuration values of the embedded default (``$config.<key>`` for scripts)."""

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
    """``key=value`` log lines, one per event, greppable (``grep event=reload``)."""

    def __init__(self, out: TextIO | None = None, level: str = "info") -> None:
        self.out = out or sys.stderr
        self.level = _LEVELS.get(level, LEVEL_INFO)

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        if _LEVELS.get(level, LEVEL_INFO) > self.level:
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [f"ts={ts}", f"level={level}", f"event={event}"]
        parts.extend(f"{k}={_fmt(v)}" for k, v in fields.items())
        try:
            self.out.write(" ".join(parts) + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def session_sink(self, session: Session | None, level: int, message: str) -> None:
        """The engine's log sink: script and engine messages as ``event=session`` lines."""
        self(
            "session",
            _LEVEL_NAMES.get(level, "debug"),
            session=session.id if session is not None else "-",
            msg=message.rstrip("\n"),
        )


class Server:
    """One serving process: engine, library, control endpoint, optional watcher."""

    def __init__(
        self,
        *,
        config: str | None = None,
        scripts: Sequence[str] = (),
        control: str = "127.0.0.1:5040",
        token: str | None = None,
        watch: bool = False,
        log: StructuredLog | None = None,
        item_seconds: float = 1.0,
        sip: str | None = None,
        application: str = DEFAULT_APPLICATION,
        app_mapping: str | None = None,
        rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
        rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
        drain_seconds: float = DEFAULT_DRAIN_SECONDS,
        blocking_workers: int | None = None,
    ) -> None:
        self.config_path = config
        self.blocking_workers = blocking_workers
        self.drain_seconds = drain_seconds
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
        self.watch = watch
        self.log = log or StructuredLog()
        self.item_seconds = item_seconds
        self.stopping = asyncio.Event()
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
        return DirectorySource(folders)

    def _load(self, engine: Engine, source: ScriptSource, cfg: DSMConfig | None) -> ChartLibrary:
        library = ChartLibrary(engine, source)
        if cfg is not None:
            self._session_timer_settings = cfg.session_timer
            install(engine, cfg)
            library.adopt()
        else:
            engine.configs["main"].values.update(DEFAULT_CONFIG)
            library.reload()
            library.reloads = library.failed_reloads = 0  # the start-up load is no reload
        library.listeners.append(self._reloaded)
        return library

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
            log=self.log,
        )
        self.runner = runner
        engine = Engine(AsyncioClock(loop), runner=runner, config=cfg)
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
        component = install_component(engine, library)
        self.api = ControlAPI(engine, library, component, observer, item_seconds=self.item_seconds)
        host, port = parse_hostport(self.control)
        dispatcher = self.api.dispatcher()
        for name, fn in self.api.offloaded_reloads(
            lambda: asyncio.to_thread(library.compile_outcome)
        ).items():
            dispatcher.add(name, fn)
        self.control_server = ControlServer(
            dispatcher,
            lambda: render_metrics(
                engine,
                observer,
                library,
                time.monotonic() - self._started,
                sip=self.sip_calls,
                blocking=runner,
            ),
            self.token,
        )
        if self.sip:
            await self._start_sip(engine)
        self.address = await self.control_server.start(host, port)
        current = library.current
        sip_fields = {"sip": f"{self.sip_address[0]}:{self.sip_address[1]}"} if self.sip_address else {}
        self.log(
            "listening",
            control=f"{self.address[0]}:{self.address[1]}",
            **sip_fields,
            source=library.source.describe(),
            version=current.id if current else "-",
            diagrams=",".join(engine.main.chartset.names()),
            token="yes" if self.token else "no",
            watch="yes" if self.watch else "no",
        )
        if self.watch:
            self._watch_task = asyncio.create_task(self._watch_loop())
        return self.address

    # -- SIP ----------------------------------------------------------------------------------
    async def _start_sip(self, engine: Engine) -> None:
        """Bind the SIP listener; bad settings raise :class:`ValueError` before anything binds."""
        from functools import partial

        from dsm.runtime.config import parse_app_mapping, select_application
        from dsm.runtime.sip.outgoing import dialout

        assert self.sip is not None
        host, port = parse_hostport(self.sip)
        mapping: list[Any] = []
        if self.application == "$(mapping)":
            if not self.app_mapping:
                raise ValueError("--application '$(mapping)' needs --app-mapping FILE (app_mapping.conf)")
            mapping = parse_app_mapping(Path(self.app_mapping).read_text(encoding="utf-8"), self.app_mapping)
        setting = self.application

        def choose(request: Request) -> str:
            headers = {name: value for name, value in reversed(list(request.headers))}
            return select_application(setting, request.uri, headers, mapping)

        low, high = self.rtp_ports
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
        )

        def on_error(message: str) -> None:
            self.log("sip", "warn", msg=message)

        transport = await open_sip_transport(  # UDP and TCP on the same address (RFC 3261 18)
            host, port, calls.on_event, on_error=on_error, tcp=True, **calls.core_options()
        )
        calls.transport = transport
        engine.dialout = partial(dialout, calls)  # dlg.dialout places real calls (M-dlg-6)
        self.sip_calls = calls
        self._sip_transport = transport
        self.sip_address = (host, transport.core.port)

    def _prompts_for(self, app: str) -> PromptLibrary:
        """The prompts of one application, loaded on its first call and kept.

        With a configuration file: its prompt keys (``load_prompts``, prompt
        sets), shared by every application.  Serving script folders: the
        audio files of the ``prompts/`` folder beside the application's script.
        """
        from dsm.runtime.harness.media import build_prompts
        from dsm.runtime.media.prompts import PromptConfigError

        key = "" if self.config_path else app
        cached = self._prompts.get(key)
        if cached is not None:
            return cached
        library = PromptLibrary()
        try:
            if self.config_path:
                assert self.engine is not None
                library.configure(self.engine.main.values)
            else:
                source = self.library.source if self.library is not None else None
                files = source.files() if isinstance(source, DirectorySource) else []
                folder = next((f.parent for f in files if f.stem == app), None)
                if folder is not None:
                    library = build_prompts(None, folder / "prompts", None)
        except (PromptConfigError, OSError, ValueError) as exc:
            self.log("prompts", "error", app=app, msg=str(exc))
        self._prompts[key] = library
        return library

    # -- reload logging ------------------------------------------------------------------------
    def _reloaded(self, ok: bool, version: Any, error: ReloadFailed | None, seconds: float) -> None:
        if ok:
            self.log(
                "reload", ok="true", version=version.id, diagrams=len(version.names), ms=round(seconds * 1000, 2)
            )
            return
        assert error is not None
        self.log("reload", "error", ok="false", reason=error.reason, ms=round(seconds * 1000, 2))
        for d in error.diagnostics:
            self.log("diagnostic", "error", text=render(d))

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
                for d in exc.diagnostics:
                    self.log("diagnostic", "error", text=render(d))
            self.log("start", "error", ok="false", msg=str(exc))
            return 1
        # Everything loaded so far (modules, compiled charts, prompts) lives as long as the
        # process: out of the collector's sight it no longer makes full collections long
        # enough to delay every call's RTP frames at once.
        gc.collect()
        gc.freeze()
        # One loop on one core: the media clock's batched DTMF analysis (a matrix product
        # over hundreds of calls) must not wake BLAS worker threads that spin beside it.
        threadpool_limits(limits=1, user_api="blas")
        # Blocking actions run on worker threads; one that computes in Python (a py() loop)
        # holds the GIL for a whole switch interval each time: a shorter interval gives the
        # loop (SIP, RTP, timers) the GIL back sooner.  Without such a thread nothing changes.
        sys.setswitchinterval(SWITCH_INTERVAL)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signal, sig)
        await self.stopping.wait()
        await self.shutdown()
        return 0

    async def _drain_blocking(self) -> None:
        """Give blocking actions still running ``drain_seconds`` to end, then name the rest.

        A call that never returns (a ``py()`` loop) cannot be stopped in
        Python; its thread is a daemon, so it does not keep the process alive.
        """
        runner = self.runner
        if runner is None:
            return
        deadline = time.monotonic() + self.drain_seconds
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
        self.stopping.set()

    def stop(self) -> None:
        self.stopping.set()

    async def shutdown(self) -> None:
        self.stopping.set()
        if self.control_server is not None:
            await self.control_server.close()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        ended = 0
        if self.engine is not None:
            for s in list(self.engine.sessions.values()):
                self.engine.end_session(s)
                ended += 1
        await self._drain_blocking()
        if self.sip_calls is not None:
            self.sip_calls.close_all()
        if self._sip_transport is not None:
            self._sip_transport.close()
        self.log("stopped", sessions_ended=ended)


def serve_main(
    config: str | None,
    scripts: Sequence[str],
    control: str,
    token: str | None,
    watch: bool,
    log_level: str = "info",
    item_seconds: float = 1.0,
    *,
    sip: str | None = None,
    application: str = DEFAULT_APPLICATION,
    app_mapping: str | None = None,
    rtp_ports: tuple[int, int] = DEFAULT_RTP_PORTS,
    rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
    drain_seconds: float = DEFAULT_DRAIN_SECONDS,
    blocking_workers: int | None = None,
) -> int:
    """Run a server until SIGTERM/SIGINT; the exit code."""
    server = Server(
        config=config,
        scripts=scripts,
        control=control,
        token=token,
        watch=watch,
        log=StructuredLog(level=log_level),
        item_seconds=item_seconds,
        sip=sip,
        application=application,
        app_mapping=app_mapping,
        rtp_ports=rtp_ports,
        rtp_timeout=rtp_timeout,
        drain_seconds=drain_seconds,
        blocking_workers=blocking_workers,
    )
    return asyncio.run(server.run())
