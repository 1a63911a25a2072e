"""``mod_redis``: Redis commands from DSM scripts (``modules.md`` section 11).

Built on redis-py's low-level :class:`redis.connection.Connection` rather than
the :class:`redis.Redis` client: the reference drives one socket with
"append a command" and "read the next reply" (hiredis), and a plain
connection offers exactly that — ``send_command`` writes, ``read_response``
reads the next pending reply in order.  That makes ``redis.appendCommand`` /
``redis.getReply`` real pipelining, and keeps ``redis.execCommand`` the same
write-then-read pair (so a command sent while replies are still pending
reads the oldest pending reply, as with hiredis).

Object store (M-api-11): ``db_redis.con`` holds a :class:`RedisConnection`.

REFERENCE QUIRKS reproduced here:

* integer replies are truncated to 32-bit signed (``_int32``);
* a successful command does not clear ``$errno``;
* commands are split at blanks only; quotes are sent literally;
* ``connect_timeout`` is in milliseconds; ``tcp:host:6379`` is rejected
  (the ``:6379`` is read as a malformed parameter).
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis
import redis.connection
import redis.exceptions

from dsm.runtime.actions.objects import take_ownership
from dsm.runtime.context import ActionContext, config_seconds
from dsm.runtime.registry import Module
from dsm.runtime.session import LEVEL_ERROR, LEVEL_INFO
from dsm.runtime.values import parse_int, parse_uint, strip_dollar

__all__ = ["module", "RedisConnection", "parse_redis_url", "RedisURL"]

module = Module("mod_redis", doc="Redis access (modules.md section 11)")

CON = "db_redis.con"

_URL_PREFIX = "missing correct db_url config or connect parameter - "
NOT_CONNECTED = "Not connected to REDIS\n"
CONNECTION_ERROR = "REDIS connection error"
WRITE_ERROR = "REDIS write error"

_IO_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.InvalidResponse,  # protocol failure: the stream cannot be trusted any more
    OSError,
)
EMPTY_COMMAND = "empty REDIS command\n"


class RedisURL:
    """The parts of a ``redis://<tcp|unix>:<host>[;param=value]…`` URL."""

    def __init__(
        self, protocol: str, host: str, port: int, connect_timeout_ms: int, full_logging: bool
    ) -> None:
        self.protocol = protocol
        self.host = host
        self.port = port
        self.connect_timeout_ms = connect_timeout_ms
        self.full_logging = full_logging


def parse_redis_url(url: str) -> RedisURL | str:
    """Parse a connect URL (M-redis-1); a ``str`` result is the strerror of a rejected URL."""
    if len(url) < 11 or not url.startswith("redis://"):
        return _URL_PREFIX + "must start with redis://\n"
    rest = url[8:]
    colon = rest.find(":")
    protocol = rest if colon < 0 else rest[:colon]
    if protocol not in ("tcp", "unix"):
        return _URL_PREFIX + "must start with unix or tcp protocol\n"
    rest = "" if colon < 0 else rest[colon + 1 :]
    end = len(rest)
    for sep in ":;":
        idx = rest.find(sep)
        if 0 <= idx < end:
            end = idx
    host = rest[:end]
    if not host:
        return _URL_PREFIX + "host must be non-empty\n"
    port, timeout_ms, full_logging = 6379, 500, False
    for piece in rest[end + 1 :].split(";"):
        if not piece:
            continue
        if piece.count("=") != 1:
            return _URL_PREFIX + f"invalid parameter '{piece}'\n"
        name, value = piece.split("=")
        if name == "port":
            parsed = parse_uint(value)
            if parsed is None:
                return _URL_PREFIX + f"invalid port '{value}'\n"
            port = parsed
        elif name == "connect_timeout":
            parsed = parse_int(value)
            if parsed is None:
                return _URL_PREFIX + f"invalid connect_timeout '{value}'\n"
            timeout_ms = parsed
        elif name == "full_logging":
            full_logging = value == "true"
        elif name == "use_transactions":
            pass  # accepted, without effect (as in the reference)
        else:
            return _URL_PREFIX + f"unknown parameter '{name}'\n"
    return RedisURL(protocol, host, port, timeout_ms, full_logging)


DEFAULT_TIMEOUT = 5.0
"""Seconds a command may wait for its reply (dsm.conf ``redis_timeout``)."""


