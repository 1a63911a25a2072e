"""Attacks on the control endpoint of a running ``dsm serve`` (issue 13; docs/security.md).

One ``dsm serve --config`` process on loopback serves every test of this
module.  Each test plays one attack with real sockets — a cross-origin POST,
a DNS-rebinding ``Host``, a ``text/plain`` body, no token, a module outside
``mod_path``, ``/etc/passwd``, ``..`` and symbolic-link escapes — checks that
it was refused before anything ran or was opened, then that a fresh
legitimate call still works and that nothing was logged with a traceback.
The secrets tests check ``callInfo``, the trace and the log lines (masked)
against the simulated call harness (shown).
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from control_rig import LIMIT, Proc, main_script, sub_script

from dsm.runtime.control.client import ControlClient, RpcFailure
from dsm.runtime.control.http_server import parse_hostport
from dsm.runtime.control.jsonrpc import FORBIDDEN
from dsm.runtime.harness import Harness

SECRET = "hunter2-secret"

SECRETS_DSM = f"""
-- a script holding a credential, logged and thrown the careless way
initial state LOGIN
  enter {{ set($o_auth_pwd={SECRET}) set($pin=1234) log(1, $o_auth_pwd) logs(1, "login with $o_auth_pwd") logVars(1) }};
state FAILED;
transition "key" LOGIN - key(#key == 1) / throw($o_auth_pwd) -> LOGIN;
transition "caught" LOGIN - exception -> FAILED;
transition "bye" (LOGIN, FAILED) - hangup / stop(false) -> FAILED;
"""

EVIL_MODULE = """
from pathlib import Path
Path({marker!r}).write_text("imported")
"""

PASSWD_LINE = "root:x:0:0"


@dataclass
class Served:
    proc: Proc
    root: Path
    address: str
    token_file: Path
    client: ControlClient

    @property
    def port(self) -> int:
        return parse_hostport(self.address)[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("attacked")
    for d in ("diags", "mods", "bundles", "outside", "evil"):
        (root / d).mkdir()
    (root / "diags" / "main.dsm").write_text(main_script(1))
    (root / "diags" / "sub.dsm").write_text(sub_script(1))
    (root / "diags" / "secrets.dsm").write_text(SECRETS_DSM)
    (root / "outside" / "real.dsm").write_text(sub_script(3).replace("SUB_", "OUT_"))
    conf = root / "dsm.conf"
    conf.write_text(
        f"diag_path={root / 'diags'}/\nload_diags=main,sub,secrets\nregister_apps=main,secrets\n"
        f"mod_path={root / 'mods'}\nconf_dir={root / 'bundles'}\n"
    )
    proc = Proc("serve", "--config", str(conf), "--control", "127.0.0.1:0")
    try:
        line = proc.wait_for("event=listening")
        address = proc.field(line, "control")
        token_file = Path(proc.field(line, "token_file"))
        yield Served(proc, root, address, token_file, ControlClient(address))
    finally:
        assert proc.stop() == 0
        proc.wait_for("event=stopped")


def raw(s: Served, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any]:
    """One HTTP request with exactly these headers (``Host`` too, when given)."""
    host, port = parse_hostport(s.address)
    conn = http.client.HTTPConnection(host, port, timeout=LIMIT)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data.startswith(b"{") else data
    finally:
        conn.close()


def start_call_body() -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "startCall", "params": {"app": "main"}, "id": 1}).encode()


def calls_started(s: Served) -> int:
    for line in s.client.get("/metrics").splitlines():
        if line.startswith("dsm_calls_started_total "):
            return int(line.split()[1])
    raise AssertionError("no dsm_calls_started_total in /metrics")


def still_serving(s: Served) -> None:
    """A fresh legitimate call works, and nothing was logged with a traceback."""
    call = s.client.call("startCall", {"app": "main"})
    assert call["state"] == "START_V1"
    assert s.client.call("callHangup", [call["id"]])["ended"] is True
    assert "Traceback" not in s.proc.text


def bearer(s: Served) -> dict[str, str]:
    token = s.token_file.read_text().strip()
    return {"Authorization": f"Bearer {token}"}


# -- the endpoint ---------------------------------------------------------------------------------
def test_cross_origin_post_is_403_and_runs_nothing(served: Served) -> None:
    """A web page's POST (a "simple" text/plain one, or JSON with the token) never reaches a method."""
    before = calls_started(served)
    own = f"127.0.0.1:{served.port}"
    for headers in (
        {"Host": own, "Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Host": own, "Origin": "http://evil.example", "Content-Type": "application/json", **bearer(served)},
        {"Host": own, "Origin": "null", "Content-Type": "application/json", **bearer(served)},
        {"Host": own, "Origin": f"http://127.0.0.1:{served.port + 1}", "Content-Type": "application/json"},
    ):
        status, reply = raw(served, "POST", "/", headers, start_call_body())
        assert status == 403, headers
        assert reply["error"]["code"] == FORBIDDEN
    assert calls_started(served) == before, "startCall did not run"
    ok, _ = raw(served, "POST", "/", {"Host": own, "Origin": f"http://{own}",
                                        "Content-Type": "application/json", **bearer(served)}, start_call_body())
    assert ok == 200, "the server's own origin is fine"
    still_serving(served)


def test_dns_rebinding_host_is_403_and_runs_nothing(served: Served) -> None:
    """evil.example rebound to 127.0.0.1: the browser sends ``Host: evil.example:<port>``."""
    before = calls_started(served)
    for host in (f"evil.example:{served.port}", "evil.example", f"127.0.0.2:{served.port}",
                 f"127.0.0.1:{served.port + 1}", ""):
        headers = {"Host": host, "Content-Type": "application/json", **bearer(served)}
        status, reply = raw(served, "POST", "/", headers, start_call_body())
        assert status == 403, host
        status, _ = raw(served, "GET", "/metrics", {"Host": host})
        assert status == 403, host
    assert calls_started(served) == before, "startCall did not run"
    for host in (f"localhost:{served.port}", f"127.0.0.1:{served.port}", "localhost"):
        status, _ = raw(served, "POST", "/", {"Host": host, "Content-Type": "application/json", **bearer(served)},
                        start_call_body())
        assert status == 200, host
    still_serving(served)


def test_text_plain_and_missing_content_type_are_refused(served: Served) -> None:
    before = calls_started(served)
    own = f"127.0.0.1:{served.port}"
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Host": own, **bearer(served)} | ({"Content-Type": ctype} if ctype else {})
        status, reply = raw(served, "POST", "/", headers, start_call_body())
        assert status == 415, ctype
        assert "application/json" in reply["error"]["message"]
    assert calls_started(served) == before
    status, _ = raw(served, "POST", "/", {"Host": own, "Content-Type": "application/json; charset=utf-8",
                                            **bearer(served)}, start_call_body())
    assert status == 200
    still_serving(served)


def test_no_token_is_401_health_and_metrics_stay_open(served: Served) -> None:
    before = calls_started(served)
    own = f"127.0.0.1:{served.port}"
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"X-DSM-Token": "wrong"}, {"Authorization": "Basic eDp5"}):
        status, reply = raw(served, "POST", "/", {"Host": own, "Content-Type": "application/json", **auth},
                            start_call_body())
        assert status == 401, auth
        assert reply["error"]["code"] == -32001
    assert calls_started(served) == before
    assert raw(served, "GET", "/health", {"Host": own}) == (200, b"ok\n")
    status, text = raw(served, "GET", "/metrics", {"Host": own})
    assert status == 200 and b'dsm_control_refused_total{reason="unauthorized"}' in text
    with pytest.raises(RpcFailure) as err:
        ControlClient(served.address, token="").call("calls")
    assert "unauthorized" in err.value.message and str(served.token_file) in err.value.message
    still_serving(served)


