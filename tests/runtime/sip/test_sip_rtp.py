"""RTP (RFC 3550) header, sender numbering, RFC 4733 packetisation, jitter buffer."""

from __future__ import annotations

import pytest

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.rtp import JitterBuffer, RtpPacket, RtpSender, seq_diff


def test_header_round_trip_all_fields() -> None:
    packet = RtpPacket(
        payload_type=8,
        sequence=65535,
        timestamp=0xFFFFFFF0,
        ssrc=0xDEADBEEF,
        payload=b"\xd5" * 160,
        marker=True,
        csrcs=(1, 2, 3),
        extension=(0xBEDE, b"\x10\xaa\x00\x00"),
        padding=4,
    )
    data = bytes(packet)
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 8
    assert len(data) == 12 + 12 + 8 + 160 + 4
    assert RtpPacket.parse(data) == packet


def test_minimal_packet() -> None:
    data = bytes(RtpPacket(0, 1, 160, 42, b"abc"))
    assert data[:2] == b"\x80\x00" and len(data) == 15
    assert RtpPacket.parse(data).payload == b"abc"


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x80" * 11,
        b"\x40" + bytes(11),
        b"\x83" + bytes(11),
        b"\xa0" + bytes(10) + b"\x00",
        b"\x90" + bytes(11) + b"\x00\x00\x00\x05",
    ],
)
def test_malformed_packets_raise_parse_error(bad: bytes) -> None:
    with pytest.raises(ParseError):
        RtpPacket.parse(bad)


def test_sender_20ms_g711_numbering_with_wrap() -> None:
    sender = RtpSender(ssrc=7, payload_type=0, sequence=65534, timestamp=0xFFFFFF00)
    packets = [sender.audio(b"x" * 160) for _ in range(3)]
    assert [p.sequence for p in packets] == [65534, 65535, 0]
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40]
    assert [p.marker for p in packets] == [True, False, False]
    sender.skip(2)
    assert sender.audio(b"").timestamp == 0x40 + 160 * 3


def test_4733_event_packets_share_start_timestamp() -> None:
    sender = RtpSender(ssrc=7, payload_type=0, sequence=100, timestamp=1000)
    sender.audio(b"a")
    first = sender.event(b"\x01\x0a\x00\xa0", 101, new_event=True)
    more = [sender.event(b"\x01\x8a\x01\x40", 101, new_event=False) for _ in range(3)]
    assert first.marker and not any(p.marker for p in more)
    assert {p.timestamp for p in [first, *more]} == {1160}
    assert [p.sequence for p in [first, *more]] == [101, 102, 103, 104]
    assert all(p.payload_type == 101 for p in more)
    after = sender.audio(b"a")
    assert after.timestamp == 1160 + 4 * 160 and after.sequence == 105


def test_seq_diff_wraps() -> None:
    assert seq_diff(0, 65535) == 1 and seq_diff(65535, 0) == -1 and seq_diff(5, 5) == 0


def packet(seq: int) -> RtpPacket:
    return RtpPacket(0, seq, seq * 160, 1, bytes([seq & 0xFF]))


def test_jitter_buffer_reorders_across_wrap() -> None:
    jb = JitterBuffer(depth=3)
    for seq in (65534, 0, 65535, 1):
        assert jb.push(packet(seq))
    assert [p.sequence for p in iter(jb.pop, None)] == [65534, 65535, 0, 1]


def test_jitter_buffer_waits_for_depth_then_plays() -> None:
    jb = JitterBuffer(depth=2)
    jb.push(packet(10))
    assert jb.pop() is None
    jb.push(packet(11))
    assert jb.pop() is not None


def test_jitter_buffer_drops_late_and_duplicate() -> None:
    jb = JitterBuffer(depth=1)
    jb.push(packet(5))
    assert jb.push(packet(5)) is False  # duplicate
    assert jb.pop() == packet(5)
    assert jb.push(packet(4)) is False  # late: already played past it
    assert jb.dropped == 2


def test_jitter_buffer_loss_is_a_gap() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (1, 3, 4):
        jb.push(packet(seq))
    out = [jb.pop() for _ in range(4)]
    assert [p.sequence if p else None for p in out] == [1, None, 3, 4]
    assert jb.lost == 1


def test_jitter_buffer_restart_on_big_jump() -> None:
    jb = JitterBuffer(depth=1)
    jb.push(packet(100))
    jb.pop()
    assert jb.push(packet(40000))
    assert jb.pop() == packet(40000)


def test_jitter_buffer_overflow_returns_to_depth() -> None:
    """A reader that fell behind (skipped frames after a stall) gets the newest packets back at depth."""
    jb = JitterBuffer(depth=3, capacity=50)
    assert jb.pop() is None
    for seq in range(200):
        jb.push(packet(seq))
        if seq < 10:
            jb.pop()  # then the reader stops for a while
    assert len(jb) <= 50
    jb.push(packet(200))
    out = [p.sequence for p in iter(jb.pop, None)]
    assert out[-1] == 200 and len(out) < 50
    jb.push(packet(201))
    assert len(jb) == 1


def test_jitter_buffer_capacity_is_fixed() -> None:
    jb = JitterBuffer(depth=2, capacity=4)
    for seq in range(10):
        jb.push(packet(seq))
    assert len(jb) == 4
    assert jb.pop() == packet(6)
