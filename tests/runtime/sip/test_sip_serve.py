"""``dsm serve --sip``: real calls from sipp to the examples, over loopback (issue 9).

The server runs on its own event loop in a thread, bound to free ports (SIP
port 0, reported back); sipp is started per test with scenarios written into
``tmp_path`` and its own free ports.  After sipp exits the test looks at the
script's session through the server (state, variables) on the server's loop.
Waiting is by polling with generous limits, never by fixed sleeps, so the
tests hold on a loaded 2-core machine.

A few tests need no sipp: they talk SIP over a plain UDP socket (OPTIONS,
unknown application) or drive one RTP session against a loopback socket.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sip_rig import LIMIT, ThreadedServer, free_port_run

from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.dtmf import dtmf_relay_key
from dsm.runtime.media.g711 import ulaw_decode, ulaw_encode
from dsm.runtime.media.items import PromptItem
from dsm.runtime.media.rfc4733 import telephone_event_packets
from dsm.runtime.sip.message import Response, parse_message
from dsm.runtime.sip.rtp import RtpPacket, RtpSender
from dsm.runtime.sip.rtp_session import RtpPortPool, RtpSession
from dsm.runtime.sip.sdp import PCMU, Codec
from dsm.runtime.sip.sipcall import SipCall

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


# -- the server in a thread ---------------------------------------------------------------------
class SipServer(ThreadedServer):
    """``dsm serve --scripts examples --sip 127.0.0.1:0`` on its own loop in a thread."""

    def __init__(self, scripts: Path | None = EXAMPLES, **kw: Any) -> None:
        self.trace: list[tuple[str, str, str]] = []
        super().__init__([str(scripts)] if scripts is not None else [], **kw)
        self.on_loop(self._install_tracer)

    def _install_tracer(self) -> None:
        """Record every state, event and transition of every session (chained to the observer)."""
        engine = self.server.engine
        assert engine is not None
        chained = engine.tracer

        def tracer(session: Any, kind: str, detail: str) -> None:
            self.trace.append((session.id, kind, detail))
            if chained is not None:
                chained(session, kind, detail)

        engine.tracer = tracer

    def transitions(self) -> list[str]:
        return self.on_loop(lambda: [d for _, k, d in self.trace if k == "transition"])

    def calls(self) -> list[SipCall]:
        calls = self.server.sip_calls
        assert calls is not None
        return self.on_loop(lambda: list(calls.recent))

    def wait_ended(self, count: int = 1) -> list[dict[str, Any]]:
        """Wait until ``count`` calls exist and their sessions ended; a summary of each."""

        def summary() -> list[dict[str, Any]]:
            calls = self.server.sip_calls
            assert calls is not None
            out = []
            for c in calls.recent:
                s = c.session
                out.append(
                    {
                        "ended": s is not None and s.ended,
                        "state": s.state.name if s is not None and s.state is not None else None,
                        "vars": dict(s.vars) if s is not None else {},
                        "dialog": c.dialog,
                        "sent": c.rtp.packets_sent,
                        "received": c.rtp.packets_received,
                        "codec": c.negotiated.codec.name if c.negotiated else None,
                        "direction": c.rtp.direction,
                    }
                )
            return out

        deadline = time.monotonic() + LIMIT
        while True:
            got = self.on_loop(summary)
            if len(got) >= count and all(g["ended"] for g in got[:count]):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"calls did not end: {got}\n{self.log_text.getvalue()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
            self.thread.join(LIMIT)


@pytest.fixture
def served() -> Iterator[SipServer]:
    s = SipServer()
    try:
        yield s
    finally:
        s.stop()


# -- sipp -----------------------------------------------------------------------------------------
@pytest.fixture
def sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("sipp (Debian package sip-tester) is required when CI is set")
        pytest.skip("sipp not installed (Debian package sip-tester)")
    return path


def free_udp_port(even: bool = False) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not even or port % 2 == 0:
            return port
    raise RuntimeError("no free UDP port")


def free_sip_port() -> int:
    """A loopback port free for UDP and for TCP (sipp's main socket is one or the other).

    The TCP probe binds without SO_REUSEADDR, so a port still in TIME_WAIT counts as taken.
    """
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


def free_media_ports() -> int:
    """An even UDP port with the three above it free too (sipp binds audio and video RTP/RTCP)."""
    for _ in range(50):
        base = free_udp_port(even=True)
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + 4):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return base
    raise RuntimeError("no four free UDP ports in a row")

HEAD = """\
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
"""

INVITE = f"""\
  <send retrans="500" start_txn="invite">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{HEAD}      CSeq: 1 INVITE
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
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite"/>
"""
ANSWERED = '  <recv response="200" response_txn="invite" rrs="true" rtd="true"/>\n'
"""The 200 OK to the INVITE; ``rrs`` keeps its Contact for ``[next_url]``."""

ACK_2XX = """\
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
      Content-Length: 0
    ]]>
  </send>
