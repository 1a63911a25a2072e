"""The ``dsm`` command: check, graph and plug-in loading (run in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dsm import cli

GOOD = """initial state A enter { playPrompt(hello) };
state END enter { stop(true) };
transition "done" A - noAudio -> END;
transition "h" (A, END) - hangup / stop(false) -> END;
"""


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    (tmp_path / "good.dsm").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.dsm").write_text("initial state A enter { lgo(1, x) };\n")
    (tmp_path / "sub" / "warn.dsm").write_text("state A;\n")
    (tmp_path / "notes.txt").write_text("not a script")
    return tmp_path


def test_check_clean_file_exit_0(scripts: Path, capsys: Any) -> None:
    assert cli.main(["check", str(scripts / "good.dsm")]) == 0
    assert capsys.readouterr().out.strip() == "1 file checked: 0 error(s), 0 warning(s)"


def test_check_directory_recursive_with_errors_exit_1(scripts: Path, capsys: Any) -> None:
    assert cli.main(["check", str(scripts)]) == 1
    out = capsys.readouterr().out
    assert "bad.dsm:1:25: error: unknown action `lgo` [E014]" in out
    assert "hint: did you mean `log`?" in out
    assert "warn.dsm:1:7: warning:" in out
    assert out.strip().splitlines()[-1].startswith("3 files checked: 1 error(s), ")


def test_check_warnings_only_exit_0(scripts: Path) -> None:
    assert cli.main(["check", str(scripts / "sub" / "warn.dsm")]) == 0


def test_check_syntax_only_skips_unknown_names(scripts: Path) -> None:
    assert cli.main(["check", "--syntax-only", str(scripts / "sub" / "bad.dsm")]) == 0


def test_check_json_format(scripts: Path, capsys: Any) -> None:
    assert cli.main(["check", "--format", "json", str(scripts / "sub" / "bad.dsm")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"files": 1, "errors": 1, "warnings": 0}
    d = data["diagnostics"][0]
    assert (d["line"], d["column"], d["severity"], d["code"]) == (1, 25, "error", "E014")


def test_check_include_and_module_path_options(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.dsm").write_text("state END enter { stop(true) };\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.dsm").write_text(
        "#include common.dsm\ninitial state A;\ntransition h (A, END) - hangup -> END;\n"
    )
    assert cli.main(["check", str(tmp_path / "app")]) == 1
    assert cli.main(["check", "-I", str(tmp_path / "lib"), str(tmp_path / "app")]) == 0
    assert (
        cli.main(
            [
                "check",
                "--module-path",
                str(tmp_path),
                "-I",
                str(tmp_path / "lib"),
                str(tmp_path / "app"),
            ]
        )
        == 0
    )


def test_check_strict_reports_leniencies(tmp_path: Path, capsys: Any) -> None:
    p = tmp_path / "lenient.dsm"
    p.write_text(
        GOOD.replace(
            'transition "done" A - noAudio -> END;', 'transition "done" A - noAudio -> END extra;'
        )
    )
    assert cli.main(["check", str(p)]) == 0
    assert "W013" not in capsys.readouterr().out
    assert cli.main(["check", "--strict", str(p)]) == 0
    assert "W013" not in capsys.readouterr().out  # extra words before `;` are in the grammar
    p.write_text(GOOD.replace("state END enter { stop(true) };", "state END enter stop(true) } ;"))
    assert cli.main(["check", "--strict", str(p)]) == 0
    assert "[W013]" not in capsys.readouterr().out  # `{` is optional in the grammar too
    p.write_text(GOOD + "state LOST enter { stop(true) }\n")
    cli.main(["check", "--strict", str(p)])
    assert "[W013]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["check"],
        ["check", "--format", "xml", "x.dsm"],
        ["check", "--nope", "x"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exit_2(argv: list[str], capsys: Any) -> None:
    assert cli.main(argv) == 2


def test_missing_path_exit_2(tmp_path: Path, capsys: Any) -> None:
    assert cli.main(["check", str(tmp_path / "missing.dsm")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_help_exit_0(capsys: Any) -> None:
    assert cli.main(["check", "--help"]) == 0
    assert "--syntax-only" in capsys.readouterr().out


def test_graph_dot_and_mermaid(scripts: Path, capsys: Any) -> None:
    assert cli.main(["graph", str(scripts / "good.dsm")]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "good"') and '"A" -> "END" [label="done: noAudio"];' in out
    assert cli.main(["graph", str(scripts / "good.dsm"), "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("stateDiagram-v2")


def test_graph_to_file(scripts: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    assert cli.main(["graph", str(scripts / "good.dsm"), "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_graph_compile_error_exit_1(scripts: Path, capsys: Any) -> None:
    assert cli.main(["graph", str(scripts / "sub" / "bad.dsm")]) == 1
    assert "E014" in capsys.readouterr().err


def test_graph_svg_without_graphviz_exit_2(scripts: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("dsm.graph.shutil.which", lambda name: None)
    assert cli.main(["graph", str(scripts / "good.dsm"), "--format", "svg"]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err


class _EntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"test:{name}"
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_plugins_are_loaded_and_failing_ones_skipped(monkeypatch: Any, capsys: Any) -> None:
    def register(subparsers: Any) -> None:
        p = subparsers.add_parser("hello")
        p.add_argument("--n", type=int, default=1)
        p.set_defaults(func=lambda args: 40 + args.n)

    monkeypatch.setattr(
        cli,
        "_entry_points",
        lambda: [_EntryPoint("broken", ImportError("boom")), _EntryPoint("hello", register)],
    )
    assert cli.main(["hello", "--n", "2"]) == 42
    assert "plug-in 'broken'" in capsys.readouterr().err


def test_check_does_not_load_plugins(monkeypatch: Any, scripts: Path) -> None:
    def explode() -> list[Any]:
        raise AssertionError("plug-ins must not be loaded for dsm check")

    monkeypatch.setattr(cli, "_entry_points", explode)
    assert cli.main(["check", str(scripts / "good.dsm")]) == 0


@pytest.mark.parametrize("option", [["--werror"], ["-W", "error"]])
def test_check_werror_fails_on_warnings(scripts: Path, option: list[str], capsys: Any) -> None:
    """``--werror`` / ``-W error``: a script with only warnings makes ``dsm check`` exit 1."""
    assert cli.main(["check", *option, str(scripts / "sub" / "warn.dsm")]) == 1
    assert "warning" in capsys.readouterr().out
    assert cli.main(["check", *option, str(scripts / "good.dsm")]) == 0


def test_version_and_help_document_exit_codes(capsys: Any) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("dsm ")
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "  3  no DSM server answers" in out
    assert "serve" in out.split("exit codes:")[0]  # the description names more than check/draw/run


def test_check_json_missing_path_is_json_on_stdout(tmp_path: Path, capsys: Any) -> None:
    """``--format json``: a usage problem is a JSON object on stdout too (exit 2)."""
    assert cli.main(["check", "--format", "json", str(tmp_path / "nope.dsm")]) == 2
    data = json.loads(capsys.readouterr().out)
    assert "no such file or directory" in data["error"] and data["diagnostics"] == []


def test_graph_of_a_directory_says_so(tmp_path: Path, capsys: Any) -> None:
    assert cli.main(["graph", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "no such file" not in err


def test_check_json_into_a_closed_pipe_has_no_traceback(tmp_path: Path) -> None:
    """``dsm check --format json … | head -1``: the reader goes away, no BrokenPipeError traceback."""
    import subprocess
    import sys

    for n in range(300):
        (tmp_path / f"s{n}.dsm").write_text("state A;\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsm.cli", "check", "--format", "json", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as head -1 does
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err
