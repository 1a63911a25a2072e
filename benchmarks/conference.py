"""Conference mixing capacity: G.711 channels per core mixed in rooms, late frames where packets arrive (issue 18).

``dsm serve --sip`` runs as a subprocess (one asyncio loop, so one core) with
one script, ``conf``, that joins each call into the room named by the
request URI's user (``conference.join(@user)``).  The load generator is this
process: it places N calls itself (INVITE with a PCMU offer, 200, ACK) into
rooms of ``size`` (``room0``, ``room1`` …), streams a tone from every caller
(one PCMU packet per call every 20 ms, as a phone does) and receives what the
server sends back.

Lateness is measured where the packets arrive: the receiving socket has
kernel receive time stamps (``SO_TIMESTAMPNS``), so the generator's own
scheduling does not count.  For each call, over a window of ``WINDOW``
seconds once all calls are up, a packet with sequence number ``s`` arriving
at ``t`` has the offset ``t - 0.020 * s``; a packet is *late* when its offset
is more than 10 ms above the smallest offset of that call's previous second
of packets, and a frame that never arrived counts as late.  The share of late frames over all
calls is the step's figure; a step passes under 1 %.

Ladders: rooms of 10 and rooms of 4, N rising (``--calls`` replaces the
ladder); each step gets a fresh server; the reported figure for a room size
is the highest N that passed (two windows per step, the better counts: one
stall from another process on a shared machine makes every call late at
once).  Each step also reports the server's CPU share, the generator's (this
process) and the load average: the generator needs a good part of the other
core, so on a shared 2-core machine a failed step with the server well below
one core points at the machine, not at the server.

``mixing_us_per_channel_frame`` is the conference's own part measured in
process without sockets (600 channels: each call's media tick with the
room's playlist item, then the mixer step), to set against the per-channel
cost of the whole server.

Every loop is bounded in count and time (the run stays under about three
minutes), all traffic is on 127.0.0.1, the server is killed on every path.
Run: ``.venv/bin/python benchmarks/conference.py``.  The last line of output
is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dsm.runtime.media.g711 import ulaw_encode

LADDER: tuple[int, ...] = (50, 100, 150, 200, 250, 300, 400, 500, 600, 800)
ROOM_SIZES: tuple[int, ...] = (10, 4)
WINDOW = 3.0
WINDOWS = 2
LATE_AFTER = 0.010
BASELINE = 50
"""Packets (one second) over which a call's best arrival offset is taken."""
LATE_LIMIT = 0.01
SETUP_RATE = 200.0
"""INVITEs per second while setting up a step."""
TOTAL_BUDGET = 170.0
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux's option (and control message) for nanosecond kernel receive times."""

SCRIPT = """\
-- join the room named by the request URI's user; leave with the call
import(mod_conference);
initial state S;
state END;
transition "start" S - sessionStart / conference.join(@user) -> S;
transition "hangup" S - hangup / stop(false) -> END;
"""

