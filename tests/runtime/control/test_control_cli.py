"""The operator's CLI (issue 7 item 5; config.md T-1, T-4, T-11): tables by default, ``--json``.

Run in-process through ``dsm.cli.main`` against a server in a thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from control_rig import ServerThread, write_broken, write_version

from dsm.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_T1_reload_prints_the_result_and_version(served: ServerThread, scripts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Human text, no Python lists: ``reloaded: serving version V``; a refusal names the reason."""
    write_version(scripts, 2)
    code, out, _ = run(capsys, "reload", "--control", served.address)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("reloaded: serving version ") and first.endswith(" warning(s))")
    version = first.split()[3]
    write_broken(scripts)
    code, out, _ = run(capsys, "reload", "--control", served.address)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("reload refused: loading main from ")
    assert lines[0].endswith(f"; still serving version {version}")
    assert "[" not in lines[0] and "'" not in lines[0]
    assert any("noSuchActionAnywhere" in line for line in lines[1:])


def test_reload_reports_the_warnings_of_a_collection_that_loads(
    served: ServerThread, scripts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings at reload are not silent: listed by ``reload``, returned by ``reload --json``."""
    write_version(scripts, 2)
    (scripts / "warned.dsm").write_text('initial state A;\nstate B;\n')
    code, out, _ = run(capsys, "reload", "--control", served.address, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"]
    assert all(d["severity"] == "warning" for d in data["diagnostics"])
    assert {d["code"] for d in data["diagnostics"] if d["path"].endswith("warned.dsm")} >= {"W008", "W009"}
    code, out, _ = run(capsys, "reload", "--control", served.address)
    lines = out.splitlines()
    assert code == 0 and "warning(s)" in lines[0] and "(0 warning(s))" not in lines[0]
    assert any("warned.dsm:" in line and ": warning: " in line for line in lines[1:])


def test_list_and_json(served: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--control", served.address)
    assert code == 0
    lines = out.splitlines()
    assert lines[1:4] == ["DIAGRAM", "main", "sub"]
    code, out, _ = run(capsys, "list", "--control", served.address, "--json")
    data = json.loads(out)
    assert data["diagrams"] == ["main", "sub"] and data["current"] == lines[0].split()[1]


def test_T4_calls_and_call_info(served: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "start-call", "main", "--control", served.address)
    assert code == 0
    sid = out.splitlines()[1].split()[0]
    run(capsys, "press", sid, "1", "--control", served.address)
    code, out, _ = run(capsys, "calls", "--control", served.address)
    lines = out.splitlines()
    assert lines[0] == "Active calls: 1"
    assert lines[1].split() == ["ID", "KIND", "DIAGRAM", "STATE", "VERSION", "AGE"]
    assert lines[2].split()[:4] == [sid, "call", "main", "WAIT_V1"]
    code, out, _ = run(capsys, "call-info", sid, "--control", served.address)
    assert code == 0
    assert "state:    WAIT_V1" in out
    assert any(line.split()[:2] == ["version", "1"] for line in out.splitlines())
    assert "first key v1" in out  # a recent transition
    code, _, err = run(capsys, "call-info", "nobody", "--control", served.address)
    assert code == 1 and "no such session: nobody" in err
    assert "code" not in err  # no JSON-RPC error codes for people


def test_D1_post_event(served: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "start-call", "main", "--control", served.address, "--json")
    sid = json.loads(out)["id"]
    code, out, _ = run(capsys, "post-event", sid, "action=take", "room=lobby", "--control", served.address)
    assert (code, out) == (0, f"event posted to {sid}\n")
    code, out, err = run(capsys, "post-event", "nobody", "a=b", "--control", served.address)
    assert (code, out) == (1, "")
    assert "no session or event queue 'nobody'" in err
    code, _, err = run(capsys, "post-event", sid, "novalue", "--control", served.address)
    assert code == 2 and "expected name=value" in err


def test_load_adds_a_diagram(served: ServerThread, scripts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (scripts / "more").mkdir()
    extra = scripts / "more" / "extra.dsm"  # load reads only from the script folders
    extra.write_text("initial state E;\n")
    code, out, _ = run(capsys, "load", "extra", str(extra), "--control", served.address)
    assert code == 0 and out.splitlines()[0].startswith(f"loaded extra from {extra}: serving version ")
    code, out, _ = run(capsys, "load", "extra", str(extra), "--control", served.address)
    assert code == 1 and "already loaded" in out


def test_trace_on_read_off(served: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "trace", "--all", "--control", served.address)
    assert code == 0
    served.client.call("startCall", {"app": "main"})
    code, out, _ = run(capsys, "trace", "--control", served.address, "--json")
    lines = [json.loads(x) for x in out.splitlines()]
    assert {x["kind"] for x in lines} >= {"event", "state"}
    assert all(x["version"] == lines[0]["version"] for x in lines)
    saved = tmp_path / "trace.jsonl"
    saved.write_text(out)
    code, out2, _ = run(capsys, "trace", "--file", str(saved))
    assert code == 0 and len(out2.splitlines()) == len(lines) and "START_V1" in out2
    code, out, _ = run(capsys, "trace", "--off", "--control", served.address)
    assert out == "trace off\n"


def test_bad_control_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "calls", "--control", "nonsense")
    assert code == 2 and "HOST:PORT" in err


def test_serve_logs_warnings_at_start_and_reload_one_line_each(tmp_path: Path) -> None:
    """``dsm serve`` logs each warning as one ``event=diagnostic level=warn at=file:line:col code=…`` line."""
    folder = tmp_path / "warned"
    folder.mkdir()
    script = folder / "warned.dsm"
    script.write_text('initial state A;\ntransition "bye" A - hangup / stop(false) -> A;\nstate B;\n')
    st = ServerThread(scripts=[str(folder)])
    try:
        start_lines = [line for line in st.log.splitlines() if "event=diagnostic" in line]
        assert any(f"level=warn event=diagnostic at={script}:3:7 code=W009 " in line for line in start_lines), start_lines
        before = len(st.log.splitlines())
        script.write_text('initial state A;\ntransition "bye" A - hangup / stop(false) -> A;\nstate C;\n')
        out = st.client.call("reload")
        assert out["ok"] and any(d["code"] == "W009" for d in out["diagnostics"])
        reload_lines = st.log.splitlines()[before:]
        assert any("event=reload" in line and "warnings=" in line for line in reload_lines)
        assert any(f"at={script}:3:7 code=W009 " in line and "`C`" in line for line in reload_lines)
    finally:
        st.stop()


def test_serve_start_failures_name_the_directory_and_the_port(tmp_path: Path) -> None:
    """``--scripts /nonexistent``: "no such directory"; a SIP port in use: the address is named."""
    import asyncio
    import io
    import socket

    from dsm.runtime.server import Server, StructuredLog

    text = io.StringIO()
    missing = tmp_path / "nonexistent"
    server = Server(scripts=[str(missing)], control="127.0.0.1:0", log=StructuredLog(text))
    assert asyncio.run(server.run()) == 1
    assert f"{missing}: no such directory" in text.getvalue()
    assert "Traceback" not in text.getvalue()

    folder = tmp_path / "ok"
    folder.mkdir()
    (folder / "a.dsm").write_text('initial state A;\ntransition "h" A - hangup / stop(false) -> A;\n')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        text = io.StringIO()
        server = Server(scripts=[str(folder)], control="127.0.0.1:0", sip=f"127.0.0.1:{port}", log=StructuredLog(text))
        assert asyncio.run(server.run()) == 1
    assert f"cannot listen for SIP on 127.0.0.1:{port}" in text.getvalue()


def test_every_rule_code_a_user_can_see_is_explained_in_the_docs() -> None:
    """Diagnostic codes naming spec rules (CF-2, K-2, AS-1, D-2 …) are explained in docs/operations.md."""
    import re

    root = Path(__file__).resolve().parents[3]
    used: set[str] = set()
    for source in (root / "runtime").rglob("*.py"):
        used |= set(re.findall(r'"((?:CF|K|AS|D|E|L)-\d+)"', source.read_text(encoding="utf-8")))
    table = (root / "docs" / "operations.md").read_text(encoding="utf-8").split("## Diagnostic codes", 1)[1]
    missing = sorted(code for code in used if f"`{code}`" not in table)
    assert not missing, missing


def test_serve_logs_a_broken_prompt_file_at_start_and_after_a_reload(tmp_path: Path) -> None:
    """Serving script folders: a ``prompts/`` file that is not audio is logged at start and on reload."""
    import time

    folder = tmp_path / "app"
    (folder / "prompts").mkdir(parents=True)
    (folder / "app.dsm").write_text('initial state A;\ntransition "h" A - hangup / stop(false) -> A;\n')
    (folder / "prompts" / "hello.wav").write_text("not audio")
    st = ServerThread(scripts=[str(folder)])
    try:
        assert any("event=prompts" in x and "hello.wav" in x for x in st.log.splitlines())
        before = len(st.log.splitlines())
        (folder / "prompts" / "bye.wav").write_text("not audio either")
        assert st.client.call("reload")["ok"]
        deadline = time.monotonic() + 20
        while not any("event=prompts" in x and "bye.wav" in x for x in st.log.splitlines()[before:]):
            assert time.monotonic() < deadline, st.log
            time.sleep(0.05)
    finally:
        st.stop()