def test_the_cli_finds_the_token_file(served: Served) -> None:
    """``dsm list`` works with no token typed; the file is the user's alone and named at start."""
    assert stat.S_IMODE(served.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(served.token_file.parent.stat().st_mode) == 0o700
    env = {k: v for k, v in os.environ.items() if k not in ("DSM_CONTROL_TOKEN", "DSM_CONTROL_TOKEN_FILE")}

    def dsm(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dsm.cli", *args], capture_output=True, text=True, errors="replace",
                              timeout=LIMIT, env=env | extra)

    out = dsm("list", "--control", served.address)
    assert out.returncode == 0, out.stderr
    assert "main" in out.stdout and "secrets" in out.stdout
    out = dsm("calls", "--control", f"localhost:{served.port}")
    assert out.returncode == 0, out.stderr
    out = dsm("list", DSM_CONTROL=served.address)
    assert out.returncode == 0, out.stderr
    out = dsm("list", "--control", served.address, DSM_CONTROL_TOKEN="wrong")
    assert out.returncode == 1 and "unauthorized" in out.stderr
    out = dsm("list", "--control", served.address, "--control-token-file", str(served.root / "none"))
    assert out.returncode == 1 and "unauthorized" in out.stderr
    still_serving(served)


# -- what the methods may open --------------------------------------------------------------------
def refused(s: Served, method: str, params: Any) -> RpcFailure:
    with pytest.raises(RpcFailure) as err:
        s.client.call(method, params)
    assert err.value.code == FORBIDDEN, err.value.message
    return err.value


def test_preloadModule_outside_mod_path_imports_nothing(served: Served) -> None:
    evil, mods = served.root / "evil", served.root / "mods"
    marker = served.root / "marker-imported"
    (evil / "mod_evil.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    (mods / "mod_link.py").symlink_to(evil / "mod_evil.py")
    attempts = [
        ("preloadModule", ["mod_evil", str(evil)]),
        ("preloadModule", ["mod_evil", str(evil) + "/"]),
        ("preloadModule", ["mod_evil", f"{mods}/../evil"]),
        ("preloadModule", ["mod_link", str(mods)]),  # a symbolic link in mod_path leading out
        ("di", ["dsm", "preloadModule", "mod_evil", str(evil)]),
        ("loadDSMWithPath", ["main2", f"{served.root / 'diags'}/", str(evil)]),
    ]
    for method, params in attempts:
        err = refused(served, method, params)
        assert str(mods) in err.message, "the refusal names the allowed folder"
        assert not marker.exists(), f"{method} {params} ran the module"
    (mods / "mod_fine.py").write_text("from dsm.runtime.registry import Module\nmodule = Module('mod_fine')\n")
    assert served.client.call("preloadModule", ["mod_fine", str(mods)]) == [200, "module preloaded."]
    still_serving(served)


def test_load_of_etc_passwd_is_refused_without_quoting_it(served: Served) -> None:
    attempts = [
        ("load", {"name": "p", "path": "/etc/passwd"}),
        ("load", ["p", "/etc/passwd"]),
        ("loadDSMWithPath", ["passwd", "/etc/", ""]),
        ("di", ["dsm", "loadDSMWithPath", "passwd", "/etc/", ""]),
        ("loadConfig", ["/etc/passwd", "passwd.conf"]),
    ]
    for method, params in attempts:
        err = refused(served, method, params)
        assert PASSWD_LINE not in json.dumps([err.message, err.data])
        assert "bundles" in err.message if method == "loadConfig" else "diags" in err.message
    out = subprocess.run([sys.executable, "-m", "dsm.cli", "load", "p", "/etc/passwd", "--control", served.address],
                         capture_output=True, text=True, errors="replace", timeout=LIMIT)
    assert out.returncode == 1 and "refused" in out.stderr
    assert PASSWD_LINE not in out.stdout + out.stderr
    # a file in the script folder that is no script: refused by name, not read either
    (served.root / "diags" / "notes.txt").write_text("top secret line\n")
    err = refused(served, "load", ["notes", str(served.root / "diags" / "notes.txt")])
    assert "top secret" not in err.message and "not a .dsm file" in err.message
    assert PASSWD_LINE not in served.proc.text
    still_serving(served)


def test_dotdot_and_symlink_escapes_are_refused(served: Served) -> None:
    diags, outside = served.root / "diags", served.root / "outside"
    (diags / "escape.dsm").symlink_to(outside / "real.dsm")
    (diags / "linked").symlink_to(outside, target_is_directory=True)
    (served.root / "bundles" / "sneaky.conf").symlink_to(served.root / "dsm.conf")
    attempts = [
        ("load", ["escape", str(diags / "escape.dsm")]),
        ("load", ["real", f"{diags}/../outside/real.dsm"]),
        ("load", ["real", str(diags / "linked" / "real.dsm")]),
        ("loadDSM", ["../outside/real"]),
        ("loadDSMWithPath", ["real", f"{diags}/../outside/", ""]),
        ("loadDSMWithPath", ["real", f"{diags}/linked/", ""]),
        ("loadConfig", [f"{served.root / 'bundles'}/../dsm.conf", "dsm.conf"]),
        ("loadConfig", [str(served.root / "bundles" / "sneaky.conf"), "sneaky.conf"]),
    ]
    for method, params in attempts:
        refused(served, method, params)
    assert "real" not in served.client.call("listDSMs")
    assert served.client.call("hasDSM", ["escape"]) == ["0"]
    still_serving(served)


# -- secrets ------------------------------------------------------------------------------------
def test_secrets_are_masked_in_call_info_trace_and_logs(served: Served) -> None:
    c = served.client
    c.call("traceSet", {"mode": "all"})
    try:
        call = c.call("startCall", {"app": "secrets"})
        info = c.call("callInfo", [call["id"]])
        assert info["vars"]["o_auth_pwd"] == "***" and info["vars"]["pin"] == "1234"
        c.call("callPress", [call["id"], "1"])
        info = c.call("callInfo", [call["id"]])
        assert info["state"] == "FAILED"
        assert {"kind": "exception", "detail": "***"} in [{"kind": r["kind"], "detail": r["detail"]}
                                                          for r in info["recent"]]
        lines = c.call("traceRead", {"since": 0})["lines"]
        assert [x["detail"] for x in lines if x["call"] == call["id"] and x["kind"] == "exception"] == ["***"]
        out = subprocess.run([sys.executable, "-m", "dsm.cli", "call-info", call["id"], "--control", served.address],
                             capture_output=True, text=True, errors="replace", timeout=LIMIT)
        assert out.returncode == 0 and "o_auth_pwd" in out.stdout
        assert SECRET not in json.dumps(info) + json.dumps(lines) + out.stdout + c.get("/metrics")
        c.call("callHangup", [call["id"]])
    finally:
        c.call("traceSet", {"mode": "off"})
    served.proc.wait_for("event=session", "$o_auth_pwd='***'")
    served.proc.wait_for("event=session", "login with ***")
    served.proc.wait_for("event=session", "FSM: $o_auth_pwd '***'")
    assert SECRET not in served.proc.text
    still_serving(served)


def test_the_harness_keeps_showing_secrets(served: Served) -> None:
    """The simulated call harness is the script author's own view: nothing is masked there."""
    harness = Harness(served.root / "diags" / "secrets.dsm")
    call = harness.call("secrets")
    assert call.vars["o_auth_pwd"] == SECRET
    call.press("1")
    assert call.state == "FAILED"
    assert SECRET in call.transcript()
