"""JSON-RPC 2.0 request handling, without any I/O.

:class:`Dispatcher` turns the bytes of a request body into the bytes of the
response (or ``None`` for notifications only), following the JSON-RPC 2.0
specification: single requests and batches, ``-32700`` parse error,
``-32600`` invalid request, ``-32601`` method not found, ``-32602`` invalid
params, ``-32603`` internal error.  Whatever a method raises becomes an
error object; nothing escapes, so one bad request never disturbs the
server.

Methods receive the ``params`` member as it came (a list, a dict or
``None``).  Exceptions are mapped the way the DSM component reports
failures (D-13, D-14): :class:`NotImplementedError` → ``-32601`` "not
implemented", :class:`IndexError` → ``-32602`` "out of bounds",
:class:`TypeError` → ``-32602`` "type mismatch"; :class:`RpcError` carries
its own code.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

__all__ = [
    "Dispatcher",
    "RpcError",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "error_response",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
FORBIDDEN = -32003
"""A request refused before any method runs (foreign Host/Origin), or a path outside the allowed folders."""
APPLICATION_ERROR = -32000

_log = logging.getLogger("dsm.control")

Method = Callable[[Any], Any]


class RpcError(Exception):
    """An error with a JSON-RPC code, raised by methods for clean error replies."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def error_response(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": id_}


def _valid_id(v: Any) -> bool:
    return v is None or isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool))


class Dispatcher:
    """A table of methods and the JSON-RPC 2.0 envelope around them."""

    def __init__(self, max_batch: int = 100) -> None:
        self.methods: dict[str, Method] = {}
        self.max_batch = max_batch

    def add(self, name: str, fn: Method) -> None:
        self.methods[name] = fn

    def handle_bytes(self, body: bytes) -> bytes | None:
        """The response body for a request body; ``None`` when nothing is to be sent.

        Synchronous: a method returning an awaitable is an internal error
        here; servers use :meth:`handle_bytes_async`.
        """
        obj = _parse(body)
        if isinstance(obj, _Failed):
            return _dump(obj.reply)
        out = self.handle(obj)
        return None if out is None else _dump(out)

    async def handle_bytes_async(self, body: bytes) -> bytes | None:
        """As :meth:`handle_bytes`; methods may return awaitables, which are awaited."""
        obj = _parse(body)
        if isinstance(obj, _Failed):
            return _dump(obj.reply)
        if isinstance(obj, list) and obj and len(obj) <= self.max_batch:
            replies = [r for r in [await self.handle_one_async(o) for o in obj] if r is not None]
            return _dump(replies) if replies else None
        if isinstance(obj, list):
            return _dump(self.handle(obj))
        out = await self.handle_one_async(obj)
        return None if out is None else _dump(out)

    def handle(self, obj: Any) -> Any:
        if isinstance(obj, list):
            if not obj:
                return error_response(None, INVALID_REQUEST, "Invalid Request: empty batch")
            if len(obj) > self.max_batch:
                return error_response(None, INVALID_REQUEST, f"Invalid Request: more than {self.max_batch} calls in a batch")
            replies = [r for r in (self.handle_one(o) for o in obj) if r is not None]
            return replies or None
        return self.handle_one(obj)

    def _prepare(self, req: Any) -> tuple[Any, bool, Method | None, Any, dict[str, Any] | None]:
        """Validate one request: ``(id, notification, method, params, error reply)``."""
        if not isinstance(req, dict):
            return None, False, None, None, error_response(None, INVALID_REQUEST, "Invalid Request: not an object")
        id_ = req.get("id")
        notification = "id" not in req
        if not _valid_id(id_):
            return None, False, None, None, error_response(None, INVALID_REQUEST, "Invalid Request: bad id")
        method = req.get("method")
        if req.get("jsonrpc") != "2.0" or not isinstance(method, str):
            err = error_response(id_, INVALID_REQUEST, "Invalid Request: needs jsonrpc '2.0' and a method name")
            return id_, False, None, None, err
        params = req.get("params")
        if params is not None and not isinstance(params, list | dict):
            err = error_response(id_, INVALID_REQUEST, "Invalid Request: params must be an array or an object")
            return id_, False, None, None, err
        fn = self.methods.get(method)
        if fn is None:
            return id_, notification, None, None, error_response(id_, METHOD_NOT_FOUND, f"Method not found: {method}")
        return id_, notification, fn, params, None

    def handle_one(self, req: Any) -> dict[str, Any] | None:
        id_, notification, fn, params, error = self._prepare(req)
        if fn is None:
            reply = error
        else:
            reply = self._finish(self._invoke(fn, req["method"], params, id_), req["method"], id_)
            if inspect.isawaitable(reply):
                _close(reply)
                reply = error_response(id_, INTERNAL_ERROR, "Internal error: asynchronous method called synchronously")
        return None if notification else reply

    async def handle_one_async(self, req: Any) -> dict[str, Any] | None:
        id_, notification, fn, params, error = self._prepare(req)
        if fn is None:
            reply = error
        else:
            outcome = self._invoke(fn, req["method"], params, id_)
            if isinstance(outcome, _Result) and inspect.isawaitable(outcome.value):
                outcome = await self._await(outcome.value, req["method"], id_)
            reply = self._finish(outcome, req["method"], id_)
        return None if notification else reply

    def _invoke(self, fn: Method, method: str, params: Any, id_: Any) -> _Result | dict[str, Any]:
        try:
            return _Result(fn(params))
        except Exception as exc:
            return self._error(exc, method, id_)

    async def _await(self, awaitable: Any, method: str, id_: Any) -> _Result | dict[str, Any]:
        try:
            return _Result(await awaitable)
        except Exception as exc:
            return self._error(exc, method, id_)

    @staticmethod
    def _error(exc: Exception, method: str, id_: Any) -> dict[str, Any]:
        if isinstance(exc, RpcError):
            return error_response(id_, exc.code, exc.message, exc.data)
        if isinstance(exc, NotImplementedError):
            return error_response(id_, METHOD_NOT_FOUND, f"not implemented: {exc or method}")
        if isinstance(exc, IndexError):
            return error_response(id_, INVALID_PARAMS, f"out of bounds in call of '{method}'")
        if isinstance(exc, TypeError):
            return error_response(id_, INVALID_PARAMS, f"type mismatch in call of '{method}': {exc}")
        _log.error("control method %s failed", method, exc_info=exc)
        return error_response(id_, INTERNAL_ERROR, f"Internal error: {type(exc).__name__}: {exc}")

    @staticmethod
    def _finish(outcome: _Result | dict[str, Any], method: str, id_: Any) -> Any:
        if not isinstance(outcome, _Result):
            return outcome
        if inspect.isawaitable(outcome.value):
            return outcome.value
        try:
            json.dumps(outcome.value)
        except (TypeError, ValueError) as exc:
            return error_response(id_, INTERNAL_ERROR, f"Internal error: result not serialisable: {exc}")
        return {"jsonrpc": "2.0", "result": outcome.value, "id": id_}


class _Result:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Failed:
    __slots__ = ("reply",)

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _Failed(error_response(None, PARSE_ERROR, f"Parse error: {exc}"))


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")
