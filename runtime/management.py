"""The DSM component's management functions (``config.md`` section 4, D-1 … D-14).

:class:`DSMComponent` is registered in the engine's component registry under
the name ``dsm`` (``engine.di["dsm"]``), so scripts reach it with
``DI(dsm, reloadDSMs)`` (A-core-76) and the control endpoint calls the very
same :meth:`DSMComponent.invoke`.  Names, arguments and results are the
reference's: most functions return ``[code, text]``; ``hasDSM`` returns
``["1"]``/``["0"]`` and ``listDSMs`` a list of names.

Failures follow the :class:`~dsm.runtime.engine.DIComponent` contract and
D-13/D-14: an unknown function raises :class:`NotImplementedError`, a missing
checked argument :class:`IndexError` (out of bounds), a mistyped one
:class:`TypeError` (type mismatch).  Only the *leading* arguments are
checked; extra ones are ignored.

:class:`Operations` adds what operators expect and the reference lacks:
the calls with their diagram, state, version and age, and one call's
variables (secrets masked, :mod:`dsm.runtime.redact`) and recent transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dsm.diagnostics import Diagnostic, render_json
from dsm.runtime.engine import DIComponent
from dsm.runtime.errors import DSMException
from dsm.runtime.events import RELOAD
from dsm.runtime.redact import MASK, is_secret, redact_text, redact_vars, secret_values
from dsm.runtime.versions import ChartLibrary, Compiled, ReloadFailed, Version, short

if TYPE_CHECKING:
    from dsm.runtime.control.observer import Observer
    from dsm.runtime.engine import AppConfig, ChartSet, Engine
    from dsm.runtime.session import Session

__all__ = ["DSMComponent", "Operations", "FUNCTIONS", "bundle_name_of", "install_component"]

FUNCTIONS: tuple[str, ...] = (
    "postDSMEvent",
    "reloadDSMs",
    "loadDSM",
    "loadDSMWithPaths",  # sic: D-4 / D-12 REFERENCE QUIRK
    "preloadModules",
    "preloadModule",
    "loadConfig",
    "hasDSM",
    "listDSMs",
    "registerApplication",
    "createSystemDSM",
)
"""D-12: what ``_list`` advertises, in the reference's order."""

Result = list[Any]


def _string(args: list[Any], i: int) -> str:
    """A checked string argument (D-14): missing → out of bounds, other type → type mismatch."""
    if i >= len(args):
        raise IndexError(i)
    v = args[i]
    if not isinstance(v, str):
        raise TypeError(f"argument {i} must be a string")
    return v


def _optional_string(args: list[Any], i: int) -> str | None:
    """D-7/D-8: an absent or non-string optional argument means "main"."""
    if i < len(args) and isinstance(args[i], str):
        return args[i]
    return None


def bundle_name_of(conf_file_name: str) -> str:
    """D-10 REFERENCE QUIRK: cut the last five characters, whatever they are (kept if shorter)."""
    return conf_file_name[:-5] if len(conf_file_name) >= 5 else conf_file_name


