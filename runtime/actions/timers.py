"""Timer actions: ``setTimer``, ``removeTimer``, ``removeTimers`` (``engine.md`` E-114, E-115, section 13).

Timers live on the engine's clock, one per id and session; the session
queues a Timer event with ``#id`` when one fires.  Failures set ``$errno``
to ``arg`` with the reference's texts (including the trailing newline);
success clears ``$errno`` (E-141).
"""

from __future__ import annotations

from typing import Any

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext
from dsm.runtime.values import parse_uint, resolve

__all__ = ["set_timer", "remove_timer", "remove_timers"]

_literal: dict[str, tuple[str, int | None]] = {}


def _no_select(name: str) -> str:
    return ""


def _uint_arg(ctx: ActionContext, text: str) -> tuple[str, int | None]:
    """``(R(text), UINT(R(text)))``.

    R of a text that does not start with ``$``, ``#`` or ``@`` depends on the
    text alone (E-22), and timer arguments are mostly such literals, so
    those results are memoised.
    """
    if text[:1] in ("$", "#", "@"):
        r = ctx.resolve(text)
        return r, parse_uint(r)
    try:
        return _literal[text]
    except KeyError:
        r = resolve(text, {}, None, _no_select)
        got = (r, parse_uint(r))
        if len(_literal) > 4096:
            _literal.clear()
        _literal[text] = got
        return got


@core.action("setTimer", style="P,mand")
def set_timer(ctx: ActionContext, id_text: str = "", seconds_text: str = "", *_: str) -> None:
    """``setTimer(id, seconds)`` (A-core-63): both ``UINT(R(…))``; whole seconds only."""
    rid, tid = _uint_arg(ctx, id_text)
    if tid is None:
        ctx.set_error("arg", f"timer id '{rid}' not decipherable\n")
        return
    rsec, seconds = _uint_arg(ctx, seconds_text)
    if seconds is None:
        ctx.set_error("arg", f"timeout value '{rsec}' not decipherable\n")
        return
    session: Any = ctx
    session.set_timer(tid, seconds)
    ctx.clear_error()


@core.action("removeTimer", style="S")
def remove_timer(ctx: ActionContext, id_text: str = "", *_: str) -> None:
    """``removeTimer(id)`` (A-core-64): cancelling a timer that is not running is fine."""
    rid, tid = _uint_arg(ctx, id_text)
    if tid is None:
        ctx.set_error("arg", f"timer id '{rid}' not decipherable\n")
        return
    session: Any = ctx
    session.remove_timer(tid)
    ctx.clear_error()


@core.action("removeTimers", style="N")
def remove_timers(ctx: ActionContext, *_: str) -> None:
    """``removeTimers()`` (A-core-65): cancel all timers of the session."""
    session: Any = ctx
    session.remove_timers()
    ctx.clear_error()
