"""The control endpoint: JSON-RPC 2.0 envelope, token, loopback rule, metrics.

Malformed requests get JSON-RPC errors and never disturb the server; every
JSON-RPC request must carry the token; a non-loopback bind needs an explicit
token.  The attacks on the endpoint itself are in ``test_control_security.py``.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from control_rig import ServerThread

from dsm.runtime.control.client import ControlClient, RpcFailure
from dsm.runtime.control.http_server import BindRefused, check_bind, parse_hostport
from dsm.runtime.control.jsonrpc import Dispatcher


def post(
    address: str, body: bytes, headers: dict[str, str] | None = None, token: str | None = None
) -> tuple[int, Any]:
    """POST ``body`` as ``application/json`` (with ``token`` as a bearer token when given)."""
    host, port = parse_hostport(address)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    sent = {"Content-Type": "application/json"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn.request("POST", "/", body=body, headers=sent | (headers or {}))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe", -32700),
        (b"[]", -32600),
        (b"42", -32600),
        (b'{"jsonrpc": "1.0", "method": "calls", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": 7, "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": "calls", "params": "x", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "method": "calls", "id": {"a": 1}}', -32600),
        (b'{"jsonrpc": "2.0", "method": "noSuchMethod", "id": 1}', -32601),
        (b'{"jsonrpc": "2.0", "method": "postDSMEvent", "params": {"target": "x"}, "id": 1}', -32602),
        (b'{"jsonrpc": "2.0", "method": "callInfo", "params": [], "id": 1}', -32602),
        (b'{"jsonrpc": "2.0", "method": "traceSet", "params": ["sideways"], "id": 1}', -32602),
        (b'{"jsonrpc": "2.0", "method": "startCall", "params": {"app": 3}, "id": 1}', -32602),
    ],
)
def test_malformed_json_rpc_gets_an_error_not_a_crash(served: ServerThread, body: bytes, code: int) -> None:
    status, reply = post(served.address, body, token=served.token)
    assert status == 200
    assert reply["jsonrpc"] == "2.0" and reply["error"]["code"] == code
    assert served.client.call("calls") == 0, "the server still answers"


def test_batches_and_notifications(served: ServerThread) -> None:
    body = json.dumps(
        [
            {"jsonrpc": "2.0", "method": "hasDSM", "params": ["main"], "id": 1},
            {"jsonrpc": "2.0", "method": "hasDSM", "params": ["nope"]},  # notification: no reply
            {"jsonrpc": "2.0", "method": "nope", "id": 2},
            5,
        ]
    ).encode()
    status, reply = post(served.address, body, token=served.token)
    assert status == 200
    assert reply[0] == {"jsonrpc": "2.0", "result": ["1"], "id": 1}
    assert reply[1]["error"]["code"] == -32601 and reply[1]["id"] == 2
    assert reply[2]["error"]["code"] == -32600
    status, reply = post(served.address, b'{"jsonrpc": "2.0", "method": "calls"}', token=served.token)
    assert status == 204 and reply is None


def test_garbage_http_does_not_take_the_server_down(served: ServerThread) -> None:
    host, port = parse_hostport(served.address)
    for junk in (b"NONSENSE\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: zz\r\n\r\n", b"\x00" * 100):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.recv(4096)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/nowhere", headers={"Authorization": f"Bearer {served.token}"})
    assert conn.getresponse().status == 404
    conn.close()
    assert served.client.call("hasDSM", ["main"]) == ["1"]


def test_request_without_the_token_is_refused(scripts: Path) -> None:
    st = ServerThread(token="s3cret", scripts=[str(scripts)])
    try:
        status, reply = post(st.address, b'{"jsonrpc": "2.0", "method": "calls", "id": 1}')
        assert status == 401 and reply["error"]["code"] == -32001
        status, _ = post(
            st.address, b'{"jsonrpc": "2.0", "method": "calls", "id": 1}', {"X-DSM-Token": "wrong"}
        )
        assert status == 401
        with pytest.raises(RpcFailure):
            ControlClient(st.address, token="").call("calls")
        assert "dsm_active_calls" in ControlClient(st.address, token="").get("/metrics"), "open on loopback"
        assert st.client.call("calls") == 0  # the client sends "Authorization: Bearer s3cret"
        status, reply = post(
            st.address, b'{"jsonrpc": "2.0", "method": "calls", "id": 1}', {"X-DSM-Token": "s3cret"}
        )
        assert status == 200 and reply["result"] == 0
        assert "dsm_active_calls" in st.client.get("/metrics")
    finally:
        st.stop()


def test_non_loopback_bind_needs_a_token() -> None:
    with pytest.raises(BindRefused):
        check_bind("0.0.0.0", None)
    with pytest.raises(BindRefused):
        check_bind("192.0.2.1", "")
    check_bind("0.0.0.0", "tok")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)


def test_metrics_in_prometheus_text_format(served: ServerThread) -> None:
    c = served.client
    c.call("startCall", {"app": "main"})
    c.call("reloadDSMs")
    text = c.get("/metrics")
    lines = text.splitlines()
    assert 'dsm_active_calls{diagram="main"} 1' in lines
    assert "dsm_reloads_total 1" in lines
    assert "dsm_reloads_failed_total 0" in lines
    assert any(line.startswith("dsm_events_total ") for line in lines)
    assert any(line.startswith("dsm_transitions_total ") for line in lines)
    assert any(line.startswith("dsm_exceptions_total ") for line in lines)
    for line in lines:
        assert line.startswith("#") or " " in line
    types = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert {t for t in types} == {"dsm_active_calls", "dsm_system_sessions", "dsm_sessions_by_version",
                                   "dsm_calls_started_total", "dsm_events_total", "dsm_events_per_second",
                                   "dsm_transitions_total", "dsm_exceptions_total", "dsm_reloads_total",
                                   "dsm_reloads_failed_total", "dsm_chart_version_info", "dsm_uptime_seconds",
                                   "dsm_control_refused_total", "dsm_node_draining",
                                   "dsm_blocking_in_flight", "dsm_blocking_action_seconds"}


def test_dispatcher_internal_errors_are_reported() -> None:
    d = Dispatcher()

    def boom(params: Any) -> Any:
        raise RuntimeError("kaputt")

    d.add("boom", boom)
    d.add("unserialisable", lambda p: object())
    reply = json.loads(d.handle_bytes(b'{"jsonrpc": "2.0", "method": "boom", "id": 1}') or b"")
    assert reply["error"]["code"] == -32603 and "kaputt" in reply["error"]["message"]
    reply = json.loads(d.handle_bytes(b'{"jsonrpc": "2.0", "method": "unserialisable", "id": 2}') or b"")
    assert reply["error"]["code"] == -32603
