"""PyMySQL's packets handed over from memory (issue 14): same packets, same errors as its reader.

A reply read on the loop goes to PyMySQL's result classes through
``mod_mysql._Packets`` instead of PyMySQL's socket-read layer.  Each case
reads the same bytes both ways — ``_Packets`` and PyMySQL's own
``Connection._read_packet`` over a file of those bytes — on unconnected
PyMySQL connections, and compares packets, sequence numbers and errors.
"""

from __future__ import annotations

import io
from typing import Any

import pymysql
import pytest

from dsm.modules.mod_mysql import _Packets


def _frame(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


OK = b"\x00\x00\x00\x02\x00\x00\x00"
ERR = b"\xff\x28\x04#42000You have an error"  # 1064, SQL syntax


def _connection() -> Any:
    con = pymysql.connections.Connection(defer_connect=True)
    con._next_seq_id = 1
    con._current_timeout = None  # as after a statement was sent (no socket timeout to change)
    return con


def _both(data: bytes, reads: int) -> list[tuple[str, Any]]:
    """What ``reads`` packet reads give, through ``_Packets`` and through PyMySQL's reader."""
    outcomes = []
    for way in ("memory", "pymysql"):
        con = _connection()
        con._rfile = io.BytesIO(data)
        packets = _Packets(con, data)
        got: list[Any] = []
        for _ in range(reads):
            try:
                if way == "memory":
                    packet = packets.read()
                else:
                    packet = pymysql.connections.Connection._read_packet(con)
                got.append(packet.get_all_data())
            except pymysql.err.MySQLError as exc:
                got.append((type(exc).__name__, exc.args))
                break
        outcomes.append((way, (got, con._next_seq_id, con._rfile is None)))
    return outcomes


def _same(data: bytes, reads: int) -> tuple[list[Any], int, bool]:
    (_, memory), (_, pymysql_reader) = _both(data, reads)
    assert memory == pymysql_reader
    return memory  # type: ignore[no-any-return]


def test_whole_packets_come_out_as_pymysql_reads_them() -> None:
    got, seq, closed = _same(_frame(1, b"\x01") + _frame(2, b"\x03def") + _frame(3, OK), 3)
    assert got == [b"\x01", b"\x03def", OK] and seq == 4 and not closed


def test_an_error_packet_raises_the_servers_error() -> None:
    got, _, _ = _same(_frame(1, ERR), 1)
    assert got == [("ProgrammingError", (1064, "You have an error"))]


@pytest.mark.parametrize("seq", [0, 5])
def test_a_wrong_sequence_number_closes_the_connection_with_pymysqls_error(seq: int) -> None:
    got, _, closed = _same(_frame(seq, OK), 1)
    assert closed
    assert got[0][0] == ("OperationalError" if seq == 0 else "InternalError")


def test_a_reply_cut_short_is_a_lost_connection() -> None:
    data = _frame(1, b"\x01") + _frame(2, b"\x03def")[:5]
    got, _, closed = _same(data, 2)
    assert got[0] == b"\x01" and got[1][0] == "OperationalError" and got[1][1][0] == 2013
    assert closed


def test_the_bytes_left_after_the_reply_stay_for_the_next_results() -> None:
    con = _connection()
    data = _frame(1, OK) + _frame(2, OK)
    packets = _Packets(con, data)
    assert packets.read().get_all_data() == OK
    assert packets.rest() == _frame(2, OK)
