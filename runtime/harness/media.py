"""The media side of a simulated call: a real playlist driven frame by frame on virtual time.

:class:`MediaSide` owns the call's :class:`~dsm.runtime.media.playlist.Playlist`,
prompt selection, recorder and in-band DTMF detector, and runs a 20 ms tick
on the virtual clock while there is something to do.  Each tick reads one
frame of output (what the caller hears) and feeds one frame of input (what
the caller says, or silence) to the recorder and the detector; events the
media layer reports (NoAudio, PlaylistSeparator, in-band keys) are delivered
to the session at the end of the frame they happened in.

When nothing can happen (empty playlist, no recording, no caller audio) the
tick stops and the clock jumps straight to the next timer; the caller hears
silence meanwhile, and :meth:`MediaSide.heard` fills those gaps with zeros.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dsm.runtime import call as callmod
from dsm.runtime.clock import TimerHandle, VirtualClock
from dsm.runtime.harness.records import Played
from dsm.runtime.media import items as mitems
from dsm.runtime.media.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioFileError, as_samples, load_audio
from dsm.runtime.media.dtmf import dtmf_tone
from dsm.runtime.media.dtmf_detector import DtmfDetector
from dsm.runtime.media.prompts import PromptLibrary, PromptNotFound, PromptSetNotFound
from dsm.runtime.media.recorder import Recorder
from dsm.runtime.media.tones import RingtoneSpec

if TYPE_CHECKING:
    from dsm.runtime.session import Session

__all__ = ["MediaSide", "build_prompts"]

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".au", ".aiff", ".mp3")


def build_prompts(
    explicit: Mapping[str, str | float] | None,
    folder: Path,
    conf_values: Mapping[str, str] | None,
) -> PromptLibrary:
    """The harness's prompt library.

    From the configuration's prompt keys (``load_prompts``, prompt sets) when
    there is a configuration; else from ``explicit`` (name -> file, or name ->
    seconds of a generated 440 Hz tone); else every audio file of the
    ``prompts/`` folder beside the scripts, named by its stem.
    """
    lib = PromptLibrary()
    if conf_values:
        lib.configure(conf_values)
    if explicit:
        for name, source in explicit.items():
            if isinstance(source, int | float):
                n = round(float(source) * SAMPLE_RATE)
                t = np.arange(n) / SAMPLE_RATE
                lib.default.add(name, as_samples(np.round(3000 * np.sin(2 * np.pi * 440 * t))))
            else:
                lib.default.add(name, load_audio(str(source)))
    elif not conf_values and folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in _AUDIO_SUFFIXES and f.is_file():
                lib.default.add(f.stem, load_audio(str(f)))
    return lib


class MediaSide:
    """Playlist, recorder and detector of one simulated call, ticking on a virtual clock."""

    def __init__(self, clock: VirtualClock, prompts: PromptLibrary) -> None:
        from dsm.runtime.media.playlist import Playlist

        self.clock = clock
        self.playlist = Playlist()
        self.prompts = prompts.selection()
        self.recorder: Recorder | None = None
        self.detector: DtmfDetector | None = None
        self.output = False
        self.input = False
        self.connected = False
        self.muted = False
        self.receiving = True
        self.origin = round(clock.now() * SAMPLE_RATE)
        self._session: Session | None = None
        self._note: Callable[[str, str], None] = lambda kind, detail: None
        self._tick: TimerHandle | None = None
        self._heard: list[tuple[int, npt.NDArray[np.int16]]] = []
        self._anchors: list[tuple[int, int]] = []  # (playlist stream position, call sample)
        self._input: list[npt.NDArray[np.int16]] = []
        self._closed = False
        self._ticking = False

    def bind(self, session: Session, note: Callable[[str, str], None]) -> None:
        self._session = session
        self._note = note

    # -- the Call interface's media operations ------------------------------------------
    def play(self, item: callmod.AudioItem, front: bool) -> None:
        media_item = self._convert(item)
        if front:
            self.playlist.insert_front(media_item)
        else:
            self.playlist.append(media_item)
        self._note("play", f"{'front ' if front else ''}{media_item.label}")
        self._wake()

    def _convert(self, item: callmod.AudioItem) -> mitems.PlaylistItem:
        if isinstance(item, callmod.FileItem):
            try:
                return mitems.FileItem(item.path, item.loop)
            except AudioFileError as exc:
                raise callmod.AudioOpenError(item.path, str(exc)) from None
        if isinstance(item, callmod.PromptItem):
            try:
                return self.prompts.item(item.name, item.loop, item.fallback)
            except PromptNotFound:
                raise callmod.UnknownPrompt(item.name) from None
        if isinstance(item, callmod.SilenceItem):
            return mitems.SilenceItem(item.ms)
        if isinstance(item, callmod.RingtoneItem):
            return mitems.RingtoneItem(RingtoneSpec(item.length, item.on, item.off, item.f, item.f2))
        return mitems.SeparatorItem(item.id)

    def flush(self) -> None:
        self.playlist.flush()
        self._note("flush", "playlist flushed")

    def attach(self, input: bool, output: bool, only_if_unset_input: bool = False) -> None:
        if output:
            self.output = True
        if input and not (only_if_unset_input and self.recorder is not None):
            self.input = True
        self._wake()

    def set_prompts(self, name: str) -> None:
        try:
            self.prompts.select(name)
        except PromptSetNotFound:
            raise callmod.UnknownPrompt(name) from None

    def record_start(self, path: str) -> None:
        self.record_stop()
        try:
            self.recorder = Recorder(path)
        except AudioFileError as exc:
            raise callmod.AudioOpenError(path, str(exc)) from None
        self._note("record", f"start {path}")
        self._wake()

    def record_stop(self) -> bool:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return False
        rec.close()
        self._note("record", f"stop {rec.path} ({rec.length_ms} ms)")
        return True

    def record_length(self) -> int | None:
        return None if self.recorder is None else self.recorder.length_ms

    def record_data_size(self) -> int | None:
        return None if self.recorder is None else self.recorder.data_size

    def connect(self) -> None:
        self.connected = True
        if not self.output:
            self.output = True
        self._wake()

    def disconnect(self) -> None:
        self.connected = False
        self._stop_ticking()

    def set_flag(self, flag: str, on: bool) -> None:
        if flag == "mute":
            self.muted = on
        elif flag == "receiving":
            self.receiving = on
        elif flag == "dtmf_detection":
            self.detector = DtmfDetector() if on else None

    def close(self) -> None:
        self.record_stop()
        self._stop_ticking()
        self._closed = True

    # -- caller audio -----------------------------------------------------------------
    def say(self, audio: Any) -> float:
        """Queue caller audio; returns its duration in seconds."""
        if isinstance(audio, str | os.PathLike):
            samples = load_audio(str(audio))
        else:
            samples = as_samples(np.asarray(audio).reshape(-1))
        self._input.append(samples)
        self._wake()
        return samples.size / SAMPLE_RATE

    def say_dtmf(self, key: str, seconds: float, pause: float) -> None:
        """Queue the tones of one key followed by ``pause`` seconds of silence."""
        self._input.append(dtmf_tone(key, round(seconds * 1000)))
        self._input.append(np.zeros(round(pause * SAMPLE_RATE), dtype=np.int16))
        self._wake()

    # -- ticking ------------------------------------------------------------------------
    def _busy(self) -> bool:
        return bool(len(self.playlist) or self.recorder is not None or self._input)

    def _wake(self) -> None:
        if self._tick is None and not self._ticking and self.connected and not self._closed and self._busy():
            now = round(self.clock.now() * SAMPLE_RATE)
            self._anchors.append((self.playlist.position, now - self.origin))
            self._tick = self.clock.call_at(self.clock.now() + FRAME_SECONDS, self._on_tick)

    def _stop_ticking(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _next_input(self) -> npt.NDArray[np.int16] | None:
        """The next 20 ms of caller audio, or ``None`` when the caller is silent."""
        if not self._input:
            return None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._input:
            head = self._input[0]
            take = min(FRAME_SAMPLES - filled, head.size)
            frame[filled : filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._input.pop(0)
            else:
                self._input[0] = head[take:]
        return frame

    def _on_tick(self) -> None:
        self._ticking = True
        try:
            self._frame()
        finally:
            self._ticking = False
        self._tick = None
        if self.connected and not self._closed and self._busy():
            self._tick = self.clock.call_at(self.clock.now() + FRAME_SECONDS, self._on_tick)

    def _frame(self) -> None:
        session = self._session
        end = round(self.clock.now() * SAMPLE_RATE) - self.origin
        events: list[Any] = []
        if self.output:
            frame, events = self.playlist.read_frame(FRAME_SAMPLES)
            if not self.muted:
                self._heard.append((end - FRAME_SAMPLES, frame))
        incoming = self._next_input()
        if incoming is not None and self.receiving:
            if self.recorder is not None:
                self.recorder.write_frame(incoming)
            if self.detector is not None:
                for press in self.detector.process(incoming):
                    events.append(press)
        elif self.recorder is not None:
            self.recorder.write_frame(np.zeros(FRAME_SAMPLES, dtype=np.int16))
        if session is not None:
            for ev in events:
                self._note("media", f"{ev.event_type} {ev.params}")
                session.deliver(ev.event_type, ev.params)

    # -- what the test looks at ---------------------------------------------------------
    def heard(self) -> npt.NDArray[np.int16]:
        """Everything the caller heard from the start of the call until now."""
        total = round(self.clock.now() * SAMPLE_RATE) - self.origin
        out = np.zeros(max(total, 0), dtype=np.int16)
        for start, frame in self._heard:
            stop = min(start + frame.size, out.size)
            if stop > start >= 0:
                out[start:stop] = frame[: stop - start]
        return out

    def _call_time(self, stream_pos: int) -> float:
        base_stream, base_call = 0, 0
        for s, c in self._anchors:
            if s <= stream_pos:
                base_stream, base_call = s, c
            else:
                break
        return (self.origin + base_call + stream_pos - base_stream) / SAMPLE_RATE

    def played(self) -> list[Played]:
        """Items heard, in order, with virtual start/end times (seconds)."""
        out: list[Played] = []
        segments = list(self.playlist.played)
        current = self.playlist.open_segment()
        if current is not None:
            segments.append(current)
        for seg in segments:
            if seg.kind == "separator":
                continue
            item = seg.item
            path = getattr(item, "path", None) or getattr(item, "name", "") or item.label
            end = None if seg.outcome == "playing" else self._call_time(seg.end)
            out.append(
                Played(
                    seg.kind,
                    str(path),
                    self._call_time(seg.start),
                    end,
                    seg.outcome in ("finished", "playing"),
                )
            )
        return out
