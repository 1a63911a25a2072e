"""plan_leg, select_profile and the filters (Readme.sbc; issue 21).

Parsed INVITEs in, the B leg's INVITE (LegPlan) or a Refusal out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sbc_invites import SDP, make_invite

from dsm.runtime.sbc.filters import CORE_HEADERS, is_core_header
from dsm.runtime.sbc.profile import (
    CallProfile,
    LegPlan,
    Refusal,
    SbcConfig,
    SbcConfigError,
    call_control_entries,
    call_profile_for,
    filter_headers,
    filter_sdp,
    message_allowed,
    parse_active_profile,
    plan_leg,
    select_profile,
    translate_reply,
)
from dsm.runtime.sip.sdp import parse_sdp

SRC = ("192.0.2.10", 5062)
LOCAL = ("127.0.0.1", 5060)


def leg(profile: CallProfile, extra: str = "", **kw: str) -> LegPlan:
    plan = plan_leg(profile, make_invite(extra=extra, **kw), SRC, LOCAL, new_call_id="fresh@sbc")
    assert isinstance(plan, LegPlan), plan
    return plan


def test_transparent_profile_relays_the_invite() -> None:
    """No RURI/From/To set: the incoming values are used; tags dropped; a new Call-ID."""
    p = leg(CallProfile("t"), extra="P-Custom: 1\r\nSupported: timer\r\n")
    assert p.ruri == "sip:bob@sbc.example:5070;user=phone;profile=gold"
    assert p.from_ == '"Alice Doe" <sip:alice@caller.example:5080;x=1>'
    assert p.to == "<sip:bob@callee.example>"
    assert p.call_id == "fresh@sbc"
    assert p.contact == "" and p.destination == ""
    assert p.headers == (("P-Custom", "1"), ("Supported", "timer"))
    assert p.body == SDP.encode() and p.content_type == "application/sdp"
    assert (p.rtp_relay, p.call_timer) == (False, 0)


def test_ruri_from_to_contact_call_id_from_patterns() -> None:
    prof = CallProfile(
        "p",
        ruri="sip:$rU@gw.example.net",
        from_="\\\"$fn\\\" <sip:$fU@sbc.example.net>",
        to="sip:$tU@gw.example.net",
        contact="<sip:sbc@$Ri:$Rp>",
        call_id="$ci_leg2",
    )
    p = leg(prof)
    assert p.ruri == "sip:bob@gw.example.net"
    assert p.from_ == '"Alice Doe" <sip:alice@sbc.example.net>'
    assert p.to == "sip:bob@gw.example.net"
    assert p.contact == "<sip:sbc@127.0.0.1:5060>"
    assert p.call_id == "cid-1@192.0.2.10_leg2"


def test_ruri_host_next_hop_outbound_proxy() -> None:
    p = leg(CallProfile("p", ruri_host="gw.example.net:5099"))
    assert p.ruri == "sip:bob@gw.example.net:5099;user=phone;profile=gold"
    p = leg(CallProfile("p", next_hop="10.0.0.5:5070/TCP,10.0.0.6"))
    assert p.destination == "10.0.0.5:5070;transport=tcp"  # the first alternative
    p = leg(CallProfile("p", next_hop="$H(P-NextHop)"), extra="P-NextHop: 10.0.2.15\r\n")
    assert p.destination == "10.0.2.15"
    p = leg(CallProfile("p", outbound_proxy="sip:proxy.example:5080;transport=udp"))
    assert p.headers[0] == ("Route", "<sip:proxy.example:5080;transport=udp;lr>")
    assert p.destination == "proxy.example:5080;transport=udp"
    p = leg(CallProfile("p", next_hop="10.0.0.9:5080", patch_ruri_next_hop=True))
    assert p.ruri == "sip:bob@10.0.0.9:5080;user=phone;profile=gold"
    assert leg(CallProfile("p", next_hop="$H(P-Missing)")).destination == ""  # none: the R-URI's host
    for bad in ("not a host!", "10.0.0.1/t;cp", "sip:"):
        assert plan_leg(CallProfile("p", next_hop=bad), make_invite(), SRC, LOCAL) == Refusal(
            500, "Server Internal Error"
        ), bad


def test_header_filters_and_append_headers() -> None:
    extra = "P-App-Param: a=1\r\nX-Keep: k\r\nx-drop: d\r\nUser-Agent: ua\r\n"
    black = CallProfile("b", header_filter="blacklist", header_list=("p-app-param", "X-Drop"))
    assert [n for n, _ in leg(black, extra).headers] == ["X-Keep", "User-Agent"]
    white = CallProfile("w", header_filter="whitelist", header_list=("X-KEEP", "Via", "From"))
    assert leg(white, extra).headers == (("X-Keep", "k"),)  # core headers never pass
    app = CallProfile("a", append_headers="P-Source-IP: $si\\r\\nP-Source-Port: $sp\\r\\nbad line\\r\\nVia: x\\r\\n")
    assert leg(app).headers == (("P-Source-IP", "192.0.2.10"), ("P-Source-Port", "5062"))


def test_refuse_with_and_its_headers() -> None:
    prof = CallProfile("r", refuse_with="403 Invalid Domain $rh", append_headers="P-Original-URI: $r")
    plan = plan_leg(prof, make_invite(), SRC, LOCAL)
    assert plan == Refusal(
        403, "Invalid Domain sbc.example", (("P-Original-URI", "sip:bob@sbc.example:5070;user=phone;profile=gold"),)
    )
    bad = CallProfile("r", refuse_with="$H(P-Missing)")
    assert plan_leg(bad, make_invite(), SRC, LOCAL) == Refusal(500, "Server Internal Error")


def test_sdp_filter_whitelist_blacklist_and_all_removed() -> None:
    white = CallProfile("w", sdp_filter="whitelist", sdpfilter_list=("pcma", "TELEPHONE-EVENT"))
    m = parse_sdp(leg(white).body).media[0]
    assert m.formats == ["8", "101"] and m.port == 40000
    black = CallProfile("b", sdp_filter="blacklist", sdpfilter_list=("g729", "pcmu"))
    body = leg(black).body
    assert parse_sdp(body).media[0].formats == ["8", "101"]
    assert b"a=fmtp:101 0-15" in body and b"a=ptime:20" in body
    none = CallProfile("n", sdp_filter="whitelist", sdpfilter_list=("opus",))
    assert plan_leg(none, make_invite(), SRC, LOCAL) == Refusal(488, "Not Acceptable Here")
    rejected = parse_sdp(filter_sdp(none, SDP.encode())).media[0]
    assert (rejected.port, rejected.formats) == (0, ["0"])  # RFC 3264 6.1, as the reference
    assert filter_sdp(white, b"not sdp") == b"not sdp"
    assert filter_sdp(CallProfile("t", sdp_filter="transparent"), SDP.encode()) == SDP.encode()
    assert leg(white, body="").body == b""


def test_rtp_relay_and_call_timer_evaluation() -> None:
    assert leg(CallProfile("p", enable_rtp_relay=True)).rtp_relay
    pattern = CallProfile("p", rtprelay_enabled="$H(P-Relay)")
    assert leg(pattern, "P-Relay: yes\r\n").rtp_relay
    assert not leg(pattern, "P-Relay: no\r\n").rtp_relay
    assert not leg(pattern).rtp_relay
    assert plan_leg(pattern, make_invite(extra="P-Relay: perhaps\r\n"), SRC, LOCAL) == Refusal(
        500, "Server Internal Error"
    )
    timer = CallProfile("p", enable_call_timer=True, call_timer="$P(t)")
    assert leg(timer, "P-App-Param: t=120\r\n").call_timer == 120
    assert plan_leg(timer, make_invite(), SRC, LOCAL) == Refusal(500, "Server Internal Error")
    assert leg(CallProfile("p", call_timer="60")).call_timer == 0  # not enabled


def test_for_call_copies_do_not_leak() -> None:
    base = CallProfile("p", ruri="sip:a@b")
    copy = base.for_call()
    copy.set_property("RURI", "sip:c@d")
    copy.header_list += ("X",)
    assert (base.ruri, base.header_list) == ("sip:a@b", ())


def test_select_profile_forms() -> None:
    cfg = SbcConfig(regex_maps={"ipmap": (("^192\\.0\\.2\\.", "from_test_net"),)})
    invite = make_invite(extra="P-App-Param: profile=hdr\r\nP-SBCProfile: named\r\n")
    cases = {
        ("static",): "static",
        ("$(paramhdr)", "x"): "hdr",
        ("$(ruri.user)",): "bob",
        ("$rP(profile)",): "gold",
        ("$(P-SBCProfile)",): "named",
        ("$M($si=>ipmap)",): "from_test_net",
        ("$H(P-Missing)", "", "$rP(nothing)", "fallback"): "fallback",
        ("$H(P-Missing)",): "",
    }
    for active, expected in cases.items():
        cfg.active_profile = active
        assert select_profile(cfg, invite, SRC, LOCAL) == expected, active
    cfg.active_profile = ("$(paramhdr)", "$(ruri.user)", "z")
    assert select_profile(cfg, make_invite(ruri="tel:+4930")) == "z"


def test_reply_translation_and_message_filter() -> None:
    prof = CallProfile("p", reply_translations={603: (488, "Not acceptable here"), 600: (406, "")})
    assert translate_reply(prof, 600, "Busy Everywhere") == (406, "Busy Everywhere")
    assert translate_reply(prof, 603, "Decline") == (488, "Not acceptable here")
    assert translate_reply(prof, 486, "Busy") == (486, "Busy")
    white = CallProfile("w", message_filter="whitelist", message_list=("BYE", "info"))
    assert [message_allowed(white, m) for m in ("BYE", "INFO", "MESSAGE", "ACK", "CANCEL")] == [
        True,
        True,
        False,
        True,
        True,
    ]
    black = CallProfile("b", message_filter="blacklist", message_list=("REFER",))
    assert not message_allowed(black, "REFER") and message_allowed(black, "UPDATE")
    assert message_allowed(CallProfile("t"), "ANYTHING")


_NAMES = st.sampled_from(
    sorted(CORE_HEADERS)
    + ["Content-Type", "content-length", "Content-Disposition", "v", "f", "t", "i", "m", "l", "c", "e"]
    + ["VIA", "Call-Id", "X-Other", "Subject", "s", "Allow", "P-App-Param"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["transparent", "whitelist", "blacklist", ""]),
    st.lists(_NAMES, max_size=8),
    st.lists(st.tuples(_NAMES, st.text(max_size=5)), max_size=12),
)
def test_header_filter_never_lets_a_core_header_through(kind: str, names: list[str], headers: list[tuple[str, str]]) -> None:
    """Whatever the filter and its list, Via/From/To/Call-ID/CSeq/Contact/Content-* … never pass."""
    prof = CallProfile("p", header_filter=kind, header_list=tuple(names))
    out = filter_headers(prof, headers)
    assert not any(is_core_header(n) for n, _ in out)
    assert all(n.lower() not in CORE_HEADERS and not n.lower().startswith("content-") for n, _ in out)
    if kind in ("transparent", ""):
        assert out == [h for h in headers if not is_core_header(h[0])]


def test_values_that_make_no_valid_invite_refuse_with_500() -> None:
    """Evaluated R-URI/From/To/Contact/Call-ID must parse and carry no CR/LF (no header injection)."""
    for prof in (
        CallProfile("p", ruri="$H(P-Missing)"),
        CallProfile("p", ruri="sip:$H(X-Sp)@x"),
        CallProfile("p", from_="sip:a@b\\r\\nX-Injected: 1"),
        CallProfile("p", to="<sip:a@b"),
        CallProfile("p", contact="not an address <"),
        CallProfile("p", call_id="a b"),
    ):
        plan = plan_leg(prof, make_invite(extra="X-Sp: a b\r\n"), SRC, LOCAL, new_call_id="n")
        assert plan == Refusal(500, "Server Internal Error"), prof


_PATTERN = st.lists(
    st.sampled_from(["$", "\\", "(", ")", "=>", "sip:", "@", "<", ">", ";", " ", "x", "5", "$rU", "$fU",
                     "$H(X-A)", "$M($si=>m)", "\\r\\n", "$_u(", "/", ":", ",", "tcp"]),
    max_size=10,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATTERN, min_size=11, max_size=11), st.booleans())
def test_plan_leg_never_raises_on_odd_profiles(values: list[str], call_timer: bool) -> None:
    """Whatever a profile's patterns say, plan_leg gives a LegPlan or a Refusal."""
    prof = CallProfile(
        "p",
        ruri=values[0],
        ruri_host=values[1],
        from_=values[2],
        to=values[3],
        contact=values[4],
        call_id=values[5],
        next_hop=values[6],
        outbound_proxy=values[7],
        append_headers=values[8],
        rtprelay_enabled=values[9],
        call_timer=values[10],
        enable_call_timer=call_timer,
        patch_ruri_next_hop=True,
    )
    cfg = SbcConfig(regex_maps={"m": (("^(.*)$", "\\1"),)})
    plan = plan_leg(prof, make_invite(extra="X-A: v\r\n"), SRC, LOCAL, config=cfg, new_call_id="n")
    assert isinstance(plan, (LegPlan, Refusal))


