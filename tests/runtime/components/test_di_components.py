"""DI components beyond ``dsm``: ``xmlrpc2di`` against a real XML-RPC server, ``user_timer``,
and third-party components from the entry-point group ``dsm.di`` (A-core-76 … 78, E-133 … E-137)."""

from __future__ import annotations

import importlib.metadata
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from dsm.runtime import components
from dsm.runtime.clock import VirtualClock
from dsm.runtime.components.xmlrpc2di import XmlRpc2Di, read_settings
from dsm.runtime.compose import build_engine
from dsm.runtime.engine import DIComponent, Engine
from dsm.runtime.harness import Harness


class _Quiet(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2", "/pin")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class RpcServer:
    """A threaded ``xmlrpc.server`` on a free loopback port, counting the calls it served."""

    def __init__(self) -> None:
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=_Quiet, allow_none=True, logRequests=False)
        self.port = int(self.server.server_address[1])
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.release = threading.Event()

        def check_pin(user: str, pin: str) -> list[Any]:
            self.calls.append(("checkPIN", (user, pin)))
            return [1 if pin == "1234" else 0, 0 if pin == "1234" else 1]

        def echo(*args: Any) -> Any:
            self.calls.append(("echo", args))
            return list(args)

        def count(n: int) -> int:
            return n + 1

        def info() -> dict[str, Any]:
            return {"a": 1}

        def slow() -> str:
            self.release.wait(30)
            return "late"

        def fail() -> None:
            raise ValueError("bad")

        for name, fn in {
            "checkPIN": check_pin,
            "echo": echo,
            "count": count,
            "info": info,
            "slow": slow,
            "fail": fail,
        }.items():
            self.server.register_function(fn, name)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def rpc() -> Iterator[RpcServer]:
    s = RpcServer()
    yield s
    s.stop()


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def harness(tmp_path: Path, body: str, name: str = "app") -> Harness:
    (tmp_path / f"{name}.dsm").write_text(body)
    return Harness(scripts=str(tmp_path / f"{name}.dsm"))


