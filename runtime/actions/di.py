"""``DI``, ``DIgetResult``, ``DIgetResultArray``: calls into other server components (E-133 … E-137).

Components are the engine's registry ``engine.di`` (name →
:class:`dsm.runtime.engine.DIComponent`).  Every failure is reported through
``$errno``/``$strerror`` with the reference's texts; no exception escapes.
Argument pieces come pre-split at every comma (style L, L-85).

On a server a call into a component that waits does not hold the loop: a
component declared ``blocking`` runs on the worker pool, and one that
splits a call (:meth:`DIComponent.offload`, e.g. ``reloadDSMs``: compile
on the pool, swap on the loop) runs its two halves there and here, while
the session waits (:class:`~dsm.runtime.resumable.Offload`).
"""

from __future__ import annotations

import json
from typing import Any

from dsm.runtime import arrays
from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext
from dsm.runtime.resumable import Offload
from dsm.runtime.values import parse_cnum

__all__ = ["build_struct", "di_call", "DI_MODES"]

DI_MODES = ("DI", "DIgetResult", "DIgetResultArray")


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def build_struct(ctx: ActionContext, name: str) -> dict[str, Any]:
    """``(struct)S`` (E-135): nested dicts from the variables ``S.…`` in name order.

    A path that runs into a key already holding a string is dropped with a
    warning.
    """
    root: dict[str, Any] = {}
    prefix = name + "."
    for var in arrays.names_in_order([k for k in ctx.vars if k.startswith(prefix)]):
        path = var[len(prefix) :].split(".")
        node = root
        ok = True
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                ctx.log(1, f"DI (struct)'{name}': '{var}' shadowed by a value, dropped")
                ok = False
                break
            node = child
        if not ok:
            continue
        leaf = path[-1]
        if isinstance(node.get(leaf), dict):
            ctx.log(1, f"DI (struct)'{name}': '{var}' collides with a struct member, dropped")
            continue
        node[leaf] = ctx.vars[var]
    return root


class _Abort(Exception):
    pass


def _argument(ctx: ActionContext, piece: str) -> Any:
    p = piece.strip(" \t")
    if p.startswith('"'):
        return p.strip('"')
    if len(p) > 5 and p.startswith("(int)"):
        r = ctx.resolve(p[5:])
        n = parse_cnum(r)
        if n is None:
            ctx.set_error("arg", f"converting value '{r}' to int\n")
            raise _Abort
        return _to_int32(n)
    if len(p) > 8 and p.startswith("(struct)"):
        return build_struct(ctx, p[8:])
    if len(p) > 7 and p.startswith("(array)"):
        return arrays.array_values(ctx.vars, p[7:])
    if len(p) > 6 and p.startswith("(json)"):
        rest = p[6:]
        text = rest.strip('"') if rest.startswith('"') else ctx.resolve(rest)
        try:
            return json.loads(text)
        except ValueError as exc:
            ctx.log(1, f"DI (json) argument not parsable: {exc}")
            return None
    return ctx.resolve(p)


def _convert(ctx: ActionContext, result: Any, as_array: bool) -> bool:
    """E-137; returns ``False`` when an unsupported list element was met."""
    vars = ctx.vars
    if isinstance(result, bool):
        return True
    if isinstance(result, str):
        vars["DI_res"] = result
        return True
    if isinstance(result, int):
        vars["DI_res"] = str(result)
        return True
    if isinstance(result, list | tuple):
        ok = True
        for i, el in enumerate(result):
            if isinstance(el, str):
                text = el
            elif isinstance(el, int) and not isinstance(el, bool):
                text = str(el)
            else:
                ctx.set_error("arg", "unsupported AmArg return type")
                ok = False
                continue
            vars[f"DI_res[{i}]" if as_array else f"DI_res{i}"] = text
        if as_array:
            vars["DI_res_size"] = str(len(result))
        return ok
    return True


def di_call(ctx: ActionContext, mode: str, pieces: tuple[str, ...]) -> Offload | None:
    """The common body of the three DI actions; an :class:`Offload` when the call waits off the loop."""
    token = f"{mode}({','.join(pieces)})"
    if len(pieces) < 2:
        ctx.set_error(
            "arg", f"DI needs at least: mod_name, function_name (in '{token}%s')\n"
        )  # E-133 REFERENCE QUIRK: the literal %s
        return None
    factory = pieces[0].strip(' "')
    component = ctx.engine.di.get(factory)
    if component is None:
        ctx.set_error("config", f"load module for factory '{factory}'.\n")
        return None
    function = pieces[1].strip(' "')
    try:
        args = [_argument(ctx, p) for p in pieces[2:]]
    except _Abort:
        return None
    session: Any = ctx
    session.di_result = None
    if getattr(ctx, "can_park", False):
        # On a server: a component that waits runs on the worker pool meanwhile (issue 14).
        if component.blocking:
            return Offload(
                lambda: _attempt(lambda: component.invoke(function, args)),
                lambda value: _store(ctx, mode, token, function, value),
            )
        split = component.offload(function, args)
        if split is not None:
            work, finish = split
            return Offload(
                lambda: _attempt(work),
                lambda value: _store(
                    ctx, mode, token, function, value if isinstance(value, _Failed) else _attempt(lambda: finish(value))
                ),
            )
    _store(ctx, mode, token, function, _attempt(lambda: component.invoke(function, args)))
    return None


class _Failed:
    """An exception raised by a component, carried across threads as a value."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _attempt(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        return _Failed(exc)


def _store(ctx: ActionContext, mode: str, token: str, function: str, result: Any) -> None:
    """The outcome of a component call as ``$errno`` and ``$DI_res…`` (E-134, E-137)."""
    if isinstance(result, _Failed):
        exc = result.exc
        if isinstance(exc, NotImplementedError):
            ctx.set_error("arg", f"not implemented DI function '{function}'\n")
        elif isinstance(exc, IndexError):
            ctx.set_error("arg", f"out of bounds in  DI call '{token}'\n")
        elif isinstance(exc, TypeError):
            ctx.set_error("arg", f"type mismatch in  DI call '{token}'\n")
        else:
            ctx.set_error("arg", f"unexpected Exception in  DI call '{token}'\n")
        return
    session: Any = ctx
    session.di_result = result
    if mode == "DI" or _convert(ctx, result, mode == "DIgetResultArray"):
        ctx.clear_error()


@core.action("DI", style="L")
def di(ctx: ActionContext, *pieces: str) -> Offload | None:
    """A-core-76: call a component function; the result is only stored."""
    return di_call(ctx, "DI", pieces)


@core.action("DIgetResult", style="L")
def di_get_result(ctx: ActionContext, *pieces: str) -> Offload | None:
    """A-core-77: as ``DI``; string/int → ``$DI_res``, list → ``$DI_res0``, ``$DI_res1`` …"""
    return di_call(ctx, "DIgetResult", pieces)


@core.action("DIgetResultArray", style="L")
def di_get_result_array(ctx: ActionContext, *pieces: str) -> Offload | None:
    """A-core-78: as ``DIgetResult``; list → ``$DI_res[i]`` and ``$DI_res_size``."""
    return di_call(ctx, "DIgetResultArray", pieces)


# A DI call may wait off the loop (a blocking component, reloadDSMs' compile): sessions
# of charts that use DI can park (dsm.runtime.resumable).
di.offloads = di_get_result.offloads = di_get_result_array.offloads = True  # type: ignore[attr-defined]
