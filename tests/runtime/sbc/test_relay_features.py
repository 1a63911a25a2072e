"""The SBC relay's RTP relay, call timer, profile reload, control commands and call-control hooks.

sipp caller -> ``dsm serve --sbc`` -> sipp callee on loopback, as in
``test_relay_wire``; the control commands go through the control endpoint
(and ``dsm sbc`` in-process); the call control is a small plain-Python
:class:`~dsm.runtime.sbc.leg.CallControl` that records its hooks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLER_BYE, KEEP_DIALOG, callee, caller_gets_bye, recv_reply
from test_sip_b2b import DTMF_PCAP, EchoUas
from test_sip_dialout import Uas, recv, reply
from test_sip_serve import ACK_2XX, ACK_FAILURE, pause, reply_to_last

from dsm.cli import main
from dsm.runtime.call import Call
from dsm.runtime.control.client import ControlClient, RpcFailure
from dsm.runtime.sbc.leg import STOP, CallStatus, StopReason, sbc_leg_of
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.message import Request, Response


def simple_call(port: int) -> str:
    return scenario(
        "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
        CALLER_BYE, refs="x,totag",
    )  # fmt: skip


def test_rtp_relay_both_directions_through_the_sbc_ports_with_rfc4733(rig: SbcRig) -> None:
    """``enable_rtp_relay=yes``: the callee is offered the SBC's port, the caller gets the SBC's port
    in the 200; the caller's RFC 4733 packets reach the callee through the relay and its echo comes
    back the same way (counted on both sides)."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    port = rig.callee(
        callee(
            check("c=IN IP4 127.0.0.1", "c"),
            check("m=audio [0-9]+ RTP/AVP 0 101", "m"),
            then=(recv_request("BYE"), reply_to_last()),
        ),
        uas=EchoUas,
    )
    rig.profile("relay", f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\n")
    rig.start(["relay"], "relay")
    play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            pause(300), play, pause(1500), CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    media = call.media
    assert media is not None and media.closed
    assert media.a.received > 0 and media.b.sent == media.a.received, (media.a, media.b)
    assert media.b.received > 0 and media.a.sent > 0, (media.a, media.b)
    assert media.a.port != media.b.port


def test_call_timer_ends_both_legs(rig: SbcRig) -> None:
    """``enable_call_timer=yes``, ``call_timer=1``: one second after the answer both legs get BYE."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("timed", f"next_hop=127.0.0.1:{port}\nenable_call_timer=yes\ncall_timer=1\n")
    rig.start(["timed"], "timed")
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "call timer"


def refused_call(code: int) -> str:
    return scenario(
        "caller", caller_invite("bob@127.0.0.1:9"),
        f'  <recv response="{code}" response_txn="invite"/>\n', ACK_FAILURE,
    )  # fmt: skip


def client_of(rig: SbcRig) -> ControlClient:
    assert rig.server is not None and rig.server.server.address is not None
    return ControlClient(f"127.0.0.1:{rig.server.server.address[1]}", rig.server.server.token)


def test_profile_reload_takes_effect_on_the_next_call_and_a_broken_file_keeps_the_old(
    rig: SbcRig, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reload profile`` over the control endpoint: the next call gets the new refusal; a broken
    file is refused with its error and the working profile stays; ``dsm sbc`` lists and sets."""
    path = rig.profile("p", "refuse_with=\"403 Forbidden\"\n")
    rig.start(["p"], "p")
    client = client_of(rig)
    rig.call(refused_call(403), name="c1")
    path.write_text("refuse_with=\"480 Temporarily Unavailable\"\n")
    assert client.call("sbc.reloadProfile", {"name": "p"})["result"] == "OK"
    rig.call(refused_call(480), name="c2")
    path.write_text("this line is no key value pair\n")
    with pytest.raises(RpcFailure, match="p.sbcprofile.conf:1: syntax error"):
        client.call("sbc.reloadProfile", {"name": "p"})
    rig.call(refused_call(480), name="c3")
    calls = rig.ended_calls(3)
    assert [c.codes for c in calls] == [[403], [480], [480]]
    metrics = client.get("/metrics")
    assert "dsm_sbc_refused_total 3\n" in metrics and "dsm_sbc_calls 0\n" in metrics
    address = client.address
    assert main(["sbc", "profiles", "--control", address]) == 0
    assert "p.sbcprofile.conf" in capsys.readouterr().out
    assert main(["sbc", "set-active-profile", "q,p", "--control", address]) != 0  # q is not loaded
    assert "'q'" in capsys.readouterr().err
    assert main(["sbc", "set-active-profile", "$rU,p", "--control", address]) == 0
    assert capsys.readouterr().out.strip() == "$rU,p"
    assert main(["sbc", "get-active-profile", "--control", address, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active_profile"] == ["$rU", "p"]
    assert main(["sbc", "reload-profile", "--control", address]) == 2  # NAME missing


def test_load_profile_only_from_the_profile_folders(rig: SbcRig, tmp_path: Path) -> None:
    """``load profile NAME PATH``: a new file beside sbc.conf loads; any other path is refused before
    it is opened."""
    rig.profile("p", "refuse_with=\"403 Forbidden\"\n")
    other = rig.profile("other", "refuse_with=\"404 Not Found\"\n")
    rig.start(["p"], "p")
    client = client_of(rig)
    assert client.call("sbc.loadProfile", {"name": "other", "path": str(other)})["result"] == "OK"
    assert client.call("sbc.setActiveProfile", {"active_profile": "other"})["result"] == "OK"
    rig.call(refused_call(404), name="c1")
    outside = tmp_path / "elsewhere.sbcprofile.conf"
    outside.write_text("refuse_with=\"500 x\"\n")
    with pytest.raises(RpcFailure, match="must be"):
        client.call("sbc.loadProfile", {"name": "x", "path": str(outside)})
    with pytest.raises(RpcFailure, match="must be"):
        client.call("sbc.loadProfile", {"name": "x", "path": "/etc/passwd"})
    names = [p["name"] for p in client.call("sbc.listProfiles")["profiles"]]
    assert names == ["p", "other"]


def test_teardown_call_over_the_control_endpoint(rig: SbcRig) -> None:
    """``teardown call CALL-ID`` (here the caller's Call-ID): BYE to both legs."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("t", f"next_hop=127.0.0.1:{port}\n")
    server = rig.start(["t"], "t")
    client = client_of(rig)
    import threading

    def teardown_when_connected() -> None:
        import time

        for _ in range(400):
            calls = client.call("sbc.calls")["calls"]
            if calls and calls[0]["a"] == "Connected":
                client.call("sbc.teardownCall", {"call_id": calls[0]["call_id"]})
                return
            time.sleep(0.05)

    worker = threading.Thread(target=teardown_when_connected, daemon=True)
    worker.start()
    rig.call(caller_gets_bye(port))
    worker.join(30)
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "teardown"
    with pytest.raises(RpcFailure, match="no SBC call"):
        client.call("sbc.teardownCall", {"call_id": "nope"})
    assert server.port


# -- call control ------------------------------------------------------------------------------------
class Recorder:
    """A plain-Python call control: records every hook, changes the B leg's INVITE on the A leg."""

    made: list[Recorder] = []

    def __init__(self) -> None:
        self.hooks: list[tuple[Any, ...]] = []
        self.call: Call | None = None
        self.values: dict[str, str] = {}
        Recorder.made.append(self)

    def init(self, call: Call, values: Mapping[str, str]) -> None:
        self.call = call
        self.values = dict(values)
        leg = sbc_leg_of(call)
        assert leg is not None
        self.hooks.append(("init", leg.is_a_leg, call.select("user")))
        if leg.is_a_leg:
            leg.profile.call_timer = "7"  # a script's sbc.profileSet in the start transition
            leg.profile.enable_call_timer = True

    def on_initial_invite(self, original: Request, modified: Request) -> None:
        self.hooks.append(("invite", original.uri))
        modified.headers.add("X-From-Call-Control", self.values.get("tag", ""))

    def on_state_change(self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None) -> None:
        self.hooks.append(("state", str(status), str(reason)))

    def on_in_dialog_request(self, request: Request) -> bool:
        self.hooks.append(("request", request.method))
        return False

    def on_in_dialog_reply(self, reply: Response) -> bool:
        self.hooks.append(("reply", reply.status))
        return False

    def on_b_leg_refused(self, reply: Response) -> bool:
        self.hooks.append(("refused", reply.status))
        return False

    def on_other_request(self, request: Request, forward: bool) -> bool:
        self.hooks.append(("other_request", request.method, forward))
        return False

    def on_other_reply(self, reply: Response, forward: bool, trans_method: str) -> bool:
        self.hooks.append(("other_reply", reply.status, trans_method))
        return False

    def on_event(self, params: Mapping[str, str]) -> bool:
        return False

    def on_b2b_event(self, params: Mapping[str, str], reliable: bool) -> bool:
        self.hooks.append(("b2b", dict(params)))
        return False

    def on_dtmf(self, key: int, duration_ms: int) -> bool:
        return False

    def on_timer(self, timer_id: int) -> bool:
        return False

    def on_destroy_leg(self) -> None:
        self.hooks.append(("destroy",))


class Refuser(Recorder):
    """Stops the call from the INVITE hook (``sbc.stopCall`` in the script's invite transition)."""

    def on_initial_invite(self, original: Request, modified: Request) -> None:
        leg = sbc_leg_of(self.call)
        assert leg is not None
        leg.stop_call("blacklisted")


def test_call_control_hooks_in_order_and_the_modified_invite_is_sent(rig: SbcRig) -> None:
    """One call control per leg, ``init`` before the INVITE is relayed with the entry's values;
    the header the hook adds and the call timer it sets are honoured; state changes and destroy."""
    Recorder.made.clear()
    port = rig.callee(
        callee(
            check("X-From-Call-Control: seven", "hdr"),
            then=(recv_request("INFO"), reply_to_last(), recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile(
        "cc", f"next_hop=127.0.0.1:{port}\ncall_control=ctl\nctl_module=recorder\nctl_tag=seven\n"
    )
    rig.start(["cc"], "cc", sbc_call_control={"recorder": Recorder})
    info = """\
  <send retrans="500" start_txn="info">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bob@127.0.0.1:{port}>;tag=[$totag]
      Call-ID: [call_id]
      CSeq: 2 INFO
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" response_txn="info"/>
""".replace("{port}", str(port))
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            info, CALLER_BYE.replace("CSeq: 2 BYE", "CSeq: 3 BYE"), refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    a_cc, b_cc = Recorder.made
    assert a_cc.values == {"tag": "seven"}
    assert a_cc.hooks[0] == ("init", True, "bob")
    assert a_cc.hooks[1] == ("invite", f"sip:bob@127.0.0.1:{port}")
    assert ("state", "Ringing", "SipReply") in a_cc.hooks
    assert ("state", "Connected", "SipReply") in a_cc.hooks
    assert ("request", "INFO") in a_cc.hooks and ("reply", 200) in b_cc.hooks
    assert ("other_request", "INFO", True) in b_cc.hooks and ("other_reply", 200, "INFO") in a_cc.hooks
    assert a_cc.hooks[-2:] == [("state", "Disconnected", "SipRequest"), ("destroy",)]
    assert b_cc.hooks[0] == ("init", False, "")
    assert b_cc.hooks[-1] == ("destroy",)
    assert call.plan is not None and call.plan.call_timer == 7


def test_call_control_stop_call_in_the_invite_hook_refuses_before_anything_is_relayed(rig: SbcRig) -> None:
    """``sbc.stopCall`` before the B leg exists: the caller gets 487 (no B leg)."""
    Recorder.made.clear()
    rig.profile("cc", "call_control=ctl\nctl_module=refuser\n")
    rig.start(["cc"], "cc", sbc_call_control={"refuser": Refuser})
    rig.call(refused_call(487))
    (call,) = rig.ended_calls(1)
    assert call.b is None and call.end_cause == "blacklisted"
    (cc,) = Recorder.made
    assert ("state", "Disconnected", "other") in cc.hooks


def test_unknown_call_control_module_refuses_500(rig: SbcRig) -> None:
    rig.profile("cc", "call_control=ctl\nctl_module=nosuch\n")
    rig.start(["cc"], "cc")
    rig.call(refused_call(500))
    (call,) = rig.ended_calls(1)
    assert call.codes == [500]


__all__ = ["CallProfile", "KEEP_DIALOG", "STOP", "recv", "reply"]


def caller_request(method: str, cseq: int, port: int, sdp: bool = False) -> str:
    """A request of the caller in its dialog (after the 200 that gave ``totag``), as transaction ``t<cseq>``."""
    body = (
        "      Content-Type: application/sdp\n      Content-Length: [len]\n\n"
        "      v=0\n      o=sipp 53655765 2353687638 IN IP[local_ip_type] [local_ip]\n      s=-\n"
        "      c=IN IP[media_ip_type] [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0 101\n"
        "      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000\n      a=sendonly\n"
        if sdp
        else "      Content-Length: 0\n"
    )
    return f"""\
  <send retrans="500" start_txn="t{cseq}">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bob@127.0.0.1:{port}>;tag=[$totag]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
{body}    ]]>
  </send>
"""


ACK_REINVITE = """\
  <send ack_txn="t2">
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


def test_reinvite_crosses_with_its_sdp_rewritten_by_the_rtp_relay(rig: SbcRig) -> None:
    """The caller's re-INVITE (hold, ``sendonly``) reaches the callee with the SBC's address in its SDP;
    the callee's 200 comes back with the SBC's A-leg port."""
    port = rig.callee(
        callee(
            then=(
                recv_request("INVITE", check("a=sendonly", "hold"), check("c=IN IP4 127.0.0.1", "addr")),
                reply(200, "OK", sdp=True),
                recv("ACK"),
                recv_request("BYE"),
                reply_to_last(),
            ),
        ).replace('<Reference variables="', '<Reference variables="hold,addr,')
    )
    rig.profile(
        "relay",
        f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\n",
    )
    rig.start(["relay"], "relay")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            caller_request("INVITE", 2, port, sdp=True),
            '  <recv response="100" optional="true" response_txn="t2"/>\n',
            '  <recv response="200" response_txn="t2">\n    <action>'
            + check("o=bob 1 1", "answer") + "</action>\n  </recv>\n",
            ACK_REINVITE,
            CALLER_BYE.replace("CSeq: 2 BYE", "CSeq: 4 BYE"),
            refs="x,totag,answer",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    media = call.media
    assert media is not None
    to_caller = call.last_sdp_to[id(call.a)]
    assert f"m=audio {media.a.port} ".encode() in to_caller and b"o=bob 1 1" in to_caller
    to_callee = call.last_sdp_to[id(call.b)]
    assert f"m=audio {media.b.port} ".encode() in to_callee and b"a=sendonly" in to_callee


def test_put_on_hold_and_resume_reinvite_the_leg_with_its_sdp(rig: SbcRig) -> None:
    """``sbc.putOnHold`` / ``sbc.resumeHeld`` on the real A leg: re-INVITEs to the caller with the SDP it
    had, ``sendonly`` then ``sendrecv``; the leg reports on hold in between."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("t", f"next_hop=127.0.0.1:{port}\n")
    server = rig.start(["t"], "t")
    held: list[bool] = []

    def act_when_connected() -> None:
        import time

        for _ in range(400):
            calls = server.on_loop(lambda: list(rig.relay.calls.values()))
            if calls and calls[0].a.status == CallStatus.CONNECTED:
                leg = calls[0].a
                server.on_loop(leg.put_on_hold)
                held.append(server.on_loop(leg.is_on_hold))
                time.sleep(0.5)
                server.on_loop(leg.resume_held)
                held.append(server.on_loop(leg.is_on_hold))
                return
            time.sleep(0.05)

    import threading

    worker = threading.Thread(target=act_when_connected, daemon=True)
    worker.start()
    answer = (
        '  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n'
        "      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n"
        "      Contact: <sip:alice@[local_ip]:[local_port]>\n      Content-Type: application/sdp\n"
        "      Content-Length: [len]\n\n      v=0\n      o=sipp 1 2 IN IP4 [local_ip]\n      s=-\n"
        "      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n"
        "      a=rtpmap:0 PCMU/8000\n    ]]>\n  </send>\n"
    )
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            recv_request("INVITE", check("a=sendonly", "hold"), check("o=bob 1 1", "sdp")), answer, recv("ACK"),
            recv_request("INVITE", check("a=sendrecv", "resume")), answer, recv("ACK"),
            CALLER_BYE.replace("[last_To:]", "To: <sip:bob@127.0.0.1:PORT>;tag=[$totag]").replace("PORT", str(port)),
            refs="x,totag,hold,sdp,resume",
        )  # fmt: skip
    )
    worker.join(30)
    rig.finish_callee()
    rig.ended_calls(1)
    assert held == [True, False]


TIMER_HEADERS = "      Supported: timer\n      Session-Expires: {se};refresher=uac\n"


def test_aleg_session_timer_negotiated_in_the_200_and_an_expired_session_ends_the_call(rig: SbcRig) -> None:
    """``enable_aleg_session_timer``: the caller's 200 carries Session-Expires (refresher uac, as asked);
    the caller never refreshes, so the SBC ends the call (BYE both legs) when the session expires."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("st", f"next_hop=127.0.0.1:{port}\nenable_aleg_session_timer=yes\naleg_session_expires=2\nminimum_timer=1\n")
    rig.start(["st"], "st")
    answered = ANSWERED.replace(
        "<action>", "<action>" + check("Session-Expires: 2;refresher=uac", "se")
    )
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}", TIMER_HEADERS.format(se=2)), recv_reply(180),
            answered, ACK_2XX, recv_request("BYE"), reply_to_last(), refs="x,totag,se",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "session timer"


def test_aleg_session_interval_below_the_minimum_is_refused_422(rig: SbcRig) -> None:
    rig.profile("st", "next_hop=127.0.0.1:9\nenable_aleg_session_timer=yes\naleg_session_expires=30\nminimum_timer=20\n")
    rig.start(["st"], "st")
    rig.call(
        scenario(
            "caller", caller_invite("bob@127.0.0.1:9", TIMER_HEADERS.format(se=5)),
            '  <recv response="422" response_txn="invite"><action>'
            + check("Min-SE: 20", "minse") + "</action></recv>\n", ACK_FAILURE, refs="minse",
        )  # fmt: skip
    )
    (call,) = rig.ended_calls(1)
    assert call.codes == [422] and call.b is None


def test_aleg_session_timer_we_refresh_the_caller_when_it_asks_us_to(rig: SbcRig) -> None:
    """``refresher=uas``: half-way through the interval the SBC re-INVITEs the caller (its own SDP to it,
    Session-Expires); after the answer the call goes on until the caller's BYE."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("st", f"next_hop=127.0.0.1:{port}\nenable_aleg_session_timer=yes\naleg_session_expires=2\nminimum_timer=1\n")
    rig.start(["st"], "st")
    answer = (
        '  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n'
        "      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Session-Expires: 2;refresher=uas\n"
        "      Contact: <sip:alice@[local_ip]:[local_port]>\n      Content-Type: application/sdp\n"
        "      Content-Length: [len]\n\n      v=0\n      o=sipp 1 2 IN IP4 [local_ip]\n      s=-\n"
        "      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n"
        "      a=rtpmap:0 PCMU/8000\n    ]]>\n  </send>\n"
    )
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}", TIMER_HEADERS.replace("uac", "uas").format(se=2)),
            recv_reply(180), ANSWERED, ACK_2XX,
            recv_request("INVITE", check("Session-Expires: 2;refresher=uas", "refresh")), answer, recv("ACK"),
            CALLER_BYE.replace("[last_To:]", "To: <sip:bob@127.0.0.1:PORT>;tag=[$totag]").replace("PORT", str(port)),
            refs="x,totag,refresh",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "SipRequest"
    assert call.session_timer is not None and call.session_timer.refresher == "uas"


def test_early_media_flows_through_the_rtp_relay_before_the_answer(rig: SbcRig) -> None:
    """A 183 with SDP starts the relay: the caller's stream (RFC 4733), played as soon as the 183
    arrives and 2 s before the 200, reaches the callee and its echo comes back."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    port = rig.callee(
        callee(
            answer=(reply(183, "Session Progress", sdp=True), pause(2000), reply(200, "OK", sdp=True), recv("ACK")),
            then=(recv_request("BYE"), reply_to_last()),
        ),
        uas=EchoUas,
    )
    rig.profile("relay", f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\n")
    rig.start(["relay"], "relay")
    play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(183), play, ANSWERED, ACK_2XX,
            pause(300), CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    media = call.media
    assert call.codes == [183, 200]
    assert media is not None and media.b.sent > 0 and media.a.sent > 0, (media.a, media.b)


class Failover(Recorder):
    """On the A leg: a refused B leg is handled by the script, which calls a second callee
    (``bLegRefused`` with ``#StopProcessing=true``, then ``sbc.addCallee(var, …)``)."""

    second = ""

    def on_b_leg_refused(self, reply: Response) -> bool:
        self.hooks.append(("refused", reply.status))
        leg = sbc_leg_of(self.call)
        assert leg is not None
        leg.add_callee(
            {
                "remote_party": f"<sip:carol@127.0.0.1:{Failover.second}>",
                "local_party": "<sip:sbc@127.0.0.1>",
                "hdrs": "X-Failover: 1\\r\\n",
            }
        )
        return STOP


def test_call_control_fails_over_to_a_second_callee_with_add_callee(rig: SbcRig, sipp: str, tmp_path: Path) -> None:
    """The first callee is busy (486): the caller hears nothing of it; the script's second callee
    gets an INVITE with the given R-URI, From and header, answers, and the call is relayed to it."""
    Recorder.made.clear()
    first = rig.callee(callee(answer=(reply(486, "Busy Here"), recv("ACK"))))
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = Uas(
        sipp,
        second_dir,
        callee(
            check("^INVITE sip:carol@127.0.0.1:[0-9]+ SIP/2.0", "ruri"),
            check("sbc@127.0.0.1", "from", 'search_in="hdr" header="From:"'),
            check("X-Failover: 1", "hdr"),
            then=(recv_request("BYE"), reply_to_last()),
        ),
    )
    Failover.second = str(second.port)
    try:
        rig.profile("cc", f"next_hop=127.0.0.1:{first}\ncall_control=ctl\nctl_module=failover\n")
        rig.start(["cc"], "cc", sbc_call_control={"failover": Failover})
        rig.call(
            scenario(
                "caller", caller_invite(f"bob@127.0.0.1:{first}"), recv_reply(180), ANSWERED, ACK_2XX,
                CALLER_BYE, refs="x,totag",
            )  # fmt: skip
        )
        rig.finish_callee()
        second.finish()
    finally:
        second.close()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    a_cc, first_cc, second_cc = Recorder.made
    assert ("refused", 486) in a_cc.hooks
    assert first_cc.hooks[-1] == ("destroy",) and second_cc.hooks[-1] == ("destroy",)


class Faulty(Recorder):
    """A call control whose hooks raise: the call goes on, the fault is logged."""

    def on_initial_invite(self, original: Request, modified: Request) -> None:
        raise RuntimeError("broken plug-in")

    def on_state_change(self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None) -> None:
        raise ValueError("broken too")


def test_a_failing_call_control_hook_is_logged_and_the_call_goes_on(rig: SbcRig) -> None:
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("cc", f"next_hop=127.0.0.1:{port}\ncall_control=ctl\nctl_module=faulty\n")
    server = rig.start(["cc"], "cc", sbc_call_control={"faulty": Faulty})
    rig.call(simple_call(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    log = server.log_text.getvalue()
    assert "call control RuntimeError: broken plug-in" in log and "Traceback" not in log


class DtmfListener(Recorder):
    """On the A leg, once connected: ``sbc.enableRelayDTMFReceiving(true)``; records the caller's keys."""

    def on_state_change(self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None) -> None:
        super().on_state_change(status, reason, detail)
        leg = sbc_leg_of(self.call)
        assert leg is not None
        if leg.is_a_leg and status == CallStatus.CONNECTED:
            leg.enable_relay_dtmf_receiving(True)

    def on_dtmf(self, key: int, duration_ms: int) -> bool:
        self.hooks.append(("dtmf", key))
        return False


def test_relay_dtmf_receiving_reports_the_callers_rfc4733_keys_to_its_call_control(rig: SbcRig) -> None:
    """``sbc.enableRelayDTMFReceiving`` with the RTP relay: the caller's key 1 (RFC 4733) is relayed to
    the callee and reported once to the A leg's call control; the B leg's gets no key."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    Recorder.made.clear()
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile(
        "relay", f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\ncall_control=ctl\nctl_module=dtmf\n"
    )
    rig.start(["relay"], "relay", sbc_call_control={"dtmf": DtmfListener})
    play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), recv_reply(180), ANSWERED, ACK_2XX,
            pause(300), play, pause(1500), CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    a_cc, b_cc = Recorder.made
    assert [h for h in a_cc.hooks if h[0] == "dtmf"] == [("dtmf", 1)]
    assert not [h for h in b_cc.hooks if h[0] == "dtmf"]
    assert call.media is not None and call.media.b.sent > 0
