"""mod_py — inline Python in actions and conditions (``modules.md`` section 10).

The action ``py(code)`` executes statements and the condition
``py(expression)`` evaluates an expression, both in the runtime's own
interpreter.  The argument is the raw text between the parentheses (no
trimming, no unquoting, no ``$`` resolution); it is compiled once and the
code object is cached by its text.  ``dsm check`` reports a Python syntax
error of the argument as a problem of that action (through the signature's
``split`` function).

Namespaces (M-py-1):

* globals — one namespace shared by every session and diagram of the
  process (REFERENCE QUIRK: globals leak between calls).  It is a private
  ``__main__``-like dictionary, not the host program's ``__main__`` module;
* locals — one dictionary per session, kept in the object store as
  ``py_locals``, pre-filled with ``dsm`` and ``session``; while code runs it
  also holds ``type`` (numeric event type, :data:`EVENT_TYPES`) and
  ``params`` (a copy of the event parameters, ``{}`` when there are none),
  both removed afterwards — changes to ``params`` do not reach the event.

Errors: a Python exception in an action or a condition is written to the
session's log with the script position and then raised as
:class:`PythonScriptError`, which the engine turns into that call's DSM
exception ``{type: internal, cause, action: py, loc: file:line}`` — so a
script can catch it with an exception transition, and an uncaught one ends
only that call's event processing.  DIFFERENCE from the reference, which
only logs the error and carries on (M-py-1): the project requires script
errors to surface as the call's exception with the script's file:line.
``SystemExit`` is treated the same way, so ``sys.exit()`` in a script cannot
end the server.

Reference quirks reproduced: a condition is true only for the boolean
``True`` (``1`` is false); ``session.setError(n)`` stores the single
character ``chr(n & 0xff)``; ``session.select`` fails in system DSMs.

Difference: the reference recognises ``py`` only after ``mod_py`` has been
preloaded (``preload_mods``); here the interpreter is always there, so
``py`` is always known and :func:`preload` only reports success.
"""

from __future__ import annotations

import builtins
import contextvars
import traceback
import types
from collections.abc import Callable
from typing import Any

from dsm.runtime.blocking import on_host
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.registry import Module

__all__ = ["module", "EVENT_TYPES", "shared_globals", "preload"]

module = Module("mod_py", doc="inline Python actions and conditions (modules.md section 10)")

_LOG_ERROR, _LOG_WARN, _LOG_INFO, _LOG_DEBUG = 0, 1, 2, 3

# The reference's event-type numbering (section 10).
EVENT_TYPES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        [
            "Any",
            "Start",
            "Invite",
            "SessionStart",
            "Ringing",
            "EarlySession",
            "FailedCall",
            "SipRequest",
            "SipReply",
            "BeforeDestroy",
            "Hangup",
            "Hold",
            "UnHold",
            "B2BOtherRequest",
            "B2BOtherReply",
            "B2BOtherBye",
            "SessionTimeout",
            "RtpTimeout",
            "RemoteDisappeared",
            "Key",
            "Timer",
            "NoAudio",
            "PlaylistSeparator",
            "DSMEvent",
            "B2BEvent",
            "Exception",
            "XmlrpcResponse",
            "JsonRpcResponse",
            "JsonRpcRequest",
            "Startup",
            "Reload",
            "System",
            "SIPSubscription",
            "RTPTimeout",
            "LegStateChange",
            "BLegRefused",
            "PutOnHold",
            "ResumeHeld",
            "CreateHoldRequest",
            "HandleHoldReply",
            "RelayInit",
            "RelayInitUAC",
            "RelayInitUAS",
            "RelayFinalize",
            "RelayOnSipRequest",
            "RelayOnSipReply",
            "RelayOnB2BRequest",
            "RelayOnB2BReply",
        ]
    )
}

_SELECTS = frozenset(
    {"local_tag", "user", "domain", "remote_tag", "callid", "local_uri", "remote_uri"}
)

shared_globals: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
"""The process-wide globals of all ``py`` code (REFERENCE QUIRK: shared by every call)."""

_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar(
    "mod_py_ctx", default=None
)

_CODE_NAME = "<dsm py>"
_code_cache: dict[tuple[str, str], types.CodeType | SyntaxError] = {}


def _compile(text: str, mode: str) -> types.CodeType | SyntaxError:
    key = (text, mode)
    code = _code_cache.get(key)
    if code is None:
        try:
            code = compile(text, _CODE_NAME, mode)
        except (SyntaxError, ValueError) as exc:
            code = exc if isinstance(exc, SyntaxError) else SyntaxError(str(exc))
        _code_cache[key] = code
    return code


