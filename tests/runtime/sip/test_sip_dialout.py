"""``dlg.dialout`` over SIP (M-dlg-6): real outgoing calls to sipp playing the called party.

The server runs on its own loop in a thread (``sip_rig``) with a script
folder written per test: ``dialer.dsm``, a system DSM started on the loop,
calls ``dlg.dialout(o)`` with ``$o_app=callee`` and ``$o_domain`` pointing
at a sipp UAS on a free loopback port; ``callee.dsm``, the application of
the outgoing call, records its events (E-151, in the order of E-152) in
variables.  sipp is started first and the test waits until its port is
bound (a bind probe, no sleep); afterwards the test waits for sipp's exit
and for the outgoing session's end, both by polling with generous limits.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sip_rig import LIMIT, ThreadedServer
from test_sip_serve import free_media_ports, free_udp_port, pause, reply_to_last

from dsm.runtime.sip.outgoing import OutgoingSipCall

CALLEE = """\
initial state S enter { if test($mode == replies) { set($enable_reply_events=true) } };
transition "reply taken" S - sipReply; test(#code == 180) / append($replies, 180.); set(#processed=true) -> S;
transition "reply" S - sipReply / append($replies, #code); set($reply_status=#dlg_status) -> S;
transition "cancel while ringing" S - ringing; test($mode == cancel) / set($rang=#code); stop(true) -> END;
transition "ringing" S - ringing / set($rang=#code); set($ring_reason=#reason); set($ring_body=#has_body) -> S;
transition "early" S - early / set($early=yes) -> S;
transition "failed" S - failed / set($failed=#code); set($failed_reason=#reason) -> S;
transition "answered, hang up" S - sessionStart; test($mode == hangup) / set($up=yes); stop(true) -> END;
transition "answered" S - sessionStart / set($up=yes); set($user=@user); set($remote_uri=@remote_uri) -> UP;
state UP;
transition "callee hangs up" UP - hangup / set($hungup=yes); stop(false) -> END;
state END;
"""

DIALER = """\
import(mod_dlg);
initial state S enter {{
  set($o_caller=dsm); set($o_callee=bob); set($o_domain=127.0.0.1:{port}); set($o_app={app});
  set($o_var.mode={mode}); set($o_hdrs="X-Dialout: yes"); {extra}
  dlg.dialout(o);
  set($result=$o_ltag); set($error=$errno);
  stop(false)
}};
"""


# -- sipp as the called party ---------------------------------------------------------------------------
RESPONSE_HEAD = """\
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:bob@[local_ip]:[local_port];transport=[transport]>
"""

RECV_INVITE = """\
  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp="X-Dialout: yes" search_in="msg" check_it="true" assign_to="hdr"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="caller"/>
    </action>
  </recv>
"""


def reply(code: int, reason: str, sdp: bool = False) -> str:
    body = (
        "      Content-Type: application/sdp\n"
        "      Content-Length: [len]\n\n"
        "      v=0\n"
        "      o=bob 1 1 IN IP[local_ip_type] [local_ip]\n"
        "      s=-\n"
        "      c=IN IP[media_ip_type] [media_ip]\n"
        "      t=0 0\n"
        "      m=audio [media_port] RTP/AVP 0 101\n"
        "      a=rtpmap:0 PCMU/8000\n"
        "      a=rtpmap:101 telephone-event/8000\n"
        if sdp
        else "      Content-Length: 0\n"
    )
    return f"  <send>\n    <![CDATA[\n      SIP/2.0 {code} {reason}\n{RESPONSE_HEAD}{body}    ]]>\n  </send>\n"


def recv(what: str) -> str:
    kind = "response" if what.isdigit() else "request"
    return f'  <recv {kind}="{what}"/>\n'


BYE = """\
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
      Content-Length: 0
    ]]>
  </send>
"""


TERMINATED = """\
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0
    ]]>
  </send>
"""


def scenario(name: str, *steps: str) -> str:
    refs = '  <Reference variables="hdr,caller"/>\n'
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{"".join(steps)}{refs}</scenario>\n'


def port_bound(port: int) -> bool:
    """Whether someone holds ``127.0.0.1:port`` (UDP): our bind fails with EADDRINUSE."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class Uas:
    """sipp waiting for one call on a free loopback port (``extra_args`` go on its command line)."""

    extra_args: tuple[str, ...] = ()

    def __init__(self, sipp: str, tmp_path: Path, xml: str) -> None:
        path = tmp_path / "uas.xml"
        path.write_text(xml)
        self.errors = tmp_path / "uas-errors.log"
        for _attempt in range(3):
            why = self._start(sipp, tmp_path, path)
            if not why:
                return
            if "Unable to bind" not in why:
                break
        raise AssertionError(f"sipp did not start listening (exit {self.proc.returncode})\n{why}")

    def _start(self, sipp: str, tmp_path: Path, path: Path) -> str:
        """Start sipp: ``""`` once it listens, else what it printed before it exited.

        "Unable to bind" there means another process took a probed port first.
        """
        self.errors.unlink(missing_ok=True)
        self.port = free_udp_port()
        cmd = [
            sipp, "-sf", str(path), "-m", "1",
            "-i", "127.0.0.1", "-p", str(self.port),
            "-mi", "127.0.0.1", "-mp", str(free_media_ports()),
            "-timeout", "40s", "-timeout_error", "-recv_timeout", "20000",
            "-nostdin", "-trace_err", "-error_file", str(self.errors), *self.extra_args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", cwd=tmp_path
        )
        deadline = time.monotonic() + LIMIT
        while not port_bound(self.port):
            if self.proc.poll() is not None:
                out, err = self.proc.communicate(timeout=LIMIT)
                detail = self.errors.read_text(errors="replace") if self.errors.exists() else ""
                return f"{out[-2000:]}\n{err[-2000:]}\n{detail[-3000:]}"
            if time.monotonic() > deadline:
                self.fail("sipp did not start listening")
            time.sleep(0.02)
        return ""

    def fail(self, why: str) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        out, err = self.proc.communicate(timeout=LIMIT)
        detail = self.errors.read_text(errors="replace")[-3000:] if self.errors.exists() else ""
        raise AssertionError(
            f"{why} (exit {self.proc.returncode})\n{out[-2000:]}\n{err[-2000:]}\n{detail}"
        )

    def finish(self) -> None:
        """Wait for sipp's exit; anything but 0 fails the test with its logs."""
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("sipp did not finish")
        if self.proc.returncode != 0:
            self.fail("sipp failed")
        self.proc.communicate(timeout=LIMIT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=LIMIT)


# -- the server ------------------------------------------------------------------------------------------
class DialoutServer(ThreadedServer):
    def __init__(self, scripts: Path) -> None:
        super().__init__([str(scripts)])

    def dial(self) -> dict[str, str]:
        """Start the dialer system DSM; its variables after ``dlg.dialout``."""
        engine = self.server.engine
        assert engine is not None

        def start() -> Any:
            return engine.start_system("main", "dialer")

        session = self.on_loop(start)
        deadline = time.monotonic() + LIMIT
        while not self.on_loop(lambda: session.ended):
            if time.monotonic() > deadline:
                raise AssertionError(f"dialer did not end\n{self.log_text.getvalue()[-3000:]}")
            time.sleep(0.02)
        return self.on_loop(lambda: dict(session.vars))

    def outgoing(self) -> dict[str, Any]:
        """Wait until the outgoing call's session ended; a summary of it."""

        def summary() -> dict[str, Any] | None:
            calls = self.server.sip_calls
            assert calls is not None
            found = [c for c in calls.recent if isinstance(c, OutgoingSipCall)]
            if not found or found[0].session is None or not found[0].session.ended:
                return None
            call = found[0]
            assert call.session is not None
            return {
                "vars": dict(call.session.vars),
                "id": call.session.id,
                "dialog": call.dialog,
                "codec": call.negotiated.codec.name if call.negotiated else None,
                "sent": call.rtp.packets_sent,
                "live": call.call_id in calls.calls,
            }

        deadline = time.monotonic() + LIMIT
        while True:
            got = self.on_loop(summary)
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"outgoing call did not end\n{self.log_text.getvalue()[-3000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
            self.thread.join(LIMIT)


Rig = Callable[..., tuple[DialoutServer, Uas]]


@pytest.fixture
def rig(sipp: str, tmp_path: Path) -> Iterator[Rig]:
    """``rig(xml, mode=…)``: sipp UAS with ``xml``, and a server whose dialer calls it."""
    made: list[DialoutServer | Uas] = []

    def make(xml: str, mode: str = "normal", extra: str = "") -> tuple[DialoutServer, Uas]:
        uas = Uas(sipp, tmp_path, xml)
        made.append(uas)
        scripts = tmp_path / "scripts"
        scripts.mkdir()
        (scripts / "callee.dsm").write_text(CALLEE)
        (scripts / "dialer.dsm").write_text(
            DIALER.format(port=uas.port, app="callee", mode=mode, extra=extra)
        )
        server = DialoutServer(scripts)
        made.append(server)
        return server, uas

    yield make
    for item in reversed(made):
        if isinstance(item, Uas):
            item.close()
        else:
            item.stop()


def run(
    rig: Rig, xml: str, mode: str = "normal", extra: str = ""
) -> tuple[dict[str, str], dict[str, Any], int]:
    """Dial out to a sipp playing ``xml``: the dialer's variables, the outgoing call, sipp's port."""
    server, uas = rig(xml, mode, extra)
    dialer = server.dial()
    uas.finish()
    return dialer, server.outgoing(), uas.port


# -- the tests ---------------------------------------------------------------------------------------------
def test_M_dlg_6_E152_ringing_answer_then_the_callee_hangs_up(rig: Rig) -> None:
    """180 -> Ringing {code 180}; 200 with SDP -> SessionStart; the callee's BYE -> 200 and Hangup (E-151)."""
    xml = scenario(
        "ring-answer-bye",
        RECV_INVITE,
        reply(180, "Ringing"),
        pause(200),
        reply(200, "OK", sdp=True),
        recv("ACK"),
        pause(500),
        BYE,
        recv("200"),
    )
    dialer, out, port = run(rig, xml)
    assert dialer["result"] == out["id"] and dialer["error"] == ""
    v = out["vars"]
    assert (v["rang"], v["ring_reason"], v["ring_body"]) == ("180", "Ringing", "false")
    assert v["up"] == "yes" and v["hungup"] == "yes"
    assert "failed" not in v and "early" not in v
    assert v["user"] == "dsm" and v["remote_uri"] == f"sip:bob@127.0.0.1:{port}"
    assert out["codec"] == "PCMU"
    assert out["dialog"] == "disconnected" and not out["live"]


def test_E151_busy_gives_FailedCall_486_and_the_session_is_stopped(rig: Rig) -> None:
    """A final 486: FailedCall with ``#code`` 486 and ``#reason``; the host stops the session (always)."""
    xml = scenario("busy", RECV_INVITE, reply(486, "Busy Here"), recv("ACK"))
    _, out, _ = run(rig, xml)
    v = out["vars"]
    assert (v["failed"], v["failed_reason"]) == ("486", "Busy Here")
    assert "up" not in v
    assert out["dialog"] == "disconnected" and not out["live"]


def test_E151_E157_sipReply_first_and_processed_hides_the_ringing(rig: Rig) -> None:
    """``$enable_reply_events``: every reply is a SipReply first; ``#processed`` on the 180 means no Ringing."""
    xml = scenario("replies", RECV_INVITE, reply(180, "Ringing"), pause(200), reply(486, "Busy Here"), recv("ACK"))
    _, out, _ = run(rig, xml, mode="replies")
    assert out["vars"]["replies"] == "180.486"
    assert out["vars"]["reply_status"] == "Disconnected"
    assert "rang" not in out["vars"]
    assert out["vars"]["failed"] == "486"  # not processed: FailedCall as usual


def test_E151_stop_true_after_the_answer_sends_BYE(rig: Rig) -> None:
    """The script's ``stop(true)`` on SessionStart: BYE to the callee, who answers 200."""
    xml = scenario(
        "answer-then-our-bye",
        RECV_INVITE,
        reply(200, "OK", sdp=True),
        recv("ACK"),
        recv("BYE"),
        reply_to_last(),
    )
    _, out, _ = run(rig, xml, mode="hangup")
    assert out["vars"]["up"] == "yes"
    assert out["dialog"] == "disconnected"


def test_E151_stop_true_while_ringing_sends_CANCEL(rig: Rig) -> None:
    """``stop(true)`` on Ringing: CANCEL; the callee answers 200 and 487, which the core ACKs."""
    xml = scenario(
        "ringing-cancelled",
        RECV_INVITE,
        reply(180, "Ringing"),
        recv("CANCEL"),
        reply_to_last(),
        TERMINATED,
        recv("ACK"),
    )
    _, out, _ = run(rig, xml, mode="cancel")
    assert out["vars"]["rang"] == "180"
    assert "up" not in out["vars"] and "failed" not in out["vars"]


def test_E151_early_session_on_183_with_sdp(rig: Rig) -> None:
    """183 with SDP: EarlySession (no Ringing), the RTP stream starts; then 200 and the callee's BYE."""
    xml = scenario(
        "early-media",
        RECV_INVITE,
        reply(183, "Session Progress", sdp=True),
        pause(300),
        reply(200, "OK", sdp=True),
        recv("ACK"),
        pause(200),
        BYE,
        recv("200"),
    )
    _, out, _ = run(rig, xml)
    v = out["vars"]
    assert v["early"] == "yes" and "rang" not in v
    assert v["up"] == "yes" and v["hungup"] == "yes"


def test_E167_accept_early_session_0_turns_183_with_sdp_into_Ringing(rig: Rig) -> None:
    """``$accept_early_session == 0`` when the INVITE is sent: no EarlySession; Ringing with ``has_body``."""
    xml = scenario(
        "early-refused",
        RECV_INVITE,
        reply(183, "Session Progress", sdp=True),
        reply(200, "OK", sdp=True),
        recv("ACK"),
        BYE,
        recv("200"),
    )
    _, out, _ = run(rig, xml, extra="set($o_var.accept_early_session=0);")
    v = out["vars"]
    assert (v["rang"], v["ring_body"]) == ("183", "true")
    assert "early" not in v and v["up"] == "yes"


def test_M_dlg_6_unknown_application_sets_errno_general(tmp_path: Path) -> None:
    """The host refuses an unknown application (LookupError): ``$o_ltag`` empty, ``errno = general``."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "callee.dsm").write_text(CALLEE)
    (scripts / "dialer.dsm").write_text(
        DIALER.format(port=9, app="nosuchapp", mode="normal", extra="")
    )
    server = DialoutServer(scripts)
    try:
        dialer = server.dial()
        calls = server.server.sip_calls
        assert calls is not None
        assert server.on_loop(lambda: list(calls.recent)) == []
    finally:
        server.stop()
    assert dialer["result"] == "" and dialer["error"] == "general"


def test_M_dlg_6_a_local_tag_in_use_is_refused(tmp_path: Path) -> None:
    """``engine.dialout`` with a local tag that is already an address: ValueError, nothing sent."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "callee.dsm").write_text(CALLEE)
    server = DialoutServer(scripts)
    try:
        engine = server.server.engine
        assert engine is not None and engine.dialout is not None
        place = engine.dialout

        def dial() -> str:
            taken = engine.start_system("main", "callee").id  # any session's address
            return place(
                "callee", r_uri="sip:bob@127.0.0.1:9", from_="<sip:dsm@127.0.0.1>",
                from_uri="sip:dsm@127.0.0.1", to="<sip:bob@127.0.0.1>", local_tag=taken,
            )  # fmt: skip

        with pytest.raises(ValueError, match="in use"):
            server.on_loop(dial)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("r_uri", "headers"),
    [("tel:+4930123", ""), ("sip:bob@127.0.0.1:9", "CSeq: 7 INVITE")],
    ids=["not-a-sip-uri", "header-breaks-the-invite"],
)
def test_M_dlg_6_an_invite_that_cannot_be_built_is_refused(
    tmp_path: Path, r_uri: str, headers: str
) -> None:
    """A bad R-URI or extra headers that break the INVITE: ValueError, no call and no session left."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "callee.dsm").write_text(CALLEE)
    server = DialoutServer(scripts)
    try:
        engine = server.server.engine
        calls = server.server.sip_calls
        assert engine is not None and engine.dialout is not None and calls is not None
        place = engine.dialout

        def dial() -> str:
            return place(
                "callee", r_uri=r_uri, from_="<sip:dsm@127.0.0.1>", from_uri="sip:dsm@127.0.0.1",
                to="<sip:bob@127.0.0.1>", headers=headers,
            )  # fmt: skip

        with pytest.raises(ValueError):
            server.on_loop(dial)
        assert server.on_loop(
            lambda: (list(calls.calls), list(calls.recent), list(engine.sessions))
        ) == ([], [], [])
    finally:
        server.stop()


def test_M_dlg_6_dialout_answers_a_401_with_digest_credentials(rig: Rig) -> None:
    """``$o_auth_user``/``$o_auth_pwd``: the 401 is answered, sipp's verifyauth accepts the credentials,
    the call runs to SessionStart (no FailedCall for the 401)."""
    from test_sip_b2b import auth_callee

    extra = 'set($o_auth_user="alice"); set($o_auth_pwd="secret");'
    dialer, out, _port = run(rig, auth_callee(), mode="hangup", extra=extra)
    assert dialer["error"] == ""
    assert out["vars"]["up"] == "yes"
    assert "failed" not in out["vars"]
