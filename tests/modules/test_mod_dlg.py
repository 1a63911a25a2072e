"""mod_dlg (modules.md section 6): replies, acceptInvite, BYE/INFO/REFER, dialout, bodies.

Scripts run in the simulated call harness, whose :class:`SimCall` keeps the
replies and requests "sent"; a few table-style cases call the functions
directly with a stand-in session.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _fake import compile_every_name

from dsm.modules import mod_dlg
from dsm.modules.mod_dlg import convert_line_ends, module
from dsm.runtime.harness import Harness, TestCall
from dsm.runtime.harness.simcall import SDP_ANSWER

BYE = 'transition "bye" (S) - hangup / stop(false) -> S;\n'


def start(tmp_path: Path, text: str, name: str = "t", **call_args: Any) -> TestCall:
    """Run ``text`` as ``<name>.dsm`` and place one incoming call to it."""
    (tmp_path / f"{name}.dsm").write_text("import(mod_dlg);\n" + textwrap.dedent(text))
    h = Harness(scripts=str(tmp_path), prompts={"ring": 0.5, "hello": 0.5})
    return h.call(name, **call_args)


def codes(call: TestCall, request: str = "INVITE") -> list[int]:
    return [r.code for r in call.sent_replies if r.request == request]


# -- declaration -------------------------------------------------------------------------


def test_M_dlg_declares_15_actions_the_alias_2_conditions_and_the_invite_hook() -> None:
    """Section 2 table: 15 actions (+1 alias), 2 conditions, an invite hook."""
    assert set(module.actions) == {
        "dlg.reply",
        "dlg.replyRequest",
        "dlg.acceptInvite",
        "dlg.bye",
        "dlg.connectCalleeRelayed",
        "dlg.dialout",
        "dlg.getRequestBody",
        "dlg.getReplyBody",
        "dlg.getOtherId",
        "dlg.getRtpRelayMode",
        "dlg.refer",
        "dlg.info",
        "dlg.relayError",
        "dlg.relayReply",
        "dlg.addReplyBodyPart",
        "dlg.deleteReplyBodyPart",
    }
    assert set(module.conditions) == {"dlg.replyHasContentType", "dlg.requestHasContentType"}
    assert "on_invite" in module.hooks


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


def test_M_api_1_dsm_check_on_a_script_importing_mod_dlg_reports_nothing_unknown(tmp_path: Path) -> None:
    path = tmp_path / "ivr.dsm"
    path.write_text(
        "import(mod_dlg);\n"
        "initial state S;\n"
        'transition "inv" S - invite / dlg.reply(180, Ringing) -> S;\n'
        'transition "i" S - sipRequest; dlg.requestHasContentType(application/ISUP)'
        " / dlg.getRequestBody(application/ISUP, isup); set(#processed=true) -> S;\n"
        'transition "k" S - key / dlg.acceptInvite(); dlg.info(text/plain, hi); dlg.refer(sip:x@y, 60);'
        " dlg.bye() -> S;\n" + BYE
    )
    out = subprocess.run(
        [sys.executable, "-m", "dsm.cli", "check", str(path)],
        capture_output=True,
        text=True, errors="replace",
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "unknown" not in (out.stdout + out.stderr).lower()


# -- line ends -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "block"),
    [
        ("", ""),
        ("P-A: 1", "P-A: 1\r\n"),
        ("P-A: 1\\r\\nP-B: 2", "P-A: 1\r\nP-B: 2\r\n"),
        ("P-A: 1\\r\\n", "P-A: 1\r\n"),
        ("\\r\\n", "\r\n"),
    ],
)
def test_section6_reply_header_line_end_conversion(text: str, block: str) -> None:
    """Literal ``\\r\\n`` → CRLF; text after the last one gets a CRLF of its own."""
    assert convert_line_ends(text) == block


def test_M_dlg_1_reply_hdrs_are_converted_and_appended(tmp_path: Path) -> None:
    """``set($dlg.reply.hdrs="P-A: 1\\r\\nP-B: 2")`` yields two header lines."""
    call = start(
        tmp_path,
        r"""
        initial state S enter { set($dlg.reply.hdrs="P-A: 1\r\nP-B: 2") };
        transition "inv" S - invite / dlg.reply(180, Ringing) -> S;
        """
        + BYE,
    )
    reply = call.sent_replies[0]
    assert (reply.code, reply.reason) == (180, "Ringing")
    assert reply.hdrs == "P-A: 1\r\nP-B: 2\r\n"
    assert reply.headers == {"P-A": "1", "P-B": "2"}
    assert reply.body == ""


# -- dlg.reply (M-dlg-1) -----------------------------------------------------------------


def test_M_dlg_1_E151_reply_180_in_invite_means_no_automatic_200(tmp_path: Path) -> None:
    """E-151: the script changed the dialog status during ``invite``, so the host does nothing."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.reply(180, Ringing) -> RINGING;
        state RINGING;
        transition "ss" RINGING - sessionStart / set($started=yes) -> RINGING;
        transition "bye" RINGING - hangup / stop(false) -> RINGING;
        """,
    )
    assert codes(call) == [180]
    assert call.sim.dialog == "early"
    assert "started" not in call.vars
    assert call.vars["errno"] == ""
    assert call.state == "RINGING"


def test_M_dlg_1_E151_reply_100_moves_the_dialog_so_the_host_does_not_answer(tmp_path: Path) -> None:
    """A 100 sent by the script moves the dialog to Proceeding: no automatic 200 (as the reference)."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.reply(100, trytry) -> S;
        transition "ss" S - sessionStart / set($started=yes) -> S;
        """
        + BYE,
    )
    assert codes(call) == [100]
    assert call.sim.dialog == "proceeding"
    assert "started" not in call.vars


def test_E151_stop_in_invite_without_reply_answers_200_then_byes(tmp_path: Path) -> None:
    """``stop(false)`` in ``invite`` with no reply: the host's 200 still goes out, then BYE."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / stop(false) -> S;
        """,
    )
    assert codes(call) == [200]
    assert [r.method for r in call.sent_requests] == ["BYE"]
    assert call.sim.dialog == "disconnected"


def test_M_dlg_1_final_reply_in_invite_refuses_the_call(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.reply(486, Busy Here); stop(false) -> S;
        """
        + BYE,
    )
    assert codes(call) == [486]
    assert call.sim.dialog == "disconnected"
    assert call.terminated
    assert call.sent_requests == []  # no BYE for a refused call


