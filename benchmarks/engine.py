"""Engine benchmark: events/s through a PIN chart, idle session size, 10,000 sessions.

Run with ``.venv/bin/python benchmarks/engine.py``; the last line printed is one
JSON object:

* ``dsm_events_per_s`` — Key events per second through the PIN chart below
  with full DSM semantics (queued delivery, rounds, conditions, actions,
  a timer restarted on every digit, a wrong-PIN retry loop with ``repost``);
* ``transitions_events_per_s`` — the same machine and the same event
  sequence in the ``transitions`` library, measured in the same run;
* ``ratio`` — the median of the per-pair ratios of seven interleaved runs
  (target ≥ 3);
* ``idle_session_bytes`` — memory per started, idle PIN session
  (tracemalloc, target ≤ 10,000);
* ``sessions_10k_ok`` — 10,000 concurrent sessions created, driven through a
  PIN entry and ended in one process.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Mapping
from typing import Any

import dsm
from dsm.runtime.call import AudioItem, Call
from dsm.runtime.clock import VirtualClock
from dsm.runtime.engine import Engine

PIN_CHART = """
initial state START;
state COLLECT;
state CHECK;
state DONE;
transition begin START - start / set($tries=0); clear($pin); setTimer(1, 10) -> COLLECT;
transition digit COLLECT - key(#key < 10) / append($pin, #key); setTimer(1, 10) -> COLLECT;
transition hash COLLECT - key(#key == 11) / removeTimer(1); repost() -> CHECK;
transition timeout COLLECT - timer(#id == 1) / clear($pin); inc($tries); setTimer(1, 10) -> COLLECT;
transition good CHECK - test($pin == 1234) / set($result=ok) -> DONE;
transition bad CHECK - test($pin != 1234) / inc($tries); clear($pin); setTimer(1, 10) -> COLLECT;
transition again DONE - key(#key == 11) / clear($pin); setTimer(1, 10) -> COLLECT;
transition bye (COLLECT,CHECK,DONE) - hangup / stop(false) -> DONE;
"""

# one cycle: wrong PIN, retry with the right one, '#' in DONE starts over
CYCLE = ["1", "2", "3", "5", "11", "1", "2", "3", "4", "11", "11"]


class NullCall(Call):
    """A call that does nothing (the benchmark measures the engine only)."""

    def __init__(self, tag: str = "") -> None:
        self.local_tag = tag

    def select(self, name: str) -> str:
        return ""

    def play(self, item: AudioItem, front: bool = False) -> None: ...
    def flush_playlist(self) -> None: ...
    def attach_playlist(self, input: bool, output: bool) -> None: ...
    def set_prompts(self, name: str) -> None: ...
    def record_start(self, path: str) -> None: ...
    def record_stop(self) -> bool:
        return False

    def record_length(self) -> int | None:
        return None

    def record_data_size(self) -> int | None:
        return None

    def media_connect(self) -> None: ...
    def media_disconnect(self) -> None: ...
    def set_media_flag(self, flag: str, on: bool) -> None: ...
    def send_dtmf(self, event: int, duration_ms: int) -> None: ...
    def bye(self) -> None: ...
    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None: ...
    def b2b_terminate_other_leg(self) -> None: ...
    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None: ...
    def b2b_set_flag(self, flag: str, on: bool) -> None: ...
    def b2b_relay_event(self, params: dict[str, str]) -> None: ...
    def get_b2b_headers(self) -> str:
        return ""

    def set_b2b_headers(self, block: str) -> None: ...


def make_engine() -> Engine:
    engine = Engine(VirtualClock())
    engine.load({"pin": dsm.compile_source(PIN_CHART, name="pin")})
    return engine


def bench_dsm(cycles: int) -> tuple[float, dict[str, str]]:
    engine = make_engine()
    s = engine.start_call("pin", NullCall("bench"))
    engine.run_pending()
    events = [{"key": k, "duration": "100"} for k in CYCLE] * cycles
    deliver = s.deliver
    run = engine.run_pending
    t0 = time.perf_counter()
    for p in events:
        deliver("Key", p)
        run()
    dt = time.perf_counter() - t0
    assert s.vars["result"] == "ok" and s.state is not None and s.state.name == "COLLECT", s.vars
    return len(events) / dt, s.vars


def bench_transitions(cycles: int) -> float:
    from transitions import Machine

    clock = VirtualClock()

    class Pin:
        def __init__(self) -> None:
            self.vars: dict[str, str] = {}
            self.timers: dict[int, Any] = {}

        def set_timer(self, tid: int, seconds: int) -> None:
            old = self.timers.pop(tid, None)
            if old is not None:
                old.cancel()
            self.timers[tid] = clock.call_at(clock.now() + seconds, lambda: None)

        def remove_timer(self, tid: int) -> None:
            old = self.timers.pop(tid, None)
            if old is not None:
                old.cancel()

        # conditions
        def is_digit(self, ev: Any) -> bool:
            return int(ev.kwargs["params"]["key"]) < 10

        def is_hash(self, ev: Any) -> bool:
            return ev.kwargs["params"]["key"] == "11"

        def pin_ok(self, ev: Any) -> bool:
            return self.vars.get("pin", "") == "1234"

        def pin_bad(self, ev: Any) -> bool:
            return self.vars.get("pin", "") != "1234"

        # actions
        def begin(self, ev: Any) -> None:
            self.vars["tries"] = "0"
            self.vars["pin"] = ""
            self.set_timer(1, 10)

        def digit(self, ev: Any) -> None:
            self.vars["pin"] = self.vars.get("pin", "") + ev.kwargs["params"]["key"]
            self.set_timer(1, 10)

        def hash(self, ev: Any) -> None:
            self.remove_timer(1)

        def check(self, ev: Any) -> None:
            self.evaluate(params=ev.kwargs["params"])  # type: ignore[attr-defined]  # the repost round

        def good(self, ev: Any) -> None:
            self.vars["result"] = "ok"

        def bad(self, ev: Any) -> None:
            self.vars["tries"] = str(int(self.vars.get("tries", "0")) + 1)
            self.vars.pop("pin", None)
            self.set_timer(1, 10)

        def again(self, ev: Any) -> None:
            self.vars["pin"] = ""
            self.set_timer(1, 10)

    model = Pin()
    m = Machine(
        model=model,
        states=["START", "COLLECT", "CHECK", "DONE"],
        initial="START",
        send_event=True,
        auto_transitions=False,
        ignore_invalid_triggers=True,
    )
    m.add_transition("start", "START", "COLLECT", after="begin")
    m.add_transition("key", "COLLECT", "COLLECT", conditions="is_digit", after="digit")
    m.add_transition("key", "COLLECT", "CHECK", conditions="is_hash", before="hash", after="check")
    m.add_transition("key", "DONE", "COLLECT", conditions="is_hash", after="again")
    m.add_transition("evaluate", "CHECK", "DONE", conditions="pin_ok", after="good")
    m.add_transition("evaluate", "CHECK", "COLLECT", conditions="pin_bad", after="bad")
    model.start()  # type: ignore[attr-defined]
    events = [{"key": k, "duration": "100"} for k in CYCLE] * cycles
    trigger = model.key  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for p in events:
        trigger(params=p)
    dt = time.perf_counter() - t0
    assert model.vars["result"] == "ok" and model.state == "COLLECT"  # type: ignore[attr-defined]
    return len(events) / dt


def idle_session_bytes(n: int = 2000) -> float:
    engine = make_engine()
    warm = engine.start_call("pin", NullCall())
    engine.run_pending()
    del warm
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = []
    for _ in range(n):
        keep.append(engine.start_call("pin", NullCall()))
    engine.run_pending()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert all(s.state is not None and s.state.name == "COLLECT" for s in keep)
    return total / n


def sessions_10k() -> bool:
    engine = make_engine()
    sessions = [engine.start_call("pin", NullCall()) for _ in range(10_000)]
    engine.run_pending()
    for k in ["1", "2", "3", "4", "11"]:
        for s in sessions:
            s.deliver("Key", {"key": k, "duration": "100"})
        engine.run_pending()
    ok = all(s.vars.get("result") == "ok" for s in sessions)
    engine.clock.advance(10)  # type: ignore[attr-defined]
    for s in sessions:
        s.deliver("Hangup", {})
    engine.run_pending()
    return ok and all(s.ended for s in sessions) and not engine.sessions


def main() -> None:
    """Interleave short DSM and ``transitions`` runs so that load changes hit both alike."""
    bench_dsm(50)  # warm-up
    bench_transitions(50)
    cycles = 400
    dsm_rates: list[float] = []
    tr_rates: list[float] = []
    for _ in range(7):
        dsm_rates.append(bench_dsm(cycles)[0])
        tr_rates.append(bench_transitions(cycles))
    ratios = sorted(d / t for d, t in zip(dsm_rates, tr_rates))
    result = {
        "dsm_events_per_s": round(statistics.median(dsm_rates)),
        "transitions_events_per_s": round(statistics.median(tr_rates)),
        "ratio": round(ratios[len(ratios) // 2], 2),
        "idle_session_bytes": round(idle_session_bytes()),
        "sessions_10k_ok": sessions_10k(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
