"""A plain-socket SIP caller and RTP peer for the attack tests against ``dsm serve --sip``.

:class:`Caller` places one call over UDP or TCP from its own sockets (SIP,
and an RTP socket whose port its SDP names), answers nothing, and reads
every message with a bounded wait.  :func:`legit_call` is the check run
after each attack: a fresh call is answered, ACKed and ended with BYE.
Nothing here sleeps for a fixed time to wait for the server: every wait is
a bounded poll.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from typing import Any

from dsm.runtime.media.rfc4733 import telephone_event_packets
from dsm.runtime.sip.message import Request, Response, StreamFramer, parse_message
from dsm.runtime.sip.rtp import RtpSender

WAIT = 30.0
"""Seconds any single wait may take before the test fails (a loaded 2-core machine)."""

_serial = 0


def _unique() -> str:
    global _serial
    _serial += 1
    return f"{time.monotonic_ns()}x{_serial}"


def sdp(media: tuple[str, int], payload_types: str = "0 101") -> str:
    host, port = media
    return (
        "v=0\r\no=attacker 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
        f"c=IN IP4 {host}\r\nt=0 0\r\nm=audio {port} RTP/AVP {payload_types}\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    )


def request(
    method: str,
    server: int,
    local: tuple[str, int],
    *,
    transport: str = "UDP",
    call_id: str = "",
    cseq: int = 1,
    to_tag: str = "",
    uri: str = "",
    body: str = "",
    extra: str = "",
    user: str = "menu",
) -> bytes:
    """One request from ``local`` to the server on 127.0.0.1 (``extra``: header lines with CRLF)."""
    to = f"<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} {uri or f'sip:{user}@127.0.0.1:{server}'} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bK{_unique()}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@{local[0]}>;tag=caller\r\n"
        f"To: {to}\r\nCall-ID: {call_id or _unique()}\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:caller@{local[0]}:{local[1]}{';transport=tcp' if transport == 'TCP' else ''}>\r\n"
        f"{extra}{ctype}Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


class Caller:
    """One caller: a SIP socket (UDP, or a TCP connection) and an RTP socket named in its SDP."""

    def __init__(self, server: int, transport: str = "udp", bind: str = "127.0.0.1") -> None:
        self.server = server
        self.transport = transport
        self.framer = StreamFramer()
        self.pending: list[Request | Response] = []
        if transport == "udp":
            self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sip.bind((bind, 0))
        else:
            self.sip = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sip.bind((bind, 0))
            self.sip.settimeout(WAIT)
            self.sip.connect(("127.0.0.1", server))
            self.sip.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local: tuple[str, int] = self.sip.getsockname()[:2]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.call_id = ""
        self.ok: Response | None = None
        self.sender = RtpSender(0x1234ABCD, 0)

    @property
    def rtp_address(self) -> tuple[str, int]:
        return self.rtp.getsockname()[:2]

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    # -- SIP ------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sip.sendto(data, ("127.0.0.1", self.server))
        else:
            self.sip.sendall(data)

    def receive(self, timeout: float = WAIT) -> Request | Response | None:
        """The next message, or ``None`` after ``timeout`` (or when the TCP peer closed)."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sip.settimeout(left)
            try:
                if self.transport == "udp":
                    data = self.sip.recv(65535)
                    self.pending.append(parse_message(data))
                else:
                    data = self.sip.recv(65535)
                    if not data:
                        return None
                    self.pending += self.framer.feed(data)
            except (TimeoutError, ConnectionError):
                return None
        return self.pending.pop(0)

    def final(self, method: str = "INVITE", timeout: float = WAIT) -> Response:
        """The first final response to ``method``; requests of the server are answered 200 on the way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.receive(deadline - time.monotonic())
            if msg is None:
                break
            if isinstance(msg, Request):
                self._answer(msg)
            elif msg.status >= 200 and msg.cseq.method == method:
                return msg
        raise AssertionError(f"no final response to {method}")

    def _answer(self, req: Request) -> None:
        if req.method == "ACK":
            return
        lines = ["SIP/2.0 200 OK"]
        lines += [f"{n}: {v}" for n, v in req.headers if n in ("Via", "From", "To", "Call-ID", "CSeq")]
        self.send(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())

    def invite(self, media: tuple[str, int] | None = None, user: str = "menu") -> Response:
        """INVITE with an SDP naming ``media`` (default: our RTP socket); the final response."""
        self.call_id = f"call-{_unique()}"
        tp = self.transport.upper()
        body = sdp(media or self.rtp_address)
        self.send(request("INVITE", self.server, self.local, transport=tp, call_id=self.call_id, body=body, user=user))
        response = self.final()
        if response.status == 200:
            self.ok = response
        return response

    def _in_dialog(self, method: str, cseq: int) -> bytes:
        assert self.ok is not None
        contact = self.ok.headers.get("Contact") or ""
        uri = contact.strip().lstrip("<").split(">", 1)[0]
        return request(
            method, self.server, self.local, transport=self.transport.upper(), call_id=self.call_id,
            cseq=cseq, to_tag=self.ok.to.tag or "", uri=uri,
        )

    def ack(self) -> None:
        self.send(self._in_dialog("ACK", 1))

    def bye(self) -> Response:
        self.send(self._in_dialog("BYE", 2))
        return self.final("BYE")

    # -- RTP --------------------------------------------------------------------------------------
    @property
    def server_media(self) -> tuple[str, int]:
        """The server's RTP address from its SDP answer."""
        assert self.ok is not None
        body = self.ok.body.decode()
        host = re.search(r"c=IN IP4 (\S+)", body)
        port = re.search(r"m=audio (\d+)", body)
        assert host and port, body
        return host.group(1), int(port.group(1))

    def send_audio(self, count: int, sock: socket.socket | None = None) -> None:
        for _ in range(count):
            (sock or self.rtp).sendto(bytes(self.sender.audio(b"\xff" * 160)), self.server_media)

    def send_key(self, key: int, sock: socket.socket | None = None) -> None:
        """One RFC 4733 key press of 100 ms, from our RTP socket or ``sock``."""
        for i, packet in enumerate(telephone_event_packets(key, 100)):
            rtp = self.sender.event(packet.payload.encode(), 101, new_event=i == 0)
            (sock or self.rtp).sendto(bytes(rtp), self.server_media)

    def first_rtp(self, wait: float) -> bool:
        """Whether an RTP packet arrives at our RTP socket within ``wait`` seconds."""
        self.rtp.settimeout(wait)
        try:
            self.rtp.recv(4096)
        except (TimeoutError, OSError):
            return False
        return True

    def rtp_received(self, wait: float) -> int:
        """RTP packets arriving at our RTP socket within ``wait`` seconds."""
        return count_datagrams(self.rtp, wait)


def count_datagrams(sock: socket.socket, wait: float) -> int:
    deadline = time.monotonic() + wait
    count = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return count
        sock.settimeout(left)
        try:
            sock.recv(4096)
        except (TimeoutError, OSError):
            return count
        count += 1


def legit_call(server: int, transport: str = "udp") -> None:
    """A fresh call is answered 200 with SDP, ACKed, gets our audio's echo of RTP, and ends with BYE 200."""
    caller = Caller(server, transport)
    try:
        ok = caller.invite()
        assert ok.status == 200 and b"m=audio" in ok.body, ok
        caller.ack()
        assert caller.first_rtp(WAIT), "the server sent no RTP to a confirmed call"
        assert caller.bye().status == 200
    finally:
        caller.close()


def metrics(address: tuple[str, int]) -> dict[str, float]:
    """``GET /metrics`` of the control endpoint: unlabelled samples by name."""
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/metrics", timeout=WAIT) as reply:
        text = reply.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def describe(value: Any) -> str:
    return json.dumps(value, default=str)
