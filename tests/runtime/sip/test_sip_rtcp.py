"""Minimal RTCP (RFC 3550 section 6): SR, RR, SDES CNAME."""

from __future__ import annotations

import struct

import pytest

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.rtcp import (
    RR,
    SDES,
    SR,
    ReportBlock,
    build_receiver_report,
    compound_report,
    ntp_timestamp,
    parse_header,
)


def test_ntp_timestamp_of_unix_epoch_and_half_second() -> None:
    assert ntp_timestamp(0.0) == (2208988800, 0)
    assert ntp_timestamp(1.5) == (2208988801, 1 << 31)


def test_compound_sender_report_layout() -> None:
    block = ReportBlock(
        ssrc=9, fraction_lost=3, cumulative_lost=-1, highest_sequence=70000, jitter=12
    )
    data = compound_report(
        7,
        "dsm@127.0.0.1",
        unix_time=1.5,
        rtp_timestamp=160,
        packet_count=2,
        octet_count=320,
        blocks=(block,),
    )
    assert parse_header(data) == [(SR, 1, 28 + 24), (SDES, 1, 24)]
    ssrc, msw, lsw, ts, packets, octets = struct.unpack_from("!IIIIII", data, 4)
    assert (ssrc, msw, lsw, ts, packets, octets) == (7, 2208988801, 1 << 31, 160, 2, 320)
    lost_word = struct.unpack_from("!I", data, 32)[0]
    assert lost_word == (3 << 24) | 0xFFFFFF
    assert len(data) % 4 == 0


def test_receiver_report_when_nothing_sent() -> None:
    data = compound_report(7, "x", unix_time=0, rtp_timestamp=0, packet_count=0, octet_count=0)
    assert [t for t, _, _ in parse_header(data)] == [RR, SDES]
    assert build_receiver_report(1) == b"\x80\xc9\x00\x01\x00\x00\x00\x01"


@pytest.mark.parametrize(
    "bad", [b"", b"\x80\xc9", b"\x40\xc9\x00\x00", b"\x80\xc9\x00\x05\x00\x00\x00\x00"]
)
def test_malformed_rtcp(bad: bytes) -> None:
    with pytest.raises(ParseError):
        parse_header(bad)
