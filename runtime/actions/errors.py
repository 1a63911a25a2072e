"""Core actions that raise DSM exceptions (``engine.md`` 11.4, ``actions.md`` 14).

``throw`` builds the exception's parameter map from a ``k=v;k=v`` list and
``throwOnError`` turns a pending ``$errno`` into an exception (E-112, E-113).
Both raise through ``ctx.raise_dsm`` so that the session decides how the
exception round starts (section 8).
"""

from __future__ import annotations

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext

__all__ = ["pair_list", "throw", "throw_on_error"]


def pair_list(text: str) -> dict[str, str]:
    """Parse ``k=v;k=v…`` as ``throw`` does (E-112).

    Split at ``;`` and then at ``=``, dropping empty pieces at both levels;
    only pieces that give exactly two parts count (``a=`` and ``b=1=2`` are
    dropped, ``a==b`` gives ``a: b``); no trimming; later pairs win.
    """
    out: dict[str, str] = {}
    for piece in text.split(";"):
        if not piece:
            continue
        parts = [p for p in piece.split("=") if p]
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


@core.action("throw", style="P,opt")
def throw(ctx: ActionContext, type_: str = "", pairs: str = "", *_: str) -> None:
    """``throw(p1, p2)`` (E-112, A-core-83): raise ``{type: R(p1)}`` plus the pairs of ``R(p2)``.

    Only the whole ``p2`` is resolved, so ``throw(x, k=$v)`` stores the
    literal ``$v``; a pair named ``type`` overrides the type.
    """
    params = pair_list(ctx.resolve(pairs))
    kind = params.pop("type", None)
    ctx.raise_dsm(ctx.resolve(type_) if kind is None else kind, **params)


@core.action("throwOnError", style="N")
def throw_on_error(ctx: ActionContext, *_: str) -> None:
    """``throwOnError()`` (E-113, A-core-84): raise ``{type: $errno, text: $strerror}`` if ``$errno`` is set.

    Reading creates ``$errno`` (and, when raising, ``$strerror``) empty if
    missing, as the reference's variable access does.
    """
    vars = ctx.vars
    errno = vars.setdefault("errno", "")
    if not errno:
        return
    ctx.raise_dsm(errno, text=vars.setdefault("strerror", ""))
