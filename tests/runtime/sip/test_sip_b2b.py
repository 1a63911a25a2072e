"""B2B calls over SIP (``actions.md`` 9, A-core-53 … 62, C-core-9/16/17): sipp calls, sipp answers.

sipp as the caller (UAC) calls ``dsm serve --sip``; the script connects it
with ``B2B.connectCallee`` to a second sipp playing the callee (UAS, started
first on a free port, see ``test_sip_dialout.Uas``).  The scenarios check the
wire (sipp's ``ereg check_it`` fails a run whose message lacks the text):
the B-leg INVITE's R-URI, From, header block and the caller's SDP, the
re-INVITE to the caller with the callee's SDP, BYE and CANCEL crossing
between the legs, relayed replies; the script's view is read from its
variables afterwards.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sip_rig import LIMIT
from test_sip_dialout import RESPONSE_HEAD, TERMINATED, Uas, recv, reply
from test_sip_serve import (
    ACK_2XX,
    ACK_FAILURE,
    CANCEL_INVITE,
    HEAD,
    INVITE,
    SipServer,
    free_media_ports,
    free_sip_port,
    pause,
    reply_to_last,
    run_sipp,
)

from dsm.runtime.media.g711 import ulaw_encode
from dsm.runtime.sip.b2b import OtherLeg
from dsm.runtime.sip.transaction import TimerSettings

# -- the A-leg script ---------------------------------------------------------------------------
B2B_SCRIPT = """\
initial state CALLING enter {{
  {setup}
  set($b2b_local_party="<sip:ivr@127.0.0.1>");
  B2B.addHeader("X-Route: 7");
  B2B.connectCallee("<sip:bob@127.0.0.1:{port}>", "sip:bob@127.0.0.1:{port};user=phone")
}};
transition "provisional" CALLING - B2B.otherReply; test(#code < 200) / append($provisional, #code) -> RINGING;
transition "answered at once" CALLING - B2B.otherReply; test(#code == 200) / set($answered=#code) -> CONNECTED;
transition "busy" CALLING - B2B.otherReply; test(#code > 299) / set($failed=#code); set($failed_reason=#reason); stop(true) -> END;
state RINGING;
transition "more provisional" RINGING - B2B.otherReply; test(#code < 200) / append($provisional, #code) -> RINGING;
transition "answered" RINGING - B2B.otherReply; test(#code == 200) / set($answered=#code); set($cmd=hello); B2B.relayEvent(cmd) -> CONNECTED;
transition "failed" RINGING - B2B.otherReply; test(#code > 299) / set($failed=#code); set($failed_reason=#reason); stop(true) -> END;
transition "caller gives up" RINGING - hangup / set($hangup=1); stop(false) -> END;
state CONNECTED;
transition "caller hangs up" CONNECTED - hangup / set($hangup=1); stop(false) -> END;
transition "callee hangs up" CONNECTED - B2B.otherBye / set($other_bye=1); set($other_bye_hdrs=#hdrs) -> END;
state END;
"""

RELAYED_SCRIPT = """\
initial state S;
transition "invite" S - invite / set($b2b_relayed_invite=true); B2B.connectCallee("<sip:bob@127.0.0.1:{port}>", "sip:bob@127.0.0.1:{port}") -> CALLING;
state CALLING;
transition "reply" CALLING - B2B.otherReply; test(#code < 200) / append($provisional, #code) -> CALLING;
transition "answered" CALLING - B2B.otherReply; test(#code == 200) / set($answered=#code) -> CONNECTED;
transition "failed" CALLING - B2B.otherReply; test(#code > 299) / set($failed=#code); stop(false) -> END;
state CONNECTED;
transition "caller hangs up" CONNECTED - hangup / set($hangup=1); stop(false) -> END;
state END;
"""


# -- the callee (sipp UAS) ------------------------------------------------------------------------
def _check(regexp: str, name: str, where: str = 'search_in="msg"') -> str:
    return f'<ereg regexp="{regexp}" {where} check_it="true" assign_to="{name}"/>'


def b_invite(ruri_tail: str = ";user=phone", header: str = "X-Route: 7", from_: str = "ivr@127.0.0.1") -> str:
    checks = [
        _check(f"^INVITE sip:bob@127.0.0.1:[0-9]+{ruri_tail} SIP/2.0", "ruri"),
        _check(header, "route"),
        _check("o=sipp 53655765", "offer"),
        _check(from_, "from", 'search_in="hdr" header="From:"'),
        _check(".*", "caller", 'search_in="hdr" header="From:"'),
    ]
    body = "".join(f"      {c}\n" for c in checks)
    return f'  <recv request="INVITE" rrs="true">\n    <action>\n{body}    </action>\n  </recv>\n'


B_INVITE = b_invite()
RELAYED_B_INVITE = b_invite("", "Max-Forwards: 70", "sipp@127.0.0.1")
"""The B-leg INVITE: R-URI, header block, the caller's SDP offer, From = ``$b2b_local_party``."""

CALLEE_BYE = """\
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Contact: <sip:bob@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Why: done
      Content-Length: 0
    ]]>
  </send>
"""


def uas_scenario(name: str, *steps: str, variables: str = "ruri,route,offer,from,caller") -> str:
    refs = f'  <Reference variables="{variables}"/>\n'
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{"".join(steps)}{refs}</scenario>\n'


def answer_bye() -> str:
    return '  <recv request="BYE"/>\n' + reply_to_last()


def recv_cancel() -> str:
    return '  <recv request="CANCEL"/>\n' + reply_to_last() + TERMINATED + recv("ACK")


# -- the caller (sipp UAC) -------------------------------------------------------------------------
ANSWERED_TAG = """\
  <recv response="200" response_txn="invite" rrs="true" rtd="true">
    <action><ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/></action>
  </recv>
"""

REINVITE_WITH_CALLEE_SDP = f"""\
  <recv request="INVITE">
    <action>{_check("o=bob 1 1", "callee_sdp")}</action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK"/>
"""
"""The callee's SDP reaches the answered caller in a re-INVITE (the reference's ``reinviteCaller``)."""

CALLER_BYE = """\
  <send retrans="500" start_txn="bye">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>;tag=[$totag]
      Call-ID: [call_id]
      CSeq: 9 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" response_txn="bye"/>
"""
"""The caller's BYE after the server's re-INVITE (the last message's From/To are the server's)."""


def uac_scenario(name: str, *steps: str, refs: str = "x,totag") -> str:
    ref = f'  <Reference variables="{refs}"/>\n' if refs else ""
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{"".join(steps)}{ref}</scenario>\n'


def caller_reinvited_then_hung_up() -> str:
    """A caller that is answered, gets the callee's SDP by re-INVITE, then receives our BYE."""
    return uac_scenario(
        "caller",
        INVITE,
        ANSWERED_TAG,
        ACK_2XX,
        REINVITE_WITH_CALLEE_SDP,
        '  <recv request="BYE"/>\n',
        reply_to_last(),
        refs="x,totag,callee_sdp",
    )


# -- the rig ------------------------------------------------------------------------------------------
class B2BRig:
    def __init__(self, sipp: str, tmp_path: Path) -> None:
        self.sipp = sipp
        self.tmp_path = tmp_path
        self.uas: Uas | None = None
        self.server: SipServer | None = None

    def start(
        self, uas_xml: str, script: str = B2B_SCRIPT, setup: str = "", **server: Any
    ) -> SipServer:
        uas_dir = self.tmp_path / "uas"
        uas_dir.mkdir()
        self.uas = Uas(self.sipp, uas_dir, uas_xml)
        scripts = self.tmp_path / "scripts"
        scripts.mkdir()
        (scripts / "b2b.dsm").write_text(script.format(port=self.uas.port, setup=setup))
        self.server = SipServer(scripts=scripts, **server)
        return self.server

    def call(self, uac_xml: str) -> dict[str, str]:
        """Run the caller to the end, then the callee; the A leg's variables once it ended."""
        assert self.server is not None and self.uas is not None
        uac_dir = self.tmp_path / "uac"
        uac_dir.mkdir()
        run_sipp(self.sipp, uac_dir, self.server.port, uac_xml, "b2b")
        self.uas.finish()
        (call,) = self.server.wait_ended(1)
        return dict(call["vars"])

    def close(self) -> None:
        if self.uas is not None:
            self.uas.close()
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def rig(sipp: str, tmp_path: Path) -> Iterator[B2BRig]:
    r = B2BRig(sipp, tmp_path)
    try:
        yield r
    finally:
        r.close()


def _legs(server: SipServer) -> list[OtherLeg]:
    calls = server.server.sip_calls
    assert calls is not None
    return server.on_loop(lambda: list(calls.legs.values()))


# -- the tests --------------------------------------------------------------------------------------
def test_A_core_53_C_core_16_connect_ring_answer_reinvite_caller_bye_crosses(rig: B2BRig) -> None:
    """INVITE to B with the header block and the caller's SDP; 180/200 as B2B.otherReply; B's SDP
    reaches the answered caller in a re-INVITE; the caller's BYE goes on to B (A-core-57, 61)."""
    rig.start(
        uas_scenario(
            "callee-answers",
            B_INVITE,
            reply(180, "Ringing"),
            pause(200),
            reply(200, "OK", sdp=True),
            recv("ACK"),
            answer_bye(),
        )
    )
    caller = uac_scenario(
        "caller",
        INVITE,
        ANSWERED_TAG,
        ACK_2XX,
        REINVITE_WITH_CALLEE_SDP,
        pause(300),
        CALLER_BYE,
        refs="x,totag,callee_sdp",
    )
    v = rig.call(caller)
    assert v["provisional"] == "180"
    assert v["answered"] == "200"
    assert v["hangup"] == "1"
    assert rig.server is not None and _legs(rig.server) == []


def test_C_core_17_callee_hangs_up_bye_reaches_the_caller(rig: B2BRig) -> None:
    """The callee's BYE: 200 to it, B2B.otherBye with #hdrs, then BYE to the caller and the session ends."""
    rig.start(
        uas_scenario(
            "callee-hangs-up",
            B_INVITE,
            reply(200, "OK", sdp=True),
            recv("ACK"),
            pause(500),
            CALLEE_BYE,
            recv("200"),
        )
    )
    caller = caller_reinvited_then_hung_up()
    v = rig.call(caller)
    assert v.get("other_bye") == "1", v
    assert "X-Why: done" in v["other_bye_hdrs"]
    assert "hangup" not in v


def test_A_core_53_callee_busy_486_is_reported_and_the_script_ends_the_call(rig: B2BRig) -> None:
    """A 486 from B arrives as B2B.otherReply #code 486; the A leg stays until the script's stop(true)."""
    rig.start(
        uas_scenario("busy", B_INVITE, reply(486, "Busy Here"), recv("ACK"))
    )
    caller = uac_scenario(
        "caller", INVITE, ANSWERED_TAG, ACK_2XX, '  <recv request="BYE"/>\n', reply_to_last()
    )
    v = rig.call(caller)
    assert (v["failed"], v["failed_reason"]) == ("486", "Busy Here")


def test_A_core_53_callee_never_answers_408_is_reported(rig: B2BRig) -> None:
    """No reply at all (Timer B, shortened with T1 = 50 ms): B2B.otherReply #code 408 Request Timeout."""
    rig.start(
        uas_scenario("silent", B_INVITE, pause(4500)), sip_timers=TimerSettings(t1=0.05)
    )
    caller = uac_scenario(
        "caller", INVITE, ANSWERED_TAG, ACK_2XX, '  <recv request="BYE"/>\n', reply_to_last()
    )
    v = rig.call(caller)
    assert (v["failed"], v["failed_reason"]) == ("408", "Request Timeout")


def test_A_core_56_early_media_relay_reinvites_the_caller_with_the_183_sdp(rig: B2BRig) -> None:
    """enableEarlyMediaRelay(true): B's 183 with SDP reaches the answered caller as a re-INVITE."""
    rig.start(
        uas_scenario(
            "early-media",
            B_INVITE,
            reply(183, "Session Progress", sdp=True),
            pause(1500),
            reply(486, "Busy Here"),
            recv("ACK"),
        ),
        setup="B2B.enableEarlyMediaRelay(true);",
    )
    caller = caller_reinvited_then_hung_up()
    v = rig.call(caller)
    assert v["provisional"] == "183"
    assert v["failed"] == "486"


def test_A_core_53_caller_hangs_up_while_callee_rings_cancel_crosses(rig: B2BRig) -> None:
    """The caller's BYE while B rings: B gets CANCEL (200, 487, ACK), the script sees Hangup."""
    rig.start(uas_scenario("ring-cancel", B_INVITE, reply(180, "Ringing"), recv_cancel()))
    caller = uac_scenario("caller", INVITE, ANSWERED_TAG, ACK_2XX, pause(500), CALLER_BYE)
    v = rig.call(caller)
    assert v["provisional"] == "180"
    assert v["hangup"] == "1"


def test_A_core_53_relayed_invite_passes_replies_through_to_the_caller(rig: B2BRig) -> None:
    """``$b2b_relayed_invite=true``: no 200 of our own; B's 180 and 200 (with its SDP) reach the caller."""
    rig.start(
        uas_scenario(
            "relayed",
            RELAYED_B_INVITE,
            reply(180, "Ringing"),
            pause(200),
            reply(200, "OK", sdp=True),
            recv("ACK"),
            answer_bye(),
        ),
        script=RELAYED_SCRIPT,
    )
    relayed_ok = f"""\
  <recv response="180" response_txn="invite"/>
  <recv response="200" response_txn="invite" rrs="true" rtd="true">
    <action>{_check("o=bob 1 1", "callee_sdp")}<ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/></action>
  </recv>
"""
    caller = uac_scenario(
        "caller", INVITE, relayed_ok, ACK_2XX, pause(300), CALLER_BYE, refs="x,totag,callee_sdp"
    )
    v = rig.call(caller)
    assert v["provisional"] == "180"
    assert v["answered"] == "200"
    assert v["hangup"] == "1"


def test_A_core_53_relayed_invite_failure_reaches_the_caller(rig: B2BRig) -> None:
    """Relayed mode: B's 404 goes to the caller's INVITE and to the script as #code 404."""
    rig.start(
        uas_scenario("relayed-404", RELAYED_B_INVITE, reply(404, "Not Found"), recv("ACK")),
        script=RELAYED_SCRIPT,
    )
    failed = '  <recv response="404" response_txn="invite"/>\n' + ACK_FAILURE
    v = rig.call(uac_scenario("caller", INVITE, failed, refs=""))
    assert v["failed"] == "404"



# -- relay-only, relayEvent, terminateOtherLeg, sendReinvite ------------------------------------------
CONTROL_SCRIPT = """\
initial state CALLING enter {{
  B2B.connectCallee("<sip:bob@127.0.0.1:{port}>", "sip:bob@127.0.0.1:{port}")
}};
transition "answered" CALLING - B2B.otherReply; test(#code == 200) / set($cmd=hello); B2B.relayEvent(cmd); setTimer(1, 2) -> CONNECTED;
transition "not answered" CALLING - B2B.otherReply; test(#code > 299) / stop(true) -> END;
state CONNECTED;
transition "back to the IVR" CONNECTED - timer(#id == 1) / B2B.terminateOtherLeg; B2B.setRelayOnly(false); B2B.sendReinvite(true, "X-Back: yes") -> IVR;
transition "caller hangs up early" CONNECTED - hangup / stop(false) -> END;
state IVR;
transition "caller hangs up" IVR - hangup / set($hangup=1); stop(false) -> END;
state END;
"""


def caller_request(method: str, cseq: int, body: str = "", content_type: str = "") -> str:
    """A request of the caller after the server's re-INVITE (explicit From/To, as CALLER_BYE)."""
    ctype = f"      Content-Type: {content_type}\n" if content_type else ""
    text = "\n".join(f"      {line}" for line in body.splitlines())
    return f"""\
  <send retrans="500" start_txn="t{cseq}">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>;tag=[$totag]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
{ctype}      Content-Length: {"[len]" if body else "0"}

{text}
    ]]>
  </send>
"""


OUR_OFFER = REINVITE_WITH_CALLEE_SDP.replace(
    _check("o=bob 1 1", "callee_sdp"),
    _check("X-Back: yes", "back") + _check("o=- [0-9]+ 1 IN IP4 127.0.0.1", "ours"),
)
"""``B2B.sendReinvite(true, X-Back: yes)``: our own offer (media back to the server), the extra header."""


def test_A_core_61_62_54_55_relay_only_info_then_terminate_and_reinvite_back(rig: B2BRig) -> None:
    """After B answered the session is relay-only: the caller's INFO reaches B and B's 200 comes back;
    relayEvent is kept on the leg; terminateOtherLeg sends BYE to B; sendReinvite(true) re-INVITEs the
    caller with our own SDP and the extra header (E-131: not resolved), our RTP stream resumes."""
    server = rig.start(
        uas_scenario(
            "callee-info-bye",
            b_invite("", "Max-Forwards: 70", "sipp@127.0.0.1"),
            reply(200, "OK", sdp=True),
            recv("ACK"),
            '  <recv request="INFO">\n    <action>'
            + _check("Signal=5", "signal")
            + "</action>\n  </recv>\n",
            reply_to_last("200 OK", "      X-Callee: info\n"),
            answer_bye(),
        ).replace('variables="ruri', 'variables="signal,ruri'),
        script=CONTROL_SCRIPT,
    )
    caller = uac_scenario(
        "caller",
        INVITE,
        ANSWERED_TAG,
        ACK_2XX,
        REINVITE_WITH_CALLEE_SDP,
        caller_request("INFO", 5, "Signal=5\nDuration=160", "application/dtmf-relay"),
        '  <recv response="200" response_txn="t5">\n    <action>'
        + _check("X-Callee: info", "callee_info")
        + "</action>\n  </recv>\n",
        OUR_OFFER,
        pause(500),
        CALLER_BYE,
        refs="x,totag,callee_sdp,callee_info,back,ours",
    )
    v = rig.call(caller)
    assert v["hangup"] == "1"
    assert "B2BEvent to the other leg: ['cmd']" in server.log_text.getvalue()
    (call,) = server.calls()
    assert server.on_loop(lambda: call.own_media)


REQUEST_EVENTS_SCRIPT = """\
import(mod_dlg);
initial state S;
transition "invite" S - invite / set($enable_request_events=true); dlg.connectCalleeRelayed("<sip:bob@127.0.0.1:{port}>", "sip:bob@127.0.0.1:{port}") -> CALLING;
state CALLING;
transition "reply" CALLING - B2B.otherReply; test(#code < 200) -> CALLING;
transition "answered" CALLING - B2B.otherReply; test(#code == 200) / set($answered=#code) -> CONNECTED;
state CONNECTED;
transition "info refused" CONNECTED - sipRequest; test(#method == INFO) / dlg.relayError(403, Not Here); set($relay_error=$errno); set(#processed=true) -> CONNECTED;
transition "bye" CONNECTED - hangup / set($hangup=1); stop(false) -> END;
state END;
"""


def test_M_dlg_5_13_connectCalleeRelayed_and_relayError_answers_locally(rig: B2BRig) -> None:
    """dlg.connectCalleeRelayed ignores $b2b_relayed_invite and relays B's 200 to the caller; a SipRequest
    INFO answered with dlg.relayError(403) never reaches B (its scenario has no INFO)."""
    rig.start(
        uas_scenario(
            "relayed-no-info",
            RELAYED_B_INVITE,
            reply(200, "OK", sdp=True),
            recv("ACK"),
            answer_bye(),
        ),
        script=REQUEST_EVENTS_SCRIPT,
    )
    relayed_ok = f"""\
  <recv response="200" response_txn="invite" rrs="true" rtd="true">
    <action>{_check("o=bob 1 1", "callee_sdp")}<ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/></action>
  </recv>
"""
    caller = uac_scenario(
        "caller",
        INVITE,
        relayed_ok,
        ACK_2XX,
        caller_request("INFO", 5, "Signal=5\nDuration=160", "application/dtmf-relay"),
        '  <recv response="403" response_txn="t5"/>\n',
        CALLER_BYE,
        refs="x,totag,callee_sdp",
    )
    v = rig.call(caller)
    assert v["answered"] == "200"
    assert v["relay_error"] == ""
    assert v["hangup"] == "1"


# -- outgoing INVITEs that real networks need: digest, redirects, TCP ----------------------------------
AUTH_CALLEE = """\
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
{head}      WWW-Authenticate: Digest realm="sipp.test", nonce="4f2a9c1e", qop="auth", algorithm=MD5
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="CSeq: 2 INVITE" search_in="msg" check_it="true" assign_to="cseq2"/>
      <ereg regexp="Authorization: Digest username=.alice." search_in="msg" check_it="true" assign_to="creds"/>
      <verifyauth assign_to="authvalid" username="alice" password="secret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
{refused}  <nop hide="true" next="end"/>
  <label id="good"/>
{answer}  <recv request="ACK"/>
  <recv request="BYE"/>
{bye_ok}  <label id="end"/>
  <Reference variables="cseq2,creds"/>
"""


def auth_callee() -> str:
    body = AUTH_CALLEE.format(
        head=RESPONSE_HEAD,
        refused=reply(403, "Forbidden") + recv("ACK"),
        answer=reply(200, "OK", sdp=True),
        bye_ok=reply_to_last(),
    )
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="auth">\n{body}</scenario>\n'


def test_A_core_53_b2b_auth_answers_the_401_checked_by_sipp_verifyauth(rig: B2BRig) -> None:
    """$b2b_auth_user/$b2b_auth_pwd: the 401 is answered (same Call-ID, CSeq 2) with credentials that
    sipp's verifyauth accepts; the script sees only the final 200 (RFC 2617 MD5)."""
    rig.start(
        auth_callee(),
        setup='set($b2b_auth_user="alice"); set($b2b_auth_pwd="secret");',
    )
    caller = uac_scenario(
        "caller", INVITE, ANSWERED_TAG, ACK_2XX, REINVITE_WITH_CALLEE_SDP, pause(200), CALLER_BYE,
        refs="x,totag,callee_sdp",
    )  # fmt: skip
    v = rig.call(caller)
    assert v["answered"] == "200"
    assert "failed" not in v and "provisional" not in v


def test_A_core_53_302_is_followed_to_a_second_callee(rig: B2BRig, sipp: str, tmp_path: Path) -> None:
    """A 302 with a Contact sends the INVITE on to that URI; the second callee answers."""
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = Uas(
        sipp,
        second_dir,
        uas_scenario(
            "second", b_invite(""), reply(200, "OK", sdp=True), recv("ACK"), answer_bye()
        ),
    )
    try:
        moved = (
            "  <send>\n    <![CDATA[\n      SIP/2.0 302 Moved Temporarily\n"
            + RESPONSE_HEAD.replace("Contact: <sip:bob@[local_ip]:[local_port];transport=[transport]>",
                                    f"Contact: <sip:bob@127.0.0.1:{second.port}>")
            + "      Content-Length: 0\n    ]]>\n  </send>\n"
        )  # fmt: skip
        rig.start(uas_scenario("first", B_INVITE, moved, recv("ACK")))
        caller = uac_scenario(
            "caller", INVITE, ANSWERED_TAG, ACK_2XX, REINVITE_WITH_CALLEE_SDP, pause(200), CALLER_BYE,
            refs="x,totag,callee_sdp",
        )  # fmt: skip
        v = rig.call(caller)
        second.finish()
    finally:
        second.close()
    assert v["answered"] == "200"
    assert "failed" not in v


class TcpUas(Uas):
    """sipp waiting for one call over TCP (``-t t1``) on a free loopback port."""

    def _start(self, sipp: str, tmp_path: Path, path: Path) -> str:
        self.errors.unlink(missing_ok=True)
        self.port = free_sip_port()
        cmd = [
            sipp, "-sf", str(path), "-m", "1", "-t", "t1",
            "-i", "127.0.0.1", "-p", str(self.port),
            "-mi", "127.0.0.1", "-mp", str(free_media_ports()),
            "-timeout", "40s", "-timeout_error", "-recv_timeout", "20000",
            "-nostdin", "-trace_err", "-error_file", str(self.errors),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", cwd=tmp_path
        )
        deadline = time.monotonic() + LIMIT
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return ""
            if self.proc.poll() is not None:
                out, err = self.proc.communicate(timeout=LIMIT)
                return f"{out[-2000:]}\n{err[-2000:]}"
            if time.monotonic() > deadline:
                self.fail("sipp did not start listening")
            time.sleep(0.05)


def test_A_core_53_transport_tcp_in_the_uri_sends_the_invite_over_tcp(sipp: str, tmp_path: Path) -> None:
    """``sip:bob@host:port;transport=tcp``: the B-leg INVITE (Via SIP/2.0/TCP) goes over TCP."""
    uas_dir = tmp_path / "uas"
    uas_dir.mkdir()
    tcp_invite = b_invite(";transport=tcp", "Via: SIP/2.0/TCP", "sipp@127.0.0.1")
    uas = TcpUas(
        sipp,
        uas_dir,
        uas_scenario("tcp", tcp_invite, reply(200, "OK", sdp=True), recv("ACK"), answer_bye()),
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "b2b.dsm").write_text(
        B2B_SCRIPT.format(port=uas.port, setup="")
        .replace(";user=phone", ";transport=tcp")
        .replace('set($b2b_local_party="<sip:ivr@127.0.0.1>");', "")
        .replace('B2B.addHeader("X-Route: 7");', "")
    )
    server = SipServer(scripts=scripts)
    try:
        caller = uac_scenario(
            "caller", INVITE, ANSWERED_TAG, ACK_2XX, REINVITE_WITH_CALLEE_SDP, pause(200), CALLER_BYE,
            refs="x,totag,callee_sdp",
        )  # fmt: skip
        uac_dir = tmp_path / "uac"
        uac_dir.mkdir()
        run_sipp(sipp, uac_dir, server.port, caller, "b2b")
        uas.finish()
        (call,) = server.wait_ended(1)
    finally:
        uas.close()
        server.stop()
    assert call["vars"]["answered"] == "200"


# -- media anchoring -----------------------------------------------------------------------------------
DTMF_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")

ANCHOR_SCRIPT = """\
initial state CALLING enter {{
  set($b2b_rtp_relay=true);
  B2B.connectCallee("<sip:bob@127.0.0.1:{port}>", "sip:bob@127.0.0.1:{port}")
}};
transition "answered" CALLING - B2B.otherReply; test(#code == 200) / set($answered=#code) -> CONNECTED;
transition "not answered" CALLING - B2B.otherReply; test(#code > 299) / stop(true) -> END;
state CONNECTED;
transition "key" CONNECTED - key / append($keys, #key) -> CONNECTED;
transition "caller hangs up" CONNECTED - hangup / set($hangup=1); stop(false) -> END;
state END;
"""


def test_media_anchoring_relays_rtp_both_ways_and_keys_of_both_legs_reach_the_script(
    sipp: str, tmp_path: Path
) -> None:
    """``$b2b_rtp_relay=true``: B is offered our own port (the caller's codec), the caller gets no
    re-INVITE; the caller's RFC 4733 packets reach B through us, B echoes them (``-rtp_echo``) and
    they come back through us; key 1 arrives from each leg (two Key events)."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    uas_dir = tmp_path / "uas"
    uas_dir.mkdir()
    anchored_invite = b_invite("", "m=audio [0-9]+ RTP/AVP 0 101", "sipp@127.0.0.1").replace(
        _check("o=sipp 53655765", "offer"), _check("c=IN IP4 127.0.0.1", "offer")
    )
    uas = EchoUas(
        sipp,
        uas_dir,
        uas_scenario(
            "echo", anchored_invite, reply(200, "OK", sdp=True), recv("ACK"), answer_bye()
        ),
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "b2b.dsm").write_text(ANCHOR_SCRIPT.format(port=uas.port))
    server = SipServer(scripts=scripts)
    try:
        play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
        caller = uac_scenario(
            "caller", INVITE, ANSWERED_TAG, ACK_2XX, pause(600), play, pause(1500), CALLER_BYE,
        )  # fmt: skip
        uac_dir = tmp_path / "uac"
        uac_dir.mkdir()
        run_sipp(sipp, uac_dir, server.port, caller, "b2b")
        uas.finish()
        (call,) = server.wait_ended(1)
        (sip_call,) = server.calls()
        relayed_to_caller = server.on_loop(lambda: sip_call.rtp.packets_relayed)
    finally:
        uas.close()
        server.stop()
    v = call["vars"]
    assert v["answered"] == "200" and v["hangup"] == "1"
    assert v["keys"] == "11", v
    assert relayed_to_caller > 0


class EchoUas(Uas):
    """sipp as the callee that sends back every RTP packet it gets (``-rtp_echo``)."""

    extra_args = ("-rtp_echo",)


# -- the call-through example over SIP -------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "connect"


def test_example_connect_collects_an_extension_by_info_and_connects_it(sipp: str, tmp_path: Path) -> None:
    """examples/connect: keys 4 2 # (INFO dtmf-relay) -> INVITE sip:42@<pbx>; the callee answers and hangs
    up later: B's SDP reaches the caller by re-INVITE, the callee's BYE reaches the caller."""
    uas_dir = tmp_path / "uas"
    uas_dir.mkdir()
    uas = Uas(
        sipp,
        uas_dir,
        uas_scenario(
            "extension-42",
            b_invite("", "Max-Forwards: 70", "sipp@127.0.0.1").replace("sip:bob@", "sip:42@"),
            reply(180, "Ringing"),
            pause(300),
            reply(200, "OK", sdp=True),
            recv("ACK"),
            pause(800),
            CALLEE_BYE,
            recv("200"),
        ),
    )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "".join(f"{p.stem}={p}\n" for p in sorted((EXAMPLE / "prompts").glob("*.wav")))
    )
    conf = tmp_path / "dsm.conf"
    conf.write_text(
        f"diag_path={EXAMPLE}\nload_diags=connect\nregister_apps=connect\n"
        f"load_prompts={prompts}\npbx=127.0.0.1:{uas.port}\n"
    )
    server = SipServer(scripts=None, config=str(conf))
    try:
        steps = [INVITE, ANSWERED_TAG, ACK_2XX, pause(300)]
        cseq = 2
        for key in "42#":
            steps.append(caller_request("INFO", cseq, f"Signal={key}\nDuration=160", "application/dtmf-relay"))
            steps.append(f'  <recv response="200" response_txn="t{cseq}"/>\n')
            cseq += 1
        steps += [REINVITE_WITH_CALLEE_SDP, '  <recv request="BYE"/>\n', reply_to_last()]
        uac_dir = tmp_path / "uac"
        uac_dir.mkdir()
        run_sipp(sipp, uac_dir, server.port, uac_scenario("caller", *steps, refs="x,totag,callee_sdp"), "connect")
        uas.finish()
        (call,) = server.wait_ended(1)
    finally:
        uas.close()
        server.stop()
    v = call["vars"]
    assert v["ext"] == "42"
    assert v["callee_hung_up"] == "1"
    assert call["state"] == "END"


def test_A_core_53_relayed_invite_caller_cancel_crosses_to_the_ringing_callee(rig: B2BRig) -> None:
    """Relayed mode: B's 180 reaches the caller; the caller's CANCEL (200, 487 to it) cancels B (200, 487)."""
    rig.start(
        uas_scenario("relayed-cancel", RELAYED_B_INVITE, reply(180, "Ringing"), recv_cancel()),
        script=RELAYED_SCRIPT.replace(
            'state CONNECTED;', 'transition "caller cancels" CALLING - hangup / set($hangup=1); stop(false) -> END;\nstate CONNECTED;'
        ),
    )
    caller = uac_scenario(
        "caller",
        INVITE,
        '  <recv response="180" response_txn="invite"/>\n',
        pause(300),
        *CANCEL_INVITE,
        refs="",
    )
    v = rig.call(caller)
    assert v["provisional"] == "180"
    assert v["hangup"] == "1"


def _inband_key_pcap(path: Path, low: float = 770.0, high: float = 1336.0) -> None:
    """A pcap of PCMU RTP: 200 ms of silence, 200 ms of the DTMF tone (5 by default), 400 ms of silence."""
    t = np.arange(160) / 8000
    frames = []
    for n in range(40):
        if 10 <= n < 20:
            s = 6000 * (np.sin(2 * np.pi * low * (t + n * 0.02)) + np.sin(2 * np.pi * high * (t + n * 0.02)))
        else:
            s = np.zeros(160)
        frames.append(ulaw_encode(s.astype(np.int16)).tobytes())
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n, payload in enumerate(frames):
        rtp = struct.pack("!BBHII", 0x80, 0, n, n * 160, 0x4321) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = n * 20000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))


def test_media_anchoring_inband_key_of_the_callee_reaches_the_script(sipp: str, tmp_path: Path) -> None:
    """Anchored media: the callee plays an in-band DTMF 5 (PCMU); the B leg's media detects it and the
    A leg's script gets Key 5; the tone is relayed on to the caller."""
    pcap = tmp_path / "five.pcap"
    _inband_key_pcap(pcap)
    uas_dir = tmp_path / "uas"
    uas_dir.mkdir()
    play = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    uas = Uas(
        sipp,
        uas_dir,
        uas_scenario(
            "callee-key",
            b_invite("", "m=audio [0-9]+ RTP/AVP 0 101", "sipp@127.0.0.1").replace(
                _check("o=sipp 53655765", "offer"), _check("c=IN IP4 127.0.0.1", "offer")
            ),
            reply(200, "OK", sdp=True),
            recv("ACK"),
            pause(300),
            play,
            answer_bye(),
        ),
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "b2b.dsm").write_text(ANCHOR_SCRIPT.format(port=uas.port))
    server = SipServer(scripts=scripts)
    try:
        caller = uac_scenario("caller", INVITE, ANSWERED_TAG, ACK_2XX, pause(2500), CALLER_BYE)
        uac_dir = tmp_path / "uac"
        uac_dir.mkdir()
        run_sipp(sipp, uac_dir, server.port, caller, "b2b")
        uas.finish()
        (call,) = server.wait_ended(1)
        (sip_call,) = server.calls()
        relayed_to_caller = server.on_loop(lambda: sip_call.rtp.packets_relayed)
    finally:
        uas.close()
        server.stop()
    assert call["vars"]["keys"] == "5", call["vars"]
    assert relayed_to_caller >= 30


# -- late offer: a caller INVITE without SDP ---------------------------------------------------------
INVITE_NO_SDP = f"""\
  <send retrans="500" start_txn="invite">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{HEAD}      CSeq: 1 INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite"/>
"""

ACK_WITH_ANSWER = """\
  <send ack_txn="invite">
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
"""
"""The caller's ACK with its SDP answer (the 200 carried the offer)."""

_CALLER_FROM = _check(".*", "caller", 'search_in="hdr" header="From:"')
B_INVITE_NO_OFFER = (
    '  <recv request="INVITE" rrs="true">\n    <action>\n'
    '      <ereg regexp="m=audio" search_in="msg" check_it_inverse="true" assign_to="offer"/>\n'
    f"      {_CALLER_FROM}\n"
    "    </action>\n  </recv>\n"
)
"""The B-leg INVITE of a late-offer caller: no SDP of its own."""


def b_ack_with(answer_version: str) -> str:
    """The B leg's ACK, which must carry the caller's answer (its SDP's o= line)."""
    return f'  <recv request="ACK">\n    <action>{_check(f"o=sipp 53655765 {answer_version}", "route")}</action>\n  </recv>\n'


def test_late_offer_relayed_invite_the_callees_offer_reaches_the_caller_and_its_answer_the_callee(
    rig: B2BRig,
) -> None:
    """Caller INVITE without SDP, relayed mode: B's INVITE has no body, B's 200 offer goes to the
    caller in our 200, and the answer in the caller's ACK goes to B in the B leg's ACK."""
    rig.start(
        uas_scenario(
            "late-relayed",
            B_INVITE_NO_OFFER,
            reply(180, "Ringing"),
            pause(200),
            reply(200, "OK", sdp=True),
            b_ack_with("2353687637"),
            answer_bye(),
            variables="route,offer,caller",
        ),
        script=RELAYED_SCRIPT,
    )
    relayed_ok = f"""\
  <recv response="180" response_txn="invite"/>
  <recv response="200" response_txn="invite" rrs="true" rtd="true">
    <action>{_check("o=bob 1 1", "callee_sdp")}<ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/></action>
  </recv>
"""
    caller = uac_scenario(
        "caller", INVITE_NO_SDP, relayed_ok, ACK_WITH_ANSWER, pause(300), CALLER_BYE,
        refs="x,totag,callee_sdp",
    )  # fmt: skip
    v = rig.call(caller)
    assert v["answered"] == "200"
    assert v["hangup"] == "1"


def test_late_offer_answered_caller_gets_the_callees_offer_by_reinvite_and_its_answer_goes_in_the_ack(
    rig: B2BRig,
) -> None:
    """Caller INVITE without SDP, answered by us (our offer, its answer in the ACK); B's INVITE has
    no body; B's offer in its 200 reaches the caller in a re-INVITE, and the caller's answer in its
    200 goes to B in the B leg's ACK."""
    rig.start(
        uas_scenario(
            "late-reinvite",
            B_INVITE_NO_OFFER,
            reply(180, "Ringing"),
            pause(600),
            reply(200, "OK", sdp=True),
            b_ack_with("2353687638"),
            answer_bye(),
            variables="route,offer,caller",
        ),
    )
    caller = uac_scenario(
        "caller", INVITE_NO_SDP, ANSWERED_TAG, ACK_WITH_ANSWER, REINVITE_WITH_CALLEE_SDP,
        pause(200), CALLER_BYE, refs="x,totag,callee_sdp",
    )  # fmt: skip
    v = rig.call(caller)
    assert v["answered"] == "200"
    assert v["hangup"] == "1"


# -- digest on requests in the B leg's dialog --------------------------------------------------------
BYE_CHALLENGED = """\
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="sipp.test", nonce="7c1d9e0a", qop="auth", algorithm=MD5
      Content-Length: 0
    ]]>
  </send>
  <recv request="BYE">
    <action>
      <ereg regexp="Authorization: Digest username=.alice." search_in="msg" check_it="true" assign_to="route"/>
      <verifyauth assign_to="authvalid" username="alice" password="secret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
{refused}  <nop hide="true" next="end"/>
  <label id="good"/>
{ok}  <label id="end"/>
"""


def test_b_leg_bye_challenged_401_is_answered_once_with_credentials_checked_by_sipp_verifyauth(
    rig: B2BRig,
) -> None:
    """The callee challenges the B leg's BYE: it goes again with the script's $b2b_auth_user and
    $b2b_auth_pwd (next CSeq), and sipp's verifyauth accepts them (RFC 3261 22.2, RFC 2617 MD5)."""
    rig.start(
        uas_scenario(
            "bye-auth",
            B_INVITE,
            reply(200, "OK", sdp=True),
            recv("ACK"),
            BYE_CHALLENGED.format(refused=reply_to_last("403 Forbidden"), ok=reply_to_last()),
        ),
        setup='set($b2b_auth_user="alice"); set($b2b_auth_pwd="secret");',
    )
    caller = uac_scenario(
        "caller", INVITE, ANSWERED_TAG, ACK_2XX, REINVITE_WITH_CALLEE_SDP, pause(200), CALLER_BYE,
        refs="x,totag,callee_sdp",
    )  # fmt: skip
    v = rig.call(caller)
    assert v["answered"] == "200"
    assert v["hangup"] == "1"
