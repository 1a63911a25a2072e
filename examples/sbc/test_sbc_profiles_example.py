"""The example's call profiles: what each does to a parsed INVITE (no network).

Covers the seed's two profiles (``fixed_target``: one target, anonymous
From; ``set_fromto``: the caller's user on new domains), ``refuse``, and the
selection in ``sbc.conf`` (``$(paramhdr)``, a regex map on the R-URI user,
``refuse`` last).
"""

from __future__ import annotations

import os

import pytest

from dsm.runtime.sbc.conf import load_config
from dsm.runtime.sbc.profile import LegPlan, Refusal, plan_leg, select_profile
from dsm.runtime.sip.message import Request, parse_message
from dsm.runtime.sip.sdp import parse_sdp

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = ("192.0.2.10", 5062)
LOCAL = ("127.0.0.1", 5060)

SDP = (
    "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 18 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:18 G729/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
)


def invite(ruri: str, extra: str = "") -> Request:
    text = (
        f"INVITE {ruri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\r\n"
        "Max-Forwards: 70\r\n"
        'From: "Alice" <sip:alice@caller.example>;tag=a1\r\n'
        f"To: <{ruri}>\r\n"
        "Call-ID: call-1@192.0.2.10\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@192.0.2.10:5062>\r\n"
        "Allow: INVITE, ACK, BYE, CANCEL\r\n"
        "User-Agent: softphone 1.0\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load_config(os.path.join(HERE, "sbc.conf"))


def plan(config, req: Request) -> LegPlan | Refusal:  # type: ignore[no-untyped-def]
    name = select_profile(config, req, SOURCE, LOCAL)
    return plan_leg(config.profiles[name].for_call(), req, SOURCE, LOCAL, config=config, new_call_id="new-1")


def test_selection_by_regex_map_paramhdr_and_fallback(config) -> None:  # type: ignore[no-untyped-def]
    assert select_profile(config, invite("sip:conference@sbc.example")) == "fixed_target"
    assert select_profile(config, invite("sip:0301234@sbc.example")) == "set_fromto"
    assert select_profile(config, invite("sip:mallory@sbc.example")) == "refuse"
    paramhdr = invite("sip:mallory@sbc.example", "P-App-Param: profile=set_fromto\r\n")
    assert select_profile(config, paramhdr) == "set_fromto"


def test_fixed_target_hides_the_caller(config) -> None:  # type: ignore[no-untyped-def]
    p = plan(config, invite("sip:conference@sbc.example", "P-Secret: x\r\n"))
    assert isinstance(p, LegPlan)
    assert p.ruri == "sip:conference@127.0.0.1:5090"
    assert p.to == "<sip:conference@127.0.0.1:5090>"
    assert p.from_ == '"Anonymous" <sip:anonymous@anonymous.invalid>'
    assert p.call_id == "new-1"
    assert p.headers == tuple(("Allow", m) for m in ("INVITE", "ACK", "BYE", "CANCEL"))  # whitelist
    assert p.rtp_relay
    media = parse_sdp(p.body).media[0]
    assert media.formats == ["0", "8", "101"]  # G729 filtered out, DTMF events kept
    assert "rtpmap:18" not in p.body.decode()


def test_set_fromto_keeps_users_on_new_domains(config) -> None:  # type: ignore[no-untyped-def]
    p = plan(config, invite("sip:0301234@sbc.example", "P-App-Param: x=1\r\n"))
    assert isinstance(p, LegPlan)
    assert p.ruri == "sip:0301234@gw.example.net"
    assert p.from_ == "sip:alice@sbc.example.net"
    assert p.to == "sip:0301234@gw.example.net"
    assert p.destination == "127.0.0.1:5090"
    names = [n for n, _ in p.headers]
    assert "P-App-Param" not in names and "User-Agent" in names
    assert ("P-Source-IP", "192.0.2.10") in p.headers and ("P-Source-Port", "5062") in p.headers
    assert p.call_timer == 3600
    assert not p.rtp_relay
    assert parse_sdp(p.body).media[0].formats == ["0", "18", "8", "101"]
    prof = config.profiles["set_fromto"]
    from dsm.runtime.sbc.profile import translate_reply

    assert translate_reply(prof, 603, "Decline") == (486, "Busy Here")
    assert translate_reply(prof, 404, "Not Found") == (404, "Not Found")


def test_refuse_answers_403_with_a_warning(config) -> None:  # type: ignore[no-untyped-def]
    p = plan(config, invite("sip:mallory@sbc.example"))
    assert p == Refusal(403, "Forbidden", (("Warning", '399 127.0.0.1 "Calls to mallory are not allowed"'),))
