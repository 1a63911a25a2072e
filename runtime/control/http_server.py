"""The control port: a small HTTP/1.1 server on asyncio streams.

Routes:

* ``POST /`` (or ``/rpc``) — a JSON-RPC 2.0 body, answered by the
  :class:`~dsm.runtime.control.jsonrpc.Dispatcher`;
* ``GET /metrics`` — Prometheus text;
* ``GET /health`` — ``ok``.

Security (``docs/security.md``), checked in this order before any method runs:

1. ``Host`` must name the bound address (an IP literal equal to it, any IP
   literal on a wildcard bind), ``localhost`` or a name given with
   ``--control-host``; a port in it must be the bound port.  An ``Origin``
   header, when present, must name such a host too.  Otherwise HTTP 403:
   a web page in the operator's browser (cross-site POST, DNS rebinding)
   cannot reach the methods.
2. With a token (``dsm serve`` always has one) every JSON-RPC request must
   carry it, as ``Authorization: Bearer <token>`` or ``X-DSM-Token:
   <token>``; others get HTTP 401.  ``GET /health`` and ``GET /metrics``
   stay open when the server is bound to loopback (read-only, nothing
   secret in them).
3. A JSON-RPC request must be ``Content-Type: application/json`` (HTTP 415
   otherwise), which no cross-site form or "simple" request can send.

The server binds to a loopback address unless a token is given explicitly
(:func:`check_bind`).  Sizes are bounded (headers 64 KiB, body 1 MiB) and
idle connections time out, so a misbehaving client cannot tie the server
up.  Every failure is answered or the connection closed; nothing propagates
into the engine.
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
    FORBIDDEN,
    INVALID_REQUEST,
    PARSE_ERROR,
    UNAUTHORIZED,
    Dispatcher,
    error_response,
)

__all__ = [
    "ControlServer",
    "check_bind",
    "parse_hostport",
    "DEFAULT_CONTROL",
    "BindRefused",
    "host_allowed",
    "origin_allowed",
    "is_loopback",
]

DEFAULT_CONTROL = "127.0.0.1:5040"
"""Default control address: port 5040 as the reference's ``sems-stats`` (T-2)."""

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 30.0

_log = logging.getLogger("dsm.control")

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error"}


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


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _split_host(text: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → ``(host, port)``; ``None`` if malformed."""
    text = text.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":") or not rest[1:].isdigit():
            return None
        return host, int(rest[1:])
    if text.count(":") > 1:  # a bare IPv6 literal (not valid in Host, but harmless)
        return text, None
    host, sep, port = text.partition(":")
    if not sep:
        return host, None
    if not port.isdigit():
        return None
    return host, int(port)


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_allowed(value: str, bound: tuple[str, int], extra: tuple[str, ...] = ()) -> bool:
    """Whether a ``Host`` header names this server (the DNS-rebinding check).

    Allowed: ``localhost``, an IP literal equal to the bound address (any IP
    literal on a wildcard bind: a literal cannot be rebound), a bound host
    name, or one of ``extra`` — each with no port or the bound port.
    """
    parsed = _split_host(value)
    if parsed is None:
        return False
    host, port = parsed
    bhost, bport = bound
    if port is not None and port != bport:
        return False
    if not host:
        return False
    if host == "localhost" or host == bhost.lower() or host in (h.lower() for h in extra):
        return True
    if _is_wildcard(bhost):
        return _is_ip(host)
    if bhost == "localhost":
        return _is_ip(host) and ipaddress.ip_address(host).is_loopback
    return _same_ip(host, bhost)


def origin_allowed(value: str, bound: tuple[str, int], extra: tuple[str, ...] = ()) -> bool:
    """Whether an ``Origin`` header is this server's own (``http(s)://<allowed host>``)."""
    scheme, sep, rest = value.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https") or "/" in rest:
        return False
    return host_allowed(rest, bound, extra)


def check_bind(host: str, token: str | None) -> None:
    """Loopback only, unless a token protects the endpoint."""
    if not is_loopback(host) and not token:
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
        *,
        allowed_hosts: tuple[str, ...] = (),
        explicit_token: bool | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.explicit_token = bool(token) if explicit_token is None else explicit_token
        self.server: asyncio.Server | None = None
        self.bound: tuple[str, int] = ("127.0.0.1", 0)
        self.requests = 0
        self.refused: dict[str, int] = {"forbidden": 0, "unauthorized": 0, "media_type": 0}
        self._clients: set[asyncio.Task[object]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        check_bind(host, self.token if self.explicit_token else None)
        self.server = await asyncio.start_server(self._client, host, port, limit=MAX_HEADER)
        sock = self.server.sockets[0].getsockname()
        self.bound = (host, int(sock[1]))
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
        path = target.split("?", 1)[0]
        refusal = self._refusal(method, path, headers)
        if refusal is not None:
            status, reason, message = refusal
            self.refused[reason] += 1
            code = {401: UNAUTHORIZED, 403: FORBIDDEN}.get(status, INVALID_REQUEST)
            await self._send(writer, status, _json(error_response(None, code, message)), "application/json", close=close)
            return not close
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

    def _refusal(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, str] | None:
        """``(status, counter, message)`` when the request must not reach any route."""
        host = headers.get("host")
        if host is None or not host_allowed(host, self.bound, self.allowed_hosts):
            return 403, "forbidden", "forbidden: the Host header does not name this server"
        origin = headers.get("origin")
        if origin is not None and not origin_allowed(origin, self.bound, self.allowed_hosts):
            return 403, "forbidden", "forbidden: cross-origin requests are not accepted"
        read_only = method == "GET" and path in ("/health", "/metrics")
        if self.token and not (read_only and is_loopback(self.bound[0])) and not self._authorised(headers):
            return 401, "unauthorized", "unauthorized: missing or wrong control token"
        if method == "POST" and path in ("/", "/rpc"):
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                return 415, "media_type", "unsupported media type: send Content-Type: application/json"
        return None

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
