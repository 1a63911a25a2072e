"""Events between sessions: ``postEvent``, event queues, ``createSystemDSM`` (``engine.md`` section 14, 16).

Posting is always asynchronous (E-147): the event is queued to the owning
session and processed by the engine after the current event.  Parameter
maps are built from variable lists exactly as E-130 says
(:func:`dsm.runtime.arrays.varlist_params`).
"""

from __future__ import annotations

from typing import Any

from dsm.runtime.actions.core import core
from dsm.runtime.arrays import varlist_params
from dsm.runtime.context import ActionContext

__all__ = ["post_event", "register_event_queue", "unregister_event_queue", "create_system_dsm"]


@core.action("postEvent", style="P,opt")
def post_event(ctx: ActionContext, target: str = "", spec: str = "", *_: str) -> None:
    """``postEvent(target, varlist)`` (A-core-79, E-116).

    Unknown target (or a session that has ended) → ``errno = arg``,
    ``strerror = event could not be posted\\n``; otherwise errno cleared.
    """
    address = ctx.resolve(target)
    params = varlist_params(ctx.vars, ctx.resolve(spec))
    if ctx.engine.post_event(address, params):
        ctx.clear_error()
    else:
        ctx.set_error("arg", "event could not be posted\n")


@core.action("registerEventQueue", style="S")
def register_event_queue(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``registerEventQueue(name)`` (A-core-80, E-117): a taken name is silently kept by its owner."""
    address = ctx.resolve(name)
    if not address:
        ctx.log(1, "registerEventQueue: registering an empty queue name")
    session: Any = ctx
    ctx.engine.register_address(address, session)


@core.action("unregisterEventQueue", style="S")
def unregister_event_queue(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``unregisterEventQueue(name)`` (A-core-81): removes the address whoever owns it."""
    address = ctx.resolve(name)
    if not address:
        ctx.log(1, "unregisterEventQueue: empty queue name")
    ctx.engine.unregister_address(address)


@core.action("createSystemDSM", style="P,mand")
def create_system_dsm(ctx: ActionContext, conf: str = "", diagram: str = "", *_: str) -> None:
    """``createSystemDSM(config, diagram)`` (A-core-82, E-118).

    Starts the system DSM asynchronously; an unknown diagram is only noticed
    by the new session's start.  Errors are ``core`` exceptions.
    """
    ctx.engine.create_system_dsm(ctx.resolve(conf), ctx.resolve(diagram))
