"""Call control over SIP: RFC 4028 session timers (K-24 … K-29, C-core-21
``sessionTimeout``), SipRequest for BYE (E-151, E-157) and the script's own
answers through ``mod_dlg`` (early media, M-dlg-1, M-dlg-3).

The state machine is tested on injected time; the served behaviour end to
end with sipp over loopback, with intervals of a few seconds (the
configuration may go below RFC 4028's 90 s floor, which tests rely on).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sip_rig import LIMIT
from test_sip_serve import (
    ACK_2XX,
    ACK_FAILURE,
    CANCEL_INVITE,
    HEAD,
    SipServer,
    _final_response,
    _request,
    answer_request,
    in_dialog,
    pause,
    recv,
    run_sipp,
    scenario,
)

from dsm.runtime.config import ConfigError
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.session_timer import (
    Refusal,
    SessionTimer,
    TimerConfig,
    parse_session_expires,
)
from dsm.runtime.sip.useragent import UserAgentServer


def _invite(extra: str = "") -> Request:
    text = (
        "INVITE sip:app@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\n"
        "From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:app@127.0.0.1>\r\n"
        "Call-ID: st@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5061>\r\n"
        f"{extra}Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def _response(status: int, extra: str = "") -> Response:
    text = (
        f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\n"
        "From: <sip:app@127.0.0.1>;tag=b\r\nTo: <sip:a@127.0.0.1>;tag=a\r\n"
        f"Call-ID: st@127.0.0.1\r\nCSeq: 2 UPDATE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Response)
    return msg


CFG = TimerConfig(session_expires=120, min_se=90, max_se=900)


# -- the state machine ------------------------------------------------------------------------
def test_K24_parse_session_expires_with_and_without_refresher() -> None:
    assert parse_session_expires("1800;refresher=uac") == (1800, "uac")
    assert parse_session_expires(" 90 ") == (90, None)
    assert parse_session_expires("soon") is None
    assert parse_session_expires(None) is None


def test_K26_interval_below_minimum_refused_422_with_min_se() -> None:
    got = SessionTimer.negotiate(CFG, _invite("Session-Expires: 60\r\nSupported: timer\r\n"))
    assert isinstance(got, Refusal)
    assert (got.status, got.reason, got.headers) == (422, "Session Interval Too Small", (("Min-SE", "90"),))


def test_K27_interval_above_maximum_lowered() -> None:
    got = SessionTimer.negotiate(CFG, _invite("Session-Expires: 3600;refresher=uac\r\nSupported: timer\r\n"))
    assert isinstance(got, SessionTimer)
    assert got.interval == 900
    assert got.response_headers() == [("Session-Expires", "900;refresher=uac"), ("Require", "timer")]


def test_K25_no_session_expires_gets_ours_and_we_refresh_when_uac_lacks_timer() -> None:
    got = SessionTimer.negotiate(CFG, _invite())
    assert isinstance(got, SessionTimer)
    assert (got.interval, got.refresher, got.we_refresh) == (120, "uas", True)
    assert got.response_headers() == [("Session-Expires", "120;refresher=uas")]  # no Require: UAC lacks timer


def test_K25_uac_with_timer_and_no_refresher_refreshes_itself_and_expiry_is_interval_minus_a_third() -> None:
    got = SessionTimer.negotiate(CFG, _invite("Supported: timer\r\nMin-SE: 150\r\n"))
    assert isinstance(got, SessionTimer)
    assert (got.interval, got.refresher) == (150, "uac")  # never below the request's Min-SE
    got.start(1000.0)
    assert got.deadline == 1000.0 + 150 - 32  # min(32, interval/3)
    assert got.due(1100.0) is None
    assert got.due(1118.0) == "expired"
    assert got.deadline is None


def test_K28_we_refresh_at_half_the_interval_with_update_when_allowed() -> None:
    got = SessionTimer.negotiate(
        CFG, _invite("Session-Expires: 100;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n")
    )
    assert isinstance(got, SessionTimer)
    got.start(0.0)
    assert got.deadline == 50.0
    assert got.due(50.0) == "refresh"
    assert got.refresh_method() == "UPDATE"
    assert ("Session-Expires", "100;refresher=uas") in got.refresh_headers()
    # no answer to the refresh: the session expires like the peer's would
    assert got.deadline == 50.0 + 50 - 32  # min(32, interval/3)
    assert got.refresh_answered(200, _response(200, "Session-Expires: 100;refresher=uas\r\n"), 60.0) == "ok"
    assert got.deadline == 110.0


def test_K28_fallback_to_reinvite_and_fixed_methods() -> None:
    got = SessionTimer.negotiate(CFG, _invite("Session-Expires: 100;refresher=uas\r\nAllow: INVITE, BYE\r\n"))
    assert isinstance(got, SessionTimer)
    assert got.refresh_method() == "INVITE"
    update = SessionTimer.negotiate(
        TimerConfig(refresh_method="UPDATE"), _invite("Session-Expires: 100;refresher=uas\r\n")
    )
    assert isinstance(update, SessionTimer) and update.refresh_method() == "UPDATE"
    with pytest.raises(ValueError, match="session_refresh_method"):
        TimerConfig.from_settings({"session_refresh_method": "PRACK"})


def test_K29_501_counts_as_success_unless_accept_501_reply_is_no() -> None:
    for accept, outcome in ((True, "ok"), (False, "failed")):
        timer = SessionTimer.negotiate(
            TimerConfig(accept_501=accept), _invite("Session-Expires: 100;refresher=uas\r\n")
        )
        assert isinstance(timer, SessionTimer)
        timer.start(0.0)
        assert timer.due(50.0) == "refresh"
        assert timer.refresh_answered(501, _response(501), 51.0) == outcome


def test_refresh_422_is_retried_once_with_the_peers_min_se_and_408_means_gone() -> None:
    timer = SessionTimer.negotiate(CFG, _invite("Session-Expires: 100;refresher=uas\r\n"))
    assert isinstance(timer, SessionTimer)
    timer.start(0.0)
    timer.due(50.0)
    assert timer.refresh_answered(422, _response(422, "Min-SE: 300\r\n"), 51.0) == "retry"
    assert timer.interval == 300
    assert timer.refresh_answered(422, _response(422, "Min-SE: 400\r\n"), 52.0) == "failed"
    assert timer.refresh_answered(408, _response(408), 53.0) == "gone"


def test_peer_refresh_restarts_the_clock_and_can_be_refused() -> None:
    timer = SessionTimer.negotiate(CFG, _invite("Session-Expires: 100;refresher=uac\r\nSupported: timer\r\n"))
    assert isinstance(timer, SessionTimer)
    timer.start(0.0)
    assert timer.peer_refresh(_invite("Session-Expires: 200;refresher=uac\r\n"), 40.0) is None
    assert timer.deadline == 40.0 + 200 - 32
    refusal = timer.peer_refresh(_invite("Session-Expires: 10\r\n"), 41.0)
    assert isinstance(refusal, Refusal) and refusal.status == 422


def test_core_accepts_require_timer_only_when_it_supports_the_extension() -> None:
    """RFC 3261 8.2.2.3 with RFC 4028: ``Require: timer`` is fine once the core knows ``timer``."""
    data = bytes(_invite("Require: timer\r\nSession-Expires: 100\r\n"))
    plain = UserAgentServer("127.0.0.1", 5070)
    out = plain.receive(data, ("127.0.0.1", 5061), 0.0)
    first = parse_message(out.datagrams[0].data)
    assert isinstance(first, Response) and first.status == 420
    timed = UserAgentServer("127.0.0.1", 5070, extensions=("timer",))
    assert timed.receive(data, ("127.0.0.1", 5061), 0.0).datagrams == []  # accepted: the TU's turn
    first = parse_message(timed.handle_timeout(0.1).datagrams[0].data)
    assert isinstance(first, Response) and first.status == 100
    assert "Supported" in dict(timed.server.capabilities())


# -- served, with sipp -------------------------------------------------------------------------
TIMED_SCRIPT = """\
initial state TALK;
state END;
transition "timeout" TALK - sessionTimeout / set($timed_out=yes) -> END;
transition "disappeared" TALK - remoteDisappeared / set($gone=#code) -> END;
transition "hangup" (TALK, END) - hangup / stop(false) -> END;
"""


def _timer_server(tmp_path: Path, script: str = TIMED_SCRIPT, **keys: str) -> SipServer:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "timed.dsm").write_text(script)
    settings = {"enable_session_timer": "yes", "session_expires": "4", "minimum_timer": "2", **keys}
    conf = tmp_path / "dsm.conf"
    conf.write_text(
        f"diag_path={scripts}/\nload_diags=timed\nregister_apps=timed\n"
        + "".join(f"{k}={v}\n" for k, v in settings.items())
    )
    return SipServer(scripts=None, config=str(conf))


def _invite_with(extra: str) -> str:
    return f"""\
  <send retrans="500" start_txn="invite">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{HEAD}      CSeq: 1 INVITE
{extra}      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite"/>
"""


def _answered_with(header: str, regexp: str) -> str:
    return f"""\
  <recv response="200" response_txn="invite" rrs="true">
    <action>
      <ereg regexp="{regexp}" search_in="hdr" header="{header}" check_it="true" assign_to="got"/>
    </action>
  </recv>
  <Reference variables="got"/>
"""


OUR_BYE = """\
  <send retrans="500" start_txn="bye">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" response_txn="bye"/>
"""
"""Our BYE after the server sent requests ([last_From:] would be the server's)."""



def test_K24_C_core_21_caller_refreshes_never_and_sessionTimeout_ends_the_call(sipp: str, tmp_path: Path) -> None:
    """refresher=uac and no refresh: after interval − interval/3 the script sees ``sessionTimeout``.

    The 200 carries ``Session-Expires: 3;refresher=uac`` and ``Require: timer``;
    the host's default (no ``#processed``) sends BYE and stops.
    """
    server = _timer_server(tmp_path)
    xml = scenario(
        "uac-refresher",
        _invite_with("      Session-Expires: 3;refresher=uac\n      Supported: timer\n"),
        _answered_with("Session-Expires:", "3;refresher=uac"),
        ACK_2XX,
        answer_request("BYE"),
    )
    try:
        started = time.monotonic()
        run_sipp(sipp, tmp_path, server.port, xml, "timed")
        (call,) = server.wait_ended(1)
        waited = time.monotonic() - started
    finally:
        server.stop()
    assert call["vars"]["timed_out"] == "yes"
    assert call["dialog"] == "disconnected"
    assert waited >= 1.9  # 3 - 1 s, on the loop's clock


def test_K28_we_refresh_with_update_and_the_call_stays_up(sipp: str, tmp_path: Path) -> None:
    """refresher=uas, peer allows UPDATE: an UPDATE with Session-Expires at half the interval (K-28)."""
    server = _timer_server(tmp_path)
    xml = scenario(
        "uas-refresher",
        _invite_with(
            "      Session-Expires: 2;refresher=uas\n      Supported: timer\n"
            "      Allow: INVITE, ACK, BYE, CANCEL, UPDATE\n"
        ),
        _answered_with("Session-Expires:", "2;refresher=uas"),
        ACK_2XX,
        answer_request("UPDATE", extra="      Session-Expires: 2;refresher=uas\n      Require: timer\n"),
        answer_request("UPDATE", extra="      Session-Expires: 2;refresher=uas\n      Require: timer\n"),
        OUR_BYE,
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "timed")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert "timed_out" not in call["vars"]
    assert call["state"] == "END"


def test_E151_refresh_answered_481_is_remoteDisappeared_then_bye(sipp: str, tmp_path: Path) -> None:
    """Our refresh gets ``481``: RemoteDisappeared with ``#code``; unless ``#processed``, BYE and stop."""
    server = _timer_server(tmp_path)
    gone = answer_request("UPDATE", "481 Call Leg Gone")
    xml = scenario(
        "peer-gone",
        _invite_with("      Session-Expires: 2;refresher=uas\n      Allow: INVITE, ACK, BYE, UPDATE\n"),
        recv(200, "invite", rrs="true"),
        ACK_2XX,
        gone,
        answer_request("BYE"),
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "timed")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["gone"] == "481"
    assert call["dialog"] == "disconnected"


def test_K26_served_invite_below_minimum_gets_422(tmp_path: Path) -> None:
    server = _timer_server(tmp_path)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            data = _request("INVITE", server.port, sock.getsockname()[1], user="timed", extra="Session-Expires: 1\r\n")
            sock.sendto(data, ("127.0.0.1", server.port))
            response = _final_response(sock)
    finally:
        server.stop()
    assert response.status == 422
    assert response.headers.get("Min-SE") == "2"


def test_K28_invalid_refresh_method_stops_the_server_from_starting(tmp_path: Path) -> None:
    """A bad ``session_refresh_method`` is a load error with file:line (deliberately stricter than K-24's log)."""
    with pytest.raises(ConfigError, match="session_refresh_method"):
        _timer_server(tmp_path, session_refresh_method="SOMETIMES")


# -- SipRequest for BYE and CANCEL (E-151, E-157) ------------------------------------------------
REQUEST_SCRIPT = """\
initial state TALK enter { set($enable_request_events=true) };
state END;
transition "seen" TALK - sipRequest / set($seen=#method) set(#processed=$keep) -> TALK;
transition "hangup" (TALK, END) - hangup / set($hung=yes) stop(false) -> END;
"""


def _request_server(tmp_path: Path, keep: str) -> SipServer:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "req.dsm").write_text(REQUEST_SCRIPT.replace("$keep", keep))
    return SipServer(scripts=scripts)


def test_E151_bye_is_a_sipRequest_first_then_answered_and_hangup(sipp: str, tmp_path: Path) -> None:
    server = _request_server(tmp_path, "false")
    xml = scenario(
        "bye-event",
        _invite_with(""),
        recv(200, "invite", rrs="true"),
        ACK_2XX,
        pause(200),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "req")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["seen"] == "BYE"
    assert call["vars"]["hung"] == "yes"


def test_E157_processed_bye_is_neither_answered_nor_a_hangup(tmp_path: Path) -> None:
    """``#processed=true`` on the BYE's SipRequest: the host sends no 200 and raises no Hangup."""
    server = _request_server(tmp_path, "true")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            local = sock.getsockname()[1]
            invite = _request("INVITE", server.port, local, user="req")
            sock.sendto(invite, ("127.0.0.1", server.port))
            ok = _final_response(sock)
            assert ok.status == 200
            tag = ok.to.tag
            call_id = ok.call_id
            ack = (
                invite.decode()
                .replace("INVITE sip:", "ACK sip:", 1)
                .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
                .replace("To: <sip:req@127.0.0.1>", f"To: <sip:req@127.0.0.1>;tag={tag}")
                .replace(";branch=z9hG4bK", ";branch=z9hG4bKack", 1)
            )
            sock.sendto(ack.encode(), ("127.0.0.1", server.port))
            bye = (
                ack.replace("ACK sip:", "BYE sip:", 1)
                .replace("CSeq: 1 ACK", "CSeq: 2 BYE")
                .replace(";branch=z9hG4bKack", ";branch=z9hG4bKbye", 1)
            )
            sock.sendto(bye.encode(), ("127.0.0.1", server.port))
            deadline = time.monotonic() + 1.0
            answered = []
            while time.monotonic() < deadline:
                sock.settimeout(0.1)
                try:
                    data, _ = sock.recvfrom(65535)
                except TimeoutError:
                    continue
                msg = parse_message(data)
                if isinstance(msg, Response) and msg.cseq.method == "BYE":
                    answered.append(msg.status)

        def seen() -> dict[str, str]:
            calls = server.server.sip_calls
            assert calls is not None
            (c,) = [c for c in calls.recent if c.call_id == call_id]
            assert c.session is not None
            return dict(c.session.vars)

        deadline = time.monotonic() + LIMIT
        while server.on_loop(seen).get("seen") != "BYE" and time.monotonic() < deadline:
            time.sleep(0.05)
        got = server.on_loop(seen)
    finally:
        server.stop()
    assert answered == []
    assert got["seen"] == "BYE"
    assert "hung" not in got


# -- mod_dlg over SIP: early media and the script's own answer (M-dlg-1, M-dlg-3, E-51) -------------
EARLY_SCRIPT = """\
import(mod_dlg);
initial state START;
state RINGING enter { setTimer(1, 1) };
state TALK;
state END;
transition "invite" START - invite / dlg.acceptInvite(183, Session Progress); append($order, _after) -> RINGING;
transition "early media" START - early / set($order=early) -> START;
transition "answer" RINGING - timer(#id == 1) / dlg.acceptInvite(200, OK) -> TALK;
transition "started" RINGING - sessionStart / set($started=yes) -> RINGING;
transition "hangup" (START, RINGING, TALK, END) - hangup / stop(false) -> END;
"""


def test_M_dlg_3_early_media_183_then_200_from_the_script(sipp: str, tmp_path: Path) -> None:
    """``dlg.acceptInvite(183)`` in ``invite``: 183 with SDP, EarlySession nested (E-51), RTP flows; later 200."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "early.dsm").write_text(EARLY_SCRIPT)
    server = SipServer(scripts=scripts)
    early = """\
  <recv response="183" response_txn="invite">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP 0" search_in="body" check_it="true" assign_to="sdp"/>
    </action>
  </recv>
  <Reference variables="sdp"/>
"""
    xml = scenario(
        "early-media",
        _invite_with(""),
        early,
        recv(200, "invite", rrs="true"),
        ACK_2XX,
        pause(300),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "early")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["order"] == "early_after"  # the early transition ran inside the action
    assert call["vars"]["started"] == "yes"
    assert call["state"] == "END"
    assert call["sent"] > 40  # RTP from the 183 on: about a second of early media, then the call


def test_M_dlg_1_script_rejects_the_invite_itself(sipp: str, tmp_path: Path) -> None:
    """``dlg.reply(486, Busy Here)`` in ``invite``: the host sends no 200 of its own (E-151)."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "busy.dsm").write_text(
        "import(mod_dlg);\ninitial state START;\nstate END;\n"
        'transition "busy" START - invite / dlg.reply(486, Busy Here); stop(false) -> END;\n'
    )
    xml = scenario("busy", _invite_with(""), recv(486, "invite"), ACK_FAILURE)
    server = SipServer(scripts=scripts)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "busy")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["dialog"] == "disconnected"


