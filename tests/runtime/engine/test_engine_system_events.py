"""System events (engine.md event table ``System``, C-core-30): ``ServerShutdown``, ``User1``, ``User2``."""

from __future__ import annotations

from pathlib import Path

from dsm.runtime.harness import Harness

CALL = """
initial state S;
state DONE;
transition sys S - system() / { set($got=#type); set(#processed=$keep) } -> S;
"""

SYSTEM = """
initial state S;
transition sys S - system() / append($seen, #type) -> S;
"""


def harness(tmp_path: Path, **scripts: str) -> Harness:
    for name, text in scripts.items():
        (tmp_path / f"{name}.dsm").write_text(text)
    return Harness(scripts=str(tmp_path))


def test_C_core_30_shutdown_reaches_the_script_then_the_call_ends(tmp_path: Path) -> None:
    h = harness(tmp_path, app=CALL)
    call = h.call("app")
    assert h.engine.system_event("ServerShutdown") == 1
    assert call.vars["got"] == "ServerShutdown"
    assert call.terminated, "host default: end the call and stop"
    assert "bye" in call.transcript().lower()


def test_E157_processed_keeps_the_call(tmp_path: Path) -> None:
    h = harness(tmp_path, app=CALL.replace("initial state S;", "initial state S enter { set($keep=true) };"))
    call = h.call("app")
    h.engine.system_event("ServerShutdown")
    assert call.vars["got"] == "ServerShutdown" and not call.terminated


def test_C_core_30_user_signals_have_no_default(tmp_path: Path) -> None:
    h = harness(tmp_path, app=CALL)
    call = h.call("app")
    h.engine.system_event("User1")
    assert call.vars["got"] == "User1" and not call.terminated
    h.engine.system_event("User2")
    assert call.vars["got"] == "User2" and not call.terminated


def test_C_core_30_system_dsms_are_told_and_keep_running(tmp_path: Path) -> None:
    h = harness(tmp_path, app=CALL, watcher=SYSTEM)
    sys_dsm = h.call_system("watcher")
    call = h.call("app")
    assert h.engine.system_event("User2") == 2
    assert h.engine.system_event("ServerShutdown") == 2
    assert sys_dsm.vars["seen"] == "User2ServerShutdown"
    assert not sys_dsm.terminated
    assert call.terminated
