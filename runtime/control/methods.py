"""The control endpoint's JSON-RPC methods, bound to one engine.

Three groups:

* the DSM component's management functions under their own names
  (``postDSMEvent``, ``reloadDSMs``, … — D-1 … D-14), with ``params`` the
  positional argument list and the reference's results; ``di(component,
  function, arg…)`` and ``calls()`` as in the XML-RPC front end (T-3);
* operator methods the reference lacks: ``reload`` and ``load`` (as D-2/D-3
  but with diagnostics and the new version), ``versions``, ``listCalls``,
  ``callInfo``, ``status``, ``traceSet``, ``traceRead``;
* simulated calls until SIP exists: ``startCall``, ``callPress``,
  ``callHangup``.

After every method the engine's queues are drained, so a reply already
reflects what the request caused (events posted, system DSMs started).

Paths in requests (``load``, ``loadDSM``, ``loadDSMWithPath``,
``preloadModule``, ``loadConfig``, also through ``di``) are checked by a
:class:`~dsm.runtime.control.paths.PathPolicy` before anything is opened.
Variables whose names look secret show as ``***`` in ``callInfo``
(:mod:`dsm.runtime.redact`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dsm.diagnostics import render_json
from dsm.runtime.control.jsonrpc import (
    APPLICATION_ERROR,
    FORBIDDEN,
    INVALID_PARAMS,
    Dispatcher,
    RpcError,
)
from dsm.runtime.control.paths import PathPolicy
from dsm.runtime.control.remote_call import RemoteCall, start_remote_call
from dsm.runtime.management import FUNCTIONS, DSMComponent, Operations
from dsm.runtime.versions import Compiled, ReloadFailed

if TYPE_CHECKING:
    from dsm.runtime.control.observer import Observer
    from dsm.runtime.engine import Engine
    from dsm.runtime.versions import ChartLibrary

__all__ = ["ControlAPI", "param"]

_MISSING = object()


def param(params: Any, index: int, name: str, default: Any = _MISSING) -> Any:
    """A parameter by position (array params) or by name (object params)."""
    if isinstance(params, list):
        if index < len(params):
            return params[index]
    elif isinstance(params, dict):
        if name in params:
            return params[name]
    if default is _MISSING:
        raise RpcError(INVALID_PARAMS, f"missing parameter '{name}'")
    return default


def _str_param(params: Any, index: int, name: str, default: Any = _MISSING) -> Any:
    v = param(params, index, name, default)
    if v is not default and not isinstance(v, str):
        raise RpcError(INVALID_PARAMS, f"parameter '{name}' must be a string")
    return v


class ControlAPI:
    """Everything the control endpoint can do to one engine."""

    def __init__(
        self,
        engine: Engine,
        library: ChartLibrary,
        component: DSMComponent,
        observer: Observer,
        *,
        item_seconds: float = 1.0,
        started_at: float | None = None,
        on_reload: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.library = library
        self.component = component
        self.observer = observer
        self.ops = Operations(engine, library, observer)
        self.item_seconds = item_seconds
        self.started_at = time.time() if started_at is None else started_at
        self.calls: dict[str, RemoteCall] = {}
        self.on_reload = on_reload
        self.paths = PathPolicy(library)

    def pump(self) -> None:
        self.engine.run_pending(limit=1_000_000)

    def offloaded_reloads(
        self, compile_off_thread: Callable[[], Awaitable[Compiled | ReloadFailed]]
    ) -> dict[str, Callable[[Any], Awaitable[Any]]]:
        """``reload`` and ``reloadDSMs`` that compile through ``compile_off_thread``.

        Only the swap then runs on the engine's thread; a lock keeps
        concurrent reload requests in order (the last one asked wins).
        """
        lock = asyncio.Lock()

        async def reload(params: Any) -> Any:
            async with lock:
                compiled = await compile_off_thread()
                try:
                    return self.reload(params, compiled)
                finally:
                    self.pump()

        async def reload_dsms(params: Any) -> Any:
            async with lock:
                compiled = await compile_off_thread()
                try:
                    return self.component.reload_dsms([], compiled)
                finally:
                    self.pump()

        return {"reload": reload, "reloadDSMs": reload_dsms}

    def dispatcher(self) -> Dispatcher:
        d = Dispatcher()
        for name in FUNCTIONS:
            if name != "loadDSMWithPaths":  # D-4 REFERENCE QUIRK: advertised, not accepted
                d.add(name, self._d_function(name))
        d.add("loadDSMWithPath", self._d_function("loadDSMWithPath"))
        d.add("_list", self._d_function("_list"))
        table: dict[str, Callable[[Any], Any]] = {
            "di": self.di,
            "calls": self.calls_count,
            "reload": self.reload,
            "load": self.load,
            "versions": lambda p: self.ops.versions(),
            "listCalls": self.list_calls,
            "callInfo": self.call_info,
            "status": self.status,
            "startCall": self.start_call,
            "callPress": self.call_press,
            "callHangup": self.call_hangup,
            "traceSet": self.trace_set,
            "traceRead": self.trace_read,
        }
        for name, fn in table.items():
            d.add(name, self._pumped(fn))
        d.add("callRpc", self.call_rpc)
        return d

    # -- JSON-RPC events (E-154, C-core-23) -------------------------------------------------
    async def call_rpc(self, params: Any) -> Any:
        """``callRpc{call, method, params?, id?, timeout?}``: a JSON-RPC request into a session.

        Without ``id`` it is a notification (``{"queued": true}`` at once);
        with one, the answer the script gives with ``DI(jsonrpc, sendMessage,
        …)`` is the result (an error answer becomes a JSON-RPC error), or an
        error after ``timeout`` seconds (default 10, at most 60).
        """
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "callRpc takes named parameters: call, method, params, id, timeout")
        sid, method = params.get("call"), params.get("method")
        if not isinstance(sid, str) or not isinstance(method, str) or not method:
            raise RpcError(INVALID_PARAMS, "'call' and 'method' must be strings")
        rid = params.get("id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int) or rid == ""):
            raise RpcError(INVALID_PARAMS, "'id' must be a non-empty string or an integer")
        timeout = params.get("timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise RpcError(INVALID_PARAMS, "'timeout' must be seconds in (0, 60]")
        from dsm.runtime.components.jsonrpc import JsonRpc

        component = self.engine.di.get("jsonrpc")
        if not isinstance(component, JsonRpc):
            raise RpcError(APPLICATION_ERROR, "no jsonrpc component")
        if rid is not None and str(rid) in component.pending:
            raise RpcError(INVALID_PARAMS, f"a request with id {rid!r} is already pending")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[bool, Any]] = loop.create_future()

        def answered(is_error: bool, value: Any) -> None:
            if not answer.done():
                answer.set_result((is_error, value))

        try:
            ok = component.deliver_request(sid, method, params.get("params"), rid, answered)
        finally:
            self.pump()
        if not ok:
            raise RpcError(APPLICATION_ERROR, f"no call with id {sid!r}")
        if rid is None:
            return {"queued": True}
        try:
            is_error, value = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise RpcError(APPLICATION_ERROR, f"no answer from call {sid!r} within {timeout} s") from None
        finally:
            component.forget(rid)
        if is_error:
            code = value.get("code") if isinstance(value, dict) else None
            message = value.get("message") if isinstance(value, dict) else None
            raise RpcError(
                code if isinstance(code, int) and not isinstance(code, bool) else APPLICATION_ERROR,
                message if isinstance(message, str) else "error answer from the script",
                value,
            )
        return value

    def _pumped(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(params: Any) -> Any:
            try:
                return fn(params)
            finally:
                self.pump()

        return run

    def _d_function(self, name: str) -> Callable[[Any], Any]:
        def run(params: Any) -> Any:
            if isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, f"{name} takes positional parameters (an array)")
            return self._invoke_dsm(name, list(params or []))

        return self._pumped(run)

    def _invoke_dsm(self, function: str, args: list[Any]) -> Any:
        """A DSM management function, after its paths passed the :class:`PathPolicy`."""
        diag_path: str | None = None
        if function == "loadDSM":
            try:
                diag_path = self.library.source.diag_path()[0]
            except ReloadFailed:
                diag_path = None  # the function reports the unreadable configuration
        self.paths.check_function(function, args, diag_path)
        return self.component.invoke(function, args)

    # -- T-3 compatibility --------------------------------------------------------------
    def di(self, params: Any) -> Any:
        """``di(component, function, arg…)`` as the XML-RPC front end (T-3)."""
        if not isinstance(params, list) or len(params) < 2:
            raise RpcError(INVALID_PARAMS, "di needs at least a component and a function name")
        comp, fn = params[0], params[1]
        if not isinstance(comp, str) or not isinstance(fn, str):
            raise RpcError(INVALID_PARAMS, "component and function must be strings")
        component = self.engine.di.get(comp)
        if component is None:
            raise RpcError(APPLICATION_ERROR, f"could not get '{comp}' factory")
        if component is self.component:
            return self._invoke_dsm(fn, list(params[2:]))
        return component.invoke(fn, list(params[2:]))

    def calls_count(self, params: Any) -> int:
        """``calls()`` (T-3): active call sessions."""
        return sum(1 for s in self.engine.sessions.values() if s.kind == "call" and not s.ended)

    # -- reload and versions -----------------------------------------------------------------
    def reload(self, params: Any, compiled: Compiled | ReloadFailed | None = None) -> dict[str, Any]:
        """D-2 with the details an operator needs: new version, diagnostics of a failure."""
        result = self.component.reload_dsms([], compiled)
        out = {
            "result": result,
            "ok": result[0] == 200,
            "version": self.ops.versions()["current"],
            "diagnostics": [render_json(d) for d in self.component.last_diagnostics],
        }
        if self.on_reload is not None:
            self.on_reload(out)
        return out

    def load(self, params: Any) -> dict[str, Any]:
        """``load(name, path)``: add one diagram from an explicit file (as D-3)."""
        name = _str_param(params, 0, "name")
        path = _str_param(params, 1, "path")
        self.paths.check_file("scripts", path)
        try:
            mod_path = self.library.source.diag_path()[1]
        except ReloadFailed:
            mod_path = []  # an unreadable dsm.conf: load without a module path
        if name in self.engine.main.chartset:
            result: list[Any] = [400, f"DSM named '{name}' already loaded (use reloadDSMs to reload all)"]
            diags: list[dict[str, object]] = []
        else:
            try:
                self.library.add(name, path, mod_path)
                result = [200, f"loaded {name} from {path}"]
                diags = [render_json(w) for w in self.library.warnings if w.path == path]
            except ReloadFailed as exc:
                result = [500, f"error loading {name} from {path}"]
                diags = [render_json(d) for d in exc.diagnostics]
        return {"result": result, "ok": result[0] == 200, "version": self.ops.versions()["current"], "diagnostics": diags}

    # -- calls ---------------------------------------------------------------------------
    def list_calls(self, params: Any) -> list[dict[str, Any]]:
        include_system = bool(param(params, 0, "system", True))
        return self.ops.list_calls(include_system)

    def call_info(self, params: Any) -> dict[str, Any]:
        sid = _str_param(params, 0, "id")
        info = self.ops.call_info(sid)
        if info is None:
            raise RpcError(APPLICATION_ERROR, f"no such session: {sid}")
        rc = self.calls.get(info["id"])
        if rc is not None:
            info["call"] = rc.summary()
        return info

    def status(self, params: Any) -> dict[str, Any]:
        v = self.ops.versions()
        return {
            "version": v["current"],
            "diagrams": v["diagrams"],
            "source": v["source"],
            "calls": self.calls_count(None),
            "sessions": len(self.engine.sessions),
            "uptime": round(time.time() - self.started_at, 3),
            "reloads": v["reloads"],
            "failed_reloads": v["failed_reloads"],
        }

    def start_call(self, params: Any) -> dict[str, Any]:
        app = _str_param(params, 0, "app")
        caller = _str_param(params, 1, "caller", "sip:operator@127.0.0.1")
        callee = _str_param(params, 2, "callee", None)
        headers = param(params, 3, "headers", None) or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise RpcError(INVALID_PARAMS, "headers must be an object of strings")
        rc = start_remote_call(self.engine, app, caller, callee, headers, self.item_seconds)
        self._forget_ended()
        assert rc.session is not None
        self.observer.seen(rc.session)
        if not rc.session.ended:
            self.calls[rc.session.id] = rc
        self.pump()
        return self.ops.describe(rc.session) | {"ended": rc.session.ended}

    def _remote(self, params: Any) -> RemoteCall:
        sid = _str_param(params, 0, "id")
        rc = self.calls.get(sid)
        if rc is None or rc.session is None or rc.session.ended:
            self.calls.pop(sid, None)
            raise RpcError(APPLICATION_ERROR, f"no such simulated call: {sid}")
        return rc

    def call_press(self, params: Any) -> dict[str, Any]:
        rc = self._remote(params)
        keys = _str_param(params, 1, "keys")
        try:
            rc.press(keys)
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from exc
        assert rc.session is not None
        return self.ops.describe(rc.session) | {"ended": rc.session.ended}

    def call_hangup(self, params: Any) -> dict[str, Any]:
        rc = self._remote(params)
        rc.hangup()
        self.pump()
        assert rc.session is not None
        self._forget_ended()
        return {"id": rc.session.id, "ended": rc.session.ended}

    def _forget_ended(self) -> None:
        for sid in [k for k, c in self.calls.items() if c.session is None or c.session.ended]:
            del self.calls[sid]

    # -- trace ---------------------------------------------------------------------------
    def trace_set(self, params: Any) -> dict[str, Any]:
        mode = _str_param(params, 0, "mode")
        calls = param(params, 1, "calls", None)
        diagrams = param(params, 2, "diagrams", None)
        for v, what in ((calls, "calls"), (diagrams, "diagrams")):
            if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                raise RpcError(INVALID_PARAMS, f"'{what}' must be a list of strings")
        try:
            return self.observer.recorder.configure(mode, calls, diagrams)
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from exc

    def trace_read(self, params: Any) -> dict[str, Any]:
        since = param(params, 0, "since", 0)
        limit = param(params, 1, "limit", 1000)
        if not isinstance(since, int) or not isinstance(limit, int) or isinstance(since, bool):
            raise RpcError(INVALID_PARAMS, "since and limit must be integers")
        rec = self.observer.recorder
        lines = rec.read(since, max(1, min(limit, 10_000)))
        return {"lines": lines, "last_seq": rec.last_seq, "mode": rec.mode}


# -- the SBC (``dsm serve --sbc``) -------------------------------------------------------------------
SBC_METHODS = (
    "sbc.listProfiles",
    "sbc.reloadProfile",
    "sbc.reloadProfiles",
    "sbc.loadProfile",
    "sbc.getActiveProfile",
    "sbc.setActiveProfile",
    "sbc.teardownCall",
    "sbc.calls",
)
"""The SBC's control methods (``dsm sbc …``); a server without ``--sbc`` answers them with an error."""


