"""Many calls on one media clock: one timer, every call's frames in order and on time.

Deterministic: a fake loop with injected time drives the clock; the RTP
packets go over real UDP sockets on 127.0.0.1 and are read back to check
sequence numbers, timestamps, marker bits and payloads.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator

import numpy as np
import pytest
from fake_loop import FakeLoop

from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.dtmf import KeyPress, dtmf_tone
from dsm.runtime.media.events import NoAudio
from dsm.runtime.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from dsm.runtime.media.items import PromptItem, SampleItem
from dsm.runtime.sip.media_clock import FRAME_PERIOD, PHASE_FILL, PHASES, MediaClock
from dsm.runtime.sip.rtp import RtpPacket, RtpSender
from dsm.runtime.sip.rtp_session import LATE_AFTER, MAX_CATCH_UP, RtpPortPool, RtpSession
from dsm.runtime.sip.sdp import Codec

PCMU = Codec(0, "PCMU", 8000)
PCMA = Codec(8, "PCMA", 8000)


@pytest.fixture
def sink() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[RtpPacket]:
    out = []
    while True:
        try:
            out.append(RtpPacket.parse(sock.recv(2048)))
        except BlockingIOError:
            return out


def tone(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, int(8000 * seconds)).astype(np.int16)


class Rig:
    """Sessions on one fake loop and one clock, all sending to ``sink``."""

    def __init__(self, sink: socket.socket, phases: int = PHASES, fill: int = PHASE_FILL) -> None:
        self.loop = FakeLoop()
        self.clock = MediaClock(self.loop, phases=phases, fill=fill)  # type: ignore[arg-type]
        self.sink = sink
        self.pool = RtpPortPool("127.0.0.1", 40000, 49999)
        self.sessions: list[RtpSession] = []
        self.events: list[list[object]] = []

    def add(
        self, samples: np.ndarray, codec: Codec = PCMU, seed: int = 0, media: CallMedia | None = None
    ) -> RtpSession:
        media = media if media is not None else CallMedia()
        media.play(PromptItem("p", samples))
        media.media_connect()
        index = len(self.events)
        self.events.append([])
        session = RtpSession(
            self.loop,  # type: ignore[arg-type]
            self.pool.bind(),
            media,
            lambda evs: self.events[index].extend(evs),
            rng=random.Random(seed),
            clock=self.clock,
        )
        session.configure(self.sink.getsockname(), codec, None)
        session.start()
        self.sessions.append(session)
        return session

    def close(self) -> None:
        for session in self.sessions:
            session.close()


def test_many_calls_share_one_timer_and_each_gets_its_frames_in_order(sink: socket.socket) -> None:
    """Issue "Real calls": 40 calls, one armed timer at any time, 25 frames each, in order."""
    rig = Rig(sink)
    try:
        prompts = [tone(1.0, seed=i) for i in range(40)]
        for i, samples in enumerate(prompts):
            rig.add(samples, seed=i)
        assert len(rig.loop.pending) == 1
        start = rig.loop.time()
        for k in range(1, 26):
            rig.loop.advance(start + k * FRAME_PERIOD + FRAME_PERIOD)
            assert len(rig.loop.pending) == 1
        packets = received(sink)
        by_ssrc: dict[int, list[RtpPacket]] = {}
        for packet in packets:
            by_ssrc.setdefault(packet.ssrc, []).append(packet)
        assert len(by_ssrc) == 40
        for i, session in enumerate(rig.sessions):
            stream = by_ssrc[session.sender.ssrc]
            assert len(stream) >= 25
            reference = RtpSender(
                session.sender.ssrc,
                0,
                sequence=stream[0].sequence,
                timestamp=stream[0].timestamp,
            )
            for n, packet in enumerate(stream):
                expected = reference.audio(
                    ulaw_encode(prompts[i][n * 160 : (n + 1) * 160]).tobytes()
                )
                assert packet == expected
            assert stream[0].marker and not any(p.marker for p in stream[1:])
            assert session.frames == len(stream) and session.frames_late == 0
    finally:
        rig.close()


def test_sessions_fill_a_phase_then_spread_and_frames_stay_one_period_apart(
    sink: socket.socket,
) -> None:
    """A phase takes ``fill`` sessions before the next one opens; when all are full, the
    least crowded takes the next session."""
    rig = Rig(sink, fill=2)
    try:
        for i in range(9):
            rig.add(tone(1.0, seed=i), seed=i)
        firsts = [s._slot for s in rig.sessions]
        assert [f % PHASES for f in firsts] == [0, 0, 1, 1, 2, 2, 3, 3, 0]
        for first in firsts:
            assert rig.clock.slot_time(first) - rig.loop.time() >= FRAME_PERIOD - 1e-9
            assert rig.clock.slot_time(first) - rig.loop.time() < 2 * FRAME_PERIOD
        rig.loop.advance(rig.loop.time() + 0.5)
        for session, first in zip(rig.sessions, firsts, strict=True):
            assert (session._slot - first) % PHASES == 0  # still on its own phase
    finally:
        rig.close()


def test_few_sessions_share_one_phase(sink: socket.socket) -> None:
    """Below ``PHASE_FILL`` sessions every new session joins the phase already in use."""
    rig = Rig(sink)
    try:
        for i in range(8):
            rig.add(tone(1.0, seed=i), seed=i)
        assert len({s._slot % PHASES for s in rig.sessions}) == 1
    finally:
        rig.close()


def test_once_a_socket_received_new_sessions_go_to_the_least_crowded_phase(sink: socket.socket) -> None:
    """Every tick runs once RTP arrived: packing sessions would only lengthen the bursts."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        first = rig.add(tone(3.0))
        caller.sendto(bytes(RtpPacket(0, 1, 160, 99, bytes(160))), ("127.0.0.1", first.local_port))
        ticks_in(rig, 2)
        assert first.packets_received == 1
        for i in range(3):
            rig.add(tone(3.0), seed=i + 1)
        assert sorted(s._slot % PHASES for s in rig.sessions) == [0, 1, 2, 3]
    finally:
        caller.close()
        rig.close()


