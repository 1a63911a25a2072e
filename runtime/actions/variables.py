"""Core actions on variables, arrays and structs (``engine.md`` 11.1, ``actions.md`` 3 and 4).

Every function here is registered on the core module with the argument style
the language layer's :data:`dsm.vocabulary.CORE_ACTIONS` gives it, and
receives the compile-time parts of its argument (``p1``, ``p2`` for style P,
``a`` for style S).  Arguments that *name* a variable are taken literally
with one leading ``$`` removed (``strip$``, L-91.14: ``set(n=1)`` and
``set($n=1)`` are the same); arguments described as values are resolved with
``R`` (``sets`` interpolates, ``eval`` computes).  None of these actions
touches ``errno`` (E-141).

Parts default to ``""`` so that a malformed call (which the compiler already
reported, L-84) runs as the reference runs it instead of raising a Python
error.
"""

from __future__ import annotations

from dsm.runtime.actions.core import core
from dsm.runtime.arrays import array_index, array_size, clear_array, clear_struct
from dsm.runtime.context import ActionContext
from dsm.runtime.values import byte_key, evaluate, parse_uint, strip_dollar

__all__ = [
    "set_",
    "sets",
    "eval_",
    "set_var",
    "var",
    "param",
    "append",
    "substr",
    "inc",
    "clear",
    "clear_struct_action",
    "clear_array_action",
    "size",
    "array_index_action",
]


def _assign(ctx: ActionContext, target: str, value: str) -> None:
    """Write ``value`` to ``#param`` (only when params are present, E-18) or to ``strip$(target)``."""
    if target[:1] == "#":
        params = ctx.params
        if params is not None:
            params[target[1:]] = value
        return
    ctx.vars[strip_dollar(target)] = value


@core.action("set", style="P=mand")
def set_(ctx: ActionContext, target: str = "", value: str = "", *_: str) -> None:
    """``set(p1=p2)`` (E-92, A-core-7): the variable or ``#param`` ``p1`` := ``R(p2)``."""
    _assign(ctx, target, ctx.resolve(value))


@core.action("sets", style="P=mand")
def sets(ctx: ActionContext, target: str = "", text: str = "", *_: str) -> None:
    """``sets(p1=p2)`` (E-93, A-core-8): as ``set`` with the interpolated ``I(p2)``."""
    _assign(ctx, target, ctx.interpolate(text))


@core.action("eval", style="P=mand")
def eval_(ctx: ActionContext, target: str = "", expression: str = "", *_: str) -> None:
    """``eval(p1=p2)`` (E-94, A-core-9): variable ``strip$(p1)`` := ``E(p2)``; no ``#`` form."""
    ctx.vars[strip_dollar(target)] = evaluate(expression, ctx.vars, ctx.params, ctx.select)


@core.action("setVar", style="P=mand")
def set_var(ctx: ActionContext, name: str = "", value: str = "", *_: str) -> None:
    """``setVar(p1=p2)`` (E-95, A-core-10): the variable *named* ``R(p1)`` := ``R(p2)``."""
    ctx.vars[ctx.resolve(name)] = ctx.resolve(value)


@core.action("var", style="P=mand")
def var(ctx: ActionContext, target: str = "", source: str = "", *_: str) -> None:
    """``var(p1=p2)`` (E-96, A-core-11): ``strip$(p1)`` := the variable named ``R(p2)``.

    REFERENCE QUIRK (E-96): a missing source variable is created, empty.
    """
    vars = ctx.vars
    value = vars.setdefault(ctx.resolve(source), "")
    vars[strip_dollar(target)] = value


@core.action("param", style="P=mand")
def param(ctx: ActionContext, target: str = "", name: str = "", *_: str) -> None:
    """``param(p1=p2)`` (E-97, A-core-12): ``strip$(p1)`` := parameter ``R(p2)`` (or empty).

    The target is always written, also when params are absent.
    """
    params = ctx.params
    key = ctx.resolve(name)
    ctx.vars[strip_dollar(target)] = "" if params is None else params.get(key, "")


