"""Where a call's Python work goes, from a cProfile file of ``benchmarks/sip.py --profile``.

``benchmarks/sip.py --skip-concurrency --rates 100 --cps-seconds 5 --profile
FILE`` writes the server's cProfile statistics over 500 answer-play-hangup
calls.  This script splits them by part (media path, SIP parse/serialise,
user agent and transactions, ``SipCall``, engine and session, event loop,
the rest) and prints, per call, the Python function calls and the own time
of each part (cProfile time: inflated by the profiler, so compare trees with
it, not with wall-clock figures).  Builtins (``sendto``, ``str.join`` …) are
counted apart, under ``builtins``; so are the functions of the modules
compiled by mypyc (``runtime/native_modules.py``: the media path and, since
issue 19's per-call work, the SIP parser), whose inner calls cProfile does
not see.  Function calls do not depend on the
machine's load, which makes them the steady figure to compare two trees.

Run: ``.venv/bin/python benchmarks/call_cost.py FILE [--calls 500]``.  The
last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import pstats
import re

PARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("media", re.compile(r"runtime/(media/|sip/(rtp|rtcp|media_clock))")),
    ("sip_parse_serialise", re.compile(r"runtime/sip/(message|headers|uri|sdp|responses)\.py")),
    ("user_agent", re.compile(r"runtime/sip/(useragent|ua_|transaction|dialog|timer_heap|transport|limits)")),
    ("sipcall", re.compile(r"runtime/sip/sipcall\.py")),
    ("sip_other", re.compile(r"runtime/sip/")),
    ("engine_session", re.compile(r"runtime/(engine|session|incoming|server|actions/|chart|events)")),
    ("runtime_other", re.compile(r"runtime/|/dsm/")),
    ("asyncio", re.compile(r"asyncio/|selectors\.py")),
)


def part_of(filename: str) -> str:
    if filename == "~" or filename.startswith("<"):
        return "builtins"
    for name, pattern in PARTS:
        if pattern.search(filename):
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--calls", type=int, default=500, help="calls the profiled run served")
    args = parser.parse_args()
    stats = pstats.Stats(args.profile)
    calls: dict[str, int] = {}
    own: dict[str, float] = {}
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_prim, total, tottime, _cum, _callers) in raw.items():
        if function == "<method 'poll' of 'select.epoll' objects>":
            continue  # the loop waiting: idle, not work
        part = part_of(filename)
        calls[part] = calls.get(part, 0) + total
        own[part] = own.get(part, 0.0) + tottime
    per_call = {
        part: {"python_calls": round(calls[part] / args.calls, 1), "own_ms": round(own[part] / args.calls * 1000, 3)}
        for part in sorted(calls, key=lambda p: -own[p])
    }
    outside = [p for p in calls if p not in ("media", "builtins")]
    for part, figures in per_call.items():
        print(f"{part:22} {figures['python_calls']:10.1f} calls  {figures['own_ms']:8.3f} ms per call")
    result = {
        "benchmark": "call_cost",
        "calls": args.calls,
        "parts": per_call,
        "python_calls_per_call_outside_media": round(sum(calls[p] for p in outside) / args.calls, 1),
        "own_ms_per_call_outside_media": round(sum(own[p] for p in outside) / args.calls * 1000, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