class DSMComponent(DIComponent):
    """D-1 … D-14 on an engine whose main collection a :class:`ChartLibrary` manages.

    ``last_diagnostics`` holds the diagnostics of the most recent load or
    reload (the errors of a failed one, the warnings of a successful one), so
    that operator tools can show *why* beyond the reference's one-line result.
    """

    def __init__(self, engine: Engine, library: ChartLibrary) -> None:
        self.engine = engine
        self.library = library
        self.last_diagnostics: list[Diagnostic] = []
        self._table: dict[str, Callable[[list[Any]], Any]] = {
            "postDSMEvent": self.post_dsm_event,
            "reloadDSMs": self.reload_dsms,
            "loadDSM": self.load_dsm,
            "loadDSMWithPath": self.load_dsm_with_path,
            "preloadModules": self.preload_modules,
            "preloadModule": self.preload_module,
            "hasDSM": self.has_dsm,
            "listDSMs": self.list_dsms,
            "registerApplication": self.register_application,
            "loadConfig": self.load_config,
            "createSystemDSM": self.create_system_dsm,
            "_list": lambda args: list(FUNCTIONS),
        }

    def offload(
        self, function: str, args: list[Any]
    ) -> tuple[Callable[[], Any], Callable[[Any], Any]] | None:
        """``reloadDSMs`` reads and compiles every script: that part runs off the loop."""
        if function == "reloadDSMs":
            return self.library.compile_outcome, lambda compiled: self.reload_dsms([], compiled)
        return None

    def invoke(self, function: str, args: list[Any]) -> Any:
        fn = self._table.get(function)
        if fn is None:
            raise NotImplementedError(function)  # D-13 (also "loadDSMWithPaths", D-4)
        return fn(list(args))

    # -- D-1 ------------------------------------------------------------------------
    def post_dsm_event(self, args: list[Any]) -> Result:
        """D-1: ``postDSMEvent(target, [[name, value], …])``."""
        target = _string(args, 0)
        if len(args) < 2:
            raise IndexError(1)
        pairs = args[1]
        if not isinstance(pairs, list | tuple):
            raise TypeError("pairs must be a list")
        params: dict[str, str] = {}
        for pair in pairs:
            if not isinstance(pair, list | tuple) or len(pair) < 2:
                raise IndexError("pair")
            name, value = pair[0], pair[1]
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("pairs must hold strings")
            params[name] = value
        if self.engine.post_event(target, params):
            return [200, "OK"]
        return [404, "Session not found"]

    # -- D-2 … D-4 ---------------------------------------------------------------------
    def reload_dsms(self, args: list[Any], compiled: Compiled | ReloadFailed | None = None) -> Result:
        """D-2: recompile the main collection; running sessions keep theirs (E-14).

        ``compiled``: an outcome of :meth:`ChartLibrary.compile_outcome`
        computed beforehand (off the engine's thread).
        """
        try:
            self.library.reload(compiled)
        except ReloadFailed as exc:
            self.last_diagnostics = list(exc.diagnostics)
            return [500, exc.reason]
        self.last_diagnostics = self.library.warnings  # loaded, but not silently
        return [200, "DSMs reloaded"]

    def load_dsm(self, args: list[Any]) -> Result:
        """D-3: add ``<diag_path><name>.dsm`` (paths re-read from the configuration)."""
        name = _string(args, 0)
        if name in self.engine.main.chartset:
            return [400, f"DSM named '{name}' already loaded (use reloadDSMs to reload all)"]
        try:
            diag_path, mod_path = self.library.source.diag_path()
        except ReloadFailed as exc:
            self.last_diagnostics = list(exc.diagnostics)
            return [500, exc.reason]
        return self._add(name, f"{diag_path}{name}.dsm", mod_path)

    def load_dsm_with_path(self, args: list[Any]) -> Result:
        """D-4: as D-3 with explicit paths; REFERENCE QUIRK: no ``/`` is inserted."""
        name = _string(args, 0)
        diag_path = _string(args, 1)
        mod_path = _string(args, 2)
        return self._add(name, f"{diag_path}{name}.dsm", [mod_path] if mod_path else [])

    def _add(self, name: str, path: str, mod_path: list[str]) -> Result:
        try:
            self.library.add(name, path, mod_path)
        except ReloadFailed as exc:
            self.last_diagnostics = list(exc.diagnostics)
            if exc.reason.startswith("DSM named"):
                return [400, exc.reason]
            return [500, f"error loading {name} from {path}"]
        self.last_diagnostics = [w for w in self.library.warnings if w.path == path]
        return [200, f"loaded {name} from {path}"]

    # -- D-5, D-6 ------------------------------------------------------------------------
    def preload_modules(self, args: list[Any]) -> Result:
        """D-5: preload every ``preload_mods`` entry of the (re-read) configuration."""
        from dsm.runtime.config import preload_modules, read_conf

        path = getattr(self.library.source, "path", None)
        if path is None:
            return [200, "modules preloaded"]  # the embedded default configuration has none
        conf = read_conf(path)
        if any(d.is_error for d in conf.diagnostics):
            return [500, f"loading config file {path}"]
        before = len(conf.diagnostics)
        mod = conf.get("mod_path")
        preload_modules(conf.items("preload_mods"), [mod] if mod else [], conf)
        for d in conf.diagnostics[before:]:
            name = d.message.split("'")[1] if d.message.count("'") >= 2 else ""
            self.last_diagnostics = list(conf.diagnostics[before:])
            if d.message.startswith("importing module"):
                return [500, f"importing module '{name}' for preload\n"]
            return [500, f"Error while preloading '{name}'\n"]
        return [200, "modules preloaded"]

    def preload_module(self, args: list[Any]) -> Result:
        """D-6: preload one module from one directory."""
        from dsm.runtime.config import ConfFile, preload_modules

        name = _string(args, 0)
        mod_path = _string(args, 1)
        conf = ConfFile("<preloadModule>")
        preload_modules([name], [mod_path] if mod_path else [], conf)
        if conf.diagnostics:
            self.last_diagnostics = list(conf.diagnostics)
            if conf.diagnostics[0].message.startswith("importing module"):
                return [500, f"importing module '{name}' for preload"]
            return [500, f"Error while preloading '{name}'"]
        return [200, "module preloaded."]

    # -- D-7 … D-9 ------------------------------------------------------------------------
    def _collection(self, app: str | None) -> ChartSet | None:
        """D-7 REFERENCE QUIRK: ``app`` is an application name registered by a *bundle*."""
        if app is None:
            return self.engine.main.chartset
        cfg = self.engine.apps.get(app)
        if cfg is None or cfg.name == "main":
            return None
        return cfg.chartset

    def has_dsm(self, args: list[Any]) -> list[str]:
        """D-7: ``["1"]`` or ``["0"]`` (strings, not a code/text pair)."""
        name = _string(args, 0)
        cs = self._collection(_optional_string(args, 1))
        return ["1"] if cs is not None and name in cs else ["0"]

    def list_dsms(self, args: list[Any]) -> list[str]:
        """D-8: diagram names of the main collection or of a bundle's application."""
        cs = self._collection(_optional_string(args, 0))
        return [] if cs is None else cs.names()

    def register_application(self, args: list[Any]) -> Result:
        """D-9: make a loaded diagram an application name."""
        name = _string(args, 0)
        app = _optional_string(args, 1)
        cs = self._collection(app)
        if cs is None or name not in cs:
            return [400, "unknown application (DSM)"]
        if name in self.engine.apps:
            return [500, "Error registering DSM application (already registered?)"]
        cfg: AppConfig = self.engine.main if app is None else self.engine.apps[app]
        self.engine.apps[name] = cfg
        return [200, "registered DSM application"]

    # -- D-10, D-11 ------------------------------------------------------------------------
    def load_config(self, args: list[Any]) -> Result:
        """D-10: live (re)load of a bundle; its system DSMs start with ``Reload`` (CF-10)."""
        from dsm.runtime.config import load_bundle, read_conf

        file = _string(args, 0)
        bundle = bundle_name_of(_string(args, 1))
        conf = read_conf(file)
        if any(d.is_error for d in conf.diagnostics):
            self.last_diagnostics = list(conf.diagnostics)
            return [500, "reload config failed"]
        b = load_bundle(bundle, conf)
        if any(d.is_error for d in conf.diagnostics):
            self.last_diagnostics = list(conf.diagnostics)
            return [500, "reload config failed"]
        try:
            self.engine.load(
                b.charts,
                bundle,
                values=b.values,
                register_apps=b.register_apps,
                set_param_variables=b.set_param_variables,
                mod_path=b.mod_path,
            )
        except ValueError as exc:
            self.last_diagnostics = [Diagnostic(file, 1, 1, "error", "CF-10", str(exc))]
            return [500, "reload config failed"]
        failed = False
        for diagram in b.run_system_dsms:
            try:
                self.engine.start_system(bundle, diagram, RELOAD)
            except KeyError:
                failed = True  # CF-10 step 7: the load fails, the bundle stays installed
        self.last_diagnostics = []
        return [500, "reload config failed"] if failed else [200, "OK"]

    def create_system_dsm(self, args: list[Any]) -> Result:
        """D-11: start a system DSM with ``Startup``; unknown diagrams end at once."""
        config = _string(args, 0)
        diagram = _string(args, 1)
        try:
            self.engine.create_system_dsm(config, diagram)
        except DSMException as exc:
            return [500, exc.params.get("cause", "Error")]
        return [200, "OK"]


