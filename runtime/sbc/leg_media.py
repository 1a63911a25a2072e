"""A relayed leg's own media: its playlist and its in-band DTMF detector (M-ccdsm-3, M-sbc-10 … 12).

An SBC leg's DSM session may play to the leg's remote party as an IVR
plays to its caller (``playFile``, ``playSilence``, ``playRingtone``,
``addSeparator``, ``flushPlaylist``; ``setInputPlaylist``/``connectMedia``
make the playlist the audio *source* of the leg's stream) and may hear its
keys in the audio.  The rules, the reference's as far as a packet relay can
follow them:

* the playlist exists from its first use (with or without RTP relay);
* it is heard only while the leg is in *media processing*
  (``sbc.addToMediaProcessor``/``connectMedia``) **and** the playlist is the
  leg's source (``setInputPlaylist``/``connectMedia``) **and** it has items:
  then every 20 ms one frame of it goes to the leg's remote party, in the
  remote's G.711 codec with a stream of its own (SSRC, sequence), and the
  audio relayed from the other leg towards that party is dropped; once the
  playlist is empty (NoAudio) relaying to that party resumes by itself;
* in media processing the audio the remote party sends is decoded and
  searched for in-band DTMF (``dtmf_detection`` on, ``receiving`` on); keys
  raise the leg's Key event;
* ``removeFromMediaProcessor``/``disconnectMedia`` (the latter only after
  ``connectMedia``) end both, the playlist stays as it is;
* ``sendDTMF`` sends RFC 4733 events to the leg's remote party in the
  leg's own stream, one packet per frame interval (with or without media
  processing);
* without a media session (no RTP relay) ``setInputPlaylist``,
  ``connectMedia``, ``sbc.addToMediaProcessor`` and ``sendDTMF`` log an
  error and do nothing else, as the reference does when the leg has no
  media session.

:class:`LegMedia` is sans-I/O: the relay hands it what the remote party
sent (:meth:`LegMedia.heard`) and asks it for the packet of each frame
(:meth:`LegMedia.next_packet`); it never touches a socket or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from dsm.runtime import call as call_api
from dsm.runtime.media.audio import FRAME_SAMPLES
from dsm.runtime.media.call_media import CallMedia, MediaEvent
from dsm.runtime.media.dtmf import KeyPress
from dsm.runtime.media.dtmf_detector import DetectionBatch
from dsm.runtime.media.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW_DECODE, ULAW_ENCODE
from dsm.runtime.media.rfc4733 import TelephoneEventPacket
from dsm.runtime.sip.rtp import RtpSender

__all__ = ["LegMedia", "G711_TYPES", "pick_audio_type"]

G711_TYPES = (0, 8)
"""The static payload types the leg's own audio is sent in: PCMU, PCMA."""

_ENCODE = {0: ULAW_ENCODE, 8: ALAW_ENCODE}
_DECODE = {0: ULAW_DECODE, 8: ALAW_DECODE}
_MAX_PENDING = FRAME_SAMPLES * 50
"""Received samples kept for detection at most (one second): a flood is cut, not queued."""


def pick_audio_type(types: tuple[int, ...]) -> int | None:
    """The first G.711 payload type of a peer's SDP list (its preference), or ``None``."""
    for pt in types:
        if pt in G711_TYPES:
            return pt
    return None


