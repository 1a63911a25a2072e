"""One call's RTP stream on the event loop: 20 ms paced G.711 out, jitter-buffered audio in.

:class:`RtpSession` is the asyncio shell around the call's sans-I/O media
(:class:`~dsm.runtime.media.call_media.CallMedia`) and the RTP helpers of
:mod:`dsm.runtime.sip.rtp`:

* every 20 ms (an absolute schedule on the loop's clock, so the rate does
  not drift; the slots are those of the loop's shared
  :class:`~dsm.runtime.sip.media_clock.MediaClock`, one timer for all
  calls) it takes the next received frame out of the jitter buffer,
  decodes it and passes it to :meth:`CallMedia.tick`; the frame the tick
  returns is encoded with the codec of the SDP answer and sent.  When the
  loop falls behind, up to :data:`MAX_CATCH_UP` missed frames are made up at
  once; beyond that the schedule restarts from now (the lost time is counted
  in :attr:`RtpSession.late_frames`).  For measurements every frame slot is
  counted in :attr:`RtpSession.frames`, and a slot served more than
  :data:`LATE_AFTER` after its schedule (or skipped) in
  :attr:`RtpSession.frames_late` -- the server's ``/metrics`` sums them over
  the live calls (``dsm_rtp_frames``, ``dsm_rtp_late_frames``);
* received RTP is not read by a loop callback per packet: the clock polls
  every call's socket once a tick and reads one packet from each readable
  one (:meth:`RtpSession._read_one`, exactly one read per readiness, never
  an empty one) into the latch, the RTCP statistics and the jitter buffer.
  A plain packet (no padding, extension or CSRCs: what phones send) is
  parsed with one ``struct`` call and kept as ``(payload type, payload)``,
  no packet object; anything else takes :meth:`RtpPacket.parse`;
* RFC 4733 packets go straight to :meth:`CallMedia.receive_telephone_event`;
  ``sendDTMF`` requests (:attr:`CallMedia.outgoing_dtmf`) are sent as
  telephone-event packets, one per frame interval, in place of audio;
* the events a tick or a telephone event produces (NoAudio,
  PlaylistSeparator, Key) go to one callback, which delivers them to the
  session;
* while the ``rtp_timeout`` media flag is on (``monitorRTPTimeout(true)``,
  A-core-46) and nothing arrived for ``rtp_timeout`` seconds, the callback
  gets one :class:`RtpTimeoutEvent`: type **RTPTimeout** with ``type`` =
  ``rtp_timeout`` and ``timeout_value`` -- the REFERENCE QUIRK of E-153, so
  only ``test(#type == rtp_timeout)`` catches it, never ``rtpTimeout``.  It
  fires again only after packets arrived and stopped once more.

Who may send to the call and where it sends is :class:`~dsm.runtime.sip.rtp_latch.RtpLatch`'s
decision (strict latching by default, symmetric RTP as an option): a packet
from a stranger is dropped before anything looks at it and counted in
:attr:`SipCounters.rtp_foreign_dropped`.  After our 2xx the call sends
nothing until :meth:`RtpSession.confirm` (the ACK) or the peer's first
admitted packet (:meth:`RtpSession.hold_until_confirmed`): an INVITE with
someone else's address in its SDP that is never ACKed gets no stream.

The sockets come from :class:`RtpPortPool`: RTP on a random even port of a
configurable range, RTCP on ``port + 1`` (:meth:`RtpPortPool.bind_pair`):
binding is synchronous, so the SDP answer can name the port at once.  RTP
is read once per frame on the media clock (the clock polls every watched
socket once a tick); RTCP, rare, the same way.  With an RTCP socket the session sends a
compound report (SR, or RR before it sent anything, with a reception block
once RTP arrived, plus SDES CNAME) to the peer's RTP port + 1 every
:data:`RTCP_INTERVAL` seconds (randomised by ±50 %, RFC 3550 6.2) and keeps
the peer's sender reports for the LSR/DLSR fields.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np

from dsm.runtime.media.audio import FRAME_SAMPLES
from dsm.runtime.media.call_media import CallMedia, MediaEvent
from dsm.runtime.media.dtmf import KeyPress
from dsm.runtime.media.g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    EncodedArrays,
    alaw_encode,
    ulaw_encode,
)
from dsm.runtime.media.rfc4733 import TelephoneEventPacket
from dsm.runtime.sip.errors import ParseError, RtpPortsExhausted
from dsm.runtime.sip.limits import SipCounters
from dsm.runtime.sip.media_clock import MediaClock
from dsm.runtime.sip.rtcp import ReceptionStats, compound_report
from dsm.runtime.sip.rtp import (
    PLAIN_FIRST_OCTET,
    PLAIN_HEADER,
    RTP_HEADER_SIZE,
    JitterBuffer,
    RtpPacket,
    RtpSender,
)
from dsm.runtime.sip.rtp_latch import RtpLatch
from dsm.runtime.sip.sdp import Codec

__all__ = [
    "RtpPortPool",
    "RtpPortsExhausted",
    "RtpSession",
    "RtpTimeoutEvent",
    "SessionMediaEvent",
    "FRAME_SECONDS",
    "MAX_CATCH_UP",
    "DEFAULT_RTP_TIMEOUT",
    "LATE_AFTER",
    "RTCP_INTERVAL",
]

RTCP_INTERVAL: Final = 5.0
"""Seconds between our RTCP reports (RFC 3550's minimum; each wait randomised by ±50 %)."""

FRAME_SECONDS: Final = FRAME_SAMPLES / 8000
MAX_CATCH_UP: Final = 5
"""Frames made up at once after the loop was late; more is treated as a restart."""

LATE_AFTER: Final = 0.010
"""Seconds after its schedule beyond which a frame counts as late (half a frame interval)."""

DEFAULT_RTP_TIMEOUT: Final = 300.0
"""Seconds without received RTP before RTPTimeout (the reference's ``dead_rtp_time`` default)."""


@dataclass(frozen=True, slots=True)
class RtpTimeoutEvent:
    """E-153: what a call session gets when RTP stopped arriving."""

    timeout: float

    def __init__(self, timeout: float) -> None:
        object.__setattr__(self, "timeout", timeout)

    @property
    def event_type(self) -> str:
        return "RTPTimeout"  # a property, not a ClassVar: mypyc's frozen dataclass would assign it

    @property
    def params(self) -> dict[str, str]:
        return {"type": "rtp_timeout", "timeout_value": f"{self.timeout:g}"}


SessionMediaEvent: TypeAlias = MediaEvent | RtpTimeoutEvent
"""Everything the RTP session reports to the call."""

# Final: the compiled per-packet path reads these as C statics, not from the module's dict.
_ENCODERS: Final = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
_ENCODE_TABLES: Final = {"PCMU": ULAW_ENCODE, "PCMA": ALAW_ENCODE}
_ENCODED_ARRAYS: Final = {"PCMU": EncodedArrays(ULAW_ENCODE), "PCMA": EncodedArrays(ALAW_ENCODE)}
"""Prompt codes shared by every call of the process, per codec."""
_DECODE_TABLES: Final = {0: ULAW_DECODE, 8: ALAW_DECODE}
"""Payload type -> the table that decodes its codes (indexed by the code bytes)."""
_PLAIN_UNPACK: Final = PLAIN_HEADER.unpack_from
_SILENCE: Final = np.zeros(FRAME_SAMPLES, dtype=np.int16)
_NO_SEND: Final = ("recvonly", "inactive")
_NO_RECEIVE: Final = ("sendonly", "inactive")


_NONBLOCK: Final = getattr(socket, "SOCK_NONBLOCK", 0)
"""Linux creates a socket non-blocking with this type flag; elsewhere ``setblocking`` does."""

RANDOM_TRIES: Final = 32
"""Random even ports tried before the pool scans the whole range (from a random start)."""


class RtpPortPool:
    """Binds one UDP socket per call on a random even port of ``[low, high]``.

    A port is drawn at random (from ``os.urandom`` unless an ``rng`` is
    given), so the next call's port cannot be guessed from this one's; a
    port in use (by another call or another program) is skipped and another
    drawn, up to :data:`RANDOM_TRIES` times, then the range is scanned from
    a random start so a nearly full range still finds its free ports.  No
    bookkeeping of free ports is needed and nothing leaks when a call fails.
    """

    def __init__(
        self, host: str, low: int = 10000, high: int = 19999, rng: random.Random | None = None
    ) -> None:
        if not 0 < low <= high <= 65535:
            raise ValueError(f"bad RTP port range {low}-{high}")
        self.host = host
        self.low = low + (low % 2)
        self.high = high
        if self.low > self.high:
            raise ValueError(f"RTP port range {low}-{high} holds no even port")
        self._rng = rng
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def _below(self, count: int) -> int:
        """A random integer in ``[0, count)``: from the kernel's generator unless an ``rng`` was given.

        ``os.urandom`` directly, not ``SystemRandom.randrange`` (four calls of
        interpreted code a draw); the modulo's bias over 32 bits is below
        one in 100,000 for the 32,768 even ports there are.
        """
        if self._rng is not None:
            return self._rng.randrange(count)
        return int.from_bytes(os.urandom(4), "little") % count

    def _candidates(self) -> Iterator[int]:
        """Random even ports, then every even port from a random start (lazily: usually one is enough)."""
        count = (self.high - self.low) // 2 + 1
        for _ in range(min(RANDOM_TRIES, count)):
            yield self.low + 2 * self._below(count)
        start = self._below(count)
        for i in range(count):
            yield self.low + 2 * ((start + i) % count)

    def bind(self) -> socket.socket:
        """A non-blocking UDP socket bound to a random free even port."""
        return self._bind_even()[0]

    def _bind_even(self) -> tuple[socket.socket, int]:
        """:meth:`bind` and the port (no ``getsockname`` needed)."""
        for port in self._candidates():
            # SOCK_NONBLOCK: non-blocking from its creation, no setblocking system call
            sock = socket.socket(self._family, socket.SOCK_DGRAM | _NONBLOCK)
            try:
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            if not _NONBLOCK:
                sock.setblocking(False)
            return sock, port
        raise RtpPortsExhausted(f"no free RTP port in {self.low}-{self.high} on {self.host}")

    def bind_pair(self) -> tuple[socket.socket, socket.socket]:
        """RTP on the next free even port and RTCP on the odd port above it (RFC 3550 11)."""
        count = (self.high - self.low) // 2 + 1
        for _ in range(count):
            rtp, port = self._bind_even()
            rtcp = socket.socket(self._family, socket.SOCK_DGRAM | _NONBLOCK)
            try:
                rtcp.bind((self.host, port + 1))
            except OSError:
                rtcp.close()
                rtp.close()
                continue
            if not _NONBLOCK:
                rtcp.setblocking(False)
            return rtp, rtcp
        raise RtpPortsExhausted(f"no free RTP/RTCP port pair in {self.low}-{self.high} on {self.host}")


class RtpSession:
    """The RTP side of one call; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        media: CallMedia,
        deliver: Callable[[Sequence[SessionMediaEvent]], None],
        *,
        on_error: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
        jitter_depth: int = 3,
        rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
        clock: MediaClock | None = None,
        rtcp_sock: socket.socket | None = None,
        rtcp_interval: float = RTCP_INTERVAL,
        cname: str = "dsm",
        latch: RtpLatch | None = None,
        counters: SipCounters | None = None,
    ) -> None:
        self.loop = loop
        self.latch = latch if latch is not None else RtpLatch()
        self.counters = counters if counters is not None else SipCounters()
        self.confirmed = True
        """Whether we may send: ``False`` after our 2xx until the ACK or the peer's RTP arrives."""
        self.packets_foreign = 0
        """RTP packets from strangers dropped by the latch (this call)."""
        self.rtcp_sock = rtcp_sock
        self.rtcp_interval = rtcp_interval
        self.cname = cname
        self.reception = ReceptionStats()
        self.rtcp_sent = 0
        self._rtcp_timer: asyncio.TimerHandle | None = None
        self._rng = rng or random.Random()
        self.clock = clock if clock is not None else MediaClock.for_loop(loop)
        self.sock = sock
        self._send = sock.sendto
        """The socket's ``sendto``, bound once (the per-frame send path)."""
        self._local_port = int(sock.getsockname()[1])
        self._fd = sock.fileno()
        self.media = media
        self.deliver = deliver
        self.on_error: Callable[[str], None] = on_error or (lambda message: None)
        rng = self._rng
        self.sender = RtpSender(
            rng.getrandbits(32), 0, sequence=rng.getrandbits(16), timestamp=rng.getrandbits(32)
        )
        self.jitter: JitterBuffer[tuple[int, bytes]] = JitterBuffer(jitter_depth)
        """Received audio as ``(payload type, payload)`` by sequence number."""
        self.codec: Codec | None = None
        self.telephone_event: Codec | None = None
        self.direction = "sendrecv"
        self._received: list[np.ndarray] = []
        self._received_samples = 0
        self._fetching = False
        """Whether the clock fetches this call's frames for its batched decode (once audio came)."""
        self._fetched = False
        """The clock's fetch already took this frame's packet (its frame is :attr:`prefetched`)."""
        self.prefetched: np.ndarray | None = None
        """The coming frame, decoded with the tick's other calls (:class:`DecodeBatch`)."""
        self._dtmf: list[tuple[TelephoneEventPacket, bool]] = []
        self._running = False
        self._slot = 0
        """The clock tick of the next frame (frames are ``clock.phases`` ticks apart)."""
        self._audio_packet = bytearray(RTP_HEADER_SIZE + FRAME_SAMPLES)
        """The outgoing audio packet, rewritten in place for every frame."""
        self._audio_payload = np.frombuffer(
            self._audio_packet, dtype=np.uint8, offset=RTP_HEADER_SIZE
        )
        self._encode_table: np.ndarray | None = None
        self._silence = b""
        """A frame of silence in the codec (set with the encode table)."""
        self._encoded_arrays: EncodedArrays | None = None
        self._codes_of: np.ndarray | None = None
        self._codes: bytes | None = None
        """The codes of the prompt array ``_codes_of`` (the one being played), kept per call."""
        self._reading = False
        self._recvfrom = sock.recvfrom
        self._fast_source: object = None
        """The latched source's raw address while the fast receive path is open (see :meth:`_read_one`)."""
        self._fast_type = -1
        """The second header octet of a packet the fast path takes: the codec's type, no marker."""
        self.closed = False
        self.packets_sent = 0
        self.packets_received = 0
        self.late_frames = 0
        self.frames = 0
        """Frame slots due since :meth:`start` (sent, skipped or silent)."""
        self.frames_late = 0
        """Slots served more than :data:`LATE_AFTER` after their schedule, skipped ones included."""
        self.forward: Callable[[bytes], None] | None = None
        """Media anchoring (B2B ``$b2b_rtp_relay``): every admitted packet is handed on as it came."""
        self.relaying = False
        """While relaying, our own audio is not sent (the other leg's packets go out instead)."""
        self.packets_relayed = 0
        self.rtp_timeout = rtp_timeout
        self._last_received = 0.0
        self._timeout_reported = False

    @property
    def remote(self) -> tuple[str, int] | None:
        """Where our RTP goes now (the SDP's address, or the latched source when symmetric)."""
        return self.latch.destination()

    @property
    def local_port(self) -> int:
        """The bound port (still known after :meth:`close`)."""
        return self._local_port

    # -- configuration from the SDP answer ---------------------------------------------------
    def configure(
        self,
        remote: tuple[str, int],
        codec: Codec,
        telephone_event: Codec | None,
        direction: str = "sendrecv",
        payload_types: Sequence[int] = (),
    ) -> None:
        """Where to send, with which codec (the first of the answer) and direction.

        Every offer/answer comes through here, so the latch re-opens: the
        peer's next valid packet (one of ``payload_types``, the negotiated
        ones, besides the codec's and telephone-event's) is latched again.
        """
        if codec.name.upper() not in _ENCODERS:
            raise ValueError(f"codec {codec.name} is not G.711")
        types = {codec.payload_type, *payload_types}
        if telephone_event is not None:
            types.add(telephone_event.payload_type)
        self.latch.reset(remote, types)
        self._fast_source = None  # the latch re-opens: the slow path until it latches again
        self.codec = codec
        self.telephone_event = telephone_event
        self.direction = direction
        self.sender.payload_type = codec.payload_type
        self._encode_table = _ENCODE_TABLES[codec.name.upper()]
        self._silence = bytes([int(self._encode_table[0])]) * FRAME_SAMPLES
        self._encoded_arrays = _ENCODED_ARRAYS[codec.name.upper()]
        self._codes_of = self._codes = None  # the codec may have changed

    # -- the send gate (no reflection) ----------------------------------------------------------
    def hold_until_confirmed(self) -> None:
        """Our 2xx is out: send nothing until :meth:`confirm` or the peer's first admitted packet."""
        self.confirmed = False
        self._fast_source = None  # the next packet confirms: the slow path

    def confirm(self) -> None:
        """The ACK arrived (or the peer's RTP did): the peer asked for this stream, send."""
        self.confirmed = True

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        """Start reading and the 20 ms clock (idempotent).

        RTP is not read by a loop callback per packet: every tick of the
        clock reads one packet of each readable socket (:meth:`_read_one`).
        RTCP, a packet every few seconds, is read at the ticks too (what
        waits there at most a tick), with no loop reader to make and
        unmake per call.
        """
        if self.closed:
            return
        if not self._reading:
            if self.sock.gettimeout() != 0.0:  # the pool's sockets are non-blocking already
                self.sock.setblocking(False)
            self.clock.watch(self._fd, self._read_one)  # one packet per readiness, each tick
            if self.rtcp_sock is not None:
                self.clock.watch(self.rtcp_sock.fileno(), self._rtcp_readable)
                self._schedule_report()
            self._reading = True
        if not self._running:
            self._running = True
            self._last_received = self.loop.time()
            self._slot = self.clock.join(self)

    def pause(self) -> None:
        """Stop sending and reading, keep the ports (B2B with end-to-end media; :meth:`start` resumes)."""
        self._halt()

    def _halt(self) -> None:
        """Leave the media clock, stop reading and RTCP reports; the sockets stay open."""
        if self._running:
            self.clock.leave(self)
            self._running = False
            self._fetching = self._fetched = False
            self._fast_source = None
            self.prefetched = None
        if self._reading:
            self.clock.unwatch(self._fd)  # idempotent, never raises
            if self.rtcp_sock is not None:
                self.clock.unwatch(self.rtcp_sock.fileno())
            self._reading = False
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None

    @property
    def running(self) -> bool:
        """Whether the stream runs (started, not paused or closed)."""
        return self._running

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._halt()
        self.sock.close()
        if self.rtcp_sock is not None:
            self.rtcp_sock.close()

    def pace(self, at: float) -> None:
        """The clock's slot ``at`` is here: serve every frame due by now.

        ``now`` is read here, per session, so a frame served late because
        other calls went first counts as late.  The clock may fire a hair
        before its slot; the slot time is then taken as now.
        """
        if self.closed:
            return
        now = self.loop.time()
        if now < at:
            now = at
        clock = self.clock
        step = clock.phases
        origin = clock.origin
        assert origin is not None  # set when this session joined
        tick = clock.step
        slot = self._slot
        due = origin + slot * tick  # clock.slot_time(slot), inlined: this runs per frame
        done = 0
        try:
            while due <= now and done < MAX_CATCH_UP and not self.closed:
                self.frames += 1
                if now - due > LATE_AFTER:
                    self.frames_late += 1
                self._frame(due - FRAME_SECONDS)
                slot += step
                due = origin + slot * tick
                done += 1
        except Exception as exc:  # noqa: BLE001 - a media fault ends nothing but this frame
            self.on_error(f"rtp frame failed: {type(exc).__name__}: {exc}")
        if due <= now:  # far behind (or a failed frame): restart the schedule from now
            missed = int((now - due) / FRAME_SECONDS) + 1
            self.late_frames += missed
            self.frames += missed
            self.frames_late += missed
            self.sender.skip(missed)
            slot += missed * step
        self._slot = slot
        if self.rtp_timeout > 0 and not self._timeout_reported and self.media.flags["rtp_timeout"]:
            self._check_timeout(now)

    def _check_timeout(self, now: float) -> None:
        if (
            self.rtp_timeout > 0
            and not self._timeout_reported
            and self.media.flags["rtp_timeout"]
            and now - self._last_received >= self.rtp_timeout
        ):
            self._timeout_reported = True
            self.deliver([RtpTimeoutEvent(self.rtp_timeout)])

    def _frame(self, start: float) -> None:
        if self._fetched:  # the clock's fetch took this frame's packet: decoded in its batch
            self._fetched = False
            received = self.prefetched
            self.prefetched = None
        elif self.packets_received:
            received = self._next_received()
        else:  # nothing ever received (a one-way call): no jitter buffer to ask
            received = None
        media = self.media
        item = media.prompt_step(start)
        if item is not None or media.silence_step(start):
            # the next 20 ms of a prompt, or of an empty playlist's silence: the lean path,
            # no frame array and no tick result built
            if received is not None:
                undetected = media.route_received(received)
                if undetected is not None:  # analysed with the tick's other calls
                    self.clock.dtmf.add(media.detector, undetected, self._keys_detected)
            if item is not None:
                self._send_prompt_frame(item.samples, item.position - FRAME_SAMPLES)
            else:
                self._send_silence_frame()
            return
        result = media.tick(received, now=start, detect=False)
        if result.undetected is not None:  # analysed with the tick's other calls
            self.clock.dtmf.add(media.detector, result.undetected, self._keys_detected)
        if media.outgoing_dtmf:
            self._take_dtmf()
        if not self.confirmed:  # nothing to an address the peer has not confirmed
            self.counters.rtp_held_back += 1
            self.sender.skip(1)
        elif self._dtmf:
            self._send_dtmf_packet()
        elif result.sent is not None and self.direction not in _NO_SEND and not self.relaying:
            self._send_audio(result.sent)
        else:
            self.sender.skip(1)
        if result.events:
            self.deliver(list(result.events))

    def _keys_detected(self, presses: list[KeyPress]) -> None:
        """In-band keys ended in one of our frames (from the clock's batch)."""
        if self.closed:
            return
        try:
            self.deliver(presses)
        except Exception as exc:  # noqa: BLE001 - one call's fault must not reach the clock
            self.on_error(f"dtmf delivery failed: {type(exc).__name__}: {exc}")

    # -- sending --------------------------------------------------------------------------
    def _sendto(self, data: bytes | bytearray) -> None:
        if self.remote is None:
            return
        try:
            self.sock.sendto(data, self.remote)
            self.packets_sent += 1
        except (BlockingIOError, InterruptedError):
            pass  # a full socket buffer drops the frame, as the network would
        except OSError as exc:
            self.on_error(f"rtp send to {self.remote}: {exc}")

    def _send_prompt_frame(self, samples: np.ndarray, start: int) -> None:
        """Send ``samples[start : start + FRAME_SAMPLES]`` (a prompt's frame, already played).

        The send path of a call playing a prompt with nothing received,
        once per frame and call: the frame is a slice of the prompt's codes
        (encoded once per prompt and codec, shared by every call) behind
        the header, then one ``sendto``.  No frame array, event list or
        tick result is built.
        """
        remote = self._lean_destination()
        if remote is None:
            return
        codes = self._prompt_codes(samples)
        if codes is None:  # not cacheable (too long): encoded frame by frame
            self._send_audio(samples[start : start + FRAME_SAMPLES])
            return
        self._send_lean(self.sender.audio_header() + codes[start : start + FRAME_SAMPLES], remote)

    def _send_silence_frame(self) -> None:
        """Send a frame of an empty playlist: the codec's silence, encoded once per codec."""
        remote = self._lean_destination()
        if remote is not None:
            self._send_lean(self.sender.audio_header() + self._silence, remote)

    def _lean_destination(self) -> tuple[str, int] | None:
        """Where a lean frame goes, or ``None`` when it is not sent (the frame's time passes).

        The gates are those of :meth:`_frame`: a queued ``sendDTMF`` taken
        first, nothing to a peer that has not confirmed, a telephone-event
        packet instead of the audio, the direction, relaying, a codec.
        """
        if self.media.outgoing_dtmf:
            self._take_dtmf()
        if not self.confirmed:  # nothing to an address the peer has not confirmed
            self.counters.rtp_held_back += 1
            self.sender.skip(1)
            return None
        if self._dtmf:
            self._send_dtmf_packet()
            return None
        remote = self.latch.destination()
        if self.direction in _NO_SEND or self.relaying or remote is None or self._encode_table is None:
            self.sender.skip(1)
            return None
        return remote

    def _send_lean(self, packet: bytes, remote: tuple[str, int]) -> None:
        try:
            self._send(packet, remote)
            self.packets_sent += 1
        except (BlockingIOError, InterruptedError):
            pass  # a full socket buffer drops the frame, as the network would
        except OSError as exc:
            self.on_error(f"rtp send to {remote}: {exc}")

    def _prompt_codes(self, samples: np.ndarray) -> bytes | None:
        """The codes of prompt array ``samples`` (shared by every call), kept for its next frames."""
        if samples is not self._codes_of:  # else the prompt of the last frame: no look-up
            assert self._encoded_arrays is not None  # set with the encode table
            self._codes = self._encoded_arrays.codes(samples)
            self._codes_of = samples
        return self._codes

    def _send_audio(self, frame: np.ndarray) -> None:
        """Encode and send one frame: the per-frame path of every call, so kept lean.

        A frame that is a slice of a prompt whose codes are known is sent as
        that slice of the codes behind the header; another plain 160-sample
        int16 frame is encoded straight into the packet buffer (one table
        lookup for the whole frame) with the header packed in place; anything
        else takes the general encoder.
        """
        table = self._encode_table
        remote = self.latch.destination()  # self.remote, without the property's call
        if table is None or remote is None:  # no codec or nowhere to send yet
            self.sender.skip(1)
            return
        packet = self._audio_packet
        source = self.media.playlist.frame_source
        codes = None
        if source is not None and self._encoded_arrays is not None:
            samples, start = source
            base = frame.base
            if (base is samples or (base is not None and base is samples.base)) and (
                frame.size == FRAME_SAMPLES
            ):
                codes = self._prompt_codes(samples)
        out: bytes | bytearray
        if codes is not None:  # a slice of a prompt whose codes are known
            out = self.sender.audio_header() + codes[start : start + FRAME_SAMPLES]
        else:
            try:
                table.take(frame.view(np.uint16), out=self._audio_payload, mode="clip")
            except (ValueError, TypeError):  # not a plain 20 ms int16 frame
                assert self.codec is not None
                payload = _ENCODERS[self.codec.name.upper()](frame).tobytes()
                self._sendto(bytes(self.sender.audio(payload)))
                return
            self.sender.audio_into(packet)
            out = packet
        try:
            self.sock.sendto(out, remote)
            self.packets_sent += 1
        except (BlockingIOError, InterruptedError):
            pass  # a full socket buffer drops the frame, as the network would
        except OSError as exc:
            self.on_error(f"rtp send to {remote}: {exc}")

    def send_relayed(self, data: bytes) -> None:
        """A packet of the other leg, sent on unchanged (only to a confirmed peer, as our own)."""
        remote = self.remote
        if self.closed or remote is None or self.direction in _NO_SEND:
            return
        if not self.confirmed:
            self.counters.rtp_held_back += 1
            return
        try:
            self.sock.sendto(data, remote)
            self.packets_relayed += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.on_error(f"rtp relay to {remote}: {exc}")

    def _take_dtmf(self) -> None:
        pending = self.media.outgoing_dtmf
        if not pending:
            return
        if self.telephone_event is None:
            for event, ms, _packets in pending:
                self.on_error(f"sendDTMF {event} ({ms} ms) dropped: no telephone-event negotiated")
        else:
            for _event, _ms, packets in pending:
                self._dtmf += [(p, i == 0) for i, p in enumerate(packets)]
        pending.clear()

    def _send_dtmf_packet(self) -> None:
        packet, first = self._dtmf.pop(0)
        assert self.telephone_event is not None
        rtp = self.sender.event(
            packet.payload.encode(), self.telephone_event.payload_type, new_event=first
        )
        if self.direction not in _NO_SEND:
            self._sendto(bytes(rtp))

    # -- receiving ------------------------------------------------------------------------
    def _read_one(self) -> None:
        """The clock found the socket readable: read one packet (the per-packet receive path).

        One read per readiness and tick, so never an empty one; a flood
        beyond four packets a frame interval stays in the kernel's buffer.
        A bad packet is dropped and reported, nothing more.
        """
        try:
            data, source = self._recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.on_error(f"rtp receive: {exc}")
            return
        try:
            if len(data) > RTP_HEADER_SIZE and data[0] == PLAIN_FIRST_OCTET:
                second, sequence, timestamp, ssrc = _PLAIN_UNPACK(data)
                if second == self._fast_type and source == self._fast_source and self.forward is None:
                    # The common case, and all of _packet that applies to it: the
                    # latched source (admitted), a plain packet of the codec without
                    # marker, the clock already fetching this call's frames.
                    self.packets_received += 1
                    now = self._last_received = self.clock.now
                    self.reception.rtp(ssrc, sequence, timestamp, now)
                    self._timeout_reported = False
                    self.jitter.put(sequence, (second, data[RTP_HEADER_SIZE:]))
                    return
                payload_type = second & 0x7F
                payload = data[RTP_HEADER_SIZE:]
            else:
                try:
                    packet = RtpPacket.parse(data)
                except ParseError:
                    return
                payload_type, sequence = packet.payload_type, packet.sequence
                timestamp, ssrc, payload = packet.timestamp, packet.ssrc, packet.payload
            self._packet(data, source, payload_type, sequence, timestamp, ssrc, payload)
        except Exception as exc:  # noqa: BLE001 - a bad packet is dropped, nothing more
            self.on_error(f"rtp packet dropped: {type(exc).__name__}: {exc}")

    def _packet(
        self,
        data: bytes,
        source: tuple[str, int],
        payload_type: int,
        sequence: int,
        timestamp: int,
        ssrc: int,
        payload: bytes,
    ) -> None:
        latch = self.latch
        if not latch.admit(source, payload_type):
            self.packets_foreign += 1
            self.counters.rtp_foreign_dropped += 1
            return
        if not self.confirmed and latch.source is not None:
            self.confirmed = True  # the peer's own RTP: it wants the stream
        self.packets_received += 1
        now = self._last_received = self.clock.now  # read at this tick: one clock read per tick
        self.reception.rtp(ssrc, sequence, timestamp, now)
        self._timeout_reported = False
        if self.forward is not None:
            self.forward(data)
        if self.direction in _NO_RECEIVE:
            return
        te = self.telephone_event
        if te is not None and payload_type == te.payload_type:
            keys = self.media.receive_telephone_event(timestamp, payload)
            if keys:
                self.deliver(list(keys))
            return
        if payload_type in _DECODE_TABLES:
            self.jitter.put(sequence, (payload_type, payload))
            if not self._fetching and self._running:  # from now on decoded with the tick's batch
                self._fetching = True
                self.clock.fetch_from(self, self._fetch)
            if (
                self._fetching
                and self.confirmed
                and self.codec is not None
                and payload_type == self.codec.payload_type
                and latch.holds(source)
            ):  # what this packet went through, the next ones of the stream skip (_read_one)
                self._fast_source = source
                self._fast_type = payload_type

    # -- RTCP ---------------------------------------------------------------------------------
    def _schedule_report(self) -> None:
        wait = self.rtcp_interval * (0.5 + self._rng.random())
        self._rtcp_timer = self.loop.call_later(wait, self._send_report)

    def _send_report(self) -> None:
        """Our compound report to the peer's RTCP port (its RTP port + 1), then the next one."""
        self._rtcp_timer = None
        if self.closed or self.rtcp_sock is None:
            return
        remote = self.latch.rtcp_destination()
        if remote is not None and self.confirmed:
            block = self.reception.block(self.loop.time())
            sender = self.sender
            report = compound_report(
                sender.ssrc,
                self.cname,
                unix_time=time.time(),  # the NTP field is wall-clock time by definition
                rtp_timestamp=sender.timestamp,
                packet_count=self.packets_sent,
                octet_count=self.packets_sent * FRAME_SAMPLES,
                blocks=(block,) if block is not None else (),
            )
            try:
                self.rtcp_sock.sendto(report, remote)
                self.rtcp_sent += 1
            except OSError as exc:
                self.on_error(f"rtcp send: {exc}")
        self._schedule_report()

    def _rtcp_readable(self) -> None:
        """What waits on the RTCP socket (at most 16 packets); read at the clock's ticks, never raises."""
        sock = self.rtcp_sock
        if sock is None:
            return
        for _ in range(16):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.on_error(f"rtcp receive: {exc}")
                return
            try:
                if not self.latch.admit_rtcp(addr):
                    self.counters.rtcp_foreign_dropped += 1
                    continue
                self.reception.rtcp(data, self.loop.time())
            except ParseError:
                pass  # not RTCP: dropped
            except Exception as exc:  # noqa: BLE001 - a fault of this call's RTCP must not reach the tick
                self.on_error(f"rtcp receive failed: {type(exc).__name__}: {exc}")
                return

    def _fetch(self, at: float) -> None:
        """Before the tick ``at``: take the packet of this call's frame due then (the clock's fetch).

        A 20 ms payload is queued on the clock's :class:`DecodeBatch` and
        arrives decoded in :attr:`prefetched`; an empty jitter buffer makes
        the frame silent-by-absence without a second pop.  Anything else
        (another packet size, samples carried over from the last frame, no
        frame due at this tick) is left to :meth:`_next_received`.
        """
        clock = self.clock
        origin = clock.origin
        if (
            self._received_samples
            or self.closed
            or origin is None
            or origin + self._slot * clock.step > at + 1e-9
        ):
            return
        packet = self.jitter.pop()
        if packet is None:
            self._fetched = True  # the frame has nothing: no second pop
            return
        payload_type, payload = packet
        table = _DECODE_TABLES[payload_type]
        if len(payload) == FRAME_SAMPLES:
            self._fetched = True
            clock.decode.add((table, payload, self))
        elif payload:  # another packet size: decoded here, the frame is completed as before
            samples = table[np.frombuffer(payload, dtype=np.uint8)]
            self._received.append(samples)
            self._received_samples = samples.size

    def _next_received(self) -> np.ndarray | None:
        """The next 20 ms of caller audio, or ``None`` when nothing arrived.

        A gap stays a gap: a recording holds only the audio received (2 s of
        caller audio make a 2.00 s file, as in the reference), not filler.
        """
        if not self._received_samples:  # the usual case: one 20 ms packet, nothing carried over
            packet = self.jitter.pop()
            if packet is None:
                return None
            payload_type, payload = packet
            samples = _DECODE_TABLES[payload_type][np.frombuffer(payload, dtype=np.uint8)]
            if samples.size == FRAME_SAMPLES:
                return samples
            if samples.size:
                self._received.append(samples)
                self._received_samples = samples.size
        while self._received_samples < FRAME_SAMPLES:
            packet = self.jitter.pop()
            if packet is None:
                break
            payload_type, payload = packet
            samples = _DECODE_TABLES[payload_type][np.frombuffer(payload, dtype=np.uint8)]
            if samples.size:
                self._received.append(samples)
                self._received_samples += samples.size
        if self._received_samples < FRAME_SAMPLES:
            if self._received_samples == 0:
                return None
            frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            filled = 0
            for chunk in self._received:
                frame[filled : filled + chunk.size] = chunk
                filled += chunk.size
            self._received.clear()
            self._received_samples = 0
            return frame
        joined = np.concatenate(self._received) if len(self._received) > 1 else self._received[0]
        frame = joined[:FRAME_SAMPLES]
        rest = joined[FRAME_SAMPLES:]
        self._received = [rest] if rest.size else []
        self._received_samples = int(rest.size)
        return frame if frame.size == FRAME_SAMPLES else _SILENCE