def test_call_profile_for_copies_or_refuses() -> None:
    cfg = SbcConfig(profiles={"a": CallProfile("a", ruri="sip:x@y")}, active_profile=("$rP(profile)", "a"))
    got = call_profile_for(cfg, make_invite(ruri="sip:b@c"), SRC, LOCAL)
    assert isinstance(got, CallProfile) and got.ruri == "sip:x@y" and got is not cfg.profiles["a"]
    assert call_profile_for(cfg, make_invite(), SRC, LOCAL) == Refusal(500, "Server Internal Error")  # 'gold'


def test_parse_active_profile_checks_static_names() -> None:
    cfg = SbcConfig(profiles={"a": CallProfile("a")})
    assert parse_active_profile("$(paramhdr), a", cfg) == ("$(paramhdr)", "a")
    for bad in ("b", "", " , "):
        with pytest.raises(SbcConfigError):
            parse_active_profile(bad, cfg)


def test_call_control_entries_are_evaluated_per_call() -> None:
    """M-ccdsm-1: <entry>_<name> values are call-control values, patterns evaluated per call."""
    prof = CallProfile(
        "p",
        call_control=("ctl", "$H(P-CC)", "nomodule"),
        raw={
            "ctl_module": "cc_dsm",
            "ctl_app_bundle": "b",
            "ctl_start_diag": "sbc",
            "ctl_config.caller": "$fU",
            "extra_module": "cc_dsm",
            "extra_start_diag": "x",
            "nomodule_x": "1",
        },
    )
    entries = call_control_entries(prof, make_invite(extra="P-CC: extra\r\n"), SRC, LOCAL)
    assert entries == [
        ("ctl", "cc_dsm", {"app_bundle": "b", "start_diag": "sbc", "config.caller": "alice"}),
        ("extra", "cc_dsm", {"start_diag": "x"}),
    ]
