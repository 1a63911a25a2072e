"""``mod_mysql``: SQL against a MySQL/MariaDB server from DSM scripts (``modules.md`` section 9).

The client library is PyMySQL: pure Python, so it installs everywhere the
runtime does, and it exposes what the reference's behaviour is made of —
the server's error numbers and messages, the affected-row count and last
insert id of a statement, whether a statement produced a result set, and the
connection's own string escaping.  The connection is opened *without* type
decoders, so every column arrives as the text the server sent (or as bytes
for binary columns); this is what the reference stores in variables, and it
saves the conversion work per row.

Objects kept in the session's object store (M-api-11): ``db.con`` (a
:class:`MySQLConnection`), ``db.res`` (a :class:`MySQLResult`) and any names
given to ``mysql.saveResult``.  After ``mysql.disconnect`` the ``db.con``
entry holds ``None`` (the reference's "empty entry").

REFERENCE QUIRKS reproduced here (each is marked where it happens):

* ``Q`` substitution keeps the backslash of ``\\$``/``\\#`` and rescans inside
  inserted values one character after the marker (:func:`substitute_query`).
* Two-argument actions split their SQL at the first unquoted comma (this is
  the compiler's style P; nothing to do here, but the docs say to quote).
* ``mysql.getClientVersion(v)`` writes the variable named by its argument,
  not ``$db.client_version``.
* ``mysql.connect`` splits its URL at the first ``:``, ``@`` and ``/`` (a
  password containing those characters breaks it).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import pymysql
import pymysql.converters
from pymysql.constants import COMMAND, CR, SERVER_STATUS

from dsm.modules.mysql_reply import ReplyFrame
from dsm.runtime.actions.objects import take_ownership
from dsm.runtime.blocking import loop_form, on_host
from dsm.runtime.call import AudioOpenError, FileItem
from dsm.runtime.context import ActionContext, config_seconds
from dsm.runtime.registry import Module
from dsm.runtime.resumable import ON_POOL, WaitReply
from dsm.runtime.values import parse_uint, strip_dollar

__all__ = ["module", "MySQLConnection", "MySQLResult", "substitute_query", "parse_db_url"]

module = Module("mod_mysql", doc="MySQL / MariaDB access (modules.md section 9)")

CON = "db.con"
RES = "db.res"

NO_CONNECTION = "No connection to database"
NO_RESULT = "No result available"
ROW_BOUNDS = "row index out of result rows bounds"
URL_ERROR = "missing correct db_url config or connect parameter\n"
CA_ERROR = "cannot access mysql_ca_cert file\n"
TLS_CIPHER = "DHE-RSA-AES256-SHA"

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to connect (dsm.conf ``mysql_connect_timeout``)."""
DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a statement may wait for the server (dsm.conf ``mysql_read_timeout``, also for
writes): a stalled server fails the statement with the usual ``errno = query`` (2013, lost
connection) instead of holding the call for ever."""

# "Server has gone away" (the statement was not sent): auto-reconnect sends it again.
_GONE_AWAY = 2006

LOOP_REPLY_LIMIT = 1 << 20
"""Bytes of a reply gathered on the event loop; a larger one is read and parsed on a worker."""

_MAX_PACKET = 0xFFFFFF  # a payload this long continues in the next packet

# Encoders only: with no decoders every value arrives as server text (str) or bytes.
_TEXT_ONLY_CONV: dict[Any, Any] = {
    k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
}

Value = str | bytes | None


# --------------------------------------------------------------------------- objects
class _Replay:
    """PyMySQL's read file while bytes read on the loop are still unparsed: those, then the socket.

    Used for a reply handed to a worker half read (the rest comes from the
    socket, blocking there as usual) and for the further results a
    procedure call leaves after the first (PyMySQL reads them before the
    next statement).  A whole reply is parsed from an ``io.BytesIO``.
    """

    __slots__ = ("buf", "pos", "raw")

    def __init__(self, raw: Any, data: bytes | bytearray = b"") -> None:
        self.buf = bytearray(data)
        self.pos = 0
        self.raw = raw

    def read(self, n: int) -> bytes:
        buf = self.buf
        pos = self.pos
        have = len(buf) - pos
        if have <= 0:
            return bytes(self.raw.read(n))
        if have >= n:
            data = bytes(buf[pos : pos + n])
            self.pos = pos + n
        else:
            data = bytes(buf[pos:])
            self.pos = len(buf)
        if self.pos >= len(buf):
            buf.clear()
            self.pos = 0
        if len(data) < n:
            data += self.raw.read(n - len(data)) or b""
        return data

    def close(self) -> None:
        self.raw.close()


class _Packets:
    """PyMySQL's packet reader for a reply already in memory (framed by ``ReplyFrame``).

    Does what ``Connection._read_packet`` does — sequence check, PyMySQL's
    packet class, its error packet raised — without the socket-read layer
    (two file reads and a header unpack per packet: a fifth of the parse of
    a one-row select).  A packet not whole in memory (a connection lost
    mid-reply) goes to PyMySQL's own reader over the bytes left, which
    reports the loss as it would.
    """

    __slots__ = ("con", "data", "pos", "memory")

    def __init__(self, con: pymysql.connections.Connection, data: bytes) -> None:
        self.con = con
        self.data = data
        self.pos = 0
        self.memory: io.BytesIO | None = None

    def read(self, packet_type: Any = pymysql.protocol.MysqlPacket) -> Any:
        data = self.data
        pos = self.pos
        con = self.con
        if pos + 4 <= len(data):
            size = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
            end = pos + 4 + size
            if size < _MAX_PACKET and end <= len(data):
                seq = data[pos + 3]
                if seq != con._next_seq_id:  # as PyMySQL: its check, its errors
                    self.pos = len(data)
                    con._force_close()
                    if seq == 0:
                        raise pymysql.err.OperationalError(
                            CR.CR_SERVER_LOST, "Lost connection to MySQL server during query"
                        )
                    raise pymysql.err.InternalError(
                        f"Packet sequence number wrong - got {seq} expected {con._next_seq_id}"
                    )
                con._next_seq_id = (seq + 1) % 256
                self.pos = end
                packet = packet_type(data[pos + 4 : end], con.encoding)
                if packet.is_error_packet():
                    result = con._result
                    if result is not None and result.unbuffered_active is True:
                        result.unbuffered_active = False
                    packet.raise_for_error()
                return packet
        if self.memory is None:  # nothing more to come: PyMySQL finds the reply cut
            self.memory = io.BytesIO(data[pos:])
            self.pos = len(data)
            if con._rfile is not None:
                con._rfile = self.memory
        return pymysql.connections.Connection._read_packet(con, packet_type)

    def rest(self) -> bytes:
        """The bytes not read yet."""
        if self.memory is not None:
            return self.memory.read()
        return self.data[self.pos :]


DESCRIBED_LIMIT = 64
"""Column descriptions a connection keeps (:class:`_Described`); more, and it starts afresh."""

Described = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], tuple[str, ...], str]
"""What PyMySQL made of a result's column packets: fields, converters, description, labels,
and the connection encoding they were decoded with."""


class _Described(pymysql.connections.MySQLResult):
    """PyMySQL's result, its column descriptions reused when their bytes were seen before.

    A statement run again gets the same column packets (count, definitions,
    EOF) from the server, and PyMySQL parses them again each time (about a
    third of the parse of a one-row select).  Their bytes, headers and
    sequence numbers included, key what PyMySQL made of them, per
    connection; rows are parsed as always.  Anything else (an OK or error
    packet, columns not whole in memory) goes PyMySQL's way.
    """

    def __init__(
        self, con: pymysql.connections.Connection, packets: _Packets, cache: dict[bytes, Described]
    ) -> None:
        super().__init__(con)
        self.packets = packets
        self.cache = cache
        self.labels: tuple[str, ...] | None = None
        self.key: bytes | None = None  # the column packets' bytes, when whole in memory
        self.key_end = 0  # where they end in packets.data
        self.last_seq = 0  # the sequence number of their last packet

    def read(self) -> None:
        con: Any = self.connection
        key = self._columns_key(con)
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None and hit[4] == con.encoding:
                self._reuse(hit, con)
                return
            self.key = key
        super().read()

    def _columns_key(self, con: Any) -> bytes | None:
        """The bytes of a result set's column packets, if the reply starts with them, whole."""
        packets = self.packets
        data = packets.data
        start = packets.pos
        size = len(data)
        if (
            packets.memory is not None
            or start + 5 > size
            or data[start] != 1  # a one-byte column count: 1 to 250 columns
            or data[start + 1]
            or data[start + 2]
            or data[start + 3] != con._next_seq_id
            or not 0 < data[start + 4] < 0xFB
        ):
            return None
        end = start + 5
        last = start
        for _ in range(data[start + 4] + 1):  # the definitions and their EOF
            if end + 4 > size:
                return None
            last = end
            end += 4 + (data[end] | data[end + 1] << 8 | data[end + 2] << 16)
        if end > size:
            return None
        self.key_end = end
        self.last_seq = data[last + 3]
        return data[start:end]

    def _reuse(self, hit: Described, con: Any) -> None:
        fields, converters, self.description, self.labels, _ = hit
        self.field_count = len(fields)
        self.fields = list(fields)
        self.converters = list(converters)
        self.packets.pos = self.key_end
        con._next_seq_id = (self.last_seq + 1) % 256
        try:
            self._read_rowdata_packet()
        finally:
            self.connection = None

    def _get_descriptions(self) -> None:
        con: Any = self.connection
        super()._get_descriptions()
        if self.key is not None and self.packets.pos == self.key_end:
            self.labels = tuple(str(d[0]) for d in self.description)
            if len(self.cache) >= DESCRIBED_LIMIT:
                self.cache.clear()
            self.cache[self.key] = (
                tuple(self.fields), tuple(self.converters), self.description,
                self.labels, con.encoding,
            )