def test_M_dlg_1_bad_code_is_errno_arg_and_strerror_untouched(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / set($strerror=before); dlg.reply(18x, Ringing) -> S;
        """
        + BYE,
    )
    assert call.vars["errno"] == "arg"
    assert call.vars["strerror"] == "before"
    assert codes(call) == [200]  # nothing sent, so the host answered


def test_M_dlg_1_send_failure_after_the_final_reply_is_errno_general(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "k" S - key / dlg.reply(180, Ringing) -> S;
        """
        + BYE,
    )
    call.press("1")
    assert call.vars["errno"] == "general"
    assert call.vars["strerror"] == "error sending reply"
    assert codes(call) == [200]


def test_M_dlg_1_success_clears_errno(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / set($errno=arg); dlg.reply(180, Ringing) -> S;
        """
        + BYE,
    )
    assert call.vars["errno"] == ""


# -- dlg.acceptInvite (M-dlg-3) ----------------------------------------------------------

EARLY_SCRIPT = """
initial state S;
transition "inv" S - invite -> RINGING;
state RINGING enter { set($order=a); dlg.acceptInvite(183, Session Progress); append($order, c) };
transition "early" RINGING - early / append($order, b); playPrompt(ring) -> EARLY;
state EARLY;
transition "go" EARLY - key(#key == 1) -> ACCEPT;
state ACCEPT enter { dlg.acceptInvite() };
transition "started" ACCEPT - sessionStart / set($started=yes) -> CONNECTED;
state CONNECTED;
transition "bye" (RINGING, EARLY, ACCEPT, CONNECTED) - hangup / stop(false) -> CONNECTED;
"""


def test_M_dlg_3_E51_acceptInvite_183_raises_EarlySession_nested(tmp_path: Path) -> None:
    """E-51: EarlySession runs inside the action, before the rest of the enter list."""
    call = start(tmp_path, EARLY_SCRIPT)
    assert call.vars["order"] == "abc"
    assert call.state == "EARLY"
    assert codes(call) == [183]  # the host sent no 200 of its own (E-151)
    first = call.sent_replies[0]
    assert first.reason == "Session Progress"
    assert first.has_sdp and first.body == SDP_ANSWER
    assert call.sim.dialog == "early"


def test_M_dlg_3_early_session_connects_media_and_the_prompt_is_heard(tmp_path: Path) -> None:
    call = start(tmp_path, EARLY_SCRIPT)
    call.advance(1.0)
    assert [(p.name, p.start, p.end) for p in call.played] == [("ring", 0.0, 0.5)]
    assert abs(call.heard()).max() > 0


def test_M_dlg_3_connect_early_session_0_keeps_media_off(tmp_path: Path) -> None:
    call = start(tmp_path, EARLY_SCRIPT.replace("initial state S;", "initial state S enter { set($connect_early_session=0) };"))
    assert call.state == "EARLY"
    call.advance(1.0)
    assert call.played == []


def test_M_dlg_3_later_acceptInvite_sends_200_with_sdp_and_raises_SessionStart(tmp_path: Path) -> None:
    call = start(tmp_path, EARLY_SCRIPT)
    call.press("1")
    assert codes(call) == [183, 200]
    assert call.sent_replies[1].has_sdp and call.sent_replies[1].reason == "OK"
    assert call.vars["started"] == "yes"
    assert call.state == "CONNECTED"
    assert call.sim.dialog == "connected"


def test_M_dlg_3_E51_outer_transition_target_wins_over_the_nested_one(tmp_path: Path) -> None:
    """E-51 step 7: a nested SessionStart during transition actions; the outer target becomes current."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.reply(180, Ringing) -> S;
        transition "k" S - key / dlg.acceptInvite(200, OK) -> OUTER;
        transition "ss" S - sessionStart / set($nested=yes) -> NESTED;
        state OUTER;
        state NESTED;
        transition "bye" (S, OUTER, NESTED) - hangup / stop(false) -> S;
        """,
    )
    call.press("1")
    assert call.vars["nested"] == "yes"
    assert call.state == "OUTER"
    assert codes(call) == [180, 200]


def test_M_dlg_3_bad_code_quirk_literal_percent_s_and_newline(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.acceptInvite(abc, Nope) -> S;
        """
        + BYE,
    )
    assert call.vars["errno"] == "arg"
    assert call.vars["strerror"] == "decoding reply code 'abc%s'\n"
    assert codes(call) == [200]


def test_M_dlg_3_negotiation_failure_stops_and_refuses_with_the_failure(tmp_path: Path) -> None:
    """Failure: session stopped, INVITE answered with the error's code, errno dlg."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.reply(180, Ringing) -> S;
        transition "k" S - key / dlg.acceptInvite(); set($after=$errno) -> S;
        """
        + BYE,
    )
    call.sim.sdp_refusal = (488, "Not Acceptable Here")
    call.press("1")
    assert codes(call) == [180, 488]
    assert call.vars["errno"] == "dlg"
    assert call.vars["strerror"] == "Error accepting call: 488 Not Acceptable Here"
    assert call.vars["after"] == "dlg"
    assert call.terminated


