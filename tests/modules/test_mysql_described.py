"""Column descriptions reused per connection (issue 14): the same result as PyMySQL's own parse.

A statement run again gets the same column-definition packets from the
server; ``mod_mysql._Described`` keys what PyMySQL made of them by their
bytes and reuses it.  Each case parses replies through
``MySQLConnection.receive`` (the loop wait's path) and through PyMySQL's own
reader and result class, and compares what a script can see: labels, rows,
affected rows, the next sequence number, errors.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import pymysql
import pytest
from pymysql.constants import FIELD_TYPE

from dsm.modules import mod_mysql
from dsm.modules.mod_mysql import MySQLConnection


def _frame(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq % 256]) + payload


def _lcs(text: str | bytes | None) -> bytes:
    if text is None:
        return b"\xfb"
    data = text.encode() if isinstance(text, str) else text
    return bytes([len(data)]) + data


def _column(name: str, type_code: int = FIELD_TYPE.VAR_STRING, charset: int = 45) -> bytes:
    return (
        _lcs("def") + _lcs("test") + _lcs("menus") + _lcs("menus") + _lcs(name) + _lcs(name)
        + b"\x0c" + struct.pack("<HIBHB", charset, 1020, type_code, 0, 0) + b"\x00\x00"
    )


EOF_PACKET = b"\xfe\x00\x00\x02\x00"


def _result_set(columns: list[str], rows: list[list[str | None]]) -> bytes:
    """A text-protocol result set as the server sends it after a COM_QUERY (sequence 1 on)."""
    count = bytes([len(columns)]) if len(columns) < 0xFB else b"\xfc" + len(columns).to_bytes(2, "little")
    packets = [count] + [_column(c) for c in columns] + [EOF_PACKET]
    packets += [b"".join(_lcs(v) for v in row) for row in rows] + [EOF_PACKET]
    return b"".join(_frame(seq, p) for seq, p in enumerate(packets, start=1))


def _unconnected() -> Any:
    """A PyMySQL connection as after a statement was sent, without a socket, text only."""
    con = pymysql.connections.Connection(defer_connect=True, conv=mod_mysql._TEXT_ONLY_CONV)
    con._current_timeout = None
    con._rfile = io.BytesIO(b"")
    return con


def _ours(wrapped: MySQLConnection, reply: bytes) -> tuple[Any, ...]:
    wrapped.con._next_seq_id = 1
    try:
        affected, res = wrapped.receive(reply)
    except pymysql.err.MySQLError as exc:
        return ("error", type(exc).__name__, exc.args)
    assert res is not None
    return affected, res.columns, res.rows, wrapped.con._next_seq_id


def _pymysqls(reply: bytes) -> tuple[Any, ...]:
    """PyMySQL's own reader and result class over the same bytes."""
    con = _unconnected()
    con._rfile = io.BytesIO(reply)
    con._next_seq_id = 1
    try:
        affected = con._read_query_result()
    except pymysql.err.MySQLError as exc:
        return ("error", type(exc).__name__, exc.args)
    result = con._result
    labels = tuple(str(d[0]) for d in result.description)
    return affected, labels, list(result.rows), con._next_seq_id


def test_a_statement_run_again_parses_as_pymysql_does_and_reuses_the_descriptions() -> None:
    wrapped = MySQLConnection(_unconnected())
    reply = _result_set(["prompt", "owner"], [["wav/alice.wav", "alice"]])
    first = _ours(wrapped, reply)
    first_fields = wrapped.con._result.fields
    again = _ours(wrapped, reply)
    assert first == again == _pymysqls(reply)
    assert again[1] == ("prompt", "owner") and again[2] == [("wav/alice.wav", "alice")]
    assert len(wrapped.described) == 1
    assert wrapped.con._result.fields[0] is first_fields[0]  # reused, not parsed again


def test_other_rows_under_the_same_columns_are_parsed_afresh() -> None:
    wrapped = MySQLConnection(_unconnected())
    _ours(wrapped, _result_set(["prompt"], [["a"]]))
    reply = _result_set(["prompt"], [["b"], [None], ["c"]])
    got = _ours(wrapped, reply)
    assert got == _pymysqls(reply)
    assert got[2] == [("b",), (None,), ("c",)] and got[0] == 3


def test_other_columns_are_described_by_pymysql_again() -> None:
    wrapped = MySQLConnection(_unconnected())
    _ours(wrapped, _result_set(["prompt", "owner"], [["x", "y"]]))
    reply = _result_set(["owner", "prompt"], [["y", "x"]])
    assert _ours(wrapped, reply) == _pymysqls(reply)
    assert _ours(wrapped, reply)[1] == ("owner", "prompt")
    assert len(wrapped.described) == 2


def test_a_changed_connection_encoding_describes_again() -> None:
    wrapped = MySQLConnection(_unconnected())
    reply = _result_set(["prompt"], [["a"]])
    _ours(wrapped, reply)
    wrapped.con.encoding = "latin1"
    assert _ours(wrapped, reply)[1] == ("prompt",)
    (entry,) = wrapped.described.values()
    assert entry[4] == "latin1"


def test_a_reply_cut_inside_the_columns_is_a_lost_connection_as_with_pymysql() -> None:
    wrapped = MySQLConnection(_unconnected())
    whole = _result_set(["prompt", "owner"], [["x", "y"]])
    _ours(wrapped, whole)  # described once: the cut reply must not be taken for it
    cut = whole[:30]
    got = _ours(wrapped, cut)
    assert got == _pymysqls(cut)
    assert got[:2] == ("error", "OperationalError") and got[2][0] == 2013


def test_the_cache_of_a_connection_is_bounded() -> None:
    wrapped = MySQLConnection(_unconnected())
    for i in range(mod_mysql.DESCRIBED_LIMIT + 5):
        reply = _result_set([f"c{i}"], [["v"]])
        assert _ours(wrapped, reply) == _pymysqls(reply)
    assert 0 < len(wrapped.described) <= mod_mysql.DESCRIBED_LIMIT


@pytest.mark.parametrize("columns", [1, 3, 40, 250, 251, 300])
def test_any_number_of_columns(columns: int) -> None:
    wrapped = MySQLConnection(_unconnected())
    names = [f"col{i}" for i in range(columns)]
    reply = _result_set(names, [[str(i) for i in range(columns)]] * 2)
    assert _ours(wrapped, reply) == _ours(wrapped, reply) == _pymysqls(reply)


def test_statements_without_a_result_and_errors_go_pymysqls_way() -> None:
    wrapped = MySQLConnection(_unconnected())
    _ours(wrapped, _result_set(["prompt"], [["a"]]))
    ok = _frame(1, b"\x00\x01\x00\x02\x00\x00\x00")  # one row affected
    wrapped.con._next_seq_id = 1
    assert wrapped.receive(ok) == (1, None)
    error = _frame(1, b"\xff\x28\x04#42000You have an error")
    assert _ours(wrapped, error) == _pymysqls(error) == (
        "error", "ProgrammingError", (1064, "You have an error")
    )