def ticks_in(rig: Rig, periods: int) -> int:
    """Ticks the clock ran while the fake loop moved ``periods`` frame periods on."""
    before = rig.clock.ticks
    rig.loop.advance(rig.loop.time() + periods * FRAME_PERIOD)
    return rig.clock.ticks - before


def test_a_tick_without_a_session_of_its_phase_is_skipped_while_no_socket_received(
    sink: socket.socket,
) -> None:
    """Calls whose peers send nothing wake the clock once a period, not at every tick; once a
    packet arrived every tick runs again (every tick reads), until that socket is gone."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    try:
        a = rig.add(tone(3.0))
        b = rig.add(tone(3.0), seed=1)
        ticks_in(rig, 2)  # past the start
        assert ticks_in(rig, 10) == 10
        frames = a.frames
        caller.sendto(bytes(RtpPacket(0, 1, 160, 99, bytes(160))), ("127.0.0.1", b.local_port))
        ticks_in(rig, 1)  # read at the session's next tick
        assert b.packets_received == 1
        assert ticks_in(rig, 10) == 10 * PHASES
        assert a.frames == frames + 11  # one frame a period, whatever the ticks
        b.close()
        ticks_in(rig, 1)
        assert ticks_in(rig, 10) == 10
    finally:
        caller.close()
        rig.close()


def test_a_shared_socket_is_read_by_the_loop_while_no_call_runs_and_at_the_ticks_while_one_does(
    sink: socket.socket,
) -> None:
    """The SIP socket (``share``): a loop reader while the clock stands; while calls are up
    what arrived is read at the next tick, with the frames (no wake-up of its own), and it
    never makes every tick run as a call's RTP does."""
    rig = Rig(sink)
    shared = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shared.bind(("127.0.0.1", 0))
    shared.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got: list[bytes] = []

    def read_ready() -> None:
        while True:
            try:
                got.append(shared.recv(2048))
            except BlockingIOError:
                return

    try:
        rig.clock.share(shared.fileno(), read_ready)
        assert rig.loop.readers == {shared.fileno(): read_ready}
        session = rig.add(tone(3.0))
        assert rig.loop.readers == {}  # read at the ticks now
        ticks_in(rig, 2)
        peer.sendto(b"OPTIONS", shared.getsockname())
        ticks_in(rig, 1)
        assert got == [b"OPTIONS"]
        assert ticks_in(rig, 10) == 10  # still one tick a period
        session.close()
        assert rig.loop.readers == {shared.fileno(): read_ready}
        rig.clock.unshare(shared.fileno())
        assert rig.loop.readers == {}
    finally:
        peer.close()
        shared.close()
        rig.close()


