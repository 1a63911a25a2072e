"""RFC 4733 telephone events: payload format, a sender plan and a receiver.

Sans-I/O: nothing here touches a socket or a clock.  The sender side
(:func:`telephone_event_packets`) returns the list of payloads to put into
RTP packets, with the time offset at which each is due; the receiver side
(:class:`TelephoneEventReceiver`) takes ``(RTP timestamp, payload)`` pairs
as they arrive and returns each key press exactly once, however many end
packets are repeated.

An event's RTP timestamp is the same in all its packets (RFC 4733 2.5.1.2);
that is what identifies the event.  The duration field counts RTP clock
ticks since that timestamp; the receiver reports the largest duration seen,
converted to milliseconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from dsm.runtime.media.dtmf import KeyPress

__all__ = [
    "END_REPEATS",
    "TelephoneEvent",
    "TelephoneEventPacket",
    "TelephoneEventReceiver",
    "telephone_event_packets",
]

END_REPEATS: Final = 3
"""How often the final (E bit) packet is sent (RFC 4733 2.5.1.4 recommends 3)."""

_MAX_DURATION: Final = 0xFFFF


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 section 2.3)."""

    event: int
    """Event code 0..255 (0–15 are the DTMF keys)."""
    end: bool = False
    """The E bit: this packet reports the end of the event."""
    volume: int = 10
    """Power level in -dBm0, 0..63."""
    duration: int = 0
    """Duration so far in RTP clock ticks, 0..65535."""

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 0xFF:
            raise ValueError(f"telephone event code out of range 0..255: {self.event}")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"telephone event volume out of range 0..63: {self.volume}")
        if not 0 <= self.duration <= _MAX_DURATION:
            raise ValueError(f"telephone event duration out of range 0..65535: {self.duration}")

    def encode(self) -> bytes:
        """The four payload bytes (the R bit is always 0)."""
        flags = (0x80 if self.end else 0x00) | self.volume
        return bytes((self.event, flags)) + self.duration.to_bytes(2, "big")

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> TelephoneEvent:
        """Parse a payload; ``ValueError`` if it is shorter than four bytes.

        Only the first event block is read (a payload of several blocks is a
        redundancy encoding the receiver does not need).  The reserved bit is
        ignored, as RFC 4733 requires.
        """
        data = bytes(payload)
        if len(data) < 4:
            raise ValueError(f"telephone event payload needs 4 bytes, got {len(data)}")
        return cls(
            event=data[0],
            end=bool(data[1] & 0x80),
            volume=data[1] & 0x3F,
            duration=int.from_bytes(data[2:4], "big"),
        )


@dataclass(frozen=True, slots=True)
class TelephoneEventPacket:
    """One packet of a planned event: when to send it and what it carries."""

    offset_ms: int
    """Time after the event start at which the packet is due."""
    marker: bool
    """RTP marker bit (set on the first packet of the event)."""
    payload: TelephoneEvent


def telephone_event_packets(
    event: int,
    duration_ms: int,
    *,
    clock_rate: int = 8000,
    ptime_ms: int = 20,
    volume: int = 10,
    end_repeats: int = END_REPEATS,
) -> list[TelephoneEventPacket]:
    """The packets that send one event of ``duration_ms`` (``sendDTMF``, A-core-51).

    One packet every ``ptime_ms``, due when its duration has elapsed, then
    the final duration with the E bit ``end_repeats`` times, all due at the
    end.  All
    packets share the event's RTP timestamp, which the caller assigns.
    Event codes above 15 are passed through unchecked, as A-core-51 says;
    codes above 255 do not fit the field and raise ``ValueError``.  A
    duration longer than the 16-bit field (8.19 s at 8 kHz) is capped there
    (the segmentation of RFC 4733 2.5.2.3 is not done).
    """
    if duration_ms < 0:
        raise ValueError(f"negative DTMF duration: {duration_ms}")
    if ptime_ms <= 0:
        raise ValueError(f"packet time must be positive: {ptime_ms}")
    total = min(duration_ms * clock_rate // 1000, _MAX_DURATION)
    step = ptime_ms * clock_rate // 1000
    packets: list[TelephoneEventPacket] = []
    elapsed = 0
    while elapsed + step < total:
        elapsed += step
        packets.append(
            TelephoneEventPacket(
                offset_ms=elapsed * 1000 // clock_rate,
                marker=not packets,
                payload=TelephoneEvent(event, False, volume, elapsed),
            )
        )
    final = TelephoneEvent(event, True, volume, total)
    due = total * 1000 // clock_rate
    for _ in range(max(end_repeats, 1)):
        packets.append(TelephoneEventPacket(due, not packets, final))
    return packets


class TelephoneEventReceiver:
    """Turns received telephone-event payloads into key presses, each once.

    * the first packet with a new RTP timestamp starts an event; a start
      while another event is still open ends that one (its end packets were
      lost) and reports it with the longest duration seen;
    * the first E-bit packet reports the event; repeated end packets and
      late packets of a finished event are ignored (the last few finished
      timestamps are remembered);
    * events above 15 are not keys and are never reported.
    """

    def __init__(self, clock_rate: int = 8000) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive: {clock_rate}")
        self.clock_rate = clock_rate
        self._open: tuple[int, int] | None = None  # (timestamp, event)
        self._duration = 0
        self._finished: deque[int] = deque(maxlen=16)

    def receive(
        self, timestamp: int, payload: bytes | bytearray | memoryview | TelephoneEvent
    ) -> list[KeyPress]:
        """Process one packet; the key presses it completes (zero, one or two)."""
        event = payload if isinstance(payload, TelephoneEvent) else TelephoneEvent.decode(payload)
        timestamp &= 0xFFFFFFFF
        if timestamp in self._finished:
            return []
        out: list[KeyPress] = []
        if self._open is not None and self._open[0] != timestamp:
            out.extend(self._close())
        if self._open is None:
            self._open = (timestamp, event.event)
            self._duration = 0
        self._duration = max(self._duration, event.duration)
        if event.end:
            out.extend(self._close())
        return out

    def flush(self) -> list[KeyPress]:
        """End of the stream: report an event that never got its end packet."""
        return self._close() if self._open is not None else []

    def _close(self) -> list[KeyPress]:
        assert self._open is not None
        timestamp, code = self._open
        self._open = None
        self._finished.append(timestamp)
        if code > 15:
            return []
        return [KeyPress(code, self._duration * 1000 // self.clock_rate)]
