"""Per-call trace (issue 7 item 8) and the headless simulated call used by ``startCall``."""

from __future__ import annotations

import json
from pathlib import Path

from dsm.runtime.clock import VirtualClock
from dsm.runtime.control.observer import Observer
from dsm.runtime.control.remote_call import start_remote_call
from dsm.runtime.engine import Engine
from dsm.runtime.management import Operations
from dsm.runtime.versions import ChartLibrary, DirectorySource

PROMPTS = """
initial state PLAYING
  enter { playPrompt(hello) playPrompt(menu) };
state DONE;
transition "played" PLAYING - noAudio -> DONE;
transition "bye" (PLAYING, DONE) - hangup / stop(false) -> DONE;
"""


def _setup(tmp_path: Path) -> tuple[Engine, Observer, ChartLibrary]:
    (tmp_path / "prompts.dsm").write_text(PROMPTS)
    (tmp_path / "other.dsm").write_text("initial state O;\ntransition \"k\" O - key -> O;\n")
    engine = Engine(VirtualClock())
    observer = Observer(engine)
    library = ChartLibrary(engine, DirectorySource([tmp_path]))
    library.reload()
    return engine, observer, library


def test_E151_simulated_call_plays_prompts_then_gets_NoAudio(tmp_path: Path) -> None:
    engine, _, _ = _setup(tmp_path)
    call = start_remote_call(engine, "prompts", item_seconds=2.0)
    assert call.session is not None and call.session.state is not None
    assert call.session.state.name == "PLAYING"
    first = call.replies[0]
    assert (first.code, first.reason, first.request) == (200, "OK", "INVITE")
    engine.clock.advance(3.9)  # type: ignore[attr-defined]
    assert call.session.state.name == "PLAYING" and call.played == ["hello", "menu"]
    engine.clock.advance(0.2)  # type: ignore[attr-defined]
    assert call.session.state.name == "DONE"
    call.hangup()
    assert call.session.ended


def test_trace_per_call_only_lists_that_call(tmp_path: Path) -> None:
    engine, observer, _ = _setup(tmp_path)
    a = start_remote_call(engine, "other")
    assert a.session is not None
    observer.recorder.configure("calls", calls=[a.session.id])
    b = start_remote_call(engine, "other")
    a.press("1")
    b.press("1")
    lines = observer.recorder.read()
    assert lines and {x["call"] for x in lines} == {a.session.id}
    assert [x["kind"] for x in lines] == ["event", "transition", "state"]


def test_recent_lines_stay_with_their_own_call_when_calls_interleave(tmp_path: Path) -> None:
    """The observer remembers the last session it saw; another session's line must not land there."""
    engine, observer, _ = _setup(tmp_path)
    a = start_remote_call(engine, "other")
    b = start_remote_call(engine, "other")
    assert a.session is not None and b.session is not None
    for _ in range(3):
        a.press("1")
        b.press("2")
        b.press("3")
    events = {call: [d for _, kind, d in observer.recent_lines(call.session) if kind == "event"] for call in (a, b)}
    assert events[a][-3:] == ["Key"] * 3 and events[a].count("Key") == 3
    assert events[b][-6:] == ["Key"] * 6 and events[b].count("Key") == 6
    assert events[a][:-3] == events[b][:-6]  # the same start events for both
    assert observer.events == len(events[a]) + len(events[b])
    assert observer.events_per_second() == observer.events / 10.0  # all in this second of engine time


def test_trace_per_diagram_and_file(tmp_path: Path) -> None:
    engine, observer, _ = _setup(tmp_path)
    out = tmp_path / "trace.jsonl"
    observer.recorder.open_file(str(out))
    observer.recorder.configure("diagrams", diagrams=["prompts"])
    start_remote_call(engine, "other")
    start_remote_call(engine, "prompts")
    observer.recorder.close()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and {x["diagram"] for x in lines} == {"prompts"}
    assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines)
    assert set(lines[0]) == {"seq", "t", "call", "version", "diagram", "kind", "detail"}


def test_operations_list_calls_with_diagram_state_version_age(tmp_path: Path) -> None:
    engine, observer, library = _setup(tmp_path)
    ops = Operations(engine, library, observer)
    call = start_remote_call(engine, "other")
    engine.clock.advance(12.5)  # type: ignore[attr-defined]
    (row,) = ops.list_calls()
    assert call.session is not None
    assert row == {
        "id": call.session.id,
        "kind": "call",
        "config": "main",
        "diagram": "other",
        "state": "O",
        "version": library.current.id if library.current else "",
        "age": 12.5,
    }
    call.press("3")
    info = ops.call_info(call.session.id)
    assert info is not None
    assert info["recent"][-2:] == [
        {"t": 12.5, "kind": "transition", "detail": "k"},
        {"t": 12.5, "kind": "state", "detail": "other/O"},
    ]
    assert ops.call_info("nobody") is None
