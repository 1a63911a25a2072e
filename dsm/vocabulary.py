"""Which actions and conditions exist, and how their argument text is split.

The compiler needs, for every action or condition token, to know whether the
name exists and which *argument style* (``language.md`` 6.3) splits its
argument text.  That knowledge is a :class:`Vocabulary`.  The core vocabulary
(``language.md`` 6.4 and 6.5) lives here.  The compiler learns a module's
names with :func:`read_module`, which reads the declarations of its source
file and runs nothing; the runtime imports the module with
:func:`find_module` (``<name>.py`` on a module path, entry-point group
``dsm.modules``, built-in ``dsm.modules.<name>``) when it loads a chart.

Style codes: ``N``, ``S``, ``P,opt``, ``P,mand``, ``P=opt``, ``P=mand``,
``L``, ``T``, ``K``, ``raw`` (argument text verbatim).  A signature may
instead carry its own ``split`` callable for modules with unusual arguments.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dsm.styles import CHECKS

__all__ = [
    "Signature",
    "Vocabulary",
    "CORE",
    "CORE_ACTIONS",
    "CORE_CONDITIONS",
    "find_module",
    "read_module",
    "ModuleNotFound",
]

STYLES = frozenset({"N", "S", "P,opt", "P,mand", "P=opt", "P=mand", "L", "T", "K", "raw"})

# A split function returns the parts and a list of problems (reference "logged errors").
SplitFn = Callable[[str], tuple[tuple[str, ...], list[str]]]


@dataclass(frozen=True, slots=True)
class Signature:
    """How one action/condition name takes its argument text.

    ``event`` (conditions only) is the event type a style-T condition filters
    on, or ``None`` for "any event type" (``test`` and most module
    conditions).
    """

    name: str
    style: str = "S"
    event: str | None = None
    split: SplitFn | None = None

    def __post_init__(self) -> None:
        if self.split is None and self.style not in STYLES:
            raise ValueError(f"unknown argument style {self.style!r} for {self.name!r}")


@runtime_checkable
class Vocabulary(Protocol):
    """What the compiler asks a module (or the core)."""

    def action_signature(self, name: str) -> Signature | None: ...

    def condition_signature(self, name: str) -> Signature | None: ...


def _table(spec: str) -> dict[str, Signature]:
    out: dict[str, Signature] = {}
    for line in spec.strip().splitlines():
        name, style = line.split()
        out[name] = Signature(name, style)
    return out


# language.md 6.4
CORE_ACTIONS: dict[str, Signature] = _table(
    """
    repost N
    jumpFSM S
    callFSM S
    returnFSM N
    break N
    throw P,opt
    throwOnError N
    stop S
    playPrompt S
    playPromptFront S
    playPromptLooped S
    playFile P,opt
    playFileFront P,opt
    playSilence S
    playSilenceFront S
    playRingtone P,mand
    recordFile S
    stopRecord N
    getRecordLength S
    getRecordDataSize S
    flushPlaylist N
    closePlaylist N
    setInOutPlaylist N
    setInputPlaylist N
    setOutputPlaylist N
    addSeparator P,opt
    connectMedia N
    disconnectMedia N
    enableReceiving N
    disableReceiving N
    enableForceDTMFReceiving N
    disableForceDTMFReceiving N
    monitorRTPTimeout S
    mute N
    unmute N
    enableDTMFDetection N
    disableDTMFDetection N
    sendDTMF P,opt
    sendDTMFSequence P,opt
    trackObject S
    releaseObject S
    freeObject S
    set P=mand
    sets P=mand
    eval P=mand
    setVar P=mand
    var P=mand
    param P=mand
    append P,mand
    substr P,mand
    inc S
    clear S
    clearStruct S
    clearArray S
    size P,mand
    arrayIndex P,mand
    log P,mand
    logs P,mand
    dbg S
    info S
    warn S
    error S
    logVars S
    logParams S
    logSelects S
    logAll S
    setTimer P,mand
    removeTimer S
    removeTimers N
    setPrompts S
    postEvent P,opt
    registerEventQueue S
    unregisterEventQueue S
    createSystemDSM P,mand
    DI L
    DIgetResult L
    DIgetResultArray L
    B2B.connectCallee P,mand
    B2B.terminateOtherLeg N
    B2B.sendReinvite P,opt
    B2B.enableEarlyMediaRelay S
    B2B.addHeader S
    B2B.removeHeader S
    B2B.clearHeaders N
    B2B.setHeaders P,opt
    B2B.relayEvent S
    B2B.setRelayOnly S
    """
)

# language.md 6.5: condition name -> event type it matches (None = any type).
_CORE_CONDITION_EVENTS: dict[str, str | None] = {
    "test": None,
    "keyPress": "Key",
    "key": "Key",
    "keyTest": "Key",
    "timer": "Timer",
    "timerTest": "Timer",
    "noAudio": "NoAudio",
    "noAudioTest": "NoAudio",
    "separator": "PlaylistSeparator",
    "separatorTest": "PlaylistSeparator",
    "hangup": "Hangup",
    "event": "DSMEvent",
    "eventTest": "DSMEvent",
    "B2Bevent": "B2BEvent",
    "invite": "Invite",
    "early": "EarlySession",
    "earlySession": "EarlySession",
    "sessionStart": "SessionStart",
    "ringing": "Ringing",
    "failed": "FailedCall",
    "B2B.otherRequest": "B2BOtherRequest",
    "B2B.otherReply": "B2BOtherReply",
    "B2B.otherBye": "B2BOtherBye",
    "sipRequest": "SipRequest",
    "sipReply": "SipReply",
    "remoteDisappeared": "RemoteDisappeared",
    "sessionTimeout": "SessionTimeout",
    "rtpTimeout": "RtpTimeout",
    "jsonRpcRequest": "JsonRpcRequest",
    "jsonRpcResponse": "JsonRpcResponse",
    "subscription": "SIPSubscription",
    "startup": "Startup",
    "start": "Start",
    "beforeDestroy": "BeforeDestroy",
    "reload": "Reload",
    "system": "System",
}

CORE_CONDITIONS: dict[str, Signature] = {
    name: Signature(name, "K" if name == "keyPress" else "T", event=ev)
    for name, ev in _CORE_CONDITION_EVENTS.items()
}


class _Core:
    """The built-in vocabulary (no import needed)."""

    def action_signature(self, name: str) -> Signature | None:
        return CORE_ACTIONS.get(name)

    def condition_signature(self, name: str) -> Signature | None:
        return CORE_CONDITIONS.get(name)


CORE: Vocabulary = _Core()


class ModuleNotFound(LookupError):
    """``import(NAME)`` names a module that cannot be found or loaded (L-73)."""


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    try:
        eps = importlib.metadata.entry_points(group="dsm.modules")
    except Exception:  # pragma: no cover - broken metadata must not crash a compile
        return {}
    return {ep.name: ep for ep in eps}


_module_cache: dict[tuple[str, tuple[str, ...]], Vocabulary] = {}


def _as_vocabulary(obj: object, name: str) -> Vocabulary:
    module = getattr(obj, "module", obj)
    if not isinstance(module, Vocabulary):
        raise ModuleNotFound(f"{name} does not define a DSM module object")
    return module


def find_module(name: str, search_path: Sequence[str] = ()) -> Vocabulary:
    """Find the module with import name ``name`` (M-api-1).

    Lookup order: ``<dir>/<name>.py`` on ``search_path`` (the configuration's
    ``mod_path``), then the entry-point group ``dsm.modules`` (third-party
    modules and ours), then ``dsm.modules.<name>``.  Raises
    :class:`ModuleNotFound` with a readable reason.
    """
    key = (name, tuple(search_path))
    cached = _module_cache.get(key)
    if cached is not None:
        return cached
    if not name or not name.isidentifier():
        raise ModuleNotFound(f"invalid module name {name!r}")
    vocab: Vocabulary | None = None
    for directory in search_path:
        candidate = os.path.join(directory, name + ".py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location(f"dsm_user_modules.{name}", candidate)
            if spec is None or spec.loader is None:
                continue
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            try:
                spec.loader.exec_module(mod)
            except Exception as exc:  # a broken user module refuses the diagram, not a crash
                sys.modules.pop(spec.name, None)  # a fixed file is run again next time
                raise ModuleNotFound(
                    f"module file {candidate} failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            vocab = _as_vocabulary(mod, name)
            break
    if vocab is None:
        ep = _entry_points().get(name)
        if ep is not None:
            try:
                vocab = _as_vocabulary(ep.load(), name)
            except ModuleNotFound:
                raise
            except Exception as exc:
                raise ModuleNotFound(
                    f"module {name} failed to load: {type(exc).__name__}: {exc}"
                ) from exc
    if vocab is None:
        try:
            mod = importlib.import_module(f"dsm.modules.{name}")
        except ModuleNotFoundError as exc:
            if exc.name in (f"dsm.modules.{name}", "dsm.modules"):
                raise ModuleNotFound(f"no module named {name}") from None
            raise ModuleNotFound(f"module {name} failed to load: {exc}") from exc
        except Exception as exc:
            raise ModuleNotFound(
                f"module {name} failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        vocab = _as_vocabulary(mod, name)
    _module_cache[key] = vocab
    return vocab


# -- names without running code ------------------------------------------------------


class StaticModule:
    """A module's action and condition names and argument styles, read from its source.

    What the compiler needs of a module is known from the module file's
    declarations (``module.action("name", "style")`` as a decorator or a
    call, ``module.condition(..., event=...)``), so :func:`read_module`
    takes them from the file's syntax tree: compiling a script runs no code
    of its modules and imports none of their dependencies.  A custom
    ``split=`` function is not run either; the argument is split by the
    declared style.  ``check="python-exec"`` (a name in
    :data:`dsm.styles.CHECKS`) adds the language layer's own check of the
    argument text, whose findings are warnings W015 (``mod_py`` uses it).
    """

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self.actions: dict[str, Signature] = {}
        self.conditions: dict[str, Signature] = {}

    def action_signature(self, name: str) -> Signature | None:
        return self.actions.get(name)

    def condition_signature(self, name: str) -> Signature | None:
        return self.conditions.get(name)

    def __repr__(self) -> str:
        return f"<DSM module {self.name} read from {self.path}>"


def _literal(node: ast.expr | None, what: str, where: str) -> str | None:
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        value = None
    if value is None and isinstance(node, ast.Constant):
        return None
    if not isinstance(value, str):
        raise ModuleNotFound(
            f"{where}: the {what} must be a literal string for the compiler to read it"
        )
    return value


def _read_declarations(name: str, path: str) -> StaticModule:
    """The declarations of one module file (see :class:`StaticModule`)."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise ModuleNotFound(f"module file {path} cannot be read: {exc}") from None
    holders: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called == "Module":
                holders.update(t.id for t in node.targets if isinstance(t, ast.Name))
    if "module" not in holders:
        raise ModuleNotFound(f"{path} does not define a DSM module object (`module = Module(...)`)")
    out = StaticModule(name, path)
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("action", "condition")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in holders
        ):
            continue
        where = f"{path}:{node.lineno}"
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        args = list(node.args)
        decl = _literal(args[0] if args else kw.get("name"), "name", where)
        style = _literal(args[1] if len(args) > 1 else kw.get("style"), "style", where) or "S"
        if decl is None:
            raise ModuleNotFound(
                f"{where}: the name must be a literal string for the compiler to read it"
            )
        if style not in STYLES:
            raise ModuleNotFound(f"{where}: unknown argument style {style!r} for {decl!r}")
        check = _literal(kw.get("check"), "check", where)
        if check is not None and check not in CHECKS:
            raise ModuleNotFound(f"{where}: unknown argument check {check!r} for {decl!r}")
        split = None if check is None else CHECKS[check]
        if node.func.attr == "action":
            out.actions[decl] = Signature(decl, style, split=split)
        else:
            event = _literal(kw.get("event"), "event", where)
            out.conditions[decl] = Signature(decl, style, event=event, split=split)
    return out


