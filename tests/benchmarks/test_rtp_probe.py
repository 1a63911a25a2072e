"""The benchmarks' RTP receiver keeps every packet's header and the kernel's arrival stamp."""

from __future__ import annotations

import socket
import struct
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from rtp_probe import RtpProbe  # noqa: E402


@pytest.mark.parametrize("batched", [True, False])
def test_every_header_is_kept_with_a_kernel_stamp_taken_while_it_was_sent(
    batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batched (``recvmmsg``) or one datagram per call (without it): the same records."""
    monkeypatch.setattr(RtpProbe, "batched_default", batched)
    probe = RtpProbe()
    if probe.batched != batched:
        probe.close()
        pytest.skip("no recvmmsg here")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        start = probe.mark()
        before = time.time_ns()
        sent: list[bytes] = []
        deadline = time.monotonic() + 10
        for n in range(1500):  # more than one batch, 100 at a time (a default socket buffer holds 512)
            header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160, 100 + n % 3)
            sent.append(header)
            sender.sendto(header + bytes(160), ("127.0.0.1", probe.port))
            while len(sent) % 100 == 0 and probe.mark() - start < len(sent) and time.monotonic() < deadline:
                time.sleep(0.005)
        sender.sendto(b"short", ("127.0.0.1", probe.port))  # not RTP: dropped, counted
        after = time.time_ns()
        records = probe.records(start, probe.mark())
        assert [r.tobytes()[:12] for r in records] == sent
        stamps = records["sec"].astype("int64") * 1_000_000_000 + records["nsec"]
        assert (stamps >= before - 1_000_000).all() and (stamps <= after + 1_000_000).all()
        assert probe.streams_since(start) == 3
        deadline = time.monotonic() + 5
        while probe.dropped < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert probe.dropped == 1
    finally:
        sender.close()
        probe.close()
