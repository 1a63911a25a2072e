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

The probe must not take the CPU the server under test needs (on a 2-core
machine it shares the cores with the server and sipp).  Reading one datagram
per system call, with Python around each, cost 7.3 µs a packet: a third of
a core at 1,000 calls.  On Linux it reads **in batches** (1.7 µs a packet):
it waits until the socket is readable, lets 2 ms of packets gather, then
``recvmmsg(2)`` takes up to 1,024 datagrams per call, each cut to its 12
header bytes, with their arrival stamps, and numpy copies the batch into the
buffer.  Elsewhere it reads one datagram per call as before.  The stamps
are the kernel's either way.

Bounded: the buffer holds at most ``max_packets`` headers (packets beyond
are counted, not kept) and the thread stops within ``poll`` seconds of
:meth:`RtpProbe.close`.
"""

from __future__ import annotations

import ctypes
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

import numpy as np
from mmsg import Iovec, Mmsghdr, Msghdr, libc

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Linux: the kernel stamps each datagram with its arrival time (struct timespec)."""
RECORD = np.dtype(
    [
        ("b0", "u1"), ("pt", "u1"), ("seq", ">u2"), ("ts", ">u4"), ("ssrc", ">u4"),
        ("sec", "<i8"), ("nsec", "<i8"),
    ]
)  # fmt: skip
"""One kept packet: its RTP header as received, then its arrival time."""
_BATCH_RECORD = np.dtype(RECORD.descr + [("len", "<u4")])
"""A record as read in a batch: RECORD's fields (same offsets), then the datagram's length."""
_TIMESPEC = struct.Struct("<qq")
CLOCK_RATE = 8000
JITTER_TAPS = 256
"""Terms of the RFC 3550 jitter filter kept ((15/16)^256 < 1e-7 of a term remains)."""
BATCH = 1024
"""Datagrams one ``recvmmsg`` call may take."""
GATHER = 0.002
"""Seconds the batched reader waits, once woken, before it reads (~100 packets at 1,000 calls).

Well within what the socket buffer holds even at the kernel's default limit
(512 such datagrams in 425,984 bytes: 10 ms at 1,000 calls)."""
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0x40)
_CMSG_SPACE = 32
"""One control message holding a ``struct timespec``: ``cmsghdr`` (16 bytes) and the stamp (16)."""


class _Batch:
    """Preallocated ``recvmmsg`` arguments: per datagram 12 bytes of header and one stamp.

    The kernel cuts each datagram to the 12 bytes its slot holds (the RTP
    header: all the probe keeps) and writes its ``SO_TIMESTAMPNS`` stamp to
    the slot's control buffer.  numpy views over the three arrays turn a
    batch into records without a Python step per datagram.
    """

    def __init__(self, slots: int) -> None:
        self.headers = (ctypes.c_char * (12 * slots))()
        self.control = (ctypes.c_char * (_CMSG_SPACE * slots))()
        self.iovecs = (Iovec * slots)()
        self.messages = (Mmsghdr * slots)()
        for i in range(slots):
            self.iovecs[i].iov_base = ctypes.addressof(self.headers) + 12 * i
            self.iovecs[i].iov_len = 12
            header = self.messages[i].msg_hdr
            header.msg_iov = ctypes.pointer(self.iovecs[i])
            header.msg_iovlen = 1
            header.msg_control = ctypes.addressof(self.control) + _CMSG_SPACE * i
        size = ctypes.sizeof(Mmsghdr)
        raw = np.frombuffer(self.messages, dtype=np.uint8).reshape(slots, size)
        self._controllen = raw[:, Mmsghdr.msg_hdr.offset + Msghdr.msg_controllen.offset :][:, :8].view("<u8")
        self._flags = raw[:, Mmsghdr.msg_hdr.offset + Msghdr.msg_flags.offset :][:, :4].view("<i4")
        self._lengths = raw[:, Mmsghdr.msg_len.offset :][:, :4].view("<u4")
        self._head = np.frombuffer(self.headers, dtype=np.uint8).reshape(slots, 12)
        self._stamp = np.frombuffer(self.control, dtype=np.uint8).reshape(slots, _CMSG_SPACE)[:, 16:]
        self.reset()

    def reset(self) -> None:
        """Before each call: the kernel shrinks ``msg_controllen`` to what it wrote."""
        self._controllen[:] = _CMSG_SPACE
        self._flags[:] = 0

    def records(self, count: int) -> np.ndarray:
        """The first ``count`` datagrams: RECORD rows plus their length (``len``)."""
        out = np.zeros(count, dtype=_BATCH_RECORD)
        rows = out.view(np.uint8).reshape(count, _BATCH_RECORD.itemsize)
        rows[:, :12] = self._head[:count]
        rows[:, 12:28] = self._stamp[:count]
        out["len"] = self._lengths[:count, 0]
        unstamped = self._controllen[:count, 0] < _CMSG_SPACE
        if unstamped.any():  # no stamp came with it: the time it was read
            out["sec"][unstamped], out["nsec"][unstamped] = divmod(time.time_ns(), 1_000_000_000)
        return out


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

    batched_default = True
    """Read with ``recvmmsg`` where the C library has it (tests set it to try the other reader)."""

    def __init__(
        self, host: str = "127.0.0.1", max_packets: int = 4_000_000, poll: float = 0.2
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((host, 0))
        self.sock.settimeout(poll)
        self.poll = poll
        self.port = int(self.sock.getsockname()[1])
        self.max_bytes = max_packets * RECORD.itemsize
        self.dropped = 0
        """Packets not kept because the buffer was full (or shorter than an RTP header)."""
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.batched = self.batched_default and libc() is not None
        """Whether the probe reads with ``recvmmsg`` (Linux) rather than one datagram per call."""
        run = self._run_batched if self.batched else self._run
        self._thread = threading.Thread(target=run, name="rtp-probe", daemon=True)
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

    def _run_batched(self) -> None:
        """Wait for the socket, then take everything queued, up to 1,024 datagrams a call."""
        lib = libc()
        assert lib is not None
        batch = _Batch(BATCH)
        fd = self.sock.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        wait_ms = int(self.poll * 1000)
        recvmmsg, messages, stop = lib.recvmmsg, batch.messages, self._stop
        while not stop.is_set():
            if not poller.poll(wait_ms):
                continue
            # Let a batch gather: the stamps are the kernel's, so reading a little
            # later changes no figure, and a sender finds no reader to wake meanwhile.
            time.sleep(GATHER)
            while True:
                batch.reset()
                count = recvmmsg(fd, messages, BATCH, _MSG_DONTWAIT, None)
                if count <= 0:  # nothing left (EAGAIN), or the socket closed
                    break
                self._keep(batch.records(count))
                if count < BATCH:
                    break

    def _keep(self, records: np.ndarray) -> None:
        good = records[records["len"] >= 12]
        with self._lock:
            room = max(0, (self.max_bytes - len(self._buf)) // RECORD.itemsize)
            kept = good[:room]
            self._buf += kept.view(np.uint8).reshape(-1, _BATCH_RECORD.itemsize)[:, : RECORD.itemsize].tobytes()
        self.dropped += records.size - kept.size

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
