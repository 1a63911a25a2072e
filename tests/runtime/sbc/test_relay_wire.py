"""The SBC relay on the wire (issue 21): sipp caller -> ``dsm serve --sbc`` -> sipp callee.

Each test writes an ``sbc.conf`` and literal profiles, and checks with sipp's
``ereg check_it`` what the callee receives (R-URI, From, To, Call-ID,
headers, SDP) and what the caller gets back; the relay's own record of the
call (:class:`~dsm.runtime.sbc.relay.RelayedCall`) is read afterwards.
"""

from __future__ import annotations

import re

from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_sip_dialout import RESPONSE_HEAD, TERMINATED, recv, reply
from test_sip_serve import ACK_2XX, ACK_FAILURE, pause, reply_to_last
from test_sip_serve import recv as recv_response

from dsm.runtime.sbc.leg import CallStatus


def recv_reply(code: int) -> str:
    return recv_response(code, "invite")


ANSWERED = """\
  <recv response="200" response_txn="invite" rrs="true">
    <action><ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/></action>
  </recv>
"""

CALLER_BYE = """\
  <send retrans="500" start_txn="bye">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" response_txn="bye"/>
"""

CALLEE_BYE = """\
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to_hdr];tag=[pid]SIPpTag01[call_number]
      To: [$from_hdr]
      Call-ID: [$cid]
      CSeq: 1 BYE
      Contact: <sip:bob@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"""

KEEP_DIALOG = (
    check("^ *(.*)", "from_hdr", 'search_in="hdr" header="From:"'),
    check("^ *(.*)", "to_hdr", 'search_in="hdr" header="To:"'),
    check("^ *(.*)", "cid", 'search_in="hdr" header="Call-ID:"'),
)
"""Callee side: what its own BYE needs (From/To swapped, the B leg's Call-ID)."""


def caller_gets_bye(port: int) -> str:
    """The caller's side of most relay tests: INVITE to the callee at ``port``, 180, answered,
    ACK, then the BYE that reaches it (from the callee, a timer or a script), answered."""
    return scenario(
        "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
        recv_request("BYE"), reply_to_last(), refs="x,totag",
    )  # fmt: skip


def callee(*invite_checks: str, answer: tuple[str, ...] = (), then: tuple[str, ...] = ()) -> str:
    names = re.findall(r'assign_to="([^"]+)"', "".join(invite_checks))
    refs = ",".join([*names, "from_hdr", "to_hdr", "cid"])
    return scenario(
        "callee",
        recv_request("INVITE", *invite_checks, *KEEP_DIALOG),
        *(answer or (reply(180, "Ringing"), reply(200, "OK", sdp=True), recv("ACK"))),
        *then,
        refs=refs,
    )