def install_component(engine: Engine, library: ChartLibrary) -> DSMComponent:
    """Register the ``dsm`` component in ``engine.di`` (config.md section 4) and return it."""
    component = DSMComponent(engine, library)
    engine.di["dsm"] = component
    return component


class Operations:
    """Operator queries beyond the reference: calls, one call's details, versions."""

    def __init__(self, engine: Engine, library: ChartLibrary, observer: Observer | None = None) -> None:
        self.engine = engine
        self.library = library
        self.observer = observer

    def _age(self, s: Session) -> float:
        return round(self.observer.age(s), 3) if self.observer is not None else 0.0

    def describe(self, s: Session) -> dict[str, Any]:
        return {
            "id": s.id,
            "kind": s.kind,
            "config": s.config.name if s.config is not None else "",
            "diagram": s.diagram.name if s.diagram is not None else "",
            "state": s.state.name if s.state is not None else "",
            "version": short(s.chartset.digest),
            "age": self._age(s),
        }

    def list_calls(self, include_system: bool = True) -> list[dict[str, Any]]:
        out = []
        for s in list(self.engine.sessions.values()):
            if s.ended or (s.kind != "call" and not include_system):
                continue
            out.append(self.describe(s))
        return out

    def call_info(self, session_id: str) -> dict[str, Any] | None:
        s = self.engine.sessions.get(session_id) or self.engine.addresses.get(session_id)
        if s is None:
            return self._record_elsewhere(session_id)
        if s.ended:
            return None
        info = self.describe(s)
        info["vars"] = redact_vars(s.vars)  # $o_auth_pwd & co. as *** (docs/security.md)
        info["timers"] = list(s.timers)
        info["stack_depth"] = s.call_stack_depth
        monitor = self.engine.monitor
        if monitor is not None:  # E-174: the session's monitoring record (dsm_diag, dsm_state …)
            record = monitor.record(s.select("local_tag")) or {}
            info["monitoring"] = {k: MASK if is_secret(k) else v for k, v in record.items()}
        recent = self.observer.recent_lines(s) if self.observer is not None else []
        hidden = secret_values(s.vars, s.params)
        info["recent"] = [{"t": round(t, 3), "kind": k, "detail": redact_text(d, hidden)} for t, k, d in recent]
        return info

    def _record_elsewhere(self, session_id: str) -> dict[str, Any] | None:
        """A call of another node, known only by its record in a shared (Redis) monitoring store."""
        monitor = self.engine.monitor
        if monitor is None or not getattr(monitor.store, "shared", False):
            return None
        record = monitor.record(session_id)
        if not record:
            return None
        diag, state = record.get("dsm_diag", ""), record.get("dsm_state", "")
        return {
            "id": session_id,
            "kind": "elsewhere",  # not on this node: only what its node wrote to the store
            "config": "",
            "diagram": diag if isinstance(diag, str) else "",
            "state": state if isinstance(state, str) else "",
            "version": "",
            "age": 0.0,
            "vars": {},
            "timers": [],
            "stack_depth": 0,
            "monitoring": {k: MASK if is_secret(k) else v for k, v in record.items()},
            "recent": [],
        }

    def versions(self) -> dict[str, Any]:
        current = short(self.engine.main.chartset.digest)
        counts: dict[str, int] = {}
        for s in self.engine.sessions.values():
            v = short(s.chartset.digest)
            counts[v] = counts.get(v, 0) + 1
        return {
            "current": current,
            "source": self.library.source.describe(),
            "diagrams": self.engine.main.chartset.names(),
            "history": [_version_dict(v, v.id == current) for v in self.library.history],
            "sessions_per_version": counts,
            "reloads": self.library.reloads,
            "failed_reloads": self.library.failed_reloads,
        }

    def diagnostics(self, component: DSMComponent) -> list[dict[str, object]]:
        return [render_json(d) for d in component.last_diagnostics]


def _version_dict(v: Version, current: bool) -> dict[str, Any]:
    return {"id": v.id, "digest": v.digest, "diagrams": list(v.names), "loaded_at": v.loaded_at, "current": current}
