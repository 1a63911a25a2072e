"""``dsm serve`` as a real process (issue 7 item 3, 4): start, control, watch, SIGTERM.

The server binds port 0 and reports the port it got in its
``event=listening`` log line, so the test never races for a free port.
Waiting is by polling for log lines with generous limits, never by sleeping
a fixed time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from control_rig import LIMIT, Proc, write_broken, write_version

from dsm.runtime import native
from dsm.runtime.control.client import ControlClient


@pytest.fixture
def proc(scripts: Path) -> Iterator[Proc]:
    p = Proc("serve", "--scripts", str(scripts), "--control", "127.0.0.1:0", "--watch")
    try:
        yield p
    finally:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait()


def test_serve_starts_answers_and_stops_cleanly_on_SIGTERM(proc: Proc) -> None:
    line = proc.wait_for("event=listening")
    address = proc.field(line, "control")
    assert address.startswith("127.0.0.1:")
    # the start line says whether the media path runs compiled (the server inherits our environment)
    assert (proc.field(line, "media_path") == "compiled") == native.compiled()
    client = ControlClient(address)
    assert client.call("listDSMs") == ["main", "sub"]
    call = client.call("startCall", {"app": "main"})
    assert call["state"] == "START_V1"
    out = subprocess.run(
        [sys.executable, "-m", "dsm.cli", "calls", "--control", address],
        capture_output=True, text=True, errors="replace", timeout=LIMIT,
    )
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == "Active calls: 1"
    assert proc.stop() == 0
    proc.wait_for("event=stopped", "sessions_ended=1")


def test_watch_reloads_changed_scripts_and_keeps_the_old_set_on_errors(proc: Proc, scripts: Path) -> None:
    line = proc.wait_for("event=listening")
    client = ControlClient(proc.field(line, "control"))
    proc.wait_for("event=watch")
    v1 = client.call("versions")["current"]
    old_call = client.call("startCall", {"app": "main"})

    mark = len(proc.lines)
    write_version(scripts, 2)
    line = proc.wait_for("event=reload", "ok=true", after=mark)
    v2 = proc.field(line, "version")
    assert v2 != v1 and client.call("versions")["current"] == v2
    assert client.call("startCall", {"app": "main"})["state"] == "START_V2"

    mark = len(proc.lines)
    write_broken(scripts)
    proc.wait_for("event=reload", "ok=false", after=mark)
    proc.wait_for("event=diagnostic", "noSuchActionAnywhere", after=mark)
    assert client.call("versions")["current"] == v2, "the old set keeps serving"
    assert client.call("startCall", {"app": "main"})["state"] == "START_V2"
    info = client.call("callInfo", [old_call["id"]])
    assert info["version"] == v1 and info["state"] == "START_V1"
    assert proc.stop() == 0


def test_client_command_without_a_server_exits_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    out = subprocess.run(
        [sys.executable, "-m", "dsm.cli", "list"],
        capture_output=True, text=True, errors="replace", timeout=LIMIT,
        env={**os.environ, "DSM_CONTROL": f"127.0.0.1:{port}"},
    )
    assert out.returncode == 3
    assert out.stderr.strip() == (
        f"dsm list: no DSM server answers at 127.0.0.1:{port} "
        "(start one with 'dsm serve', or use --control / DSM_CONTROL)"
    )


def test_serve_refuses_a_public_bind_without_token(scripts: Path) -> None:
    p = Proc("serve", "--scripts", str(scripts), "--control", "0.0.0.0:0")
    try:
        assert p.p.wait(LIMIT) == 1
        p.wait_for("event=start", "ok=false", "loopback")
    finally:
        if p.p.poll() is None:
            p.p.kill()


def test_serve_log_is_one_key_value_format(tmp_path: Path) -> None:
    """A script's engine error (jumpFSM to a missing diagram) is one ``ts=… event=session`` line,
    not also a plain ``[call-1] jumpFSM…`` line from Python's logging (issue 17 item 11)."""
    folder = tmp_path / "jump"
    folder.mkdir()
    (folder / "jump.dsm").write_text(
        'initial state S enter { jumpFSM(nosuch) };\ntransition "h" S - hangup / stop(false) -> S;\n'
    )
    p = Proc("serve", "--scripts", str(folder), "--control", "127.0.0.1:0")
    try:
        client = ControlClient(p.field(p.wait_for("event=listening"), "control"))
        client.call("startCall", {"app": "jump"})
        p.wait_for("event=session", "jumpFSM", "nosuch")
        assert p.stop() == 0
        p.wait_for("event=stopped")
    finally:
        p.stop()
    assert all(line.startswith("ts=") for line in p.lines if line), p.lines


def test_C_core_30_signals_reach_the_scripts_as_system_events(tmp_path: Path) -> None:
    """SIGUSR1/SIGUSR2 → ``system`` User1/User2; SIGTERM → ServerShutdown before the sessions end."""
    import signal

    (tmp_path / "sig.dsm").write_text(
        "initial state S;\n"
        "transition sys S - system() / { set($t=#type); log(1, $t) } -> S;\n"
    )
    p = Proc("serve", "--scripts", str(tmp_path), "--control", "127.0.0.1:0")
    try:
        line = p.wait_for("event=listening")
        client = ControlClient(p.field(line, "control"))
        sid = client.call("startCall", {"app": "sig"})["id"]
        p.p.send_signal(signal.SIGUSR1)
        p.wait_for("event=session", f"session={sid}", "'User1'")
        p.p.send_signal(signal.SIGUSR2)
        p.wait_for("event=session", f"session={sid}", "'User2'")
        assert client.call("callInfo", [sid])["vars"]["t"] == "User2"
        assert p.stop() == 0
        p.wait_for("event=session", f"session={sid}", "'ServerShutdown'")
        p.wait_for("event=system_event", "type=ServerShutdown", "sessions=1")
        p.wait_for("event=stopped")
    finally:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait()
