"""RTP packets (RFC 3550), a sender clock for 20 ms G.711 and a jitter buffer.

* :class:`RtpPacket` parses and builds the fixed header with CSRCs, the
  header extension and padding.  Malformed packets raise :class:`ParseError`.
* :class:`RtpSender` numbers outgoing packets: the sequence number grows by
  one per packet, the timestamp by 160 samples (20 ms at 8 kHz) per frame
  interval, both wrapping.  Telephone events (RFC 4733 section 2.5) are sent
  with the timestamp of the event's start in every packet of the event, the
  marker bit on its first packet and a fresh sequence number on each packet
  (including the repeated end packets); the payload itself (event, E bit,
  volume, duration) comes from the DTMF codec of the media layer.
* :class:`JitterBuffer` reorders by sequence number with 16-bit wrap-around,
  drops late and duplicate packets and starts playing out after a fixed
  depth of packets has arrived.

Initial sequence numbers, timestamps and SSRCs are parameters: the caller
draws them at random (RFC 3550 5.1) so that tests can fix them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from dsm.runtime.sip.errors import ParseError

__all__ = [
    "RtpPacket",
    "RtpSender",
    "JitterBuffer",
    "seq_diff",
    "RTP_VERSION",
    "RTP_HEADER_SIZE",
    "PLAIN_FIRST_OCTET",
    "PLAIN_HEADER",
]

RTP_VERSION: Final = 2
_HEADER: Final = struct.Struct("!BBHII")
RTP_HEADER_SIZE: Final = _HEADER.size
"""Octets of the fixed header (no CSRCs, no extension)."""
_FIRST_OCTET: Final = RTP_VERSION << 6
PLAIN_FIRST_OCTET: Final = _FIRST_OCTET
"""First octet of a packet with nothing but the fixed header (no padding, extension, CSRCs)."""
PLAIN_HEADER: Final = struct.Struct("!xBHII")
"""Second octet, sequence, timestamp, SSRC of a plain packet: the receive path's fast parse."""
_T = TypeVar("_T")


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` of 16-bit sequence numbers (serial arithmetic)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; ``bytes(packet)`` builds it, :meth:`parse` reads it."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    """(profile-defined 16 bits, data whose length is a multiple of 4)."""
    padding: int = 0
    """Number of padding octets (0 = no padding), including the count octet."""
    version: int = RTP_VERSION

    def __init__(
        self,
        payload_type: int,
        sequence: int,
        timestamp: int,
        ssrc: int,
        payload: bytes = b"",
        marker: bool = False,
        csrcs: tuple[int, ...] = (),
        extension: tuple[int, bytes] | None = None,
        padding: int = 0,
        version: int = RTP_VERSION,
    ) -> None:
        object.__setattr__(self, "payload_type", payload_type)
        object.__setattr__(self, "sequence", sequence)
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "ssrc", ssrc)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "marker", marker)
        object.__setattr__(self, "csrcs", csrcs)
        object.__setattr__(self, "extension", extension)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "version", version)

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise ValueError("payload type must be 0..127")
        if len(self.csrcs) > 15:
            raise ValueError("at most 15 CSRCs")
        if not 0 <= self.padding <= 255:
            raise ValueError("padding must be 0..255")
        first = (self.version << 6) | (0x20 if self.padding else 0)
        first |= (0x10 if self.extension is not None else 0) | len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        out = [
            _HEADER.pack(
                first,
                second,
                self.sequence & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        out += [struct.pack("!I", c & 0xFFFFFFFF) for c in self.csrcs]
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise ValueError("extension data must be a multiple of 4 octets")
            out.append(struct.pack("!HH", profile & 0xFFFF, len(data) // 4) + data)
        out.append(self.payload)
        if self.padding:
            out.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(out)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < _HEADER.size:
            raise ParseError("RTP packet too short")
        first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ParseError("Not RTP version 2")
        end = len(data)
        padding = 0
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or padding > end - _HEADER.size:
                raise ParseError("Bad RTP padding")
            end -= padding
        pos = _HEADER.size
        count = first & 0x0F
        if pos + 4 * count > end:
            raise ParseError("RTP CSRC list truncated")
        csrcs = struct.unpack_from(f"!{count}I", data, pos) if count else ()
        pos += 4 * count
        extension = None
        if first & 0x10:
            if pos + 4 > end:
                raise ParseError("RTP extension truncated")
            profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            if pos + 4 * words > end:
                raise ParseError("RTP extension truncated")
            extension = (profile, bytes(data[pos : pos + 4 * words]))
            pos += 4 * words
        return cls(
            payload_type=second & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[pos:end]),
            marker=bool(second & 0x80),
            csrcs=tuple(csrcs),
            extension=extension,
            padding=padding,
            version=version,
        )


class RtpSender:
    """Sequence numbers and timestamps for one outgoing stream (one SSRC)."""

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        *,
        sequence: int = 0,
        timestamp: int = 0,
        samples_per_frame: int = 160,
    ) -> None:
        self.ssrc = ssrc & 0xFFFFFFFF
        self.payload_type = payload_type
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self.samples_per_frame = samples_per_frame
        self._first = True
        self._event_timestamp: int | None = None

    def _next_sequence(self) -> int:
        seq = self.sequence
        self.sequence = (seq + 1) & 0xFFFF
        return seq

    def audio(self, payload: bytes, *, marker: bool = False) -> RtpPacket:
        """The packet for the next frame; the first packet of the stream is marked."""
        packet = RtpPacket(
            self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
            payload,
            marker=marker or self._first,
        )
        self._audio_sent()
        return packet

    def audio_into(self, packet: bytearray, *, marker: bool = False) -> None:
        """Like :meth:`audio`, for a packet buffer that already holds the payload.

        Writes the fixed header into ``packet[:12]`` (the bytes ``bytes(audio(payload))``
        would start with) and advances the stream exactly as :meth:`audio`:
        a frame encoded into the packet buffer is sent without building objects.
        """
        second = self.payload_type | (0x80 if marker or self._first else 0)
        _HEADER.pack_into(packet, 0, _FIRST_OCTET, second, self.sequence, self.timestamp, self.ssrc)
        self._audio_sent()

    def audio_header(self) -> bytes:
        """The fixed header of the next audio packet (what :meth:`audio` would start with).

        The stream advances exactly as :meth:`audio`.  Frames whose payload
        exists already (a prompt's codes, the codec's silence) are sent as
        ``audio_header() + payload``: two small ``bytes``, cheaper than
        copying the payload into a packet buffer through a memory view.
        """
        second = self.payload_type | (0x80 if self._first else 0)
        header = _HEADER.pack(_FIRST_OCTET, second, self.sequence, self.timestamp, self.ssrc)
        self._audio_sent()
        return header

    def _audio_sent(self) -> None:
        """The stream after an audio packet: next sequence number and frame, no event running."""
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.samples_per_frame) & 0xFFFFFFFF
        self._first = False
        self._event_timestamp = None

    def skip(self, frames: int = 1) -> None:
        """Advance the media clock without sending (silence, held call)."""
        self.timestamp = (self.timestamp + frames * self.samples_per_frame) & 0xFFFFFFFF

    def event(self, payload: bytes, payload_type: int, *, new_event: bool) -> RtpPacket:
        """One telephone-event packet for this frame interval (RFC 4733 2.5.1).

        ``new_event`` starts an event at the current media time (marker bit
        set); later packets of the same event, including the three end
        packets, reuse that timestamp.  The media clock advances by one frame.
        """
        if new_event or self._event_timestamp is None:
            self._event_timestamp = self.timestamp
            marker = True
        else:
            marker = False
        packet = RtpPacket(
            payload_type,
            self._next_sequence(),
            self._event_timestamp,
            self.ssrc,
            payload,
            marker=marker,
        )
        self.skip(1)
        return packet


class JitterBuffer(Generic[_T]):
    """Reorder incoming packets of one stream by sequence number.

    ``push`` stores a packet (:meth:`put` stores anything under a sequence
    number: the RTP session keeps ``(payload type, payload)`` and builds no
    packet object per packet) (False: dropped as late, duplicate or overflow);
    ``pop`` is called once per frame interval and returns the next packet,
    or ``None`` when it is missing (the caller conceals the gap) or while the
    buffer is (re)filling to ``depth`` packets.  A jump of more than
    ``restart_gap`` sequence numbers is taken as a new stream; more than
    ``capacity`` packets waiting (the reader fell behind) drops the oldest
    down to ``depth``, so the delay returns to ``depth`` frames.
    """

    def __init__(self, depth: int = 3, capacity: int = 50, restart_gap: int = 3000) -> None:
        if depth < 1 or capacity < depth:
            raise ValueError("need 1 <= depth <= capacity")
        self.depth = depth
        self.capacity = capacity
        self.restart_gap = restart_gap
        self._packets: dict[int, _T] = {}
        self._next: int | None = None
        self._playing = False
        self.dropped = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self._packets)

    def push(self: JitterBuffer[RtpPacket], packet: RtpPacket) -> bool:
        return self.put(packet.sequence, packet)

    def put(self, sequence: int, packet: _T) -> bool:
        """Store ``packet`` as number ``sequence``; ``False``: dropped (late, duplicate)."""
        seq = sequence & 0xFFFF
        expected = self._next
        if expected is None:
            expected = self._next = seq
        distance = ((seq - expected + 0x8000) & 0xFFFF) - 0x8000  # seq_diff, inlined (per packet)
        gap = self.restart_gap
        if distance > gap or distance < -gap:
            self._packets.clear()
            self._next = seq
            self._playing = False
            distance = 0
        if distance < 0:
            if self._playing:
                self.dropped += 1
                return False
            self._next = seq  # reordered before playout started
        if seq in self._packets:
            self.dropped += 1
            return False
        self._packets[seq] = packet
        if len(self._packets) > self.capacity:
            self._resync()
        return True

    def _resync(self) -> None:
        """Overflow: the reader fell behind (a stall); keep the newest ``depth`` packets.

        Dropping one packet per push instead would keep the buffer full, so
        the delay would stay at ``capacity`` frames and every later push would
        pay for the scan.
        """
        base = self._next or 0
        newest = max(self._packets, key=lambda s: seq_diff(s, base))
        start = (newest - self.depth + 1) & 0xFFFF
        old = [s for s in self._packets if seq_diff(s, start) < 0]
        for s in old:
            del self._packets[s]
        self.dropped += len(old)
        self._next = start

    def pop(self) -> _T | None:
        if not self._playing:
            if len(self._packets) < self.depth:
                return None
            self._playing = True
        if not self._packets:
            self._playing = False
            return None
        assert self._next is not None
        packet = self._packets.pop(self._next, None)
        self._next = (self._next + 1) & 0xFFFF
        if packet is None:
            self.lost += 1
        return packet
