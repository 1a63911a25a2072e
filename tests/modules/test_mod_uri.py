"""mod_uri (modules.md section 15): URIs, name-addrs, INVITE headers, URL coding."""

from __future__ import annotations

from pathlib import Path

from _fake import FakeContext, compile_every_name, harness_call, run_action

from dsm.modules.mod_uri import module, on_invite, parse_uri, url_decode, url_encode


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def test_declares_the_five_actions_and_the_invite_hook() -> None:
    assert set(module.actions) == {
        "uri.parse",
        "uri.parseNameaddr",
        "uri.getHeader",
        "uri.encode",
        "uri.decode",
    }
    assert module.conditions == {}
    assert "on_invite" in module.hooks


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


def test_M_uri_1_parse_sets_the_five_parts_and_clears_errno() -> None:
    ctx = FakeContext(
        {"u": "sip:alice@example.org:5070;transport=tcp;lr?Subject=hi", "errno": "arg"}
    )
    act(ctx, "uri.parse", "$u", "to_")
    assert ctx.vars["to_user"] == "alice"
    assert ctx.vars["to_host"] == "example.org"
    assert ctx.vars["to_port"] == "5070"
    assert ctx.vars["to_param"] == "transport=tcp;lr"
    assert ctx.vars["to_headers"] == "Subject=hi"
    assert ctx.vars["errno"] == ""
    assert "to_display_name" not in ctx.vars  # documented but never set


def test_M_uri_1_port_is_empty_when_absent_and_ipv6_hosts_work() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parse", "sip:[2001:db8::1]", "p")
    assert (
        ctx.vars["phost"] == "[2001:db8::1]" and ctx.vars["pport"] == "" and ctx.vars["puser"] == ""
    )


def test_M_uri_1_quirk_prefix_is_resolved() -> None:
    ctx = FakeContext({"pre": "x_"})
    act(ctx, "uri.parse", "sip:bob@h", "$pre")
    assert ctx.vars["x_user"] == "bob"


def test_M_uri_1_failure_sets_general_with_literal_percent_s() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parse", "not a uri", "p_")
    assert ctx.vars["errno"] == "general"
    assert ctx.vars["strerror"] == "parsing URI 'not a uri%s' failed"
    assert not any(k.startswith("p_") for k in ctx.vars)
    assert parse_uri("sip:host:port") is None
    assert parse_uri("sip:") is None


def test_M_uri_2_parseNameaddr_example() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parseNameaddr", '"Bob" <sip:bob@ex.net>;tag=9', "f_")
    assert ctx.vars["f_display_name"] == "Bob"
    assert ctx.vars["f_user"] == "bob"
    assert ctx.vars["f_host"] == "ex.net"
    assert ctx.vars["f_uri_param.tag"] == "9"
    assert ctx.vars["errno"] == ""


def test_M_uri_2_quoted_display_name_with_escapes() -> None:
    ctx = FakeContext({"na": '"B \\"Bobby\\" B" <sip:b@h>'})
    act(ctx, "uri.parseNameaddr", "$na", "q_")
    assert ctx.vars["q_display_name"] == 'B "Bobby" B'


def test_M_uri_2_unquoted_display_name_uri_params_and_valueless_parameter() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parseNameaddr", "Alice Smith <sip:a@h;transport=udp>;tag=1;lr", "n_")
    assert ctx.vars["n_display_name"] == "Alice Smith"
    assert ctx.vars["n_param"] == "transport=udp"
    assert ctx.vars["n_uri_param.tag"] == "1"
    assert ctx.vars["n_uri_param.lr"] == ""


def test_M_uri_2_bare_uri_parameters_are_nameaddr_parameters() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parseNameaddr", "sip:bob@ex.net;tag=7", "b_")
    assert ctx.vars["b_user"] == "bob" and ctx.vars["b_uri_param.tag"] == "7"
    assert ctx.vars["b_display_name"] == ""


def test_M_uri_2_failure() -> None:
    ctx = FakeContext()
    act(ctx, "uri.parseNameaddr", "Bob <nonsense>", "f_")
    assert ctx.vars["errno"] == "general"
    assert ctx.vars["strerror"] == "parsing nameaddr 'Bob <nonsense>%s' failed"
    assert "f_user" not in ctx.vars
    act(ctx, "uri.parseNameaddr", "<sip:bob@ex.net", "f_")
    assert ctx.vars["errno"] == "general"


