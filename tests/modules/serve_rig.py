"""``dsm serve --sip`` in its own process, a SIP/RTP test phone, and OPTIONS probes.

For the tests of blocking actions (issue 14): the server must stay
responsive while one call waits on a paused database, a slow process or a
``py()`` that never returns.  The server runs as a real process (so a
spinning ``py()`` spins there, and SIGTERM can be sent); its stderr log is
collected line by line in a thread.  :class:`Phone` is a minimal UAC over
plain UDP sockets that records when each RTP packet of its call arrives.
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

LIMIT = 30.0


def _free_even_port_range(size: int = 200) -> str:
    """A ``LOW-HIGH`` RTP range around a port the kernel gave out (collisions are skipped)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    low = max(1024, port - port % 2 - size)
    return f"{low}-{low + 2 * size}"


class ServeProcess:
    """``python -m dsm.cli serve --scripts DIR --sip 127.0.0.1:0 …`` with its log collected."""

    def __init__(self, scripts: Path, *extra: str) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "dsm.cli", "serve", "--scripts", str(scripts),
                "--sip", "127.0.0.1:0", "--control", "127.0.0.1:0",
                "--rtp-ports", _free_even_port_range(), "--log-level", "info", *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True, errors="replace",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for("event=listening")
        sip = next(part for part in line.split() if part.startswith("sip="))
        self.port = int(sip.rpartition(":")[2])
        control = next(part for part in line.split() if part.startswith("control="))
        self.control = control.partition("=")[2]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = LIMIT) -> str:
        """The first log line matching the regular expression ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if rx.search(line):
                        return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no log line {pattern!r} (exit {self.proc.poll()}):\n{self.log()[-4000:]}")

    def metrics(self) -> list[str]:
        """The lines of ``GET /metrics`` on the control port."""
        with urllib.request.urlopen(f"http://{self.control}/metrics", timeout=LIMIT) as response:
            return response.read().decode().splitlines()

    def terminate(self) -> int:
        """SIGTERM and the exit code (bounded)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(LIMIT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(LIMIT)
        self._reader.join(LIMIT)


def _request(method: str, port: int, local: int, user: str, call_id: str, cseq: int = 1,
             tag: str = "", body: str = "", content_type: str = "application/sdp") -> bytes:
    ctype = f"Content-Type: {content_type}\r\n" if body else ""
    to_tag = f";tag={tag}" if tag else ""
    return (
        f"{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{method.lower()}{time.monotonic_ns()}\r\n"
        f"From: <sip:tester@127.0.0.1>;tag=phone\r\n"
        f"To: <sip:{user}@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:tester@127.0.0.1:{local}>\r\n"
        f"Max-Forwards: 70\r\n{ctype}"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


def _status_and_to_tag(data: bytes) -> tuple[int, str]:
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n", 1)[0]
    status = int(head.split()[1]) if head.startswith("SIP/2.0") else 0
    m = re.search(r"^(?:To|t):[^\r\n]*;tag=([^;\r\n]+)", text, re.M | re.I)
    return status, m.group(1) if m else ""


def options_latency(port: int) -> float:
    """Seconds from sending an OPTIONS to its final answer (an AssertionError after ``LIMIT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        start = time.monotonic()
        sock.sendto(_request("OPTIONS", port, local, "probe", f"opt-{time.monotonic_ns()}"), ("127.0.0.1", port))
        deadline = start + LIMIT
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.05))
            data, _ = sock.recvfrom(65535)
            status, _ = _status_and_to_tag(data)
            if status >= 200:
                return time.monotonic() - start
    raise AssertionError("OPTIONS unanswered")


def probe_options(port: int, seconds: float, interval: float = 0.1) -> list[float]:
    """OPTIONS latencies, one probe every ``interval`` for ``seconds``."""
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(options_latency(port))
        time.sleep(interval)
    return out


class Phone:
    """One call from a UDP socket: INVITE with an SDP offer, ACK, RTP arrival times, BYE."""

    def __init__(self, port: int, app: str) -> None:
        self.port = port
        self.app = app
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.call_id = f"phone-{app}-{time.monotonic_ns()}"
        self.arrivals: list[float] = []
        self.byes = 0
        self._stop = threading.Event()
        self._to_tag = ""
        self._cseq = 1
        self._threads: list[threading.Thread] = []

    def call(self) -> None:
        local = self.sip.getsockname()[1]
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )
        self.sip.sendto(_request("INVITE", self.port, local, self.app, self.call_id, body=sdp), ("127.0.0.1", self.port))
        deadline = time.monotonic() + LIMIT
        while True:
            self.sip.settimeout(max(deadline - time.monotonic(), 0.05))
            data, _ = self.sip.recvfrom(65535)
            status, tag = _status_and_to_tag(data)
            if status >= 300:
                raise AssertionError(f"INVITE to {self.app} refused: {status}")
            if status >= 200:
                self._to_tag = tag
                break
        self.sip.sendto(
            _request("ACK", self.port, local, self.app, self.call_id, tag=self._to_tag), ("127.0.0.1", self.port)
        )
        for target in (self._receive_rtp, self._receive_sip):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def _receive_rtp(self) -> None:
        self.rtp.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                self.rtp.recvfrom(2048)
                self.arrivals.append(time.monotonic())

    def _receive_sip(self) -> None:
        """Answer a BYE from the server with 200 (the script hung up)."""
        self.sip.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, addr = self.sip.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            if data.startswith(b"BYE "):
                self.byes += 1
                text = data.decode("utf-8", "replace")
                head = "\r\n".join(
                    line for line in text.split("\r\n")
                    if line.lower().startswith(("via:", "from:", "to:", "call-id:", "cseq:"))
                )
                with contextlib.suppress(OSError):
                    self.sip.sendto(f"SIP/2.0 200 OK\r\n{head}\r\nContent-Length: 0\r\n\r\n".encode(), addr)

    def late_fraction(self, start: float, end: float, late_after: float = 0.040) -> tuple[int, int]:
        """(late gaps, gaps) among packets that arrived between ``start`` and ``end``.

        A gap longer than ``late_after`` between two packets means frames came late.
        """
        times = [t for t in self.arrivals if start <= t <= end]
        gaps = [b - a for a, b in zip(times, times[1:])]
        return sum(1 for g in gaps if g > late_after), len(gaps)

    def key(self, digit: str) -> None:
        """One key as SIP INFO ``application/dtmf-relay`` (the server answers it in the SIP thread)."""
        self._cseq += 1
        local = self.sip.getsockname()[1]
        self.sip.sendto(
            _request(
                "INFO", self.port, local, self.app, self.call_id, cseq=self._cseq, tag=self._to_tag,
                body=f"Signal={digit}\r\nDuration=100\r\n", content_type="application/dtmf-relay",
            ),
            ("127.0.0.1", self.port),
        )

    def hang_up(self) -> None:
        local = self.sip.getsockname()[1]
        with contextlib.suppress(OSError):
            self.sip.sendto(
                _request("BYE", self.port, local, self.app, self.call_id, cseq=self._cseq + 1, tag=self._to_tag),
                ("127.0.0.1", self.port),
            )

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(LIMIT)
        self.sip.close()
        self.rtp.close()