"""


ACK_FAILURE = """\
  <send ack_txn="invite">
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""
"""The ACK for a final failure to the INVITE (same branch, RFC 3261 17.1.1.3)."""


CANCEL_INVITE = (
    """\
  <send>
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487" response_txn="invite"/>
""",
    ACK_FAILURE,
)
"""CANCEL of the unanswered INVITE: 200 for the CANCEL, 487 for the INVITE, ACK."""


def in_dialog(method: str, cseq: int, body: str = "", content_type: str = "") -> str:
    """A request in the dialog, sent to the server's Contact, as transaction ``t<cseq>``."""
    ctype = f"      Content-Type: {content_type}\n" if content_type else ""
    length = "[len]" if body else "0"
    text = "\n".join(f"      {line}" for line in body.splitlines())
    return f"""\
  <send retrans="500" start_txn="t{cseq}">
    <![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
{ctype}      Content-Length: {length}

{text}
    ]]>
  </send>
"""


def scenario(name: str, *steps: str) -> str:
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{"".join(steps)}</scenario>\n'


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{ms}"/>\n'


def recv(code: int, txn: str = "", **attrs: str) -> str:
    """Expect ``code``; with ``txn`` only as the response to that transaction of ours."""
    if txn:
        attrs["response_txn"] = txn
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'  <recv response="{code}"{extra}/>\n'


def reply_to_last(status: str = "200 OK", extra: str = "") -> str:
    """sipp's reply to the request it just received (``extra``: header lines, 6-space indented)."""
    return f"""\
  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
{extra}      Content-Length: 0
    ]]>
  </send>
"""


def answer_request(method: str, status: str = "200 OK", extra: str = "") -> str:
    """Wait for the server's ``method`` request and answer it."""
    return f'  <recv request="{method}"/>\n' + reply_to_last(status, extra)


def run_sipp(
    sipp: str, tmp_path: Path, port: int, xml: str, service: str, transport: str = "u1"
) -> subprocess.CompletedProcess[str]:
    """One call of ``xml`` to ``service``; fails the test with sipp's logs unless it exits 0.

    ``transport`` is sipp's ``-t``: ``u1`` (UDP, the default) or ``t1`` (one TCP connection).
    """
    path = tmp_path / "scenario.xml"
    path.write_text(xml)
    errors = tmp_path / "errors.log"
    for _attempt in range(3):
        errors.unlink(missing_ok=True)
        cmd = [
            sipp, f"127.0.0.1:{port}", "-t", transport,
            "-sf", str(path), "-s", service, "-m", "1", "-l", "1",
            "-i", "127.0.0.1", "-mi", "127.0.0.1",
            "-p", str(free_sip_port()), "-mp", str(free_media_ports()),
            "-timeout", "40s", "-timeout_error", "-recv_timeout", "20000",
            "-nostdin", "-trace_err", "-trace_msg", "-error_file", str(errors),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=90, cwd=tmp_path)
        if proc.returncode == 0:
            return proc
        detail = errors.read_text(errors="replace")[-3000:] if errors.exists() else ""
        # Another process took a probed port between the probe and sipp's bind: no call was
        # placed yet, so the run is repeated on fresh ports.
        if "Unable to bind" not in proc.stdout + proc.stderr + detail:
            break
    raise AssertionError(f"sipp exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n{detail}")


