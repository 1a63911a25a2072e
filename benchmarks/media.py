"""Throughput benchmark of the media layer on one core.

Measures, in 20 ms frames per second of CPU time:

* G.711 µ-law and A-law encode + decode of a frame (table lookups);
* in-band DTMF detection with :class:`DtmfDetectorBank`, one frame of each
  of ``--calls`` calls per step (the way a media processor ticks all its
  calls at once), and with a one-call :class:`DtmfDetector`;
* a whole playlist read (a file item) for comparison.

"Concurrent calls" is frames per second divided by 50 (one call produces 50
frames a second); "x real time" is the same number for one call.  The
input mixes speech-like noise with a DTMF key in every tenth call so that
every branch of the tracker runs.  numpy is limited to one thread through
the usual environment variables, set before it is imported.

Run: ``python benchmarks/media.py [--calls N] [--seconds S]``.  The last line
of output is one JSON object.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from dsm.runtime.media import g711  # noqa: E402
from dsm.runtime.media.dtmf import dtmf_tone  # noqa: E402
from dsm.runtime.media.dtmf_detector import DtmfDetector, DtmfDetectorBank  # noqa: E402
from dsm.runtime.media.items import SampleItem  # noqa: E402
from dsm.runtime.media.playlist import Playlist  # noqa: E402

FRAMES_PER_SECOND_OF_CALL = 50


def rate(work: Callable[[], int], seconds: float) -> float:
    """Frames per CPU second of ``work`` (which returns the frames it did)."""
    work()  # warm-up
    frames = 0
    start = time.process_time()
    while True:
        frames += work()
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return frames / elapsed


def input_frames(calls: int, steps: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    block = rng.normal(0, 1500, (calls, steps * 160))
    tone = dtmf_tone(5, 200, -10).astype(np.float64)
    for call in range(0, calls, 10):
        block[call, 1000 : 1000 + tone.size] += tone
    return np.clip(block, -32768, 32767).astype(np.int16).reshape(calls, steps, 160)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    frame_block = np.random.default_rng(2).integers(-20000, 20000, (500, 160)).astype(np.int16)

    def ulaw() -> int:
        g711.ulaw_decode(g711.ulaw_encode(frame_block))
        return frame_block.shape[0]

    def alaw() -> int:
        g711.alaw_decode(g711.alaw_encode(frame_block))
        return frame_block.shape[0]

    def ulaw_single() -> int:
        for frame in frame_block[:50]:
            g711.ulaw_decode(g711.ulaw_encode(frame))
        return 50

    steps = 25
    frames = input_frames(args.calls, steps)
    bank = DtmfDetectorBank(args.calls)

    def bank_step() -> int:
        for step in range(steps):
            bank.process(frames[:, step])
        return args.calls * steps

    single = DtmfDetector()
    one_call = frames[0]

    def single_step() -> int:
        for frame in one_call:
            single.process(frame)
        return steps

    playlist = Playlist()
    playlist.append(SampleItem(np.zeros(160, np.int16), loop=True))

    def playlist_step() -> int:
        for _ in range(200):
            playlist.read_frame()
        return 200

    results = {
        "ulaw_frames_per_s": rate(ulaw, args.seconds),
        "alaw_frames_per_s": rate(alaw, args.seconds),
        "ulaw_single_frame_calls_per_s": rate(ulaw_single, args.seconds),
        "dtmf_bank_frames_per_s": rate(bank_step, args.seconds),
        "dtmf_single_frames_per_s": rate(single_step, args.seconds),
        "playlist_frames_per_s": rate(playlist_step, args.seconds),
    }
    for name, value in results.items():
        calls = value / FRAMES_PER_SECOND_OF_CALL
        print(f"{name:34s} {value:14,.0f} frames/s = {calls:10,.0f} calls (x real time for one call)")
    summary = {name: round(value) for name, value in results.items()}
    summary["dtmf_bank_calls_per_core"] = round(
        results["dtmf_bank_frames_per_s"] / FRAMES_PER_SECOND_OF_CALL
    )
    summary["dtmf_single_x_real_time"] = round(
        results["dtmf_single_frames_per_s"] / FRAMES_PER_SECOND_OF_CALL
    )
    summary["g711_ulaw_calls_per_core"] = round(
        results["ulaw_frames_per_s"] / FRAMES_PER_SECOND_OF_CALL
    )
    summary["bank_calls"] = args.calls
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
