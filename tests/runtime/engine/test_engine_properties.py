"""Property tests: random event sequences never crash the engine and replay identically.

For a few charts (PIN entry with timers and repost, sub-diagram calls, an
exception-heavy chart) random sequences of Key/Timer/DSMEvent/Hangup events
and clock advances must: never raise out of the engine, leave every session
in a declared state of one of its diagrams or ended, and give the same trace
when replayed on a fresh engine under the virtual clock.
"""

from __future__ import annotations

from typing import Any

from engine_rig import Rig
from hypothesis import given, settings
from hypothesis import strategies as st

CHARTS: dict[str, dict[str, str]] = {
    "pin": {
        "pin": """
        initial state START; state COLLECT; state CHECK; state DONE;
        transition begin START - start / setTimer(1, 5) -> COLLECT;
        transition digit COLLECT - key(#key < 10) / append($pin, #key); setTimer(1, 5) -> COLLECT;
        transition hash COLLECT - key(#key == 11) / repost() -> CHECK;
        transition timeout COLLECT - timer / clear($pin); inc($tries) -> COLLECT;
        transition good CHECK - test($pin == 1234) -> DONE;
        transition bad CHECK - test($pin != 1234) / clear($pin) -> COLLECT;
        transition bye (COLLECT,CHECK,DONE) - hangup / stop(false) -> DONE;
        """
    },
    "calls": {
        "main": """
        initial state A enter { set($n=0) }; state B;
        transition c A - key(#key == 1) / callFSM(sub); set($lost=1) -> B;
        transition j A - key(#key == 2) / for ($i in range(2)) { jumpFSM(sub) } -> B;
        transition r B - key / repost() -> A;
        transition e (A,B) - event; test($posted == "") / set($posted=1); postEvent(@local_tag, x) -> A;
        transition h (A,B) - hangup / stop(true) -> B;
        """,
        "sub": """
        initial state S enter { inc($n) }; state T;
        transition back S - key(#key == 3) / returnFSM() -> T;
        transition loop S - key(#key == 4) / jumpFSM(main) -> T;
        transition t T - timer / returnFSM() -> S;
        transition tm (S,T) - key(#key == 5) / setTimer(2, 1) -> T;
        """,
    },
    "exceptions": {
        "ex": """
        initial state A; state B; state C;
        transition k A - key(#key < 5) / throw(low, k=1) -> B;
        transition k2 A - key / throwOnError(); set($errno=arg); throwOnError() -> C;
        transition e A - exception; test(#type == low) / setTimer(1, 0) -> B;
        transition e2 A - exception / repost() -> C;
        transition t B - timer / set($x=#id); throw(again) -> A;
        transition x (B,C) - exception; test(#type == again) -> A;
        transition any (B,C) - not timer; not hangup -> A;
        transition h (A,B,C) - hangup / stop(false) -> C;
        """
    },
}

EVENTS = st.one_of(
    st.tuples(st.just("Key"), st.sampled_from(["0", "1", "2", "3", "4", "5", "9", "11"])),
    st.tuples(st.just("Timer"), st.sampled_from(["1", "2"])),
    st.tuples(st.just("DSMEvent"), st.just("")),
    st.tuples(st.just("Hangup"), st.just("")),
    st.tuples(st.just("advance"), st.sampled_from(["0.5", "1", "5"])),
)


def replay(chart: str, events: list[tuple[str, str]]) -> tuple[list[Any], Rig]:
    rig = Rig(limit=200)
    rig.load(**CHARTS[chart])
    start = next(iter(CHARTS[chart]))
    s = rig.call(start)
    for kind, value in events:
        if kind == "advance":
            rig.advance(float(value))
        elif kind == "Key":
            rig.send(s, "Key", {"key": value, "duration": "100"})
        elif kind == "Timer":
            rig.send(s, "Timer", {"id": value})
        else:
            rig.send(s, kind, {})
        declared = s.ended or (
            s.state is not None and s.state.diagram.states.get(s.state.name) is s.state
        )
        assert declared, (s, s.state)
    return rig.trace + [("vars", k, v) for k, v in sorted(s.vars.items())], rig


@settings(max_examples=40, deadline=None)
@given(chart=st.sampled_from(sorted(CHARTS)), events=st.lists(EVENTS, max_size=25))
def test_random_event_sequences_never_crash_and_replay_identically(
    chart: str, events: list[tuple[str, str]]
) -> None:
    first, rig = replay(chart, events)
    second, _ = replay(chart, events)
    assert first == second
    assert not any("internal" in m for _, _, m in rig.logs)