def test_M_dlg_3_accept_after_the_final_reply_fails_with_500(tmp_path: Path) -> None:
    """The host already sent 200: nothing can be sent, refusing fails too (ignored)."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "k" S - key / dlg.acceptInvite() -> S;
        """
        + BYE,
    )
    call.press("1")
    assert codes(call) == [200]
    assert call.vars["errno"] == "dlg"
    assert call.vars["strerror"] == "Error accepting call: 500 could not send response"
    assert call.terminated


def test_M_dlg_3_quirk_success_does_not_clear_errno(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / set($errno=arg); dlg.acceptInvite() -> S;
        """
        + BYE,
    )
    assert codes(call) == [200]
    assert call.sent_replies[0].has_sdp
    assert call.vars["errno"] == "arg"


def test_M_dlg_3_acceptInvite_200_in_invite_raises_SessionStart_once(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.acceptInvite() -> S;
        transition "ss" S - sessionStart / append($ss, x); playPrompt(hello) -> S;
        """
        + BYE,
    )
    assert codes(call) == [200]
    assert call.vars["ss"] == "x"
    call.advance(1.0)
    assert [p.name for p in call.played] == ["hello"]


# -- dlg.replyRequest (M-dlg-2) ------------------------------------------------------------

REQUEST_SCRIPT = """
initial state S enter { set($enable_request_events=true) };
transition "info" S - sipRequest(#method == INFO) / set($dlg.reply.hdrs="X-Seen: 1"); dlg.replyRequest(202, Accepted); set($e=$errno); set(#processed=$proc) -> S;
transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
"""


