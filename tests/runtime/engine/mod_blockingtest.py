"""A DSM module with blocking actions and conditions, for the resumable executor's tests."""

from __future__ import annotations

from typing import Any

from dsm.runtime.errors import DSMException
from dsm.runtime.registry import Module

module = Module("mod_blockingtest")


@module.action("blk.work", style="S", blocking=True)
def work(ctx: Any, arg: str = "", *_: str) -> None:
    """Append ``R(arg)`` to ``$done`` (the order in which blocking work ran)."""
    done = ctx.vars.get("done", "")
    ctx.vars["done"] = f"{done},{ctx.resolve(arg)}" if done else ctx.resolve(arg)


@module.action("blk.fail", style="S", blocking=True)
def fail(ctx: Any, arg: str = "", *_: str) -> None:
    raise DSMException(ctx.resolve(arg) or "blk", {"cause": "blocking call failed"})


@module.action("blk.crash", style="S", blocking=True)
def crash(ctx: Any, *_: str) -> None:
    raise ValueError("crashed in a worker")


@module.condition("blk.is", style="S", blocking=True)
def is_one(ctx: Any, arg: str = "", *_: str) -> bool:
    return ctx.resolve(arg) == "1"



@module.action("gate.wait", style="S", blocking=True)
def gate_wait(ctx: Any, arg: str = "", *_: str) -> None:
    """Note ``R(arg)`` in the ``entered`` object (a list), wait for the ``gate`` object (an event,
    at most 30 s), then set ``$gated``: a stalled dependency in the pool's ``gate`` lane."""
    ctx.objects["entered"].append(ctx.resolve(arg))
    ctx.vars["gated"] = "1" if ctx.objects["gate"].wait(30) else "timeout"