class LegMedia:
    """One leg's playlist, flags and detector; see the module docstring."""

    def __init__(
        self,
        *,
        log: Callable[[str], None] | None = None,
        on_events: Callable[[list[MediaEvent]], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.media = CallMedia()
        self.media.flags["receiving"] = True  # as a call's after SessionStart
        self.log = log or (lambda message: None)
        self.on_events = on_events or (lambda events: None)
        self.has_stream = False
        """Whether the leg has a media session (set by the relay while its RTP relay runs)."""
        self.processing = False
        """In media processing (``sbc.addToMediaProcessor``, ``connectMedia``)."""
        self.source = False
        """The playlist is the audio source of the leg's stream (``setInputPlaylist``, ``connectMedia``)."""
        self.by_connect = False
        """Processing started by ``connectMedia`` (what ``disconnectMedia`` may undo)."""
        draw = rng or random.Random()
        self.sender = RtpSender(draw.getrandbits(32), 0, sequence=draw.getrandbits(16), timestamp=draw.getrandbits(32))
        self.frames_sent = 0
        self.keys: list[KeyPress] = []
        """In-band keys detected so far (for operators and tests)."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._dtmf: list[tuple[TelephoneEventPacket, bool]] = []
        """``sendDTMF`` packets still to send, each with "first of its event"."""

    # -- what the session does ---------------------------------------------------------------
    def play(self, item: call_api.AudioItem, front: bool) -> None:
        """Files, silence, ring tones, separators (raises :class:`~dsm.runtime.call.AudioOpenError`)."""
        self.media.play(item, front)

    def flush(self) -> None:
        self.media.flush_playlist()

    def attach_input(self) -> bool:
        """``setInputPlaylist``: the playlist becomes the stream's source; ``False`` without a stream."""
        if not self.has_stream:
            self.log("could not setInputPlaylist - no media session (enable_rtp_relay)")
            return False
        self.source = True
        return True

    def connect(self) -> bool:
        """``connectMedia``: source and media processing; ``False`` without a stream."""
        if not self.has_stream:
            self.log("could not connectMedia - no media session (enable_rtp_relay)")
            return False
        self.source = True
        self.processing = True
        self.by_connect = True
        return True

    def disconnect(self) -> None:
        """``disconnectMedia``: only after ``connectMedia``; relaying takes over again."""
        if not self.by_connect:
            return
        self.by_connect = False
        self.processing = False

    def add_to_processor(self) -> bool:
        """``sbc.addToMediaProcessor``; ``False`` without a stream (a logged no-op)."""
        if not self.has_stream:
            self.log("sbc.addToMediaProcessor: no media session (enable_rtp_relay)")
            return False
        self.processing = True
        return True

    def remove_from_processor(self) -> None:
        self.processing = False
        self.by_connect = False

    def send_dtmf(self, event: int, duration_ms: int) -> bool:
        """``sendDTMF``: one RFC 4733 event to the remote party; ``False`` without a stream."""
        if not self.has_stream:
            self.log(f"sendDTMF {event}: no media session (enable_rtp_relay)")
            return False
        self.media.send_dtmf(event, duration_ms)
        return True

    @property
    def dtmf_pending(self) -> bool:
        """Whether ``sendDTMF`` packets wait to be sent."""
        return bool(self._dtmf or self.media.outgoing_dtmf)

    def next_dtmf(self, payload_type: int | None, send: Callable[[bytes], None]) -> bool:
        """This frame's telephone-event packet to ``send``, if one is due; ``False`` if none.

        One packet per frame interval, in the leg's own stream (SSRC, sequence);
        without a telephone-event type in the remote's SDP the event is dropped
        with a logged error.
        """
        pending = self.media.outgoing_dtmf
        if pending:
            for event, ms, packets in pending:
                if payload_type is None:
                    self.log(f"sendDTMF {event} ({ms} ms) dropped: no telephone-event negotiated")
                else:
                    self._dtmf += [(p, i == 0) for i, p in enumerate(packets)]
            pending.clear()
        if not self._dtmf or payload_type is None:
            return False
        planned, first = self._dtmf.pop(0)
        send(bytes(self.sender.event(planned.payload.encode(), payload_type, new_event=first)))
        return True

    def set_flag(self, flag: str, on: bool) -> None:
        """``receiving``, ``force_dtmf_receiving``, ``rtp_timeout``, ``dtmf_detection``."""
        self.media.set_media_flag(flag, on)
        if flag in ("receiving", "dtmf_detection") and not on:
            self._pending = self._pending[:0]

    # -- what the relay does -----------------------------------------------------------------
    @property
    def replacing(self) -> bool:
        """Whether the leg's remote party hears the playlist now (relayed audio to it is dropped)."""
        return self.processing and self.source and len(self.media.playlist) > 0

    def next_packet(self, now: float, payload_type: int | None, send: Callable[[bytes], None]) -> bool:
        """This frame's RTP packet for the remote party to ``send``; ``False`` if there is none
        (relayed audio goes on).

        ``payload_type`` is the remote's G.711 type (:func:`pick_audio_type`);
        without one the playlist cannot be sent and stays where it is.  The
        playlist's events (NoAudio, PlaylistSeparator) are reported after the
        packet was sent: a script that ends the call on NoAudio must not cut
        the last frame off.
        """
        if not self.replacing or payload_type not in _ENCODE:
            return False
        frame, events = self.media.playlist.read_frame(now=now)
        codes = _ENCODE[payload_type][frame.view(np.uint16)]
        sender = self.sender
        sender.payload_type = payload_type
        send(bytes(sender.audio(codes.tobytes())))
        self.frames_sent += 1
        if events:
            self.on_events(list(events))
        return True

    def heard(self, payload_type: int, payload: bytes, batch: DetectionBatch | None = None) -> None:
        """Audio the remote party sent: searched for in-band keys while in media processing.

        With ``batch`` (the media clock's :class:`DetectionBatch`) the frames
        are analysed with the other calls' of the tick -- far cheaper than one
        by one -- and the keys reported when the clock runs it.
        """
        flags = self.media.flags
        if not (self.processing and flags["receiving"] and flags["dtmf_detection"]):
            return
        table = _DECODE.get(payload_type)
        if table is None or not payload:
            return
        samples = table[np.frombuffer(payload, dtype=np.uint8)]
        pending = np.concatenate([self._pending, samples])[-_MAX_PENDING:] if self._pending.size else samples
        whole = pending.size - pending.size % FRAME_SAMPLES
        detector = self.media.detector
        presses: list[KeyPress] = []
        for start in range(0, whole, FRAME_SAMPLES):
            frame = pending[start : start + FRAME_SAMPLES]
            if batch is not None:
                batch.add(detector, frame, self._keys)
            else:
                presses.extend(detector.process(frame))
        self._pending = pending[whole:]
        if presses:
            self._keys(presses)

    def _keys(self, presses: list[KeyPress]) -> None:
        self.keys.extend(presses)
        self.on_events(list(presses))
