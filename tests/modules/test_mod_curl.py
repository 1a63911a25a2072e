"""mod_curl (modules.md section 5) against a loopback HTTP server started by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servers import FakeContext, HttpTestServer

from dsm.modules import mod_curl as cu
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_WARN


class TestGet:
    def test_M_curl_1_get_body_into_curl_out(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"errno": "arg", "u": http_server.base + "/hello"})
        cu.get(c, "$u")
        assert c.vars["curl.out"] == "hello world"
        assert c.vars["errno"] == ""
        assert "curl.err" not in c.vars

    def test_M_curl_common_http_error_status_is_not_an_error(
        self, http_server: HttpTestServer
    ) -> None:
        c = FakeContext()
        cu.get(c, http_server.base + "/status/404")
        assert (c.vars["curl.out"], c.vars["errno"]) == ("status 404", "")
        cu.get(c, http_server.base + "/status/500")
        assert (c.vars["curl.out"], c.vars["errno"]) == ("status 500", "")

    def test_M_curl_common_redirects_are_not_followed(self, http_server: HttpTestServer) -> None:
        c = FakeContext()
        cu.get(c, http_server.base + "/redirect")
        assert c.vars["curl.out"] == "moved"

    def test_M_curl_common_refused_connection_is_general(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"curl.out": "old", "strerror": "keep"})
        cu.get(c, f"http://127.0.0.1:{http_server.refused}/x")
        assert c.vars["errno"] == "general"
        assert "curl.out" not in c.vars
        assert c.vars["curl.err"].startswith("Couldn't connect to server")
        assert c.vars["strerror"] == "keep"

    def test_M_curl_common_curl_err_is_never_cleared(self, http_server: HttpTestServer) -> None:
        c = FakeContext()
        cu.get(c, f"http://127.0.0.1:{http_server.refused}/x")
        err = c.vars["curl.err"]
        cu.get(c, http_server.base + "/hello")
        assert c.vars["errno"] == ""
        assert c.vars["curl.err"] == err

    def test_M_curl_common_timeout_is_general(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"curl.timeout": "1"})
        cu.get(c, http_server.base + "/slow")
        assert c.vars["errno"] == "general"
        assert c.vars["curl.err"].startswith("Timeout was reached")

    def test_M_curl_common_unparsable_timeout_warns_and_is_ignored(
        self, http_server: HttpTestServer
    ) -> None:
        c = FakeContext({"curl.timeout": "1.5"})
        cu.get(c, http_server.base + "/hello")
        assert c.vars["curl.out"] == "hello world"
        assert any(level == LEVEL_WARN and "curl.timeout" in msg for level, msg in c.logged)

    def test_M_curl_common_reading_timeout_creates_it(self, http_server: HttpTestServer) -> None:
        c = FakeContext()
        cu.get(c, http_server.base + "/hello")
        assert c.vars["curl.timeout"] == ""

    def test_M_curl_common_unsupported_scheme_is_general(self) -> None:
        c = FakeContext()
        cu.get(c, "gopher://127.0.0.1/x")
        assert c.vars["errno"] == "general"
        assert c.vars["curl.err"].startswith("Unsupported protocol")

    def test_M_curl_common_malformed_or_empty_url_is_general(self) -> None:
        """A URL is checked when the transfer starts (as in current libcurl): ``general``."""
        for url in ("http://[::1", ""):
            c = FakeContext({"curl.out": "old"})
            cu.get(c, url)
            assert c.vars["errno"] == "general", url
            assert c.vars["curl.err"], url
            assert "curl.out" not in c.vars

    def test_M_curl_1_binary_body_keeps_bytes(self, http_server: HttpTestServer) -> None:
        c = FakeContext()
        cu.get(c, http_server.base + "/binary")
        assert c.vars["curl.out"].encode("utf-8", "surrogateescape") == b"\x00\xff\xfeRIFF\x01"

    def test_M_curl_2_discard_result_logs_body(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"curl.out": "untouched"})
        cu.get_discard_result(c, http_server.base + "/hello")
        assert c.vars["curl.out"] == "untouched"
        assert c.vars["errno"] == ""
        assert any(level == LEVEL_DEBUG and "hello world" in msg for level, msg in c.logged)


class TestFiles:
    def test_M_curl_3_get_file(self, http_server: HttpTestServer, tmp_path: Path) -> None:
        target = tmp_path / "body.bin"
        target.write_bytes(b"much longer old content")
        c = FakeContext({"p": str(target)})
        cu.get_file(c, http_server.base + "/binary", "$p")
        assert c.vars["errno"] == ""
        assert target.read_bytes() == b"\x00\xff\xfeRIFF\x01"
        assert "curl.out" not in c.vars

    def test_M_curl_3_file_created_even_when_transfer_fails(
        self, http_server: HttpTestServer, tmp_path: Path
    ) -> None:
        target = tmp_path / "never.bin"
        c = FakeContext()
        cu.get_file(c, f"http://127.0.0.1:{http_server.refused}/x", str(target))
        assert c.vars["errno"] == "general"
        assert target.exists() and target.read_bytes() == b""

    def test_M_curl_3_unwritable_file_is_file_error(
        self, http_server: HttpTestServer, tmp_path: Path
    ) -> None:
        c = FakeContext({"strerror": "keep"})
        cu.get_file(c, http_server.base + "/hello", str(tmp_path / "no" / "dir" / "x"))
        assert (c.vars["errno"], c.vars["strerror"]) == ("file", "keep")


class TestForms:
    def test_M_curl_4_get_form_example(self, http_server: HttpTestServer) -> None:
        """``curl.getForm(http://h/x.cgi, $id;lang)`` requests ``…/x.cgi?id=7&lang=de``."""
        c = FakeContext({"id": "7", "lang": "de"})
        cu.get_form(c, http_server.base + "/echo/x.cgi", "$id;lang")
        assert c.vars["curl.out"] == "GET /echo/x.cgi?id=7&lang=de"

    def test_M_curl_4_existing_query_empty_pieces_and_missing_variables(
        self, http_server: HttpTestServer
    ) -> None:
        c = FakeContext({"a": "1"})
        cu.get_form(c, http_server.base + "/echo?x=0", ";$a;;$nope;")
        assert c.vars["curl.out"] == "GET /echo?x=0&a=1&nope="
        assert c.vars["nope"] == ""

    def test_M_curl_5_post_multipart(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"name": "bob", "pin": "12 34"})
        cu.post(c, http_server.base + "/form", "$name;pin;empty")
        out = c.vars["curl.out"]
        assert c.vars["errno"] == ""
        head, ctype, body = out.split("\n", 2)
        assert head == "POST /form"
        assert ctype.startswith("multipart/form-data; boundary=")
        assert 'Content-Disposition: form-data; name="name"\r\n\r\nbob\r\n' in body
        assert 'Content-Disposition: form-data; name="pin"\r\n\r\n12 34\r\n' in body
        assert 'name="empty"\r\n\r\n\r\n' in body
        assert "filename" not in body
        assert c.vars["empty"] == ""

    def test_M_curl_5_post_failure_removes_out(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"curl.out": "old"})
        cu.post(c, f"http://127.0.0.1:{http_server.refused}/form", "a")
        assert c.vars["errno"] == "general"
        assert "curl.out" not in c.vars

    def test_M_curl_6_post_discard_result(self, http_server: HttpTestServer) -> None:
        c = FakeContext({"curl.out": "untouched", "v": "1"})
        cu.post_discard_result(c, http_server.base + "/form", "v")
        assert c.vars["curl.out"] == "untouched"
        assert c.vars["errno"] == ""
        assert any(level == LEVEL_DEBUG and "POST /form" in msg for level, msg in c.logged)

    def test_M_api_vocabulary(self) -> None:
        """Section 2: 6 actions, no conditions."""
        assert len(cu.module.actions) == 6 and cu.module.conditions == {}
        assert cu.form_names("$a;b;;$$c") == ["a", "b", "$c"]


# --------------------------------------------------------------------------- through the harness
def run_script(harness_class: Any, tmp_path: Path, body: str) -> Any:
    script = tmp_path / "web.dsm"
    script.write_text("import(mod_curl);\n" + body)
    return harness_class(scripts=str(script)).call("web")


class TestScripts:
    def test_script_get_form_and_errors(
        self, harness_class: Any, tmp_path: Path, http_server: HttpTestServer
    ) -> None:
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  set($id=7);
  set($lang=de);
  curl.getForm({http_server.base}/echo/x.cgi, $id;lang);
  set($page=$curl.out);
  curl.get(http://127.0.0.1:{http_server.refused}/x);
}};
""",
        )
        assert call.vars["page"] == "GET /echo/x.cgi?id=7&lang=de"
        assert call.vars["errno"] == "general"
        assert call.vars["curl.err"].startswith("Couldn't connect")

    def test_script_post(
        self, harness_class: Any, tmp_path: Path, http_server: HttpTestServer
    ) -> None:
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  set($msg=hi);
  curl.post({http_server.base}/form, $msg);
}};
""",
        )
        assert call.vars["errno"] == ""
        assert 'name="msg"\r\n\r\nhi\r\n' in call.vars["curl.out"]
