"""The SBC's RTP relay (``enable_rtp_relay=yes``): packets in on one leg's port, out of the other's.

Unlike a B2B call's :class:`~dsm.runtime.sip.b2b.MediaRelay`, nothing here
decodes audio: the SBC only moves packets.  Each leg has a port pair of its
own (RTP on an even port, RTCP on the next); the SDP each side sees names
the port of its own side (:func:`rewrite_sdp`), so both peers send to us.

* Who may send to a side is :class:`~dsm.runtime.sip.rtp_latch.RtpLatch`'s
  decision, as for every call of the server (strict latching by default,
  symmetric RTP with ``force_symmetric_rtp`` or the server's
  ``rtp_symmetric``): a packet from a stranger is dropped and counted.
* Packets are read on the media clock (:class:`~dsm.runtime.sip.media_clock.MediaClock`):
  the relay joins it as one paced session (which keeps the clock ticking)
  and its sockets are watched by the clock's one poll per tick: one packet
  per readable socket per tick (four ticks a frame: up to 200 packets/s per
  socket; a flood beyond that stays with the kernel) -- no loop callback per
  packet.  RTCP (rare) is relayed the same way.
* No reflection: the caller's side sends nothing until the caller confirmed
  the stream -- its ACK (:attr:`RelaySide.confirmed`, set by the relay) or
  its own first admitted packet -- so an INVITE naming a third party's
  address makes the SBC send nothing there.  Held-back packets are counted.
* Every admitted packet, RFC 4733 telephone-events included, goes on
  unchanged (sequence numbers, SSRC and timestamps are the sender's, the
  reference's ``rtprelay_transparent_seqno``/``_ssrc`` defaults) -- except
  a side's RFC 4733 packets with ``rtprelay_dtmf_filtering``
  (:attr:`RelaySide.filter_dtmf`: its keys are still reported), and the
  audio towards a side whose leg plays its own playlist
  (:attr:`RelaySide.local`, :mod:`.leg_media`): that side's peer hears the
  playlist, one frame per clock period, until it is empty.

Sans-I/O parts (:func:`rewrite_sdp`, :func:`sdp_media_address`) are plain
functions; :class:`RtpRelay` is the thin socket shell.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from dsm.runtime.media.rfc4733 import TelephoneEventReceiver
from dsm.runtime.sbc.leg_media import LegMedia, pick_audio_type
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.media_clock import MediaClock
from dsm.runtime.sip.rtp import RtpPacket
from dsm.runtime.sip.rtp_latch import RtpLatch

__all__ = ["RtpRelay", "RelaySide", "rewrite_sdp", "sdp_media_address"]


_TELEPHONE_EVENT = re.compile(rb"^a=rtpmap:(\d+) telephone-event/", re.MULTILINE | re.IGNORECASE)
_C_LINE = re.compile(rb"^c=IN IP[46] (\S+)", re.MULTILINE)
_M_AUDIO = re.compile(rb"^m=audio (\d+)(/\d+)? (\S+)((?: \S+)*)", re.MULTILINE)


def sdp_media_address(body: bytes) -> tuple[tuple[str, int], tuple[int, ...]] | None:
    """The first audio stream's address ``(host, port)`` and payload types, or ``None``.

    The ``c=`` line of the media section wins over the session's; a port 0
    (stream refused) gives ``None``.
    """
    m = _M_AUDIO.search(body)
    if m is None:
        return None
    port = int(m.group(1))
    if port == 0:
        return None
    first_m = re.search(rb"^m=", body, re.MULTILINE)
    session_c = _C_LINE.search(body, 0, first_m.start() if first_m else len(body))
    next_m = re.search(rb"^m=", body[m.end() :], re.MULTILINE)
    section_end = m.end() + next_m.start() if next_m else len(body)
    media_c = _C_LINE.search(body, m.end(), section_end)
    c = media_c or session_c
    if c is None:
        return None
    host = c.group(1).decode("ascii", "replace")
    types: list[int] = []
    for token in m.group(4).split():
        with contextlib.suppress(ValueError):
            types.append(int(token))
    return (host, port), tuple(types)


def rewrite_sdp(body: bytes, host: str, port: int) -> bytes:
    """``body`` with every ``c=`` address ``host`` and the first audio stream on ``port``.

    Other media streams (video …) are refused (port 0): the relay carries
    one audio stream.  The ``o=`` line is left as the sender wrote it.
    """
    family = b"IP6" if ":" in host else b"IP4"
    out = _C_LINE.sub(b"c=IN " + family + b" " + host.encode("ascii"), body)
    seen = False

    def media(match: re.Match[bytes]) -> bytes:
        nonlocal seen
        new_port = port if not seen else 0
        seen = True
        return b"m=audio %d%s %s%s" % (new_port, match.group(2) or b"", match.group(3), match.group(4))

    out = _M_AUDIO.sub(media, out)
    out = re.sub(rb"^m=(?!audio)(\S+) \d+", rb"m=\1 0", out, flags=re.MULTILINE)
    return out


@dataclass
class RelaySide:
    """One leg's side of the relay: its sockets, its latch, its counters."""

    rtp: socket.socket
    rtcp: socket.socket
    latch: RtpLatch
    received: int = 0
    sent: int = 0
    foreign: int = 0
    held_back: int = 0
    rtcp_relayed: int = 0
    confirmed: bool = True
    """Whether this side's peer asked for our stream (its ACK or its own RTP arrived): no reflection."""
    dtmf_pt: int | None = None
    """The peer's telephone-event payload type (its SDP's ``a=rtpmap``)."""
    dtmf: TelephoneEventReceiver | None = None
    """Set while the peer's RFC 4733 keys are reported (``sbc.enableRelayDTMFReceiving``)."""
    filter_dtmf: bool = False
    """``rtprelay_dtmf_filtering``: the peer's RFC 4733 packets are not relayed."""
    audio_pt: int | None = None
    """The peer's preferred G.711 payload type (what the leg's own audio is sent in)."""
    local: LegMedia | None = None
    """The leg's own media (playlist, in-band DTMF) while it has a media session."""
    filtered: int = 0
    replaced: int = 0
    """Packets towards this side's peer dropped while its leg's playlist played."""
    played: int = 0
    """Frames of the leg's own playlist sent to this side's peer."""
    port: int = field(init=False)

    def __post_init__(self) -> None:
        self.port = int(self.rtp.getsockname()[1])


