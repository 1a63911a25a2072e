"""JSON-RPC requests sent by scripts: ``DI(jsonrpc, execRpc, …)`` (C-core-24).

The reference's peers speak JSON-RPC 2.0 over TCP with every message framed
as a netstring (``<length>:<bytes>,``).  ``execRpc`` opens a connection,
sends one request with id ``"1"`` and answers the script at once:
``[200, "OK", <connection id>]``, or ``[400, "Error in connect: …"]`` when
the connection cannot be made (no event follows then).  The peer's answer
later arrives in the session named by the first argument as
``jsonRpcResponse``, with the script's ``udata`` attached.

The framing and the reply check are sans-I/O (:class:`NetstringDecoder`,
:func:`read_reply`); the exchange itself runs as an asyncio task when the
engine runs on a loop (a server), or in place with a timeout otherwise (the
harness), so other calls never wait for a slow peer.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

__all__ = [
    "NetstringDecoder",
    "NetstringError",
    "netstring",
    "read_reply",
    "Reply",
    "ExecRpc",
    "parse_exec_args",
    "connect",
    "MAX_MESSAGE",
]

MAX_MESSAGE = 20 * 1024 * 1024
"""Largest message accepted or sent, as the reference's limit."""
_MAX_LEN_DIGITS = 10
REQUEST_ID = "1"
"""Each connection carries one request; the reference counts ids per connection from 1."""


class NetstringError(ValueError):
    """The peer broke the framing; the connection is closed."""


def netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


class NetstringDecoder:
    """Feed bytes, get complete payloads."""

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            colon = self._buf.find(b":")
            if colon < 0:
                if len(self._buf) > _MAX_LEN_DIGITS:
                    raise NetstringError("netstring length too long")
                return out
            digits = bytes(self._buf[:colon])
            if not digits.isdigit() or colon > _MAX_LEN_DIGITS:
                raise NetstringError("bad netstring length")
            size = int(digits)
            if size > self.limit:
                raise NetstringError(f"netstring of {size} bytes exceeds {self.limit}")
            end = colon + 1 + size
            if len(self._buf) <= end:
                return out
            if self._buf[end : end + 1] != b",":
                raise NetstringError("netstring not terminated with ','")
            out.append(bytes(self._buf[colon + 1 : end]))
            del self._buf[: end + 1]


@dataclass(frozen=True)
class Reply:
    is_error: bool
    data: Any


def read_reply(payload: bytes, request_id: str) -> Reply | None:
    """The answer to ``request_id`` in one message; ``None``: not it (another id, a peer request).

    Raises :class:`ValueError` for a message that is not JSON-RPC 2.0 or an
    answer without id, result and error — the reference closes the connection then.
    """
    try:
        msg = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise ValueError("not a JSON-RPC 2.0 message")
    if isinstance(msg.get("method"), str):
        return None  # a request or notification from the peer: not routed here
    rid = msg.get("id")
    if not isinstance(rid, str) or not rid:
        raise ValueError("reply without a string id")
    if rid != request_id:
        return None
    if "result" in msg:
        return Reply(False, msg["result"])
    if "error" in msg:
        return Reply(True, msg["error"])
    raise ValueError("reply has neither result nor error")


@dataclass(frozen=True)
class ExecRpc:
    """The arguments of ``execRpc`` (reference order)."""

    reply_to: str  # the session (event queue) that gets jsonRpcResponse
    notification_receiver: str
    request_receiver: str
    flags: int
    host: str
    port: int
    method: str
    params: Any = None
    udata: Any = None

    def request(self) -> bytes:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": self.method, "id": REQUEST_ID}
        if self.params is not None:
            msg["params"] = self.params
        body = json.dumps(msg, separators=(",", ":")).encode()
        if len(body) > MAX_MESSAGE:
            raise ValueError("request exceeds the message size limit")
        return netstring(body)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_exec_args(args: list[Any]) -> ExecRpc:
    """``evq_link:s, notification_receiver:s, request_receiver:s, flags:i, host:s, port:i, method:s[, params[, udata]]``."""
    if len(args) < 7:
        raise IndexError(len(args))
    kinds = (str, str, str, int, str, int, str)
    for value, kind in zip(args, kinds, strict=False):
        if (kind is int and not _is_int(value)) or (kind is str and not isinstance(value, str)):
            raise TypeError("execRpc(evq_link:s, notif:s, req:s, flags:i, host:s, port:i, method:s[, params[, udata]])")
    params = args[7] if len(args) > 7 else None
    if params is not None and not isinstance(params, dict | list):
        raise TypeError("params to JSON-RPC must be struct or array")
    udata = args[8] if len(args) > 8 else None
    a = args
    return ExecRpc(a[0], a[1], a[2], a[3], a[4], a[5], a[6], params=params, udata=udata)


def connect(host: str, port: int, timeout: float) -> socket.socket | str:
    """A connected TCP socket, or the reason there is none (for ``Error in connect: …``)."""
    if not 0 < port < 65536:
        return f"bad port {port}"
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
