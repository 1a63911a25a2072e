"""The RTP media path alone, in one process: CPU and Python function calls per frame.

``benchmarks/sip.py`` measures whole calls against sipp on a shared
machine, where one run differs from the next by more than most changes of
the media path.  This benchmark isolates that path and counts what does not
depend on the machine's load:

* ``--calls`` RTP sessions (:class:`RtpSession` with its :class:`CallMedia`
  playing a 30 s prompt, receiving on) on one :class:`MediaClock`, driven
  by a virtual loop (time moves only when the benchmark says so, so no
  frame is ever late or skipped and every run does the same work);
* ``--two-way``: before every frame interval a caller socket sends each
  session one 20 ms PCMU packet (speech-like noise), so each frame also
  reads, latches, reorders, decodes and analyses a packet for in-band DTMF;
* every packet the sessions send goes to one sink socket, drained between
  frame intervals (outside the measured time).

Reported: CPU microseconds per frame and call (``time.process_time`` around
the clock's ticks only, median of ``--rounds`` rounds), and Python function
calls per frame and call (one extra round under cProfile).  All traffic is
on 127.0.0.1; every loop is bounded.

Run: ``.venv/bin/python benchmarks/rtp_path.py [--calls N] [--two-way]``.  The
last line of output is one JSON object.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import heapq  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from dsm.runtime.media.call_media import CallMedia  # noqa: E402
from dsm.runtime.media.g711 import ulaw_encode  # noqa: E402
from dsm.runtime.media.items import PromptItem  # noqa: E402
from dsm.runtime.sip.media_clock import FRAME_PERIOD, MediaClock  # noqa: E402
from dsm.runtime.sip.rtp import RtpPacket  # noqa: E402
from dsm.runtime.sip.rtp_session import RtpPortPool, RtpSession  # noqa: E402
from dsm.runtime.sip.sdp import Codec  # noqa: E402

PCMU = Codec(0, "PCMU", 8000)


class _Handle:
    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    """What the session and the clock use of a loop, with time moved by :meth:`advance`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, _Handle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> _Handle:
        handle = _Handle(lambda: callback(*args))
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _Handle:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, until: float) -> None:
        for _ in range(100_000):  # bounded: a few ticks per call
            if not self._timers or self._timers[0][0] > until:
                break
            when, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled:
                self.now = max(self.now, when)
                handle.callback()
        self.now = max(self.now, until)


class Rig:
    def __init__(self, calls: int, two_way: bool) -> None:
        self.loop = VirtualLoop()
        self.clock = MediaClock(self.loop)  # type: ignore[arg-type]
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.setblocking(False)
        self.caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.caller.bind(("127.0.0.1", 0))
        self.two_way = two_way
        rng = np.random.default_rng(1)
        prompt = rng.normal(0, 3000, 8000 * 30).clip(-32768, 32767).astype(np.int16)
        speech = ulaw_encode(rng.normal(0, 1500, 160 * 50).clip(-32768, 32767).astype(np.int16))
        self.payloads = [speech[i * 160 : (i + 1) * 160].tobytes() for i in range(50)]
        pool = RtpPortPool("127.0.0.1", 20000, 59999, rng=random.Random(7))
        self.sessions: list[RtpSession] = []
        for index in range(calls):
            media = CallMedia()
            media.play(PromptItem("p", prompt))  # 30 s: longer than any run
            media.media_connect()
            media.flags["receiving"] = True
            session = RtpSession(
                self.loop,  # type: ignore[arg-type]
                pool.bind(),
                media,
                lambda events: None,
                rng=random.Random(index),
                clock=self.clock,
            )
            session.configure(self.sink.getsockname(), PCMU, None)  # the caller's packets latch
            session.start()
            self.sessions.append(session)
        self.frame = 0

    def send_caller_audio(self) -> None:
        payload = self.payloads[self.frame % len(self.payloads)]
        for index, session in enumerate(self.sessions):
            packet = RtpPacket(0, self.frame & 0xFFFF, self.frame * 160, 1000 + index, payload)
            self.caller.sendto(bytes(packet), ("127.0.0.1", session.local_port))

    def drain_sink(self) -> int:
        got = 0
        for _ in range(1_000_000):
            try:
                self.sink.recv(2048)
            except BlockingIOError:
                break
            got += 1
        return got

    def run(self, frames: int, profile: cProfile.Profile | None = None) -> float:
        """Drive ``frames`` frame intervals; CPU seconds spent in the clock's ticks.

        With ``profile``, only the ticks run under it (not the caller's sending).
        """
        spent = 0.0
        for _ in range(frames):
            if self.two_way:
                self.send_caller_audio()
            start = time.process_time()
            if profile is not None:
                profile.enable()
            self.loop.advance(self.loop.now + FRAME_PERIOD)
            if profile is not None:
                profile.disable()
            spent += time.process_time() - start
            self.frame += 1
            self.drain_sink()
        return spent

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self.sink.close()
        self.caller.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--frames", type=int, default=100, help="frame intervals per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--two-way", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="also write the profiled round's statistics")
    args = parser.parse_args()
    rig = Rig(args.calls, args.two_way)
    try:
        rig.run(20)  # warm-up: the jitter buffers fill, the prompt codes are cached
        served_before = sum(s.frames for s in rig.sessions)
        rounds = [rig.run(args.frames) for _ in range(args.rounds)]
        served = sum(s.frames for s in rig.sessions) - served_before
        profile = cProfile.Profile()
        frames_before = sum(s.frames for s in rig.sessions)
        rig.run(args.frames, profile)
        profiled_frames = sum(s.frames for s in rig.sessions) - frames_before
        stats = pstats.Stats(profile)
        if args.profile:
            stats.dump_stats(args.profile)
        per_round = args.calls * args.frames
        result = {
            "benchmark": "rtp_path",
            "calls": args.calls,
            "two_way": args.two_way,
            "frames_served": served,
            "frames_expected": per_round * args.rounds,
            "late_frames": sum(s.frames_late for s in rig.sessions),
            "packets_received": sum(s.packets_received for s in rig.sessions),
            "cpu_us_per_frame": round(statistics.median(rounds) / per_round * 1e6, 2),
            "cpu_us_per_frame_rounds": [round(r / per_round * 1e6, 2) for r in rounds],
            "python_calls_per_frame": round(stats.total_calls / max(profiled_frames, 1), 1),  # type: ignore[attr-defined]
            "load_average": round(os.getloadavg()[0], 2),
        }
    finally:
        rig.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
