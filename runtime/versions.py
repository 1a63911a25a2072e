"""Versioned chart collections: compile everything, then swap atomically (E-14, D-2 … D-4).

Operators change scripts while calls are up.  The rule kept here:

* a *version* is one loaded main collection, identified by the content
  digest of its charts (:attr:`dsm.runtime.engine.ChartSet.digest`), so the
  same scripts always give the same version id;
* a reload first compiles **every** script of the source; only when all of
  them compile (and ``register_apps`` still names loaded diagrams) is the
  new collection handed to :meth:`Engine.load`, in one synchronous step on
  the thread that runs the engine — no event is processed half-way through;
* a broken script raises :class:`ReloadFailed` with its diagnostics and the
  reference's result text; the running collection stays untouched;
* calls keep the :class:`ChartSet` they were created with (the engine gives
  every session its own reference), including for ``jumpFSM``/``callFSM``
  into other diagrams of that version; only calls created afterwards get
  the new one.

Sources say where scripts come from: :class:`DirectorySource` (every
``*.dsm`` of some folders, named by file stem — used without a ``dsm.conf``)
and :class:`ConfigSource` (a ``dsm.conf``; as D-2 only ``diag_path``,
``mod_path`` and ``load_diags`` are re-read).

Nothing here touches system DSMs: D-2 does not restart them; live bundle
loads (D-10) start new ones with ``Reload`` in :mod:`dsm.runtime.management`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import dsm
from dsm.diagnostics import CompileError, Diagnostic

if TYPE_CHECKING:
    from dsm.chart import Chart
    from dsm.runtime.engine import ChartSet, Engine
    from dsm.runtime.session import Session

__all__ = [
    "Compiled",
    "ConfigSource",
    "DirectorySource",
    "ReloadFailed",
    "ScriptSource",
    "Version",
    "ChartLibrary",
    "short",
    "warnings_of",
]


def short(digest: str) -> str:
    """The 12-character form of a version digest shown to operators."""
    return digest[:12]


def warnings_of(chartset: ChartSet) -> list[Diagnostic]:
    """The warnings of a loaded collection's charts, each once, in file and line order.

    A script that compiles with warnings still loads; the server logs them and
    ``reload`` returns them, so that a warning is never silent.
    """
    found: dict[tuple[str, int, int, str], Diagnostic] = {}
    for x in chartset.diagrams.values():
        for w in x.chart.warnings:
            if isinstance(w, Diagnostic):
                found.setdefault((w.path, w.line, w.column, w.code), w)
    return [found[k] for k in sorted(found)]


class ReloadFailed(CompileError):
    """A reload or load was refused; ``reason`` is the reference's result text (D-2, D-3)."""

    def __init__(self, reason: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        diags = list(diagnostics) or [Diagnostic("<reload>", 1, 1, "error", "D-2", reason)]
        super().__init__(diags)
        self.reason = reason


@dataclass
class Compiled:
    """A fully compiled collection, not yet installed."""

    charts: dict[str, Chart]
    mod_path: list[str] = field(default_factory=list)
    register_apps: list[str] | None = None
    """``None``: keep the applications registered at start-up (D-2)."""
    files: list[str] = field(default_factory=list)


class ScriptSource(Protocol):
    """Where a main collection comes from; :meth:`compile` raises :class:`ReloadFailed`."""

    def compile(self) -> Compiled: ...

    def describe(self) -> str: ...

    def watch_paths(self) -> list[str]: ...

    def diag_path(self) -> tuple[str, list[str]]:
        """``(diag_path, mod_path)`` for ``loadDSM`` (D-3)."""
        ...


def _compile_one(path: str, name: str, include: Sequence[str], mod_path: Sequence[str]) -> Chart:
    """Compile one script; an unreadable file becomes a diagnostic, not an ``OSError``."""
    try:
        return dsm.compile_file(path, include, name=name, module_path=mod_path)
    except OSError as exc:
        raise CompileError(
            [Diagnostic(path, 1, 1, "error", "L-1", f"cannot read script: {exc.strerror or exc}")]
        ) from exc


class DirectorySource:
    """Every ``*.dsm`` of the given folders (and of their direct sub-folders), named by stem.

    Sub-folders are included so that a folder of examples, one application
    per sub-folder, is one collection.  Two scripts with the same stem are an
    error: the diagram lookup of E-6 could only ever reach the first.
    """

    def __init__(self, folders: Sequence[str | Path], mod_path: Sequence[str] = ()) -> None:
        self.folders = [Path(f) for f in folders]
        self.mod_path = list(mod_path)

    def files(self) -> list[Path]:
        out: list[Path] = []
        for folder in self.folders:
            if folder.is_file():
                out.append(folder)
                continue
            out.extend(sorted(folder.glob("*.dsm")))
            out.extend(sorted(folder.glob("*/*.dsm")))
        return out

    def compile(self) -> Compiled:
        files = self.files()
        if not files:
            raise ReloadFailed(f"no *.dsm scripts in {', '.join(map(str, self.folders))}")
        charts: dict[str, Chart] = {}
        diags: list[Diagnostic] = []
        failed: list[str] = []
        for f in files:
            if f.stem in charts:
                diags.append(
                    Diagnostic(str(f), 1, 1, "error", "E-6", f"diagram '{f.stem}' is defined twice")
                )
                continue
            try:
                charts[f.stem] = _compile_one(str(f), f.stem, [str(f.parent)], self.mod_path)
            except CompileError as exc:
                diags.extend(exc.diagnostics)
                failed.append(f"{f.stem} from {f}")
        if diags:
            what = failed[0] if failed else "scripts"
            raise ReloadFailed(f"loading {what}", diags)
        return Compiled(charts, list(self.mod_path), sorted(charts), [str(f) for f in files])

    def describe(self) -> str:
        return ",".join(str(f) for f in self.folders)

    def watch_paths(self) -> list[str]:
        return [str(f) for f in self.folders]

    def diag_path(self) -> tuple[str, list[str]]:
        first = self.folders[0] if self.folders else Path(".")
        return str(first) + "/", list(self.mod_path)


class NoSource:
    """The source of an engine loaded by hand (``Engine.load``): nothing to re-read."""

    def compile(self) -> Compiled:
        raise ReloadFailed("loading config file <none>")

    def describe(self) -> str:
        return "-"

    def watch_paths(self) -> list[str]:
        return []

    def diag_path(self) -> tuple[str, list[str]]:
        return "", []


class ConfigSource:
    """A ``dsm.conf``; a reload re-reads only ``diag_path``, ``mod_path``, ``load_diags`` (D-2)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def _read(self) -> tuple[str, list[str], list[str]]:
        from dsm.runtime.config import read_conf

        conf = read_conf(self.path)
        errors = [d for d in conf.diagnostics if d.is_error]
        if errors:
            raise ReloadFailed(f"loading config file {self.path}", errors)
        diag_path = conf.get("diag_path")
        if diag_path and not diag_path.endswith("/"):
            diag_path += "/"
        mod = conf.get("mod_path")
        return diag_path, [mod] if mod else [], conf.items("load_diags")

    def compile(self) -> Compiled:
        diag_path, mod_path, names = self._read()
        charts: dict[str, Chart] = {}
        files: list[str] = []
        for name in names:
            path = f"{diag_path}{name}.dsm"
            try:
                charts[name] = _compile_one(path, name, [diag_path] if diag_path else [], mod_path)
            except CompileError as exc:
                raise ReloadFailed(f"loading {name} from {path}", exc.diagnostics) from exc
            files.append(path)
        return Compiled(charts, mod_path, None, files)

    def describe(self) -> str:
        return self.path

    def watch_paths(self) -> list[str]:
        try:
            diag_path, _, _ = self._read()
        except ReloadFailed:
            diag_path = ""
        paths = [self.path]
        if diag_path and Path(diag_path).is_dir():
            paths.append(diag_path)
        return paths

    def diag_path(self) -> tuple[str, list[str]]:
        diag_path, mod_path, _ = self._read()
        return diag_path, mod_path


@dataclass(frozen=True)
class Version:
    """One installed main collection."""

    digest: str
    names: tuple[str, ...]
    loaded_at: float
    files: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return short(self.digest)


def _digest_of(charts: dict[str, Chart]) -> str:
    """The digest :class:`ChartSet` would give these charts (same recipe, without binding)."""
    h = hashlib.sha256()
    seen: set[str] = set()
    for name, chart in charts.items():
        if name in seen:
            continue
        seen.add(name)
        h.update(name.encode("utf-8", "surrogateescape") + b"\0")
        h.update(chart.digest.encode() + b"\0")
    return h.hexdigest()


class ChartLibrary:
    """The engine's main collection under version control.

    ``history`` keeps every version installed since start, newest last;
    ``reloads`` / ``failed_reloads`` count attempts for the metrics.
    ``listeners`` are called with ``(ok, version_or_None, error_or_None,
    seconds)`` after every attempt, so the server can log and count.
    """

    def __init__(
        self,
        engine: Engine,
        source: ScriptSource,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.source = source
        self.wall_clock = wall_clock
        self.history: list[Version] = []
        self.reloads = 0
        self.failed_reloads = 0
        self.listeners: list[Callable[[bool, Version | None, ReloadFailed | None, float], None]] = []

    # -- queries --------------------------------------------------------------
    @property
    def current(self) -> Version | None:
        return self.history[-1] if self.history else None

    def version_of(self, chartset: ChartSet) -> str:
        return short(chartset.digest)

    def session_version(self, session: Session) -> str:
        return short(session.chartset.digest)

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings of the collection being served (see :func:`warnings_of`)."""
        return warnings_of(self.engine.main.chartset)

    # -- changes ----------------------------------------------------------------
    def adopt(self, files: Sequence[str] = ()) -> Version:
        """Record the collection the engine already runs (loaded at start-up) as a version."""
        cs = self.engine.main.chartset
        version = Version(cs.digest, tuple(cs.names()), self.wall_clock(), tuple(files))
        self.history.append(version)
        return version

    def compile_outcome(self) -> Compiled | ReloadFailed:
        """``source.compile()`` with the failure as a value: safe to run in a worker thread."""
        try:
            return self.source.compile()
        except ReloadFailed as exc:
            return exc
        except CompileError as exc:
            return ReloadFailed("loading scripts", exc.diagnostics)

    def reload(self, compiled: Compiled | ReloadFailed | None = None) -> Version:
        """Compile the whole source; install it only if all of it compiled (D-2).

        ``compiled`` is an outcome of :meth:`compile_outcome` obtained
        elsewhere (the server compiles in a worker thread so that only the
        swap runs on the engine's thread).
        """
        started = time.perf_counter()
        try:
            if compiled is None:
                compiled = self.source.compile()
            if isinstance(compiled, ReloadFailed):
                raise compiled
            version = self.install(compiled)
        except ReloadFailed as exc:
            self.report(False, None, exc, started)
            raise
        except CompileError as exc:
            failed = ReloadFailed("loading scripts", exc.diagnostics)
            self.report(False, None, failed, started)
            raise failed from exc
        self.report(True, version, None, started)
        return version

    def add(self, name: str, path: str, mod_path: Sequence[str]) -> Version:
        """Add one diagram to the current collection (D-3, D-4); the rest stays as it is."""
        main = self.engine.main.chartset
        if name in main:
            raise ReloadFailed(f"DSM named '{name}' already loaded (use reloadDSMs to reload all)")
        try:
            chart = _compile_one(path, name, [str(Path(path).parent)], mod_path)
        except CompileError as exc:
            raise ReloadFailed(f"error loading {name} from {path}", exc.diagnostics) from exc
        charts = {n: x.chart for n, x in main.diagrams.items()}
        charts[name] = chart
        apps = list(self.engine.main.register_apps)
        return self.install(Compiled(charts, list(mod_path), apps + [name]))

    def install(self, compiled: Compiled) -> Version:
        """Swap the main collection in one step; validation happens before anything changes."""
        engine = self.engine
        old = engine.main
        if compiled.register_apps is None:
            apps = [a for a in old.register_apps if a in compiled.charts]
        else:
            apps = list(compiled.register_apps)
        missing = [a for a in apps if a not in compiled.charts]
        if missing:
            raise ReloadFailed(f"register_apps: '{missing[0]}' is not a loaded diagram")
        current = self.current
        if current is not None and current.digest == old.chartset.digest:
            probe = _digest_of(compiled.charts)
            if probe == current.digest and apps == list(old.register_apps):
                return current  # same content: keep the running version, nothing to swap
        cs = engine.load(
            compiled.charts, "main", register_apps=apps, mod_path=compiled.mod_path or None
        )
        new = engine.main
        # Application names of diagrams that left the collection still point at
        # the old configuration object; make them follow the new one so that
        # new calls never start on a superseded version.
        for app, cfg in list(engine.apps.items()):
            if cfg is old:
                engine.apps[app] = new
        version = Version(
            cs.digest, tuple(cs.names()), self.wall_clock(), tuple(compiled.files)
        )
        self.history.append(version)
        return version

    def report(
        self, ok: bool, version: Version | None, error: ReloadFailed | None, started: float
    ) -> None:
        """Count one attempt and tell the listeners (also used for off-thread compiles)."""
        self.reloads += 1
        if not ok:
            self.failed_reloads += 1
        elapsed = time.perf_counter() - started
        for listener in list(self.listeners):
            listener(ok, version, error, elapsed)
