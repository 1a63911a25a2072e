"""A late offer through the SBC and a 422 to the B leg's INVITE, on the wire.

sipp caller -> ``dsm serve --sbc`` -> sipp callee on loopback, as in
``test_relay_wire``: the caller's INVITE has no SDP, the callee offers in
its 200, the caller answers in its ACK (RFC 3264 late offer); the callee
that wants a longer session interval answers 422 with Min-SE (RFC 4028).
"""

from __future__ import annotations

import re

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLER_BYE, callee, recv_reply
from test_sip_b2b import DTMF_PCAP, EchoUas
from test_sip_dialout import RESPONSE_HEAD, recv, reply
from test_sip_serve import ACK_2XX, ACK_FAILURE, pause, reply_to_last

from dsm.runtime.sbc.relay import RelayedCall

SDP = """\
      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
"""


def late_invite(target: str) -> str:
    """The caller's INVITE without SDP."""
    return f"""\
  <send retrans="500" start_txn="invite">
    <![CDATA[
      INVITE sip:{target} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{target}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite"/>
"""


OFFER_200 = ANSWERED.replace(
    "</action>", '<ereg regexp="m=audio [0-9]+ RTP/AVP 0 101" search_in="body" check_it="true" assign_to="offer"/></action>'
)
"""The 200 to the caller: it carries the callee's offer."""

ACK_WITH_ANSWER = ACK_2XX.replace(
    "      Content-Length: 0\n", "      Content-Type: application/sdp\n      Content-Length: [len]\n\n" + SDP
)
"""The caller's ACK with its answer."""

NO_SDP = check("^ *0$", "nosdp", 'search_in="hdr" header="Content-Length:"')
ANSWER_IN_ACK = (
    check("o=sipp 53655765", "answer"),
    check("m=audio [0-9]+ RTP/AVP 0 101", "answer_m"),
)


def late_callee(*ack_checks: str) -> str:
    return scenario(
        "callee",
        recv_request("INVITE", NO_SDP), reply(200, "OK", sdp=True), recv_request("ACK", *ack_checks),
        recv_request("BYE"), reply_to_last(),
        refs=",".join(["nosdp", *re.findall(r'assign_to="([^"]+)"', "".join(ack_checks))]),
    )  # fmt: skip


