"""``dsm serve``: the engine on the asyncio clock, its scripts, and the control endpoint.

::

    dsm serve [--config dsm.conf | --scripts DIR …] [--control 127.0.0.1:5040]
              [--control-token T] [--watch] [--log-level info]

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

Until SIP exists calls are started over the control endpoint
(``startCall``) with a headless simulated call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from dsm.diagnostics import CompileError, render
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.control.http_server import ControlServer, parse_hostport
from dsm.runtime.control.methods import ControlAPI
from dsm.runtime.control.metrics import render_metrics
from dsm.runtime.control.observer import Observer
from dsm.runtime.engine import Engine
from dsm.runtime.management import install_component
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_ERROR, LEVEL_INFO, LEVEL_WARN, Session
from dsm.runtime.versions import (
    ChartLibrary,
    ConfigSource,
    DirectorySource,
    ReloadFailed,
    ScriptSource,
)

__all__ = ["Server", "StructuredLog", "find_examples", "DEFAULT_CONFIG", "serve_main"]

DEFAULT_CONFIG: dict[str, str] = {"set_param_variables": "no"}
"""Configuration values of the embedded default (``$config.<key>`` for scripts)."""

_LEVELS = {"error": LEVEL_ERROR, "warn": LEVEL_WARN, "info": LEVEL_INFO, "debug": LEVEL_DEBUG}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}


def find_examples() -> Path | None:
    """``./examples`` if present, else the ``examples/`` folder of the source tree."""
    for candidate in (Path.cwd() / "examples", Path(__file__).resolve().parent.parent / "examples"):
        if candidate.is_dir():
            return candidate
    return None


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
    ) -> None:
        self.config_path = config
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

    def _load(self, engine: Engine) -> ChartLibrary:
        source = self._source()
        library = ChartLibrary(engine, source)
        if isinstance(source, ConfigSource):
            from dsm.runtime.config import install, load_config

            cfg = load_config(source.path)
            install(engine, cfg)
            library.adopt()
        else:
            engine.configs["main"].values.update(DEFAULT_CONFIG)
            library.reload()
            library.reloads = library.failed_reloads = 0  # the start-up load is no reload
        library.listeners.append(self._reloaded)
        return library

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        engine = Engine(AsyncioClock(loop))
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
        library = self._load(engine)
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
            lambda: render_metrics(engine, observer, library, time.monotonic() - self._started),
            self.token,
        )
        self.address = await self.control_server.start(host, port)
        current = library.current
        self.log(
            "listening",
            control=f"{self.address[0]}:{self.address[1]}",
            source=library.source.describe(),
            version=current.id if current else "-",
            diagrams=",".join(engine.main.chartset.names()),
            token="yes" if self.token else "no",
            watch="yes" if self.watch else "no",
        )
        if self.watch:
            self._watch_task = asyncio.create_task(self._watch_loop())
        return self.address

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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signal, sig)
        await self.stopping.wait()
        await self.shutdown()
        return 0

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
        self.log("stopped", sessions_ended=ended)


def serve_main(
    config: str | None,
    scripts: Sequence[str],
    control: str,
    token: str | None,
    watch: bool,
    log_level: str = "info",
    item_seconds: float = 1.0,
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
    )
    return asyncio.run(server.run())
