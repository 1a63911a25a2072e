"""Values of the DSM run time: resolution R, interpolation I, arithmetic E, numbers.

Everything in a DSM session is a string (``engine.md`` E-15); this module holds
the pure functions that turn argument texts into values (section 4) and the
test-expression predicate shared by ``test`` and every event-typed core
condition (section 5, ``actions.md`` section 16).  All functions take the
session's variables, the active event parameters (``None`` when absent, E-18)
and a ``select`` callable (section 19) explicitly, so they can be tested and
reused without a session.

They run once or several times per executed action, so they are written for
the hot path: regular expressions are compiled once at import, the common
case (no marker in the text, ASCII names) takes the shortest route, and no
function copies the variable map.

Strings stand for byte strings of the reference.  Where the reference
counts, slices or orders *bytes* (``len(...)``, byte-wise ``<``/``>``), the
text is encoded as UTF-8 with ``surrogateescape`` (so undecodable bytes kept
as surrogates round-trip); pure-ASCII texts skip the encoding.

None of these functions raises on any input text: malformed references simply
resolve as the reference resolves them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "Select",
    "SELECT_NAMES",
    "HOST_VARIABLES",
    "resolve",
    "interpolate",
    "evaluate",
    "parse_uint",
    "parse_int",
    "parse_cnum",
    "test_expression",
    "test_condition",
    "strip_dollar",
    "byte_key",
    "byte_length",
]

Select = Callable[[str], str]
"""Looks up a select ``@name`` (section 19); returns ``""`` for unknown names."""

SELECT_NAMES: tuple[str, ...] = (
    "local_tag",
    "user",
    "domain",
    "remote_tag",
    "callid",
    "local_uri",
    "local_party",
    "remote_uri",
    "remote_party",
)
"""The selects of E-172, in the order ``logSelects`` prints them (E-109).

