"""``next_hop`` with port and transport, ``next_hop_1st_req``, ``next_hop_for_replies`` (issue 21).

The reference's SBC sends every request of the B leg's dialog to the next hop
unless ``next_hop_1st_req=yes``, and its answers there with
``next_hop_for_replies=yes``; transports are UDP and TCP (others are refused
when the profile loads).  The SIP core part is checked with a core fed bytes;
the INVITE relay part on the wire with sipp.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from relay_rig import SbcRig, caller_invite, scenario
from test_relay_wire import ANSWERED, CALLER_BYE, recv_reply
from test_sip_dialout import RESPONSE_HEAD, recv, reply
from test_sip_serve import ACK_2XX, pause, reply_to_last

from dsm.runtime.sbc.conf import load_config, next_hop_problem
from dsm.runtime.sbc.profile import CallProfile, SbcConfigError
from dsm.runtime.sbc.relay import next_hop_flags
from dsm.runtime.sip.message import parse_message
from dsm.runtime.sip.useragent import CallAnswered, InDialogRequest, UserAgentServer


def test_next_hop_transport_other_than_udp_or_tcp_is_refused_at_load(tmp_path: Path) -> None:
    """``next_hop=host/TLS``: one SbcConfigError with file:line when the profile loads."""
    (tmp_path / "sbc.conf").write_text("load_profiles=a\nactive_profile=a\n")
    (tmp_path / "a.sbcprofile.conf").write_text("next_hop=127.0.0.1:5070/TLS\n")
    with pytest.raises(SbcConfigError, match=r"a.sbcprofile.conf:1: next_hop: transport 'TLS'"):
        load_config(str(tmp_path / "sbc.conf"))
    assert next_hop_problem("1.2.3.4/TCP,1.2.3.4:5060/UDP") == ""
    assert next_hop_problem("$H(X-Hop)") == ""  # checked per call


def test_next_hop_flags_follow_the_profile() -> None:
    """Later requests follow the next hop unless ``next_hop_1st_req``; replies only on request."""
    hop = ("127.0.0.1", 5070)
    p = CallProfile("p", next_hop="127.0.0.1:5070")
    assert next_hop_flags(p, hop) == (True, None)
    p.next_hop_1st_req = True
    assert next_hop_flags(p, hop) == (False, None)
    p.raw["next_hop_for_replies"] = "yes"
    assert next_hop_flags(p, hop) == (False, hop)
    assert next_hop_flags(CallProfile("q"), None) == (False, None)  # no next hop: the Contact rules


INVITE_OK = (
    "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:a@127.0.0.1>;tag={ftag}\r\n"
    "To: <sip:b@example.invalid>;tag=callee\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:b@192.0.2.77:5999>\r\nContent-Length: 0\r\n\r\n"
)


def _answered_call(core: UserAgentServer, **kw: object) -> tuple[str, list[tuple[bytes, tuple[str, int], str]]]:
    """An outgoing call to next hop 127.0.0.1:5070 over ``kw``'s options, answered by a callee whose
    Contact names another host; the datagrams of the ACK and a BYE are returned."""
    cid, out = core.invite(
        "sip:b@example.invalid", from_uri="<sip:a@127.0.0.1>", now=0.0,
        destination=("127.0.0.1", 5070), **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    invite = parse_message(out.datagrams[0].data)
    sent = [(d.data, d.destination, d.transport) for d in out.datagrams]
    ok = INVITE_OK.format(
        via=invite.headers.get("Via"), ftag=invite.from_.tag, cid=cid
    ).encode()
    answer = core.receive(ok, ("127.0.0.1", 5070), 0.1, transport=sent[0][2])
    assert any(isinstance(e, CallAnswered) for e in answer.events)
    bye = core.bye(cid, now=0.2)
    return cid, sent + [(d.data, d.destination, d.transport) for d in [*answer.datagrams, *bye.datagrams]]


def test_core_route_hop_sends_ack_and_bye_to_the_next_hop_not_the_contact() -> None:
    """``route_hop``: ACK and BYE go to the next hop; without it they follow the callee's Contact."""
    core = UserAgentServer("127.0.0.1", 5060)
    _, sent = _answered_call(core, route_hop=True)
    assert [d for _, d, _ in sent] == [("127.0.0.1", 5070)] * 3
    core = UserAgentServer("127.0.0.1", 5060)
    _, sent = _answered_call(core)
    assert [d for _, d, _ in sent][1:] == [("192.0.2.77", 5999)] * 2


def test_core_transport_override_sends_the_invite_over_tcp() -> None:
    """``transport="tcp"`` (``next_hop=host:port/TCP``): INVITE over TCP with a TCP Via."""
    core = UserAgentServer("127.0.0.1", 5060)
    _, out = core.invite(
        "sip:b@example.invalid", from_uri="<sip:a@127.0.0.1>", now=0.0,
        destination=("127.0.0.1", 5070), transport="tcp",
    )  # fmt: skip
    (datagram,) = out.datagrams
    assert datagram.transport == "tcp"
    assert b"Via: SIP/2.0/TCP" in datagram.data


def _answered(core: UserAgentServer, **kw: object) -> str:
    """An outgoing call to next hop 127.0.0.1:5070, answered; its Call-ID."""
    cid, out = core.invite(
        "sip:b@example.invalid", from_uri="<sip:a@127.0.0.1>", now=0.0,
        destination=("127.0.0.1", 5070), **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    invite = parse_message(out.datagrams[0].data)
    ok = INVITE_OK.format(via=invite.headers.get("Via"), ftag=invite.from_.tag, cid=cid).encode()
    core.receive(ok, ("127.0.0.1", 5070), 0.1)
    return cid


def test_core_reply_hop_answers_the_callees_requests_at_the_next_hop() -> None:
    """``reply_hop``: our answer to a request of the callee goes to the next hop, not by its Via."""
    core = UserAgentServer("127.0.0.1", 5060, bye_to_tu=True)
    cid = _answered(core, reply_hop=("127.0.0.1", 5070))
    info = (
        "INFO sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.77:5999;branch=z9hG4bKcallee1\r\n"
        f"From: <sip:b@example.invalid>;tag=callee\r\nTo: <sip:a@127.0.0.1>;tag={core.calls[cid].local_tag}\r\n"
        f"Call-ID: {cid}\r\nCSeq: 5 INFO\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    got = core.receive(info, ("192.0.2.77", 5999), 0.3)
    (event,) = [e for e in got.events if isinstance(e, InDialogRequest)]
    out = core.reply_request(cid, event.transaction, 200, now=0.4)
    assert [d.destination for d in out.datagrams] == [("127.0.0.1", 5070)]


def test_relayed_call_ack_and_bye_reach_the_callee_through_next_hop(rig: SbcRig) -> None:
    """The callee's 200 names an unreachable Contact (port 9): with ``next_hop=127.0.0.1:PORT``
    (and no ``next_hop_1st_req``) the ACK and the caller's BYE still reach it there."""
    answer = reply(200, "OK", sdp=True).replace(
        RESPONSE_HEAD, RESPONSE_HEAD.replace("[local_ip]:[local_port];transport=[transport]", "127.0.0.1:9")
    )
    port = rig.callee(
        scenario(
            "callee",
            '  <recv request="INVITE"/>\n',
            reply(180, "Ringing"),
            answer,
            recv("ACK"),
            '  <recv request="BYE"/>\n',
            reply_to_last(),
        )
    )
    rig.profile("hop", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["hop"], "hop")
    rig.call(
        scenario(
            "caller", caller_invite("bob@bob.invalid"), recv_reply(180), ANSWERED, ACK_2XX,
            pause(200), CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
