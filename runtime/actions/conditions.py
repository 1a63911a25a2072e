"""Every core condition (``actions.md`` 16, ``engine.md`` section 5).

All core conditions but ``keyPress`` are style T: an event-type filter plus
an optional test expression (E-43 … E-48).  They are registered on the core
module with the event types of :data:`dsm.vocabulary.CORE_CONDITIONS`; the
executable form (:mod:`dsm.runtime.executable`) recognises them through the
``generic_test`` marker and compiles each use into a closure, so the
functions below only run when someone calls a condition directly.  They
compute the *predicate* only; the event filter and ``not`` are applied by
the caller (E-40).
"""

from __future__ import annotations

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext
from dsm.runtime.registry import ConditionDef
from dsm.runtime.values import test_condition
from dsm.vocabulary import CORE_CONDITIONS

__all__ = ["test_predicate", "key_press_predicate"]


def test_predicate(ctx: ActionContext, *args: str) -> bool:
    """Predicate of a style-T condition: empty → true, no operator → false (E-43)."""
    return test_condition(args, ctx.vars, ctx.params, ctx.select)


def key_press_predicate(ctx: ActionContext, key: str = "", *_: str) -> bool:
    """``keyPress(k)`` (E-42): params absent, or ``#key`` exists and equals ``k`` literally."""
    params = ctx.params
    return params is None or params.get("key") == key


test_predicate.generic_test = True  # type: ignore[attr-defined]
key_press_predicate.generic_test = True  # type: ignore[attr-defined]

for _name, _sig in CORE_CONDITIONS.items():
    core.conditions[_name] = ConditionDef(
        _sig, key_press_predicate if _sig.style == "K" else test_predicate
    )