# -- end to end with sipp ----------------------------------------------------------------------------
def test_E152_answer_play_hangup_menu(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """AS-1 ``$(ruri.user)`` picks ``menu``; Start, Invite, 200 OK with SDP, SessionStart; BYE -> Hangup -> stop.

    sipp sees 100/200 and the 200 to its BYE; the script played its menu as
    PCMU RTP and ended in END through the ``hangup`` transition (E-151).
    """
    xml = scenario(
        "answer-play-hangup",
        INVITE,
        ANSWERED,
        ACK_2XX,
        pause(1500),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "menu")
    (call,) = served.wait_ended(1)
    assert call["state"] == "END"
    assert call["vars"]["rounds"] == "1"
    assert call["codec"] == "PCMU"
    assert call["dialog"] == "disconnected"
    assert call["sent"] > 20  # about 75 frames of the menu prompt in 1.5 s


def test_an_ended_call_leaving_the_recent_calls_is_freed_without_the_collector(
    sipp: str, served: SipServer, tmp_path: Path
) -> None:
    """Call, session and RTP session hold no reference cycle once the call is released.

    Only the last calls stay readable (``recent``); the one that leaves them
    is released, and then reference counting alone frees it: a full
    collection no longer has to find every ended call among the live ones.
    """
    calls = served.server.sip_calls
    assert calls is not None
    served.on_loop(lambda: setattr(calls, "recent", deque(maxlen=1)))
    xml = scenario("aph", INVITE, ANSWERED, ACK_2XX, pause(200), in_dialog("BYE", 2), recv(200, "t2"))
    run_sipp(sipp, tmp_path, served.port, xml, "menu")
    (first,) = served.wait_ended(1)
    assert first["ended"]
    # a compiled RtpSession or CallMedia (docs/sip.md "Compiled media path") takes no weak
    # reference: for those, the live instances of their class are counted instead
    refs = served.on_loop(
        lambda: [_Watch(o) for c in calls.recent for o in (c, c.session, c.rtp, c.media)]
    )
    gc.disable()
    try:
        run_sipp(sipp, tmp_path, served.port, xml, "menu")  # the first call leaves `recent`
        served.wait_ended(1)
        deadline = time.monotonic() + LIMIT
        while any(ref.alive() for ref in refs) and time.monotonic() < deadline:
            time.sleep(0.05)  # its transactions may still hold the call for their last timers
        assert [ref.alive() for ref in refs] == [False] * 4
    finally:
        gc.enable()


class _Watch:
    """Whether one object is still alive: by weak reference, or by counting its class's instances.

    Counted: alive while more instances of its class exist than when it was
    watched (the watched call's successor takes its place in that count).
    """

    def __init__(self, obj: object) -> None:
        self.kind = type(obj)
        try:
            self.ref: weakref.ref[object] | None = weakref.ref(obj)
        except TypeError:
            self.ref = None
        self.baseline = self._count()

    def _count(self) -> int:
        return sum(1 for o in gc.get_objects() if type(o) is self.kind)

    def alive(self) -> bool:
        if self.ref is not None:
            return self.ref() is not None
        return self._count() > self.baseline


def test_E151_info_dtmf_relay_keys_move_the_pin_script(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """INFO ``application/dtmf-relay`` is answered 200 and becomes Key events (E-151): PIN 1234# granted."""
    steps = [INVITE, ANSWERED, ACK_2XX, pause(200)]
    cseq = 2
    for key in "1234#":
        steps.append(in_dialog("INFO", cseq, f"Signal={key}\nDuration=160", "application/dtmf-relay"))
        steps.append(recv(200, f"t{cseq}"))
        cseq += 1
    steps += [pause(300), in_dialog("BYE", cseq), recv(200, f"t{cseq}")]
    run_sipp(sipp, tmp_path, served.port, scenario("info-dtmf", *steps), "pin")
    (call,) = served.wait_ended(1)
    assert call["vars"]["pin"] == "1234"
    assert call["vars"]["authenticated"] == "1"
    assert call["state"] == "END"


def test_AS1_unknown_application_gets_500_from_sipp(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """An application nobody registered: ``500 Server Internal Error`` (AS-1), no session."""
    xml = scenario("unknown-app", INVITE, recv(500, "invite"), ACK_FAILURE)
    run_sipp(sipp, tmp_path, served.port, xml, "nosuchapp")
    assert served.calls() == []


def test_E151_rfc4733_key_from_sipp_moves_the_menu(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """RTP telephone-event packets (sipp's ``dtmf_2833_1.pcap``) become Key 1: MENU -> HOURS."""
    pcap = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
    if not pcap.exists():
        pytest.skip(f"{pcap} not shipped with this sipp")
    xml = scenario(
        "rfc4733",
        INVITE,
        ANSWERED,
        ACK_2XX,
        f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n',
        pause(1500),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "menu")
    (call,) = served.wait_ended(1)
    assert call["received"] > 0
    assert "hours" in served.transitions()
    assert call["state"] == "END"


def test_reinvite_hold_is_answered_recvonly_and_sending_stops(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """A re-INVITE with ``a=sendonly`` (hold) gets 200 with ``a=recvonly`` (RFC 3264); no more RTP to the caller."""
    hold_sdp = (
        "v=0\n"
        "o=sipp 53655765 2353687638 IN IP[local_ip_type] [local_ip]\n"
        "s=-\n"
        "c=IN IP[media_ip_type] [media_ip]\n"
        "t=0 0\n"
        "m=audio [media_port] RTP/AVP 0 101\n"
        "a=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:101 telephone-event/8000\n"
        "a=sendonly"
    )
    reinvite = in_dialog("INVITE", 2, hold_sdp, "application/sdp")
    check = (
        '  <recv response="100" optional="true" response_txn="t2"/>\n'
        '  <recv response="200" response_txn="t2">\n'
        '    <action><ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="held"/></action>\n'
        "  </recv>\n"
    )
    ack = ACK_2XX.replace('ack_txn="invite"', 'ack_txn="t2"').replace("CSeq: 1 ACK", "CSeq: 2 ACK")
    xml = scenario(
        "hold",
        INVITE,
        ANSWERED,
        ACK_2XX,
        pause(300),
        reinvite,
        check,
        ack,
        pause(300),
        in_dialog("BYE", 3),
        recv(200, "t3"),
        '  <Reference variables="held"/>\n',
    )
    run_sipp(sipp, tmp_path, served.port, xml, "menu")
    (call,) = served.wait_ended(1)
    assert call["state"] == "END"
    assert call["direction"] == "recvonly"


def test_E151_cancel_before_answer_gives_hangup(sipp: str, tmp_path: Path) -> None:
    """A module's invite hook vetoes (M-api-7), so the host does not answer; CANCEL -> 200, 487, Hangup."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "mod_hold.py").write_text(
        "from dsm.runtime.registry import Module\n"
        "module = Module('mod_hold')\n"
        "@module.on_invite\n"
        "def keep_ringing(request, session):\n"
        "    return False\n"
    )
    (scripts / "waiting.dsm").write_text(
        "import(mod_hold);\n"
        "initial state WAIT enter { set($started=1) };\n"
        "state END enter { stop(false) };\n"
        "transition \"cancelled\" WAIT - hangup / set($hangup_headers=#headers) -> END;\n"
    )
    conf = tmp_path / "dsm.conf"
    conf.write_text(
        f"diag_path={scripts}\nload_diags=waiting\nregister_apps=waiting\nmod_path={scripts}\n"
    )
    xml = scenario("cancel", INVITE.replace('optional="true" ', ""), pause(300), *CANCEL_INVITE)
    server = SipServer(scripts=None, config=str(conf))
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "waiting")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["started"] == "1"
    assert "CANCEL" in call["vars"]["hangup_headers"]
    assert call["state"] == "END"
    assert call["sent"] == 0


def test_E153_rtp_timeout_arrives_as_RTPTimeout_and_the_script_hangs_up(sipp: str, tmp_path: Path) -> None:
    """``monitorRTPTimeout(true)`` and a silent caller: RTPTimeout with ``#type == rtp_timeout`` (QUIRK).

    The ``rtpTimeout`` condition never matches it (E-153); the script's
    ``stop(true)`` sends BYE, which sipp answers.
    """
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "watch.dsm").write_text(
        "initial state WAIT enter { monitorRTPTimeout(true) };\n"
        "state END enter { stop(true) };\n"
        'transition "never (E-153)" WAIT - rtpTimeout / set($wrong=1) -> END;\n'
        'transition "rtp gone" WAIT - test(#type == rtp_timeout) / set($timeout=#timeout_value) -> END;\n'
        'transition "hangup" (WAIT, END) - hangup / stop(false) -> END;\n'
    )
    xml = scenario("rtp-timeout", INVITE, ANSWERED, ACK_2XX, answer_request("BYE"))
    server = SipServer(scripts=scripts, rtp_timeout=0.5)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "watch")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["timeout"] == "0.5"
    assert "wrong" not in call["vars"]
    assert call["state"] == "END"


# -- plain UDP, no sipp needed ----------------------------------------------------------------------
def _request(method: str, port: int, local: int, user: str = "menu", extra: str = "") -> bytes:
    return (
        f"{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{method.lower()}{time.monotonic_ns()}\r\n"
        f"From: <sip:tester@127.0.0.1>;tag=t1\r\n"
        f"To: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: {method.lower()}-{time.monotonic_ns()}@127.0.0.1\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:tester@127.0.0.1:{local}>\r\n"
        f"Max-Forwards: 70\r\n{extra}"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def _final_response(sock: socket.socket) -> Response:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.1))
        data, _ = sock.recvfrom(65535)
        msg = parse_message(data)
        if isinstance(msg, Response) and msg.status >= 200:
            return msg
    raise AssertionError("no final response")


def test_options_outside_a_dialog_answered_200(served: SipServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(_request("OPTIONS", served.port, sock.getsockname()[1]), ("127.0.0.1", served.port))
        response = _final_response(sock)
    assert response.status == 200
    assert "INVITE" in (response.headers.get("Allow") or "")


def test_AS1_unknown_application_refused_500(served: SipServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(_request("INVITE", served.port, sock.getsockname()[1], user="nosuch"), ("127.0.0.1", served.port))
        response = _final_response(sock)
    assert (response.status, response.reason) == (500, "Server Internal Error")
    assert served.calls() == []
    (line,) = [x for x in served.log_text.getvalue().splitlines() if "no application 'nosuch'" in x]
    assert "AS-1" not in line  # users cannot look rule IDs up; the option is named instead
    assert "--application" in line


def test_AS1_fixed_application_name_serves_every_call() -> None:
    """``--application menu``: the request URI's user does not matter."""
    s = SipServer(application="menu")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            local = sock.getsockname()[1]
            sock.sendto(_request("INVITE", s.port, local, user="4711"), ("127.0.0.1", s.port))
            response = _final_response(sock)
        assert response.status == 200
        assert b"m=audio" in response.body
        calls = s.calls()
        assert len(calls) == 1
        assert s.on_loop(lambda: calls[0].session.vars.get("rounds")) == "1"
    finally:
        s.stop()


def test_cli_serve_sip_process_answers_options_and_stops_on_sigterm() -> None:
    """``dsm serve --sip 127.0.0.1:0``: the listening line names the SIP port; SIGTERM exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsm.cli", "serve", "--sip", "127.0.0.1:0", "--control", "127.0.0.1:0",
         "--application", "menu", "--rtp-ports", "30000-39999"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True, errors="replace",
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + LIMIT
        line = ""
        while "event=listening" not in line:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no listening line (exit {proc.poll()})")
        sip = next(part for part in line.split() if part.startswith("sip="))
        port = int(sip.rpartition(":")[2])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.sendto(_request("OPTIONS", port, sock.getsockname()[1]), ("127.0.0.1", port))
            assert _final_response(sock).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(LIMIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(LIMIT)


def test_cli_serve_rejects_a_bad_rtp_port_range() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dsm.cli", "serve", "--sip", "127.0.0.1:0", "--rtp-ports", "9-3"],
        capture_output=True, text=True, errors="replace", timeout=LIMIT,
    )
    assert out.returncode == 2
    assert "--rtp-ports" in out.stderr


def test_dtmf_relay_body() -> None:
    assert dtmf_relay_key("Signal=5\r\nDuration=160\r\n") == (5, "160")
    assert dtmf_relay_key("Signal= #\nDuration=250") == (11, "250")
    assert dtmf_relay_key("signal=*") == (10, "100")
    assert dtmf_relay_key("Duration=100") is None
    assert dtmf_relay_key("Signal=X") is None


# -- one RTP session against a loopback peer ------------------------------------------------------
def test_rtp_session_sends_paced_pcmu_and_hears_rfc4733_keys() -> None:
    """20 ms G.711 out (the playlist's frames, encoded), RFC 4733 in -> Key events (A-core-44)."""

    async def scenario_() -> tuple[list[bytes], list[tuple[str, dict[str, str]]], int]:
        loop = asyncio.get_running_loop()
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        media = CallMedia()
        events: list[tuple[str, dict[str, str]]] = []
        rtp = RtpSession(
            loop, RtpPortPool("127.0.0.1", 30000, 39999).bind(), media,
            lambda evs: events.extend((e.event_type, e.params) for e in evs),
        )
        rtp.configure(peer.getsockname(), PCMU, Codec(101, "telephone-event"))
        tone = np.full(8000, 1000, dtype=np.int16)
        media.play(PromptItem("tone", tone))
        media.media_connect()
        media.set_media_flag("receiving", True)
        rtp.start()
        # the caller presses 5 by RFC 4733
        sender = RtpSender(1234, 0)
        for i, p in enumerate(telephone_event_packets(5, 100)):
            pkt = sender.event(p.payload.encode(), 101, new_event=i == 0)
            peer.sendto(bytes(pkt), ("127.0.0.1", rtp.local_port))
        got: list[bytes] = []
        deadline = loop.time() + LIMIT
        while (len(got) < 10 or not events) and loop.time() < deadline:
            try:
                got.append(peer.recv(2048))
            except BlockingIOError:
                await asyncio.sleep(0.01)
        rtp.close()
        peer.close()
        return got, events, rtp.local_port

    got, events, port = asyncio.run(scenario_())
    assert port % 2 == 0
    packets = [RtpPacket.parse(d) for d in got]
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    seqs = [p.sequence for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    assert all((b.timestamp - a.timestamp) & 0xFFFFFFFF == 160 for a, b in zip(packets, packets[1:]))
    decoded = ulaw_decode(packets[1].payload)
    assert np.array_equal(decoded, ulaw_decode(ulaw_encode(np.full(160, 1000, dtype=np.int16))))
    assert ("Key", {"key": "5", "duration": "100"}) in events


def test_E153_rtp_session_reports_RTPTimeout_once_while_monitoring() -> None:
    """Only with the ``rtp_timeout`` flag on (A-core-46); one event per silence."""

    async def run() -> list[tuple[str, dict[str, str]]]:
        loop = asyncio.get_running_loop()
        media = CallMedia()
        events: list[tuple[str, dict[str, str]]] = []
        rtp = RtpSession(
            loop, RtpPortPool("127.0.0.1", 30000, 39999).bind(), media,
            lambda evs: events.extend((e.event_type, e.params) for e in evs), rtp_timeout=0.1,
        )
        rtp.start()
        await asyncio.sleep(0.3)
        assert events == []  # not monitoring
        media.set_media_flag("rtp_timeout", True)
        deadline = loop.time() + LIMIT
        while not events and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        rtp.close()
        return events

    events = asyncio.run(run())
    assert events == [("RTPTimeout", {"type": "rtp_timeout", "timeout_value": "0.1"})]


def test_rtp_port_pool_gives_non_blocking_pairs_on_random_even_ports() -> None:
    """RTP on an even port, RTCP above it, both non-blocking from their creation (no ``rng``: the kernel's)."""
    pool = RtpPortPool("127.0.0.1", 30000, 39999)
    pairs = [pool.bind_pair() for _ in range(4)]
    try:
        for rtp, rtcp in pairs:
            port = rtp.getsockname()[1]
            assert port % 2 == 0 and 30000 <= port <= 39998 and rtcp.getsockname()[1] == port + 1
            assert rtp.gettimeout() == 0.0 and rtcp.gettimeout() == 0.0
            assert rtp.type == socket.SOCK_DGRAM and rtcp.type == socket.SOCK_DGRAM
            with pytest.raises(BlockingIOError):
                rtp.recvfrom(2048)
        assert len({rtp.getsockname()[1] for rtp, _ in pairs}) == 4
    finally:
        for rtp, rtcp in pairs:
            rtp.close()
            rtcp.close()


def test_rtp_port_pool_skips_ports_in_use() -> None:
    for _attempt in range(5):  # a port of the run taken by another process meanwhile: another run
        base = free_port_run(4)
        pool = RtpPortPool("127.0.0.1", base, base + 3)
        socks: list[socket.socket] = []
        try:
            socks = [pool.bind(), pool.bind()]
        except OSError:
            for sock in socks:
                sock.close()
            continue
        try:
            assert {s.getsockname()[1] for s in socks} == {base, base + 2}
            with pytest.raises(OSError, match="no free RTP port"):
                pool.bind()
        finally:
            for sock in socks:
                sock.close()
        return
    pytest.fail("every free run of ports was taken before the pool could bind it")