def test_a_call_ended_by_a_shared_socket_read_leaves_the_ticks_skipped(sink: socket.socket) -> None:
    """A SIP datagram read at a tick may end a call whose RTP arrived in the same tick: the
    ended call's socket must not keep every tick running."""
    rig = Rig(sink)
    shared = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shared.bind(("127.0.0.1", 0))
    shared.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rig.add(tone(3.0))
        b = rig.add(tone(3.0), seed=1)

        def read_ready() -> None:
            with contextlib.suppress(BlockingIOError):
                shared.recv(2048)
                b.close()  # the BYE of b's call

        rig.clock.share(shared.fileno(), read_ready)
        ticks_in(rig, 2)
        peer.sendto(bytes(RtpPacket(0, 1, 160, 99, bytes(160))), ("127.0.0.1", b.local_port))
        peer.sendto(b"BYE", shared.getsockname())
        ticks_in(rig, 1)
        assert b.closed
        assert ticks_in(rig, 10) == 10
    finally:
        peer.close()
        shared.close()
        rig.close()


def test_the_clock_stops_with_the_last_session_and_restarts_with_the_next(
    sink: socket.socket,
) -> None:
    rig = Rig(sink)
    try:
        a = rig.add(tone(1.0))
        a.close()
        assert rig.loop.pending == [] and len(rig.clock) == 0
        b = rig.add(tone(1.0))
        assert len(rig.loop.pending) == 1
        rig.loop.advance(rig.loop.time() + 0.1)
        assert b.frames >= 4
    finally:
        rig.close()


def test_LATE_AFTER_a_frame_served_more_than_10ms_late_counts_as_late(sink: socket.socket) -> None:
    rig = Rig(sink, phases=1)
    try:
        session = rig.add(tone(1.0))
        rig.loop.late_by = LATE_AFTER / 2
        rig.loop.advance(rig.loop.time() + 0.1)
        assert session.frames > 0 and session.frames_late == 0
        frames = session.frames
        rig.loop.late_by = LATE_AFTER * 1.5
        rig.loop.advance(rig.loop.time() + 0.1)
        assert session.frames > frames and session.frames_late > 0
    finally:
        rig.close()


def test_after_a_stall_five_frames_are_made_up_and_the_rest_skipped(sink: socket.socket) -> None:
    """MAX_CATCH_UP frames at once; beyond that the schedule restarts and the timestamps skip."""
    rig = Rig(sink, phases=1)
    try:
        session = rig.add(tone(2.0))
        rig.loop.advance(rig.loop.time() + FRAME_PERIOD * 1.5)  # the first frame
        assert session.frames == 1
        received(sink)
        ts = session.sender.timestamp
        rig.loop.now += 0.2  # the loop was blocked for 200 ms: 10 frame slots due at once
        rig.loop.advance(rig.loop.now)
        made_up = received(sink)
        assert len(made_up) == MAX_CATCH_UP
        assert session.late_frames == 10 - MAX_CATCH_UP
        assert session.frames == 1 + 10 and session.frames_late == 10
        assert session.sender.timestamp == (ts + 10 * 160) & 0xFFFFFFFF
        rig.loop.advance(rig.loop.now + FRAME_PERIOD)
        assert session.frames == 12 and session.frames_late == 10  # back on schedule
    finally:
        rig.close()


def test_noaudio_arrives_on_the_frame_that_ends_the_prompt(sink: socket.socket) -> None:
    """Same events as before: NoAudio once, with the media time of the prompt's end."""
    rig = Rig(sink)
    try:
        session = rig.add(tone(0.1))  # 5 frames
        first_due = rig.clock.slot_time(session._slot)
        rig.loop.advance(rig.loop.time() + 0.3)
        noaudio = [e for e in rig.events[0] if isinstance(e, NoAudio)]
        assert len(noaudio) == 1 and noaudio[0].at == 800
        # the 5th frame starts one period before its slot and ends at it
        assert noaudio[0].time == pytest.approx(first_due + 4 * FRAME_PERIOD)
    finally:
        rig.close()


