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
    write_version(scripts, 2)
    code, out, _ = run(capsys, "reload", "--control", served.address)
    assert code == 0
    first, second = out.splitlines()
    assert first == "[200, 'DSMs reloaded']"
    assert second.startswith("version ")
    write_broken(scripts)
    code, out, _ = run(capsys, "reload", "--control", served.address)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("[500, 'loading main from ")
    assert lines[1] == second.replace("version", "still serving version")
    assert any("noSuchActionAnywhere" in line for line in lines[2:])


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


def test_D1_post_event(served: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "start-call", "main", "--control", served.address, "--json")
    sid = json.loads(out)["id"]
    code, out, _ = run(capsys, "post-event", sid, "action=take", "room=lobby", "--control", served.address)
    assert (code, out) == (0, "[200, 'OK']\n")
    code, out, _ = run(capsys, "post-event", "nobody", "a=b", "--control", served.address)
    assert (code, out) == (1, "[404, 'Session not found']\n")
    code, _, err = run(capsys, "post-event", sid, "novalue", "--control", served.address)
    assert code == 2 and "expected name=value" in err


def test_load_adds_a_diagram(served: ServerThread, scripts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (scripts / "more").mkdir()
    extra = scripts / "more" / "extra.dsm"  # load reads only from the script folders
    extra.write_text("initial state E;\n")
    code, out, _ = run(capsys, "load", "extra", str(extra), "--control", served.address)
    assert code == 0 and out.splitlines()[0] == f"[200, 'loaded extra from {extra}']"
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
