"""The virtual clock: deterministic, millisecond-exact time (docs/architecture.md, engine.md 13)."""

from __future__ import annotations

import asyncio

import pytest

from dsm.runtime.clock import AsyncioClock, VirtualClock


def test_due_callbacks_run_in_time_then_schedule_order() -> None:
    c = VirtualClock()
    out: list[str] = []
    c.call_at(2.0, lambda: out.append("b"))
    c.call_at(1.0, lambda: out.append("a"))
    c.call_at(2.0, lambda: out.append("c"))
    assert c.advance(1.999) == 1 and out == ["a"]
    c.advance(0.001)
    assert out == ["a", "b", "c"] and c.now() == 2.0


def test_many_small_advances_are_exact() -> None:
    c = VirtualClock()
    hit: list[float] = []
    c.call_at(1.0, lambda: hit.append(c.now()))
    for _ in range(999):
        c.advance(0.001)
    assert not hit
    c.advance(0.001)
    assert hit == [1.0]


def test_cancel_and_chained_scheduling() -> None:
    c = VirtualClock()
    out: list[float] = []
    h = c.call_at(1, lambda: out.append(-1))
    h.cancel()
    c.call_at(1, lambda: c.call_at(c.now() + 1, lambda: out.append(c.now())))
    c.advance(5)
    assert out == [2.0] and c.now() == 5.0 and c.pending() == 0


def test_backwards_refused() -> None:
    with pytest.raises(ValueError):
        VirtualClock().advance(-1)


def test_asyncio_clock_uses_loop_time() -> None:
    async def main() -> list[int]:
        clock = AsyncioClock()
        fired: list[int] = []
        clock.call_at(clock.now() + 0.001, lambda: fired.append(1))
        await asyncio.sleep(0.05)
        return fired

    assert asyncio.run(main()) == [1]
