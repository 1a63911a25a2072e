"""The common audio form: 8 kHz mono int16, 20 ms frames; file loading and writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from dsm.runtime.media import audio


def test_frame_constants() -> None:
    assert (audio.SAMPLE_RATE, audio.FRAME_MS, audio.FRAME_SAMPLES) == (8000, 20, 160)


def test_duration_helpers() -> None:
    assert audio.ms_to_samples(20) == 160
    assert audio.samples_to_ms(160) == 20
    assert audio.samples_to_ms(7) == 0
    assert audio.frames_in(0) == 0 and audio.frames_in(1) == 1 and audio.frames_in(320) == 2
    assert audio.silence(5).tolist() == [0] * 5 and audio.silence(-3).size == 0


def test_to_int16_rounds_and_clips() -> None:
    assert audio.to_int16([0.4, 0.6, -1e9, 1e9]).tolist() == [0, 1, -32768, 32767]


def test_as_samples_rejects_two_dimensional_data() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        audio.as_samples(np.zeros((2, 2)))


def test_pcm_8k_mono_file_loads_bit_exactly(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(-32768, 32768, 999).astype(np.int16)
    path = tmp_path / "a.wav"
    soundfile.write(path, data, 8000, subtype="PCM_16")
    loaded = audio.load_audio(path)
    assert loaded.dtype == np.int16 and np.array_equal(loaded, data)


@pytest.mark.parametrize("subtype", ["ULAW", "ALAW"])
def test_g711_wav_files_load(tmp_path: Path, subtype: str) -> None:
    """A-core-25: WAV with A-law or µ-law data plays."""
    tone = (8000 * np.sin(np.arange(800) * 0.3)).astype(np.int16)
    path = tmp_path / "g711.wav"
    soundfile.write(path, tone, 8000, subtype=subtype)
    loaded = audio.load_audio(path)
    assert loaded.size == 800
    assert np.max(np.abs(loaded.astype(int) - tone)) < 300


def test_stereo_16k_file_is_mixed_down_and_resampled(tmp_path: Path) -> None:
    """A-core-25: 16 kHz files play; stereo is averaged to mono."""
    t = np.arange(16000) / 16000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1)
    path = tmp_path / "wide.wav"
    soundfile.write(path, stereo, 16000, subtype="PCM_16")
    loaded = audio.load_audio(path)
    assert loaded.size == 8000
    expected = 0.5 * 32768 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    middle = slice(200, 7800)
    assert np.max(np.abs(loaded[middle] - expected[middle])) < 200


def test_missing_file_raises_with_the_path_as_given() -> None:
    with pytest.raises(audio.AudioFileError) as info:
        audio.load_audio("no/such/file.wav")
    assert info.value.path == "no/such/file.wav"


def test_garbage_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"this is not audio")
    with pytest.raises(audio.AudioFileError):
        audio.load_audio(path)


def test_write_wav_round_trip(tmp_path: Path) -> None:
    data = np.arange(-5000, 5000, 7, dtype=np.int16)
    path = tmp_path / "out.wav"
    audio.write_wav(path, data)
    info = soundfile.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert np.array_equal(audio.load_audio(path), data)


def test_write_wav_into_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(audio.AudioFileError):
        audio.write_wav(tmp_path / "no" / "dir.wav", np.zeros(10, np.int16))