class MySQLConnection:
    """The ``db.con`` object: an open PyMySQL connection with automatic reconnect."""

    def __init__(self, con: pymysql.connections.Connection) -> None:
        self.con = con
        self.described: dict[bytes, Described] = {}  # see _Described
        self.waiting: WaitReply | None = None  # a statement's reply awaited on the loop
        self.watch: WaitReply | None = None  # the last one: its socket may stay registered
        self.pending: _Pending | None = None  # the loop wait's state, reused per statement

    def loop_ready(self) -> bool:
        """Whether a statement can wait for its reply on the loop: open, and not TLS.

        (TLS bytes cannot be framed before decryption: such connections keep the pool.)
        """
        sock = self.con._sock
        return sock is not None and not isinstance(sock, ssl.SSLSocket) and self.waiting is None

    def send(self, sql: str | bytes) -> None:
        """Send a statement without reading its reply (see :meth:`receive`)."""
        con = self.con
        con._write_bytes = self._write_now  # shadows the method while the statement is sent
        try:
            con._execute_command(COMMAND.COM_QUERY, sql)
        finally:
            del con._write_bytes
        rfile = con._rfile
        if type(rfile) is _Replay and rfile.pos >= len(rfile.buf):
            con._rfile = rfile.raw  # leftovers of an earlier reply are read: back to the socket

    def _write_now(self, data: bytes) -> None:
        """PyMySQL's write, without the readiness poll its socket timeout costs first.

        On the loop the socket is plain and its last reply was read whole, so
        the kernel takes a statement at once; whatever it does not take
        PyMySQL writes as usual, with its timeout and its errors.
        """
        con = self.con
        try:
            sent = os.write(con._sock.fileno(), data)
        except OSError:  # full, or broken: PyMySQL's own write waits or reports it
            sent = 0
        if sent < len(data):
            pymysql.connections.Connection._write_bytes(con, data[sent:])

    def receive(self, reply: bytes | bytearray) -> tuple[int, MySQLResult | None]:
        """Parse the reply of :meth:`send`, all of it in ``reply`` (as :meth:`_run` reads it).

        PyMySQL's result classes parse it, their packets handed over from
        memory (:class:`_Packets`); bytes it leaves (further results of a
        procedure call, read before the next statement) stay for later.
        """
        con = self.con
        raw = con._rfile
        packets = _Packets(con, bytes(reply))
        con._read_packet = packets.read  # shadows the method while this reply is parsed
        try:
            return self._run_reply(_Described(con, packets, self.described))
        finally:
            del con._read_packet
            if con._rfile is not None:  # else PyMySQL closed the connection meanwhile
                rest = packets.rest()
                con._rfile = _Replay(raw, rest) if rest else raw

    def receive_rest(self, reply: bytearray) -> tuple[int, MySQLResult | None]:
        """Parse a reply of which ``reply`` is the start; the rest from the socket (blocking)."""
        con = self.con
        con._rfile = _Replay(con._rfile, reply)
        return self._run_reply()

    def _run_reply(self, result: _Described | None = None) -> tuple[int, MySQLResult | None]:
        """PyMySQL reads the reply; its result object gives what a cursor would.

        No cursor: it only copies the result's fields (``rowcount``,
        ``description``, rows) and, on close, reads a procedure's further
        results — done here as it does (a tenth of the parse of a one-row
        select saved, ``docs/modules.md``).  ``result``: the result object
        to read into (as PyMySQL's ``_read_query_result`` does), else
        PyMySQL's own.
        """
        con = self.con
        if result is None:
            con._affected_rows = con._read_query_result()
            result = con._result
            labels = None
        else:
            con._result = None
            result.read()
            con._result = result
            if result.server_status is not None:
                con.server_status = result.server_status
            con._affected_rows = result.affected_rows
            labels = result.labels
        affected = int(result.affected_rows)
        description = result.description
        rows = result.rows
        while con._result is not None and con._result.has_next:  # as closing a cursor does
            con.next_result()
        if description is None:
            return affected, None
        if labels is None:
            labels = tuple(str(d[0]) for d in description)
        return affected, MySQLResult(labels, list(rows or ()))

    @property
    def open(self) -> bool:
        return bool(self.con.open)

    def run(self, sql: str | bytes) -> tuple[int, MySQLResult | None]:
        """Execute one statement; return (affected rows, result or ``None`` when no result set).

        Automatic reconnect as the reference's client library does it: a
        connection found closed is re-opened before the statement; a
        statement that could not even be sent (server gone away) is sent once
        more on a new connection; a connection lost while waiting for the
        answer fails that statement (it may have run) and the next statement
        reconnects.
        """
        if not self.con.open:
            self.con.connect()
        try:
            return self._run(sql)
        except pymysql.err.OperationalError as exc:
            if not exc.args or exc.args[0] != _GONE_AWAY:
                raise
        with contextlib.suppress(Exception):  # the old socket is dead anyway
            self.con.close()
        self.con.connect()
        return self._run(sql)

    def _run(self, sql: str | bytes) -> tuple[int, MySQLResult | None]:
        with self.con.cursor() as cur:
            affected = cur.execute(sql)  # type: ignore[arg-type]  # PyMySQL accepts bytes too
            if cur.description is None:
                return affected, None
            columns = tuple(str(d[0]) for d in cur.description)
            return affected, MySQLResult(columns, list(cur.fetchall()))

    def escape(self, value: str) -> str:
        """Escape for use inside an SQL string literal, honouring ``NO_BACKSLASH_ESCAPES``."""
        if self.con.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
            return value.replace("'", "''")
        return pymysql.converters.escape_string(value)

    def insert_id(self) -> int:
        return int(self.con.insert_id())

    def dispose(self) -> None:
        """Close the connection (session end, ``freeObject``)."""
        if self.watch is not None:  # stop the loop's watch before the socket goes
            self.watch.abandon()
            self.watch = self.waiting = None
        try:
            if self.con.open:
                self.con.close()
        except Exception:  # a dead socket must not stop the session's clean-up
            pass


