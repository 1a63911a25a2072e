"""Missing or undecodable prompt files are never silent (issue 17 item 3; CF-8, K-10, A-core-21).

``dsm check --config`` reports them as errors located in the prompt list,
rejects a configuration ``dsm serve`` rejects, ``dsm serve`` logs them at
start, and a call playing such a prompt logs the file that failed.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dsm.cli import main
from dsm.runtime.actions.core import core
from dsm.runtime.harness.stub import StubContext
from dsm.runtime.media.audio import write_wav
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.prompts import PromptLibrary
from dsm.runtime.server import Server, StructuredLog

SCRIPT = 'initial state S enter { playPrompt(hello) };\ntransition "bye" S - hangup / stop(false) -> S;\n'


def _config(tmp_path: Path, prompts: str, extra: str = "") -> Path:
    (tmp_path / "ivr.dsm").write_text(SCRIPT)
    write_wav(tmp_path / "ok.wav", [0] * 800)
    (tmp_path / "noise.wav").write_text("this is not audio\n")
    (tmp_path / "prompts.txt").write_text(prompts)
    conf = tmp_path / "dsm.conf"
    conf.write_text(
        f"diag_path={tmp_path}\nload_diags=ivr\nregister_apps=ivr\nload_prompts={tmp_path / 'prompts.txt'}\n{extra}"
    )
    return conf


def test_CF8_check_config_reports_missing_and_undecodable_prompt_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = _config(tmp_path, f"hello={tmp_path / 'ok.wav'}\nbye={tmp_path / 'gone.wav'}\nnoise={tmp_path / 'noise.wav'}\n")
    assert main(["check", "--config", str(conf), str(tmp_path / "ivr.dsm")]) == 1
    out = capsys.readouterr().out
    assert f"prompts.txt:2:1: error: prompt 'bye': audio file '{tmp_path / 'gone.wav'}': no such file" in out
    assert "prompts.txt:3:1: error: prompt 'noise'" in out and "not an audio file" in out
    assert "System error" not in out
    assert "W017" not in out  # hello is provided


def test_CF8_check_config_missing_prompt_list_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = _config(tmp_path, "")
    (tmp_path / "prompts.txt").unlink()
    assert main(["check", "--config", str(conf), str(tmp_path / "ivr.dsm")]) == 1
    assert "dsm.conf:4:1: error: cannot read prompt list" in capsys.readouterr().out


def test_CF2_check_config_rejects_a_garbage_configuration_as_serve_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ivr.dsm").write_text(SCRIPT)
    conf = tmp_path / "dsm.conf"
    conf.write_text("this is not a configuration\n")
    assert main(["check", "--config", str(conf), str(tmp_path / "ivr.dsm")]) == 1
    assert "dsm.conf:1:1: error:" in capsys.readouterr().out


def test_CF8_serve_logs_prompt_files_that_do_not_load_at_start(tmp_path: Path) -> None:
    conf = _config(tmp_path, f"hello={tmp_path / 'gone.wav'}\n")
    text = io.StringIO()

    async def start_and_stop() -> None:
        server = Server(config=str(conf), control="127.0.0.1:0", log=StructuredLog(text))
        await server.start()
        await server.shutdown()

    asyncio.run(start_and_stop())
    lines = [line for line in text.getvalue().splitlines() if "event=prompts" in line]
    assert len(lines) == 1 and "level=error" in lines[0]
    assert f"{tmp_path / 'gone.wav'}" in lines[0] and "no such file" in lines[0]


def test_A_core_21_playing_a_prompt_whose_file_failed_logs_the_file(tmp_path: Path) -> None:
    (tmp_path / "prompts.txt").write_text(f"hello={tmp_path / 'gone.wav'}\n")
    library = PromptLibrary()
    library.configure({"load_prompts": str(tmp_path / "prompts.txt")})
    ctx = StubContext(call=CallMedia(library))
    with pytest.raises(Exception) as caught:
        ctx.run(core, "playPrompt", "hello")
    assert getattr(caught.value, "params", None) == {"name": "hello", "type": "prompt"}
    ((_, message),) = ctx.logs
    assert "prompt 'hello'" in message and str(tmp_path / "gone.wav") in message and "no such file" in message
