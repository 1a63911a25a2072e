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
    "CHECKS",
    "unquote_part",
    "quick_splitter",
    "Parts",
    "QuickSplit",
    "Split",
]

Parts = tuple[str, ...]
Split = tuple[Parts, list[str]]
QuickSplit = Callable[[str], "Parts | None"]
_BLANKS = " \t"
_QUOTES = ("'", '"')  # a tuple, so that the empty prefix of an empty part is not "in" it


def split_N(text: str) -> Split:
    """Style N: the argument text is ignored (L-88)."""
    return (), []


def parts_S(text: str) -> Parts:
    """Style S (L-83): trim blanks, then strip the outer run of ``"`` (or else of ``'``)."""
    t = text.strip(_BLANKS)
    if t:
        q = t[0]
        if q == '"' or q == "'":
            t = t.strip(q)
    return (t,)


def split_S(text: str) -> Split:
    """Style S (L-83); it never logs an error."""
    return parts_S(text), []


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


def _parts_at_separator(text: str, sep: str) -> tuple[str, str] | None:
    """L-84 steps 1-3 when a separator is found: both parts trimmed and unquoted, else ``None``."""
    i = text.find(sep)
    if i >= 0 and ('"' in text[:i] or "'" in text[:i]):
        i = _find_separator(text, sep)
    if i < 0:
        return None
    p1 = text[:i].strip(_BLANKS)
    p2 = text[i + 1 :].strip(_BLANKS)
    if p1[:1] in _QUOTES:
        p1 = unquote_part(p1)
    if p2[:1] in _QUOTES:
        p2 = unquote_part(p2)
    return p1, p2


def _single(text: str) -> str:
    """L-84 without a separator (optional form): the whole text is the first part."""
    p1 = text.strip(_BLANKS)
    if p1[:1] in _QUOTES:
        p1 = unquote_part(p1)
    return p1


def split_P(text: str, sep: str, mandatory: bool) -> Split:
    """Style P (L-84): two parts at the first unquoted separator."""
    pair = _parts_at_separator(text, sep)
    if pair is None:
        if mandatory:
            return ("", ""), [f"expected two arguments separated by {sep!r} in {text!r}"]
        return (_single(text), ""), []
    p1, p2 = pair
    if mandatory and (not p1 or not p2):
        which = "first" if not p1 else "second"
        return pair, [f"empty {which} argument in {text!r}"]
    return pair, []


def split_L(text: str) -> Split:
    """Style L (L-85): split at every ``,`` ignoring quotes; empty pieces dropped."""
    pieces = tuple(p for p in text.split(",") if p)
    if len(pieces) < 2:
        return pieces, [f"DI call needs at least a component and a function name, got {text!r}"]
    return pieces, []


_OPERATORS = ("==", "!=", "<", ">")


def parts_T(text: str) -> Parts | None:
    """Style T's parts (see :func:`split_T`), or ``None`` when no operator is found."""
    if not text:
        return ()
    for op in _OPERATORS:
        i = text.find(op)
        if i >= 0:
            return (op, text[:i].strip(" "), text[i + len(op) :].strip(" "))
    return None


def split_T(text: str) -> Split:
    """Style T (L-86): ``(op, left, right)``; ``()`` when empty; ``("", "", "")`` if no operator.

    The operator search order is ``==``, ``!=``, ``<``, ``>`` over the whole
    text (so ``$a != b==c`` splits at ``==``); operands are trimmed of spaces
    only, never tabs.
    """
    parts = parts_T(text)
    if parts is None:
        return ("", "", ""), [
            f"test expression {text!r} has no operator (==, !=, <, >); it never matches"
        ]
    return parts, []


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


# -- checks a module may ask for by name ------------------------------------------
#
# The compiler runs no module code, so a module cannot bring its own split
# function to the compile.  It may name one of these checks instead
# (``module.action("py", "raw", check="python-exec")``): the argument is kept
# verbatim, and what the check finds becomes warning W015.  ``compile()`` only
# translates the text to byte code; it does not run it.


def _python(mode: str) -> Callable[[str], Split]:
    def check(text: str) -> Split:
        try:
            compile(text, "<dsm py>", mode, dont_inherit=True)
        except SyntaxError as exc:
            where = f" (line {exc.lineno} of the code)" if exc.lineno else ""
            return (text,), [f"Python syntax error: {exc.msg}{where}"]
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, deep nesting
            return (text,), [f"Python syntax error: {exc}"]
        return (text,), []

    return check


CHECKS: dict[str, Callable[[str], Split]] = {
    "python-exec": _python("exec"),
    "python-eval": _python("eval"),
}
"""Argument checks by name: ``raw`` parts plus the problems found (W015)."""


# -- quick splitting for the compiler's hot path ------------------------------------
#
# The compiler splits the arguments of every action and condition token.  The
# functions above return the parts *and* a list of logged errors, which costs a
# list per token although almost no argument has a problem.  A quick splitter
# returns only the parts, or ``None`` exactly when the full split would log an
# error; the caller then runs the full split to get the messages.  The parts
# are always those of the full split (``tests/dsm/test_styles.py`` checks
# this for every style on random text).


def _parts_N(text: str) -> Parts:
    return ()


def _parts_K(text: str) -> Parts:
    return (text,)


def _parts_L(text: str) -> Parts | None:
    pieces = tuple(p for p in text.split(",") if p)
    return pieces if len(pieces) >= 2 else None


def _quick_pair(sep: str, mandatory: bool) -> QuickSplit:
    """Style P, quick: without a quote before the first separator, that separator is the one."""

    def parts(text: str) -> Parts | None:
        i = text.find(sep)
        if i < 0:
            return None if mandatory else (_single(text), "")
        head = text[:i]
        pair: tuple[str, str] | None
        if '"' in head or "'" in head:
            pair = _parts_at_separator(text, sep)  # quotes decide which separator counts
            if pair is None:
                return None if mandatory else (_single(text), "")
        else:
            p2 = text[i + 1 :].strip(_BLANKS)
            if p2[:1] in _QUOTES:
                p2 = unquote_part(p2)
            pair = (head.strip(_BLANKS), p2)  # no quote in head: nothing to unquote there
        if mandatory and (not pair[0] or not pair[1]):
            return None
        return pair

    parts.__name__ = f"parts_P{sep}{'mand' if mandatory else 'opt'}"
    return parts


_QUICK_BY_STYLE: dict[str, QuickSplit] = {
    "N": _parts_N,
    "S": parts_S,
    "P,opt": _quick_pair(",", False),
    "P,mand": _quick_pair(",", True),
    "P=opt": _quick_pair("=", False),
    "P=mand": _quick_pair("=", True),
    "L": _parts_L,
    "T": parts_T,
    "K": _parts_K,
    "raw": _parts_K,
}


def quick_splitter(style: str) -> QuickSplit:
    """The quick split function for a style code: parts, or ``None`` if the full split logs an error."""
    return _QUICK_BY_STYLE[style]
