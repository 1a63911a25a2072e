"""A relayed leg's own media without SIP: playlist to the leg's peer, in-band keys, DTMF filtering.

M-ccdsm-3 (the leg's playlist; ``setInputPlaylist``/``connectMedia``),
M-sbc-10 … 12 (relay DTMF receiving, media processing).  The RTP relay runs
on real loopback sockets as in ``test_relay_units``; the test plays the
media clock's tick itself (``pace``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from dsm.runtime import call as call_api
from dsm.runtime.media.dtmf import KeyPress, dtmf_tone
from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.g711 import alaw_encode, ulaw_encode
from dsm.runtime.media.rfc4733 import telephone_event_packets
from dsm.runtime.sbc.leg_media import LegMedia, pick_audio_type
from dsm.runtime.sbc.relay_media import RtpRelay
from dsm.runtime.sip.media_clock import MediaClock
from dsm.runtime.sip.rtp import RtpPacket


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    return s


def rtp(pt: int, seq: int, payload: bytes = b"\xff" * 160, ts: int | None = None) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160 if ts is None else ts, 1234) + payload


def sdp_for(port: int, types: str = "0 101") -> bytes:
    return (
        f"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {types}\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
    ).encode()


class Rig:
    """The relay between a caller socket and a callee socket, and the events the legs raised."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.caller, self.callee = udp(), udp()
        self.relay = RtpRelay(MediaClock(self.loop), (udp(), udp()), (udp(), udp()))
        self.relay.peer_sdp(self.relay.a, sdp_for(self.caller.getsockname()[1]))
        self.relay.peer_sdp(self.relay.b, sdp_for(self.callee.getsockname()[1]))
        self.events: list[object] = []
        self.errors: list[str] = []
        self.a = LegMedia(on_events=self.events.extend, log=self.errors.append)
        self.a.has_stream = True
        self.relay.a.local = self.a
        self.relay.start()

    def tick(self, sleep: float = 0.005) -> None:
        time.sleep(sleep)
        self.relay.clock._read_ready()
        self.relay.pace(0.0)
        self.relay.clock.dtmf.run()  # the tick's in-band analysis, as the clock runs it

    def drain(self, sock: socket.socket) -> list[RtpPacket]:
        out: list[RtpPacket] = []
        sock.settimeout(0.05)
        for _ in range(500):
            try:
                out.append(RtpPacket.parse(sock.recv(2048)))
            except TimeoutError:
                break
        return out

    def close(self) -> None:
        self.relay.close()
        self.caller.close()
        self.callee.close()
        self.loop.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


def prompt_file(tmp_path: Path, frames: int, seed: int = 3) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(160 * frames) * 3000).clip(-32768, 32767).astype(np.int16)
    path = tmp_path / "hello.wav"
    soundfile.write(path, samples, 8000, subtype="PCM_16")
    return path, samples


def test_M_ccdsm_3_the_playlist_replaces_relayed_audio_to_the_caller_until_it_is_empty(
    rig: Rig, tmp_path: Path
) -> None:
    """connectMedia + playFile: the caller gets the file's exact µ-law codes in packets of their own
    stream, the callee's audio to the caller is dropped meanwhile, NoAudio ends it, relaying resumes."""
    path, samples = prompt_file(tmp_path, 5)
    rig.a.play(call_api.FileItem(str(path)), False)
    assert not rig.a.replacing  # not in media processing yet: the playlist waits
    assert rig.a.connect()
    assert rig.a.replacing
    for seq in range(1, 6):
        rig.callee.sendto(rtp(0, seq), ("127.0.0.1", rig.relay.b.port))
        rig.tick()
    heard = rig.drain(rig.caller)
    assert [p.payload_type for p in heard] == [0] * 5
    assert b"".join(p.payload for p in heard) == ulaw_encode(samples).tobytes()
    assert len({p.ssrc for p in heard}) == 1 and heard[0].ssrc != 1234
    assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in zip(heard, heard[1:], strict=False))
    assert rig.relay.a.replaced == 5 and rig.relay.a.played == 5
    assert [type(e) for e in rig.events] == [NoAudio]
    rig.callee.sendto(rtp(0, 9), ("127.0.0.1", rig.relay.b.port))
    rig.tick()
    (relayed,) = rig.drain(rig.caller)
    assert relayed.ssrc == 1234 and relayed.sequence == 9  # the callee's packet, unchanged


