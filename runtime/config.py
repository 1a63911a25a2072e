"""Reading ``dsm.conf`` and application bundles (``config.md`` sections 1–3).

SEMS users keep their configuration files, so this reads the reference's
``key = value`` syntax unchanged (CF-2, CF-3), knows every DSM key (K-1 …
K-34), loads application bundles from ``conf_dir`` (K-23, CF-10), compiles
the diagram collections (K-1 … K-4), preloads modules (K-5, M-api-6) and
offers the server-side application selection of AS-1.

Reading never raises a Python error for bad input: problems become
:class:`dsm.Diagnostic` entries with file and line; :func:`load_config`
raises :class:`ConfigError` (a :class:`dsm.CompileError`) when any of them is
an error.  Unknown keys are legal (they only become ``$config.<key>``, K-30)
but are reported as warnings so that typos are visible.

:func:`install` puts a loaded configuration into an
:class:`~dsm.runtime.engine.Engine` (CF-9 order: main collection, ``dsm``
application, system DSMs of main, then bundles).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dsm.chart import Chart
from dsm.diagnostics import CompileError, Diagnostic
from dsm.runtime.monitor import MonSelect, StateMonitor
from dsm.runtime.registry import Module
from dsm.vocabulary import ModuleNotFound, find_module

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine

__all__ = [
    "ConfigError",
    "ConfFile",
    "Bundle",
    "DSMConfig",
    "KNOWN_KEYS",
    "LIST_KEYS",
    "parse_conf",
    "read_conf",
    "split_list",
    "load_bundle",
    "load_config",
    "install",
    "preload_modules",
    "parse_app_mapping",
    "select_application",
]

LIST_KEYS = frozenset(
    {
        "load_diags",
        "register_apps",
        "preload_mods",
        "run_system_dsms",
        "load_prompts",
        "required_prompts",
        "load_prompts_sets",
        "monitor_select_filters",
    }
)
"""CF-5: split at ``,``, empty items dropped, items not trimmed."""

KNOWN_KEYS = frozenset(
    {
        "diag_path",
        "load_diags",
        "register_apps",
        "mod_path",
        "preload_mods",
        "debug_raw_dsm",
        "dsm_consistency_check",
        "inbound_start_diag",
        "outbound_start_diag",
        "load_prompts",
        "required_prompts",
        "prompts_sets_path",
        "load_prompts_sets",
        "run_invite_event",
        "set_param_variables",
        "run_system_dsms",
        "monitoring_full_stategraph",
        "monitoring_full_transitions",
        "monitoring_redis",
        "monitor_select_use_caller",
        "monitor_select_use_callee",
        "monitor_select_filters",
        "monitor_select_fallback",
        "conf_dir",
        "enable_session_timer",
        "session_expires",
        "minimum_timer",
        "maximum_timer",
        "session_refresh_method",
        "accept_501_reply",
        "plugin_config_path",
        "db_url",
        "mysql_ca_cert",
        "redis_db_url",
        # the server's limits for untrusted SIP/RTP peers (docs/security.md)
        "sip_max_message_bytes",
        "sip_max_headers",
        "sip_tcp_max_connections_per_source",
        "sip_tcp_message_timeout",
        "sip_tcp_idle_timeout",
        "rtp_strict",
        "rtp_symmetric",
        # timeouts of the modules that talk to servers, and the worker pool (docs/modules.md)
        "mysql_connect_timeout",
        "mysql_read_timeout",
        "redis_timeout",
        "curl_connect_timeout",
        "curl_timeout",
        "blocking_workers",
        "blocking_lane_workers",
        "slow_action_seconds",
    }
)
"""K-1 … K-34 (K-30 "any other key" excluded), and the server's SIP limit keys."""

_debug_log = logging.getLogger("dsm.config")
"""K-6: ``debug_raw_dsm = yes`` writes each diagram's pre-processed text here at DEBUG level."""

