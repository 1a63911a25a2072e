"""The control port: a small HTTP/1.1 server on asyncio streams.

Routes:

* ``POST /`` (or ``/rpc``) — a JSON-RPC 2.0 body, answered by the
  :class:`~dsm.runtime.control.jsonrpc.Dispatcher`;
* ``GET /metrics`` — Prometheus text;
* ``GET /health`` — ``ok``.

Security: the server binds to a loopback address unless a token is given
(:func:`check_bind`).  With a token every request must carry it, as
``Authorization: Bearer <token>`` or ``X-DSM-Token: <token>``; others get
HTTP 401 with a JSON-RPC error body.  Sizes are bounded (headers 64 KiB, body
1 MiB) and idle connections time out, so a misbehaving client cannot tie the
server up.  Every failure is answered or the connection closed; nothing
propagates into the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable

from dsm.runtime.control.jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    UNAUTHORIZED,
    Dispatcher,
    error_response,
)

__all__ = ["ControlServer", "check_bind", "parse_hostport", "DEFAULT_CONTROL", "BindRefused"]

DEFAULT_CONTROL = "127.0.0.1:5040"
"""Default control address: port 5040 as the reference's ``sems-stats`` (T-2)."""

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 30.0

_log = logging.getLogger("dsm.control")

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error"}


class BindRefused(ValueError):
    """A non-loopback bind without a token."""


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → ``(host, port)``; :class:`ValueError` if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, not {text!r}")
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host.strip("[]"), p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Loopback only, unless a token protects the endpoint."""
    if not _is_loopback(host) and not token:
        raise BindRefused(
            f"refusing to serve the control endpoint on {host}: not a loopback address; "
            "give --control-token to allow it"
        )


class ControlServer:
    """Serves a dispatcher and a metrics function on one port."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        metrics: Callable[[], str],
        token: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.token = token
        self.server: asyncio.Server | None = None
        self.requests = 0
        self._clients: set[asyncio.Task[object]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        check_bind(host, self.token)
        self.server = await asyncio.start_server(self._client, host, port, limit=MAX_HEADER)
        sock = self.server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        # open keep-alive connections end with the server, not with the loop
        tasks = list(self._clients)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- connection handling ---------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                keep = await asyncio.wait_for(self._one(reader, writer), IDLE_TIMEOUT)
                if not keep:
                    break
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception:  # never let a connection take the server down
            _log.exception("control connection failed")
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await self._send(writer, 400, b"bad request\n", "text/plain", close=True)
            return False
        except asyncio.LimitOverrunError:
            await self._send(writer, 413, b"headers too large\n", "text/plain", close=True)
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._send(writer, 400, b"bad request line\n", "text/plain", close=True)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                await self._send(writer, 400, b"bad header\n", "text/plain", close=True)
                return False
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        body = b""
        if "content-length" in headers:
            cl = headers["content-length"]
            if not cl.isdigit():
                await self._send(writer, 400, b"bad content-length\n", "text/plain", close=True)
                return False
            if int(cl) > MAX_BODY:
                await self._send(writer, 413, b"body too large\n", "text/plain", close=True)
                return False
            body = await reader.readexactly(int(cl))
        elif headers.get("transfer-encoding"):
            await self._send(writer, 411, b"content-length required\n", "text/plain", close=True)
            return False
        self.requests += 1
        if self.token and not self._authorised(headers):
            err = error_response(None, UNAUTHORIZED, "unauthorized: missing or wrong control token")
            await self._send(writer, 401, _json(err), "application/json", close=close)
            return not close
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/metrics":
            await self._send(writer, 200, self.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8", close=close)
        elif method == "GET" and path == "/health":
            await self._send(writer, 200, b"ok\n", "text/plain", close=close)
        elif path in ("/", "/rpc"):
            if method != "POST":
                err = error_response(None, INVALID_REQUEST, "use POST with a JSON-RPC 2.0 body")
                await self._send(writer, 405, _json(err), "application/json", close=close)
            elif not body:
                err = error_response(None, PARSE_ERROR, "Parse error: empty body")
                await self._send(writer, 200, _json(err), "application/json", close=close)
            else:
                reply = await self.dispatcher.handle_bytes_async(body)
                if reply is None:
                    await self._send(writer, 204, b"", "application/json", close=close)
                else:
                    await self._send(writer, 200, reply, "application/json", close=close)
        else:
            await self._send(writer, 404, b"not found\n", "text/plain", close=close)
        return not close

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        given = headers.get("x-dsm-token", "")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str, close: bool) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()
