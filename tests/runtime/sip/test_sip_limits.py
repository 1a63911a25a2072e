"""The sans-I/O parts of the SIP/RTP limits: the RTP latch, random ports, size caps, settings.

The attacks against a running server are in ``test_sip_security.py``; these
pin the rules themselves (``docs/security.md``) on injected input.
"""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from sip_rig import LIMIT, free_port_run

from dsm.runtime.sip.limits import SipCounters, SipLimits
from dsm.runtime.sip.message import (
    Response,
    StreamFramer,
    TooLarge,
    essential_request,
    header_count,
    parse_message,
)
from dsm.runtime.sip.rtp_latch import RtpLatch
from dsm.runtime.sip.rtp_session import RtpPortPool
from dsm.runtime.sip.transport import open_sip_transport
from dsm.runtime.sip.useragent import Dropped, Event, UserAgentServer

PEER = ("192.0.2.10", 4000)
STRANGER = ("198.51.100.7", 4000)


# -- the latch ----------------------------------------------------------------------------------------
def _latch(**kw: bool) -> RtpLatch:
    latch = RtpLatch(**kw)
    latch.reset(PEER, {0, 101})
    return latch


def test_latch_takes_the_first_valid_source_and_drops_the_others() -> None:
    latch = _latch()
    assert not latch.admit(STRANGER, 96)  # not a negotiated payload type: no latch
    assert latch.admit(("203.0.113.5", 5000), 0)  # NAT: another address than the SDP's
    assert latch.admit(("203.0.113.5", 5000), 13)  # the latched source: any payload type
    assert not latch.admit(("203.0.113.5", 5002), 0)  # another port
    assert not latch.admit(STRANGER, 101)


def test_latch_the_sdp_address_wins_over_a_quicker_stranger() -> None:
    latch = _latch()
    assert latch.admit(STRANGER, 101)  # first: latched
    assert latch.admit(PEER, 0)  # the SDP's own address takes the latch
    assert not latch.admit(STRANGER, 101)
    assert latch.source == PEER


def test_latch_reopens_on_a_new_offer_answer() -> None:
    latch = _latch()
    assert latch.admit(PEER, 0)
    latch.reset(("192.0.2.20", 6000), {8})
    assert latch.source is None
    assert latch.admit(("192.0.2.20", 6000), 8)
    assert not latch.admit(PEER, 0)


def test_latch_rtcp_only_from_the_rtp_peers_host() -> None:
    latch = _latch()
    assert latch.admit_rtcp((PEER[0], 4001))  # before latching: the SDP's host
    assert not latch.admit_rtcp((STRANGER[0], 4001))
    latch.admit(("203.0.113.5", 5000), 0)
    assert latch.admit_rtcp(("203.0.113.5", 7777))
    assert not latch.admit_rtcp((PEER[0], 4001))


def test_latch_not_strict_admits_everyone() -> None:
    latch = _latch(strict=False)
    assert latch.admit(STRANGER, 96) and latch.admit(PEER, 0) and latch.admit(("10.0.0.1", 1), 0)
    assert latch.admit_rtcp(("10.9.9.9", 1))


def test_symmetric_sends_where_the_peers_packets_come_from() -> None:
    latch = _latch(symmetric=True)
    assert latch.destination() == PEER and latch.rtcp_destination() == (PEER[0], PEER[1] + 1)
    latch.admit(("203.0.113.5", 5000), 0)
    assert latch.destination() == ("203.0.113.5", 5000)
    assert latch.rtcp_destination() == ("203.0.113.5", 5001)
    latch.admit_rtcp(("203.0.113.5", 5999))
    assert latch.rtcp_destination() == ("203.0.113.5", 5999)
    plain = _latch()
    plain.admit(("203.0.113.5", 5000), 0)
    assert plain.destination() == PEER


def test_latch_compares_ipv6_in_one_spelling() -> None:
    latch = RtpLatch()
    latch.reset(("2001:db8::0001", 4000), {0})
    assert latch.admit(("2001:db8::1", 4000, 0, 0), 0)
    assert latch.source == ("2001:db8::1", 4000)


# -- random ports ---------------------------------------------------------------------------------------
def test_port_pool_draws_ports_at_random() -> None:
    pool = RtpPortPool("127.0.0.1", 30000, 39999, rng=random.Random(7))
    socks = [pool.bind() for _ in range(6)]
    try:
        ports = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    assert all(p % 2 == 0 and 30000 <= p <= 39999 for p in ports)
    assert len(set(ports)) == 6
    assert {b - a for a, b in zip(ports, ports[1:])} != {2}


def test_port_pool_finds_the_last_free_port_of_a_full_range() -> None:
    for _attempt in range(5):  # a port taken between the probe and the pool: another range
        base = free_port_run(8)
        pool = RtpPortPool("127.0.0.1", base, base + 7)
        socks: list[socket.socket] = []
        try:
            socks = [pool.bind() for _ in range(4)]  # 3 of 4 taken: the scan finds the fourth
            ports = {s.getsockname()[1] for s in socks}
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        assert ports == {base, base + 2, base + 4, base + 6}
        return
    pytest.fail("every free range was taken before the pool could bind it")