def _source_of(modname: str) -> str | None:
    """The ``.py`` file of an importable module, found without importing anything.

    Each package level is located with the finders of ``sys.meta_path`` and
    the parent's search locations, so no package ``__init__`` runs.
    """
    path: Sequence[str] | None = None
    spec = None
    parts = modname.split(".")
    for i in range(len(parts)):
        fullname = ".".join(parts[: i + 1])
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            try:
                spec = find(fullname, path)
            except Exception:  # a broken finder must not break a compile
                spec = None
            if spec is not None:
                break
        if spec is None:
            return None
        path = spec.submodule_search_locations
    origin = spec.origin if spec is not None else None
    return origin if origin and origin.endswith(".py") else None


_read_cache: dict[tuple[str, str], tuple[tuple[int, int], StaticModule]] = {}


def _read_cached(name: str, path: str) -> StaticModule:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ModuleNotFound(f"module file {path} cannot be read: {exc}") from None
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _read_cache.get((name, path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    found = _read_declarations(name, path)
    _read_cache[(name, path)] = (stamp, found)
    return found


def read_module(name: str, search_path: Sequence[str] = ()) -> Vocabulary:
    """The vocabulary of module ``name`` for the compiler, read without running it.

    Same lookup order as :func:`find_module`: ``<dir>/<name>.py`` on
    ``search_path``, the entry-point group ``dsm.modules``, then
    ``dsm.modules.<name>``.  The runtime imports a module (with
    :func:`find_module`) only to run it.
    """
    if not name or not name.isidentifier():
        raise ModuleNotFound(f"invalid module name {name!r}")
    for directory in search_path:
        candidate = os.path.join(directory, name + ".py")
        if os.path.isfile(candidate):
            return _read_cached(name, candidate)
    ep = _entry_points().get(name)
    target = ep.value.split(":")[0].strip() if ep is not None else f"dsm.modules.{name}"
    source = _source_of(target)
    if source is None:
        if ep is not None:
            raise ModuleNotFound(f"module {name}: the source of {target} cannot be found")
        raise ModuleNotFound(f"no module named {name}")
    return _read_cached(name, source)
