"""The B leg's Contact from the profile and its session timer, on the wire.

sipp caller -> ``dsm serve --sbc`` -> sipp callee on loopback, as in
``test_relay_wire``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLEE_BYE, CALLER_BYE, callee, caller_gets_bye, recv_reply
from test_sip_dialout import recv, reply
from test_sip_serve import ACK_2XX, pause, reply_to_last

from dsm.cli import main


def test_profile_contact_is_the_b_legs_contact_and_the_callees_bye_to_it_crosses(rig: SbcRig) -> None:
    """``Contact=<sip:gw@$Ri:$Rp>``: the callee's INVITE carries that Contact (not the server's own);
    the callee's BYE, addressed to it, is answered and crosses to the caller."""
    port = rig.callee(
        callee(
            check("^ *.sip:gw@127.0.0.1:[0-9]+.$", "contact", 'search_in="hdr" header="Contact:"'),
            then=(pause(300), CALLEE_BYE),
        )
    )
    rig.profile("c", f"next_hop=127.0.0.1:{port}\nContact=<sip:gw@$Ri:$Rp>\n")
    rig.start(["c"], "c")
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.plan is not None and call.plan.contact == f"<sip:gw@127.0.0.1:{rig.server.port}>"  # type: ignore[union-attr]


SESSION_200 = reply(200, "OK", sdp=True).replace(
    "      Content-Type:", "      Session-Expires: {se};refresher={who}\n      Require: timer\n      Content-Type:"
)
"""The callee's 200 with a session timer (``who`` refreshes: ``uac`` is the SBC)."""


def test_bleg_invite_proposes_the_profiles_timer_and_we_refresh_when_the_callee_has_none(rig: SbcRig) -> None:
    """``enable_session_timer``: the callee's INVITE carries Session-Expires/Min-SE/Supported: timer
    from the profile; its 200 has no Session-Expires, so the SBC refreshes half-way (re-INVITE with
    the callee's SDP and ``refresher=uac``), and the call goes on until the caller's BYE."""
    port = rig.callee(
        callee(
            check("Session-Expires: 6", "se"), check("Min-SE: 1", "minse"), check("Supported: timer", "sup"),
            then=(
                recv_request("INVITE", check("Session-Expires: 6;refresher=uac", "refresh")),
                reply(200, "OK", sdp=True), recv("ACK"), recv_request("BYE"), reply_to_last(),
                '  <Reference variables="refresh"/>\n',
            ),
        )  # fmt: skip
    )
    rig.profile("st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=6\nminimum_timer=1\n"
        "enable_aleg_session_timer=no\n")  # the B leg's timer only
    rig.start(["st"], "st")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            pause(4500), CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "SipRequest"
    assert call.b_timer is not None and call.b_timer.we_refresh and call.b_timer.interval == 6