INVITE = (
    "INVITE sip:{room}@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{cid}i\r\n"
    "From: <sip:bench@127.0.0.1>;tag=t{cid}\r\n"
    "To: <sip:{room}@127.0.0.1:{port}>\r\n"
    "Call-ID: {cid}@bench\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:bench@127.0.0.1:{local}>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n{sdp}"
)
SDP = (
    "v=0\r\no=bench {cid} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
ACK = (
    "ACK {contact} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{cid}a\r\n"
    "From: <sip:bench@127.0.0.1>;tag=t{cid}\r\n"
    "{to}\r\n"
    "Call-ID: {cid}@bench\r\n"
    "CSeq: 1 ACK\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``dsm serve --sip --application conf`` as a subprocess; killed on exit."""

    def __init__(self, scripts: Path, profile: str | None = None) -> None:
        self.sip_port = free_port()
        self.control_port = free_port(socket.SOCK_STREAM)
        cmd = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else []) + [
            "-m", "dsm.cli", "serve", "--scripts", str(scripts),
            "--sip", f"127.0.0.1:{self.sip_port}", "--control", f"127.0.0.1:{self.control_port}",
            "--application", "conf", "--rtp-ports", "30000-39999", "--log-level", "error",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.control_port}", timeout=5.0)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dsm serve exited {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                self.client.get("/metrics")
                return
            if time.monotonic() > deadline:
                raise RuntimeError("dsm serve did not start within 30 s")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a clean stop, so cProfile writes its file
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Callers:
    """N calls placed from one SIP socket; their RTP through one socket with kernel time stamps."""

    def __init__(self, server_port: int, n: int, room_size: int) -> None:
        self.server_port = server_port
        self.n = n
        self.room_size = room_size
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.sip.settimeout(0.05)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.rtp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.rtp.settimeout(0.2)
        self.server_rtp: dict[int, int] = {}
        """call index -> the server's RTP port of that call."""
        self._stop = threading.Event()
        self.arrivals: list[tuple[int, int, float]] = []
        """(source port, sequence number, kernel arrival time) of every packet received."""
        self._recording = False
        self._threads: list[threading.Thread] = []

    # -- signalling --------------------------------------------------------------------------
    def setup(self, deadline: float) -> int:
        """Place the calls at :data:`SETUP_RATE`; returns how many were answered."""
        local = self.sip.getsockname()[1]
        rtp_port = self.rtp.getsockname()[1]
        pending: dict[str, tuple[int, float, int]] = {}
        sent = 0
        start = time.monotonic()
        while len(self.server_rtp) < self.n and time.monotonic() < deadline:
            due = int((time.monotonic() - start) * SETUP_RATE) + 1
            while sent < min(due, self.n):
                cid = f"c{sent}x{os.getpid()}"
                sdp = SDP.format(cid=sent, rtp=rtp_port)
                room = f"room{sent // self.room_size}"
                msg = INVITE.format(room=room, port=self.server_port, local=local, cid=cid, length=len(sdp), sdp=sdp)
                self.sip.sendto(msg.encode(), ("127.0.0.1", self.server_port))
                pending[cid] = (sent, time.monotonic(), 0)
                sent += 1
            for _ in range(200):
                try:
                    data = self.sip.recv(65535)
                except (TimeoutError, BlockingIOError):
                    break
                self._response(data.decode(errors="replace"), pending, local)
            now = time.monotonic()
            for cid, (index, when, tries) in list(pending.items()):  # retransmit a lost INVITE
                if now - when > 2.0 and tries < 3:
                    sdp = SDP.format(cid=index, rtp=rtp_port)
                    room = f"room{index // self.room_size}"
                    msg = INVITE.format(room=room, port=self.server_port, local=local, cid=cid, length=len(sdp), sdp=sdp)
                    self.sip.sendto(msg.encode(), ("127.0.0.1", self.server_port))
                    pending[cid] = (index, now, tries + 1)
        return len(self.server_rtp)

    def _response(self, text: str, pending: dict[str, tuple[int, float, int]], local: int) -> None:
        if not text.startswith("SIP/2.0 200"):
            return
        cid_m = re.search(r"^Call-ID:\s*(\S+)@bench", text, re.M | re.I)
        if cid_m is None:
            return
        cid = cid_m.group(1)
        to = re.search(r"^(To:.*)$", text, re.M | re.I)
        contact = re.search(r"^Contact:\s*<([^>]+)>", text, re.M | re.I)
        media = re.search(r"^m=audio (\d+)", text, re.M)
        if to is None or contact is None or media is None:
            return
        ack = ACK.format(contact=contact.group(1), local=local, cid=cid, to=to.group(1).strip())
        self.sip.sendto(ack.encode(), ("127.0.0.1", self.server_port))
        entry = pending.pop(cid, None)
        if entry is not None:
            self.server_rtp[entry[0]] = int(media.group(1))

    # -- media -------------------------------------------------------------------------------
    def start_media(self) -> None:
        for target in (self._send, self._receive):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self.sip.close()
        self.rtp.close()

    def _send(self) -> None:
        """One PCMU packet per call every 20 ms: a 300 Hz tone (bounded by the stop flag and 10 min)."""
        t = np.arange(160 * 50) / 8000
        tone = ulaw_encode(np.round(3000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)).tobytes()
        targets = [(i, ("127.0.0.1", port)) for i, port in sorted(self.server_rtp.items())]
        seq = 0
        start = time.monotonic()
        limit = start + 600
        while not self._stop.is_set() and time.monotonic() < limit:
            chunk = tone[(seq % 50) * 160 : (seq % 50 + 1) * 160]
            for i, addr in targets:
                header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x1000 + i)
                with contextlib.suppress(OSError):
                    self.rtp.sendto(header + chunk, addr)
            seq += 1
            wait = start + seq * 0.020 - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _receive(self) -> None:
        size = socket.CMSG_SPACE(16)
        limit = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < limit:
            try:
                data, anc, _flags, addr = self.rtp.recvmsg(2048, size)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            if not self._recording or len(data) < 12:
                continue
            stamp = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    stamp = sec + nsec * 1e-9
            if stamp is None:
                stamp = time.time()
            self.arrivals.append((addr[1], struct.unpack("!H", data[2:4])[0], stamp))

    def window(self, seconds: float) -> dict[str, float]:
        """Record ``seconds`` of arrivals; the share of late or missing frames over all calls."""
        self.arrivals = []
        self._recording = True
        time.sleep(seconds)
        self._recording = False
        arrivals = list(self.arrivals)
        by_port: dict[int, list[tuple[int, float]]] = {}
        for port, seq, stamp in arrivals:
            by_port.setdefault(port, []).append((seq, stamp))
        expected_each = int(seconds / 0.020)
        late = 0
        received = 0
        for port in self.server_rtp.values():
            got = by_port.get(port, [])
            if not got:
                late += expected_each
                continue
            seqs = np.unwrap(np.array([s for s, _ in got], dtype=np.float64), period=65536)
            stamps = np.array([t for _, t in got])
            offsets = stamps - 0.020 * (seqs - seqs[0])
            # the best offset of the last second: a schedule the server restarted once
            # (after a stall) is a new grid, not lateness for the rest of the window
            padded = np.concatenate([np.full(BASELINE - 1, np.inf), offsets])
            baseline = sliding_window_view(padded, BASELINE).min(axis=1)
            late_here = int(np.count_nonzero(offsets - baseline > LATE_AFTER))
            missing = max(0, expected_each - len(got))
            late += late_here + missing
            received += len(got)
        total = expected_each * max(len(self.server_rtp), 1)
        return {"late_share": late / total, "received": received, "expected": total}


