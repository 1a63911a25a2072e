"""Minimal RTCP (RFC 3550 section 6): sender/receiver reports and SDES CNAME.

Enough to keep peers that watch RTCP happy: :func:`compound_report` builds
the SR (or RR when we sent nothing) followed by the mandatory SDES CNAME.
The wall-clock time for the NTP timestamp is a parameter, like every time
in this package.  Incoming RTCP is not interpreted beyond its header
(:func:`parse_header`).
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
