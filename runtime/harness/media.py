"""The media side of a simulated call: :class:`~dsm.runtime.media.call_media.CallMedia` on virtual time.

:class:`VirtualMedia` is the call media that the SIP call uses too, plus what
a simulation needs: a 20 ms tick on the virtual clock while there is
something to do, a queue of caller audio (what the caller "says"), and a
record of every frame sent to the caller.  Each tick sends one frame, feeds
one frame of caller audio (or silence) to the recorder and the in-band
detector, and delivers the events the media layer reports (NoAudio,
PlaylistSeparator, in-band keys) to the session at the end of that frame.

When nothing can happen (empty playlist, no recording, no caller audio) the
tick stops and the clock jumps straight to the next timer; the caller hears
silence meanwhile, and :meth:`VirtualMedia.heard` fills those gaps with zeros.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dsm.runtime import call as call_api
from dsm.runtime.clock import TimerHandle, VirtualClock
from dsm.runtime.harness.records import Played
from dsm.runtime.media.audio import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioFileError,
    as_samples,
    load_audio,
)
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.dtmf import dtmf_tone
from dsm.runtime.media.items import PlaylistItem
from dsm.runtime.media.prompts import PromptLibrary

if TYPE_CHECKING:
    from dsm.runtime.session import Session

__all__ = ["VirtualMedia", "build_prompts"]

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".au", ".aiff", ".mp3")
"""File name endings of the audio files a ``prompts/`` folder provides."""
_SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int16)


def build_prompts(
    explicit: Mapping[str, str | float] | None,
    folder: Path,
    conf_values: Mapping[str, str] | None,
    errors: list[str] | None = None,
) -> PromptLibrary:
    """The harness's prompt library.

    From the configuration's prompt keys (``load_prompts``, prompt sets) when
    there is a configuration; then ``explicit`` (name -> file, or name ->
    seconds of a generated 440 Hz tone); without either, every audio file of
    the ``prompts/`` folder beside the scripts, named by its stem.  With
    ``errors`` a folder file that does not load is skipped and described
    there (the server logs it); without, its :class:`AudioFileError` is raised.
    """
    lib = PromptLibrary()
    if conf_values:
        lib.configure(conf_values)
    if explicit:
        for name, source in explicit.items():
            if isinstance(source, int | float):
                t = np.arange(round(float(source) * SAMPLE_RATE)) / SAMPLE_RATE
                lib.default.add(name, as_samples(np.round(3000 * np.sin(2 * np.pi * 440 * t))))
            else:
                lib.default.add(name, load_audio(str(source)), str(source))
    elif not conf_values and folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file():
                try:
                    lib.default.add(f.stem, load_audio(str(f)), str(f))
                except AudioFileError as exc:
                    if errors is None:
                        raise
                    errors.append(f"prompt '{f.stem}': cannot load audio file '{f}': {exc.reason}")
                    lib.default.failed[f.stem] = f"audio file '{f}': {exc.reason}"
    return lib


class VirtualMedia(CallMedia):
    """Call media ticking on a virtual clock, with caller audio in and heard audio out."""

    def __init__(self, clock: VirtualClock, prompts: PromptLibrary) -> None:
        super().__init__(prompts)
        self.clock = clock
        self.origin = round(clock.now() * SAMPLE_RATE)
        self._session: Session | None = None
        self._note: Callable[[str, str], None] = lambda kind, detail: None
        self._tick: TimerHandle | None = None
        self._ticking = False
        self._closed = False
        self._heard: list[tuple[int, npt.NDArray[np.int16]]] = []
        self._caller: list[npt.NDArray[np.int16]] = []

    def bind(self, session: Session, note: Callable[[str, str], None]) -> None:
        self._session = session
        self._note = note

    # -- Call-interface operations that can start the tick ------------------------------
    def play(self, item: call_api.AudioItem | PlaylistItem, front: bool = False) -> None:
        super().play(item, front)
        name = getattr(item, "name", None) or getattr(item, "path", None) or type(item).__name__
        self._note("play", f"{'front ' if front else ''}{name}")
        self._wake()

    def flush_playlist(self) -> None:
        super().flush_playlist()
        self._note("flush", "playlist flushed")

    def record_start(self, path: str) -> None:
        super().record_start(path)
        self._note("record", f"start {path}")
        self._wake()

    def record_stop(self) -> bool:
        rec = self.recorder
        stopped = super().record_stop()
        if rec is not None:
            self._note("record", f"stop {rec.path} ({rec.length_ms} ms)")
        return stopped

    def media_connect(self) -> None:
        super().media_connect()
        self._wake()

    def media_disconnect(self) -> None:
        super().media_disconnect()
        self._stop_ticking()

    def close(self) -> None:
        super().close()
        self._stop_ticking()
        self._closed = True

    # -- caller audio --------------------------------------------------------------------
    def say(self, audio: Any) -> float:
        """Queue caller audio (a file or int16 samples at 8 kHz); returns its duration."""
        if isinstance(audio, str | os.PathLike):
            samples = load_audio(str(audio))
        else:
            samples = as_samples(np.asarray(audio).reshape(-1))
        self._caller.append(samples)
        self._wake()
        return samples.size / SAMPLE_RATE

    def say_dtmf(self, key: str, seconds: float, pause: float) -> None:
        """Queue the tones of one key followed by ``pause`` seconds of silence."""
        self._caller.append(dtmf_tone(key, round(seconds * 1000)))
        self._caller.append(np.zeros(round(pause * SAMPLE_RATE), dtype=np.int16))
        self._wake()

    def _next_caller_frame(self) -> npt.NDArray[np.int16] | None:
        """The next 20 ms of caller audio; silence when the caller says nothing.

        ``None`` (no audio received) when the caller is silent and nothing
        records: a silent frame can change nothing then, and skipping it keeps
        the in-band detector off the hot path of simulated calls.
        """
        if not self._caller:
            return _SILENCE if self.recorder is not None else None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._caller:
            head = self._caller[0]
            take = min(FRAME_SAMPLES - filled, head.size)
            frame[filled : filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._caller.pop(0)
            else:
                self._caller[0] = head[take:]
        return frame

    # -- ticking -----------------------------------------------------------------------
    def _busy(self) -> bool:
        mix_in = self.mix_in
        return bool(
            len(self.playlist)
            or self.recorder is not None
            or self._caller
            or (mix_in is not None and mix_in.source is not None)
        )

    def wake(self) -> None:
        self._wake()

    def _wake(self) -> None:
        if self._tick is None and not self._ticking and self.connected and not self._closed and self._busy():
            self._tick = self.clock.call_at(self.clock.now() + FRAME_SECONDS, self._on_tick)

    def _stop_ticking(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _on_tick(self) -> None:
        self._tick = None
        self._ticking = True
        try:
            self._frame()
        finally:
            self._ticking = False
        if self.connected and not self._closed and self._busy():
            self._tick = self.clock.call_at(self.clock.now() + FRAME_SECONDS, self._on_tick)

    def _frame(self) -> None:
        start = self.clock.now() - FRAME_SECONDS
        result = self.tick(self._next_caller_frame(), now=start)
        if result.sent is not None:
            self._heard.append((round(start * SAMPLE_RATE) - self.origin, result.sent))
        session = self._session
        if session is None:
            return
        for ev in result.events:
            self._note("media", f"{ev.event_type} {ev.params}")
            session.deliver(ev.event_type, ev.params)

    # -- what the test looks at ---------------------------------------------------------
    def heard(self) -> npt.NDArray[np.int16]:
        """Everything sent to the caller from the start of the call until now."""
        total = round(self.clock.now() * SAMPLE_RATE) - self.origin
        out = np.zeros(max(total, 0), dtype=np.int16)
        for start, frame in self._heard:
            stop = min(start + frame.size, out.size)
            if stop > start >= 0:
                out[start:stop] = frame[: stop - start]
        return out

    def played(self) -> list[Played]:
        """Items played, in order, with virtual start/end times in seconds (exact milliseconds).

        The item at the head of a connected playlist counts as playing from
        now even before its first frame is read: right after a call starts,
        its first prompt is listed as started at 0.0.
        """
        segments = list(self.playlist.played)
        current = self.playlist.open_segment()
        if current is not None:
            segments.append(current)
        out: list[Played] = []
        for seg in segments:
            if seg.kind == "separator" or seg.start_time is None:
                continue
            playing = seg.outcome == "playing"
            end = None if playing else seg.end_time
            out.append(_played(seg.item, seg.start_time, end, seg.outcome == "finished"))
        head = self.playlist.current
        if current is None and head is not None and head.kind != "separator" and self.connected:
            if self.output == "playlist":
                out.append(_played(head, self.clock.now(), None, False))
        return out


def _played(item: PlaylistItem, start: float, end: float | None, complete: bool) -> Played:
    """A :class:`Played` record: prompts by name with their file, files by path."""
    if item.kind == "prompt":
        name, path = str(getattr(item, "name", "") or item.label), str(getattr(item, "file", ""))
    else:
        path = str(getattr(item, "path", "") or "")
        name = path or item.label
    return Played(item.kind, name, path, round(start, 3), None if end is None else round(end, 3), complete)
