"""JSON-RPC events (engine.md E-154, C-core-23/24) and the ``jsonrpc`` DI component.

A JSON-RPC request or notification addressed to a session (the control
endpoint's ``callRpc``) arrives in its script as ``jsonRpcRequest`` with
``#ev_type=JsonRpcRequest``, ``#is_notify``, ``#method``, ``#id`` (requests
only) and the params flattened under ``params`` (:func:`flatten`); the whole
params value is the object ``JsonRpcRequestParameters``.

The script answers with the reference's function::

    DI(jsonrpc, sendMessage, "", (int)1, #method, #id, "", (json)$answer)   -- result
    DI(jsonrpc, sendMessage, "", (int)2, #method, #id, "", (json)$error)    -- error

(``conn_id, type, method, id, reply_sink[, params]``; type 1 = response, 2 =
error, as ``JSONRPC_MSG_RESPONSE``/``JSONRPC_MSG_ERROR``).  The connection id
is not needed here: pending requests are found by their id.

Scripts send requests themselves with the reference's::

    DI(jsonrpc, execRpc, @local_tag, "", "", (int)0, host, (int)port, method[, params[, udata]])

(:mod:`dsm.runtime.components.jsonrpc_client`); the answer arrives as
``jsonRpcResponse`` (``#ev_type=JsonRpcResponse``, ``#id``, ``#is_error``,
flattened ``result…``/``error…`` and ``udata…``), raised by
:meth:`JsonRpc.deliver_response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dsm.runtime.components.jsonrpc_client import (
    REQUEST_ID,
    ExecRpc,
    NetstringDecoder,
    NetstringError,
    Reply,
    connect,
    parse_exec_args,
    read_reply,
)
from dsm.runtime.engine import DIComponent

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine

__all__ = ["flatten", "format_double", "JsonRpc", "MSG_REQUEST", "MSG_RESPONSE", "MSG_ERROR"]

MSG_REQUEST = 0
MSG_RESPONSE = 1
MSG_ERROR = 2

Answer = Callable[[bool, Any], None]
"""Called with ``(is_error, value)`` when the script answers a request."""


def format_double(x: float) -> str:
    """E-154: ``%#.16g``; with a point and no exponent, one zero after the last non-zero digit."""
    text = "%#.16g" % x  # noqa: UP031 - printf's alternate form keeps the point and the zeros
    if "." in text and "e" not in text:
        text = text.rstrip("0") + "0"
    return text


def flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    """E-154: structured data into params under ``prefix``."""
    if value is None:
        out[prefix] = "null"
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    elif isinstance(value, int):
        out[prefix] = str(value)
    elif isinstance(value, float):
        out[prefix] = format_double(value)
    elif isinstance(value, str):
        out[prefix] = value
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            flatten(v, f"{prefix}[{i}]", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}", out)
    else:
        out[prefix] = "<UNKONWN TYPE>"  # sic (E-154)


