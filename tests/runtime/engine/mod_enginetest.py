"""A DSM module used by the engine tests (found through ``mod_path``)."""

from __future__ import annotations

from typing import Any

from dsm.runtime.registry import Module

module = Module("mod_enginetest")
hook_calls: list[tuple[str, Any]] = []


@module.action("t.raise", style="P,opt")
def raise_now(ctx: Any, event_type: str = "", key: str = "", *_: str) -> None:
    """Make the host raise ``event_type`` synchronously (E-51)."""
    ctx.process(ctx.resolve(event_type), {"key": key} if key else None)


@module.action("t.boom", style="S")
def boom(ctx: Any, *_: str) -> None:
    raise ZeroDivisionError("boom")


@module.condition("t.boomCond", style="S")
def boom_cond(ctx: Any, *_: str) -> bool:
    raise KeyError("bad condition")


@module.condition("t.isSet", style="S")
def is_set(ctx: Any, name: str = "", *_: str) -> bool:
    return bool(ctx.vars.get(name.lstrip("$")))


@module.on_invite
def on_invite(request: Any, session: Any) -> bool:
    hook_calls.append(("invite", request))
    return request != "veto"


@module.on_before_destroy
def on_before_destroy(session: Any, call: Any) -> None:
    hook_calls.append(("destroy", session.id))


@module.preload
def preload(config: dict[str, str]) -> int:
    hook_calls.append(("preload", config.get("fail_preload", "")))
    return 1 if config.get("fail_preload") == "yes" else 0
