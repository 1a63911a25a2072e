"""Flow actions: ``repost``, ``jumpFSM``, ``callFSM``, ``returnFSM``, ``break``, ``stop``.

The first five act on the action list being executed (they interrupt it,
save its remainder or set the round's repost flag, ``engine.md`` E-60 …
E-62, E-82 … E-86), so the session's executor runs them itself: each
function here carries a ``flow_op`` code that :mod:`dsm.runtime.executable`
binds instead of a call.  Calling one of them directly (outside the
executor) is a programming error and says so.  ``stop`` is an ordinary
action (E-111).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext
from dsm.runtime.executable import OP_BREAK, OP_CALL, OP_JUMP, OP_REPOST, OP_RETURN

__all__ = ["repost", "jump_fsm", "call_fsm", "return_fsm", "break_", "stop"]


def _flow(op: int, name: str) -> Callable[..., None]:
    def run(ctx: Any, *_: str) -> None:
        raise RuntimeError(f"{name} is a flow action; only the session executor can run it")

    run.flow_op = op  # type: ignore[attr-defined]
    run.__name__ = name
    run.__doc__ = f"``{name}``: executed by the session's executor (op {op})."
    return run


repost = core.action("repost", style="N")(_flow(OP_REPOST, "repost"))
"""A-core-1 / E-61: set the round's repost flag; the list goes on."""

jump_fsm = core.action("jumpFSM", style="S")(_flow(OP_JUMP, "jumpFSM"))
"""A-core-2 / E-82."""

call_fsm = core.action("callFSM", style="S")(_flow(OP_CALL, "callFSM"))
"""A-core-3 / E-83, E-84."""

return_fsm = core.action("returnFSM", style="N")(_flow(OP_RETURN, "returnFSM"))
"""A-core-4 / E-85."""

break_ = core.action("break", style="N")(_flow(OP_BREAK, "break"))
"""A-core-5 / E-62."""


@core.action("stop", style="S")
def stop(ctx: ActionContext, flag: str = "", *_: str) -> None:
    """``stop(send_bye)`` (A-core-6, E-111).

    BYE first when ``R(a)`` is exactly ``true``; then the session is marked
    stopped.  The list is *not* interrupted and queued events are still
    processed; the engine ends the session afterwards.
    """
    if ctx.resolve(flag) == "true":
        ctx.call.bye()
    session: Any = ctx
    session.stop()