# -- the ``dsm`` and ``session`` modules seen by the code ---------------------------


def _log(level: int, msg: str) -> None:
    ctx = _current.get()
    if ctx is not None:
        ctx.log(int(level), str(msg))


def _make_dsm_module() -> types.ModuleType:
    mod = types.ModuleType("dsm", "DSM constants and logging for py() code")
    mod.log = _log  # type: ignore[attr-defined]
    mod.DBG = lambda msg: _log(_LOG_DEBUG, msg)  # type: ignore[attr-defined]
    mod.INFO = lambda msg: _log(_LOG_INFO, msg)  # type: ignore[attr-defined]
    mod.WARN = lambda msg: _log(_LOG_WARN, msg)  # type: ignore[attr-defined]
    mod.ERROR = lambda msg: _log(_LOG_ERROR, msg)  # type: ignore[attr-defined]
    for name, number in EVENT_TYPES.items():
        setattr(mod, name, number)
    return mod


dsm_module = _make_dsm_module()


def _core_action(name: str) -> Callable[..., None]:
    import dsm.runtime.actions  # noqa: F401  (loads every core action group)
    from dsm.runtime.actions.core import core

    action = core.actions.get(name)
    if action is None:
        raise RuntimeError(f"core action {name} is not available")
    return action.fn


def _need_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    return value


class SessionAPI:
    """The ``session`` module of ``py`` code: variables, selects, errno and media of one session."""

    def __init__(self, ctx: ActionContext) -> None:
        self._ctx = ctx

    def var(self, name: str) -> str:
        """A variable's value; a missing variable is created empty."""
        return self._ctx.vars.setdefault(_need_str(name, "name"), "")

    def setvar(self, name: str, value: str) -> None:
        self._ctx.vars[_need_str(name, "name")] = _need_str(value, "value")

    def select(self, name: str) -> str:
        """One of the dialog selects; ``""`` for others.  Fails in system DSMs."""
        if self._ctx.kind == "system":
            raise RuntimeError("select is not available in a system DSM")
        name = _need_str(name, "name")
        return self._ctx.select(name) if name in _SELECTS else ""

    def setError(self, n: int) -> None:  # noqa: N802 - the reference's name
        """REFERENCE QUIRK: ``$errno`` becomes the single character with code ``n``."""
        code = int(n) & 0xFF
        # one byte: values above 0x7f are kept as surrogate-escaped bytes, like all variables
        self._ctx.vars["errno"] = chr(code) if code < 0x80 else chr(0xDC00 + code)

    # media and B2B, mirroring the core actions
    def _run(self, name: str, *args: str, wrap: bool = False) -> None:
        try:
            # media and B2B state belong to the event loop: from a worker, run it there
            on_host(_core_action(name), self._ctx, *args)
        except DSMException as exc:
            if wrap:
                raise RuntimeError(exc.type) from None
            raise

    def playPrompt(self, name: str, loop: int = 0) -> None:  # noqa: N802
        self._run("playPromptLooped" if loop else "playPrompt", _need_str(name, "name"), wrap=True)

    def playFile(self, name: str, loop: int = 0, front: int = 0) -> None:  # noqa: N802
        action = "playFileFront" if front else "playFile"
        self._run(action, _need_str(name, "name"), "true" if loop else "", wrap=True)

    def recordFile(self, name: str) -> None:  # noqa: N802
        self._run("recordFile", _need_str(name, "name"), wrap=True)

    def _record_value(self, action: str, var: str) -> int:
        self._run(action, "")
        try:
            return int(self._ctx.vars.get(var, "0") or "0")
        except ValueError:
            return 0

    def getRecordLength(self) -> int:  # noqa: N802
        return self._record_value("getRecordLength", "record_length")

    def getRecordDataSize(self) -> int:  # noqa: N802
        return self._record_value("getRecordDataSize", "record_data_size")

    def stopRecord(self) -> None:  # noqa: N802
        self._run("stopRecord")

    def flushPlaylist(self) -> None:  # noqa: N802
        self._run("flushPlaylist")

    def setPromptSet(self, name: str) -> None:  # noqa: N802
        self._run("setPrompts", _need_str(name, "name"), wrap=True)

    def addSeparator(self, id: str | int, front: int = 0) -> None:  # noqa: N802
        self._run("addSeparator", str(id), "true" if front else "")

    def connectMedia(self) -> None:  # noqa: N802
        self._run("connectMedia")

    def disconnectMedia(self) -> None:  # noqa: N802
        self._run("disconnectMedia")

    def mute(self) -> None:
        self._run("mute")

    def unmute(self) -> None:
        self._run("unmute")

    def B2BconnectCallee(self, to: str, ruri: str, relayed: int = 0) -> None:  # noqa: N802
        vars = self._ctx.vars
        old = vars.get("b2b_relayed_invite")
        vars["b2b_relayed_invite"] = "true" if relayed else "false"
        try:
            self._run("B2B.connectCallee", _need_str(to, "to"), _need_str(ruri, "ruri"))
        finally:
            if old is None:
                vars.pop("b2b_relayed_invite", None)
            else:
                vars["b2b_relayed_invite"] = old

    def B2BterminateOtherLeg(self) -> None:  # noqa: N802
        self._run("B2B.terminateOtherLeg")


