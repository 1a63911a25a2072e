"""JSON-RPC events over the control endpoint (E-154, C-core-23, C-core-24) on a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_rig import ServerThread

from dsm.runtime.components.jsonrpc import JsonRpc, flatten, format_double
from dsm.runtime.control.client import RpcFailure

SCRIPT = """
initial state S;
transition ask S - jsonRpcRequest(#method == ask) / {
  set($got_method=#method); set($got_notify=#is_notify); set($got_id=#id);
  set($who=#params.who); set($n0=#params.n[0]); set($n1=#params.n[1]); set($f=#params.f);
  set($answer='{"greeting": "hello"}');
  sets($answer='{"greeting": "hello $(who)", "id": "#id"}');
  DI(jsonrpc, sendMessage, "", (int)1, #method, #id, "", (json)$answer);
} -> S;
transition refuse S - jsonRpcRequest(#method == refuse) / {
  set($err='{"code": 4711, "message": "not today"}');
  DI(jsonrpc, sendMessage, "", (int)2, #method, #id, "", (json)$err);
} -> S;
transition note S - jsonRpcRequest(#is_notify == true) / { set($noted=#method); set($noted_id=#id); } -> S;
transition resp S - jsonRpcResponse() / { set($r_id=#id); set($r_err=#is_error); set($r_val=#result.value); } -> S;
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    (tmp_path / "rpc.dsm").write_text(SCRIPT)
    st = ServerThread(scripts=[str(tmp_path)])
    try:
        yield st
    finally:
        st.stop()


def test_C_core_23_request_reaches_the_script_which_answers(server: ServerThread) -> None:
    c = server.client
    sid = c.call("startCall", {"app": "rpc"})["id"]
    params = {"who": "ann", "n": [1, 2], "f": 1.5}
    result = c.call("callRpc", {"call": sid, "method": "ask", "id": 7, "params": params})
    assert result == {"greeting": "hello ann", "id": "7"}
    v = c.call("callInfo", [sid])["vars"]
    assert (v["got_method"], v["got_notify"], v["got_id"]) == ("ask", "false", "7")
    assert (v["who"], v["n0"], v["n1"], v["f"]) == ("ann", "1", "2", "1.50")


def test_C_core_23_error_answer(server: ServerThread) -> None:
    c = server.client
    sid = c.call("startCall", {"app": "rpc"})["id"]
    with pytest.raises(RpcFailure) as info:
        c.call("callRpc", {"call": sid, "method": "refuse", "id": "x1"})
    assert "not today" in str(info.value)


def test_C_core_23_notification_has_no_id(server: ServerThread) -> None:
    c = server.client
    sid = c.call("startCall", {"app": "rpc"})["id"]
    assert c.call("callRpc", {"call": sid, "method": "tick", "params": {"a": None}}) == {"queued": True}
    v = c.call("callInfo", [sid])["vars"]
    assert v["noted"] == "tick" and "noted_id" in v and v["noted_id"] == ""


def test_callRpc_unknown_call_and_no_answer(server: ServerThread) -> None:
    c = server.client
    with pytest.raises(RpcFailure, match="no call"):
        c.call("callRpc", {"call": "nobody", "method": "ask", "id": 1})
    sid = c.call("startCall", {"app": "rpc"})["id"]
    with pytest.raises(RpcFailure, match="no answer"):
        c.call("callRpc", {"call": sid, "method": "unanswered", "id": 2, "timeout": 0.5})
    with pytest.raises(RpcFailure, match="timeout"):
        c.call("callRpc", {"call": sid, "method": "x", "id": 3, "timeout": 600})


def test_other_calls_keep_running_while_a_request_waits(server: ServerThread) -> None:
    """A request waiting for its answer does not hold the server: other calls are served."""
    c = server.client
    sid = c.call("startCall", {"app": "rpc"})["id"]
    errors: list[Any] = []

    def wait() -> None:
        try:
            c.call("callRpc", {"call": sid, "method": "unanswered", "id": 9, "timeout": 3})
        except RpcFailure as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    other = c.call("startCall", {"app": "rpc"})["id"]
    assert c.call("callInfo", [other])["state"] == "S"
    t.join(20)
    assert len(errors) == 1


def test_C_core_24_response_event(server: ServerThread) -> None:
    """Answers to requests a session sent arrive as jsonRpcResponse (flattened result)."""
    c = server.client
    sid = c.call("startCall", {"app": "rpc"})["id"]
    engine = server.server.engine
    assert engine is not None
    component = engine.di["jsonrpc"]
    assert isinstance(component, JsonRpc)
    done = threading.Event()

    def deliver() -> None:
        component.deliver_response(sid, "42", False, {"value": 3})
        engine.run_pending()
        done.set()

    server.loop.call_soon_threadsafe(deliver)
    assert done.wait(10)
    v = c.call("callInfo", [sid])["vars"]
    assert (v["r_id"], v["r_err"], v["r_val"]) == ("42", "false", "3")


# --------------------------------------------------------------------------- E-154
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"p": "null"}),
        (True, {"p": "true"}),
        (12, {"p": "12"}),
        (1.5, {"p": "1.50"}),
        (2.0, {"p": "2.0"}),
        ("x y", {"p": "x y"}),
        ([1, [2]], {"p[0]": "1", "p[1][0]": "2"}),
        ({"a": {"b": False}}, {"p.a.b": "false"}),
        (object(), {"p": "<UNKONWN TYPE>"}),
    ],
)
def test_E154_flattening(value: Any, expected: dict[str, str]) -> None:
    out: dict[str, str] = {}
    flatten(value, "p", out)
    assert out == expected


def test_E154_doubles() -> None:
    assert [format_double(x) for x in (0.25, 100.0, 1e20)] == ["0.250", "100.0", "1.000000000000000e+20"]
