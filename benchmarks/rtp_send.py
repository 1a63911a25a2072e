"""The kernel's cost of sending RTP from Python: CPU per packet of each way to send.

The send side of the media path ends in one system call per packet.  This
benchmark measures what that call costs on this machine, per packet, for
``--calls`` call sockets (each bound to its own loopback port, as every
call sends from its own RTP port) sending one 172-byte G.711 packet each per
frame interval to ``--calls`` receivers (each bound to its own port):

* ``sendto``: ``sock.sendto(packet, address)``, the bound method cached
  (what :class:`RtpSession` does);
* ``sendmsg``: ``sock.sendmsg([packet], (), 0, address)``;
* ``sendmmsg_per_socket``: ``sendmmsg(2)`` through ``ctypes`` with
  preallocated ``mmsghdr``/``iovec``/``sockaddr_in`` arrays, one call per
  socket and frame -- all a call has to send in a tick is one packet, so
  this is the batch the design allows;
* ``sendmmsg_one_socket``: every packet of the tick from **one** socket in
  one ``sendmmsg`` call -- the lower bound a shared sending socket would
  reach; not usable, as each call must send from its own port (the peer
  latches on it and expects it);
* ``send_connected``: ``send`` on connected sockets -- not usable either (a
  connected UDP socket drops packets from any other address, e.g. a caller
  behind NAT), listed as a bound;
* ``sendto_sndbuf_4k`` / ``sendto_sndbuf_1m``: ``sendto`` with ``SO_SNDBUF``
  set small or large.

The receivers are bound (a closed loopback port would make the kernel answer
every packet with ICMP "port unreachable", which costs the sender too).  With
``--reader none`` (the default) they are **not read while the clock runs**:
a draining thread in this process would take the GIL and CPU from the sender
and be counted in its process time.
Each receiver's buffer holds a round's packets (``--frames`` per receiver,
``SO_RCVBUF`` raised), and between rounds, outside the measured time, every
receiver is drained and the packets counted: a packet dropped by a full
buffer (cheaper than one delivered) would show as ``delivered`` <
``sent``.  Loopback delivery happens in the sender's system call, so the
figures include the receiving side's kernel work, as on a real loopback run.

``--reader process`` puts the receivers in a child process that waits in
``epoll`` and reads every packet as it comes, as a phone (or sipp, or the
SIP benchmark's probe thread) does: each packet that finds its reader asleep
also pays, in the sender's system call, for waking it -- the cost a server
on loopback pays per packet in the SIP benchmark.  Delivered packets are
counted by the child.

Reported per variant: CPU microseconds per packet (``time.process_time``,
user + system, median of ``--rounds`` rounds) and packets delivered / sent.
Linux only for ``sendmmsg``.  All traffic is on 127.0.0.1; every loop is
bounded.

Run: ``.venv/bin/python benchmarks/rtp_send.py [--calls 200]``.  The last
line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import multiprocessing
import multiprocessing.connection
import os
import select
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable

from mmsg import Iovec, Mmsghdr, libc

PACKET_SIZE = 12 + 160


class _SockaddrIn(ctypes.Structure):
    _fields_ = [
        ("sin_family", ctypes.c_ushort),
        ("sin_port", ctypes.c_uint16),
        ("sin_addr", ctypes.c_uint32),
        ("sin_zero", ctypes.c_char * 8),
    ]


class MmsgBatch:
    """Preallocated ``sendmmsg`` arguments: one message per (buffer, destination), no copies."""

    def __init__(self, buffers: list[bytearray], destinations: list[tuple[str, int]]) -> None:
        lib = libc()
        if lib is None:
            raise OSError("no sendmmsg in this C library")
        self._sendmmsg = lib.sendmmsg
        count = len(buffers)
        self.count = count
        self.messages = (Mmsghdr * count)()
        self.iovecs = (Iovec * count)()
        self.addresses = (_SockaddrIn * count)()
        self._views = [(ctypes.c_char * len(b)).from_buffer(b) for b in buffers]  # keep alive
        for i, (view, (host, port)) in enumerate(zip(self._views, destinations, strict=True)):
            self.iovecs[i].iov_base = ctypes.addressof(view)
            self.iovecs[i].iov_len = len(view)
            address = self.addresses[i]
            address.sin_family = socket.AF_INET
            address.sin_port = socket.htons(port)
            address.sin_addr = struct.unpack("=I", socket.inet_aton(host))[0]
            header = self.messages[i].msg_hdr
            header.msg_name = ctypes.addressof(address)
            header.msg_namelen = ctypes.sizeof(_SockaddrIn)
            header.msg_iov = ctypes.pointer(self.iovecs[i])
            header.msg_iovlen = 1
        self.base = ctypes.addressof(self.messages)
        size = ctypes.sizeof(Mmsghdr)
        self.pointers = [
            ctypes.cast(self.base + i * size, ctypes.POINTER(Mmsghdr)) for i in range(count)
        ]
        """Message ``i`` as a ready argument: nothing is converted per call but the fd.

        The pointers do not keep the arrays alive: whoever uses them keeps the batch.
        """
        self.raw = self._sendmmsg

    def send(self, fd: int, first: int = 0, count: int | None = None) -> int:
        n = self.count - first if count is None else count
        return int(
            self._sendmmsg(
                fd, ctypes.cast(self.base + first * ctypes.sizeof(Mmsghdr), ctypes.POINTER(Mmsghdr)), n, 0
            )
        )


READER_SECONDS = 300.0
"""The child reader stops by itself after this long (bounded even if the parent dies)."""


def _reader(calls: int, conn: multiprocessing.connection.Connection) -> None:
    """The child of ``--reader process``: bind, report the addresses, read everything until told."""
    receivers = [Rig.bound(rcvbuf=1 << 20) for _ in range(calls)]
    poll = select.epoll()
    by_fd = {r.fileno(): r for r in receivers}
    for fd in by_fd:
        poll.register(fd, select.EPOLLIN)
    conn.send([r.getsockname() for r in receivers])
    got = 0
    deadline = time.monotonic() + READER_SECONDS
    while time.monotonic() < deadline:
        if conn.poll(0):
            conn.recv()
            conn.send(got)
            if conn.recv() == "stop":  # pragma: no branch - "go on" continues
                break
        for fd, _mask in poll.poll(0.05):
            receiver = by_fd[fd]
            for _ in range(10_000):
                try:
                    receiver.recv(2048)
                except BlockingIOError:
                    break
                got += 1


class Rig:
    def __init__(self, calls: int, reader: str = "none") -> None:
        self.senders = [self.bound() for _ in range(calls)]
        self.packets = [bytearray(os.urandom(PACKET_SIZE)) for _ in range(calls)]
        self.receivers: list[socket.socket] = []
        self._child: multiprocessing.process.BaseProcess | None = None
        if reader == "process":
            context = multiprocessing.get_context("fork")
            self._conn, child_conn = context.Pipe()
            self._child = context.Process(target=_reader, args=(calls, child_conn), daemon=True)
            self._child.start()
            if not self._conn.poll(30):
                raise RuntimeError("the reader process did not start")
            self.addresses: list[tuple[str, int]] = self._conn.recv()
            self._counted = 0
        else:
            self.receivers = [self.bound(rcvbuf=1 << 20) for _ in range(calls)]
            self.addresses = [r.getsockname() for r in self.receivers]

    @staticmethod
    def bound(rcvbuf: int = 0) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        return sock

    def drain(self) -> int:
        if self._child is not None:  # the child counts what it read (give it time to catch up)
            time.sleep(0.3)
            self._conn.send("count")
            total = int(self._conn.recv())
            self._conn.send("go on")
            got, self._counted = total - self._counted, total
            return got
        got = 0
        for receiver in self.receivers:
            for _ in range(100_000):
                try:
                    receiver.recv(2048)
                except BlockingIOError:
                    break
                got += 1
        return got

    def set_sndbuf(self, size: int | None) -> None:
        for sock in self.senders:
            if size is None:  # back to the system default
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _DEFAULT_SNDBUF // 2)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    def close(self) -> None:
        for sock in self.senders + self.receivers:
            sock.close()
        if self._child is not None:
            with contextlib.suppress(OSError):
                self._conn.send("count")
                self._conn.recv()
                self._conn.send("stop")
            self._child.join(5)
            if self._child.is_alive():
                self._child.kill()


_probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_DEFAULT_SNDBUF = _probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
_probe.close()


def _tick_sendto(rig: Rig) -> Callable[[], None]:
    pairs = list(zip([s.sendto for s in rig.senders], rig.packets, rig.addresses, strict=True))

    def tick() -> None:
        for sendto, packet, address in pairs:
            sendto(packet, address)

    return tick


def _tick_sendmsg(rig: Rig) -> Callable[[], None]:
    pairs = list(zip([s.sendmsg for s in rig.senders], rig.packets, rig.addresses, strict=True))

    def tick() -> None:
        for sendmsg, packet, address in pairs:
            sendmsg([packet], (), 0, address)

    return tick


def _tick_mmsg_per_socket(rig: Rig) -> Callable[[], None]:
    batch = MmsgBatch(rig.packets, rig.addresses)
    calls = [(s.fileno(), pointer) for s, pointer in zip(rig.senders, batch.pointers, strict=True)]
    sendmmsg = batch.raw

    def tick() -> None:
        # ``batch`` named here keeps its arrays alive: the pointers do not
        assert batch.count == len(calls)
        for fd, pointer in calls:
            sendmmsg(fd, pointer, 1, 0)

    return tick


def _tick_mmsg_one_socket(rig: Rig) -> Callable[[], None]:
    batch = MmsgBatch(rig.packets, rig.addresses)
    fd = rig.senders[0].fileno()

    def tick() -> None:
        sent = batch.send(fd)
        if sent != batch.count:
            raise OSError(ctypes.get_errno(), "sendmmsg sent fewer packets")

    return tick


def _tick_connected(rig: Rig) -> Callable[[], None]:
    for sock, address in zip(rig.senders, rig.addresses, strict=True):
        sock.connect(address)
    pairs = list(zip([s.send for s in rig.senders], rig.packets, strict=True))

    def tick() -> None:
        for send, packet in pairs:
            send(packet)

    return tick


def measure(rig: Rig, tick: Callable[[], None], frames: int, rounds: int) -> dict[str, object]:
    spent: list[float] = []
    sent = delivered = 0
    tick()  # warm-up
    rig.drain()
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(frames):
            tick()
        spent.append(time.process_time() - start)
        sent += frames * len(rig.senders)
        delivered += rig.drain()
    packets = frames * len(rig.senders)
    return {
        "cpu_us_per_packet": round(statistics.median(spent) / packets * 1e6, 2),
        "rounds_us": [round(s / packets * 1e6, 2) for s in spent],
        "delivered": delivered,
        "sent": sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--frames", type=int, default=50, help="frame intervals per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--reader",
        choices=("none", "process"),
        default="none",
        help="receivers not read while measured, or read by a child process waiting in epoll",
    )
    args = parser.parse_args()
    results: dict[str, object] = {}
    variants: list[tuple[str, Callable[[Rig], Callable[[], None]], int | None]] = [
        ("sendto", _tick_sendto, None),
        ("sendmsg", _tick_sendmsg, None),
        ("sendto_sndbuf_4k", _tick_sendto, 4096),
        ("sendto_sndbuf_1m", _tick_sendto, 1 << 20),
    ]
    if sys.platform.startswith("linux"):
        variants += [
            ("sendmmsg_per_socket", _tick_mmsg_per_socket, None),
            ("sendmmsg_one_socket", _tick_mmsg_one_socket, None),
        ]
    variants.append(("send_connected", _tick_connected, None))  # last: it connects the sockets
    rig = Rig(args.calls, args.reader)
    try:
        for name, make, sndbuf in variants:
            rig.set_sndbuf(sndbuf)
            results[name] = measure(rig, make(rig), args.frames, args.rounds)
            print(name, results[name], flush=True)
    finally:
        rig.close()
    print(
        json.dumps(
            {
                "benchmark": "rtp_send",
                "calls": args.calls,
                "reader": args.reader,
                "receivers": (
                    "bound, read by a child process waiting in epoll"
                    if args.reader == "process"
                    else "bound, not read while measured (drained between rounds)"
                ),
                "default_sndbuf": _DEFAULT_SNDBUF,
                **{f"{name}_us": r["cpu_us_per_packet"] for name, r in results.items()},  # type: ignore[index]
                "all_delivered": all(r["delivered"] == r["sent"] for r in results.values()),  # type: ignore[index]
                "variants": results,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
