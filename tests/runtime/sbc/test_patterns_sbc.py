"""SBC replacement patterns (Readme.sbc "Replacement patterns"; issue 21).

Every pattern the SBC supports, what absent parts
give (the empty string), escapes, regex maps, and that odd input never
raises (hypothesis).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sbc_invites import make_invite

from dsm.runtime.sbc.patterns import PatternContext, app_param, evaluate, map_regex, without_tag

EXTRA = (
    "P-App-Param: u=myuser;p=secret;profile=gold\r\n"
    "P-Asserted-Identity: \"Boss\" <sip:+4930123@pai.example:5099;user=phone>\r\n"
    "P-NextHop: sip:gw@10.0.2.15:5092;transport=tcp\r\n"
    "X-Plain: some value\r\n"
)
CTX = PatternContext(
    make_invite(extra=EXTRA),
    ("192.0.2.10", 5062),
    ("127.0.0.1", 5060),
    {"ipmap": (("^10\\.(.)\\..*", "internal\\1"), ("^192\\.0\\.2\\.", "external")), "empty": ()},
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("$r", "sip:bob@sbc.example:5070;user=phone;profile=gold"),
        ("$r.x", "sip:bob@sbc.example:5070;user=phone;profile=goldx"),
        ("$ru", "bob@sbc.example:5070"),
        ("$rU", "bob"),
        ("$rd", "sbc.example:5070"),
        ("$rh", "sbc.example"),
        ("$rp", "5070"),
        ("$rP", "user=phone;profile=gold"),
        ("$rP(profile)", "gold"),
        ("$rP(PROFILE)", "gold"),
        ("$rP(absent)", ""),
        ("$f", '"Alice Doe" <sip:alice@caller.example:5080;x=1>'),
        ("$fu", "alice@caller.example:5080"),
        ("$fU", "alice"),
        ("$fd", "caller.example:5080"),
        ("$fh", "caller.example"),
        ("$fp", "5080"),
        ("$fP(x)", "1"),
        ("$ft", "ft1"),
        ("$fn", "Alice Doe"),
        ("$t", "<sip:bob@callee.example>"),
        ("$tU", "bob"),
        ("$td", "callee.example"),
        ("$th", "callee.example"),
        ("$tp", ""),
        ("$tt", ""),
        ("$tn", ""),
        ("$ci", "cid-1@192.0.2.10"),
        ("$ci_leg2", "cid-1@192.0.2.10_leg2"),
        ("$si:$sp", "192.0.2.10:5062"),
        ("$Ri:$Rp", "127.0.0.1:5060"),
        ("$m", "INVITE"),
        ("$a", '"Boss" <sip:+4930123@pai.example:5099;user=phone>'),
        ("$ai", "+4930123@pai.example:5099"),
        ("$aU", "+4930123"),
        ("$ah", "pai.example"),
        ("$pU", ""),
        ("$P(u)/$P(p)", "myuser/secret"),
        ("$P(nothing)", ""),
        ("$H(X-Plain)", "some value"),
        ("$H(x-plain)", "some value"),
        ("$H(Missing)", ""),
        ("$HU(P-NextHop)", "gw"),
        ("$Hd(P-NextHop)", "10.0.2.15:5092"),
        ("$Hh(P-NextHop):", "10.0.2.15:"),
        ("$Hp(P-NextHop)", "5092"),
        ("$HP(P-NextHop)", "transport=tcp"),
        ("$HP(P-NextHop)(transport)", "tcp"),
        ("$HU(Missing)", ""),
        ("$HU(X-Plain)", ""),
        ("$M($si=>ipmap)", "external"),
        ("$M(10.7.1.1=>ipmap)", "internal7"),
        ("$M(8.8.8.8=>ipmap)", ""),
        ("$M($si=>nomap)", ""),
        ("$_u($fU)", "ALICE"),
        ("$_l($_u($fU))", "alice"),
        ("$_s($fU)", "5"),
        ("$_5(abc)", "900150983cd24fb0d6963f7d28e17f72"),
        ("sip:$rU@gw.example.net", "sip:bob@gw.example.net"),
    ],
)
def test_pattern(pattern: str, expected: str) -> None:
    """Readme.sbc replacement patterns, one by one (absent parts give '')."""
    assert evaluate(pattern, CTX) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("\\$fU", "$fU"),
        ("\\\\", "\\"),
        ("a\\r\\nb\\tc", "a\r\nb\tc"),
        ('\\"Anonymous\\" <sip:a@b>', '"Anonymous" <sip:a@b>'),
        ("\\*", "*"),
        ("end\\", "end\\"),
        ("$", ""),
        ("$q", ""),
        ("$qx!", "!"),
        ("$M(", ""),
        ("$M(no arrow)", ""),
        ("$H(unclosed", ""),
        ("$P(unclosed", ""),
        ("$_u(unclosed", ""),
        ("$_x(abc)", "abc"),
        ("$rP(unclosed", ""),
    ],
)
def test_escapes_and_malformed(pattern: str, expected: str) -> None:
    """Escapes as documented; malformed patterns expand to nothing, never raise."""
    assert evaluate(pattern, CTX) == expected


def test_unparsable_addresses_give_empty_parts() -> None:
    """A header that is not an address has empty parts; a tel: R-URI has only a user."""
    ctx = PatternContext(make_invite(ruri="tel:+4930123", extra="X-Junk: <<no\r\n"))
    assert evaluate("[$HU(X-Junk)][$Hh(X-Junk)][$rU][$rh]", ctx) == "[][][+4930123][]"
    assert evaluate("$H(X-Junk)", ctx) == "<<no"


def test_helpers() -> None:
    assert app_param('a=1; profile = "x" ;flag', "profile") == "x"
    assert app_param("a=1;flag", "flag") == ""
    assert map_regex((("^(a)(b)?", "\\1-\\2-\\\\1"),), "ax") == "a--\\1"
    assert map_regex((("[", "bad"), ("x", "ok")), "x") == "ok"
    assert without_tag("<sip:a@b>;tag=1;x=2") == "<sip:a@b>;x=2"
    assert without_tag("sip:a@b") == "sip:a@b"


_ALPHABET = st.sampled_from(list("$\\()=>.,;:@<>\"' aZrRftsHMP_ciuUdhpn0159\r\n\t\x00é"))


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_patterns_never_raise(pattern: str) -> None:
    """Any text evaluates to a string (a bad pattern must not take down a call)."""
    assert isinstance(evaluate(pattern, CTX), str)


_LINE = st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t)


@settings(max_examples=150, deadline=None)
@given(_LINE, _LINE)
def test_patterns_never_raise_on_odd_headers(from_user: str, header: str) -> None:
    """Whatever a parsed INVITE carries, the address patterns never raise."""
    try:
        req = make_invite(from_=f"<sip:{from_user}@x>;tag=1", extra=f"X-H: {header}\r\n")
    except Exception:  # noqa: BLE001 - the SIP parser may refuse the message; not under test
        return
    ctx = PatternContext(req)
    for p in ("$fU", "$fn", "$H(X-H)", "$HU(X-H)", "$HP(X-H)(a)", "$M($fU=>m)", "$_5($H(X-H))"):
        assert isinstance(evaluate(p, ctx), str)
