"""Argument styles: how an action's or condition's argument text is pre-split.

``language.md`` L-83 … L-88 (summary in ``actions.md`` 0.1).  Every split
function takes the argument text and returns ``(parts, problems)``: the parts
tuple the run time receives, and the reference's *logged errors* as plain
strings (the compiler turns them into warnings, L-92).  Splitting happens once
per token at compile time, never per event (L-82).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "split_N",
    "split_S",
    "split_P",
    "split_L",
    "split_T",
    "split_K",
    "split_raw",
    "splitter",
    "unquote_part",
    "Split",
]

Split = tuple[tuple[str, ...], list[str]]
_BLANKS = " \t"
_QUOTES = ("'", '"')  # a tuple, so that the empty prefix of an empty part is not "in" it


def split_N(text: str) -> Split:
    """Style N: the argument text is ignored (L-88)."""
    return (), []


def split_S(text: str) -> Split:
    """Style S (L-83): trim blanks, then strip the outer run of ``"`` (or else of ``'``)."""
    t = text.strip(_BLANKS)
    if t[:1] == '"':
        t = t.strip('"')
    elif t[:1] == "'":
        t = t.strip("'")
    return (t,), []


def unquote_part(part: str) -> str:
    """L-84 step 3: outer quote runs removed, then backslashes before that quote deleted.

    Deletion is repeated, so ``\\\\'`` also ends up as a bare quote.  A part
    that does not start with a quote is returned unchanged.
    """
    q = part[:1]
    if q != "'" and q != '"':
        return part
    part = part.strip(q)
    escaped = "\\" + q
    while escaped in part:
        part = part.replace(escaped, q)
    return part


def _find_separator(text: str, sep: str) -> int:
    """First ``sep`` outside quotes (L-84 step 1).

    REFERENCE QUIRK: backslashes do not affect quote tracking, so an escaped
    quote still opens or closes a quoted region.
    """
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c == sep:
            return i
        elif c == '"' or c == "'":
            quote = c
    return -1


def split_P(text: str, sep: str, mandatory: bool) -> Split:
    """Style P (L-84): two parts at the first unquoted separator."""
    i = text.find(sep)
    if i >= 0 and ('"' in text[:i] or "'" in text[:i]):
        i = _find_separator(text, sep)
    if i < 0:
        if mandatory:
            return ("", ""), [f"expected two arguments separated by {sep!r} in {text!r}"]
        p1 = text.strip(_BLANKS)
        if p1[:1] in _QUOTES:
            p1 = unquote_part(p1)
        return (p1, ""), []
    p1 = text[:i].strip(_BLANKS)
    p2 = text[i + 1 :].strip(_BLANKS)
    if p1[:1] in _QUOTES:
        p1 = unquote_part(p1)
    if p2[:1] in _QUOTES:
        p2 = unquote_part(p2)
    if mandatory and (not p1 or not p2):
        which = "first" if not p1 else "second"
        return (p1, p2), [f"empty {which} argument in {text!r}"]
    return (p1, p2), []


def split_L(text: str) -> Split:
    """Style L (L-85): split at every ``,`` ignoring quotes; empty pieces dropped."""
    pieces = tuple(p for p in text.split(",") if p)
    if len(pieces) < 2:
        return pieces, [f"DI call needs at least a component and a function name, got {text!r}"]
    return pieces, []


_OPERATORS = ("==", "!=", "<", ">")


def split_T(text: str) -> Split:
    """Style T (L-86): ``(op, left, right)``; ``()`` when empty; ``("", "", "")`` if no operator.

    The operator search order is ``==``, ``!=``, ``<``, ``>`` over the whole
    text (so ``$a != b==c`` splits at ``==``); operands are trimmed of spaces
    only, never tabs.
    """
    if not text:
        return (), []
    for op in _OPERATORS:
        i = text.find(op)
        if i >= 0:
            return (op, text[:i].strip(" "), text[i + len(op) :].strip(" ")), []
    return ("", "", ""), [
        f"test expression {text!r} has no operator (==, !=, <, >); it never matches"
    ]


def split_K(text: str) -> Split:
    """Style K (L-87): the literal text, untouched."""
    return (text,), []


def split_raw(text: str) -> Split:
    """The argument text verbatim, for modules that parse their own arguments."""
    return (text,), []


def _pair(sep: str, mandatory: bool) -> Callable[[str], Split]:
    def split(text: str) -> Split:
        return split_P(text, sep, mandatory)

    split.__name__ = f"split_P{sep}{'mand' if mandatory else 'opt'}"
    return split


_BY_STYLE: dict[str, Callable[[str], Split]] = {
    "N": split_N,
    "S": split_S,
    "P,opt": _pair(",", False),
    "P,mand": _pair(",", True),
    "P=opt": _pair("=", False),
    "P=mand": _pair("=", True),
    "L": split_L,
    "T": split_T,
    "K": split_K,
    "raw": split_raw,
}


def splitter(style: str) -> Callable[[str], Split]:
    """The split function for a style code (see :mod:`dsm.vocabulary`)."""
    return _BY_STYLE[style]