def test_M_ccdsm_3_set_input_playlist_needs_media_processing_and_a_separator_reports(rig: Rig) -> None:
    """setInputPlaylist alone plays nothing; with sbc.addToMediaProcessor silence and a separator play
    (the caller's codec is PCMA here); removeFromMediaProcessor stops it, the rest waits."""
    rig.relay.peer_sdp(rig.relay.a, sdp_for(rig.caller.getsockname()[1], "8 0 101"))
    assert rig.relay.a.audio_pt == 8
    rig.a.play(call_api.SilenceItem(40), False)
    rig.a.play(call_api.SeparatorItem(7), False)
    rig.a.play(call_api.SilenceItem(1000), False)
    assert rig.a.attach_input()
    rig.tick()
    assert rig.drain(rig.caller) == []
    assert rig.a.add_to_processor()
    for _ in range(3):
        rig.tick()
    heard = rig.drain(rig.caller)
    assert [p.payload_type for p in heard] == [8, 8, 8]
    assert heard[0].payload == alaw_encode(np.zeros(160, dtype=np.int16)).tobytes()
    assert [(type(e), getattr(e, "id", None)) for e in rig.events] == [(PlaylistSeparatorReached, 7)]
    rig.a.remove_from_processor()
    rig.tick()
    assert rig.drain(rig.caller) == [] and len(rig.a.media.playlist) == 1


def test_M_ccdsm_3_without_a_media_session_input_and_connect_log_and_do_nothing() -> None:
    errors: list[str] = []
    leg = LegMedia(log=errors.append)
    leg.play(call_api.SilenceItem(20), False)  # the playlist exists without RTP relay
    assert not leg.attach_input() and not leg.connect() and not leg.add_to_processor()
    assert not leg.replacing and not leg.next_packet(0.0, 0, print)
    assert len(errors) == 3 and "no media session" in errors[0]


def test_M_ccdsm_3_disconnect_media_only_undoes_connect_media(rig: Rig) -> None:
    assert rig.a.add_to_processor()
    rig.a.disconnect()  # not connected by connectMedia: nothing
    assert rig.a.processing
    rig.a.connect()
    rig.a.disconnect()
    assert not rig.a.processing


def test_M_ccdsm_4_in_band_keys_of_the_caller_in_media_processing(rig: Rig) -> None:
    """The caller's audio is relayed on and, while the A leg is in media processing, its in-band
    key raises one Key (``key``, ``duration``); outside media processing nothing is detected."""
    tone = np.concatenate([np.zeros(800, np.int16), dtmf_tone(5, 200), np.zeros(1600, np.int16)])
    codes = ulaw_encode(tone).tobytes()
    frames = [codes[i : i + 160] for i in range(0, len(codes), 160)]
    for seq, frame in enumerate(frames, 1):  # not in processing
        rig.caller.sendto(rtp(0, seq, frame), ("127.0.0.1", rig.relay.a.port))
        rig.tick(0.002)
    assert rig.events == []
    rig.a.add_to_processor()
    for seq, frame in enumerate(frames, 100):
        rig.caller.sendto(rtp(0, seq, frame), ("127.0.0.1", rig.relay.a.port))
        rig.tick(0.002)
    keys = [e for e in rig.events if isinstance(e, KeyPress)]
    assert [k.key for k in keys] == [5] and 150 <= keys[0].duration_ms <= 260
    assert len(rig.drain(rig.callee)) == 2 * len(frames)  # the audio itself went on to the callee