def test_E151_inband_keys_of_many_calls_are_analysed_together_at_each_tick(sink: socket.socket) -> None:
    """Six callers each send one key as PCMU audio: every call gets its own Key, once,
    with about the tone's duration; frames wait on the clock's batch only within a tick."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    try:
        sessions = [rig.add(tone(5.0, seed=i), seed=i) for i in range(6)]
        for session in sessions:
            session.media.flags["receiving"] = True
        silence = np.zeros(240, dtype=np.int16)
        signals = [
            ulaw_encode(np.concatenate([silence, dtmf_tone(key, 100, -10.0), np.zeros(3200, np.int16)]))
            for key in range(6)
        ]
        for index in range(signals[0].size // 160):
            for session, codes in zip(sessions, signals, strict=True):
                payload = codes[index * 160 : (index + 1) * 160].tobytes()
                packet = RtpPacket(0, index, index * 160, 4242, payload, marker=index == 0)
                caller.sendto(bytes(packet), ("127.0.0.1", session.local_port))
                # no reader callback: the session's next frame drains its socket
                assert session.sock.fileno() not in rig.loop.readers
            rig.loop.advance(rig.loop.time() + FRAME_PERIOD)
            assert len(rig.clock.dtmf) == 0
        keys = [[e for e in events if isinstance(e, KeyPress)] for events in rig.events]
        assert [[press.key for press in presses] for presses in keys] == [[k] for k in range(6)]
        assert all(80 <= presses[0].duration_ms <= 110 for presses in keys)
    finally:
        caller.close()
        rig.close()


def test_keys_found_for_a_session_closed_meanwhile_are_dropped(sink: socket.socket) -> None:
    rig = Rig(sink)
    session = rig.add(tone(1.0))
    session.close()
    session._keys_detected([KeyPress(5, 100)])
    assert rig.events == [[]]


def test_pcma_frames_use_the_alaw_table(sink: socket.socket) -> None:
    rig = Rig(sink)
    try:
        samples = tone(0.2, seed=3)
        rig.add(samples, codec=PCMA)
        rig.loop.advance(rig.loop.time() + 0.1)
        packets = received(sink)
        assert packets and all(p.payload_type == 8 for p in packets)
        assert packets[0].payload == alaw_encode(samples[:160]).tobytes()
    finally:
        rig.close()


def test_a_prompt_too_long_to_cache_is_encoded_frame_by_frame_to_the_same_packets(
    sink: socket.socket,
) -> None:
    """The lean send path slices a prompt's cached codes; a prompt beyond the cache's
    limit (61 s) is encoded per frame instead, to the very same payloads."""
    rig = Rig(sink)
    try:
        samples = np.resize(tone(1.0, seed=5), 8000 * 61)
        session = rig.add(samples)
        rig.loop.advance(rig.loop.time() + 0.2)
        packets = received(sink)
        assert len(packets) >= 5 and session._codes is None
        for n, packet in enumerate(packets):
            assert packet.payload == ulaw_encode(samples[n * 160 : (n + 1) * 160]).tobytes()
            assert packet.sequence == (packets[0].sequence + n) & 0xFFFF
    finally:
        rig.close()


@pytest.mark.parametrize(("codec", "encode"), [(PCMU, ulaw_encode), (PCMA, alaw_encode)])
def test_an_empty_playlist_sends_the_codecs_silence_in_step_after_the_prompt(
    sink: socket.socket, codec: Codec, encode: object
) -> None:
    """After the prompt (and its noAudio, once) the frames are the codec's silence on the lean
    path: the same bytes as an encoded frame of zeros, sequence and timestamps running on,
    the playlist's position moving as ``read_frame`` would move it."""
    rig = Rig(sink, phases=1)
    try:
        samples = tone(0.1)  # five frames
        session = rig.add(samples, codec=codec)
        start = rig.loop.time()
        for k in range(1, 11):
            rig.loop.advance(start + k * FRAME_PERIOD + FRAME_PERIOD)
        packets = received(sink)
        n = len(packets)
        assert n >= 10
        silence = encode(np.zeros(160, dtype=np.int16)).tobytes()  # type: ignore[operator]
        assert [p.payload for p in packets[:5]] == [
            encode(samples[n * 160 : (n + 1) * 160]).tobytes() for n in range(5)  # type: ignore[operator]
        ]
        assert all(p.payload == silence for p in packets[5:])
        assert [(p.sequence - packets[0].sequence) % 65536 for p in packets] == list(range(n))
        assert [(p.timestamp - packets[0].timestamp) % 2**32 for p in packets] == [160 * k for k in range(n)]
        assert sum(isinstance(e, NoAudio) for e in rig.events[0]) == 1
        assert session.media.playlist.position == n * 160
    finally:
        rig.close()


def test_sender_audio_into_writes_what_audio_would_build() -> None:
    a = RtpSender(0x12345678, 0, sequence=0xFFFE, timestamp=0xFFFFFF00)
    b = RtpSender(0x12345678, 0, sequence=0xFFFE, timestamp=0xFFFFFF00)
    buffer = bytearray(12 + 160)
    for n in range(5):
        payload = bytes([n]) * 160
        buffer[12:] = payload
        b.audio_into(buffer, marker=(n == 3))
        assert bytes(buffer) == bytes(a.audio(payload, marker=(n == 3)))
    assert (a.sequence, a.timestamp) == (b.sequence, b.timestamp)