def test_late_offer_the_callees_offer_reaches_the_caller_and_the_callers_answer_its_ack(rig: SbcRig) -> None:
    """The caller's INVITE without SDP goes on without SDP; the callee's offer in its 200 reaches the
    caller in our 200; the caller's answer in its ACK reaches the callee in the B leg's ACK."""
    port = rig.callee(late_callee(*ANSWER_IN_ACK))
    rig.profile("late", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["late"], "late")
    rig.call(
        scenario(
            "caller", late_invite(f"bob@127.0.0.1:{port}"), OFFER_200, ACK_WITH_ANSWER, pause(300), CALLER_BYE,
            refs="x,totag,offer",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [200] and call.media is None
    assert call.end_cause == "SipRequest"


def test_late_offer_with_rtp_relay_rewrites_both_sdps_and_media_flows_both_ways(rig: SbcRig) -> None:
    """``enable_rtp_relay=yes``: the relay opens when the callee's offer arrives; the caller is offered
    the SBC's port, the callee's ACK answers with the SBC's other port; RTP from the caller reaches the
    echoing callee through the relay and comes back (counted on both sides)."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    port = rig.callee(late_callee(*ANSWER_IN_ACK, check("c=IN IP4 127.0.0.1", "answer_c")), uas=EchoUas)
    rig.profile("late", f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\n")
    rig.start(["late"], "late")
    play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
    rig.call(
        scenario(
            "caller", late_invite(f"bob@127.0.0.1:{port}"), OFFER_200, ACK_WITH_ANSWER, pause(300), play,
            pause(1500), CALLER_BYE, refs="x,totag,offer",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    media = call.media
    assert media is not None and media.closed
    b = call.b
    assert b is not None
    assert f"m=audio {media.b.port} ".encode() in call.last_sdp_to[id(b)]  # the ACK's answer: our port
    assert f"m=audio {media.a.port} ".encode() in call.last_sdp_to[id(call.a)]  # the 200's offer: ours
    assert media.a.received > 0 and media.b.sent == media.a.received, (media.a, media.b)
    assert media.b.received > 0 and media.a.sent > 0, (media.a, media.b)


def too_small(min_se: int) -> str:
    return (
        f"  <send>\n    <![CDATA[\n      SIP/2.0 422 Session Interval Too Small\n{RESPONSE_HEAD}"
        f"      Min-SE: {min_se}\n      Content-Length: 0\n    ]]>\n  </send>\n"
    )


def _only(rig: SbcRig) -> RelayedCall:
    (call,) = rig.ended_calls(1)
    return call


def test_422_to_the_bleg_invite_is_retried_once_with_the_callees_min_se(rig: SbcRig) -> None:
    """``enable_session_timer`` with 120 s: the callee answers 422 with ``Min-SE: 300``; the INVITE goes
    again (CSeq 2) with ``Session-Expires: 300`` and ``Min-SE: 300``; the callee answers, the caller
    sees only the 200 (no 422)."""
    port = rig.callee(
        callee(
            check("Session-Expires: 120", "se1"),
            answer=(
                too_small(300), recv("ACK"),
                recv_request("INVITE", check("CSeq: 2 INVITE", "cseq2"), check("Session-Expires: 300", "se2"),
                             check("Min-SE: 300", "minse2")),
                reply(200, "OK", sdp=True), recv("ACK"),
            ),
            then=(recv_request("BYE"), reply_to_last(), '  <Reference variables="cseq2,se2,minse2"/>\n'),
        )  # fmt: skip
    )
    rig.profile(
        "st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=120\nminimum_timer=90\n"
        "maximum_timer=600\nenable_aleg_session_timer=no\n",
    )  # fmt: skip
    rig.start(["st"], "st")
    rig.call(
        scenario("caller", caller_invite(f"bob@127.0.0.1:{port}"), ANSWERED, ACK_2XX, pause(200), CALLER_BYE,
                 refs="x,totag")  # fmt: skip
    )
    rig.finish_callee()
    call = _only(rig)
    assert call.codes == [200]
    assert call.b_timer is not None and call.b_timer.interval == 300


def test_422_above_maximum_timer_goes_back_to_the_caller(rig: SbcRig) -> None:
    """A ``Min-SE`` above the profile's ``maximum_timer`` is not retried: the caller gets the 422."""
    port = rig.callee(scenario("callee", recv_request("INVITE"), too_small(1800), recv("ACK")))
    rig.profile(
        "st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=120\nmaximum_timer=600\n"
        "enable_aleg_session_timer=no\n",
    )  # fmt: skip
    rig.start(["st"], "st")

    rig.call(
        scenario("caller", caller_invite(f"bob@127.0.0.1:{port}"), '  <recv response="422" response_txn="invite"/>\n',
                 ACK_FAILURE)  # fmt: skip
    )
    rig.finish_callee()
    assert _only(rig).codes == [422]


def test_session_refresh_method_update_refreshes_the_bleg_with_update(rig: SbcRig) -> None:
    """``session_refresh_method=UPDATE``: our half-way refresh of the B leg is an UPDATE (no SDP)
    with ``Session-Expires: 6;refresher=uac``, although the callee's 200 lists no Allow."""
    port = rig.callee(
        callee(
            check("Session-Expires: 6", "se"),
            then=(
                recv_request("UPDATE", check("Session-Expires: 6;refresher=uac", "refresh")),
                reply_to_last(), recv_request("BYE"), reply_to_last(),
                '  <Reference variables="refresh"/>\n',
            ),
        )  # fmt: skip
    )
    rig.profile(
        "st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=6\nminimum_timer=1\n"
        "session_refresh_method=UPDATE\nenable_aleg_session_timer=no\n",
    )  # fmt: skip
    rig.start(["st"], "st")
    rig.call(
        scenario("caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX, pause(4500),
                 CALLER_BYE, refs="x,totag")  # fmt: skip
    )
    rig.finish_callee()
    call = _only(rig)
    assert call.b_timer is not None and call.b_timer.config.refresh_method == "UPDATE"
    assert call.end_cause == "SipRequest"