def test_bleg_session_expires_when_the_callee_does_not_refresh_and_both_legs_get_bye(rig: SbcRig) -> None:
    """The callee's 200 makes it the refresher (``refresher=uas``, 3 s); no refresh comes, so the SBC
    ends the call when the session expires: BYE to the callee and to the caller."""
    port = rig.callee(
        callee(
            answer=(reply(180, "Ringing"), SESSION_200.format(se=3, who="uas"), recv("ACK")),
            then=(recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile("st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=3\nminimum_timer=1\n"
        "enable_aleg_session_timer=no\n")  # the B leg's timer only
    rig.start(["st"], "st")
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "session timer"
    assert call.b_timer is not None and not call.b_timer.we_refresh and call.b_timer.interval == 3


def test_rtprelay_interface_default_or_empty_relays_on_the_sip_address(rig: SbcRig) -> None:
    """``rtprelay_interface=default``, ``aleg_rtprelay_interface=`` (empty): the one media interface,
    the ``--sip`` address: the callee is offered the SBC's relay port on 127.0.0.1."""
    port = rig.callee(
        callee(check("c=IN IP4 127.0.0.1", "c"), check("m=audio [0-9]+ RTP/AVP 0 101", "m"),
               then=(recv_request("BYE"), reply_to_last()))
    )  # fmt: skip
    rig.profile(
        "r", f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\nrtprelay_interface=default\naleg_rtprelay_interface=\n"
    )
    rig.start(["r"], "r")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.media is not None and call.media.closed
    assert call.profile.rtprelay_interface == "default" and call.profile.aleg_rtprelay_interface == ""


def test_dsm_serve_refuses_a_profile_naming_another_media_interface(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Any other interface name stops ``dsm serve --sbc`` at start with the profile's file:line."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "idle.dsm").write_text("initial state S;\n")
    conf = tmp_path / "sbc.conf"
    conf.write_text("load_profiles=r\nactive_profile=r\n")
    (tmp_path / "r.sbcprofile.conf").write_text("next_hop=127.0.0.1:9\n\naleg_rtprelay_interface=extern\n")
    code = main(["serve", "--scripts", str(scripts), "--sip", "127.0.0.1:0", "--sbc", str(conf)])
    captured = capsys.readouterr()
    assert code == 1
    assert "r.sbcprofile.conf:3: aleg_rtprelay_interface: 'extern' is not a media interface" in captured.out + captured.err


CALLEE_REFRESH = """\
  <send retrans="500" start_txn="refresh">
    <![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to_hdr];tag=[pid]SIPpTag01[call_number]
      To: [$from_hdr]
      Call-ID: [$cid]
      CSeq: 1 INVITE
      Contact: <sip:bob@[local_ip]:[local_port]>
      Max-Forwards: 70
      Supported: timer
      Session-Expires: 8;refresher=uac
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=bob 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="refresh"/>
  <recv response="200" response_txn="refresh">
    <action>
      <ereg regexp="Session-Expires: 8;refresher=uac" search_in="msg" check_it="true" assign_to="se"/>
      <ereg regexp="Require: timer" search_in="msg" check_it="true" assign_to="req"/>
    </action>
  </recv>
  <send ack_txn="refresh">
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to_hdr];tag=[pid]SIPpTag01[call_number]
      To: [$from_hdr]
      Call-ID: [$cid]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <Reference variables="se,req"/>
"""
"""The callee refreshes the session (re-INVITE, 8 s, it stays the refresher) and checks our 200."""


def test_the_callees_refresh_restarts_the_bleg_timer_and_is_answered_with_its_interval(rig: SbcRig) -> None:
    """The callee is the refresher; its re-INVITE (``Session-Expires: 8;refresher=uac``) is relayed to
    the caller without the B leg's timer headers, and the callee gets the caller's 200 with
    ``Session-Expires: 8;refresher=uac`` and ``Require: timer``; the call lasts past the first
    interval's expiry and ends with the caller's BYE."""
    port = rig.callee(
        callee(
            answer=(reply(180, "Ringing"), SESSION_200.format(se=3, who="uas"), recv("ACK")),
            then=(pause(500), CALLEE_REFRESH, recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile("st", f"next_hop=127.0.0.1:{port}\nenable_session_timer=yes\nsession_expires=3\nminimum_timer=1\n"
        "enable_aleg_session_timer=no\n")  # fmt: skip
    rig.start(["st"], "st")
    no_timer = '<ereg regexp="Session-Expires" search_in="msg" check_it_inverse="true" assign_to="nose"/>'
    bye = CALLER_BYE.replace("[last_To:]", f"To: <sip:bob@127.0.0.1:{port}>;tag=[$totag]")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            recv_request("INVITE", no_timer), reply(200, "OK", sdp=True), recv("ACK"),
            pause(2500), bye, refs="x,totag,nose",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "SipRequest"
    assert call.b_timer is not None and call.b_timer.interval == 8 and not call.b_timer.we_refresh