# --------------------------------------------------------------------------- xmlrpc2di
class TestXmlRpc2Di:
    def test_A_core_77_pin_example_sendRequestList(self, tmp_path: Path, rpc: RpcServer) -> None:
        """The reference's pin/main.dsm: newConnection then DIgetResult of sendRequestList."""
        h = harness(
            tmp_path,
            f"""
initial state START enter {{
  DI(xmlrpc2di, newConnection, vbs, 127.0.0.1, (int){rpc.port}, "");
  set($pin=1234);
  DIgetResult(xmlrpc2di, sendRequestList, vbs, checkPIN, @user, $pin);
  set($status=$DI_res0);
  set($description=$DI_res1);
  set($validPin=$DI_res2);
  set($tryAgain=$DI_res3);
}};
""",
        )
        call = h.call("app", callee="sip:pinuser@example.org")
        v = call.vars
        assert (v["status"], v["description"], v["validPin"], v["tryAgain"]) == ("0", "OK", "1", "0")
        assert v["errno"] == ""
        assert rpc.calls == [("checkPIN", ("pinuser", "1234"))]

    def test_A_core_78_sendRequest_with_array_and_uri(self, tmp_path: Path, rpc: RpcServer) -> None:
        h = harness(
            tmp_path,
            f"""
initial state START enter {{
  DI(xmlrpc2di, newConnection, app, 127.0.0.1, (int){rpc.port}, /pin);
  set($a_0=x); set($a_1=y);
  DIgetResultArray(xmlrpc2di, sendRequest, app, count, (json)"[41]");
  set($list_errno=$errno);
  DIgetResultArray(xmlrpc2di, sendRequestList, app, echo, (int)7, word);
}};
""",
        )
        v = h.call("app").vars
        assert (v["DI_res[0]"], v["DI_res[1]"], v["DI_res[2]"], v["DI_res[3]"]) == ("0", "OK", "7", "word")
        assert v["DI_res_size"] == "4"

    def test_sendRequest_result_is_third_element(self, rpc: RpcServer) -> None:
        x = XmlRpc2Di(time.monotonic)
        x.invoke("newConnection", ["a", "127.0.0.1", rpc.port, ""])
        assert x.invoke("sendRequest", ["a", "count", [41]]) == [0, "OK", 42]
        assert x.invoke("sendRequest", ["a", "echo", ["p", 2]]) == [0, "OK", ["p", 2]]
        assert x.invoke("sendRequest", ["a", "info", []]) == [0, "OK", {"a": 1}]

    def test_sendRequestList_scalar_replaces_answer_quirk(self, rpc: RpcServer) -> None:
        x = XmlRpc2Di(time.monotonic)
        x.invoke("newConnection", ["a", "127.0.0.1", rpc.port, ""])
        assert x.invoke("sendRequestList", ["a", "count", 1]) == 2
        with pytest.raises(TypeError):
            x.invoke("sendRequestList", ["a", "info"])

    def test_DIgetResult_scalar_goes_to_DI_res(self, tmp_path: Path, rpc: RpcServer) -> None:
        h = harness(
            tmp_path,
            f"""
initial state START enter {{
  DI(xmlrpc2di, newConnection, a, 127.0.0.1, (int){rpc.port}, "");
  DIgetResult(xmlrpc2di, sendRequestList, a, count, (int)9);
}};
""",
        )
        assert h.call("app").vars["DI_res"] == "10"

    def test_no_server_and_failed_servers(self, rpc: RpcServer) -> None:
        now = [100.0]
        x = XmlRpc2Di(lambda: now[0], timeout=5, retry_after=10)
        assert x.invoke("sendRequest", ["none", "count", [1]]) == [-1, "no active connections"]
        x.invoke("newConnection", ["a", "127.0.0.1", refused_port(), ""])
        assert x.invoke("sendRequestList", ["a", "count", 1]) == [-1, "no active connections"]
        # a second, working server of the same name is used; the failed one rests
        x.invoke("newConnection", ["a", "127.0.0.1", rpc.port, ""])
        for _ in range(5):
            assert x.invoke("sendRequestList", ["a", "count", 1]) == 2
        assert x.servers["a"][0].failed_at == 100.0
        now[0] = 111.0  # retry_after passed: the dead one is tried (and fails) again
        assert x.invoke("sendRequestList", ["a", "count", 1]) == 2

    def test_fault_marks_server_failed(self, rpc: RpcServer) -> None:
        x = XmlRpc2Di(time.monotonic)
        x.invoke("newConnection", ["a", "127.0.0.1", rpc.port, ""])
        assert x.invoke("sendRequestList", ["a", "fail"]) == [-1, "no active connections"]
        assert x.servers["a"][0].failed_at is not None

    def test_timeout_is_bounded(self, rpc: RpcServer) -> None:
        x = XmlRpc2Di(time.monotonic, timeout=0.3)
        x.invoke("newConnection", ["a", "127.0.0.1", rpc.port, ""])
        start = time.monotonic()
        assert x.invoke("sendRequestList", ["a", "slow"]) == [-1, "no active connections"]
        assert time.monotonic() - start < 20

    def test_E_136_argument_errors(self, tmp_path: Path) -> None:
        h = harness(
            tmp_path,
            """
initial state START enter {
  DI(xmlrpc2di, newConnection, a, host, 80, "");
  set($e1=$errno); set($s1=$strerror);
  DI(xmlrpc2di, newConnection, a);
  set($e2=$errno); set($s2=$strerror);
  DI(xmlrpc2di, nothing);
  set($e3=$errno); set($s3=$strerror);
}};
""",
        )
        v = h.call("app").vars
        assert (v["e1"], v["s1"]) == ("arg", "type mismatch in  DI call 'DI(xmlrpc2di, newConnection, a, host, 80, \"\")'\n")
        assert v["e2"] == "arg" and v["s2"].startswith("out of bounds in  DI call")
        assert (v["e3"], v["s3"]) == ("arg", "not implemented DI function 'nothing'\n")

    def test_K_42_settings(self, tmp_path: Path) -> None:
        assert read_settings(str(tmp_path)) == {}
        (tmp_path / "xmlrpc2di.conf").write_text("server_timeout=500\nserver_retry_after=3\n")
        assert read_settings(str(tmp_path)) == {"timeout": 0.5, "retry_after": 3.0}