class RedisConnection:
    """The ``db_redis.con`` object: one Redis socket plus the count of unread replies.

    An I/O failure drops the socket; the next command opens it again (the
    reference's automatic reconnect).  A reply that does not come within
    ``timeout`` seconds is such a failure (``errno = connection``), so a
    stalled server never holds a call for ever (DIFFERENCE: hiredis waits).
    """

    def __init__(self, url: RedisURL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        connect = url.connect_timeout_ms / 1000.0 if url.connect_timeout_ms > 0 else None
        self.conn: redis.connection.AbstractConnection
        if url.protocol == "unix":
            self.conn = redis.connection.UnixDomainSocketConnection(  # type: ignore[abstract]
                path=url.host, socket_timeout=timeout, socket_connect_timeout=connect
            )
        else:
            self.conn = redis.connection.Connection(
                host=url.host, port=url.port, socket_timeout=timeout, socket_connect_timeout=connect
            )
        self.pending = 0

    def connect(self) -> None:
        self.conn.connect()

    def drop(self) -> None:
        self.pending = 0
        self.conn.disconnect()

    def send(self, args: list[bytes]) -> None:
        self.conn.send_command(*args)
        self.pending += 1

    def read(self) -> Any:
        """The next pending reply; a Redis error reply is returned, not raised."""
        self.pending = max(0, self.pending - 1)
        try:
            return self.conn.read_response(disable_decoding=True)
        except redis.exceptions.ResponseError as exc:
            return exc

    def dispose(self) -> None:
        """Close the socket (session end, ``freeObject``)."""
        with contextlib.suppress(Exception):  # clean-up must not fail the session
            self.conn.disconnect()


# --------------------------------------------------------------------------- helpers
def _int32(value: int) -> int:
    """REFERENCE QUIRK: integer replies are stored truncated to 32-bit signed."""
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _decode(ctx: ActionContext, reply: Any, var: str) -> None:
    """Store a reply in ``var`` (section 11): arrays as ``var[0]``, ``var[1]`` … recursively.

    An error reply (or error element) stores nothing for that element and sets
    ``errno = write``.
    """
    if isinstance(reply, redis.exceptions.ResponseError):
        ctx.set_error("write", WRITE_ERROR)
    elif reply is None:
        ctx.vars[var] = "nil"
    elif isinstance(reply, bool):
        ctx.vars[var] = str(int(reply))
    elif isinstance(reply, int):
        ctx.vars[var] = str(_int32(reply))
    elif isinstance(reply, bytes | str):
        ctx.vars[var] = _text(reply)
    elif isinstance(reply, list | tuple):
        for i, element in enumerate(reply):
            _decode(ctx, element, f"{var}[{i}]")
    else:  # doubles, sets, maps of newer protocols: their text form
        ctx.vars[var] = str(reply)


def _connection(ctx: ActionContext) -> RedisConnection | None:
    obj = ctx.objects.get(CON)
    if not isinstance(obj, RedisConnection):
        ctx.set_error("connection", NOT_CONNECTED)
        return None
    return obj


def _command_args(text: str) -> list[bytes]:
    """Split a command at blanks; quotes and ``%`` are sent as they are (QUIRK)."""
    return [part.encode("utf-8", "surrogateescape") for part in text.split(" ") if part]


def _log_full(ctx: ActionContext, con: RedisConnection, message: str) -> None:
    if con.url.full_logging:
        ctx.log(LEVEL_INFO, message)


def _lost(ctx: ActionContext, con: RedisConnection) -> None:
    con.drop()
    ctx.set_error("connection", CONNECTION_ERROR)


# --------------------------------------------------------------------------- actions
@module.action("redis.connect", style="S", blocking=True)
def connect(ctx: ActionContext, arg: str) -> None:
    """M-redis-1: connect to the URL given or ``$config.redis_db_url``; clears errno and strerror."""
    url = ctx.resolve(arg) or ctx.vars.get("config.redis_db_url", "")
    parsed = parse_redis_url(url)
    if isinstance(parsed, str):
        ctx.set_error("arg", parsed)
        return
    con = RedisConnection(parsed, config_seconds(ctx, "redis_timeout", DEFAULT_TIMEOUT))
    try:
        con.connect()
    except _IO_ERRORS as exc:
        ctx.log(LEVEL_ERROR, f"redis.connect to {url} failed: {exc}")
        ctx.set_error("connection", "Could not connect to redis DB")
        return
    take_ownership(ctx, con)
    ctx.objects[CON] = con
    ctx.set_error("", "")


@module.action("redis.disconnect", style="N", blocking=True)
def disconnect(ctx: ActionContext) -> None:
    """M-redis-2: close and discard the connection."""
    con = ctx.objects.get(CON)
    if not isinstance(con, RedisConnection):
        ctx.set_error("connection", "No connection to redis database")
        return
    con.dispose()
    del ctx.objects[CON]
    ctx.clear_error()


@module.action("redis.execCommand", style="P=mand", blocking=True)
def exec_command(ctx: ActionContext, dst: str, command: str) -> None:
    """M-redis-3: run ``I(command)`` and decode its reply into ``$var``; errno not cleared."""
    var = strip_dollar(dst)
    con = _connection(ctx)
    if con is None:
        return
    args = _command_args(ctx.interpolate(command))
    if not args:
        # hiredis would send an empty request the server never answers; refuse it instead
        ctx.set_error("arg", EMPTY_COMMAND)
        return
    _log_full(ctx, con, f"redis command: {args!r}")
    try:
        con.connect()
    except _IO_ERRORS:
        ctx.set_error("connection", NOT_CONNECTED)
        return
    try:
        con.send(args)
        reply = con.read()
    except _IO_ERRORS:
        _lost(ctx, con)
        return
    _log_full(ctx, con, f"redis reply: {reply!r}")
    _decode(ctx, reply, var)


@module.action("redis.appendCommand", style="S", blocking=True)
def append_command(ctx: ActionContext, command: str) -> None:
    """M-redis-4: queue ``I(command)`` without reading its reply; clears errno and strerror."""
    con = _connection(ctx)
    if con is None:
        return
    args = _command_args(ctx.interpolate(command))
    if not args:
        # hiredis would send an empty request the server never answers; refuse it instead
        ctx.set_error("arg", EMPTY_COMMAND)
        return
    _log_full(ctx, con, f"redis append: {args!r}")
    try:
        con.send(args)
    except _IO_ERRORS:
        _lost(ctx, con)
        return
    ctx.set_error("", "")


@module.action("redis.getReply", style="S", blocking=True)
def get_reply(ctx: ActionContext, dst: str) -> None:
    """M-redis-5: read the next pending reply into ``$var``.

    With nothing pending the reference blocks for ever; here ``errno = read``
    is set instead.
    """
    var = strip_dollar(dst)
    con = _connection(ctx)
    if con is None:
        return
    if con.pending <= 0:
        ctx.set_error("read", "no pending REDIS reply")
        return
    try:
        reply = con.read()
    except _IO_ERRORS:
        _lost(ctx, con)
        return
    _log_full(ctx, con, f"redis reply: {reply!r}")
    _decode(ctx, reply, var)
