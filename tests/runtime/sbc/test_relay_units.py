"""The SBC relay's parts without SIP: SDP rewriting, destinations, the profile store, the RTP relay.

The RTP relay runs on real loopback sockets; the test plays the media
clock's tick itself (``pace``) instead of waiting for the loop's timer.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsm.runtime.sbc.profile import SbcConfigError
from dsm.runtime.sbc.relay import parse_destination
from dsm.runtime.sbc.relay_media import RtpRelay, rewrite_sdp, sdp_media_address
from dsm.runtime.sbc.relay_store import ProfileStore
from dsm.runtime.sip.media_clock import MediaClock

SDP = (
    b"v=0\r\no=x 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"m=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\n"
)


def test_sdp_rewrite_names_our_address_and_port_and_refuses_other_streams() -> None:
    assert sdp_media_address(SDP) == (("10.0.0.1", 4000), (0, 101))
    out = rewrite_sdp(SDP, "127.0.0.1", 6000)
    assert sdp_media_address(out) == (("127.0.0.1", 6000), (0, 101))
    assert b"m=video 0 RTP/AVP 96" in out and b"10.0.0." not in out
    assert b"o=x 1 1 IN IP4 10.1.1.1" in out  # the origin line stays the sender's
    assert sdp_media_address(b"v=0\r\nm=audio 0 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\n") is None


def test_next_hop_destinations() -> None:
    assert parse_destination("") == (None, "")
    assert parse_destination("10.0.0.5") == (("10.0.0.5", 5060), "")
    assert parse_destination("sip:gw.example.net:5080;transport=TCP") == (("gw.example.net", 5080), "tcp")
    assert parse_destination("[::1]:5062") == (("::1", 5062), "")
    with pytest.raises(ValueError):
        parse_destination("host:port")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_store_reload_replaces_only_when_the_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "sbc.conf", "load_profiles=a\nactive_profile=a\n")
    profile = write(tmp_path, "a.sbcprofile.conf", "refuse_with=\"403 Forbidden\"\n")
    store = ProfileStore(str(tmp_path / "sbc.conf"))
    in_progress = store.profile_for_call("a")
    assert in_progress is not None
    profile.write_text("refuse_with=\"480 Later\"\n")
    store.reload_profile("a")
    assert in_progress.refuse_with == "403 Forbidden"  # a call keeps its copy
    profile.write_text("no equals sign here\n")
    with pytest.raises(SbcConfigError, match="a.sbcprofile.conf:1: syntax error"):
        store.reload_profile("a")
    current = store.profile_for_call("a")
    assert current is not None and current.refuse_with == "480 Later"
    with pytest.raises(SbcConfigError, match="no profile"):
        store.reload_profile("b")
    with pytest.raises(SbcConfigError, match="no such profile file"):
        store.load_profile("b", str(tmp_path / "b.sbcprofile.conf"))
    assert store.path_allowed(str(tmp_path / "b.sbcprofile.conf"))
    assert not store.path_allowed(str(tmp_path / ".." / "b.sbcprofile.conf"))
    assert not store.path_allowed(str(tmp_path / "sbc.conf"))


def test_store_refuses_a_broken_sbc_conf_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "sbc.conf", "load_profiles=a\nbroken\n")
    with pytest.raises(SbcConfigError, match="sbc.conf:2"):
        ProfileStore(str(tmp_path / "sbc.conf"))


# -- the RTP relay on real sockets ---------------------------------------------------------------------
def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    return s


def rtp(pt: int, seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, 1234) + b"\xff" * 160


def sdp_for(port: int) -> bytes:
    return f"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n".encode()


@pytest.fixture
def relay_rig() -> Iterator[tuple[RtpRelay, socket.socket, socket.socket, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    caller, callee = udp(), udp()
    relay = RtpRelay(MediaClock(loop), (udp(), udp()), (udp(), udp()))
    relay.peer_sdp(relay.a, sdp_for(caller.getsockname()[1]))
    relay.peer_sdp(relay.b, sdp_for(callee.getsockname()[1]))
    relay.start()
    try:
        yield relay, caller, callee, loop
    finally:
        relay.close()
        caller.close()
        callee.close()
        loop.close()


def tick(relay: RtpRelay) -> None:
    """One media-clock tick, after the kernel had time to queue what was sent."""
    time.sleep(0.02)
    relay.clock._read_ready()  # the clock's one poll: one packet per readable socket
    relay.pace(0.0)


def test_rtp_relay_both_ways_with_telephone_events_and_no_reflection(relay_rig) -> None:  # type: ignore[no-untyped-def]
    relay, caller, callee, _loop = relay_rig
    relay.a.confirmed = False  # the caller's ACK has not come yet
    callee.sendto(rtp(0, 1), ("127.0.0.1", relay.b.port))
    tick(relay)
    assert relay.b.received == 1 and relay.a.held_back == 1  # nothing to the caller's SDP address yet
    caller.sendto(rtp(101, 2), ("127.0.0.1", relay.a.port))  # an RFC 4733 packet: the caller is there
    tick(relay)
    data, _ = callee.recvfrom(2048)
    assert data == rtp(101, 2)  # unchanged: sequence, timestamp, SSRC, payload type
    callee.sendto(rtp(0, 3), ("127.0.0.1", relay.b.port))
    tick(relay)
    data, _ = caller.recvfrom(2048)
    assert data == rtp(0, 3)
    assert (relay.a.sent, relay.b.sent) == (1, 1)


def test_rtp_relay_drops_strangers_and_honours_streams_set_receiving(relay_rig) -> None:  # type: ignore[no-untyped-def]
    relay, caller, callee, _loop = relay_rig
    stranger = udp()
    try:
        caller.sendto(rtp(0, 1), ("127.0.0.1", relay.a.port))  # latches the caller
        tick(relay)
        stranger.sendto(rtp(0, 2), ("127.0.0.1", relay.a.port))
        tick(relay)
        assert relay.a.foreign == 1 and relay.b.sent == 1
        relay.receiving = (False, True)
        caller.sendto(rtp(0, 3), ("127.0.0.1", relay.a.port))
        tick(relay)
        assert relay.b.sent == 1
    finally:
        stranger.close()