HDRS = "Via: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@b>;tag=1\r\nX-Account:   4711 \r\nx-account: second\r\n"


def test_M_uri_3_getHeader_first_line_case_insensitive_left_trimmed() -> None:
    ctx = FakeContext({"hdrs": HDRS, "errno": "keep"})
    act(ctx, "uri.getHeader", "x-ACCOUNT", "acc")
    assert ctx.vars["acc"] == "4711 "
    act(ctx, "uri.getHeader", "Contact", "c")
    assert ctx.vars["c"] == ""
    assert ctx.vars["errno"] == "keep"


def test_M_uri_3_no_compact_form_fallback() -> None:
    ctx = FakeContext({"hdrs": "f: <sip:x@y>\r\n"})
    act(ctx, "uri.getHeader", "From", "f")
    assert ctx.vars["f"] == ""


def test_M_uri_4_encode() -> None:
    ctx = FakeContext({"t": "a b/c"})
    act(ctx, "uri.encode", "$e", "$t")
    assert ctx.vars["e"] == "a%20b%2Fc"
    assert url_encode("-_.~Az09ä") == "-_.~Az09%C3%A4"


def test_M_uri_5_decode() -> None:
    ctx = FakeContext()
    act(ctx, "uri.decode", "d", "a%41%zzb%%")
    assert ctx.vars["d"] == "aAb%"
    assert url_decode("a+b%2f%2F") == "a+b//"
    assert url_decode("x%4") == "x"
    assert url_decode("%C3%A4") == "ä"


def test_M_api_7_invite_hook_fills_hdrs() -> None:
    ctx = FakeContext()

    class Request:
        headers = [("Via", "SIP/2.0/UDP h"), ("X-Id", "5")]

    assert on_invite(Request(), ctx) is True
    assert ctx.vars["hdrs"] == "Via: SIP/2.0/UDP h\r\nX-Id: 5\r\n"
    on_invite(type("R", (), {"hdrs": "A: b\r\n"})(), ctx)
    assert ctx.vars["hdrs"] == "A: b\r\n"


def test_M_uri_harness_invite_headers_and_parse(tmp_path: Path) -> None:
    """The invite hook runs when the INVITE arrives, i.e. after the start event."""
    script = """import(mod_uri);
initial state S enter {
  uri.parseNameaddr("\\"Bob\\" <sip:bob@ex.net>;tag=9", f_);
  uri.encode($enc="a b");
};
transition "got invite" S - invite / uri.getHeader(X-Account, acc) -> T;
state T;
"""
    call = harness_call(tmp_path, script, headers={"X-Account": "4711"})
    assert "X-Account: 4711" in call.vars["hdrs"]
    assert call.vars["acc"] == "4711"
    assert call.vars["f_user"] == "bob"
    assert call.vars["f_display_name"] == "Bob"
    assert call.vars["f_uri_param.tag"] == "9"
    assert call.vars["enc"] == "a%20b"


def test_M_uri_every_action_in_a_script(tmp_path: Path) -> None:
    """M-uri-1 … 5 end to end through the harness."""
    script = r"""import(mod_uri);
initial state S enter {
  set($u=sip:alice@example.org:5070;transport=tcp?Subject=hi);
  uri.parse($u, to_);
  uri.parse(garbage, bad_);
  set($e_bad=$errno);
  uri.parseNameaddr("Carol <sip:carol@h>;tag=abc", n_);
  set($hdrs="X-A: 1");
  uri.getHeader(x-a, xa);
  uri.encode($enc="a b/c");
  uri.decode($dec=a%41%zzb%%);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["to_user"], v["to_host"], v["to_port"]) == ("alice", "example.org", "5070")
    assert (v["to_param"], v["to_headers"]) == ("transport=tcp", "Subject=hi")
    assert v["e_bad"] == "general"
    assert (v["n_display_name"], v["n_user"], v["n_uri_param.tag"]) == ("Carol", "carol", "abc")
    assert v["xa"] == "1"
    assert (v["enc"], v["dec"]) == ("a%20b%2Fc", "aAb%")
    assert v["errno"] == ""