def test_transparent_profile_relays_invite_replies_and_caller_bye(rig: SbcRig) -> None:
    """Transparent: the callee gets the caller's R-URI, From, headers and SDP under a new Call-ID;
    the caller gets 180 and 200 with the callee's SDP; the caller's BYE crosses to the callee."""
    port = rig.callee(
        callee(
            check("^INVITE sip:bob@127.0.0.1:[0-9]+ SIP/2.0", "a"),
            check("alice@", "b", 'search_in="hdr" header="From:"'),
            check("o=sipp 53655765", "c"),
            check("X-Caller-Note: hello", "d"),
            check("^ *[0-9a-f]{16}@127.0.0.1", "e", 'search_in="hdr" header="Call-ID:"'),
            then=(recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile("transparent", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["transparent"], "transparent")
    rig.call(
        scenario(
            "caller",
            caller_invite(f"bob@127.0.0.1:{port}"),
            recv_reply(180),
            ANSWERED.replace("<action>", "<action>" + check("o=bob 1 1", "sdp") + ""),
            ACK_2XX,
            pause(200),
            CALLER_BYE,
            refs="x,totag,sdp",
        )
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.a.status == CallStatus.DISCONNECTED and call.b is not None
    assert call.b.call_id != call.a.call_id
    assert call.end_cause == "SipRequest"


def test_profile_literal_ruri_from_to_call_id_reach_the_callee(rig: SbcRig) -> None:
    """RURI, From, To and Call-ID of the profile (literal values) are what the callee receives."""
    port = rig.callee(
        callee(
            check("^INVITE sip:carol@127.0.0.1:[0-9]+ SIP/2.0", "a"),
            check("anonymous@anonymous.invalid", "b", 'search_in="hdr" header="From:"'),
            check("sip:carol@example.net", "c", 'search_in="hdr" header="To:"'),
            check("^ *fixed-call-id-1$", "d", 'search_in="hdr" header="Call-ID:"'),
            then=(recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile(
        "fixed",
        f"RURI=sip:carol@127.0.0.1:{port}\n"
        "From=<sip:anonymous@anonymous.invalid>\n"
        "To=<sip:carol@example.net>\n"
        "Call-ID=fixed-call-id-1\n",
    )
    rig.start(["fixed"], "fixed")
    rig.call(
        scenario(
            "caller", caller_invite("someone@127.0.0.1:9"), recv_reply(180), ANSWERED, ACK_2XX,
            CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.b is not None and call.b.call_id == "fixed-call-id-1"


def test_callee_bye_crosses_to_the_caller(rig: SbcRig) -> None:
    """The callee hangs up: its BYE is answered and the caller gets a BYE of its own dialog."""
    port = rig.callee(callee(then=(pause(300), CALLEE_BYE)))
    rig.profile("t", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["t"], "t")
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]


CALLER_CANCEL = """\
  <send>
    <![CDATA[
      CANCEL sip:bob@127.0.0.1:{port} SIP/2.0
      [last_Via:]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bob@127.0.0.1:{port}>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487" response_txn="invite"/>
"""


def test_caller_cancel_crosses_to_the_ringing_callee(rig: SbcRig) -> None:
    """The caller gives up while the callee rings: CANCEL reaches the callee, 487 the caller."""
    port = rig.callee(
        callee(
            answer=(reply(180, "Ringing"),),
            then=(recv_request("CANCEL"), reply_to_last(), TERMINATED, recv("ACK")),
        )
    )
    rig.profile("t", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["t"], "t")
    cancel = CALLER_CANCEL.replace("{port}", str(port))
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}").replace(
                '<send retrans="500" start_txn="invite">', '<send start_txn="invite">'
            ),
            recv_reply(180), pause(200), cancel, ACK_FAILURE,
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180]
    assert call.end_cause == "Canceled"


def test_refuse_profile_answers_its_code_and_sends_nothing_on(rig: SbcRig) -> None:
    """``refuse_with=403 Forbidden``: the caller gets 403, no B leg is made."""
    rig.profile("refuse", "refuse_with=\"403 Forbidden\"\n")
    rig.start(["refuse"], "refuse")
    rig.call(
        scenario(
            "caller", caller_invite("bob@127.0.0.1:9"),
            '  <recv response="403" response_txn="invite"/>\n', ACK_FAILURE,
        )  # fmt: skip
    )
    (call,) = rig.ended_calls(1)
    assert call.codes == [403] and call.b is None
    assert rig.relay.refused == 1


def test_callee_busy_486_reaches_the_caller(rig: SbcRig) -> None:
    """A final failure of the B leg is the caller's answer (and an ACK goes to the callee)."""
    port = rig.callee(callee(answer=(reply(486, "Busy Here"), recv("ACK"))))
    rig.profile("t", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["t"], "t")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"),
            '  <recv response="486" response_txn="invite"/>\n', ACK_FAILURE,
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [486]


def test_a_b_leg_aimed_at_the_sbc_itself_is_refused_482(rig: SbcRig) -> None:
    """No loop: a transparent call whose R-URI is the SBC's own address is answered 482."""
    rig.profile("t", "\n")
    server = rig.start(["t"], "t")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{server.port}"),
            '  <recv response="482" response_txn="invite"/>\n', ACK_FAILURE,
        )  # fmt: skip
    )
    (call,) = rig.ended_calls(1)
    assert call.codes == [482]


__all__ = ["RESPONSE_HEAD"]