def test_M_dlg_2_E157_replyRequest_with_processed_true(tmp_path: Path) -> None:
    """The script answers the INFO and sets ``#processed=true``: the host does not reply."""
    call = start(tmp_path, REQUEST_SCRIPT + BYE)
    call.vars["proc"] = "true"
    call.send_request("INFO", {"Content-Type": "text/plain"}, "hi")
    info = [r for r in call.sent_replies if r.request == "INFO"]
    assert [(r.code, r.reason) for r in info] == [(202, "Accepted")]
    assert info[0].hdrs == "X-Seen: 1\r\n"
    assert call.vars["e"] == ""


def test_M_dlg_2_without_processed_the_host_reply_finds_the_request_answered(tmp_path: Path) -> None:
    call = start(tmp_path, REQUEST_SCRIPT + BYE)
    call.send_request("INFO")
    assert codes(call, "INFO") == [202]
    assert "not sent: already answered" in call.transcript()


def test_M_dlg_2_second_final_reply_is_errno_general(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S enter { set($enable_request_events=true) };
        transition "info" S - sipRequest / dlg.replyRequest(200, OK); dlg.replyRequest(500, Again); set(#processed=true) -> S;
        """
        + BYE,
    )
    call.send_request("INFO")
    assert codes(call, "INFO") == [200]
    assert call.vars["errno"] == "general"
    assert call.vars["strerror"] == "error sending reply"


def test_M_dlg_2_quirk_the_invite_is_not_a_wrapped_request(tmp_path: Path) -> None:
    """The ``request`` of the ``invite`` event is the bare INVITE: ``{type: dlg, cause: no request}``."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.replyRequest(180, Ringing) -> S;
        transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
        """
        + BYE,
    )
    assert (call.vars["ex"], call.vars["cause"]) == ("dlg", "no request")
    assert codes(call) == [200]


def test_M_dlg_2_bad_code_is_errno_arg(tmp_path: Path) -> None:
    call = start(tmp_path, REQUEST_SCRIPT.replace("202, Accepted", "-1, x") + BYE)
    call.send_request("INFO")
    assert call.vars["e"] == "arg"
    assert codes(call, "INFO") == [200]


# -- bodies of requests (M-dlg-7, M-dlg-17) ----------------------------------------------------

MULTIPART = (
    "--XyZ\r\n"
    "Content-Type: application/sdp\r\n\r\n"
    "v=0\r\n"
    "--XyZ\r\n"
    "Content-Type: application/ISUP;version=itu-t92+\r\n\r\n"
    "isup\0payload\r\n"
    "--XyZ--\r\n"
)


def test_M_dlg_17_M_dlg_7_spec_example_isup_part_of_a_multipart_info(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S enter { set($enable_request_events=true) };
        transition "isup" S - sipRequest; dlg.requestHasContentType(application/ISUP) / dlg.getRequestBody(application/ISUP, isup); dlg.getRequestBody(application/sdp, sdp); set($isup_seen=yes); set(#processed=true) -> S;
        transition "other" S - sipRequest / set($other=yes) -> S;
        """
        + BYE,
    )
    call.send_request("INFO", {"Content-Type": "multipart/mixed;boundary=XyZ"}, MULTIPART)
    assert call.vars["isup_seen"] == "yes"
    assert call.vars["isup"] == "isup"  # up to the first NUL
    assert call.vars["sdp"] == "v=0"
    call.send_request("INFO", {"Content-Type": "text/plain"}, "hello")
    assert call.vars["other"] == "yes"


def test_M_dlg_7_missing_part_deletes_the_variable_and_leaves_errno(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S enter { set($enable_request_events=true) };
        transition "r" S - sipRequest / set($x=old); set($errno=arg); dlg.getRequestBody(text/plain, whole); dlg.getRequestBody(image/png, x); set(#processed=true) -> S;
        """
        + BYE,
    )
    call.send_request("INFO", {"Content-Type": "text/plain"}, "hello")
    assert call.vars["whole"] == "hello"
    assert "x" not in call.vars
    assert call.vars["errno"] == "arg"


def test_M_dlg_7_M_dlg_17_without_a_wrapped_request(tmp_path: Path) -> None:
    """Outside sipRequest: the action raises ``{dlg, no request}``, the condition is false."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "c" S - key(#key == 1); dlg.requestHasContentType(text/plain) / set($matched=yes) -> S;
        transition "a" S - key(#key == 2) / dlg.getRequestBody(text/plain, b) -> S;
        transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
        """
        + BYE,
    )
    call.press("1")
    assert "matched" not in call.vars
    assert "dlg.requestHasContentType: no request" in call.transcript()
    call.press("2")
    assert (call.vars["ex"], call.vars["cause"]) == ("dlg", "no request")


# -- requests sent (M-dlg-4, 11, 12) ----------------------------------------------------------


def test_M_dlg_4_bye_sends_BYE_with_converted_headers_and_does_not_stop(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        r"""
        initial state S;
        transition "k" S - key / set($errno=x); dlg.bye("X-Reason: done\r\nX-B: 2") -> S;
        """
        + BYE,
    )
    call.press("1")
    [bye] = call.sent_requests
    assert bye.method == "BYE"
    assert bye.hdrs == "X-Reason: done\r\nX-B: 2\r\n"
    assert call.vars["errno"] == ""
    assert not call.terminated
    call.hangup()
    assert call.terminated
    assert [r.method for r in call.sent_requests] == ["BYE"]  # no second BYE at the end


def test_M_dlg_4_bye_without_dialog_is_errno_general(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "k" S - key / dlg.bye() -> S;
        """
        + BYE,
    )
    call.press("1")
    call.press("1")  # the first BYE ended the dialog
    assert call.vars["errno"] == "general"
    assert call.vars["strerror"] == "Error sending bye"
    assert len(call.sent_requests) == 1


def test_M_dlg_11_refer_with_and_without_expires(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "k1" S - key(#key == 1) / dlg.refer(sip:bob@example.net, 60) -> S;
        transition "k2" S - key(#key == 2) / dlg.refer(sip:carol@example.net) -> S;
        transition "k3" S - key(#key == 3) / dlg.refer(sip:x@y, soon) -> S;
        transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
        """
        + BYE,
    )
    call.press("12")
    r1, r2 = call.sent_requests
    assert r1.method == "REFER" and r1.headers == {"Refer-To": "sip:bob@example.net", "Expires": "60"}
    assert r2.headers == {"Refer-To": "sip:carol@example.net"}
    assert call.vars["errno"] == ""
    call.press("3")
    assert (call.vars["ex"], call.vars["cause"]) == ("param", "expires soon not valid")
    assert len(call.sent_requests) == 2


def test_M_dlg_11_refer_failure_is_errno_dlg(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.refer(sip:bob@example.net); set($e=$errno); set($s=$strerror) -> S;
        """
        + BYE,
    )
    assert (call.vars["e"], call.vars["s"]) == ("dlg", "sending REFER failed")


def test_M_dlg_12_info_with_body_and_without_type(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        r"""
        initial state S;
        transition "k1" S - key(#key == 1) / dlg.info(application/dtmf-relay, "Signal=5\r\nDuration=160") -> S;
        transition "k2" S - key(#key == 2) / dlg.info("", ignored) -> S;
        transition "k3" S - key(#key == 3) / dlg.info(multipart/mixed, "no boundary") -> S;
        transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
        """
        + BYE,
    )
    call.press("12")
    r1, r2 = call.sent_requests
    assert r1.method == "INFO"
    assert r1.headers == {"Content-Type": "application/dtmf-relay"}
    assert r1.body == "Signal=5\r\nDuration=160"
    assert (r2.headers, r2.body) == ({}, "")
    assert call.vars["errno"] == ""
    call.press("3")
    assert (call.vars["ex"], call.vars["cause"]) == ("param", "parsing of INFO body failed")


def test_M_dlg_12_info_failure_is_errno_dlg(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / dlg.info(text/plain, x); set($e=$errno); set($s=$strerror) -> S;
        """
        + BYE,
    )
    assert (call.vars["e"], call.vars["s"]) == ("dlg", "sending INFO failed")


# -- B2B (M-dlg-5, 9, 10, 13) -------------------------------------------------------------------


def test_M_dlg_5_connectCalleeRelayed_is_always_relayed(tmp_path: Path) -> None:
    """M-dlg-5; then M-dlg-9 (``strip$`` name, empty before the other leg exists) and M-dlg-10."""
    call = start(
        tmp_path,
        """
        initial state S;
        transition "inv" S - invite / set($b2b_relayed_invite=false); dlg.getOtherId(before); dlg.connectCalleeRelayed(<sip:bob@b.net>, sip:bob@b.net) -> S;
        transition "k" S - key / dlg.getOtherId($after); dlg.getRtpRelayMode(mode) -> S;
        """
        + BYE,
    )
    assert call.callee is not None and call.callee.request_uri == "sip:bob@b.net"
    assert call.sim.b2b_relayed_invite is True
    assert call.vars["before"] == ""
    call.press("1")
    assert call.vars["after"] == "callee-1"
    assert call.vars["mode"] == "RTP_Direct"


def test_M_dlg_10_unknown_relay_mode(tmp_path: Path) -> None:
    call = start(tmp_path, 'initial state S;\ntransition "k" S - key / dlg.getRtpRelayMode(m) -> S;\n' + BYE)
    call.sim.rtp_relay_mode = "whatever"
    call.press("1")
    assert call.vars["m"] == "Unknown"


def test_M_dlg_13_relayError_answers_the_request_locally(tmp_path: Path) -> None:
    call = start(
        tmp_path,
        """
        initial state S enter { set($enable_request_events=true) };
        transition "r" S - sipRequest / dlg.relayReply(403, Forbidden); set(#processed=true) -> S;
        transition "k" S - key / dlg.relayError(500, x) -> S;
        transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
        """
        + BYE,
    )
    call.send_request("REFER")
    assert [(r.code, r.reason) for r in call.sent_replies if r.request == "REFER"] == [(403, "Forbidden")]
    call.press("1")
    assert (call.vars["ex"], call.vars["cause"]) == ("dlg", "no request")


# -- system sessions ---------------------------------------------------------------------------


def test_M_dlg_system_session_behaviour(tmp_path: Path) -> None:
    """Sys: no last request (general), no dialog (bye general, info/refer dlg), no B2B (nothing)."""
    (tmp_path / "sys.dsm").write_text(
        textwrap.dedent(
            """
            import(mod_dlg);
            initial state S enter {
              dlg.reply(200, OK); set($r_e=$errno); set($r_s=$strerror);
              dlg.acceptInvite(); set($a_e=$errno); set($a_s=$strerror);
              dlg.bye(); set($b_e=$errno); set($b_s=$strerror);
              dlg.info(text/plain, x); set($i_e=$errno);
              dlg.refer(sip:x@y); set($f_e=$errno);
              dlg.getOtherId(other); dlg.getRtpRelayMode(mode);
              dlg.replyRequest(200, OK);
            };
            transition "ex" S - exception / set($ex=#type); set($cause=#cause) -> S;
            """
        )
    )
    h = Harness(scripts=str(tmp_path))
    s = h.call_system("sys")
    v = s.vars
    assert (v["r_e"], v["r_s"]) == ("general", "no last request to reply")
    assert (v["a_e"], v["a_s"]) == ("general", "no last request to reply")
    assert (v["b_e"], v["b_s"]) == ("general", "Error sending bye")
    assert v["i_e"] == "dlg" and v["f_e"] == "dlg"
    assert "other" not in v and "mode" not in v
    assert (v["ex"], v["cause"]) == ("dlg", "no request")


def test_M_dlg_5_in_a_system_session_is_core_not_implemented(tmp_path: Path) -> None:
    (tmp_path / "sys.dsm").write_text(
        "import(mod_dlg);\n"
        "initial state S enter { dlg.connectCalleeRelayed(a, sip:a@b) };\n"
        'transition "ex" S - exception / set($cause=#cause) -> S;\n'
    )
    s = Harness(scripts=str(tmp_path)).call_system("sys")
    assert s.vars["cause"] == "not implemented in SystemDSM"


# -- the invite hook ------------------------------------------------------------------------------


def test_M_api_7_invite_hook_keeps_the_invite_and_never_vetoes() -> None:
    class Session:
        pass

    session, request = Session(), object()
    assert mod_dlg.last_request(session) is None
    assert mod_dlg.on_invite(request, session) is True
    assert mod_dlg.last_request(session) is request
