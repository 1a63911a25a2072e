"""An RTP receiver for benchmarks: lateness and jitter where the packets arrive.

The SIP benchmark points every call's SDP at this one UDP socket, so the
server's streams (one SSRC each) all arrive here.  The receiving thread does
as little as it can per packet: it keeps the 12-byte RTP header and the
kernel's arrival time (``SO_TIMESTAMPNS``, so a receiver that wakes late does
not make the server look late) in one growing buffer.  Analysis happens
afterwards, per window, with numpy:

* **lateness** of a packet: its arrival minus its ideal arrival on the 20 ms
  grid its RTP timestamp names, the grid anchored at the stream's most
  punctual packet of the window (``arrival - timestamp / 8000``, minus that
  stream's minimum).  A packet more than ``late_after`` behind is late; a
  sequence number that never arrived counts as late too.
* **jitter**: RFC 3550 interarrival jitter ``J += (|D| - J) / 16`` per
  stream, averaged over the window, in milliseconds.

Bounded: the buffer holds at most ``max_packets`` headers (packets beyond
are counted, not kept) and the thread stops within ``poll`` seconds of
:meth:`RtpProbe.close`.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

import numpy as np

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux: the kernel stamps each datagram with its arrival time (struct timespec)."""
RECORD = np.dtype(
    [
        ("b0", "u1"), ("pt", "u1"), ("seq", ">u2"), ("ts", ">u4"), ("ssrc", ">u4"),
        ("sec", "<i8"), ("nsec", "<i8"),
    ]
)  # fmt: skip
"""One kept packet: its RTP header as received, then its arrival time."""
_TIMESPEC = struct.Struct("<qq")
CLOCK_RATE = 8000
JITTER_TAPS = 256
"""Terms of the RFC 3550 jitter filter kept ((15/16)^256 < 1e-7 of a term remains)."""


@dataclass(frozen=True)
class Window:
    """What arrived between two marks, summed over every stream."""

    streams: int
    expected: int
    received: int
    lost: int
    late: int
    late_ratio: float
    """(late + lost) / expected."""
    lateness_p99_ms: float
    jitter_median_ms: float
    jitter_max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class RtpProbe:
    """A UDP socket on ``host`` and a thread that keeps every packet's header and arrival time."""

    def __init__(
        self, host: str = "127.0.0.1", max_packets: int = 4_000_000, poll: float = 0.2
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((host, 0))
        self.sock.settimeout(poll)
        self.port = int(self.sock.getsockname()[1])
        self.max_bytes = max_packets * RECORD.itemsize
        self.dropped = 0
        """Packets not kept because the buffer was full (or shorter than an RTP header)."""
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtp-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock, buf, lock, stop = self.sock, self._buf, self._lock, self._stop
        pack = _TIMESPEC.pack
        while not stop.is_set():
            try:
                data, anc, _flags, _addr = sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or len(buf) >= self.max_bytes:
                self.dropped += 1
                continue
            stamp = anc[0][2][:16] if anc else pack(*divmod(time.time_ns(), 1_000_000_000))
            with lock:
                buf += data[:12]
                buf += stamp

    def mark(self) -> int:
        """A position in the stream of kept packets (windows lie between two marks)."""
        with self._lock:
            return len(self._buf) // RECORD.itemsize

    def records(self, start: int, end: int) -> np.ndarray:
        with self._lock:
            raw = bytes(self._buf[start * RECORD.itemsize : end * RECORD.itemsize])
        return np.frombuffer(raw, dtype=RECORD)

    def streams_since(self, start: int) -> int:
        """Distinct SSRCs among the packets kept since ``start``."""
        return int(np.unique(self.records(start, self.mark())["ssrc"]).size)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _unwrap(values: np.ndarray, modulo: int) -> np.ndarray:
    """Sequence numbers or timestamps as increasing integers (wrap-around and reordering undone)."""
    v = values.astype(np.int64)
    step = np.diff(v) % modulo
    step[step >= modulo // 2] -= modulo
    return np.concatenate(([v[0]], v[0] + np.cumsum(step)))


def rfc3550_jitter(transit: np.ndarray) -> np.ndarray:
    """The running RFC 3550 jitter estimate after each packet, from transit times in timestamp units."""
    d = np.abs(np.diff(transit))
    if d.size == 0:
        return np.zeros(1)
    kernel = (1 / 16) * (15 / 16) ** np.arange(JITTER_TAPS)
    return np.convolve(d, kernel)[: d.size]


def analyse(records: np.ndarray, late_after: float = 0.010) -> Window:
    """Lateness, loss and jitter of every stream in ``records`` (one window)."""
    expected = received = late = 0
    lateness_all: list[np.ndarray] = []
    jitters: list[float] = []
    if records.size:
        order = np.argsort(records["ssrc"], kind="stable")  # arrival order kept within a stream
        ordered = records[order]
        cuts = np.flatnonzero(np.diff(ordered["ssrc"])) + 1
        for stream in np.split(ordered, cuts):
            if stream.size < 2:
                continue
            seq = _unwrap(stream["seq"], 1 << 16)
            ts = _unwrap(stream["ts"], 1 << 32)
            arrival = stream["sec"].astype(np.float64) + stream["nsec"] * 1e-9
            arrival -= arrival[0]
            transit = arrival - (ts - ts[0]) / CLOCK_RATE
            lateness = transit - transit.min()
            expected += int(seq.max() - seq.min() + 1)
            received += int(np.unique(seq).size)
            late += int(np.count_nonzero(lateness > late_after))
            lateness_all.append(lateness)
            jitters.append(float(rfc3550_jitter(transit * CLOCK_RATE).mean()) / CLOCK_RATE * 1000)
    lost = max(expected - received, 0)
    joined = np.concatenate(lateness_all) if lateness_all else np.zeros(1)
    return Window(
        streams=len(jitters),
        expected=expected,
        received=received,
        lost=lost,
        late=late,
        late_ratio=round((late + lost) / expected, 5) if expected else 1.0,
        lateness_p99_ms=round(float(np.percentile(joined, 99)) * 1000, 2),
        jitter_median_ms=round(float(np.median(jitters)), 3) if jitters else 0.0,
        jitter_max_ms=round(max(jitters), 3) if jitters else 0.0,
    )
