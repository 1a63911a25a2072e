"""The SDP keys: aleg_sdp_filter, sdp_alines_filter, sdp_anonymize (Readme.sbc "Codec filter"; issue 21).

Parsed INVITEs/SDPs in, the SDP each leg gets out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sbc_invites import SDP, make_invite

from dsm.runtime.sbc.conf import load_profile
from dsm.runtime.sbc.filters import anonymize_sdp, filter_sdp_alines
from dsm.runtime.sbc.profile import CallProfile, LegPlan, SbcConfigError, filter_sdp, plan_leg
from dsm.runtime.sip.sdp import parse_sdp

SRC = ("192.0.2.10", 5062)
LOCAL = ("127.0.0.1", 5060)

RICH = (
    "v=0\r\no=alice 42 7 IN IP4 192.0.2.10\r\ns=Alice's phone\r\nu=http://caller.example/alice\r\n"
    "c=IN IP4 192.0.2.10\r\nt=0 0\r\na=tool:phone 1.0\r\na=group:BUNDLE a\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    "a=ptime:20\r\na=X-secret:1\r\na=sendrecv\r\n"
)


def _plan(profile: CallProfile, body: str = SDP) -> LegPlan:
    plan = plan_leg(profile, make_invite(body=body), SRC, LOCAL, new_call_id="x@sbc")
    assert isinstance(plan, LegPlan), plan
    return plan


def test_aleg_sdp_filter_applies_only_towards_the_caller() -> None:
    """aleg_sdp_filter/aleg_sdpfilter_list filter what the caller gets; sdp_filter the callee."""
    p = CallProfile(
        "p", sdp_filter="whitelist", sdpfilter_list=("pcma",), aleg_sdp_filter="blacklist", aleg_sdpfilter_list=("pcma",)
    )
    assert parse_sdp(_plan(p).body).media[0].formats == ["8"]
    assert parse_sdp(filter_sdp(p, SDP.encode())).media[0].formats == ["8"]
    to_a = parse_sdp(filter_sdp(p, SDP.encode(), to_caller=True)).media[0]
    assert to_a.formats == ["0", "18", "101"]


def test_without_aleg_sdp_filter_sdp_filter_applies_both_ways() -> None:
    p = CallProfile("p", sdp_filter="blacklist", sdpfilter_list=("pcmu",))
    assert parse_sdp(filter_sdp(p, SDP.encode(), to_caller=True)).media[0].formats == ["8", "18", "101"]
    transparent_to_a = CallProfile("q", sdp_filter="blacklist", sdpfilter_list=("pcmu",), aleg_sdp_filter="transparent")
    assert filter_sdp(transparent_to_a, SDP.encode(), to_caller=True) == SDP.encode()


def test_sdp_alines_blacklist_and_whitelist() -> None:
    """a= lines by name, any case, session and media level; rtpmap/fmtp/direction stay."""
    black = parse_sdp(filter_sdp_alines("blacklist", ["X-SECRET", "tool"], RICH.encode()))
    assert [n for n, _ in black.attributes] == ["group"]
    assert [n for n, _ in black.media[0].attributes] == ["rtpmap", "fmtp", "ptime", "sendrecv"]
    white = parse_sdp(filter_sdp_alines("whitelist", ["ptime"], RICH.encode()))
    assert white.attributes == []
    assert [n for n, _ in white.media[0].attributes] == ["rtpmap", "fmtp", "ptime", "sendrecv"]
    assert filter_sdp_alines("transparent", ["ptime"], RICH.encode()) == RICH.encode()
    assert filter_sdp_alines("blacklist", ["ptime"], b"garbage") == b"garbage"


def test_sdp_alines_filter_in_both_directions() -> None:
    p = CallProfile("p", sdp_alines_filter="blacklist", sdp_alinesfilter_list=("x-secret",))
    assert b"X-secret" not in _plan(p, RICH).body
    assert b"X-secret" not in filter_sdp(p, RICH.encode(), to_caller=True)
    assert b"a=rtpmap:101" in _plan(p, RICH).body


def test_sdp_anonymize_replaces_o_s_u() -> None:
    out = parse_sdp(anonymize_sdp(RICH.encode(), "127.0.0.1"))
    assert (out.origin.username, out.origin.address, out.origin.session_id) == ("-", "127.0.0.1", "42")
    assert out.session_name == "-" and all(k != "u" for k, _ in out.extra)
    v6 = parse_sdp(anonymize_sdp(RICH.encode(), "::1")).origin
    assert (v6.addr_type, v6.address) == ("IP6", "::1")
    assert anonymize_sdp(b"not sdp", "127.0.0.1") == b"not sdp"
    p = CallProfile("p", sdp_anonymize=True)
    body = _plan(p, RICH).body
    assert b"alice" not in body and b"Alice" not in body and b"o=- 42 7 IN IP4 127.0.0.1" in body
    assert b"o=- 42 7 IN IP4 127.0.0.1" in filter_sdp(p, RICH.encode(), to_caller=True, local_host="127.0.0.1")
    assert b"o=alice" in _plan(CallProfile("q"), RICH).body


def test_profile_file_keys(tmp_path: Path) -> None:
    path = tmp_path / "k.sbcprofile.conf"
    path.write_text(
        "sdp_filter=whitelist\nsdpfilter_list=pcmu\naleg_sdp_filter=blacklist\naleg_sdpfilter_list=gsm,g729\n"
        "sdp_alines_filter=whitelist\nsdp_alinesfilter_list=ptime,rtcp\nsdp_anonymize=yes\n"
    )
    p = load_profile("k", str(path))
    assert (p.aleg_sdp_filter, p.aleg_sdpfilter_list) == ("blacklist", ("gsm", "g729"))
    assert (p.sdp_alines_filter, p.sdp_alinesfilter_list, p.sdp_anonymize) == ("whitelist", ("ptime", "rtcp"), True)
    assert load_profile("k", str(path)).aleg_sdp_filter == "blacklist"
    path.write_text("aleg_sdp_filter=\n")
    assert load_profile("k", str(path)).aleg_sdp_filter == "transparent"  # set: the caller's SDP is not filtered
    path.write_text("x=1\n")
    assert load_profile("k", str(path)).aleg_sdp_filter == ""


@pytest.mark.parametrize("text", ["aleg_sdp_filter=grey\n", "sdp_alines_filter=all\n", "sdp_anonymize=maybe\n"])
def test_bad_values_do_not_load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "k.sbcprofile.conf"
    path.write_text(text)
    with pytest.raises(SbcConfigError, match="k.sbcprofile.conf:1"):
        load_profile("k", str(path))