class MySQLResult:
    """The ``db.res`` object: a complete, stored result set (column labels and rows)."""

    def __init__(self, columns: Sequence[str], rows: list[tuple[Value, ...]]) -> None:
        self.columns = tuple(columns)
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def dispose(self) -> None:
        self.rows = []


class _TempAudio:
    """An audio file written from the database; deleted when the session ends."""

    def __init__(self, path: str) -> None:
        self.path = path

    def dispose(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)


# --------------------------------------------------------------------------- helpers
def _text(value: Value) -> str:
    """A column value as a variable value: NULL is empty, bytes keep every byte."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _bytes(value: Value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


_MARKER = re.compile(r"[$#]")
_NAME = re.compile(r"[^ ,()$#\t;'\"]*")


def substitute_query(ctx: ActionContext, text: str) -> str:
    """``Q(x)``: put variables and event parameters into SQL text (section 9).

    ``$name`` becomes the variable (created empty if missing); ``#name`` the
    event parameter (created empty if missing) when the event has
    parameters, else it stays.  Names end at space, ``,`` ``(`` ``)`` ``$``
    ``#`` tab ``;`` ``'`` ``"``.  No escaping is done.

    REFERENCE QUIRK: a marker preceded by a backslash is skipped and the
    backslash stays; after a replacement the scan resumes one character
    after the marker's position, i.e. inside the inserted value, so a ``$``
    or ``#`` in a value (after its first character) is substituted again.
    """
    plan = _PLANS.get(text, _UNPLANNED)
    if plan is _UNPLANNED:
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        plan = _PLANS[text] = _plan(text)
    if plan is None:
        return _substitute_scan(ctx, text)
    literals, refs = plan
    variables = ctx.vars
    params = ctx.params
    out = [literals[0]]
    for i, (marker, name) in enumerate(refs):
        if marker == "$":
            value = variables.setdefault(name, "")
        elif params is not None:
            value = params.setdefault(name, "")
        else:
            value = marker + name  # stays, and the scan goes on after it
        if not value or value[-1] == "\\" or "$" in value or "#" in value:
            return _substitute_scan(ctx, text)  # a value the rescan quirk may touch
        out.append(value)
        out.append(literals[i + 1])
    return "".join(out)


Plan = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_PLANS: dict[str, Plan | None] = {}
_PLANS_MAX = 4096
_UNPLANNED: Any = object()


def _plan(text: str) -> Plan | None:
    """``text`` split once into literals and the ``(marker, name)`` between them.

    ``None`` when a marker is escaped (the scan handles those).  With every
    inserted value free of markers, non-empty and not ending in a backslash,
    joining the plan gives what :func:`_substitute_scan` gives, without
    rescanning the growing string (``tests/modules/test_mod_mysql.py``
    checks the two agree on generated templates).
    """
    literals: list[str] = []
    refs: list[tuple[str, str]] = []
    pos = last = 0
    while True:
        found = _MARKER.search(text, pos)
        if found is None:
            break
        k = found.start()
        if k > 0 and text[k - 1] == "\\":
            return None
        e = _NAME.match(text, k + 1).end()  # type: ignore[union-attr]  # matches the empty string
        literals.append(text[last:k])
        refs.append((text[k], text[k + 1 : e]))
        pos = last = e
    literals.append(text[last:])
    return tuple(literals), tuple(refs)


def _substitute_scan(ctx: ActionContext, text: str) -> str:
    """``Q(x)`` exactly as the reference scans (see :func:`substitute_query`)."""
    res = text
    pos = 0
    params = ctx.params
    while True:
        found = _MARKER.search(res, pos)
        if found is None:
            break
        k = found.start()
        pos = k + 1
        if k > 0 and res[k - 1] == "\\":
            continue
        e = _NAME.match(res, k + 1).end()  # type: ignore[union-attr]  # matches the empty string
        name = res[k + 1 : e]
        if res[k] == "$":
            value = ctx.vars.setdefault(name, "")
        elif params is not None:
            value = params.setdefault(name, "")
        else:
            continue
        res = res[:k] + value + res[e:]
    return res


def parse_db_url(url: str) -> tuple[str, str, str, str] | None:
    """Split ``mysql://user:pwd@host/db`` into (user, password, host, database) like M-mysql-1.

    ``None`` when the URL is shorter than 11 characters or lacks the prefix.
    REFERENCE QUIRK: user ends at the first ``:``, the password at the next
    ``@``, the host starts after the first ``@`` and ends at the next ``/``,
    the database is everything after the first ``/``.
    """
    if len(url) < 11 or not url.startswith("mysql://"):
        return None
    s = url[8:]

    def until(start: int, sep: str) -> str:
        end = s.find(sep, start)
        return s[start:] if end < 0 else s[start:end]

    colon = s.find(":")
    user = s if colon < 0 else s[:colon]
    password = until(colon + 1, "@")
    at = s.find("@")
    host = until(at + 1, "/")
    database = s[s.find("/") + 1 :]
    return user, password, host, database


def _split_host(host: str) -> tuple[str, int | None, str | None]:
    """``host``, ``host:port`` or a socket path (``host`` starting with ``/`` cannot occur in a URL)."""
    if host.startswith("/"):
        return "localhost", None, host
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name or "localhost", int(port), None
    return host or "localhost", None, None


def _connection(ctx: ActionContext) -> MySQLConnection | None:
    """The session's connection, or ``None`` with ``errno = connection`` set (section 9)."""
    if CON not in ctx.objects:
        ctx.set_error("connection", NO_CONNECTION)
        return None
    obj = ctx.objects[CON]
    if obj is None:
        ctx.set_error("connection", NO_CONNECTION + " (not AmObject)")
        return None
    if not isinstance(obj, MySQLConnection):
        ctx.set_error("connection", NO_CONNECTION + " (no sql::Connection)")
        return None
    return obj


