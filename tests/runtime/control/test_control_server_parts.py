"""Small parts of ``dsm serve``: structured log lines, addresses, sources."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dsm.runtime.control.http_server import parse_hostport
from dsm.runtime.server import StructuredLog
from dsm.runtime.versions import ConfigSource, DirectorySource, ReloadFailed


def test_log_lines_are_key_value_and_quoted_when_needed() -> None:
    out = io.StringIO()
    log = StructuredLog(out, level="info")
    log("reload", ok="true", version="abc", reason="loading main from /x y.dsm", n=3)
    log("noise", "debug", x=1)  # below the level: dropped
    (line,) = out.getvalue().splitlines()
    parts = line.split(" ", 3)
    assert parts[0].startswith("ts=") and parts[0].endswith("Z")
    assert parts[1:3] == ["level=info", "event=reload"]
    assert parts[3] == 'ok=true version=abc reason="loading main from /x y.dsm" n=3'


def test_multi_line_messages_stay_on_one_line() -> None:
    out = io.StringIO()
    StructuredLog(out)("diagnostic", "error", text="a\nb")
    assert out.getvalue().count("\n") == 1 and 'text="a\\nb"' in out.getvalue()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:5040", ("127.0.0.1", 5040)), ("[::1]:80", ("::1", 80)), ("localhost:0", ("localhost", 0))],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["5040", "host:", ":80", "h:99999", "h:x"])
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text)


def test_E6_directory_source_refuses_two_diagrams_with_one_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.dsm").write_text("initial state S;\n")
    (tmp_path / "b" / "x.dsm").write_text("initial state S;\n")
    with pytest.raises(ReloadFailed) as err:
        DirectorySource([tmp_path]).compile()
    assert "defined twice" in err.value.diagnostics[0].message


def test_D2_config_source_reads_only_diag_path_mod_path_load_diags(tmp_path: Path) -> None:
    (tmp_path / "m.dsm").write_text("initial state S;\n")
    conf = tmp_path / "dsm.conf"
    conf.write_text(f"diag_path={tmp_path}\nload_diags=m\nregister_apps=m\nfoo=bar\n")
    compiled = ConfigSource(conf).compile()
    assert list(compiled.charts) == ["m"] and compiled.register_apps is None
    assert compiled.files == [f"{tmp_path}/m.dsm"]  # a missing trailing '/' is added
    assert ConfigSource(conf).watch_paths() == [str(conf), f"{tmp_path}/"]
    with pytest.raises(ReloadFailed) as err:
        ConfigSource(tmp_path / "nope.conf").compile()
    assert err.value.reason == f"loading config file {tmp_path / 'nope.conf'}"