Any other select name is empty; in system sessions all but ``local_tag`` are
empty.  The session supplies the values through its ``select`` callable.
"""

HOST_VARIABLES: tuple[str, ...] = (
    "connect_session",
    "connect_early_session",
    "accept_early_session",
    "enable_request_events",
    "enable_reply_events",
    "enable_zrtp_events",
    "b2b_relayed_invite",
    "b2b_local_party",
    "b2b_local_uri",
    "b2b_auth_user",
    "b2b_auth_pwd",
    "b2b_callid",
    "prompts.default_fallback",
    "errno",
    "strerror",
)
"""Variables the host reads (E-167); values are compared exactly (``0``, ``true``, ``yes``)."""

_UINT_MAX = 4294967295
_INT_MAX = 2147483647
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# -- small helpers -------------------------------------------------------------


def byte_key(s: str) -> bytes:
    """Sort key that orders names as sequences of unsigned bytes (E-16).

    Code-point order equals UTF-8 byte order for proper text, but not for
    bytes kept as ``surrogateescape`` surrogates, hence the explicit encoding.
    """
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass")


def byte_length(s: str) -> int:
    """Length of ``s`` in bytes, as the reference counts string lengths."""
    return len(s) if s.isascii() else len(byte_key(s))


def _byte_char(code: int) -> str:
    """The one-character string standing for the single byte ``code`` (0…255)."""
    return chr(code) if code < 0x80 else chr(0xDC00 + code)


def strip_dollar(x: str) -> str:
    """``strip$(x)``: ``x`` without one leading ``$`` (engine.md notation, L-91.14)."""
    return x[1:] if x[:1] == "$" else x


# -- R: plain resolution (E-22 … E-26) -----------------------------------------


def resolve(x: str, vars: dict[str, str], params: dict[str, str] | None, select: Select) -> str:
    """``R(x)`` (E-22): decided by the first character only; never trims or interpolates.

    The whole text after the marker is the name (E-23); ``$$``, ``##`` and
    ``@@`` give the marker itself and ignore the rest; any other text loses
    all leading and trailing double quotes (single quotes stay, E-24).
    """
    if not x:
        return ""
    c = x[0]
    if c == "$":
        if x[1:2] == "$":
            return "$"
        return vars.get(x[1:], "")
    if c == "#":
        if x[1:2] == "#":
            return "#"
        if params is None:
            return ""
        return params.get(x[1:], "")
    if c == "@":
        if len(x) == 1 or x[1] == "@":
            return "@"
        return select(x[1:])
    return x.strip('"')


# -- I: interpolation (E-27 … E-35) --------------------------------------------

_MARKER = re.compile(r"[$#@]")
# E-27 step 4: space, tab , ( ) [ ] $ # @ ; : ' "
_DELIMITER = re.compile(r"[ \t,()\[\]$#@;:'\"]")
_OPENERS = frozenset("(\"'")


def interpolate(x: str, vars: dict[str, str], params: dict[str, str] | None, select: Select) -> str:
    """``I(x)`` (E-27): replace ``$var``, ``#param`` and ``@select`` references in one scan.

    This follows the reference's in-place algorithm exactly, but builds the
    result in an output buffer: everything before the scan position is
    emitted text (including replacement values, which are never rescanned),
    everything after it is still the original text.  Positions of the
    reference's algorithm map onto this split as follows: ``k > 0`` means
    "something has been emitted", the character at ``k - 1`` is the last
    emitted character (possibly the end of a replacement value), and the
    characters from ``k`` on are original text.

    Reproduced REFERENCE QUIRKs:

    * E-29 — a bracketed name must be longer than two characters including
      the bracket, so ``$(a)`` looks up ``(a`` and leaves ``)``;
    * E-30 — doubling (``$$``, ``##``, ``@@``) is not recognised at the very
      start of the text: the first marker is an empty-named reference;
    * E-31 — after a ``$`` or ``@`` reference is replaced by an empty value,
      the next character is skipped (so an adjacent reference stays literal);
      an empty ``#`` value does not do this;
    * E-32 — brackets end names, so ``$list[0]`` is ``$list`` + ``[0]``;
    * E-34 — ``@`` followed by a name is always replaced (unknown → empty).
    """
    if "$" not in x and "#" not in x and "@" not in x:
        return x
    n = len(x)
    out: list[str] = []
    emitted = 0  # length of the emitted text (the reference's k)
    last = ""  # last emitted character (the reference's res[k - 1])
    i = 0  # start of the not yet emitted original text
    scan = 0  # where the next marker search starts (>= i)
    marker_search = _MARKER.search
    delimiter_search = _DELIMITER.search
    while True:
        m = marker_search(x, scan)
        if m is None:
            break
        j = m.start()
        if j > i:
            chunk = x[i:j]
            out.append(chunk)
            emitted += len(chunk)
            last = chunk[-1]
        mark = x[j]
        nxt = x[j + 1] if j + 1 < n else ""
        # step 2: doubling (only when k > 0, E-30)
        if emitted and nxt == mark:
            out.append(mark)
            emitted += 1
            last = mark
            i = scan = j + 2
            continue
        # step 3: backslash escape keeps marker and backslash
        if emitted and last == "\\":
            out.append(mark)
            emitted += 1
            last = mark
            i = scan = j + 1
            continue
        # step 4: the name
        start = j + 2 if nxt in _OPENERS else j + 1
        d = delimiter_search(x, start)
        e = n if d is None else d.start()
        name = x[j + 1 : e]
        # step 5: bracketed form
        if len(name) > 2 and e < n:
            close = x[e]
            first = name[0]
            if (first == "(" and close == ")") or (first in "\"'" and close == first):
                name = name[1:]
                e += 1
        # step 6: replace
        if mark == "$":
            v = vars.get(name)
            if v is None:  # deleted; continue at k
                i = scan = e
                continue
            empty_skips = True
        elif mark == "#":
            if params is None:  # left unchanged; continue at k + 1
                i = j
                scan = j + 1
                continue
            v = params.get(name)
            if v is None:
                i = scan = e
                continue
            empty_skips = False
        else:
            v = "@" if not name or name[0] == "@" else select(name)
            empty_skips = True
        if v:
            out.append(v)
            emitted += len(v)
            last = v[-1]
            i = scan = e
        else:
            i = e
            scan = e + 1 if empty_skips else e  # E-31
    if i < n:
        out.append(x[i:])
    return "".join(out)


# -- E: arithmetic (E-36, E-37) ------------------------------------------------


def _is_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _int32(digits: str) -> int:
    """A non-negative decimal text wrapped modulo 2**32 into a signed 32-bit value.

    E-37 leaves operands above 2147483647 unspecified; wrapping is allowed.
    The last 32 digits determine the value modulo 2**32 (10**32 is a
    multiple of 2**32), which also keeps huge texts cheap.
    """
    v = int(digits[-32:]) & 0xFFFFFFFF
    return v - 0x100000000 if v > _INT_MAX else v


def _wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v > _INT_MAX else v


def _cut_positions(t: str, op: str) -> list[int]:
    cuts: list[int] = []
    p = t.find(op)
    while p >= 0:
        cuts.append(p)
        p = t.find(op, p + 1)
    return cuts


def _combine(left: str, right: str, op: str) -> str | None:
    """``left op right`` if both are non-empty digit strings, else ``None`` (E-36)."""
    if left and right and _is_digits(left) and _is_digits(right):
        a = _int32(left)
        b = _int32(right)
        return str(_wrap32(a - b if op == "-" else a + b))
    return None


def _eval_chain(
    t: str,
    op: str,
    vars: dict[str, str],
    params: dict[str, str] | None,
    select: Select,
) -> str:
    """Evaluate ``t`` split at the *first* ``op``, recursively to the right (E-36).

    ``E(a op rest)`` combines ``E(a)`` with ``E(rest)`` when both are digit
    strings and otherwise falls back to ``R`` of the whole text.  The
    right-nested recursion is unrolled from the right end so that long
    chains cannot exhaust the Python stack.  For ``-`` the pieces between
    minus signs are evaluated as ``+`` chains, for ``+`` as ``R``.
    """
    cuts = _cut_positions(t, op)
    if not cuts:
        if op == "-":
            return _eval_chain(t, "+", vars, params, select)
        return resolve(t, vars, params, select)
    acc = _eval_piece(t[cuts[-1] + 1 :], op, vars, params, select)
    for idx in range(len(cuts) - 1, -1, -1):
        begin = cuts[idx - 1] + 1 if idx else 0
        left = _eval_piece(t[begin : cuts[idx]], op, vars, params, select)
        combined = _combine(left, acc, op)
        acc = resolve(t[begin:], vars, params, select) if combined is None else combined
    return acc


def _eval_piece(
    s: str, op: str, vars: dict[str, str], params: dict[str, str] | None, select: Select
) -> str:
    """``E`` of a piece free of ``op``: a ``+`` chain inside ``-``, else ``R``."""
    if op == "-" and "+" in s:
        return _eval_chain(s, "+", vars, params, select)
    return resolve(s, vars, params, select)


def evaluate(x: str, vars: dict[str, str], params: dict[str, str] | None, select: Select) -> str:
    """``E(x)`` (E-36): one level of ``-`` over ``+`` over ``R``, integers only.

    Spaces (not tabs) are removed first.  A text with a ``-`` is split at the
    first ``-``; otherwise a text with a ``+`` at the first ``+``; both sides
    are evaluated and, if both are non-empty digit strings, subtracted or
    added as signed 32-bit values.  Anything else is ``R`` of the space-free
    text.  REFERENCE QUIRKs reproduced (E-37): ``10-2+3`` is ``10-(2+3)``;
    ``10-2-3`` stays literal (the inner ``-1`` is not a digit string);
    ``-5`` is literal; ``$n-x`` reads the variable ``n-x``.
    """
    t = x.replace(" ", "") if " " in x else x
    if "-" in t:
        return _eval_chain(t, "-", vars, params, select)
    if "+" in t:
        return _eval_chain(t, "+", vars, params, select)
    return resolve(t, vars, params, select)


# -- number parsers (E-38) -----------------------------------------------------


def _uint_body(s: str, i: int, limit: int) -> int | None:
    """Digits from ``s[i:]`` up to end/space/CR/LF; ``None`` on anything else or overflow."""
    n = len(s)
    value = 0
    count = 0
    while i < n:
        c = s[i]
        if "0" <= c <= "9":
            count += 1
            if count > 10:
                return None
            value = value * 10 + (ord(c) - 48)
            i += 1
        elif c in " \r\n":
            break
        else:
            return None
    if value > limit:
        return None
    return value


def parse_uint(s: str) -> int | None:
    """``UINT(s)`` (E-38): leading spaces, decimal digits, stop at space/CR/LF.

    No digits at all (``""``) is success with 0; signs, dots and letters
    fail, as do more than 10 digits or values above 4294967295.
    """
    i = 0
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    return _uint_body(s, i, _UINT_MAX)


def parse_int(s: str) -> int | None:
    """``INT(s)`` (E-38): spaces, optional ``-`` and spaces, then as ``UINT`` up to 2147483647.

    ``""`` and ``"-"`` are 0; ``"- 3"`` is -3; ``+`` is not accepted.  The
    maximum applies to the magnitude, so -2147483648 is a failure.
    """
    i = 0
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    negative = False
    if i < n and s[i] == "-":
        negative = True
        i += 1
        while i < n and s[i] == " ":
            i += 1
    v = _uint_body(s, i, _INT_MAX)
    if v is None:
        return None
    return -v if negative else v


_CNUM = re.compile(r"[ \t\n\v\f\r]*([+-]?)0*([0-9]+)")


def parse_cnum(s: str) -> int | None:
    """``CNUM(s)`` (E-38): the whole text a C ``strtol`` base-10 integer.

    Optional leading C whitespace, optional sign, at least one digit and
    nothing after; the empty string is valid (0); values outside the 64-bit
    range saturate to its limits.
    """
    if not s:
        return 0
    if len(s) < 19 and s.isascii() and s.isdigit():
        return int(s)
    m = _CNUM.fullmatch(s)
    if m is None:
        return None
    digits = m.group(2)
    negative = m.group(1) == "-"
    if len(digits) > 19:
        return _INT64_MIN if negative else _INT64_MAX
    v = -int(digits) if negative else int(digits)
    if v > _INT64_MAX:
        return _INT64_MAX
    if v < _INT64_MIN:
        return _INT64_MIN
    return v


# -- test expressions (section 5: E-43 … E-48, actions.md section 16) ---------


def _is_len_form(text: str) -> bool:
    return len(text) > 5 and text.startswith("len(") and text.endswith(")")


def test_expression(
    op: str,
    left: str,
    right: str,
    vars: dict[str, str],
    params: dict[str, str] | None,
    select: Select,
) -> bool:
    """The predicate of a style-T condition with parts ``(op, left, right)`` (E-44 … E-48).

    Operands are the compile-time texts (trimmed of spaces, quotes kept):

    * left ``len(X)`` → decimal byte length of ``R(X)``; right ``len(X)`` →
      REFERENCE QUIRK (E-44): the single byte whose code is that length
      modulo 256;
    * anything else → ``R(operand)``; so ``"abc"`` is ``abc``, ``'abc'``
      keeps its quotes (REFERENCE QUIRK, E-45) and ``"$x"`` is literal.

    ``==`` treats a ``*`` in the right value as "prefix up to the first
    ``*``" (E-46); ``!=`` is exact inequality (E-47); ``<``/``>`` compare as
    64-bit numbers when both sides are valid ``CNUM`` (the empty string is
    0), else byte-wise (E-48).  An empty or unknown operator never matches
    (E-43).
    """
    if _is_len_form(left):
        lv = str(byte_length(resolve(left[4:-1], vars, params, select)))
    else:
        lv = resolve(left, vars, params, select)
    if _is_len_form(right):
        rv = _byte_char(byte_length(resolve(right[4:-1], vars, params, select)) & 0xFF)
    else:
        rv = resolve(right, vars, params, select)
    if op == "==":
        p = rv.find("*")
        if p < 0:
            return lv == rv
        prefix = rv[:p]
        if lv.isascii() and prefix.isascii():
            return lv.startswith(prefix)
        return byte_key(lv).startswith(byte_key(prefix))
    if op == "!=":
        return lv != rv
    if op == "<" or op == ">":
        a = parse_cnum(lv)
        b = parse_cnum(rv) if a is not None else None
        if a is not None and b is not None:
            return a < b if op == "<" else a > b
        if lv.isascii() and rv.isascii():
            return lv < rv if op == "<" else lv > rv
        lb = byte_key(lv)
        rb = byte_key(rv)
        return lb < rb if op == "<" else lb > rb
    return False


def test_condition(
    args: tuple[str, ...],
    vars: dict[str, str],
    params: dict[str, str] | None,
    select: Select,
) -> bool:
    """The predicate of a style-T condition from its compiled ``args`` (E-43, L-86).

    ``()`` (empty expression) is always true; ``("", "", "")`` (no operator
    recognised at compile time) never matches; otherwise
    :func:`test_expression`.  The event-type filter and ``not`` are applied
    by the caller (E-40).
    """
    if not args:
        return True
    if len(args) != 3:
        return False
    return test_expression(args[0], args[1], args[2], vars, params, select)


# The fixed names start with "test"; keep pytest from collecting them wherever imported.
test_expression.__test__ = False  # type: ignore[attr-defined]
test_condition.__test__ = False  # type: ignore[attr-defined]
