"""Reload latency for a 100-diagram collection (issue 7 "closing note").

A folder of 100 generated diagrams (each a small IVR of 4 states and 6
transitions, the first one jumping to the next diagram) is served by an
engine on a virtual clock with 1,000 calls in flight.  Measured, as medians
over ``--runs`` reloads:

* ``full``: one script changed, whole collection recompiled, validated and
  swapped (``ChartLibrary.reload``) — what ``dsm reload`` and ``--watch``
  cost;
* ``swap``: installing an already compiled collection (the part during which
  no event can be processed if compiling were moved off the engine thread);
* ``unchanged``: a reload whose scripts did not change (compiled, digest
  equal, no swap);
* ``failed``: a reload refused because one script is broken.

Run: ``python benchmarks/reload.py [--runs N]``.  The last line of output is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dsm.runtime.clock import VirtualClock
from dsm.runtime.control.remote_call import start_remote_call
from dsm.runtime.engine import Engine
from dsm.runtime.versions import ChartLibrary, DirectorySource, ReloadFailed

N_DIAGRAMS = 100
N_CALLS = 1000


def diagram(i: int, variant: int = 0) -> str:
    nxt = f"d{(i + 1) % N_DIAGRAMS:03d}"
    return f"""\
-- generated diagram {i}, variant {variant}
initial state GREET
  enter {{ set($variant={variant}) playPrompt(welcome) setTimer(1, 30) }};
state MENU
  enter {{ playPrompt(menu) }};
state OTHER
  enter {{ jumpFSM({nxt}) }};
state BYE
  enter {{ playPrompt(goodbye) }};
transition "answered" GREET - noAudio -> MENU;
transition "timeout" (GREET, MENU) - timer(#id == 1) -> BYE;
transition "one" MENU - key(#key == 1) / set($choice=1) -> BYE;
transition "next" MENU - key(#key == 2) -> OTHER;
transition "hangup" (GREET, MENU, BYE) - hangup / stop(false) -> BYE;
transition "done" BYE - noAudio / stop(true) -> BYE;
"""


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(N_DIAGRAMS):
            (folder / f"d{i:03d}.dsm").write_text(diagram(i))
        engine = Engine(VirtualClock())
        library = ChartLibrary(engine, DirectorySource([folder]))
        library.reload()
        for i in range(N_CALLS):
            start_remote_call(engine, f"d{i % N_DIAGRAMS:03d}")
        variant = [0]

        def change_and_reload() -> None:
            variant[0] += 1
            (folder / "d000.dsm").write_text(diagram(0, variant[0]))
            library.reload()

        full = timed(change_and_reload, args.runs)
        unchanged = timed(library.reload, args.runs)
        compiled = library.source.compile()
        variant[0] += 1
        (folder / "d000.dsm").write_text(diagram(0, variant[0]))
        other = library.source.compile()
        flip = [compiled, other]

        def swap() -> None:
            flip.reverse()
            library.install(flip[0])

        swap_ms = timed(swap, args.runs)
        (folder / "d050.dsm").write_text("initial state X enter { notAnAction(1) };\n")

        def failing() -> None:
            try:
                library.reload()
            except ReloadFailed:
                return
            raise AssertionError("a broken collection was accepted")

        failed = timed(failing, args.runs)
        alive = sum(1 for s in engine.sessions.values() if not s.ended)
        versions = len({s.chartset.digest for s in engine.sessions.values()})
    print(f"{N_DIAGRAMS} diagrams, {alive} calls in flight on {versions} version(s)")
    print(f"full reload (compile all + swap): median {full:.1f} ms")
    print(f"unchanged reload (compile, no swap): median {unchanged:.1f} ms")
    print(f"swap of a compiled collection:     median {swap_ms:.2f} ms")
    print(f"refused reload (one broken script): median {failed:.1f} ms")
    print(
        json.dumps(
            {
                "diagrams": N_DIAGRAMS,
                "calls_in_flight": alive,
                "full_reload_ms": round(full, 2),
                "unchanged_reload_ms": round(unchanged, 2),
                "swap_ms": round(swap_ms, 3),
                "failed_reload_ms": round(failed, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