def test_E151_cancel_is_a_sipRequest_then_hangup(sipp: str, tmp_path: Path) -> None:
    """CANCEL while the script rings (``dlg.reply(180)``): SipRequest with ``#method == CANCEL``, then Hangup.

    The transaction layer has answered the CANCEL (200) and the INVITE (487)
    before the script hears of it (documented in docs/sip.md).
    """
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "ring.dsm").write_text(
        "import(mod_dlg);\n"
        "initial state START enter { set($enable_request_events=true) };\n"
        "state RINGING;\nstate END;\n"
        'transition "ring" START - invite / dlg.reply(180, Ringing) -> RINGING;\n'
        'transition "seen" RINGING - sipRequest / set($seen=#method) -> RINGING;\n'
        'transition "gone" RINGING - hangup / set($hung=yes) stop(false) -> END;\n'
    )
    xml = scenario("cancel-event", _invite_with(""), recv(180, "invite"), *CANCEL_INVITE)
    server = SipServer(scripts=scripts)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "ring")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["seen"] == "CANCEL"
    assert call["vars"]["hung"] == "yes"


def test_E151_sipReply_for_our_info_with_its_body_M_dlg_8(sipp: str, tmp_path: Path) -> None:
    """``dlg.info`` (M-dlg-12), the 200 comes back as SipReply with the ``reply`` object (M-dlg-8)."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "ping.dsm").write_text(
        "import(mod_dlg);\n"
        "initial state TALK enter { set($enable_reply_events=true) };\nstate END;\n"
        'transition "send" TALK - sessionStart / dlg.info(text/plain, ping) -> TALK;\n'
        'transition "reply" TALK - sipReply / set($code=#code); set($cseq=#cseq); '
        "dlg.getReplyBody(text/plain, body) -> TALK;\n"
        'transition "hangup" (TALK, END) - hangup / stop(false) -> END;\n'
    )
    pong = """\
  <recv request="INFO">
    <action>
      <ereg regexp="ping" search_in="body" check_it="true" assign_to="ping"/>
    </action>
  </recv>
  <Reference variables="ping"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Type: text/plain
      Content-Length: [len]

      pong
    ]]>
  </send>
