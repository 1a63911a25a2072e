"""Recording (A-core-36 … A-core-39): a real WAV file, length in ms, data size in bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from dsm.runtime.media.audio import AudioFileError
from dsm.runtime.media.recorder import Recorder


def frames(count: int, seed: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-20000, 20000, 160).astype(np.int16) for _ in range(count)]


def test_A_core_36_recorded_wav_reads_back_identically(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    written = frames(25)
    with Recorder(str(path)) as recorder:
        for frame in written:
            recorder.write_frame(frame)
    data, rate = soundfile.read(str(path), dtype="int16")
    info = soundfile.info(str(path))
    assert (rate, info.channels, info.subtype, info.format) == (8000, 1, "PCM_16", "WAV")
    assert np.array_equal(data, np.concatenate(written))


def test_A_core_38_39_length_in_ms_and_data_size_in_bytes(tmp_path: Path) -> None:
    recorder = Recorder(str(tmp_path / "r.wav"))
    assert (recorder.length_ms, recorder.data_size) == (0, 0)
    for frame in frames(3):
        recorder.write_frame(frame)
    assert recorder.length_ms == 60
    assert recorder.data_size == 3 * 160 * 2
    recorder.close()


def test_frames_after_close_are_ignored_and_close_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    recorder = Recorder(str(path))
    recorder.write_frame(frames(1)[0])
    recorder.close()
    recorder.close()
    recorder.write_frame(frames(1)[0])
    assert not recorder.recording
    assert soundfile.info(str(path)).frames == 160


def test_A_core_36_open_failure_carries_the_path(tmp_path: Path) -> None:
    bad = str(tmp_path / "missing-dir" / "r.wav")
    with pytest.raises(AudioFileError) as info:
        Recorder(bad)
    assert info.value.path == bad


@pytest.mark.parametrize("name", ["noext", "r.xyz"])
def test_format_comes_from_the_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(AudioFileError, match="extension|format"):
        Recorder(str(tmp_path / name))


def test_other_container_from_extension(tmp_path: Path) -> None:
    path = tmp_path / "r.flac"
    with Recorder(str(path)) as recorder:
        recorder.write_frame(frames(2)[0])
    data, rate = soundfile.read(str(path), dtype="int16")
    assert rate == 8000 and data.size == 160


def test_A_core_36_recording_into_a_missing_folder_says_so(tmp_path: Path) -> None:
    """No libsndfile "System error": the reason names the missing folder."""
    target = tmp_path / "nope" / "rec.wav"
    with pytest.raises(AudioFileError) as caught:
        Recorder(str(target))
    assert caught.value.reason == f"no such directory: {target.parent}"
    assert "System error" not in str(caught.value)