def mixing_cost(channels: int, room_size: int, frames: int = 250) -> float:
    """Microseconds per channel and frame of the media work without sockets.

    ``channels`` call media objects (playlist with the room's channel item,
    in-band DTMF detection on) each receive a frame and produce one, then the
    mixer steps: the part of the per-frame cost that conferencing adds to
    a call's RTP handling.
    """
    from dsm.runtime.media.call_media import CallMedia
    from dsm.runtime.media.conference import ChannelItem, Conferences

    conf = Conferences(lambda _session, _event: None)
    media = []
    for i in range(channels):
        m = CallMedia()
        m.play(ChannelItem(conf.acquire(f"room{i // room_size}", f"s{i}", True, True)))
        m.media_connect()
        m.set_media_flag("receiving", True)
        media.append(m)
    t = np.arange(160) / 8000
    frame = np.round(3000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    start = time.perf_counter()
    for _ in range(frames):
        for m in media:
            m.tick(frame, detect=False)
        conf.step()
    return (time.perf_counter() - start) / (frames * channels) * 1e6


def own_cpu() -> float:
    """User + system CPU seconds of this process (the load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def step(
    scripts: Path, n: int, room_size: int, deadline: float, profile: str | None = None
) -> dict[str, object]:
    served = Served(scripts, profile)
    callers = Callers(served.sip_port, n, room_size)
    try:
        answered = callers.setup(min(deadline, time.monotonic() + n / SETUP_RATE + 15))
        if answered < n:
            return {"calls": n, "room_size": room_size, "answered": answered, "passed": False}
        callers.start_media()
        time.sleep(1.5)  # every call streams and the rooms are full
        cpu0, own0, t0 = served.cpu_seconds(), own_cpu(), time.monotonic()
        windows = [callers.window(WINDOW) for _ in range(WINDOWS)]
        elapsed = max(time.monotonic() - t0, 1e-6)
        cpu = (served.cpu_seconds() - cpu0) / elapsed
        generator = (own_cpu() - own0) / elapsed
        best = min(w["late_share"] for w in windows)
        return {
            "calls": n,
            "room_size": room_size,
            "late_share": round(best, 5),
            "windows": [round(w["late_share"], 5) for w in windows],
            "received_per_window": [int(w["received"]) for w in windows],
            "server_cpu": round(cpu, 3),
            "server_us_per_channel_frame": round(cpu / (n * 50) * 1e6, 1),
            "generator_cpu": round(generator, 3),
            "load_avg": round(os.getloadavg()[0], 2),
            "passed": best < LATE_LIMIT,
        }
    finally:
        callers.stop()
        served.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", metavar="N,N,…", help="channel counts to try instead of the default ladder")
    parser.add_argument("--rooms", metavar="S,S,…", help="room sizes instead of 10,4")
    parser.add_argument("--profile", metavar="FILE", help="run the first step's server under cProfile, statistics to FILE")
    args = parser.parse_args()
    ladder = tuple(int(x) for x in args.calls.split(",")) if args.calls else LADDER
    sizes = tuple(int(x) for x in args.rooms.split(",")) if args.rooms else ROOM_SIZES
    started = time.monotonic()
    deadline = started + TOTAL_BUDGET
    result: dict[str, object] = {"benchmark": "conference"}
    steps: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="dsm-bench-conf-") as tmp:
        scripts = Path(tmp) / "scripts"
        scripts.mkdir()
        (scripts / "conf.dsm").write_text(SCRIPT)
        for size in sizes:
            best = 0
            for n in ladder:
                need = n / SETUP_RATE + 1.5 + WINDOW * WINDOWS + 8
                if time.monotonic() + need > deadline:
                    break
                outcome = step(scripts, n, size, deadline, args.profile if not steps else None)
                steps.append(outcome)
                print(json.dumps(outcome), file=sys.stderr)
                if not outcome["passed"]:
                    break
                best = n
            result[f"channels_under_1pct_late_rooms_of_{size}"] = best
    result["steps"] = steps
    # the conference's own share, in process: media tick with the channel item + mixer step
    result["mixing_us_per_channel_frame"] = {
        f"rooms_of_{size}": round(mixing_cost(600, size), 2) for size in sizes
    }
    result["target"] = {"channels_per_core": 600}
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