def test_sender_audio_header_is_what_audio_would_build_in_front_of_the_payload() -> None:
    """The prompt path sends ``audio_header() + codes``: the same bytes, the same stream state."""
    a = RtpSender(0x12345678, 0, sequence=0xFFFE, timestamp=0xFFFFFF00)
    b = RtpSender(0x12345678, 0, sequence=0xFFFE, timestamp=0xFFFFFF00)
    for n in range(5):
        payload = bytes([n]) * 160
        assert b.audio_header() + payload == bytes(a.audio(payload))
    assert (a.sequence, a.timestamp) == (b.sequence, b.timestamp)


def test_a_call_started_during_a_tick_leaves_one_timer(sink: socket.socket) -> None:
    """A session may start another call's media from its events; the clock keeps one timer."""
    rig = Rig(sink)
    try:
        first = rig.add(tone(0.1))
        started: list[RtpSession] = []
        original = first.deliver

        def deliver(events: object) -> None:
            original(events)  # type: ignore[arg-type]
            if not started:
                started.append(rig.add(tone(1.0), seed=5))

        first.deliver = deliver  # type: ignore[assignment]
        rig.loop.advance(rig.loop.time() + 0.2)  # NoAudio after 5 frames starts the second call
        assert started and len(rig.loop.pending) == 1
        frames = started[0].frames
        rig.loop.advance(rig.loop.time() + 0.2)
        assert started[0].frames == frames + 10  # one frame per period, not two
    finally:
        rig.close()


class Heard(CallMedia):
    """A call's media that keeps every received frame routed to it (by ``tick`` or the lean path)."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[np.ndarray | None] = []

    def route_received(self, received):  # type: ignore[no-untyped-def]
        self.heard.append(np.array(received, dtype=np.int16))
        return super().route_received(received)


def test_received_audio_of_all_calls_is_decoded_in_one_batch_per_tick_as_frame_by_frame(
    sink: socket.socket,
) -> None:
    """µ-law and A-law callers, 20 ms and 10 ms packets, a lost packet: every call hears
    exactly the decoded payloads in sequence order, one read per readiness."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    try:
        codecs = [PCMU, PCMA, PCMU, PCMA]
        media = [Heard() for _ in codecs]
        sessions = [
            rig.add(tone(3.0, seed=i), codec=c, seed=i, media=m)
            for i, (c, m) in enumerate(zip(codecs, media, strict=True))
        ]
        for m in media:
            m.flags["receiving"] = True
        signal = [tone(1.0, seed=10 + i) for i in range(len(codecs))]
        encoders = {0: ulaw_encode, 8: alaw_encode}
        frames = 30
        lost = 12  # call 2 loses its 13th packet
        for index in range(frames):
            for call, (session, codec) in enumerate(zip(sessions, codecs, strict=True)):
                codes = encoders[codec.payload_type](signal[call][index * 160 : (index + 1) * 160])
                if call == 3:  # 10 ms packets: two per frame
                    halves = [codes[:80], codes[80:]]
                    for half, part in enumerate(halves):
                        seq = 2 * index + half
                        packet = RtpPacket(8, seq, seq * 80, 77, part.tobytes())
                        caller.sendto(bytes(packet), ("127.0.0.1", session.local_port))
                elif not (call == 2 and index == lost):
                    packet = RtpPacket(codec.payload_type, index, index * 160, 70 + call, codes.tobytes())
                    caller.sendto(bytes(packet), ("127.0.0.1", session.local_port))
            rig.loop.advance(rig.loop.time() + FRAME_PERIOD)
        rig.loop.advance(rig.loop.time() + 10 * FRAME_PERIOD)
        decoders = {0: ulaw_decode, 8: alaw_decode}
        for call, (m, codec) in enumerate(zip(media, codecs, strict=True)):
            heard = [f for f in m.heard if f is not None]
            expected = decoders[codec.payload_type](
                encoders[codec.payload_type](signal[call][: frames * 160])
            ).reshape(-1, 160)
            if call == 2:
                expected = np.delete(expected, lost, axis=0)  # a gap stays a gap
            assert len(heard) == len(expected), call
            assert all(np.array_equal(a, b) for a, b in zip(heard, expected, strict=True)), call
        assert rig.clock.reads == sum(s.packets_received for s in sessions)  # never an empty read
        assert len(rig.clock.decode) == 0
        # the 20 ms packets of calls 0-2 went through the batch (all but the jitter buffer's fill)
        assert rig.clock.decode.frames >= 3 * (frames - 4) - 1
    finally:
        caller.close()
        rig.close()


