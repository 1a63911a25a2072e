"""``dsm check --config``: playPrompt names that no configured prompt file provides (W017)."""

from __future__ import annotations

from pathlib import Path

from dsm.cli import main
from dsm.compiler import check_paths


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    from dsm.runtime.media.audio import write_wav

    for name in ("w", "g"):
        write_wav(tmp_path / f"{name}.wav", [0] * 160)
    (tmp_path / "prompts.txt").write_text(f"welcome={tmp_path / 'w.wav'}\ngoodbye={tmp_path / 'g.wav'}\n")
    conf = tmp_path / "dsm.conf"
    conf.write_text(f"load_prompts={tmp_path / 'prompts.txt'}\n")
    script = tmp_path / "ivr.dsm"
    script.write_text(
        "initial state S enter { playPrompt(welcome) playPrompt(goodbye) playPrompt(welcom) playPrompt($dyn) };\n"
        'transition "bye" S - hangup / stop(false) -> S;\n'
    )
    return conf, script


def test_unknown_prompt_names_are_warned_with_a_hint(tmp_path: Path) -> None:
    _, script = _setup(tmp_path)
    diags = check_paths([script], known_prompts={"welcome", "goodbye"})
    w = [d for d in diags if d.code == "W017"]
    assert len(w) == 1  # $dyn is resolved at run time and not checked
    assert "welcom" in w[0].message and w[0].hint == "did you mean `welcome`?"
    assert (w[0].line, w[0].column) == (1, 65)


def test_cli_config_option_reads_load_prompts(tmp_path: Path, capsys) -> None:
    conf, script = _setup(tmp_path)
    assert main(["check", "--config", str(conf), str(script)]) == 0
    out = capsys.readouterr().out
    assert "W017" in out and "prompt `welcom`" in out
    assert main(["check", str(script)]) == 0
    assert "W017" not in capsys.readouterr().out


def test_cli_config_missing_file_is_usage_error(tmp_path: Path) -> None:
    _, script = _setup(tmp_path)
    assert main(["check", "--config", str(tmp_path / "nope.conf"), str(script)]) == 2