class PyLocals:
    """The ``py_locals`` object of a session: its locals dictionary and ``session`` object."""

    def __init__(self, ctx: ActionContext) -> None:
        self.session = SessionAPI(ctx)
        self.namespace: dict[str, Any] = {"dsm": dsm_module, "session": self.session}

    def dispose(self) -> None:
        self.namespace.clear()


def _locals_of(ctx: ActionContext) -> PyLocals:
    obj = ctx.objects.get("py_locals")
    if not isinstance(obj, PyLocals):
        obj = PyLocals(ctx)
        ctx.objects["py_locals"] = obj
    obj.session._ctx = ctx
    return obj


def _script_position(ctx: ActionContext, exc: BaseException) -> str:
    """``file:line`` of the failing line: the action's position plus the line inside the code."""
    line_in_code = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _CODE_NAME and frame.lineno:
            line_in_code = frame.lineno
    if isinstance(exc, SyntaxError) and exc.filename == _CODE_NAME and exc.lineno:
        line_in_code = exc.lineno
    loc = getattr(ctx, "current_loc", None)
    if loc is None:
        return f"py code line {line_in_code or '?'}"
    path, line = getattr(loc, "path", "?"), getattr(loc, "line", 0)
    return f"{path}:{line + max(line_in_code - 1, 0)}"


def _run(ctx: ActionContext, code: types.CodeType, mode: str) -> Any:
    local = _locals_of(ctx)
    ns = local.namespace
    ns["type"] = EVENT_TYPES.get(ctx.event_type, 0)
    ns["params"] = dict(ctx.params) if ctx.params is not None else {}
    token = _current.set(ctx)
    try:
        # No lock: on a server each py() runs on a worker thread while its call waits, and
        # calls run their Python side by side under the GIL, as on the reference.
        if mode == "eval":
            return eval(code, shared_globals, ns)
        exec(code, shared_globals, ns)
        return None
    finally:
        _current.reset(token)
        ns.pop("type", None)
        ns.pop("params", None)


class PythonScriptError(RuntimeError):
    """A script's Python code failed; the engine makes it the call's DSM exception."""


@module.action("py", "raw", check="python-exec", blocking=True)
def py_action(ctx: ActionContext, text: str = "", *_: str) -> None:
    """M-py-1: execute the raw argument as Python statements; errors raise :class:`PythonScriptError`."""
    code = _compile(text, "exec")
    try:
        if isinstance(code, SyntaxError):
            raise code
        _run(ctx, code, "exec")
    except (Exception, SystemExit) as exc:  # sys.exit() in a script must not end the server
        message = f"{_script_position(ctx, exc)}: py(): {type(exc).__name__}: {exc}"
        ctx.log(_LOG_ERROR, message)
        raise PythonScriptError(message) from None


@module.condition("py", "raw", check="python-eval", blocking=True)
def py_condition(ctx: ActionContext, text: str = "", *_: str) -> bool:
    """M-py-2: true iff the expression's value is the boolean ``True`` (REFERENCE QUIRK: ``1`` is false)."""
    code = _compile(text, "eval")
    try:
        if isinstance(code, SyntaxError):
            raise code
        return _run(ctx, code, "eval") is True
    except (Exception, SystemExit) as exc:
        message = f"{_script_position(ctx, exc)}: py() condition: {type(exc).__name__}: {exc}"
        ctx.log(_LOG_ERROR, message)
        raise PythonScriptError(message) from None


@module.preload
def preload(config: Any = None, log: Any = None) -> int:
    """M-api-6: the interpreter is the runtime's own, so preloading always succeeds."""
    return 0