def _result(ctx: ActionContext) -> MySQLResult | None:
    """The current ``db.res``, or ``None`` with ``errno = result`` set."""
    if RES not in ctx.objects:
        ctx.set_error("result", NO_RESULT)
        return None
    obj = ctx.objects[RES]
    if obj is None:
        ctx.set_error("result", "Result object has wrong type")
        return None
    if not isinstance(obj, MySQLResult):
        ctx.set_error("result", "No result object")
        return None
    return obj


def _driver_error(exc: Exception) -> tuple[str, str]:
    """(error number, message) of a PyMySQL exception."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2:
        return str(args[0]), str(args[1])
    if len(args) == 1:
        return "0", str(args[0])
    return "0", type(exc).__name__


def _query_failed(ctx: ActionContext, exc: Exception) -> None:
    _, message = _driver_error(exc)
    ctx.vars["db.ereason"] = message
    ctx.set_error("query", message)


def _run(
    ctx: ActionContext, con: MySQLConnection, sql: str | bytes
) -> tuple[int, MySQLResult | None] | None:
    """Run a statement; on a driver error set ``errno = query`` and return ``None``."""
    try:
        return con.run(sql)
    except (pymysql.err.MySQLError, OSError) as exc:
        _query_failed(ctx, exc)
        return None


def _set_row(ctx: ActionContext, res: MySQLResult, row: int, column: str = "") -> bool:
    values = res.rows[row]
    if column:
        try:
            idx = res.columns.index(column)
        except ValueError:
            ctx.set_error("result", f"bad field name '{column}'")
            return False
        ctx.vars[column] = _text(values[idx])
        return True
    for name, value in zip(res.columns, values):
        ctx.vars[name] = _text(value)
    return True


def _statement_done(
    ctx: ActionContext, con: MySQLConnection, affected: int, has_rows: bool
) -> None:
    """Result variables of a statement run for its effect (M-mysql-3, M-mysql-15)."""
    ctx.vars["db.rows"] = "0" if has_rows else str(affected)
    ctx.vars["db.info"] = ""
    ctx.vars["db.insert_id"] = "0" if has_rows else str(con.insert_id())


# --------------------------------------------------------------------------- actions
@module.action("mysql.connect", style="S", blocking=True)
def connect(ctx: ActionContext, arg: str) -> None:
    """M-mysql-1: open the connection given by the argument or ``$config.db_url``."""
    url = ctx.resolve(arg) or ctx.vars.get("config.db_url", "")
    parts = parse_db_url(url)
    if parts is None:
        ctx.set_error("arg", URL_ERROR)
        return
    user, password, host, database = parts
    ca_cert = ctx.vars.get("config.mysql_ca_cert", "")
    ssl: dict[str, Any] | None = None
    if ca_cert:
        if not os.access(ca_cert, os.R_OK):
            ctx.set_error("config", CA_ERROR)
            return
        ssl = {"ca": ca_cert, "cipher": TLS_CIPHER}
    hostname, port, unix_socket = _split_host(host)
    try:
        con = pymysql.connect(
            host=hostname,
            port=port or 3306,
            unix_socket=unix_socket,
            user=user,
            password=password,
            database=database or None,
            charset="utf8mb4",
            conv=_TEXT_ONLY_CONV,
            autocommit=True,
            ssl=ssl,
            # Without mysql_ca_cert the connection is plain (K-33).  PyMySQL would otherwise
            # build a TLS context for every connect ("preferred" mode): ~50 ms of CPU that
            # holds the GIL, so every other call's media on the server would stall meanwhile.
            ssl_disabled=ssl is None,
            connect_timeout=config_seconds(ctx, "mysql_connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=config_seconds(ctx, "mysql_read_timeout", DEFAULT_READ_TIMEOUT),
            write_timeout=config_seconds(ctx, "mysql_read_timeout", DEFAULT_READ_TIMEOUT),
        )
    except (pymysql.err.MySQLError, OSError) as exc:
        number, message = _driver_error(exc)
        ctx.vars["db.errno"] = number
        ctx.vars["db.ereason"] = message
        ctx.set_error("connection", message)
        return
    wrapper = MySQLConnection(con)
    take_ownership(ctx, wrapper)
    ctx.objects[CON] = wrapper
    ctx.clear_error()


@module.action("mysql.disconnect", style="N", blocking=True)
def disconnect(ctx: ActionContext) -> None:
    """M-mysql-2: close the connection; ``db.con`` becomes an empty entry."""
    con = _connection(ctx)
    if con is None:
        return
    try:
        con.con.close()
    except pymysql.err.MySQLError as exc:
        _, message = _driver_error(exc)
        ctx.vars["db.ereason"] = message
        ctx.set_error("connection", message)
        return
    ctx.objects[CON] = None
    ctx.clear_error()


@module.action("mysql.execute", style="S", blocking=True)
def execute(ctx: ActionContext, sql: str) -> None:
    """M-mysql-3: run a statement for its effect; result rows are discarded."""
    con = _connection(ctx)
    if con is None:
        return
    _execute_end(ctx, con, _run(ctx, con, substitute_query(ctx, sql)))


def _execute_end(
    ctx: ActionContext, con: MySQLConnection, done: tuple[int, MySQLResult | None] | None
) -> None:
    if done is None:
        return
    affected, res = done
    _statement_done(ctx, con, affected, res is not None)
    ctx.clear_error()


def _rows_or_error(ctx: ActionContext, sql: str) -> MySQLResult | None:
    con = _connection(ctx)
    if con is None:
        return None
    return _rows(ctx, _run(ctx, con, substitute_query(ctx, sql)))


def _rows(ctx: ActionContext, done: tuple[int, MySQLResult | None] | None) -> MySQLResult | None:
    """The statement's result set, or ``None`` with ``errno = query`` when it had none."""
    if done is None:
        return None
    res = done[1]
    if res is None:
        message = "query did not return a result set"
        ctx.vars["db.ereason"] = message
        ctx.set_error("query", message)
    return res