class RtpRelay:
    """Both legs' RTP through the server's ports, relayed on the media clock."""

    def __init__(
        self,
        clock: MediaClock,
        a_pair: tuple[socket.socket, socket.socket],
        b_pair: tuple[socket.socket, socket.socket],
        *,
        strict: bool = True,
        symmetric_a: bool = False,
        symmetric_b: bool = False,
        on_error: Callable[[str], None] | None = None,
        on_packet: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.a = RelaySide(*a_pair, RtpLatch(strict=strict, symmetric=symmetric_a))
        self.b = RelaySide(*b_pair, RtpLatch(strict=strict, symmetric=symmetric_b))
        self.on_error = on_error or (lambda message: None)
        self.on_packet = on_packet
        self.on_dtmf: Callable[[RelaySide, int, int], None] | None = None
        """Keys (code, milliseconds) a side's peer sent while its :attr:`RelaySide.dtmf` is set."""
        """Called on packets received (for the leg's RTP-timeout bookkeeping), if set."""
        self.closed = False
        self.running = False
        self.receiving = (True, True)
        """``sbc.streamsSetReceiving``: whether packets from the A / B side are relayed."""
        for side in (self.a, self.b):
            side.rtp.setblocking(False)
            side.rtcp.setblocking(False)

    # -- offer/answer -------------------------------------------------------------------------
    def peer_sdp(self, side: RelaySide, body: bytes) -> None:
        """``side``'s peer described its media in ``body``: where it is, which payload types."""
        found = sdp_media_address(body)
        if found is not None:
            address, types = found
            side.latch.reset(address, types)
            side.audio_pt = pick_audio_type(types)
        te = _TELEPHONE_EVENT.search(body)
        side.dtmf_pt = int(te.group(1)) if te is not None else None

    # -- running ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.running or self.closed:
            return
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            self.clock.watch(src.rtp.fileno(), partial(self._relay_rtp, src, dst))
            self.clock.watch(src.rtcp.fileno(), partial(self._relay_rtcp, src, dst))
        self.clock.join(self)
        self.running = True

    def pace(self, at: float) -> None:
        """The clock's tick: the clock's one poll per tick already read what arrived on either
        side (one packet per readable socket) and relayed it; here a leg in media processing
        sends its playlist's frame to its peer (never raises)."""
        for side in (self.a, self.b):
            local = side.local
            if local is not None and (local.processing or local.dtmf_pending) and not self.closed:
                self._play(side, local, at)  # its events may end the call (and close us)

    def _play(self, side: RelaySide, local: LegMedia, at: float) -> None:
        """One frame of the leg's own stream to ``side``'s peer -- a ``sendDTMF`` packet, else its
        playlist's frame -- not before the peer is known and confirmed it wants the stream
        (the playlist waits meanwhile, nothing is lost)."""
        target = side.latch.destination()
        if target is None or not side.confirmed:
            return

        def send(packet: bytes) -> None:
            try:
                side.rtp.sendto(packet, target)
                side.played += 1
            except (BlockingIOError, InterruptedError):
                pass  # a full buffer drops the frame, as the network would
            except OSError as exc:
                self.on_error(f"leg playlist to {target}: {exc}")

        try:
            if not local.next_dtmf(side.dtmf_pt, send):
                local.next_packet(at, side.audio_pt, send)
        except Exception as exc:  # noqa: BLE001 - a faulty item must not stop the clock's other calls
            local.flush()
            self.on_error(f"leg playlist: {type(exc).__name__}: {exc}")

    def _relay_rtp(self, src: RelaySide, dst: RelaySide) -> None:
        """One packet that arrived on ``src`` goes out of ``dst`` (never raises)."""
        try:
            data, addr = src.rtp.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.on_error(f"rtp relay receive: {exc}")
            return
        if len(data) < 12 or data[0] >> 6 != 2:
            return  # not RTP
        latch = src.latch
        if not latch.admit(addr, data[1] & 0x7F):
            src.foreign += 1
            return
        src.received += 1
        src.confirmed = True  # the peer's own RTP: it wants the stream
        pt = data[1] & 0x7F
        if pt == src.dtmf_pt:
            if src.dtmf is not None:
                self._keys(src, data)
                if self.closed:  # the key ended the call
                    return
            if src.filter_dtmf:
                src.filtered += 1
                return
        if not self.receiving[0 if src is self.a else 1]:
            return
        if self.on_packet is not None:
            self.on_packet()
        local = src.local
        if local is not None and local.processing:
            self._heard(local, pt, data)
        if dst.local is not None and dst.local.replacing and dst.audio_pt is not None:
            dst.replaced += 1
            return
        target = dst.latch.destination()
        if target is None:
            return
        if not dst.confirmed:
            dst.held_back += 1
            return
        try:
            dst.rtp.sendto(data, target)
            dst.sent += 1
        except (BlockingIOError, InterruptedError):
            pass  # a full buffer drops the packet, as the network would
        except OSError as exc:
            self.on_error(f"rtp relay to {target}: {exc}")

    def _keys(self, side: RelaySide, data: bytes) -> None:
        """An RFC 4733 packet of ``side``'s peer: the keys it completes go to :attr:`on_dtmf`."""
        receiver = side.dtmf
        try:
            packet = RtpPacket.parse(data)
            assert receiver is not None
            presses = receiver.receive(packet.timestamp, packet.payload)
        except (ParseError, ValueError):
            return
        if self.on_dtmf is not None:
            for press in presses:
                self.on_dtmf(side, press.key, press.duration_ms)

    def _heard(self, local: LegMedia, pt: int, data: bytes) -> None:
        """The peer's audio to the leg's in-band detector (never raises)."""
        try:
            local.heard(pt, RtpPacket.parse(data).payload, self.clock.dtmf)
        except (ParseError, ValueError):
            return
        except Exception as exc:  # noqa: BLE001 - a hook's fault stays with this call
            self.on_error(f"leg media: {type(exc).__name__}: {exc}")

    def _relay_rtcp(self, src: RelaySide, dst: RelaySide) -> None:
        try:
            data, addr = src.rtcp.recvfrom(2048)
        except OSError:  # nothing there (BlockingIOError) or an ICMP error: nothing to relay
            return
        if not src.latch.admit_rtcp(addr):
            return
        target = dst.latch.rtcp_destination()
        if target is None or not dst.confirmed:
            return
        with contextlib.suppress(OSError):
            dst.rtcp.sendto(data, target)
            src.rtcp_relayed += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.running:
            self.clock.leave(self)
            self.running = False
        for side in (self.a, self.b):
            for sock in (side.rtp, side.rtcp):
                with contextlib.suppress(Exception):
                    self.clock.unwatch(sock.fileno())
                sock.close()