class JsonRpc(DIComponent):
    """Routes JSON-RPC requests into sessions and the scripts' answers back."""

    timeout = 30.0
    """Seconds for connecting and for the peer's answer to an ``execRpc`` request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pending: dict[str, Answer] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- into a session ------------------------------------------------------------
    def deliver_request(
        self, session_id: str, method: str, params: Any, request_id: Any, answer: Answer | None
    ) -> bool:
        """Queue ``jsonRpcRequest``; ``request_id`` ``None`` is a notification. ``False``: no session."""
        s = self.engine.session(session_id)
        if s is None or s.ended:
            return False
        ev: dict[str, str] = {
            "ev_type": "JsonRpcRequest",
            "is_notify": "true" if request_id is None else "false",
            "method": method,
        }
        key = "" if request_id is None else str(request_id)
        if key:
            ev["id"] = key
        flatten(params, "params", ev)
        if key and answer is not None:
            self.pending[key] = answer
        ok = s.deliver("JsonRpcRequest", ev, objects={"JsonRpcRequestParameters": params})
        if not ok:
            self.pending.pop(key, None)
        return ok

    def forget(self, request_id: Any) -> None:
        self.pending.pop(str(request_id), None)

    def deliver_response(
        self, session_id: str, request_id: str, is_error: bool, data: Any, udata: Any = None
    ) -> bool:
        """Queue ``jsonRpcResponse`` (C-core-24) to a session."""
        s = self.engine.session(session_id)
        if s is None or s.ended:
            return False
        ev: dict[str, str] = {
            "ev_type": "JsonRpcResponse",
            "id": request_id,
            "is_error": "true" if is_error else "false",
        }
        flatten(data, "error" if is_error else "result", ev)
        if udata is not None:
            flatten(udata, "udata", ev)
        objects = {"JsonRpcResponseParameters": data, "JsonRpcResponseUData": udata}
        return s.deliver("JsonRpcResponse", ev, objects=objects)

    # -- the DI functions ------------------------------------------------------------
    def invoke(self, function: str, args: list[Any]) -> Any:
        if function == "sendMessage":
            return self._send_message(args)
        if function == "execRpc":
            call = parse_exec_args(args)
            return self._started(call, connect(call.host, call.port, self.timeout))
        if function == "_list":
            return ["execRpc", "sendMessage"]
        raise NotImplementedError(function)

    def offload(
        self, function: str, args: list[Any]
    ) -> tuple[Callable[[], Any], Callable[[Any], Any]] | None:
        """``execRpc`` connects on the worker pool; the exchange then runs on the loop."""
        if function != "execRpc":
            return None
        try:
            call = parse_exec_args(args)
        except (IndexError, TypeError):
            return None  # invoke() raises it again, as the DI error
        return (lambda: connect(call.host, call.port, self.timeout), lambda sock: self._started(call, sock))

    # -- execRpc ------------------------------------------------------------------------
    def _started(self, call: ExecRpc, sock: socket.socket | str) -> list[Any]:
        """The DI result of ``execRpc``; the request goes out and its answer is awaited."""
        if isinstance(sock, str):
            return [400, "Error in connect: " + sock]
        conn_id = uuid.uuid4().hex
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:  # no loop (the harness): the exchange runs here, bounded by the timeout
            with sock:
                self._answered(call, conn_id, self._exchange_blocking(sock, call, conn_id), run=False)
        else:
            sock.setblocking(False)
            task = loop.create_task(self._exchange(sock, call, conn_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return [200, "OK", conn_id]

    def _exchange_blocking(self, sock: socket.socket, call: ExecRpc, conn_id: str) -> Reply | None:
        decoder = NetstringDecoder()
        deadline = time.monotonic() + self.timeout
        try:
            sock.sendall(call.request())
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the peer")
                for payload in decoder.feed(data):
                    reply = read_reply(payload, REQUEST_ID)
                    if reply is not None:
                        return reply
        except (OSError, ValueError) as exc:
            self._lost(call, conn_id, exc)
            return None

    async def _exchange(self, sock: socket.socket, call: ExecRpc, conn_id: str) -> None:
        reply: Reply | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(sock=sock)
                writer.write(call.request())
                await writer.drain()
                decoder = NetstringDecoder()
                while reply is None:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("closed by the peer")
                    for payload in decoder.feed(data):
                        reply = read_reply(payload, REQUEST_ID)
                        if reply is not None:
                            break
        except (OSError, ValueError, NetstringError) as exc:
            self._lost(call, conn_id, exc)
        finally:
            if writer is not None:
                writer.close()
            else:
                sock.close()
        self._answered(call, conn_id, reply, run=True)

    def _answered(self, call: ExecRpc, conn_id: str, reply: Reply | None, *, run: bool) -> None:
        if reply is None:
            return
        if not self.deliver_response(call.reply_to, REQUEST_ID, reply.is_error, reply.data, call.udata):
            self._log(f"jsonrpc {conn_id}: reply for '{call.reply_to}', which does not exist (any more)")
            return
        if run and not getattr(self.engine, "_busy", False):
            self.engine.run_pending()

    def _lost(self, call: ExecRpc, conn_id: str, exc: BaseException) -> None:
        """No answer (timeout, closed, protocol error): logged; no event, as the reference."""
        reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        self._log(f"jsonrpc {conn_id} to {call.host}:{call.port} ({call.method}): {reason}")

    def _log(self, text: str) -> None:
        from dsm.runtime.session import LEVEL_ERROR

        with contextlib.suppress(Exception):
            self.engine.log(None, LEVEL_ERROR, text)

    def _send_message(self, args: list[Any]) -> Any:
        if len(args) < 5:
            raise IndexError(len(args))
        conn_id, kind, method, request_id, sink = args[:5]
        if not all(isinstance(v, str) for v in (conn_id, method, request_id, sink)):
            raise TypeError("sendMessage(conn_id:s, type:i, method:s, id:s, reply_sink:s[, params])")
        if isinstance(kind, bool) or not isinstance(kind, int):
            raise TypeError("type must be an int")
        params = args[5] if len(args) > 5 else None
        if params is not None and not isinstance(params, dict | list):
            raise TypeError("params to JSON-RPC must be struct or array")
        if kind == MSG_REQUEST:
            raise NotImplementedError("sendMessage of a request: no JSON-RPC peer connections here")
        answer = self.pending.pop(request_id, None)
        if answer is None:
            return [404, "no pending request with this id"]
        answer(kind == MSG_ERROR, params)
        return [200, "OK"]