@module.action("mysql.query", style="S", blocking=True)
def query(ctx: ActionContext, sql: str) -> None:
    """M-mysql-4: run a query and keep its whole result as ``db.res``."""
    _query_end(ctx, _rows_or_error(ctx, sql))


def _query_end(ctx: ActionContext, res: MySQLResult | None) -> None:
    if res is None:
        return
    take_ownership(ctx, res)
    ctx.objects[RES] = res
    ctx.vars["db.rows"] = str(len(res))
    ctx.clear_error()


@module.action("mysql.queryGetResult", style="P,opt", blocking=True)
def query_get_result(ctx: ActionContext, sql: str, row_arg: str) -> None:
    """M-mysql-5: run a query and put one row's columns into variables; the result is not kept.

    The statement runs before the row argument is checked (as in the reference).
    """
    _query_get_result_end(ctx, _rows_or_error(ctx, sql), row_arg)


def _query_get_result_end(ctx: ActionContext, res: MySQLResult | None, row_arg: str) -> None:
    if res is None:
        return
    row_text = ctx.resolve(row_arg) if row_arg else ""
    row = parse_uint(row_text)
    if row is None:
        ctx.set_error("arg", f"row index '{row_text}' not understood\n")
        return
    if row >= len(res):
        ctx.set_error("result", ROW_BOUNDS)
        return
    _set_row(ctx, res, row)
    ctx.vars["db.rows"] = str(len(res))
    ctx.clear_error()