def test_a_burst_is_read_one_packet_per_tick_and_never_with_an_empty_read(sink: socket.socket) -> None:
    """Ten packets waiting at once (a peer's burst, or a flood) are read one per tick: four
    a frame interval, the rest waits in the kernel's buffer; once it is empty, no read at all."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    try:
        session = rig.add(tone(2.0))
        session.media.flags["receiving"] = True
        for seq in range(10):
            packet = RtpPacket(0, seq, seq * 160, 99, bytes(160))
            caller.sendto(bytes(packet), ("127.0.0.1", session.local_port))
        start = rig.clock.ticks
        for _ in range(30):  # bounded: at most 30 steps of a quarter period
            rig.loop.advance(rig.loop.time() + FRAME_PERIOD / PHASES)
            ticks = rig.clock.ticks - start
            assert session.packets_received == rig.clock.reads == min(ticks, 10)
        assert rig.clock.ticks - start >= 20 and rig.clock.reads == 10
    finally:
        caller.close()
        rig.close()


def test_the_fast_receive_path_keeps_strict_latching_and_reopens_with_a_new_answer(
    sink: socket.socket,
) -> None:
    """Once a stream latched, its plain packets skip the general path: a stranger's packets are
    still dropped and counted, a marked packet still counts, a new offer/answer re-opens the
    latch (the SDP's address wins it), and a held-back call is still confirmed by RTP."""
    rig = Rig(sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        session = rig.add(tone(2.0))
        session.media.flags["receiving"] = True
        port = session.local_port

        def send(sock: socket.socket, seq: int, marker: bool = False) -> None:
            packet = RtpPacket(0, seq, seq * 160, 5, bytes(160), marker=marker)
            sock.sendto(bytes(packet), ("127.0.0.1", port))
            rig.loop.advance(rig.loop.time() + FRAME_PERIOD)

        for seq in range(6):
            send(caller, seq)
        assert session.packets_received == 6 and session.latch.source == caller.getsockname()
        for seq in range(6, 9):
            send(stranger, seq)
        assert session.packets_received == 6 and session.packets_foreign == 3
        send(caller, 9, marker=True)
        send(caller, 10)
        assert session.packets_received == 8
        assert session.reception.received == 8  # RTCP counts what was admitted, nothing else

        session.configure(stranger.getsockname(), PCMU, None)  # a new answer: the latch re-opens
        send(stranger, 11)
        assert session.latch.source == stranger.getsockname() and session.packets_received == 9
        send(caller, 12)
        send(caller, 13)
        assert session.packets_received == 9 and session.packets_foreign == 5

        session.hold_until_confirmed()
        send(stranger, 14)
        assert session.confirmed and session.packets_received == 10
    finally:
        caller.close()
        stranger.close()
        rig.close()


class Served(CallMedia):
    """A call's media noting how many packets its clock had read when each frame was served.

    (A media subclass, not a patched session: the session may be compiled, see
    docs/sip.md "Compiled media path".)
    """

    def __init__(self, clock: MediaClock) -> None:
        super().__init__()
        self.clock = clock
        self.reads_when_served: list[int] = []

    def prompt_step(self, now: float | None = None) -> SampleItem | None:
        self.reads_when_served.append(self.clock.reads)
        return super().prompt_step(now)


def test_a_tick_sends_its_frames_before_it_reads_the_sockets(sink: socket.socket) -> None:
    """The tick's sessions are served first (their frames are what is heard on time or late);
    the packets waiting are read after them, in the same tick."""
    rig = Rig(sink, phases=1)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    try:
        media = Served(rig.clock)
        session = rig.add(tone(2.0), media=media)
        reads_when_served = media.reads_when_served
        rig.loop.advance(rig.loop.time() + FRAME_PERIOD * 1.5)  # the first frame
        assert reads_when_served == [0]
        caller.sendto(bytes(RtpPacket(0, 1, 160, 9, bytes(160))), ("127.0.0.1", session.local_port))
        rig.loop.advance(rig.loop.time() + FRAME_PERIOD)  # one more tick
        assert reads_when_served == [0, 0] and rig.clock.reads == 1
        assert session.packets_received == 1 and len(received(sink)) == 2
    finally:
        caller.close()
        rig.close()
