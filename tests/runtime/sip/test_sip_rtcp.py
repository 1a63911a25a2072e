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


# -- reception statistics (RFC 3550 6.4.1, A.3, A.8) -----------------------------------------------
def test_reception_stats_count_losses_across_a_sequence_wrap() -> None:
    from dsm.runtime.sip.rtcp import ReceptionStats

    stats = ReceptionStats()
    assert stats.block(0.0) is None
    for i, seq in enumerate([65533, 65534, 65535, 1, 2]):  # 0 is lost
        stats.rtp(77, seq, 160 * i, 0.02 * i)
    block = stats.block(1.0)
    assert block is not None
    assert block.ssrc == 77
    assert block.highest_sequence == (1 << 16) + 2
    assert block.cumulative_lost == 1
    assert block.fraction_lost == (1 << 8) // 6  # 1 of 6 expected in this interval
    assert block.jitter == 0  # arrivals exactly 20 ms apart
    # the next interval lost nothing
    stats.rtp(77, 3, 800, 0.1)
    next_block = stats.block(1.1)
    assert next_block is not None and next_block.fraction_lost == 0


def test_reception_stats_jitter_grows_with_uneven_arrivals_and_a_new_ssrc_restarts() -> None:
    from dsm.runtime.sip.rtcp import ReceptionStats

    stats = ReceptionStats()
    for i in range(20):
        stats.rtp(5, i, 160 * i, 0.02 * i + (0.005 if i % 2 else 0.0))
    block = stats.block(1.0)
    assert block is not None and block.jitter > 0
    stats.rtp(6, 1000, 0, 2.0)
    block = stats.block(2.0)
    assert block is not None and (block.ssrc, block.highest_sequence, block.cumulative_lost) == (6, 1000, 0)


def test_reception_stats_last_sender_report_gives_lsr_and_dlsr() -> None:
    from dsm.runtime.sip.rtcp import ReceptionStats, build_sender_report

    stats = ReceptionStats()
    stats.rtp(9, 10, 0, 0.0)
    sr = build_sender_report(9, unix_time=1.5, rtp_timestamp=0, packet_count=1, octet_count=160)
    stats.rtcp(sr, now=10.0)
    block = stats.block(10.5)
    assert block is not None
    msw, lsw = ntp_timestamp(1.5)
    assert block.last_sr == ((msw & 0xFFFF) << 16) | (lsw >> 16)
    assert block.delay_since_last_sr == 32768  # half a second in 1/65536 s
    with pytest.raises(ParseError):
        stats.rtcp(b"\x00\x01", now=11.0)


# -- the session's RTCP socket ---------------------------------------------------------------------
def test_port_pool_binds_rtp_and_rtcp_on_adjacent_ports_skipping_a_taken_rtcp_port() -> None:
    import socket

    from sip_rig import free_port_run

    from dsm.runtime.sip.rtp_session import RtpPortPool

    for _attempt in range(5):  # a port of the run taken by another process meanwhile: another run
        base = free_port_run(12)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            blocker.bind(("127.0.0.1", base + 1))  # the RTCP port of the first pair
            pool = RtpPortPool("127.0.0.1", base, base + 11)
            rtp, rtcp = pool.bind_pair()
        except OSError:
            blocker.close()
            continue
        try:
            port = rtp.getsockname()[1]
            assert port % 2 == 0 and port != base
            assert rtcp.getsockname()[1] == port + 1
        finally:
            rtp.close()
            rtcp.close()
            blocker.close()
        return
    pytest.fail("every free run of ports was taken before the pool could bind it")


def test_rtp_session_sends_compound_reports_to_rtp_port_plus_one_and_hears_sender_reports() -> None:
    """SR + SDES CNAME every interval to the peer's RTCP port; the peer's SR fills LSR (RFC 3550 6.4)."""
    import asyncio

    import numpy as np

    from dsm.runtime.media.call_media import CallMedia
    from dsm.runtime.media.items import PromptItem
    from dsm.runtime.sip.rtcp import build_sender_report
    from dsm.runtime.sip.rtp_session import RtpPortPool, RtpSession
    from dsm.runtime.sip.sdp import PCMU

    async def run() -> tuple[list[bytes], int]:
        loop = asyncio.get_running_loop()
        pool = RtpPortPool("127.0.0.1", 42000, 42999)
        peer_rtp, peer_rtcp = pool.bind_pair()
        ours, ours_rtcp = pool.bind_pair()
        media = CallMedia()
        rtp = RtpSession(loop, ours, media, lambda evs: None, rtcp_sock=ours_rtcp, rtcp_interval=0.05, cname="t@x")
        rtp.configure(peer_rtp.getsockname(), PCMU, None)
        media.play(PromptItem("tone", np.full(8000, 900, dtype=np.int16)))
        media.media_connect()
        rtp.start()
        peer_rtcp.sendto(
            build_sender_report(4242, unix_time=100.0, rtp_timestamp=0, packet_count=0, octet_count=0),
            ("127.0.0.1", rtp.local_port + 1),
        )
        reports: list[bytes] = []
        deadline = loop.time() + 10.0
        while len(reports) < 3 and loop.time() < deadline:
            try:
                reports.append(peer_rtcp.recv(2048))
            except BlockingIOError:
                await asyncio.sleep(0.01)
        received = rtp.reception.reports_received
        rtp.close()
        for s in (peer_rtp, peer_rtcp):
            s.close()
        return reports, received

    reports, received = asyncio.run(run())
    assert len(reports) == 3
    kinds = [[t for t, _c, _s in parse_header(r)] for r in reports]
    assert all(k[-1] == SDES and k[0] in (SR, RR) for k in kinds)
    assert kinds[-1][0] == SR  # audio went out by then
    assert b"t@x" in reports[-1]
    assert received == 1