# --------------------------------------------------------------------------- waiting on the loop
Done = tuple[int, "MySQLResult | None"] | None


def _on_loop(
    ctx: ActionContext, sql: str, end: Callable[[MySQLConnection, Done], None]
) -> WaitReply | None:
    """Send the statement and return the wait for its reply (``docs/modules.md``, how queries wait).

    ``end(con, done)`` is the action's tail, as after :func:`_run`.  A
    connection that is closed (auto-reconnect) or TLS, or a statement the
    server has gone away for before it was sent, runs the whole action on
    the pool instead (:data:`ON_POOL`).
    """
    con = _connection(ctx)
    if con is None:
        return None
    if not con.loop_ready():
        return ON_POOL  # type: ignore[no-any-return]
    text = substitute_query(ctx, sql)
    try:
        con.send(text)
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == _GONE_AWAY:
            return ON_POOL  # type: ignore[no-any-return]
        _query_failed(ctx, exc)
        return None
    except (pymysql.err.MySQLError, OSError) as exc:
        _query_failed(ctx, exc)
        return None
    pending = con.pending
    if pending is None or pending.wait.sock is not con.con._sock:
        pending = con.pending = _Pending(con)
    pending.start(ctx, end)
    wait = con.waiting = con.watch = pending.wait
    return wait


