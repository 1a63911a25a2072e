"""``$(mon_select)`` over SIP (E-177, AS-9): the start diagram from the monitoring store, else 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sip_rig import LIMIT, ThreadedServer

from dsm.modules.mod_monitoring import store
from dsm.runtime.sip.message import Response, parse_message

MENU = """
initial state S enter { set($started=menu) };
transition bye S - hangup / stop(false) -> S;
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    (tmp_path / "menu.dsm").write_text(MENU)
    (tmp_path / "dsm.conf").write_text(
        f"diag_path={tmp_path}\nload_diags=menu\nregister_apps=menu\n"
        "preload_mods=mod_monitoring\ninbound_start_diag=$(mon_select)\n"
    )
    store.clear()
    s = ThreadedServer([], config=str(tmp_path / "dsm.conf"), application="dsm")
    try:
        yield s
    finally:
        if s.thread.is_alive():
            s.loop.call_soon_threadsafe(s.server.stop)
            s.thread.join(LIMIT)
        store.clear()


def invite(port: int, local: int, user: str) -> bytes:
    return (
        f"INVITE sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKms{time.monotonic_ns()}\r\n"
        f"From: <sip:alice@127.0.0.1>;tag=t1\r\n"
        f"To: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: ms-{time.monotonic_ns()}@127.0.0.1\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Contact: <sip:alice@127.0.0.1:{local}>\r\n"
        f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def final_response(sock: socket.socket) -> Response:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.1))
        data, _ = sock.recvfrom(65535)
        msg = parse_message(data)
        if isinstance(msg, Response) and msg.status >= 200:
            return msg
    raise AssertionError("no final response")


def call(server: ThreadedServer, user: str) -> Response:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(invite(server.port, sock.getsockname()[1], user), ("127.0.0.1", server.port))
        return final_response(sock)


def test_E177_no_record_refused_500(server: ThreadedServer) -> None:
    response = call(server, "100")
    assert (response.status, response.reason) == (500, "Internal Server Error")
    assert "$(mon_select): no matching monitoring record" in server.log_text.getvalue()


def test_E177_record_selects_the_diagram(server: ThreadedServer) -> None:
    store.set("web-1", "caller", "alice")
    store.set("web-1", "callee", "100")
    store.set("web-1", "app", "menu")
    response = call(server, "100")
    assert response.status == 200
    sip_calls = server.server.sip_calls
    assert sip_calls is not None
    (c,) = server.on_loop(lambda: list(sip_calls.calls.values()))
    assert server.on_loop(lambda: dict(c.session.vars))["mon_session_record"] == "web-1"
