"""CPU time of simulated calls: 100 calls of the PIN example through the harness.

Prints one JSON line last: ``cpu_s_100_pin_calls`` (target < 1.0), the median
of five runs (every run's figure is listed too, as ``runs``), and the same
figure per call.  Baseline: the same calls' compile-free engine work is all
that is measured (the scripts are compiled once, before the clock starts).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from dsm.runtime.harness import Harness

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    h = Harness(ROOT / "examples" / "pin")
    h.call("pin").hangup()  # warm-up: imports, prompt loading
    runs = []
    for _ in range(5):
        h = Harness(ROOT / "examples" / "pin")
        start = time.process_time()
        for i in range(100):
            call = h.call("pin")
            if i % 3 == 0:
                call.press("0000#")
                call.advance(3)
            call.press("1234#")
            call.advance(6)
            assert call.terminated, call.transcript()
        runs.append(time.process_time() - start)
    median = statistics.median(runs)
    print(
        json.dumps(
            {
                "cpu_s_100_pin_calls": round(median, 4),
                "cpu_ms_per_call": round(median * 10, 3),
                "statistic": "median of 5 runs",
                "runs": [round(r, 4) for r in runs],
            }
        )
    )


if __name__ == "__main__":
    main()
