"""Small parts of ``dsm serve``: structured log lines, addresses, sources, Host/Origin, token file, masking."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

import pytest

from dsm.runtime.control.client import ControlClient
from dsm.runtime.control.http_server import host_allowed, origin_allowed, parse_hostport
from dsm.runtime.control.token import new_token, read_token, remove_token, write_token
from dsm.runtime.redact import is_secret, redact_text, redact_vars, secret_values
from dsm.runtime.server import LoggingBridge, StructuredLog
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


# -- security parts (docs/security.md) ----------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "bound", "ok"),
    [
        ("127.0.0.1:5040", ("127.0.0.1", 5040), True),
        ("localhost:5040", ("127.0.0.1", 5040), True),
        ("LOCALHOST", ("127.0.0.1", 5040), True),
        ("[::1]:5040", ("::1", 5040), True),
        ("127.0.0.1:5041", ("127.0.0.1", 5040), False),
        ("evil.example:5040", ("127.0.0.1", 5040), False),
        ("127.0.0.2:5040", ("127.0.0.1", 5040), False),
        ("", ("127.0.0.1", 5040), False),
        ("127.0.0.1:x", ("127.0.0.1", 5040), False),
        ("192.0.2.7:5040", ("0.0.0.0", 5040), True),  # a literal cannot be rebound
        ("dsm.example:5040", ("0.0.0.0", 5040), False),
        ("127.0.0.1:5040", ("localhost", 5040), True),
    ],
)
def test_host_header_must_name_this_server(host: str, bound: tuple[str, int], ok: bool) -> None:
    assert host_allowed(host, bound) is ok


def test_extra_control_hosts_and_origins() -> None:
    bound = ("0.0.0.0", 5040)
    assert host_allowed("dsm.example:5040", bound, ("dsm.example",))
    assert origin_allowed("http://dsm.example:5040", bound, ("dsm.example",))
    assert origin_allowed("http://127.0.0.1:5040", ("127.0.0.1", 5040))
    for origin in ("null", "http://evil.example", "file://", "http://127.0.0.1:5040/x", "ftp://127.0.0.1:5040"):
        assert not origin_allowed(origin, ("127.0.0.1", 5040)), origin


def test_token_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "run" / "control-1.token"
    write_token(path, "abc")
    assert read_token(path) == "abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    write_token(path, "def")
    assert read_token(path) == "def" and stat.S_IMODE(path.stat().st_mode) == 0o600
    remove_token(path, "abc")  # not its token any more: left alone
    assert path.exists()
    remove_token(path, "def")
    assert not path.exists() and read_token(path) is None
    assert len(new_token()) >= 40 and new_token() != new_token()


def test_secret_names_and_one_masking_rule() -> None:
    for name in ("o_auth_pwd", "b2b_auth_pwd", "PASSWORD", "api_token", "mySecret", "Authorization"):
        assert is_secret(name), name
    for name in ("pin", "user", "caller", "digits"):
        assert not is_secret(name), name
    assert redact_vars({"o_auth_pwd": "x", "pin": "1"}) == {"o_auth_pwd": "***", "pin": "1"}
    hidden = secret_values({"o_auth_pwd": "hunter2", "pin": "1234", "token": "ab"})
    assert hidden == ["hunter2"]  # too short values are not searched for
    assert redact_text("FSM:  $o_auth_pwd='hunter2'") == "FSM:  $o_auth_pwd='***'"
    assert redact_text("FSM:  #password='x y'") == "FSM:  #password='***'"
    assert redact_text("FSM: $b2b_auth_pwd 'abc'") == "FSM: $b2b_auth_pwd '***'"
    assert redact_text('user=bob pass=abc token="x y" pin=12') == "user=bob pass=*** token=*** pin=12"
    assert redact_text("FSM: 'login with hunter2'", hidden) == "FSM: 'login with ***'"
    assert redact_text("FSM:  $pin='1234'") == "FSM:  $pin='1234'"


def test_python_logging_becomes_one_masked_line_without_traceback() -> None:
    out = io.StringIO()
    bridge = LoggingBridge(StructuredLog(out))
    logger = logging.getLogger("dsm.test.bridge")
    logger.addHandler(bridge)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad password=abc")
        except ValueError:
            logger.exception("connection failed with token=xyz")
        logging.getLogger("dsm.session").addHandler(bridge)
        logging.getLogger("dsm.session").error("written by the session sink already")
    finally:
        logger.removeHandler(bridge)
        logging.getLogger("dsm.session").removeHandler(bridge)
    (line,) = out.getvalue().splitlines()
    assert "event=python" in line and "logger=dsm.test.bridge" in line
    assert 'msg="connection failed with token=***"' in line and 'error="ValueError: bad password=***"' in line
    assert "Traceback" not in out.getvalue()


def test_every_log_field_goes_through_the_masking_rule() -> None:
    out = io.StringIO()
    StructuredLog(out)("diagnostic", "error", text="x.dsm:3:1: error [E014]\n  set($b2b_auth_pwd='letmein')")
    assert "letmein" not in out.getvalue() and "$b2b_auth_pwd='***'" in out.getvalue()


def test_the_default_token_file_is_never_sent_to_another_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSM_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("DSM_CONTROL_TOKEN", raising=False)
    monkeypatch.delenv("DSM_CONTROL_TOKEN_FILE", raising=False)
    write_token(tmp_path / "control-5040.token", "local-secret")
    assert ControlClient("127.0.0.1:5040").token == "local-secret"
    assert ControlClient("localhost:5040").token == "local-secret"
    assert ControlClient("192.0.2.1:5040").token is None
    assert ControlClient("192.0.2.1:5040", token_file=str(tmp_path / "control-5040.token")).token == "local-secret"
