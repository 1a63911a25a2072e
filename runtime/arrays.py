"""Arrays and structs: the operations that interpret variable names (E-16, E-17).

DSM has no containers; ``list[0]`` and ``rec.name`` are ordinary variable
names.  A handful of operations interpret such names, each with its own
matching rule, and several walk the variables "in name order" (unsigned
bytes, E-16).  They are collected here as pure functions over the session's
variable map so that the engine (``for`` loops), the core actions (``size``,
``arrayIndex``, ``clearArray``, ``clearStruct``), ``postEvent`` and
``B2B.relayEvent`` (E-130) and DI argument building (E-135) share one
implementation.

A plain prefix block is contiguous in name order, so the walks below first
pick the names with the relevant prefix (one pass over the map) and sort
only those, instead of sorting every variable of the session.
"""

from __future__ import annotations

from dsm.runtime.values import byte_key

__all__ = [
    "names_in_order",
    "array_items",
    "struct_items",
    "array_size",
    "array_index",
    "array_values",
    "clear_array",
    "clear_struct",
    "varlist_params",
]


def names_in_order(names: dict[str, str] | list[str]) -> list[str]:
    """The names sorted as unsigned byte strings (E-16)."""
    return sorted(names, key=byte_key)


def _drop_bytes(name: str, count: int) -> str:
    """``name`` without its first ``count`` bytes (the reference slices bytes)."""
    if name.isascii():
        return name[count:]
    return byte_key(name)[count:].decode("utf-8", "surrogateescape")


def array_items(vars: dict[str, str], name: str) -> list[str]:
    """Values visited by ``for ($c in A)`` over array ``name`` (E-68).

    Walks the variables in name order from the first name ``>= A[0]`` with
    ``i = 0``: a name not starting with ``A[i]`` bumps ``i`` once; if it
    still does not match, the walk stops; otherwise its value is the next
    item.  REFERENCE QUIRKs kept: members such as ``A[0].sub`` are items
    too; a gap ends the walk; with eleven or more elements ``A[10]`` sorts
    right after ``A[0]`` and stops the walk after the first item.

    Only names starting with ``A[`` can match, and they form one contiguous
    block in name order, so the walk runs over that block only.
    """
    opener = name + "["
    block = [k for k in vars if k.startswith(opener)]
    if not block:
        return []
    block.sort(key=byte_key)
    first = byte_key(opener + "0]")
    items: list[str] = []
    i = 0
    prefix = opener + "0]"
    for k in block:
        if byte_key(k) < first:
            continue
        if not k.startswith(prefix):
            i += 1
            prefix = f"{opener}{i}]"
            if not k.startswith(prefix):
                break
        items.append(vars[k])
    return items


def struct_items(vars: dict[str, str], name: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs visited by ``for ($k, $v in S)`` over struct ``name`` (E-69).

    Every variable whose name starts with ``S`` (plain prefix, no dot
    required), in name order; the key is the name without its first
    ``len(S) + 1`` bytes.  REFERENCE QUIRK kept: ``rec[0]`` gives key
    ``0]`` and ``recx`` the empty key.  A variable named exactly ``S``
    crashes the reference; it is skipped here.
    """
    block = [k for k in vars if k.startswith(name) and k != name]
    if not block:
        return []
    block.sort(key=byte_key)
    cut = len(name) + 1 if name.isascii() else len(byte_key(name)) + 1
    return [(_drop_bytes(k, cut), vars[k]) for k in block]


def array_size(vars: dict[str, str], name: str) -> int:
    """``size`` (E-104): count ``n`` while some variable name starts with ``A[n]``.

    The element itself or any member (``A[n].x``) counts; indices must be
    contiguous from 0, but unlike the array loop any length counts right.
    """
    opener = name + "["
    skip = len(opener)
    present: set[str] = set()
    for k in vars:
        if k.startswith(opener):
            close = k.find("]", skip)
            if close >= 0:
                present.add(k[skip:close])
    n = 0
    while str(n) in present:
        n += 1
    return n


def array_index(vars: dict[str, str], name: str, value: str) -> str:
    """``arrayIndex`` (E-105): first ``i`` with ``A[i] == value`` among contiguous ``A[0]``, ``A[1]`` …

    Returns the index in decimal, or ``nil`` when the walk reaches a
    missing ``A[i]`` without finding the value.
    """
    i = 0
    while True:
        v = vars.get(f"{name}[{i}]")
        if v is None:
            return "nil"
        if v == value:
            return str(i)
        i += 1


def array_values(vars: dict[str, str], name: str) -> list[str]:
    """Values of ``A[0]``, ``A[1]`` … up to the first missing index (DI ``(array)``, E-135)."""
    out: list[str] = []
    i = 0
    while True:
        v = vars.get(f"{name}[{i}]")
        if v is None:
            return out
        out.append(v)
        i += 1


def _delete_prefixed(vars: dict[str, str], prefix: str) -> None:
    for k in [k for k in vars if k.startswith(prefix)]:
        del vars[k]


def clear_array(vars: dict[str, str], name: str) -> None:
    """``clearArray`` (E-103): delete every variable named ``A[…`` (``A`` itself stays)."""
    _delete_prefixed(vars, name + "[")


def clear_struct(vars: dict[str, str], name: str) -> None:
    """``clearStruct`` (E-102): delete every variable named ``S.…`` (``S`` itself stays)."""
    _delete_prefixed(vars, name + ".")


def varlist_params(vars: dict[str, str], spec: str) -> dict[str, str]:
    """The parameter map that ``postEvent``/``B2B.relayEvent`` build from ``spec`` (E-130).

    ``spec`` is the already resolved text.  Empty → empty map; exactly
    ``var`` → a copy of all variables; otherwise ``;``-separated names
    (empty pieces dropped, no ``$`` removal): a name ending in ``.`` copies
    every variable with that prefix under its full name, any other name
    copies that variable if it exists.
    """
    if not spec:
        return {}
    if spec == "var":
        return dict(vars)
    out: dict[str, str] = {}
    for piece in spec.split(";"):
        if not piece:
            continue
        if piece.endswith("."):
            for k, v in vars.items():
                if k.startswith(piece):
                    out[k] = v
        else:
            found = vars.get(piece)
            if found is not None:
                out[piece] = found
    return out