# -- sizes -------------------------------------------------------------------------------------------------
OPTIONS = (
    "OPTIONS sip:menu@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKlim\r\n"
    "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:menu@127.0.0.1>\r\n"
    "Call-ID: lim@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: {length}\r\n\r\n"
)


def _options(extra: str = "", body: bytes = b"") -> bytes:
    return OPTIONS.format(extra=extra, length=len(body)).encode() + body


def test_header_count_counts_head_lines_only() -> None:
    data = _options("X-A: 1\r\nX-B: 2\r\n", b"line\r\nline\r\n")
    assert header_count(data) == 8
    assert header_count(b"\r\nA\nB: 1\n\nbody\n") == 1


def test_essential_request_keeps_only_what_a_513_needs() -> None:
    head = _options("X-Big: " + "a" * 100 + "\r\n")[:200]  # cut inside the filler line
    request = essential_request(head)
    assert request is not None and request.method == "OPTIONS"
    assert [name for name, _ in request.headers][:5] == ["Via", "From", "To", "Call-ID", "CSeq"]
    assert essential_request(b"SIP/2.0 200 OK\r\nVia: x\r\n") is None
    assert essential_request(b"OPTIONS sip:a SIP/2.0\r\nX: 1\r\n") is None


def test_framer_skips_an_oversized_body_and_goes_on() -> None:
    framer = StreamFramer(max_message=300)
    big = _options(body=b"b" * 1000)
    out = framer.frames(big[:500])
    assert len(out) == 1 and isinstance(out[0], TooLarge) and not out[0].framing_lost
    assert framer.pending > 0  # the rest of the body is still to come
    out = framer.frames(big[500:] + _options())
    assert out == [_options()] and framer.pending == 0


def test_framer_with_a_head_over_the_limit_loses_the_framing() -> None:
    framer = StreamFramer(max_message=300)
    out = framer.frames(_options("X-Big: " + "a" * 500 + "\r\n"))
    assert len(out) == 1 and isinstance(out[0], TooLarge) and out[0].framing_lost
    assert framer.broken is not None
    with pytest.raises(Exception, match="too large"):
        framer.frames(b"more")


def test_core_drops_oversize_over_udp_and_answers_513_over_tcp() -> None:
    counters = SipCounters()
    core = UserAgentServer("127.0.0.1", 5060, max_message_bytes=400, max_headers=10, counters=counters)
    big = _options(body=b"b" * 500)
    many = _options("".join(f"X-{i}: {i}\r\n" for i in range(20)))
    for data in (big, many):
        (dropped,) = core.receive(data, ("127.0.0.1", 5070), 0.0, "udp").events
        assert isinstance(dropped, Dropped)
    assert counters.sip_too_large_dropped == 2
    out = core.receive(many, ("127.0.0.1", 40000), 0.0, "tcp")
    (answer,) = out.datagrams
    response = parse_message(answer.data)
    assert isinstance(response, Response) and (response.status, response.reason) == (513, "Message Too Large")
    assert answer.destination == ("127.0.0.1", 40000) and answer.transport == "tcp"
    assert counters.sip_too_large_rejected == 1
    assert core.calls == {} and core.next_timeout() is None  # nothing kept for it


# -- settings ------------------------------------------------------------------------------------------------
def test_limits_from_settings_and_their_errors() -> None:
    assert SipLimits.from_settings({}) == SipLimits()
    got = SipLimits.from_settings(
        {"rtp_strict": "no", "rtp_symmetric": "yes", "sip_tcp_message_timeout": "2.5", "other": "x"}
    )
    assert (got.rtp_strict, got.rtp_symmetric, got.tcp_message_timeout) == (False, True, 2.5)
    for key, bad in (("rtp_strict", "maybe"), ("sip_max_headers", "0"), ("sip_tcp_idle_timeout", "-1"),
                     ("sip_tcp_message_timeout", "nan"), ("sip_max_message_bytes", "1e6")):
        with pytest.raises(ValueError, match=key):
            SipLimits.from_settings({key: bad})


def test_idle_connection_closed_is_counted() -> None:
    """``sip_tcp_idle_timeout`` fired: the connection is closed and ``tcp_idle_closed`` counts it."""

    async def run() -> int:
        def no_events(event: Event) -> None:
            pass

        transport = await open_sip_transport(
            "127.0.0.1", 0, no_events, tcp=True, limits=SipLimits(tcp_idle_timeout=0.1)
        )
        sock = socket.create_connection(("127.0.0.1", transport.core.port), timeout=LIMIT)
        async with asyncio.timeout(LIMIT):
            while transport.counters.tcp_idle_closed == 0:
                await asyncio.sleep(0.02)
        sock.close()
        transport.close()
        return transport.counters.tcp_idle_closed

    assert asyncio.run(run()) == 1
