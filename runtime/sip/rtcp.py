"""Minimal RTCP (RFC 3550 section 6): sender/receiver reports and SDES CNAME.

Enough to keep peers that watch RTCP happy: :func:`compound_report` builds
the SR (or RR when we sent nothing) followed by the mandatory SDES CNAME.
The wall-clock time for the NTP timestamp is a parameter, like every time
in this package.  :class:`ReceptionStats` keeps what a report block says
about the stream we receive (RFC 3550 6.4.1 and appendix A.3, A.8):
extended highest sequence number, losses, interarrival jitter, and the
last sender report heard from the peer (LSR/DLSR).  Incoming RTCP is read
only that far (:func:`parse_header`, :meth:`ReceptionStats.rtcp`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dsm.runtime.sip.errors import ParseError

__all__ = [
    "ReportBlock",
    "build_sender_report",
    "build_receiver_report",
    "build_sdes_cname",
    "compound_report",
    "ntp_timestamp",
    "parse_header",
    "ReceptionStats",
    "SR",
    "RR",
    "SDES",
]

SR, RR, SDES = 200, 201, 202
_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def ntp_timestamp(unix_seconds: float) -> tuple[int, int]:
    """(seconds, fraction) of the 64-bit NTP timestamp for a Unix time."""
    seconds = int(unix_seconds) + _NTP_EPOCH_OFFSET
    fraction = int((unix_seconds - int(unix_seconds)) * (1 << 32)) & 0xFFFFFFFF
    return seconds & 0xFFFFFFFF, fraction


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics about one source (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    """Extended highest sequence number received (cycles << 16 | seq)."""
    jitter: int = 0
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def __init__(
        self,
        ssrc: int,
        fraction_lost: int = 0,
        cumulative_lost: int = 0,
        highest_sequence: int = 0,
        jitter: int = 0,
        last_sr: int = 0,
        delay_since_last_sr: int = 0,
    ) -> None:
        object.__setattr__(self, "ssrc", ssrc)
        object.__setattr__(self, "fraction_lost", fraction_lost)
        object.__setattr__(self, "cumulative_lost", cumulative_lost)
        object.__setattr__(self, "highest_sequence", highest_sequence)
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "last_sr", last_sr)
        object.__setattr__(self, "delay_since_last_sr", delay_since_last_sr)

    def __bytes__(self) -> bytes:
        lost = max(-(1 << 23), min(self.cumulative_lost, (1 << 23) - 1)) & 0xFFFFFF
        return struct.pack(
            "!IIIIII",
            self.ssrc & 0xFFFFFFFF,
            ((self.fraction_lost & 0xFF) << 24) | lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.last_sr & 0xFFFFFFFF,
            self.delay_since_last_sr & 0xFFFFFFFF,
        )


def _header(count: int, packet_type: int, body: bytes) -> bytes:
    if count > 31:
        raise ValueError("at most 31 report blocks / chunks")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def build_sender_report(
    ssrc: int,
    *,
    unix_time: float,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: tuple[ReportBlock, ...] = (),
) -> bytes:
    msw, lsw = ntp_timestamp(unix_time)
    body = struct.pack(
        "!IIIIII",
        ssrc & 0xFFFFFFFF,
        msw,
        lsw,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )
    body += b"".join(bytes(b) for b in blocks)
    return _header(len(blocks), SR, body)


def build_receiver_report(ssrc: int, blocks: tuple[ReportBlock, ...] = ()) -> bytes:
    body = struct.pack("!I", ssrc & 0xFFFFFFFF) + b"".join(bytes(b) for b in blocks)
    return _header(len(blocks), RR, body)


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    text = cname.encode("utf-8")[:255]
    chunk = struct.pack("!IBB", ssrc & 0xFFFFFFFF, 1, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _header(1, SDES, chunk)


def compound_report(
    ssrc: int,
    cname: str,
    *,
    unix_time: float,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: tuple[ReportBlock, ...] = (),
) -> bytes:
    """SR (or RR if nothing was sent yet) + SDES CNAME, as one datagram."""
    if packet_count:
        report = build_sender_report(
            ssrc,
            unix_time=unix_time,
            rtp_timestamp=rtp_timestamp,
            packet_count=packet_count,
            octet_count=octet_count,
            blocks=blocks,
        )
    else:
        report = build_receiver_report(ssrc, blocks)
    return report + build_sdes_cname(ssrc, cname)


def parse_header(data: bytes) -> list[tuple[int, int, int]]:
    """(packet type, count, length in bytes) of each packet in a compound RTCP datagram."""
    out: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise ParseError("RTCP packet truncated")
        first, packet_type, words = struct.unpack_from("!BBH", data, pos)
        if first >> 6 != 2:
            raise ParseError("Not RTCP version 2")
        size = 4 * (words + 1)
        if pos + size > len(data):
            raise ParseError("RTCP packet truncated")
        out.append((packet_type, first & 0x1F, size))
        pos += size
    if not out:
        raise ParseError("Empty RTCP packet")
    return out


class ReceptionStats:
    """Reception statistics of the one RTP source we receive, for our report block.

    Fed every RTP packet (:meth:`rtp`, with its arrival time in seconds) and
    every RTCP datagram (:meth:`rtcp`); :meth:`block` gives the report block
    for a report sent at ``now`` (seconds, same clock), or ``None`` before
    the first packet.
    """

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.reports_received = 0
        self._last_sr = 0
        self._last_sr_at: float | None = None
        self._start(None, 0)

    def _start(self, ssrc: int | None, sequence: int) -> None:
        """A new source: its statistics start afresh (RFC 3550 A.1)."""
        self.ssrc = ssrc
        self.received = 0
        self._base_seq = self._max_seq = sequence
        self._cycles = 0
        self._expected_prior = self._received_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0

    def rtp(self, ssrc: int, sequence: int, timestamp: int, arrival: float) -> None:
        if ssrc != self.ssrc:
            self._start(ssrc, sequence)
        elif (sequence - self._max_seq) & 0xFFFF < 0x8000:  # in order (or a duplicate)
            if sequence < self._max_seq:
                self._cycles += 1 << 16
            self._max_seq = sequence
        self.received += 1
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            change = transit - self._transit
            if change < 0:
                change = -change
            self._jitter += (change - self._jitter) / 16
        self._transit = transit

    def rtcp(self, data: bytes, now: float) -> None:
        """Note a sender report of the peer (its NTP time's middle 32 bits and when it came)."""
        pos = 0
        for packet_type, _count, size in parse_header(data):
            if packet_type == SR and size >= 28:
                msw, lsw = struct.unpack_from("!II", data, pos + 8)
                self._last_sr = ((msw & 0xFFFF) << 16) | (lsw >> 16)
                self._last_sr_at = now
            pos += size
        self.reports_received += 1

    def block(self, now: float) -> ReportBlock | None:
        if self.ssrc is None:
            return None
        extended = self._cycles + self._max_seq
        expected = extended - self._base_seq + 1
        lost = expected - self.received
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        dlsr = int((now - self._last_sr_at) * 65536) if self._last_sr_at is not None else 0
        return ReportBlock(
            self.ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=lost,
            highest_sequence=extended,
            jitter=int(self._jitter),
            last_sr=self._last_sr,
            delay_since_last_sr=dlsr if self._last_sr_at is not None else 0,
        )