def test_rtprelay_dtmf_filtering_drops_rfc4733_but_keys_are_still_reported(rig: Rig) -> None:
    """``rtprelay_dtmf_filtering=yes``: the caller's telephone-events do not reach the callee; with
    detection the key is still reported (M-sbc-10); audio goes on."""
    from dsm.runtime.media.rfc4733 import TelephoneEventReceiver

    keys: list[tuple[int, int]] = []
    rig.relay.a.filter_dtmf = True
    rig.relay.a.dtmf = TelephoneEventReceiver()
    rig.relay.on_dtmf = lambda side, key, ms: keys.append((key, ms))
    for seq, packet in enumerate(telephone_event_packets(3, 100), 1):
        rig.caller.sendto(rtp(101, seq, packet.payload.encode(), ts=8000), ("127.0.0.1", rig.relay.a.port))
        rig.tick(0.002)
    rig.caller.sendto(rtp(0, 50), ("127.0.0.1", rig.relay.a.port))
    rig.tick()
    got = rig.drain(rig.callee)
    assert [p.payload_type for p in got] == [0]
    assert keys == [(3, 100)] and rig.relay.a.filtered == len(telephone_event_packets(3, 100))


def test_pick_audio_type_follows_the_peers_preference() -> None:
    assert pick_audio_type((18, 8, 0, 101)) == 8
    assert pick_audio_type((0, 8)) == 0
    assert pick_audio_type((18, 101)) is None


def test_a_leg_without_g711_keeps_its_playlist_and_the_relay_goes_on(rig: Rig) -> None:
    rig.relay.peer_sdp(rig.relay.a, sdp_for(rig.caller.getsockname()[1], "18 101"))
    rig.a.play(call_api.SilenceItem(100), False)
    rig.a.connect()
    rig.callee.sendto(rtp(0, 1), ("127.0.0.1", rig.relay.b.port))
    rig.tick()
    (relayed,) = rig.drain(rig.caller)  # the callee's audio goes on: nothing to replace it with
    assert relayed.ssrc == 1234 and len(rig.a.media.playlist) == 1


def test_A_core_51_send_dtmf_goes_to_the_legs_peer_as_rfc4733_in_the_legs_own_stream(rig: Rig) -> None:
    """sendDTMF on a relayed leg (no media processing needed): one telephone-event packet per frame
    interval to the caller, with the caller's telephone-event type; a receiver reads key # once."""
    from dsm.runtime.media.rfc4733 import TelephoneEventReceiver

    assert rig.a.send_dtmf(11, 100)
    for _ in range(len(telephone_event_packets(11, 100)) + 2):
        rig.tick(0.001)
    got = rig.drain(rig.caller)
    assert got and {p.payload_type for p in got} == {101} and len({p.ssrc for p in got}) == 1
    assert got[0].marker and len({p.timestamp for p in got}) == 1
    receiver = TelephoneEventReceiver()
    keys = [k for p in got for k in receiver.receive(p.timestamp, p.payload)]
    assert [(k.key, k.duration_ms) for k in keys] == [(11, 100)]
    assert not rig.a.dtmf_pending


def test_send_dtmf_without_a_stream_or_telephone_event_is_logged_and_dropped(rig: Rig) -> None:
    errors: list[str] = []
    assert not LegMedia(log=errors.append).send_dtmf(1, 100) and "no media session" in errors[0]
    rig.relay.peer_sdp(rig.relay.a, b"v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n" % rig.caller.getsockname()[1])
    rig.a.send_dtmf(1, 100)
    rig.tick()
    assert rig.drain(rig.caller) == [] and not rig.a.dtmf_pending
    assert any("no telephone-event" in e for e in rig.errors)


def test_in_band_detection_frame_by_frame_without_a_batch_and_across_odd_packet_sizes() -> None:
    """``heard`` without the clock's batch (a host of its own): 10 ms packets are joined into frames."""
    events: list[object] = []
    leg = LegMedia(on_events=events.extend)
    leg.has_stream = True
    leg.add_to_processor()
    codes = ulaw_encode(np.concatenate([dtmf_tone(0, 160), np.zeros(1600, np.int16)])).tobytes()
    for i in range(0, len(codes), 80):
        leg.heard(0, codes[i : i + 80])
    assert [(k.key) for k in leg.keys] == [0] and events == leg.keys
    leg.set_flag("dtmf_detection", False)
    leg.heard(0, codes)
    assert len(leg.keys) == 1