def sbc_methods(relay: Callable[[], Any]) -> dict[str, Callable[[Any], Any]]:
    """The SBC's methods, on the relay ``relay()`` returns (``None``: the server runs no SBC).

    A profile (re)load reaches the next call only; a broken profile file is
    refused with its error and the working profile stays.
    """
    from dsm.runtime.sbc.profile import SbcConfigError

    def the_relay() -> Any:
        r = relay()
        if r is None:
            raise RpcError(APPLICATION_ERROR, "this server runs no SBC (start it with --sbc sbc.conf)")
        return r

    def guarded(fn: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
        def method(params: Any) -> Any:
            r = the_relay()
            try:
                return fn(r, params)
            except SbcConfigError as exc:
                raise RpcError(APPLICATION_ERROR, str(exc)) from None

        return method

    def list_profiles(r: Any, params: Any) -> Any:
        return {"profiles": r.store.names(), "active_profile": list(r.store.config.active_profile)}

    def reload_profile(r: Any, params: Any) -> Any:
        name = _str_param(params, 0, "name")
        r.store.reload_profile(name)
        return {"result": "OK", "name": name}

    def reload_profiles(r: Any, params: Any) -> Any:
        r.store.reload_all()
        return {"result": "OK", "profiles": [p["name"] for p in r.store.names()]}

    def load_profile(r: Any, params: Any) -> Any:
        name = _str_param(params, 0, "name")
        path = _str_param(params, 1, "path")
        if not r.store.path_allowed(path):  # checked before the file is opened
            folders = ", ".join(r.store.profile_folders())
            raise RpcError(FORBIDDEN, f"profile files must be *.sbcprofile.conf under {folders}")
        r.store.load_profile(name, path)
        return {"result": "OK", "name": name, "path": path}

    def get_active(r: Any, params: Any) -> Any:
        return {"active_profile": list(r.store.config.active_profile)}

    def set_active(r: Any, params: Any) -> Any:
        value = _str_param(params, 0, "active_profile")
        r.store.set_active_profile(value)
        return {"result": "OK", "active_profile": list(r.store.config.active_profile)}

    def teardown(r: Any, params: Any) -> Any:
        call_id = _str_param(params, 0, "call_id")
        if not r.teardown(call_id):
            raise RpcError(APPLICATION_ERROR, f"no SBC call {call_id!r}")
        return {"result": "OK", "call_id": call_id}

    def calls(r: Any, params: Any) -> Any:
        return {"calls": [c.describe() for c in r.calls.values()]}

    fns = (list_profiles, reload_profile, reload_profiles, load_profile, get_active, set_active, teardown, calls)
    return {name: guarded(fn) for name, fn in zip(SBC_METHODS, fns, strict=True)}