"""
    xml = scenario("info-reply", _invite_with(""), recv(200, "invite", rrs="true"), ACK_2XX, pong, pause(200), OUR_BYE)
    server = SipServer(scripts=scripts)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "ping")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["code"] == "200"
    assert call["vars"]["body"].strip() == "pong"


def test_E157_script_answers_the_bye_itself_with_dlg_replyRequest(sipp: str, tmp_path: Path) -> None:
    """``#processed=true`` and ``dlg.replyRequest(200, OK)`` on the BYE: sipp gets the script's 200, no Hangup."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "own.dsm").write_text(
        "import(mod_dlg);\n"
        "initial state TALK enter { set($enable_request_events=true) };\nstate END;\n"
        'transition "bye" TALK - sipRequest; test(#method == BYE) / set(#processed=true); '
        "dlg.replyRequest(200, Bye Taken); set($took=yes); stop(false) -> END;\n"
        'transition "hangup" (TALK, END) - hangup / set($hung=yes); stop(false) -> END;\n'
    )
    xml = scenario(
        "own-bye",
        _invite_with(""),
        recv(200, "invite", rrs="true"),
        ACK_2XX,
        pause(200),
        in_dialog("BYE", 2),
        '  <recv response="200" response_txn="t2">\n    <action>\n'
        '      <ereg regexp="Bye Taken" search_in="msg" check_it="true" assign_to="taken"/>\n'
        '    </action>\n  </recv>\n  <Reference variables="taken"/>\n',
    )
    server = SipServer(scripts=scripts)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "own")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["took"] == "yes"
    assert "hung" not in call["vars"]
    assert call["dialog"] == "disconnected"