class _Pending:
    """A connection's statement waiting on the loop: its reply so far and the action's tail.

    One per connection (and socket), reused statement after statement: the
    framing, the buffer and the :class:`WaitReply` are reset, not rebuilt
    (fewer objects per query on ``dsm serve``'s hot path).
    """

    __slots__ = ("con", "ctx", "end", "frame", "buf", "reply", "wait")

    def __init__(self, con: MySQLConnection) -> None:
        self.con = con
        self.ctx: ActionContext | None = None
        self.end: Callable[[MySQLConnection, Done], None] | None = None
        self.frame = ReplyFrame()
        self.buf = bytearray()
        self.reply: bytes | bytearray = b""
        timeout = con.con._read_timeout or DEFAULT_READ_TIMEOUT
        self.wait = WaitReply(con.con._sock, self.feed, self.complete, self.expire, timeout)

    def start(self, ctx: ActionContext, end: Callable[[MySQLConnection, Done], None]) -> None:
        self.ctx = ctx
        self.end = end
        self.frame.reset()
        self.buf.clear()
        self.reply = b""

    def feed(self, data: bytes) -> bool | None:
        if not data:
            return True  # closed: PyMySQL reports the lost connection as it would
        frame = self.frame
        if not self.reply:  # the first chunk: most replies are whole in it (no copy)
            self.reply = data
            if frame.feed(data):
                return True
            self.buf += data
            self.reply = self.buf
        else:
            self.buf += data
            if frame.feed(self.buf):
                return True
        if frame.unsupported or len(self.buf) > LOOP_REPLY_LIMIT:
            return None
        return False

    def complete(self) -> None:
        con, ctx, end = self.con, self.ctx, self.end
        assert ctx is not None and end is not None
        self.ctx = self.end = None
        reply, self.reply = self.reply, b""
        con.waiting = None
        if self.frame.whole or not reply:
            end(con, _received(ctx, con.receive, reply))
        else:  # on a worker: the rest of a large reply from the socket
            end(con, _received(ctx, con.receive_rest, bytearray(reply)))

    def expire(self) -> None:
        con, ctx = self.con, self.ctx
        assert ctx is not None
        self.ctx = self.end = None
        self.reply = b""
        con.waiting = None
        con.con._force_close()
        _query_failed(
            ctx,
            pymysql.err.OperationalError(
                CR.CR_SERVER_LOST, "Lost connection to MySQL server during query (timed out)"
            ),
        )


def _received(
    ctx: ActionContext, receive: Callable[[Any], Done], reply: bytes | bytearray
) -> Done:
    """The reply gathered on the loop, parsed; ``None`` with ``errno = query`` on a driver error."""
    try:
        return receive(reply)
    except (pymysql.err.MySQLError, OSError) as exc:
        _query_failed(ctx, exc)
        return None


@loop_form(execute)
def _execute_on_loop(ctx: ActionContext, sql: str) -> WaitReply | None:
    return _on_loop(ctx, sql, lambda con, done: _execute_end(ctx, con, done))


@loop_form(query)
def _query_on_loop(ctx: ActionContext, sql: str) -> WaitReply | None:
    return _on_loop(ctx, sql, lambda _con, done: _query_end(ctx, _rows(ctx, done)))


@loop_form(query_get_result)
def _query_get_result_on_loop(ctx: ActionContext, sql: str, row_arg: str) -> WaitReply | None:
    return _on_loop(
        ctx, sql, lambda _con, done: _query_get_result_end(ctx, _rows(ctx, done), row_arg)
    )


@module.action("mysql.getResult", style="P,opt")
def get_result(ctx: ActionContext, row_arg: str, column_arg: str) -> None:
    """M-mysql-6: copy a row (or one column of it) of ``db.res`` into variables."""
    res = _result(ctx)
    if res is None:
        return
    row_text = ctx.resolve(row_arg) if row_arg else ""
    row = parse_uint(row_text)
    if row is None:
        ctx.set_error("arg", f"row index '{row_text}' not understood")
        return
    if row >= len(res):
        ctx.set_error("result", ROW_BOUNDS)
        return
    if _set_row(ctx, res, row, ctx.resolve(column_arg)):
        ctx.clear_error()


@module.action("mysql.getClientVersion", style="S")
def get_client_version(ctx: ActionContext, arg: str) -> None:
    """M-mysql-7: the client library version into the variable named ``R(a)``.

    REFERENCE QUIRK: the documented target ``$db.client_version`` is not
    used; an empty argument writes the variable with the empty name.
    """
    if _connection(ctx) is None:
        return
    ctx.vars[ctx.resolve(arg)] = pymysql.get_client_info()
    ctx.clear_error()


@module.action("mysql.resolveQueryParams", style="S")
def resolve_query_params(ctx: ActionContext, sql: str) -> None:
    """M-mysql-8: ``$db.qstr = Q(a)``, to see what a query would send; errno unchanged."""
    ctx.vars["db.qstr"] = substitute_query(ctx, sql)


@module.action("mysql.saveResult", style="S")
def save_result(ctx: ActionContext, arg: str) -> None:
    """M-mysql-9: store the current result (the same object) under another name."""
    ctx.objects[ctx.resolve(arg)] = ctx.objects.get(RES)


@module.action("mysql.useResult", style="S")
def use_result(ctx: ActionContext, arg: str) -> None:
    """M-mysql-10: make a saved result current (a missing name gives an empty entry)."""
    ctx.objects[RES] = ctx.objects.setdefault(ctx.resolve(arg), None)


def _first_value(ctx: ActionContext, sql: str | bytes) -> bytes | None:
    """Run ``sql`` and return the first column of its first row (errors as M-mysql-11)."""
    con = _connection(ctx)
    if con is None:
        return None
    done = _run(ctx, con, sql)
    if done is None:
        return None
    res = done[1]
    if res is None or not res.rows:
        ctx.set_error("result", "result does not have row")
        return None
    if not res.columns or not res.rows[0]:
        ctx.set_error("result", "result does not have data")
        return None
    return _bytes(res.rows[0][0])