_SECONDS_KEYS = {"session_expires": 120, "minimum_timer": 90, "maximum_timer": 900}
_REFRESH_METHODS = ("INVITE", "UPDATE", "UPDATE_FALLBACK_INVITE")


class ConfigError(CompileError):
    """A configuration (or one of its diagrams) failed to load; ``diagnostics`` says where."""


@dataclass
class ConfFile:
    """The key/value pairs of one ``*.conf`` file with the line of each key."""

    path: str
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def flag(self, key: str, default: bool = False) -> bool:
        """CF-6: true only for the exact value ``yes``."""
        v = self.values.get(key)
        return default if v is None else v == "yes"

    def items(self, key: str) -> list[str]:
        return split_list(self.values.get(key, ""))

    def error(self, key: str, message: str, code: str) -> None:
        self.diagnostics.append(
            Diagnostic(self.path, self.lines.get(key, 1), 1, "error", code, message)
        )


def split_list(value: str) -> list[str]:
    """CF-5 list: split at ``,``, drop empty items, never trim."""
    return [p for p in value.split(",") if p]


def _diag(path: str, line: int, severity: str, code: str, message: str, src: str = "") -> Diagnostic:
    return Diagnostic(path, line, 1, severity, code, message, source_line=src)  # type: ignore[arg-type]


def parse_conf(
    text: str, path: str, include_dir: str = "", _depth: int = 0
) -> ConfFile:
    """Parse the CF-2 line syntax (with CF-3 includes) into a :class:`ConfFile`."""
    conf = ConfFile(path)
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.replace("\r", "")
        s = line.lstrip(" \t")
        if not s or s.startswith("#"):
            continue
        if s.startswith("@"):
            _include(conf, s[1:].strip(" \t"), include_dir, lineno, line, _depth)
            continue
        m = re.match(r"[^=\s]+", s)
        key = m.group(0) if m else ""
        rest = s[len(key) :].lstrip(" \t")
        if not key or not rest.startswith("="):
            conf.diagnostics.append(
                _diag(path, lineno, "error", "CF-2", f"syntax error: expected 'key = value', got {s.strip()!r}", line)
            )
            continue
        rest = rest[1:].lstrip(" \t")
        if rest.startswith('"'):
            end = 1
            while True:
                end = rest.find('"', end)
                if end < 0 or rest[end - 1] != "\\":
                    break
                end += 1
            if end < 0:
                conf.diagnostics.append(
                    _diag(path, lineno, "error", "CF-2", f"missing closing quote in value of '{key}'", line)
                )
                continue
            value = rest[1:end]
        else:
            m2 = re.match(r"[^ \t#]*", rest)
            value = m2.group(0) if m2 else ""
        if key in conf.values:
            conf.diagnostics.append(
                _diag(path, lineno, "warning", "CF-2", f"key '{key}' repeated; the later value wins", line)
            )
        if key == "plugin_config_path":
            conf.diagnostics.append(
                _diag(path, lineno, "warning", "CF-4", "plugin_config_path in a DSM file is ignored", line)
            )
        conf.values[key] = value
        conf.lines[key] = lineno
    return conf