# --------------------------------------------------------------------------- user_timer
class TestUserTimer:
    def test_A_core_63_setTimer_through_DI_fires_timer_event(self, tmp_path: Path) -> None:
        h = harness(
            tmp_path,
            """
initial state START enter { DI(user_timer, setTimer, (int)1, (int)10, @local_tag); };
transition t START - timerTest(#id == 1) / set($fired=yes) -> DONE;
state DONE;
""",
        )
        call = h.call("app")
        assert call.vars["errno"] == ""
        call.advance(9.9)
        assert call.state == "START"
        call.advance(0.2)
        assert (call.state, call.vars["fired"]) == ("DONE", "yes")

    def test_removeTimer_also_removes_script_timers(self, tmp_path: Path) -> None:
        """One timer queue per session: setTimer(…) is removed by DI(user_timer, removeTimer, …)."""
        h = harness(
            tmp_path,
            """
initial state START enter {
  setTimer(1, 5);
  setTimer(2, 5);
  DI(user_timer, setTimer, (int)3, (int)5, @local_tag);
  DI(user_timer, removeTimer, (int)1, @local_tag);
};
state RUN;
transition t (START, RUN) - timer() / append($fired, #id) -> RUN;
transition clear (START, RUN) - keyTest(#key == 1) / DI(user_timer, removeUserTimers, @local_tag) -> RUN;
""",
        )
        call = h.call("app")
        call.advance(6)
        assert call.vars["fired"] == "23"
        h.engine.di["user_timer"].invoke("setTimer", [4, 2.5, call.id])
        call.press("1")
        call.advance(5)
        assert call.vars["fired"] == "23"

    def test_types_and_unknown_session(self) -> None:
        e = build_engine(VirtualClock())
        ut = e.di["user_timer"]
        assert ut.invoke("setTimer", [1, 1, "nobody"]) is None
        with pytest.raises(TypeError):
            ut.invoke("setTimer", ["1", 1, "x"])
        with pytest.raises(TypeError):
            ut.invoke("setTimer", [1, "1", "x"])
        with pytest.raises(IndexError):
            ut.invoke("removeTimer", [1])
        with pytest.raises(NotImplementedError):
            ut.invoke("other", [])
        assert ut.invoke("_list", []) == ["setTimer", "removeTimer", "removeUserTimers"]


# --------------------------------------------------------------------------- third-party components
class Greeter(DIComponent):
    def invoke(self, function: str, args: list[Any]) -> Any:
        if function == "hello":
            return f"hello {args[0]}"
        raise NotImplementedError(function)


def make_greeter(engine: Engine) -> Greeter:
    return Greeter()


class TestEntryPoints:
    def test_entry_point_group_registers_components(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        eps = [
            importlib.metadata.EntryPoint("greeter", f"{__name__}:make_greeter", components.ENTRY_POINT_GROUP),
            importlib.metadata.EntryPoint("broken", "no_such_module_x:thing", components.ENTRY_POINT_GROUP),
            importlib.metadata.EntryPoint("dsm", f"{__name__}:make_greeter", components.ENTRY_POINT_GROUP),
        ]

        monkeypatch.setattr(components, "entry_points", lambda: eps)
        h = harness(tmp_path, "initial state S enter { DIgetResult(greeter, hello, world); };")
        assert isinstance(h.engine.di["greeter"], Greeter)
        assert "broken" not in h.engine.di
        assert not isinstance(h.engine.di["dsm"], Greeter)  # built-in names are kept
        assert h.call("app").vars["DI_res"] == "hello world"