def _play_db_audio(ctx: ActionContext, sql: str, filename: str, front: bool, looped: bool) -> None:
    data = _first_value(ctx, substitute_query(ctx, sql))
    if data is None:
        return
    suffix = os.path.splitext(filename)[1]
    try:
        fd, path = tempfile.mkstemp(prefix="dsm-dbaudio-", suffix=suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        ctx.set_error("file", f"could not write temporary audio file: {exc}")
        return
    holder = _TempAudio(path)
    take_ownership(ctx, holder)
    if not _audio_readable(path):
        holder.dispose()
        ctx.set_error("file", "fpopen failed!")
        return
    try:
        on_host(ctx.call.play, FileItem(path, looped), front)  # media belongs to the loop
    except AudioOpenError:
        holder.dispose()
        ctx.set_error("file", "fpopen failed!")
        return
    ctx.clear_error()


def _audio_readable(path: str) -> bool:
    """Whether the file is audio the media layer can open, judged by its extension and content."""
    try:
        import soundfile

        soundfile.info(path)
    except Exception:
        return False
    return True


@module.action("mysql.playDBAudio", style="P,opt", blocking=True)
def play_db_audio(ctx: ActionContext, sql: str, filename: str) -> None:
    """M-mysql-11: play audio stored in the database; ``filename`` (literal) only gives the format."""
    _play_db_audio(ctx, sql, filename, front=False, looped=False)


@module.action("mysql.playDBAudioFront", style="P,opt", blocking=True)
def play_db_audio_front(ctx: ActionContext, sql: str, filename: str) -> None:
    """M-mysql-12: as ``mysql.playDBAudio``, at the front of the playlist."""
    _play_db_audio(ctx, sql, filename, front=True, looped=False)


@module.action("mysql.playDBAudioLooped", style="P,opt", blocking=True)
def play_db_audio_looped(ctx: ActionContext, sql: str, filename: str) -> None:
    """M-mysql-13: as ``mysql.playDBAudio``, looped."""
    _play_db_audio(ctx, sql, filename, front=False, looped=True)


@module.action("mysql.getFileFromDB", style="P,opt", blocking=True)
def get_file_from_db(ctx: ActionContext, sql: str, path_arg: str) -> None:
    """M-mysql-14: write the first column of the first row to a file."""
    data = _first_value(ctx, substitute_query(ctx, sql))
    if data is None:
        return
    path = ctx.resolve(path_arg)
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        ctx.set_error("file", f"fopen() failed for file '{path}': {exc.strerror or exc}")
        return
    ctx.clear_error()


def _escape_bytes(data: bytes) -> bytes:
    """SQL string-literal escaping of raw bytes (the set ``mysql_real_escape_string`` escapes)."""
    return (
        data.replace(b"\\", b"\\\\")
        .replace(b"\0", b"\\0")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
        .replace(b"'", b"\\'")
        .replace(b'"', b'\\"')
        .replace(b"\x1a", b"\\Z")
    )


@module.action("mysql.putFileToDB", style="P,opt", blocking=True)
def put_file_to_db(ctx: ActionContext, sql: str, path_arg: str) -> None:
    """M-mysql-15: put a file's content, escaped, in place of ``__FILE__`` and run the statement.

    No quotes are added: the script writes ``'__FILE__'``.
    """
    con = _connection(ctx)
    if con is None:
        return
    query_text = substitute_query(ctx, sql)
    if "__FILE__" not in query_text:
        ctx.set_error("arg", f"missing __FILE__ in query string '{sql}'\n")
        return
    path = ctx.resolve(path_arg)
    try:
        with open(path, "rb") as fh:
            content = fh.read()
    except OSError:
        content = b""
    if not content:
        ctx.set_error("file", f"could not read file '{path}'\n")
        return
    raw = query_text.encode("utf-8", "surrogateescape").replace(
        b"__FILE__", _escape_bytes(content), 1
    )
    done = _run(ctx, con, raw)
    if done is None:
        return
    affected, res = done
    if res is not None:
        ctx.set_error("query", "mysql.putFileToDB query was a SELECT")
        return
    _statement_done(ctx, con, 0, False)
    ctx.clear_error()


@module.action("mysql.escape", style="P=mand")
def escape(ctx: ActionContext, dst: str, value: str) -> None:
    """M-mysql-16: ``$dst`` = value escaped for an SQL string literal; errno not cleared."""
    con = _connection(ctx)
    if con is None:
        return
    ctx.vars[strip_dollar(dst)] = con.escape(ctx.resolve(value))


# --------------------------------------------------------------------------- conditions
@module.condition("mysql.hasResult", style="N")
def has_result(ctx: ActionContext) -> bool:
    """M-mysql-17: a stored result with at least one row (sets the result errno when none)."""
    res = _result(ctx)
    return res is not None and len(res) > 0


@module.condition("mysql.connected", style="N")
def connected(ctx: ActionContext) -> bool:
    """M-mysql-18: a connection exists and is open (sets ``errno = connection`` when none)."""
    con = _connection(ctx)
    return con is not None and con.open