def _include(conf: ConfFile, name: str, include_dir: str, lineno: int, line: str, depth: int) -> None:
    target = name if os.path.isabs(name) else os.path.join(include_dir, name)
    if depth > 16:
        conf.diagnostics.append(_diag(conf.path, lineno, "error", "CF-3", "includes nested too deeply", line))
        return
    try:
        with open(target, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        conf.diagnostics.append(
            _diag(conf.path, lineno, "error", "CF-3", f"cannot include '{target}': {exc.strerror}", line)
        )
        return
    sub = parse_conf(text, target, include_dir, depth + 1)
    conf.values.update(sub.values)
    conf.lines.update({k: lineno for k in sub.values})
    conf.diagnostics.extend(sub.diagnostics)


def read_conf(path: str, include_dir: str | None = None) -> ConfFile:
    """Read and parse one file; an unreadable file is an error diagnostic, not an exception."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        conf = ConfFile(path)
        conf.diagnostics.append(_diag(path, 1, "error", "CF-1", f"cannot read configuration: {exc.strerror}"))
        return conf
    return parse_conf(text, path, os.path.dirname(path) if include_dir is None else include_dir)


def _with_slash(p: str) -> str:
    return p if not p or p.endswith("/") else p + "/"


def _check_keys(conf: ConfFile, main: bool) -> None:
    for key in conf.values:
        if key not in KNOWN_KEYS:
            conf.diagnostics.append(
                _diag(
                    conf.path,
                    conf.lines.get(key, 1),
                    "warning",
                    "K-30",
                    f"unknown key '{key}' (only available to scripts as $config.{key})",
                )
            )
    if not main:
        return
    for key in _SECONDS_KEYS:
        v = conf.values.get(key)
        if v is not None and not (v.isdigit() and int(v) > 0):
            conf.error(key, f"'{key}' must be a positive number of seconds, not {v!r}", "K-25")
    v = conf.values.get("session_refresh_method")
    if v is not None and v not in _REFRESH_METHODS:
        conf.error(
            "session_refresh_method",
            f"session_refresh_method must be one of {', '.join(_REFRESH_METHODS)}, not {v!r}",
            "K-28",
        )
    for key, allowed in (
        ("monitor_select_use_caller", ("", "from", "pai", "no")),
        ("monitor_select_use_callee", ("", "ruri", "no", "from")),
    ):
        v = conf.values.get(key)
        if v is not None and v not in allowed:
            conf.diagnostics.append(
                _diag(conf.path, conf.lines.get(key, 1), "warning", "K-19", f"{key}: unknown value {v!r} ignored")
            )


@dataclass
class Bundle:
    """One configuration with its compiled collection (main or an application bundle)."""

    name: str
    conf: ConfFile
    charts: dict[str, Chart] = field(default_factory=dict)
    preloaded: list[Module] = field(default_factory=list)

    @property
    def values(self) -> dict[str, str]:
        return self.conf.values

    @property
    def diag_path(self) -> str:
        return _with_slash(self.conf.get("diag_path"))

    @property
    def mod_path(self) -> list[str]:
        p = self.conf.get("mod_path")
        return [p] if p else []

    @property
    def register_apps(self) -> list[str]:
        return self.conf.items("register_apps")

    @property
    def run_system_dsms(self) -> list[str]:
        return self.conf.items("run_system_dsms")

    @property
    def set_param_variables(self) -> bool:
        return self.conf.flag("set_param_variables")


@dataclass
class DSMConfig:
    """A loaded ``dsm.conf`` with its bundles (CF-9)."""

    path: str
    main: Bundle
    bundles: dict[str, Bundle] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def inbound_start_diag(self) -> str:
        return self.main.conf.get("inbound_start_diag")

    @property
    def prompts(self) -> dict[str, Any]:
        """Prompt keys (K-10 … K-13) of main and bundles, for the media layer to load."""
        out: dict[str, Any] = {}
        for b in [self.main, *self.bundles.values()]:
            out[b.name] = {
                "load_prompts": b.conf.items("load_prompts"),
                "required_prompts": b.conf.items("required_prompts"),
                "prompts_sets_path": b.conf.get("prompts_sets_path"),
                "load_prompts_sets": b.conf.items("load_prompts_sets"),
            }
        return out

    @property
    def session_timer(self) -> dict[str, Any]:
        """K-24 … K-29 with their defaults."""
        c = self.main.conf
        return {
            "enabled": c.flag("enable_session_timer"),
            **{k: int(c.get(k, str(d))) if c.get(k, str(d)).isdigit() else d for k, d in _SECONDS_KEYS.items()},
            "session_refresh_method": c.get("session_refresh_method", "UPDATE_FALLBACK_INVITE"),
            "accept_501_reply": c.get("accept_501_reply", "yes") != "no",
        }


def preload_modules(names: Sequence[str], mod_path: Sequence[str], conf: ConfFile) -> list[Module]:
    """K-5 / M-api-6: load each module and run its preload hook; failures become diagnostics."""
    out: list[Module] = []
    for name in names:
        try:
            vocab = find_module(name, mod_path)
        except ModuleNotFound as exc:
            conf.error("preload_mods", f"importing module '{name}' for preload: {exc}", "K-5")
            continue
        if not isinstance(vocab, Module):
            continue
        hook = vocab.hooks.get("preload")
        if hook is not None:
            try:
                takes_arg = len(inspect.signature(hook).parameters) > 0
                result = hook(dict(conf.values)) if takes_arg else hook()
            except Exception as exc:
                conf.error("preload_mods", f"Error while preloading '{name}': {exc}", "K-5")
                continue
            if result is False or (type(result) is int and result != 0):  # M-api-6: 0 = success
                conf.error("preload_mods", f"Error while preloading '{name}'", "K-5")
                continue
        out.append(vocab)
    return out


def load_bundle(name: str, conf: ConfFile, main: bool = False, debug_raw: bool = False) -> Bundle:
    """CF-10 steps 1, 4, 5: preload, compile ``load_diags``, check ``register_apps``.

    ``debug_raw`` is the main file's ``debug_raw_dsm`` (K-6, global).
    """
    import dsm
    from dsm.source import preprocess_file

    _check_keys(conf, main)
    b = Bundle(name, conf)
    b.preloaded = preload_modules(conf.items("preload_mods"), b.mod_path, conf)
    for diag in conf.items("load_diags"):
        path = f"{b.diag_path}{diag}.dsm"
        try:
            b.charts[diag] = dsm.compile_file(
                path,
                [b.diag_path] if b.diag_path else [],
                name=diag,
                module_path=b.mod_path,
                consistency_check=conf.get("dsm_consistency_check", "yes") == "yes",
            )
        except CompileError as exc:
            conf.diagnostics.extend(exc.diagnostics)
            conf.error("load_diags", f"loading {diag} from {path} failed", "K-2")
        except OSError as exc:
            conf.error("load_diags", f"loading {diag} from {path}: {exc}", "K-2")
        else:
            if debug_raw:
                raw = preprocess_file(path, [b.diag_path] if b.diag_path else []).text
                _debug_log.debug("diagram '%s' (%s) after pre-processing:\n%s", diag, path, raw)
    for app in conf.items("register_apps"):
        if app not in b.charts:
            conf.error("register_apps", f"register_apps: '{app}' is not a loaded diagram", "K-3")
    return b


def load_config(path: str) -> DSMConfig:
    """Read ``dsm.conf`` and every bundle of ``conf_dir`` (CF-9); :class:`ConfigError` on errors."""
    main_conf = read_conf(path)
    if any(d.is_error for d in main_conf.diagnostics):
        raise ConfigError(main_conf.diagnostics)
    debug_raw = main_conf.flag("debug_raw_dsm")
    cfg = DSMConfig(path, load_bundle("main", main_conf, main=True, debug_raw=debug_raw))
    conf_dir = main_conf.get("conf_dir")
    if conf_dir:
        try:
            names = sorted(n for n in os.listdir(conf_dir) if n.endswith(".conf"))
        except OSError:
            names = []
            cfg.diagnostics.append(_diag(path, main_conf.lines.get("conf_dir", 1), "warning", "K-23", f"conf_dir '{conf_dir}' not readable"))
        for fname in names:
            bconf = read_conf(os.path.join(conf_dir, fname), os.path.dirname(path))
            if any(d.is_error for d in bconf.diagnostics):
                cfg.diagnostics.extend(bconf.diagnostics)
                continue
            cfg.bundles[fname[:-5]] = load_bundle(fname[:-5], bconf, debug_raw=debug_raw)
    for b in [cfg.main, *cfg.bundles.values()]:
        cfg.diagnostics.extend(b.conf.diagnostics)
    if any(d.is_error for d in cfg.diagnostics):
        raise ConfigError(cfg.diagnostics)
    return cfg


def install(engine: Engine, cfg: DSMConfig, start_system: bool = True) -> None:
    """Load ``cfg`` into ``engine`` in CF-9 order."""
    from dsm.runtime.events import STARTUP

    def put(b: Bundle) -> None:
        engine.load(
            b.charts,
            b.name,
            values=b.values,
            register_apps=b.register_apps,
            set_param_variables=b.set_param_variables,
            mod_path=b.mod_path,
        )

    put(cfg.main)
    engine.inbound_start_diag = cfg.inbound_start_diag
    main = cfg.main.conf
    engine.outbound_start_diag = main.get("outbound_start_diag")
    engine.mon_select = MonSelect.from_values(main.values, main.items("monitor_select_filters"))
    if "mod_monitoring" in main.items("preload_mods"):  # E-174: the monitoring component is loaded
        import importlib

        mon = importlib.import_module("dsm.modules.mod_monitoring")
        url = main.get("monitoring_redis")
        if url:  # every node's records in one Redis (docs/cluster.md)
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise OSError(f"monitoring_redis {url!r}: expected redis://HOST:PORT[/DB]")
            redis_store = mon.RedisMonitoringStore(url)
            redis_store.check()
            mon.use_store(redis_store)
        store = mon.store
        engine.monitor = StateMonitor(
            store, main.flag("monitoring_full_stategraph"), main.flag("monitoring_full_transitions")
        )
    if start_system:
        for d in cfg.main.run_system_dsms:
            engine.start_system("main", d, STARTUP)
    for b in cfg.bundles.values():
        put(b)
        if start_system:
            for d in b.run_system_dsms:
                engine.start_system(b.name, d, STARTUP)


# -- AS-1: server-side application selection -------------------------------------


def parse_app_mapping(text: str, path: str = "app_mapping.conf") -> list[tuple[re.Pattern[str], str]]:
    """``app_mapping.conf`` (K-39): ``regex=>application`` lines; bad lines raise :class:`ConfigError`."""
    out: list[tuple[re.Pattern[str], str]] = []
    diags: list[Diagnostic] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.replace("\r", "")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("=>")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            diags.append(_diag(path, lineno, "error", "AS-1", "expected 'regex=>application'", line))
            continue
        try:
            out.append((re.compile(parts[0]), parts[1]))
        except re.error as exc:
            diags.append(_diag(path, lineno, "error", "AS-1", f"bad regular expression: {exc}", line))
    if diags:
        raise ConfigError(diags)
    return out


_URI_USER = re.compile(r"^(?:sips?:)?([^@;>]*)@")


def _uri_user(uri: str) -> str:
    m = _URI_USER.match(uri.strip("<>"))
    return m.group(1) if m else ""


def _expand(app: str, m: re.Match[str]) -> str:
    """``\\1`` … ``\\8`` → regex groups, ``\\\\`` → a backslash (AS-1 ``$(mapping)``)."""

    def group(g: re.Match[str]) -> str:
        t = g.group(1)
        if t == "\\":
            return "\\"
        n = int(t)
        return (m.group(n) or "") if n <= (m.re.groups or 0) else ""

    return re.sub(r"\\([1-8\\])", group, app)


def select_application(
    setting: str,
    ruri: str,
    headers: Mapping[str, str] | None = None,
    mapping: Sequence[tuple[re.Pattern[str], str]] = (),
) -> str:
    """AS-1: the application name for a new incoming request (``""`` = refuse with 500)."""
    if setting == "$(ruri.user)":
        return _uri_user(ruri)
    if setting == "$(ruri.param)":
        for part in ruri.split(";")[1:]:
            k, _, v = part.partition("=")
            if k == "app":
                return v.split(">")[0]
        return ""
    if setting == "$(apphdr)":
        for k, v in (headers or {}).items():
            if k.lower() == "p-app-name":
                return v.strip()
        return ""
    if setting == "$(mapping)":
        for rx, app in mapping:
            m = rx.search(ruri)
            if m:
                return _expand(app, m)
        return ""
    return setting
