"""Compile-time benchmark of the DSM language layer.

Measures a *cold* compile (no chart cache: every run pre-processes, tokenizes,
runs the statement machine, builds the chart and runs the consistency check)
of a small realistic chart with 3 states and 5 transitions, reporting the
median over many runs, and compiles generated 100- and 1,000-state charts to
show that the cost per state stays flat (linear total cost).  Per-process
work (building the tokenizer's regular expressions, importing modules) is
done once before timing, as it would be in a long-running server.

Run: ``python benchmarks/compile.py [--runs N]``.  The last line of output is
one JSON object with ``median_ms_small`` and ``ms_per_state_large``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from dsm import compile_source

SMALL = """\
-- a small IVR: greet, wait for one key, say goodbye
initial state GREET
  enter { playPrompt(welcome); setTimer(1, 10) };
state MENU
  enter { playPrompt(menu) };
state BYE
  enter { playPrompt(goodbye); stop(true) };
transition "answered" GREET - noAudio / removeTimer(1) -> MENU;
transition "timeout" GREET - timer(#id == 1) / log(2, timeout) -> BYE;
transition "choice" MENU - key(#key == 1) / set($choice=1) -> BYE;
transition "hangup" (GREET, MENU) - hangup / stop(false) -> BYE;
transition "bye" BYE - hangup / stop(false) -> BYE;
"""


def generated(n: int) -> str:
    """A ring of ``n`` states, each with an enter block and three transitions."""
    lines = ["initial state S0 enter { playPrompt(p0); set($n=0) };"]
    lines += [f"state S{i} enter {{ playPrompt(p{i}); inc($n) }};" for i in range(1, n)]
    for i in range(n):
        nxt = (i + 1) % n
        lines.append(f'transition "next{i}" S{i} - key(#key == 1) / log(3, next) -> S{nxt};')
        lines.append(f'transition "t{i}" S{i} - timer(#id == {i}) -> S0;')
        lines.append(f'transition "h{i}" S{i} - hangup / stop(false) -> S{i};')
    return "\n".join(lines) + "\n"


def timings(text: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``runs`` cold compiles of ``text``."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        compile_source(text, "bench")
        t1 = time.perf_counter()
        c1 = time.process_time()
        wall.append((t1 - t0) * 1000.0)
        cpu.append((c1 - c0) * 1000.0)
    return wall, cpu


def median_ms(text: str, runs: int) -> float:
    return statistics.median(timings(text, runs)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000, help="runs for the small chart")
    args = ap.parse_args()
    compile_source(SMALL, "warmup")  # per-process set-up (regexes, imports)
    wall, cpu = timings(SMALL, args.runs)
    small = statistics.median(wall)
    small_cpu = statistics.median(cpu)
    print(
        f"small chart (3 states, 5 transitions): median {small:.4f} ms wall, "
        f"{small_cpu:.4f} ms CPU, best {min(wall):.4f} ms over {args.runs} runs"
    )
    per_state: dict[int, float] = {}
    for n in (100, 1000):
        text = generated(n)
        ms = median_ms(text, 30 if n == 100 else 7)
        per_state[n] = ms / n
        print(f"{n:5d} states: median {ms:.2f} ms, {ms / n * 1000:.1f} us per state")
    ratio = per_state[1000] / per_state[100]
    print(f"cost per state 1000 vs 100 states: x{ratio:.2f} (1.0 = linear)")
    print(
        json.dumps(
            {
                "median_ms_small": round(small, 4),
                "median_cpu_ms_small": round(small_cpu, 4),
                "best_ms_small": round(min(wall), 4),
                "ms_per_state_large": round(per_state[1000], 4),
                "ms_per_state_100": round(per_state[100], 4),
                "linearity_ratio": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
