"""The media half of a call session: playlist, slots, recording and DTMF together.

:class:`CallMedia` implements the media operations of the
:class:`dsm.runtime.call.Call` interface (``play``, ``flush_playlist``,
``attach_playlist``, ``set_prompts``, ``record_*``, ``media_connect``/
``media_disconnect``, ``set_media_flag``, ``send_dtmf``) on the sans-I/O
objects of this package, so that the simulated call and the SIP call share
one implementation and differ only in who calls :meth:`CallMedia.tick` (a
virtual clock or the RTP timer) and where the frames go.

The model (``actions.md`` §0.5, A-core-32 … A-core-50):

* two slots: the *output* (what is sent to the caller; only the playlist
  can be there) and the *input* (what receives the caller's audio: the
  playlist or a recorder);
* media processing runs only while *connected*; when it does not, the
  playlist does not advance and received audio is dropped (A-core-41);
* *muted*: the output is still read (the playlist advances) but nothing is
  sent (A-core-47);
* *receiving* off: received audio is dropped -- no recording, no in-band
  DTMF; RFC 4733 packets are still processed while *force DTMF receiving*
  is on (A-core-42 … 45);
* DTMF *detection* off: no Key events at all (A-core-49/50).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
from mypy_extensions import mypyc_attr

from dsm.runtime import call as call_api
from dsm.runtime.media.audio import FRAME_SAMPLES, AudioFileError, Samples
from dsm.runtime.media.conference import Slot
from dsm.runtime.media.dtmf import KeyPress
from dsm.runtime.media.dtmf_detector import DtmfDetector
from dsm.runtime.media.events import NoAudio
from dsm.runtime.media.items import (
    FileItem,
    PlaylistItem,
    RingtoneItem,
    SampleItem,
    SeparatorItem,
    SilenceItem,
)
from dsm.runtime.media.mixin import MixIn
from dsm.runtime.media.playlist import Playlist, PlaylistEvent
from dsm.runtime.media.prompts import (
    PromptLibrary,
    PromptNotFound,
    PromptSelection,
    PromptSetNotFound,
)
from dsm.runtime.media.recorder import Recorder
from dsm.runtime.media.rfc4733 import (
    TelephoneEvent,
    TelephoneEventPacket,
    TelephoneEventReceiver,
    telephone_event_packets,
)
from dsm.runtime.media.tones import RingtoneSpec

__all__ = ["MEDIA_FLAGS", "CallMedia", "MediaEvent", "MediaTick"]

MEDIA_FLAGS: Final = ("receiving", "force_dtmf_receiving", "rtp_timeout", "mute", "dtmf_detection")
"""The flags :meth:`CallMedia.set_media_flag` knows (see ``Call.set_media_flag``)."""

_FRAME_SHAPE: Final = (FRAME_SAMPLES,)
_INT16: Final = np.dtype(np.int16)
"""numpy's one int16 type object: a frame's ``dtype`` is compared by identity (a ``==`` with
``np.int16`` converts the type first, several times the cost, per frame and call)."""

MediaEvent: TypeAlias = PlaylistEvent | KeyPress
"""What a tick can report: NoAudio, PlaylistSeparator or Key."""


@dataclass(slots=True)
class MediaTick:
    """The result of one 20 ms media step.

    ``sent`` is the frame to send to the caller, or ``None`` when nothing is
    sent (disconnected, no output, muted); ``events`` are the session events
    in the order they happened.
    """

    sent: Samples | None
    events: list[MediaEvent] = field(default_factory=list)
    undetected: Samples | None = None
    """The received frame still to be analysed for in-band DTMF (``tick(detect=False)``)."""

    def __init__(
        self,
        sent: Samples | None,
        events: list[MediaEvent] | None = None,
        undetected: Samples | None = None,
    ) -> None:
        self.sent = sent
        self.events = [] if events is None else events
        self.undetected = undetected


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed by plain Python (compiled: mypyc)
class CallMedia:
    """Playlist, slots, recorder and DTMF of one call, driven frame by frame."""

    def __init__(self, prompts: PromptLibrary | None = None) -> None:
        self.playlist = Playlist()
        self.prompts: PromptSelection = (prompts or PromptLibrary()).selection()
        self.recorder: Recorder | None = None
        self.input: str | None = None
        """``"playlist"``, ``"recorder"`` or ``None``."""
        self.output: str | None = None
        """``"playlist"`` or ``None``."""
        self.connected = False
        self.flags: dict[str, bool] = dict.fromkeys(MEDIA_FLAGS, False)
        self.flags["dtmf_detection"] = True
        self._detector: DtmfDetector | None = None
        self.telephone_events = TelephoneEventReceiver()
        self.outgoing_dtmf: list[tuple[int, int, list[TelephoneEventPacket]]] = []
        """``sendDTMF`` requests not yet taken by the transport: (event, ms, packets)."""
        self.sent_dtmf: list[tuple[int, int]] = []
        """Every ``sendDTMF`` request, in order: (event, duration in ms)."""
        self.mix_in: MixIn | None = None
        """A file mixed into the output (``conference.setupMixIn``), or ``None``."""
        self.taps: dict[str, Slot] = {}
        """Conference slots that also get every received frame (``conference.teejoin``)."""
        self.playout_type = "simple"
        """``conference.setPlayoutType``; recorded only (the jitter buffer is the transport's)."""

    # -- playlist (A-core-21 … A-core-35) ------------------------------------

    def play(self, item: call_api.AudioItem | PlaylistItem, front: bool = False) -> None:
        """Add an item described by the Call interface (or a ready item).

        Raises :class:`dsm.runtime.call.AudioOpenError` for unreadable files
        and :class:`dsm.runtime.call.UnknownPrompt` for unknown prompts.
        """
        entry = item if isinstance(item, PlaylistItem) else self.make_item(item)
        if front:
            self.playlist.insert_front(entry)
        else:
            self.playlist.append(entry)

    def make_item(self, item: call_api.AudioItem) -> PlaylistItem:
        """Turn a Call-interface item description into a playlist item."""
        if isinstance(item, call_api.FileItem):
            try:
                return FileItem(item.path, item.loop)
            except AudioFileError as exc:
                raise call_api.AudioOpenError(item.path, exc.reason) from exc
        if isinstance(item, call_api.PromptItem):
            try:
                return self.prompts.item(item.name, item.loop, item.fallback)
            except PromptNotFound as exc:
                raise call_api.UnknownPrompt(exc.name, exc.detail) from exc
        if isinstance(item, call_api.SilenceItem):
            return SilenceItem(item.ms)
        if isinstance(item, call_api.RingtoneItem):
            return RingtoneItem(RingtoneSpec(item.length, item.on, item.off, item.f, item.f2))
        if isinstance(item, call_api.SeparatorItem):
            return SeparatorItem(item.id)
        raise TypeError(f"not a playlist item: {item!r}")

    def flush_playlist(self) -> None:
        """A-core-30: empty the playlist, no event."""
        self.playlist.flush()

    def attach_playlist(self, input: bool, output: bool) -> None:
        """A-core-32 … 34: the playlist becomes the input and/or the output."""
        if input:
            self.input = "playlist"
        if output:
            self.output = "playlist"

    def set_prompts(self, name: str) -> None:
        """A-core-24: select a prompt set; :class:`~dsm.runtime.call.UnknownPrompt` if unknown."""
        try:
            self.prompts.select(name)
        except PromptSetNotFound as exc:
            raise call_api.UnknownPrompt(exc.name) from exc

    # -- recording (A-core-36 … A-core-39) ---------------------------------------

    def record_start(self, path: str) -> None:
        """Stop a running recording, then record the input into ``path``."""
        self.record_stop()
        try:
            self.recorder = Recorder(path)
        except AudioFileError as exc:
            raise call_api.AudioOpenError(path, exc.reason) from exc
        self.input = "recorder"

    def record_stop(self) -> bool:
        """Close the recording; the playlist is the input again.  ``False`` if none ran."""
        if self.recorder is None:
            return False
        self.recorder.close()
        self.recorder = None
        self.input = "playlist"
        return True

    def record_length(self) -> int | None:
        return None if self.recorder is None else self.recorder.length_ms

    def record_data_size(self) -> int | None:
        return None if self.recorder is None else self.recorder.data_size

    # -- media control and DTMF (A-core-40 … A-core-52) ------------------------

    def media_connect(self) -> None:
        """A-core-40: playlist as output, as input if none is set; connected."""
        self.output = "playlist"
        if self.input is None:
            self.input = "playlist"
        self.connected = True

    def media_disconnect(self) -> None:
        """A-core-41: no media processing; the playlist does not advance."""
        self.connected = False

    @property
    def detector(self) -> DtmfDetector:
        """In-band DTMF detection, made when first asked for (a call that receives no audio never does)."""
        detector = self._detector
        if detector is None:
            detector = self._detector = DtmfDetector()
        return detector

    def set_media_flag(self, flag: str, on: bool) -> None:
        if flag not in self.flags:
            raise ValueError(f"unknown media flag {flag!r}; known: {', '.join(MEDIA_FLAGS)}")
        self.flags[flag] = on
        if flag == "dtmf_detection" and not on and self._detector is not None:
            self._detector.reset()

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        """A-core-51: plan one RFC 4733 event; the transport takes it from :attr:`outgoing_dtmf`."""
        packets = telephone_event_packets(event, duration_ms)
        self.outgoing_dtmf.append((event, duration_ms, packets))
        self.sent_dtmf.append((event, duration_ms))

    def wake(self) -> None:
        """Something new may need frames (a mix-in source, a tee); a virtual clock starts ticking."""

    def clear_audio(self) -> NoAudio:
        """Media teardown by the host: both slots closed; NoAudio ``cleared`` (§0.5)."""
        self.input = None
        self.output = None
        return NoAudio("cleared", self.playlist.position)

    def close(self) -> None:
        """Session end: finish a running recording."""
        self.record_stop()

    # -- driving --------------------------------------------------------------

    def prompt_step(self, now: float | None = None) -> SampleItem | None:
        """A tick with nothing received whose frame is a plain slice of a prompt: taken here.

        When the output is the playlist (not muted, nothing mixed in) and
        its next frame is a plain slice of the current item
        (:meth:`Playlist.advance_plain`), the playlist moves past it and
        the item is returned: the frame sent is ``item.samples[item.position
        - FRAME_SAMPLES : item.position]`` and the tick has no events --
        exactly what :meth:`tick` with nothing received would have done.
        Otherwise ``None``, nothing changed: call :meth:`tick`.  The RTP
        session sends such a frame as a slice of the prompt's codes, with no
        frame, event list or tick result built per frame.
        """
        if not self._sends_playlist_as_read():
            return None
        return self.playlist.advance_plain(FRAME_SAMPLES, now)

    def silence_step(self, now: float | None = None) -> bool:
        """A tick with nothing received whose frame is an empty playlist's silence: taken here.

        Under the same conditions as :meth:`prompt_step`, when the playlist
        is empty it moves on (:meth:`Playlist.advance_silence`) and ``True``
        says the frame to send is silence -- what :meth:`tick` with nothing
        received would have returned, with no event.  Otherwise ``False``,
        nothing changed.  A call waiting in silence (after its prompts, for
        a key) sends its frames without a frame array or a tick result.
        """
        if not self._sends_playlist_as_read():
            return False
        return self.playlist.advance_silence(FRAME_SAMPLES, now)

    def _sends_playlist_as_read(self) -> bool:
        """Connected, the playlist the output, not muted, nothing mixed in: the lean paths' condition."""
        return (
            self.output == "playlist"
            and self.mix_in is None
            and self.connected
            and not self.flags["mute"]
        )

    def tick(
        self, received: npt.ArrayLike | None = None, now: float | None = None, detect: bool = True
    ) -> MediaTick:
        """One 20 ms step: read the output, route the received frame, detect keys.

        ``now`` (the caller's clock at the start of the frame, seconds) is
        passed on to the playlist's log and events.  With ``detect=False``
        the frame that in-band detection would analyse is returned as
        ``undetected`` instead, for the caller to hand to
        :attr:`detector` (directly or through a
        :class:`~dsm.runtime.media.dtmf_detector.DetectionBatch`).
        """
        if not self.connected:
            return MediaTick(None)
        events: list[MediaEvent]
        sent: Samples | None = None
        if self.output == "playlist":
            if self.mix_in is None:
                frame, playlist_events = self.playlist.read_frame(now=now)
            else:
                frame, playlist_events = self.mix_in.read_frame(self.playlist, now=now)
            # A fresh list, ours to extend (no typing.cast: this runs per frame and call).
            events = playlist_events  # type: ignore[assignment]
            if not self.flags["mute"]:
                sent = frame
        else:
            events = []
        if received is not None:
            undetected = self.route_received(received)
            if undetected is not None:
                if not detect:
                    return MediaTick(sent, events, undetected)
                events.extend(self.detector.process(undetected))
        return MediaTick(sent, events)

    def route_received(self, received: npt.ArrayLike) -> Samples | None:
        """The received half of :meth:`tick` (a connected call): the frame to the input and taps.

        Returns the frame in-band DTMF detection is to analyse, or ``None``
        (not receiving, or detection off).  The RTP session calls this
        directly when the output half was :meth:`prompt_step`, so a call
        that plays a prompt and hears its caller builds no tick result.
        """
        if not self.flags["receiving"]:
            return None
        if (
            received.__class__ is np.ndarray
            and received.shape == _FRAME_SHAPE  # type: ignore[union-attr]
            and received.dtype is _INT16  # type: ignore[union-attr]
        ):
            incoming = received  # the RTP session's decoded frame: as it is (per frame and call)
        else:
            incoming = np.asarray(received, dtype=np.int16).reshape(FRAME_SAMPLES)
        if self.input == "recorder" and self.recorder is not None:
            self.recorder.write_frame(incoming)
        elif self.input == "playlist":
            self.playlist.write_frame(incoming)
        if self.taps:
            for slot in self.taps.values():
                slot.write(incoming)
        return incoming if self.flags["dtmf_detection"] else None  # type: ignore[return-value]

    def receive_telephone_event(
        self, timestamp: int, payload: bytes | TelephoneEvent
    ) -> list[KeyPress]:
        """An RFC 4733 packet arrived; the Key events it completes (A-core-44/49)."""
        if not (self.connected and (self.flags["receiving"] or self.flags["force_dtmf_receiving"])):
            return []
        presses = self.telephone_events.receive(timestamp, payload)
        return presses if self.flags["dtmf_detection"] else []
