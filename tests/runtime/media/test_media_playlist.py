"""The playlist (``actions.md`` §0.5, A-core-21 … A-core-35; C-core-5, C-core-6).

Items are built from numbered samples so the output shows exactly which
sample of which item was heard when.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsm.runtime.media.audio import AudioFileError, write_wav
from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.items import (
    FileItem,
    PlaylistItem,
    PromptItem,
    RingtoneItem,
    SampleItem,
    SeparatorItem,
    SilenceItem,
)
from dsm.runtime.media.playlist import Playlist
from dsm.runtime.media.tones import RingtoneSpec


def numbered(first: int, count: int, name: str = "") -> SampleItem:
    """An item whose samples are first, first+1, … (never 0, so silence is visible)."""
    return SampleItem(np.arange(first, first + count, dtype=np.int16), name=name)


def run(playlist: Playlist, frames: int) -> tuple[np.ndarray, list]:  # type: ignore[type-arg]
    out, events = [], []
    for _ in range(frames):
        frame, evs = playlist.read_frame()
        assert frame.shape == (160,) and frame.dtype == np.int16
        out.append(frame)
        events += evs
    return np.concatenate(out), events


def test_items_play_in_order_without_gaps() -> None:
    """A-core-25/27: appended items follow each other sample-exactly."""
    playlist = Playlist()
    playlist.append(numbered(1, 100))
    playlist.append(SilenceItem(10))
    playlist.append(numbered(1000, 100))
    out, events = run(playlist, 3)
    assert out[:100].tolist() == list(range(1, 101))
    assert out[100:180].tolist() == [0] * 80
    assert out[180:280].tolist() == list(range(1000, 1100))
    assert events == [NoAudio("noAudio", 280)]


def test_C_core_5_noAudio_once_when_the_last_item_ends_then_silence() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 200))
    out, events = run(playlist, 10)
    assert events == [NoAudio("noAudio", 200)]
    assert events[0].params == {"type": "noAudio"} and events[0].event_type == "NoAudio"
    assert not out[200:].any()


def test_empty_playlist_from_the_start_raises_nothing() -> None:
    """§0.5: NoAudio comes when the current item ends, not for a never-filled playlist."""
    _, events = run(Playlist(), 5)
    assert events == []


def test_noAudio_again_after_a_new_item_ends() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 10))
    _, first = run(playlist, 1)
    playlist.append(numbered(1, 10))
    _, second = run(playlist, 2)
    assert first == [NoAudio("noAudio", 10)] and second == [NoAudio("noAudio", 170)]


def test_A_core_30_flush_removes_everything_and_raises_no_event() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 1000))
    playlist.append(numbered(5000, 1000))
    run(playlist, 1)
    playlist.flush()
    out, events = run(playlist, 20)
    assert events == [] and not out.any() and len(playlist) == 0
    assert playlist.played[-1].outcome == "flushed"


def test_A_core_22_26_front_insertion_plays_at_once_and_the_interrupted_item_resumes() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 1000, "a"))
    playlist.append(numbered(3000, 50, "c"))
    first, _ = run(playlist, 2)  # samples 1..320 of a
    playlist.insert_front(numbered(2000, 100, "b"))
    rest, events = run(playlist, 8)
    assert first.tolist() == list(range(1, 321))
    assert rest[:100].tolist() == list(range(2000, 2100))  # b at once
    assert rest[100:780].tolist() == list(range(321, 1001))  # a resumes where it stopped
    assert rest[780:830].tolist() == list(range(3000, 3050))  # then c
    assert events == [NoAudio("noAudio", 320 + 830)]
    assert [(s.label, s.start, s.end, s.item_start, s.item_end, s.outcome) for s in playlist.played] == [
        ("a", 0, 320, 0, 320, "interrupted"),
        ("b", 320, 420, 0, 100, "finished"),
        ("a", 420, 1100, 320, 1000, "finished"),
        ("c", 1100, 1150, 0, 50, "finished"),
    ]


def test_front_insertions_stack() -> None:
    """Each front insertion pushes the playing item back: last inserted plays first."""
    playlist = Playlist()
    playlist.append(numbered(1, 160, "a"))
    playlist.insert_front(numbered(100, 10, "b"))
    playlist.insert_front(numbered(200, 10, "c"))
    out, _ = run(playlist, 2)
    assert out[:20].tolist() == list(range(200, 210)) + list(range(100, 110))
    assert out[20:180].tolist() == list(range(1, 161))


def test_front_insertion_into_an_empty_playlist() -> None:
    playlist = Playlist()
    playlist.insert_front(numbered(1, 10))
    out, events = run(playlist, 1)
    assert out[:10].tolist() == list(range(1, 11)) and events == [NoAudio("noAudio", 10)]


def test_A_core_25_looped_item_repeats_and_never_lets_the_playlist_run_empty() -> None:
    playlist = Playlist()
    playlist.append(SampleItem(np.array([1, 2, 3], np.int16), loop=True))
    playlist.append(numbered(100, 10))
    out, events = run(playlist, 50)
    assert out.tolist() == [1, 2, 3] * (8000 // 3) + [1, 2]
    assert events == []


def test_A_core_23_looped_prompt_until_flush() -> None:
    playlist = Playlist()
    playlist.append(PromptItem("moh", np.array([5, 6], np.int16), loop=True))
    _, events = run(playlist, 100)
    playlist.flush()
    out, after = run(playlist, 5)
    assert events == [] and after == [] and not out.any()


def test_looped_item_interrupted_resumes_its_phase() -> None:
    playlist = Playlist()
    playlist.append(SampleItem(np.arange(1, 101, dtype=np.int16), loop=True))
    run(playlist, 1)  # 160 samples: position 60 in the second pass
    playlist.insert_front(numbered(500, 5))
    out, _ = run(playlist, 1)
    assert out[:5].tolist() == list(range(500, 505))
    assert out[5:10].tolist() == [61, 62, 63, 64, 65]


def test_A_core_35_separator_between_items_fires_when_reached() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 100))
    playlist.append(SeparatorItem(7))
    playlist.append(numbered(1000, 300))
    out, events = run(playlist, 3)
    assert events == [PlaylistSeparatorReached(7, 100), NoAudio("noAudio", 400)]
    assert events[0].params == {"id": "7"} and events[0].event_type == "PlaylistSeparator"
    assert out[99:101].tolist() == [100, 1000]  # the separator takes no time


def test_A_core_35_separator_at_a_frame_boundary_fires_in_the_next_frame() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 160))
    playlist.append(SeparatorItem(1))
    playlist.append(numbered(1, 160))
    _, first = run(playlist, 1)
    _, second = run(playlist, 1)
    assert first == [] and second == [PlaylistSeparatorReached(1, 160), NoAudio("noAudio", 320)]


def test_A_core_35_front_separator_fires_at_the_next_tick_then_the_item_resumes() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 1000))
    run(playlist, 1)
    playlist.insert_front(SeparatorItem(3))
    out, events = run(playlist, 1)
    assert events == [PlaylistSeparatorReached(3, 160)]
    assert out.tolist() == list(range(161, 321))


def test_separator_as_last_item_gives_separator_then_noAudio() -> None:
    playlist = Playlist()
    playlist.append(SeparatorItem(0))
    _, events = run(playlist, 1)
    assert events == [PlaylistSeparatorReached(0, 0), NoAudio("noAudio", 0)]


def test_A_core_27_zero_silence_ends_at_once_and_negative_silence_is_endless() -> None:
    playlist = Playlist()
    playlist.append(SilenceItem(0))
    _, events = run(playlist, 1)
    assert events == [NoAudio("noAudio", 0)]
    playlist.append(SilenceItem(-1))
    _, events = run(playlist, 500)
    assert events == [] and len(playlist) == 1


def test_A_core_28_29_front_silence_and_ringtone_items() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 400))
    run(playlist, 1)
    playlist.insert_front(SilenceItem(20))
    out, _ = run(playlist, 2)
    assert not out[:160].any() and out[160:].tolist() == list(range(161, 321))
    playlist.flush()
    playlist.append(RingtoneItem(RingtoneSpec(length=100, on=50, off=50, f=425)))
    out, events = run(playlist, 6)
    assert out[:400].any() and not out[400:800].any()
    assert events == [NoAudio("noAudio", 480 + 800)]


def test_file_item_loads_at_once_and_reports_the_path(tmp_path: Path) -> None:
    """A-core-25: the file is opened when added, so the action can raise ``file``."""
    path = tmp_path / "x.wav"
    write_wav(path, np.arange(1, 11, dtype=np.int16))
    item = FileItem(str(path))
    assert item.samples.tolist() == list(range(1, 11)) and item.label == str(path)
    with pytest.raises(AudioFileError) as info:
        FileItem(str(tmp_path / "none.wav"))
    assert info.value.path == str(tmp_path / "none.wav")


def test_played_log_reproduces_what_was_heard() -> None:
    """Rebuilding the output from the log's item offsets gives the frames exactly."""
    a = np.random.default_rng(1).integers(-9999, 9999, 700).astype(np.int16)
    b = np.random.default_rng(2).integers(-9999, 9999, 300).astype(np.int16)
    playlist = Playlist()
    playlist.append(SampleItem(a, name="a"))
    heard, _ = run(playlist, 2)
    playlist.insert_front(SampleItem(b, name="b"))
    more, _ = run(playlist, 10)
    heard = np.concatenate([heard, more])
    rebuilt = np.zeros_like(heard)
    sources = {"a": a, "b": b}
    for seg in playlist.played:
        rebuilt[seg.start : seg.end] = sources[seg.label][seg.item_start : seg.item_end]
    assert np.array_equal(rebuilt, heard)
    assert playlist.played[0].start_ms == 0 and playlist.played[0].end_ms == 40


