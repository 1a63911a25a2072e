"""``DI(jsonrpc, execRpc, …)`` (C-core-24, E-154): requests a script sends to a real netstring
JSON-RPC peer on loopback; the answer comes back as ``jsonRpcResponse`` with ``udata``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_rig import ServerThread
from netstring_peer import NetstringPeer, refused_port

from dsm.runtime.components.jsonrpc import JsonRpc
from dsm.runtime.components.jsonrpc_client import (
    NetstringDecoder,
    NetstringError,
    netstring,
    parse_exec_args,
    read_reply,
)
from dsm.runtime.harness import Harness


def script(port: int, method: str) -> str:
    return f"""
initial state S enter {{
  set($p='[2, 3]');
  set($u='{{"tag": "t1", "n": [7]}}');
  DIgetResultArray(jsonrpc, execRpc, @local_tag, "", "", (int)0, 127.0.0.1, (int){port}, {method}, (json)$p, (json)$u);
  set($sent_errno=$errno);
}};
transition ok S - jsonRpcResponse(#is_error == false) / {{
  set($r_ev=#ev_type); set($r_id=#id); set($r_err=#is_error); set($sum=#result);
  set($tag=#udata.tag); set($n0=#udata.n[0]);
}} -> DONE;
transition bad S - jsonRpcResponse(#is_error == true) / {{
  set($r_err=#is_error); set($code=#error.code); set($emsg=#error.message); set($etag=#udata.tag);
}} -> DONE;
state DONE;
"""


@pytest.fixture
def peer() -> Iterator[NetstringPeer]:
    p = NetstringPeer()
    try:
        yield p
    finally:
        p.stop()


def serve(tmp_path: Path, port: int, method: str) -> ServerThread:
    (tmp_path / "rpc.dsm").write_text(script(port, method))
    return ServerThread(scripts=[str(tmp_path)])


def wait_vars(st: ServerThread, sid: str, key: str) -> dict[str, str]:
    """Poll callInfo until ``key`` is set (bounded: 200 tries, 20 s)."""
    deadline = time.monotonic() + 20
    v: dict[str, str] = {}
    for _ in range(200):
        v = st.client.call("callInfo", [sid])["vars"]
        if key in v or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return v


# --------------------------------------------------------------------------- on a server (asyncio)
def test_C_core_24_execRpc_result_arrives_with_udata(tmp_path: Path, peer: NetstringPeer) -> None:
    st = serve(tmp_path, peer.port, "add")
    try:
        sid = st.client.call("startCall", {"app": "rpc"})["id"]
        v = wait_vars(st, sid, "r_id")
    finally:
        st.stop()
    assert (v["DI_res[0]"], v["DI_res[1]"], v["sent_errno"]) == ("200", "OK", "")
    assert len(v["DI_res[2]"]) > 0  # the connection id
    assert (v["r_ev"], v["r_id"], v["r_err"], v["sum"]) == ("JsonRpcResponse", "1", "false", "5")
    assert (v["tag"], v["n0"]) == ("t1", "7")
    assert peer.requests == [{"jsonrpc": "2.0", "method": "add", "id": "1", "params": [2, 3]}]


def test_C_core_24_execRpc_error_reply(tmp_path: Path, peer: NetstringPeer) -> None:
    st = serve(tmp_path, peer.port, "fail")
    try:
        sid = st.client.call("startCall", {"app": "rpc"})["id"]
        v = wait_vars(st, sid, "r_err")
    finally:
        st.stop()
    assert (v["r_err"], v["code"], v["emsg"], v["etag"]) == ("true", "-32000", "it failed", "t1")


def test_execRpc_refused_connection_is_the_DI_result(tmp_path: Path) -> None:
    st = serve(tmp_path, refused_port(), "add")
    try:
        sid = st.client.call("startCall", {"app": "rpc"})["id"]
        v = wait_vars(st, sid, "DI_res[0]")
        time.sleep(0.3)  # no event follows a refused connection
        v = st.client.call("callInfo", [sid])["vars"]
    finally:
        st.stop()
    assert v["DI_res[0]"] == "400"
    assert v["DI_res[1]"].startswith("Error in connect: ")
    assert "r_err" not in v and "r_id" not in v


def test_execRpc_no_answer_gives_no_event_and_other_calls_run(tmp_path: Path, peer: NetstringPeer) -> None:
    """A silent peer: the session waits (no event), other calls start and answer meanwhile."""
    (tmp_path / "quick.dsm").write_text(script(peer.port, "add"))
    st = serve(tmp_path, peer.port, "silent")
    try:
        engine = st.server.engine
        assert engine is not None
        component = engine.di["jsonrpc"]
        assert isinstance(component, JsonRpc)
        component.timeout = 1.0
        slow = st.client.call("startCall", {"app": "rpc"})["id"]
        quick = st.client.call("startCall", {"app": "quick"})["id"]
        v = wait_vars(st, quick, "sum")
        assert v["sum"] == "5"
        deadline = time.monotonic() + 20
        for _ in range(200):  # the timeout is logged
            if "no answer in time" in st.log or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "no answer in time" in st.log
        assert "r_err" not in st.client.call("callInfo", [slow])["vars"]
    finally:
        st.stop()


# --------------------------------------------------------------------------- harness (no loop)
def test_execRpc_in_the_harness(tmp_path: Path, peer: NetstringPeer) -> None:
    (tmp_path / "app.dsm").write_text(script(peer.port, "add"))
    v = Harness(scripts=str(tmp_path / "app.dsm")).call("app").vars
    assert (v["DI_res[0]"], v["r_id"], v["sum"], v["tag"]) == ("200", "1", "5", "t1")


def test_execRpc_argument_errors(tmp_path: Path) -> None:
    (tmp_path / "app.dsm").write_text("""
initial state S enter {
  DI(jsonrpc, execRpc, a, "", "", x, 127.0.0.1, (int)1, m);
  set($e1=$errno); set($s1=$strerror);
  DI(jsonrpc, execRpc, a, "", "");
  set($e2=$errno); set($s2=$strerror);
  DI(jsonrpc, execRpc, a, "", "", (int)0, 127.0.0.1, (int)1, m, (int)5);
  set($e3=$errno);
};
""")
    v = Harness(scripts=str(tmp_path / "app.dsm")).call("app").vars
    assert v["e1"] == "arg" and v["s1"].startswith("type mismatch")
    assert v["e2"] == "arg" and v["s2"].startswith("out of bounds")
    assert v["e3"] == "arg"


# --------------------------------------------------------------------------- sans-I/O parts
def test_netstring_framing() -> None:
    d = NetstringDecoder(limit=100)
    data = netstring(b"abc") + netstring(b"")
    assert d.feed(data[:4]) == []
    assert d.feed(data[4:]) == [b"abc", b""]
    with pytest.raises(NetstringError):
        NetstringDecoder().feed(b"3:abc;")
    with pytest.raises(NetstringError):
        NetstringDecoder(limit=10).feed(b"11:")
    with pytest.raises(NetstringError):
        NetstringDecoder().feed(b"x:")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"jsonrpc": "2.0", "id": "1", "result": [1]}, (False, [1])),
        ({"jsonrpc": "2.0", "id": "1", "error": {"code": 1}}, (True, {"code": 1})),
        ({"jsonrpc": "2.0", "id": "2", "result": 0}, None),
        ({"jsonrpc": "2.0", "method": "notify"}, None),
    ],
)
def test_read_reply(message: dict[str, Any], expected: Any) -> None:
    import json

    reply = read_reply(json.dumps(message).encode(), "1")
    assert (None if reply is None else (reply.is_error, reply.data)) == expected


@pytest.mark.parametrize(
    "payload", [b"nojson", b'{"id": "1", "result": 1}', b'{"jsonrpc": "2.0", "id": 1, "result": 1}',
                b'{"jsonrpc": "2.0", "id": "1"}']
)
def test_read_reply_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ValueError):
        read_reply(payload, "1")


def test_parse_exec_args() -> None:
    call = parse_exec_args(["s", "", "", 0, "h", 80, "m", {"a": 1}, "u"])
    assert (call.reply_to, call.port, call.params, call.udata) == ("s", 80, {"a": 1}, "u")
    with pytest.raises(TypeError):
        parse_exec_args(["s", "", "", True, "h", 80, "m"])
