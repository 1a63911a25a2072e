"""Fuzz against a running ``dsm serve --sip``: 10,000 hostile datagrams next to a live call (issue 9).

The server runs in-process on its own loop in a thread, bound to free
loopback ports.  A small Python UDP client places one call to a script that
waits for a key; while it is up, a seeded mutator sends 10,000 datagrams --
mutations of valid INVITE, ACK, BYE, CANCEL, INFO, OPTIONS, REGISTER,
unknown-method requests and responses, plus plain random bytes -- to the SIP
port.  Afterwards:

* OPTIONS is still answered 200;
* the call in progress is untouched: same state, a key by INFO moves it,
  BYE ends it (E-151);
* nothing escaped: no exception reached the loop's handler, the core counted
  no internal error, the log has no error line;
* nothing leaked: once the RFC 3261 timers have run, the core holds no
  transaction, dialog or call beyond the baseline, and no socket stayed open.

The RFC 3261 timers are shortened for the run (T1 = 10 ms, so 64*T1 is
0.64 s, as RFC 3261 section 17.1.1.1 allows on a fast network) so that calls
the fuzzer opened and never acknowledged time out within the test.  Every
datagram is checked before it is sent: anything the server would answer or
call back somewhere other than 127.0.0.1 (a ``received``/``maddr`` Via
parameter, a foreign Contact or Record-Route host, a foreign SDP connection
address) is drawn again, so all traffic stays on loopback and nothing is
resolved by DNS.  Sending is paced by the server's datagram count, never by
wall-clock speed.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sip_rig import LIMIT, ThreadedServer

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.sdp import OfferAnswerError, answer_offer, parse_sdp
from dsm.runtime.sip.transaction import TimerSettings
from dsm.runtime.sip.uri import NameAddress, SipUri

LOOPBACK = "127.0.0.1"
DATAGRAMS = 10_000
BATCH = 48
FAST_TIMERS = TimerSettings(t1=0.01, t2=0.04, t4=0.05, timer_d=0.1)

WAIT_SCRIPT = """\
-- The call in progress: waits for one key, then for the caller's BYE.
initial state WAIT enter { set($entered=1) };
state GOT enter { set($got=1) };
state END enter { stop(false) };
transition "key" WAIT - key / set($key=#key) -> GOT;
transition "hangup" (WAIT, GOT) - hangup / stop(false) -> END;
"""

BRIEF_SCRIPT = """\
-- What the fuzzer's INVITEs reach: a call that ends by itself after one second.
initial state RING enter { setTimer(1, 1) };
state END;
transition "done" RING - timer(#id == 1) / stop(true) -> END;
transition "hangup" RING - hangup / stop(false) -> END;
"""


# -- the server on its own loop --------------------------------------------------------------------
class LiveServer(ThreadedServer):
    """``Server`` with ``--sip 127.0.0.1:0`` on a loop in a thread; loop exceptions are collected."""

    def __init__(self, scripts: Path) -> None:
        super().__init__([str(scripts)], rtp_ports=(30000, 39999))

    def received(self) -> int:
        """Datagrams the SIP transport has taken in (an int read across threads is safe)."""
        calls = self.server.sip_calls
        assert calls is not None and calls.transport is not None
        return calls.transport.received

    def held(self) -> dict[str, Any]:
        """What the UA core and the call layer hold right now."""

        def snapshot() -> dict[str, Any]:
            calls = self.server.sip_calls
            engine = self.server.engine
            assert calls is not None and engine is not None
            core = calls.core
            return {
                "core_calls": sorted(core.calls),
                "server_transactions": len(core._server),
                "client_transactions": len(core._client),
                "sip_calls": sorted(calls.calls),
                "sessions": sorted(s.id for s in engine.sessions.values() if not s.ended),
                "core_errors": core.errors,
            }

        return self.on_loop(snapshot)

    def wait_for(self, what: str, check: Callable[[], bool], limit: float = LIMIT) -> None:
        deadline = time.monotonic() + limit
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {self.held()}\n{self.log_text.getvalue()[-3000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
            self.thread.join(LIMIT)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "wait.dsm").write_text(WAIT_SCRIPT)
    (scripts / "brief.dsm").write_text(BRIEF_SCRIPT)
    server = LiveServer(scripts)
    try:
        yield server
    finally:
        server.stop()


# -- the caller of the call in progress ------------------------------------------------------------
def sdp(rtp_port: int, version: int = 1) -> str:
    return (
        f"v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    )


class Caller:
    """One call over a plain UDP socket: INVITE, ACK, INFO, BYE -- enough of a UAC for the test."""

    def __init__(self, server_port: int) -> None:
        self.server = (LOOPBACK, server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((LOOPBACK, 0))
        self.port = int(self.sock.getsockname()[1])
        self.call_id = f"live-call-{self.port}@127.0.0.1"
        self.to = f"<sip:wait@127.0.0.1:{server_port}>"
        self.cseq = 1
        self.branches = 0

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    def request(self, method: str, uri: str, cseq: int, body: str = "", ctype: str = "") -> bytes:
        self.branches += 1
        head = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-live-{self.branches};rport",
            "Max-Forwards: 70",
            "From: <sip:caller@127.0.0.1>;tag=live",
            f"To: {self.to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:caller@127.0.0.1:{self.port}>",
        ]
        if ctype:
            head.append(f"Content-Type: {ctype}")
        head.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(head) + "\r\n\r\n" + body).encode()

    def final(self, method: str) -> Response:
        """The next final response to ``method`` (provisional ones and other traffic skipped)."""
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.05))
            data, _ = self.sock.recvfrom(65535)
            with contextlib.suppress(ParseError):
                msg = parse_message(data)
                if isinstance(msg, Response) and msg.status >= 200 and msg.cseq.method == method:
                    return msg
        raise AssertionError(f"no final response to {method}")

    def invite(self) -> Response:
        uri = f"sip:wait@127.0.0.1:{self.server[1]}"
        self.sock.sendto(
            self.request("INVITE", uri, 1, sdp(int(self.rtp.getsockname()[1])), "application/sdp"), self.server
        )
        response = self.final("INVITE")
        assert response.status == 200, response.status
        self.to = response.headers.get("To") or self.to
        self.target = f"sip:127.0.0.1:{self.server[1]}"
        self.sock.sendto(self.request("ACK", self.target, 1), self.server)
        return response

    def in_dialog(self, method: str, body: str = "", ctype: str = "") -> Response:
        self.cseq += 1
        self.sock.sendto(self.request(method, self.target, self.cseq, body, ctype), self.server)
        return self.final(method)

    def options(self) -> Response:
        """OPTIONS outside any dialog (own Call-ID, no To tag)."""
        data = self.request("OPTIONS", f"sip:127.0.0.1:{self.server[1]}", 1)
        data = data.replace(self.to.encode(), f"<sip:127.0.0.1:{self.server[1]}>".encode())
        self.sock.sendto(data.replace(self.call_id.encode(), b"options-after-fuzz"), self.server)
        return self.final("OPTIONS")


# -- the fuzzer ------------------------------------------------------------------------------------
SPECIAL = [b"\r\n", b"\n", b":", b";", b",", b"<", b">", b'"', b"\\", b" ", b"\t", b"=", b"@", b"0", b"\x00", b"\xff"]


def seeds(i: int, server_port: int, fuzz_port: int, sink_port: int) -> list[bytes]:
    """Valid messages of every kind, with a branch (and mostly a Call-ID) of their own.

    INVITEs to ``brief`` draw their Call-ID from a pool of 16, so that only a
    bounded number of fuzzer calls can be up at once (a repeated live Call-ID
    gets 482).
    """

    def req(method: str, user: str, call_id: str, *, to_tag: str = "", body: str = "", ctype: str = "") -> bytes:
        tag = f";tag={to_tag}" if to_tag else ""
        lines = [
            f"{method} sip:{user}@127.0.0.1:{server_port} SIP/2.0",
            f"v: SIP/2.0/UDP 127.0.0.1:{fuzz_port};branch=z9hG4bK-fz-{i};rport",
            "Max-Forwards: 70",
            'f: "Fuzz, Er" <sip:fuzz@127.0.0.1>;tag=fz',
            f"t: <sip:{user}@127.0.0.1>{tag}",
            f"i: {call_id}",
            f"CSeq: {i % 1000 + 1} {method}",
            f"m: <sip:fuzz@127.0.0.1:{fuzz_port}>",
            "Subject: folded",
            "  line",
        ]
        if ctype:
            lines.append(f"c: {ctype}")
        lines.append(f"l: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    offer = sdp(sink_port)
    return [
        req("INVITE", "brief", f"fz-call-{i % 16}", body=offer, ctype="application/sdp"),
        req("INVITE", "nosuch", f"fz-{i}", body=offer, ctype="application/sdp"),
        req("INVITE", "brief", f"fz-call-{i % 16}"),
        req("ACK", "brief", f"fz-{i}", to_tag="x"),
        req("BYE", "brief", f"fz-{i}", to_tag="x"),
        req("CANCEL", "brief", f"fz-call-{i % 16}"),
        req("INFO", "brief", f"fz-{i}", to_tag="x", body="Signal=1\r\nDuration=100\r\n", ctype="application/dtmf-relay"),
        req("OPTIONS", "brief", f"fz-{i}"),
        req("REGISTER", "brief", f"fz-{i}"),
        req("FROB", "brief", f"fz-{i}"),
        (
            "SIP/2.0 200 OK\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{server_port};branch=z9hG4bK-nosuch-{i}\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n"
            f"Call-ID: fz-{i}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
        ).encode(),
    ]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four byte- and line-level edits: flips, cuts, inserts, swapped and doubled lines."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            del buf[pos : pos + rng.randint(1, 20)]
        elif op == 2:
            buf[pos:pos] = rng.choice(SPECIAL)
        elif op == 3:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op in (4, 5):
            lines = bytes(buf).split(b"\r\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == 4:
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines.insert(a, lines[a])
            buf = bytearray(b"\r\n".join(lines))
        else:
            buf = buf[: rng.randrange(len(buf) + 1)]
    return bytes(buf)


def _on_loopback(uri: object) -> bool:
    return isinstance(uri, SipUri) and uri.address()[0] == LOOPBACK


def stays_on_loopback(data: bytes) -> bool:
    """Whether everything the server could send because of ``data`` goes to 127.0.0.1.

    Responses go to the top Via (with ``received`` set to the source unless the
    sent-by already is it), in-dialog requests of a new INVITE's dialog to its
    Contact or first Record-Route, RTP to the SDP connection address.  Anything
    the same parsers cannot read here is refused by the server, or treated
    conservatively as unsafe.
    """
    try:
        message = parse_message(data)
    except ParseError as exc:
        if exc.request is None:
            return True  # dropped unanswered
        message = exc.request  # answered 400 at its Via
    if isinstance(message, Response):
        return True
    assert isinstance(message, Request)
    try:
        via = message.top_via
        if "received" in via.params or "maddr" in via.params:
            return False
        if message.method == "INVITE" and message.to.tag is None:
            contact = message.contact
            if contact is not None and not _on_loopback(contact.uri):
                return False
            for value in message.headers.get_all("Record-Route"):
                if not _on_loopback(NameAddress.parse(value).uri):
                    return False
        if b"c=" in message.body:
            try:
                negotiated = answer_offer(parse_sdp(message.body), address=LOOPBACK, port=4000)
            except (ParseError, OfferAnswerError):
                return True  # refused, no RTP
            return negotiated.remote_address[0] == LOOPBACK
    except ParseError:
        return False
    return True


def datagrams(count: int, server_port: int, fuzz_port: int, sink_port: int, seed: int = 3261) -> Iterator[bytes]:
    """``count`` seeded datagrams: 5 % valid seeds, 10 % random bytes, the rest mutations."""
    rng = random.Random(seed)
    for i in range(count):
        data = b""
        for _attempt in range(20):
            roll = rng.random()
            if roll < 0.10:
                data = rng.randbytes(rng.randint(0, 1400))
            else:
                base = rng.choice(seeds(i, server_port, fuzz_port, sink_port))
                data = base if roll < 0.15 else mutate(base, rng)
            if stays_on_loopback(data):
                break
        else:
            data = b"\x00" * 8  # nothing routable: dropped
        yield data


def test_fuzzer_is_deterministic_and_stays_on_loopback() -> None:
    """The same seed gives the same 200 datagrams; every one passed the loopback check."""
    first = list(datagrams(200, 5070, 40000, 40002))
    assert first == list(datagrams(200, 5070, 40000, 40002))
    assert all(stays_on_loopback(d) for d in first)
    assert not stays_on_loopback(
        b"INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
        b"From: <sip:f@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:f@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
    )


# -- the test --------------------------------------------------------------------------------------
def _open_fds() -> int | None:
    with contextlib.suppress(OSError):
        return len(os.listdir("/proc/self/fd"))
    return None


def _drain(sock: socket.socket) -> int:
    got = 0
    with contextlib.suppress(BlockingIOError, InterruptedError):
        for _ in range(10_000):
            sock.recv(65535)
            got += 1
    return got


def test_10000_fuzzed_datagrams_leave_the_live_call_and_the_server_intact(live: LiveServer) -> None:
    """E-151 and issue 9: malformed SIP never touches another call, nothing escapes, nothing leaks."""

    def shorten_timers() -> None:
        calls = live.server.sip_calls
        assert calls is not None
        calls.core.timers = FAST_TIMERS
        calls.core.tu_reply_timeout = 0.5

    live.on_loop(shorten_timers)
    caller = Caller(live.port)
    fuzzer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the fuzzer's calls send RTP
    try:
        fuzzer.bind((LOOPBACK, 0))
        fuzzer.setblocking(False)
        sink.bind((LOOPBACK, 0))
        sink.setblocking(False)

        # the call in progress, and the baseline once its INVITE transaction is over
        caller.invite()
        live.wait_for("live call quiet", lambda: live.held()["server_transactions"] == 0)
        baseline = live.held()
        assert baseline["core_calls"] == [caller.call_id] == baseline["sip_calls"]
        assert len(baseline["sessions"]) == 1
        session_id = baseline["sessions"][0]

        def live_state() -> tuple[str | None, dict[str, str]]:
            engine = live.server.engine
            assert engine is not None
            session = engine.sessions[session_id]
            return (session.state.name if session.state is not None else None, dict(session.vars))

        assert live.on_loop(live_state)[0] == "WAIT"
        fds = _open_fds()

        # 10,000 datagrams, paced by what the server has taken in
        corpus = list(datagrams(DATAGRAMS, live.port, int(fuzzer.getsockname()[1]), int(sink.getsockname()[1])))
        start = live.received()
        fuzz_started = time.monotonic()
        batch_deadline = time.monotonic() + LIMIT
        for sent, data in enumerate(corpus, 1):
            fuzzer.sendto(data, (LOOPBACK, live.port))
            if sent % BATCH == 0 or sent == DATAGRAMS:
                while live.received() - start < sent and time.monotonic() < batch_deadline:
                    _drain(fuzzer)
                    _drain(sink)
                    time.sleep(0.0005)
                batch_deadline = time.monotonic() + LIMIT
        fuzz_seconds = time.monotonic() - fuzz_started
        live.wait_for("datagrams taken in", lambda: live.received() - start >= DATAGRAMS)
        assert live.received() - start == DATAGRAMS

        # the server still answers, the live call is where it was
        assert caller.options().status == 200
        assert live.on_loop(live_state)[0] == "WAIT"

        # no leak: after 64*T1 and the fuzzer's calls' one second, back to the baseline
        def settled() -> bool:
            _drain(fuzzer)
            _drain(sink)
            held = live.held()
            return (
                held["core_calls"] == baseline["core_calls"]
                and held["sip_calls"] == baseline["sip_calls"]
                and held["sessions"] == baseline["sessions"]
                and held["server_transactions"] == 0
                and held["client_transactions"] == 0
            )

        live.wait_for("back to the baseline", settled, limit=20.0)
        if fds is not None:  # a garbage collection may close another test's leftovers meanwhile
            assert (_open_fds() or 0) <= fds

        # the live call still works: a key by INFO, then BYE (E-151)
        info = caller.in_dialog("INFO", "Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")
        assert info.status == 200
        live.wait_for("key delivered", lambda: live.on_loop(live_state)[0] == "GOT")
        assert live.on_loop(live_state)[1]["key"] == "5"
        assert caller.in_dialog("BYE").status == 200
        live.wait_for(
            "live call ended",
            lambda: (h := live.held())["sessions"] == [] and h["sip_calls"] == [] and h["core_calls"] == [],
        )

        # nothing escaped
        held = live.held()
        log = live.log_text.getvalue()
        assert live.loop_errors == []
        assert held["core_errors"] == 0
        assert "level=error" not in log
        assert "internal error" not in log
        assert " failed: " not in log
        calls = live.server.sip_calls
        assert calls is not None
        assert len(calls.recent) > 1  # the fuzzer's INVITEs did open calls of their own
        print(f"fuzz: {DATAGRAMS} datagrams in {fuzz_seconds:.2f} s, {len(calls.recent)} recent calls")
    finally:
        caller.close()
        fuzzer.close()
        sink.close()
