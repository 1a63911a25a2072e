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
    "error_response",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
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
        """The response body for a request body; ``None`` when nothing is to be sent."""
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _dump(error_response(None, PARSE_ERROR, f"Parse error: {exc}"))
        out = self.handle(obj)
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

    def handle_one(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict):
            return error_response(None, INVALID_REQUEST, "Invalid Request: not an object")
        id_ = req.get("id")
        notification = "id" not in req
        if not _valid_id(id_):
            return error_response(None, INVALID_REQUEST, "Invalid Request: bad id")
        method = req.get("method")
        if req.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return error_response(id_, INVALID_REQUEST, "Invalid Request: needs jsonrpc '2.0' and a method name")
        params = req.get("params")
        if params is not None and not isinstance(params, list | dict):
            return error_response(id_, INVALID_REQUEST, "Invalid Request: params must be an array or an object")
        fn = self.methods.get(method)
        if fn is None:
            reply = error_response(id_, METHOD_NOT_FOUND, f"Method not found: {method}")
        else:
            reply = self._call(fn, method, params, id_)
        return None if notification else reply

    def _call(self, fn: Method, method: str, params: Any, id_: Any) -> dict[str, Any]:
        try:
            result = fn(params)
        except RpcError as exc:
            return error_response(id_, exc.code, exc.message, exc.data)
        except NotImplementedError as exc:
            return error_response(id_, METHOD_NOT_FOUND, f"not implemented: {exc or method}")
        except IndexError:
            return error_response(id_, INVALID_PARAMS, f"out of bounds in call of '{method}'")
        except TypeError as exc:
            return error_response(id_, INVALID_PARAMS, f"type mismatch in call of '{method}': {exc}")
        except Exception as exc:
            _log.exception("control method %s failed", method)
            return error_response(id_, INTERNAL_ERROR, f"Internal error: {type(exc).__name__}: {exc}")
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            return error_response(id_, INTERNAL_ERROR, f"Internal error: result not serialisable: {exc}")
        return {"jsonrpc": "2.0", "result": result, "id": id_}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")
