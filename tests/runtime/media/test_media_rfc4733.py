"""RFC 4733 telephone events: payload format, the ``sendDTMF`` packet plan (A-core-51),
and a receiver that reports every key exactly once (Key, E-151)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsm.runtime.media.dtmf import KeyPress
from dsm.runtime.media.rfc4733 import (
    END_REPEATS,
    TelephoneEvent,
    TelephoneEventReceiver,
    telephone_event_packets,
)


def test_payload_layout() -> None:
    """Event byte, E bit, reserved bit 0, 6-bit volume, 16-bit duration in network order."""
    assert TelephoneEvent(11, True, 10, 800).encode() == bytes([11, 0x8A, 0x03, 0x20])
    assert TelephoneEvent(1, False, 63, 0).encode() == bytes([1, 0x3F, 0, 0])


@given(
    st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF)
)
def test_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    payload = TelephoneEvent(event, end, volume, duration)
    assert TelephoneEvent.decode(payload.encode()) == payload


def test_decode_ignores_reserved_bit_and_extra_blocks() -> None:
    decoded = TelephoneEvent.decode(bytes([5, 0xC0 | 7, 0, 160]) + bytes(4))
    assert decoded == TelephoneEvent(5, True, 7, 160)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"event": 256}, "code"), ({"event": 1, "volume": 64}, "volume"), ({"event": 1, "duration": 70000}, "duration")],
)
def test_out_of_range_fields_are_clear_errors(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TelephoneEvent(**kwargs)  # type: ignore[arg-type]


def test_short_payload_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        TelephoneEvent.decode(b"\x01\x02")


def test_A_core_51_default_duration_plan() -> None:
    """500 ms at 8 kHz: growing durations every 20 ms, then the end packet three times."""
    packets = telephone_event_packets(11, 500)
    body, ends = packets[:-END_REPEATS], packets[-END_REPEATS:]
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    assert [p.payload.duration for p in body] == list(range(160, 4000, 160))
    assert [p.offset_ms for p in body] == list(range(20, 500, 20))
    assert all(p.payload == TelephoneEvent(11, True, 10, 4000) for p in ends)
    assert all(p.offset_ms == 500 for p in ends)


def test_events_above_15_pass_through_and_zero_duration_works() -> None:
    """A-core-51: numbers above 15 are passed through unchecked."""
    packets = telephone_event_packets(16, 0)
    assert [p.payload for p in packets] == [TelephoneEvent(16, True, 10, 0)] * END_REPEATS
    assert packets[0].marker
    with pytest.raises(ValueError):
        telephone_event_packets(300, 100)
    with pytest.raises(ValueError):
        telephone_event_packets(1, -5)


def test_long_duration_is_capped_at_the_field() -> None:
    assert telephone_event_packets(1, 10_000)[-1].payload.duration == 0xFFFF


def feed(receiver: TelephoneEventReceiver, timestamp: int, packets: list) -> list[KeyPress]:  # type: ignore[type-arg]
    out: list[KeyPress] = []
    for packet in packets:
        out += receiver.receive(timestamp, packet.payload.encode())
    return out


def test_plan_round_trips_through_the_receiver_exactly_once() -> None:
    receiver = TelephoneEventReceiver()
    assert feed(receiver, 1000, telephone_event_packets(7, 120)) == [KeyPress(7, 120)]
    assert feed(receiver, 5000, telephone_event_packets(11, 500)) == [KeyPress(11, 500)]
    assert receiver.flush() == []


def test_repeated_and_late_end_packets_are_ignored() -> None:
    receiver = TelephoneEventReceiver()
    end = TelephoneEvent(3, True, 10, 800)
    assert receiver.receive(42, end) == [KeyPress(3, 100)]
    assert receiver.receive(42, end) == []
    assert receiver.receive(42, TelephoneEvent(3, False, 10, 480)) == []


def test_lost_end_packets_the_next_event_ends_the_previous_one() -> None:
    receiver = TelephoneEventReceiver()
    assert receiver.receive(100, TelephoneEvent(1, False, 10, 160)) == []
    assert receiver.receive(100, TelephoneEvent(1, False, 10, 480)) == []
    assert receiver.receive(900, TelephoneEvent(2, False, 10, 160)) == [KeyPress(1, 60)]
    assert receiver.flush() == [KeyPress(2, 20)]
    assert receiver.flush() == []


def test_reordered_packets_keep_the_longest_duration() -> None:
    receiver = TelephoneEventReceiver()
    receiver.receive(7, TelephoneEvent(9, False, 10, 640))
    receiver.receive(7, TelephoneEvent(9, False, 10, 320))
    assert receiver.receive(7, TelephoneEvent(9, True, 10, 480)) == [KeyPress(9, 80)]


def test_non_key_events_are_not_reported() -> None:
    receiver = TelephoneEventReceiver()
    assert receiver.receive(1, TelephoneEvent(16, True, 10, 800)) == []


def test_timestamps_are_32_bit_and_clock_rate_scales_duration() -> None:
    receiver = TelephoneEventReceiver(clock_rate=16000)
    receiver.receive(2**32 + 5, TelephoneEvent(4, False, 10, 100))
    assert receiver.receive(5, TelephoneEvent(4, True, 10, 1600)) == [KeyPress(4, 100)]
    with pytest.raises(ValueError):
        TelephoneEventReceiver(clock_rate=0)
