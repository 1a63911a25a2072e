"""The media half of a call (A-core-21 … A-core-52 on the Call interface)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from dsm.runtime import call as call_api
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.dtmf import KeyPress, dtmf_tone
from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.items import SampleItem
from dsm.runtime.media.prompts import PromptLibrary
from dsm.runtime.media.rfc4733 import TelephoneEvent


def connected() -> CallMedia:
    media = CallMedia()
    media.set_media_flag("receiving", True)
    media.media_connect()
    return media


def tone_frames(key: int, ms: int) -> list[np.ndarray]:
    signal = np.concatenate([dtmf_tone(key, ms, -10), np.zeros(160 * 6, np.int16)])
    signal = np.concatenate([signal, np.zeros((-signal.size) % 160, np.int16)])
    return list(signal.reshape(-1, 160))


def test_A_core_40_connect_makes_playlist_output_and_input_if_unset() -> None:
    media = CallMedia()
    assert media.tick().sent is None  # not connected: nothing at all
    media.media_connect()
    assert (media.input, media.output, media.connected) == ("playlist", "playlist", True)
    assert media.tick().sent is not None


def test_A_core_41_disconnect_stops_the_playlist() -> None:
    media = connected()
    media.play(SampleItem(np.arange(1, 400, dtype=np.int16)))
    media.tick()
    media.media_disconnect()
    assert media.tick() .sent is None and media.playlist.position == 160
    media.media_connect()
    assert media.tick().sent.tolist()[:3] == [161, 162, 163]  # type: ignore[union-attr]


def test_A_core_47_mute_consumes_output_without_sending() -> None:
    media = connected()
    media.play(SampleItem(np.arange(1, 200, dtype=np.int16)))
    media.set_media_flag("mute", True)
    tick = media.tick()
    assert tick.sent is None and media.playlist.position == 160
    media.set_media_flag("mute", False)
    tick = media.tick()
    assert tick.sent is not None and tick.events == [NoAudio("noAudio", 199)]


def test_A_core_32_34_slots() -> None:
    media = CallMedia()
    media.attach_playlist(input=True, output=False)
    assert (media.input, media.output) == ("playlist", None)
    media.attach_playlist(input=False, output=True)
    assert (media.input, media.output) == ("playlist", "playlist")


def test_play_descriptors_of_the_call_interface(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.arange(1, 11, dtype=np.int16), 8000, subtype="PCM_16")
    listing = tmp_path / "p.conf"
    listing.write_text(f"hi={wav}\n")
    library = PromptLibrary()
    library.configure({"load_prompts": str(listing)})
    media = CallMedia(library)
    media.media_connect()
    media.play(call_api.FileItem(str(wav)))
    media.play(call_api.SeparatorItem(4))
    media.play(call_api.PromptItem("hi"))
    media.play(call_api.SilenceItem(10))
    media.play(call_api.RingtoneItem(20, 10, 10, 425, 0))
    tick = media.tick()
    assert tick.sent is not None
    assert tick.sent[:20].tolist() == list(range(1, 11)) * 2
    assert tick.events == [PlaylistSeparatorReached(4, 10)]
    assert [s.kind for s in media.playlist.played] == ["file", "separator", "prompt", "silence"]
    with pytest.raises(call_api.AudioOpenError) as opened:
        media.play(call_api.FileItem(str(tmp_path / "none.wav")))
    assert opened.value.path == str(tmp_path / "none.wav")
    with pytest.raises(call_api.UnknownPrompt) as unknown:
        media.play(call_api.PromptItem("nope"))
    assert unknown.value.name == "nope"
    with pytest.raises(call_api.UnknownPrompt):
        media.set_prompts("noset")


def test_the_dtmf_detector_is_made_when_first_needed() -> None:
    """A call that never receives audio never builds a detector; turning detection off does not either."""
    media = CallMedia()
    media.set_media_flag("dtmf_detection", False)
    assert media._detector is None
    detector = media.detector
    assert media.detector is detector
    media.set_media_flag("dtmf_detection", False)  # resets the one there is
    assert media.detector is detector


def test_A_core_22_front_descriptor() -> None:
    media = connected()
    media.play(SampleItem(np.arange(1, 1000, dtype=np.int16)))
    media.tick()
    media.play(call_api.SilenceItem(20), front=True)
    assert not media.tick().sent.any()  # type: ignore[union-attr]
    assert media.tick().sent.tolist()[0] == 161  # type: ignore[union-attr]


def test_A_core_30_flush_no_event() -> None:
    media = connected()
    media.play(SampleItem(np.arange(1, 1000, dtype=np.int16)))
    media.tick()
    media.flush_playlist()
    assert all(media.tick().events == [] for _ in range(10))


def test_A_core_36_39_recording_takes_the_input(tmp_path: Path) -> None:
    media = connected()
    path = tmp_path / "rec.wav"
    assert media.record_length() is None and media.record_data_size() is None
    media.record_start(str(path))
    assert media.input == "recorder"
    frames = [np.full(160, i, np.int16) for i in range(1, 6)]
    for frame in frames:
        media.tick(frame)
    assert media.record_length() == 100 and media.record_data_size() == 1600
    assert media.record_stop() is True and media.input == "playlist"
    assert media.record_stop() is False
    data, _ = soundfile.read(str(path), dtype="int16")
    assert np.array_equal(data, np.concatenate(frames))


def test_A_core_36_recordFile_stops_a_running_recording_first(tmp_path: Path) -> None:
    media = connected()
    media.record_start(str(tmp_path / "one.wav"))
    media.tick(np.ones(160, np.int16))
    media.record_start(str(tmp_path / "two.wav"))
    media.tick(np.ones(160, np.int16))
    media.tick(np.ones(160, np.int16))
    media.close()
    assert soundfile.info(str(tmp_path / "one.wav")).frames == 160
    assert soundfile.info(str(tmp_path / "two.wav")).frames == 320
    with pytest.raises(call_api.AudioOpenError):
        media.record_start(str(tmp_path / "no" / "dir.wav"))


def test_A_core_42_43_receiving_off_drops_input(tmp_path: Path) -> None:
    media = connected()
    media.record_start(str(tmp_path / "r.wav"))
    media.set_media_flag("receiving", False)
    media.tick(np.ones(160, np.int16))
    assert media.record_length() == 0
    assert [e for f in tone_frames(1, 100) for e in media.tick(f).events] == []


def test_A_core_49_50_inband_key_events_and_detection_switch() -> None:
    media = connected()
    keys = [e for f in tone_frames(8, 100) for e in media.tick(f).events]
    assert keys == [KeyPress(8, 100)]
    media.set_media_flag("dtmf_detection", False)
    assert [e for f in tone_frames(8, 100) for e in media.tick(f).events] == []


def test_A_core_44_45_force_dtmf_receiving_covers_rfc4733_only() -> None:
    media = connected()
    end = TelephoneEvent(5, True, 10, 800)
    assert media.receive_telephone_event(1, end) == [KeyPress(5, 100)]
    media.set_media_flag("receiving", False)
    assert media.receive_telephone_event(2, end) == []
    media.set_media_flag("force_dtmf_receiving", True)
    assert media.receive_telephone_event(3, end.encode()) == [KeyPress(5, 100)]
    media.set_media_flag("dtmf_detection", False)
    assert media.receive_telephone_event(4, end) == []


def test_A_core_51_send_dtmf_plans_rfc4733_packets() -> None:
    media = connected()
    media.send_dtmf(11, 500)
    media.send_dtmf(16, 100)
    assert media.sent_dtmf == [(11, 500), (16, 100)]
    event, duration, packets = media.outgoing_dtmf[0]
    assert (event, duration) == (11, 500) and packets[-1].payload.end


def test_clear_audio_gives_noAudio_cleared() -> None:
    media = connected()
    event = media.clear_audio()
    assert event.params == {"type": "cleared"} and media.output is None
    assert media.tick().sent is None


def test_unknown_flag_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown media flag"):
        CallMedia().set_media_flag("loud", True)


def test_tick_passes_the_callers_clock_to_the_playlist() -> None:
    media = connected()
    media.play(SampleItem(np.arange(1, 81, dtype=np.int16)))
    tick = media.tick(now=2.5)
    assert tick.events == [NoAudio("noAudio", 80, 2.51)]
    assert media.playlist.played[0].start_time == 2.5


def _played(media: CallMedia, frames: int, lean: bool) -> tuple[list[bytes | None], list[object], int]:
    """Frames sent and events of ``frames`` ticks with nothing received; lean: prompt_step first."""
    sent: list[bytes | None] = []
    events: list[object] = []
    for index in range(frames):
        item = media.prompt_step(now=index * 0.02) if lean else None
        if item is not None:
            sent.append(item.samples[item.position - 160 : item.position].tobytes())
            continue
        tick = media.tick(now=index * 0.02)
        sent.append(None if tick.sent is None else np.asarray(tick.sent).tobytes())
        events += tick.events
    return sent, events, media.playlist.position


def _prompted() -> CallMedia:
    media = connected()
    rng = np.random.default_rng(3)
    media.play(SampleItem(rng.integers(-3000, 3000, 160 * 5 + 37).astype(np.int16), name="a"))
    media.play(SampleItem(np.arange(-800, 800, 3, dtype=np.int16), name="b"))
    return media


def test_A_core_21_prompt_step_sends_and_reports_what_tick_does() -> None:
    """The lean per-frame path (a plain slice of the current prompt) equals ``tick``:
    same frames, same events (NoAudio at the end), same playlist position -- across an
    item boundary, a partial last frame and the silence after."""
    expected = _played(_prompted(), 12, lean=False)
    assert _played(_prompted(), 12, lean=True) == expected
    assert any(isinstance(e, NoAudio) for e in expected[1])


def test_A_core_47_prompt_step_leaves_muted_disconnected_and_mixed_calls_to_tick() -> None:
    media = _prompted()
    media.tick()  # the first item is started
    media.set_media_flag("mute", True)
    assert media.prompt_step() is None
    media.set_media_flag("mute", False)
    before = media.playlist.position
    assert media.prompt_step() is not None and media.playlist.position == before + 160
    media.media_disconnect()
    assert media.prompt_step() is None


def _heard_while_playing(
    media: CallMedia, received: list[np.ndarray], lean: bool
) -> tuple[list[bytes | None], list[object], int]:
    """Frames sent and events while ``received`` arrives; lean: prompt_step + route_received."""
    sent: list[bytes | None] = []
    events: list[object] = []
    for index, frame in enumerate(received):
        item = media.prompt_step(now=index * 0.02) if lean else None
        if item is not None:
            sent.append(item.samples[item.position - 160 : item.position].tobytes())
            undetected = media.route_received(frame)
            if undetected is not None:
                events += media.detector.process(undetected)
            continue
        tick = media.tick(frame, now=index * 0.02)
        sent.append(None if tick.sent is None else np.asarray(tick.sent).tobytes())
        events += tick.events
    return sent, events, media.playlist.position


def test_A_core_21_E151_lean_path_with_audio_received_equals_tick(tmp_path: Path) -> None:
    """A call playing a prompt while its caller talks: the output half taken by
    ``prompt_step`` and the received half by ``route_received`` send, record and detect
    exactly what ``tick`` does -- the prompt's frames, NoAudio at its end, the caller's
    audio in the recording, the key pressed during the prompt."""
    rng = np.random.default_rng(5)
    received = tone_frames(5, 120) + list(rng.integers(-2000, 2000, (4, 160)).astype(np.int16))
    outcomes = []
    for lean in (False, True):
        media = _prompted()
        media.record_start(str(tmp_path / f"{lean}.wav"))
        outcome = _heard_while_playing(media, received, lean)
        media.record_stop()
        outcomes.append((outcome, (tmp_path / f"{lean}.wav").read_bytes()))
    assert outcomes[1] == outcomes[0]
    (_sent, events, _position), recording = outcomes[0]
    assert [e for e in events if isinstance(e, KeyPress)] and any(isinstance(e, NoAudio) for e in events)
    assert len(recording) > 44 + 2 * 160 * len(received) - 1


def test_E151_route_received_hands_nothing_to_detect_when_detection_or_receiving_is_off() -> None:
    media = connected()
    frame = np.zeros(160, np.int16)
    assert media.route_received(frame) is frame
    media.set_media_flag("dtmf_detection", False)
    assert media.route_received(frame) is None
    media.set_media_flag("dtmf_detection", True)
    media.set_media_flag("receiving", False)
    assert media.route_received(frame) is None
