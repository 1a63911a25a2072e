"""The G.711 send path: whole prompts encoded once, frames sliced from the codes.

The codes must be exactly those of the per-frame encoders (the tables are
tested against the ITU-T algorithms in ``test_media_g711.py``), and a cached
array must not outlive its samples.
"""

from __future__ import annotations

import gc

import numpy as np

from dsm.runtime.media.g711 import (
    ALAW_ENCODE,
    ULAW_ENCODE,
    EncodedArrays,
    alaw_encode,
    ulaw_encode,
)
from dsm.runtime.media.items import PromptItem
from dsm.runtime.media.playlist import Playlist


def samples(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, n).astype(np.int16)


def test_codes_of_an_array_equal_the_frame_encoders_slice_by_slice() -> None:
    audio = samples(1600)
    ulaw, alaw = EncodedArrays(ULAW_ENCODE), EncodedArrays(ALAW_ENCODE)
    ucodes, acodes = ulaw.codes(audio), alaw.codes(audio)
    assert ucodes is not None and acodes is not None
    for start in range(0, 1600, 160):
        frame = audio[start : start + 160]
        assert ucodes[start : start + 160] == ulaw_encode(frame).tobytes()
        assert acodes[start : start + 160] == alaw_encode(frame).tobytes()


def test_an_array_is_encoded_once_and_forgotten_with_it() -> None:
    cache = EncodedArrays(ULAW_ENCODE)
    audio = samples(800)
    first = cache.codes(audio)
    assert cache.codes(audio) is first and len(cache) == 1
    del audio
    gc.collect()
    assert len(cache) == 0


def test_long_or_odd_arrays_are_not_cached() -> None:
    cache = EncodedArrays(ULAW_ENCODE, max_samples=1000)
    assert cache.codes(samples(1001)) is None
    assert cache.codes(np.zeros(160, dtype=np.int32)) is None  # type: ignore[arg-type]
    assert cache.codes(np.zeros((2, 80), dtype=np.int16)) is None
    assert len(cache) == 0


def test_playlist_names_the_source_of_a_plain_frame_only() -> None:
    """A-core-25: frames that join two items (or end one) are not plain slices."""
    audio = samples(400)
    playlist = Playlist()
    playlist.append(PromptItem("a", audio))
    playlist.append(PromptItem("b", audio))
    frame, _ = playlist.read_frame()
    assert playlist.frame_source is None  # the first frame opens the item: general path
    frame, _ = playlist.read_frame()
    assert playlist.frame_source is not None
    source, start = playlist.frame_source
    assert source is audio and start == 160 and np.array_equal(frame, audio[160:320])
    frame, _ = playlist.read_frame()  # 80 samples of "a", 80 of "b"
    assert playlist.frame_source is None
    assert np.array_equal(frame, np.concatenate([audio[320:], audio[:80]]))
