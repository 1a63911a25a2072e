"""A statement sent from the loop (issue 14): PyMySQL's packets, written without its poll first.

``MySQLConnection.send`` writes straight to the socket; what the kernel does
not take at once, and a broken connection, go through PyMySQL's own write
(its timeout, its errors).  Each case runs over a socket pair with a socket
timeout set, as a connection opened by ``mysql.connect`` has.
"""

from __future__ import annotations

import socket
import threading

import pymysql
import pytest

from dsm.modules.mod_mysql import MySQLConnection


def _over(sock: socket.socket) -> MySQLConnection:
    con = pymysql.connections.Connection(defer_connect=True, write_timeout=5, read_timeout=5)
    con._sock = sock
    con._current_timeout = None
    sock.settimeout(5)
    return MySQLConnection(con)


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 3], "little")
        out.append((data[pos + 3], data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return out


def test_a_statement_goes_out_as_one_com_query_packet() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        _over(ours).send("SELECT 1")
        assert _packets(peer.recv(1024)) == [(0, b"\x03SELECT 1")]


def test_what_the_kernel_does_not_take_at_once_follows_through_pymysqls_write() -> None:
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sql = "SELECT '" + "x" * 2_000_000 + "'"
    got = bytearray()

    def read() -> None:
        while len(got) < len(sql) + 5:
            chunk = peer.recv(1 << 16)
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    with ours, peer:
        reader.start()
        _over(ours).send(sql)
        reader.join(10)
    assert _packets(bytes(got)) == [(0, b"\x03" + sql.encode())]


def test_a_broken_connection_is_pymysqls_server_gone_away() -> None:
    ours, peer = socket.socketpair()
    peer.close()
    wrapped = _over(ours)
    with pytest.raises(pymysql.err.OperationalError) as failed:
        wrapped.send("SELECT 1")
    assert failed.value.args[0] == 2006
    assert wrapped.con._sock is None  # closed as PyMySQL closes it
    assert "_write_bytes" not in vars(wrapped.con)  # PyMySQL's own write again