def test_open_segment_and_queue_view() -> None:
    playlist = Playlist()
    playlist.append(numbered(1, 1000, "a"))
    playlist.append(SeparatorItem(1))
    run(playlist, 1)
    segment = playlist.open_segment()
    assert segment is not None and segment.label == "a" and segment.kind == "audio"
    assert [item.kind for item in playlist.items] == ["audio", "separator"]
    assert playlist.current is playlist.items[0]


class RecordingItem(PlaylistItem):
    """A two-sided item (like a conference channel): plays a tone, keeps the input."""

    kind = "channel"

    def __init__(self) -> None:
        self.heard: list[np.ndarray] = []
        self.position = 0

    @property
    def finished(self) -> bool:
        return False

    def read(self, n: int) -> np.ndarray:
        self.position += n
        return np.full(n, 9, dtype=np.int16)

    def write(self, frame: np.ndarray) -> None:
        self.heard.append(frame)


def test_input_goes_to_the_record_side_of_the_current_item() -> None:
    """§0.5: an item may have a record side; only the current item is active."""
    playlist = Playlist()
    channel = RecordingItem()
    playlist.write_frame(np.ones(160, np.int16))  # empty playlist: dropped
    playlist.append(channel)
    playlist.write_frame(np.ones(160, np.int16))
    numbered_item = numbered(1, 500)
    playlist.insert_front(numbered_item)
    playlist.write_frame(np.ones(160, np.int16))  # the numbered item has no record side
    assert len(channel.heard) == 1


def test_bad_separator_id() -> None:
    with pytest.raises(ValueError):
        SeparatorItem(-1)


def test_times_on_the_callers_clock_survive_pauses_in_reading() -> None:
    """With ``now`` the log and the events carry the caller's (virtual) time."""
    playlist = Playlist()
    playlist.append(numbered(1, 200, "a"))
    playlist.append(SeparatorItem(2))
    playlist.append(numbered(1, 100, "b"))
    playlist.read_frame(now=10.0)
    # media disconnected for a second: the playlist is not read
    _, events = playlist.read_frame(now=11.02)
    _, more = playlist.read_frame(now=11.04)
    a, sep, b = playlist.played
    assert (a.start_time, a.end_time) == (10.0, 11.02 + 40 / 8000)
    assert sep.start_time == sep.end_time == 11.02 + 40 / 8000
    assert (b.start_time, b.end_time) == (11.02 + 40 / 8000, 11.02 + 140 / 8000)
    assert events == [
        PlaylistSeparatorReached(2, 200, 11.02 + 40 / 8000),
        NoAudio("noAudio", 300, 11.02 + 140 / 8000),
    ]
    assert more == []