@core.action("append", style="P,mand")
def append(ctx: ActionContext, target: str = "", value: str = "", *_: str) -> None:
    """``append(p1, p2)`` (E-98, A-core-13): append ``R(p2)``; the variable is created if missing."""
    name = strip_dollar(target)
    vars = ctx.vars
    vars[name] = vars.get(name, "") + ctx.resolve(value)


def _byte_slice(s: str, start: int, stop: int | None) -> str:
    """``s[start:stop]`` counted in bytes, as the reference's strings are."""
    if s.isascii():
        return s[start:stop]
    return byte_key(s)[start:stop].decode("utf-8", "surrogateescape")


@core.action("substr", style="P,mand")
def substr(ctx: ActionContext, target: str = "", spec: str = "", *_: str) -> None:
    """``substr(p1, p2)`` (E-99, A-core-14): keep a part of variable ``strip$(p1)``.

    ``p2`` is ``pos`` or ``pos,len`` (split at its first comma, each piece
    resolved and parsed with ``UINT``).  A bad number or a ``pos`` beyond
    the end is a logged error and changes nothing (the variable is still
    created empty if missing).  REFERENCE QUIRK (E-99): ``len`` 0 means "to
    the end".
    """
    name = strip_dollar(target)
    comma = spec.find(",")
    if comma >= 0:
        pos_text = ctx.resolve(spec[:comma])
        len_text = ctx.resolve(spec[comma + 1 :])
    else:
        pos_text = ctx.resolve(spec)
        len_text = ""
    pos = parse_uint(pos_text)
    length = parse_uint(len_text)
    if pos is None or length is None:
        bad = pos_text if pos is None else len_text
        ctx.log(0, f"substr: cannot parse number '{bad}'")
        return
    vars = ctx.vars
    s = vars.setdefault(name, "")
    size = len(s) if s.isascii() else len(byte_key(s))
    if pos > size:
        ctx.log(0, f"substr: position {pos} is beyond the end of ${name} (length {size})")
        return
    vars[name] = _byte_slice(s, pos, None if length == 0 else pos + length)


@core.action("inc", style="S")
def inc(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``inc(a)`` (E-100, A-core-15): ``strip$(a)`` := ``UINT(value) + 1`` modulo 2**32.

    Values that do not parse (negative numbers, text) count as 0.
    """
    key = strip_dollar(name)
    vars = ctx.vars
    current = parse_uint(vars.get(key, "")) or 0
    vars[key] = str((current + 1) & 0xFFFFFFFF)


@core.action("clear", style="S")
def clear(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``clear(a)`` (E-101, A-core-16): delete exactly the variable ``strip$(a)``."""
    ctx.vars.pop(strip_dollar(name), None)


@core.action("clearStruct", style="S")
def clear_struct_action(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``clearStruct(a)`` (E-102, A-core-17): delete every ``strip$(a).…`` variable."""
    clear_struct(ctx.vars, strip_dollar(name))


@core.action("clearArray", style="S")
def clear_array_action(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``clearArray(a)`` (E-103, A-core-18): delete every ``strip$(a)[…`` variable."""
    clear_array(ctx.vars, strip_dollar(name))


@core.action("size", style="P,mand")
def size(ctx: ActionContext, array: str = "", target: str = "", *_: str) -> None:
    """``size(p1, p2)`` (E-104, A-core-19): ``strip$(p2)`` := element count of array ``strip$(p1)``."""
    vars = ctx.vars
    vars[strip_dollar(target)] = str(array_size(vars, strip_dollar(array)))


@core.action("arrayIndex", style="P,mand")
def array_index_action(ctx: ActionContext, array: str = "", value: str = "", *_: str) -> None:
    """``arrayIndex(p1, p2)`` (E-105, A-core-20): index of ``R(p2)`` in array ``strip$(p1)``.

    The result (``nil`` when absent) goes to ``strip$(p2).index`` when
    ``p2`` is written with ``$``, else to ``index``.
    """
    vars = ctx.vars
    result = array_index(vars, strip_dollar(array), ctx.resolve(value))
    dest = value[1:] + ".index" if value[:1] == "$" else "index"
    vars[dest] = result
