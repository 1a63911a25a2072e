"""mod_utils — numbers, strings, counting prompts (``modules.md`` section 16).

Assorted helpers written on the standard library.  Audio items go to the
host call's playlist exactly as the core ``playFile``/``playRingtone`` put
them there, so the same session rules apply: in a system DSM they raise
``{type: core, cause: not implemented in SystemDSM}``.

Reference quirks reproduced:

* float results use the reference's formatting ``F(x)`` (``3`` → ``3.0``,
  ``2.5`` → ``2.50``, see :func:`format_float`);
* ``utils.rand`` resolves its variable name (write it without ``$``);
* ``utils.mul`` multiplies C ``atoi`` values with 32-bit wrap-around;
* ``utils.playRingTone`` defaults are on 2000 ms / off 4000 ms (the
  reference documentation says 1000 / 2000); values beyond the fourth are
  ignored (the reference corrupts memory).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
import uuid
from typing import Any

from dsm.runtime.call import AudioOpenError, FileItem, RingtoneItem
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.registry import Module
from dsm.runtime.values import parse_int, parse_uint, strip_dollar

__all__ = ["module", "format_float", "count_files", "atof", "atoi"]

module = Module("mod_utils", doc="numbers, strings, counting prompts (modules.md section 16)")

_LOG_WARN = 1


# -- value helpers -------------------------------------------------------------


_ATOF = re.compile(
    r"[ \t\n\r\f\v]*([+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan))",
    re.IGNORECASE,
)


def atof(text: str) -> float:
    """C ``atof``: the longest numeric prefix (decimal, hex, inf, nan); garbage gives 0."""
    m = _ATOF.match(text)
    if m is None:
        return 0.0
    num = m.group(1)
    body = num.lstrip("+-")
    if body[:2].lower() == "0x":
        if "p" not in body.lower():
            body += "p0"
        value = float.fromhex(body)
        return -value if num.startswith("-") else value
    return float(num)


_ATOI = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")


def _wrap32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def atoi(text: str) -> int:
    """C ``atoi`` as a 32-bit value (large inputs wrap)."""
    m = _ATOI.match(text)
    return _wrap32(int(m.group(1))) if m else 0


def format_float(x: float) -> str:
    """``F(x)``: ``%#.16g``, then trailing zeros cut to one place after the last significant digit.

    REFERENCE QUIRK (section 16): ``3`` → ``3.0``, ``2.5`` → ``2.50``,
    ``0.1+0.2`` → ``0.30``, ``-1.25`` → ``-1.250``; exponent forms untouched.
    """
    text = f"{x:#.16g}"
    if text.endswith("0") and "." in text and "e" not in text:
        last = max(i for i, c in enumerate(text) if c in "123456789.")
        text = text[: last + 2]
    return text


def count_files(n: int, base: str, suffix: str, right: bool) -> list[str]:
    """The counting-file list ``files(n, base, suffix, right)`` of section 16."""
    if n <= 20:
        return [f"{base}{n}{suffix}"]
    out: list[str] = []
    for k in range(9, 1, -1):
        power = 10**k
        q = n // power
        if q > 0:
            out.append(f"{base}{q * power}{suffix}")
        n %= power
    if n == 0:
        return out
    if n <= 20 or n % 10 == 0:
        out.append(f"{base}{n}{suffix}")
        return out
    tens, units = f"{base}{(n // 10) * 10}{suffix}", f"{base}x{n % 10}{suffix}"
    out.extend([tens, units] if right else [units, tens])
    return out


# -- playlist access ------------------------------------------------------------


def _play(ctx: ActionContext, item: FileItem | RingtoneItem) -> None:
    """Append an item to the playlist through the host call, as the core ``playFile`` does.

    A file that cannot be opened raises ``{type: file, path: …}``; in a
    system DSM the stand-in call raises the core "not implemented" exception.
    """
    try:
        ctx.call.play(item, False)
    except AudioOpenError as exc:
        raise DSMException("file", {"path": exc.path}) from None


# -- counting ------------------------------------------------------------------


def _count(ctx: ActionContext, p1: str, p2: str) -> tuple[int, str] | None:
    value = ctx.resolve(p1)
    n = parse_uint(value)
    if n is None:
        ctx.set_error("arg", f"could not parse count '{value}'\n")
        return None
    return n, ctx.resolve(p2)


def _play_count(ctx: ActionContext, p1: str, p2: str, right: bool) -> None:
    parsed = _count(ctx, p1, p2)
    if parsed is None:
        return
    for path in count_files(parsed[0], parsed[1], ".wav", right):
        _play(ctx, FileItem(path))
    ctx.clear_error()


def _get_count(ctx: ActionContext, p1: str, p2: str, right: bool, suffix: str) -> None:
    parsed = _count(ctx, p1, p2)
    if parsed is None:
        return
    for i, path in enumerate(count_files(parsed[0], parsed[1], suffix, right)):
        ctx.vars[f"count_file[{i}]"] = path
    ctx.clear_error()


@module.action("utils.playCountRight", "P,opt")
def play_count_right(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-1: queue the files announcing ``n`` (tens before units)."""
    _play_count(ctx, p1, p2, right=True)


@module.action("utils.playCountLeft", "P,opt")
def play_count_left(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-2: as playCountRight with units before tens."""
    _play_count(ctx, p1, p2, right=False)


@module.action("utils.getCountRight", "P,opt")
def get_count_right(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-3: ``$count_file[i]`` = the counting files (older elements stay)."""
    _get_count(ctx, p1, p2, True, ".wav")


@module.action("utils.getCountLeft", "P,opt")
def get_count_left(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-4."""
    _get_count(ctx, p1, p2, False, ".wav")


@module.action("utils.getCountRightNoSuffix", "P,opt")
def get_count_right_no_suffix(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-5."""
    _get_count(ctx, p1, p2, True, "")


@module.action("utils.getCountLeftNoSuffix", "P,opt")
def get_count_left_no_suffix(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-6."""
    _get_count(ctx, p1, p2, False, "")


@module.action("utils.spell", "P,opt")
def spell(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-8: queue ``base + c + ".wav"`` for every character; errno unchanged."""
    text, base = ctx.resolve(p1), ctx.resolve(p2)
    for c in text:
        _play(ctx, FileItem(f"{base}{c}.wav"))


# -- identifiers and random numbers --------------------------------------------


@module.action("utils.getNewId", "S")
def get_new_id(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-utils-7: a new unique id (upper-case hex groups joined by ``-``) in variable ``R(a)``."""
    ctx.vars[ctx.resolve(a)] = str(uuid.uuid4()).upper()


_random = random.Random()


@module.action("utils.rand", "P,opt")
def rand(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-9: a random integer in ``[0, modulo)`` (or ``[0, 2147483647]``).

    REFERENCE QUIRK: the variable name is ``R(p1)``; write it without ``$``.
    """
    var = ctx.resolve(p1)
    modulo = parse_uint(ctx.resolve(p2)) or 0
    value = _random.randrange(modulo) if modulo else _random.randint(0, 2147483647)
    ctx.vars[var] = str(value)


@module.action("utils.srand", "N")
def srand(ctx: ActionContext, *_: str) -> None:
    """M-utils-10: seed the process-wide generator with the current time in seconds."""
    _random.seed(int(time.time()))


# -- arithmetic ----------------------------------------------------------------


@module.action("utils.add", "P,mand")
def add(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-11: ``$var`` = F(atof($var) + atof(value))."""
    ctx.vars[strip_dollar(p1)] = format_float(atof(ctx.resolve(p1)) + atof(ctx.resolve(p2)))


@module.action("utils.sub", "P,mand")
def sub(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-12: ``$var`` = F(atof($var) - atof(value))."""
    ctx.vars[strip_dollar(p1)] = format_float(atof(ctx.resolve(p1)) - atof(ctx.resolve(p2)))


@module.action("utils.mul", "P,mand")
def mul(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-13: integer product of C ``atoi`` values, 32-bit wrap-around."""
    ctx.vars[strip_dollar(p1)] = str(_wrap32(atoi(ctx.resolve(p1)) * atoi(ctx.resolve(p2))))


@module.action("utils.int", "P,mand")
def to_int(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-14: ``atof(value)`` truncated toward zero (infinity and NaN give ``0``)."""
    value = atof(ctx.resolve(p2))
    ctx.vars[strip_dollar(p1)] = str(math.trunc(value)) if math.isfinite(value) else "0"


@module.action("utils.md5", "P,mand")
def md5(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-15: lower-case hex MD5 of the bytes of ``R(p2)``."""
    data = ctx.resolve(p2).encode("utf-8", "surrogateescape")
    ctx.vars[strip_dollar(p1)] = hashlib.md5(data, usedforsecurity=False).hexdigest()


# -- strings -------------------------------------------------------------------


@module.action("utils.replace", "P,mand")
def replace(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-16: replace every ``search`` by ``replacement`` (``search=>replacement``).

    Pieces starting with ``$`` are variables (an empty search value is an
    error); other pieces are literal and untrimmed.  errno is not cleared.
    """
    subject = ctx.resolve(p1)
    pieces = p2.split("=>")
    if len(pieces) != 2 or not pieces[0] or not pieces[1]:
        ctx.set_error("arg", f"could not parse search=>replace '{p2}'\n")
        return
    search, replacement = pieces
    if search.startswith("$"):
        value = ctx.resolve(search)
        if not value:
            ctx.set_error("arg", f"search var '{search}' value is empty\n")
            return
        search = value
    if replacement.startswith("$"):
        replacement = ctx.resolve(replacement)
    ctx.vars[strip_dollar(p1)] = subject.replace(search, replacement)


@module.action("utils.splitStringCR", "P,opt")
def split_string_cr(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-17: split at LF into ``dst[i]``; a final empty piece is not stored."""
    text = ctx.resolve(p1)
    name = strip_dollar(p2) if p2 else strip_dollar(p1)
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    for i, piece in enumerate(pieces):
        ctx.vars[f"{name}[{i}]"] = piece


@module.action("utils.splitString", "P,opt")
def split_string(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-18: split ``$var`` at a delimiter into ``$var[i]`` (empty delimiter: per character)."""
    name = strip_dollar(p1)
    if not p1:
        ctx.set_error("arg", "varname is empty\n")
        return
    text, delimiter = ctx.resolve(p1), ctx.resolve(p2)
    pieces = list(text) if not delimiter else text.split(delimiter)
    for i, piece in enumerate(pieces):
        ctx.vars[f"{name}[{i}]"] = piece


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _store_json(ctx: ActionContext, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _store_json(ctx, f"{name}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _store_json(ctx, f"{name}[{i}]", item)
    elif value is None:
        ctx.vars[name] = ""
    elif value is True:
        ctx.vars[name] = "true"
    elif value is False:
        ctx.vars[name] = "false"
    elif isinstance(value, int):
        ctx.vars[name] = str(value)
    elif isinstance(value, float):
        ctx.vars[name] = format_float(value)
    else:
        ctx.vars[name] = str(value)


@module.action("utils.decodeJson", "P,opt")
def decode_json(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-19: JSON into ``prefix.key`` / ``prefix[i]`` variables; errno not cleared."""
    prefix = strip_dollar(p2)
    if not prefix:
        ctx.set_error("arg", "struct name is empty\n")
        return
    try:
        value = json.loads(ctx.resolve(p1), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        ctx.set_error("arg", "failed to decode json string\n")
        return
    _store_json(ctx, prefix, value)


@module.action("utils.escapeCRLF", "S")
def escape_crlf(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-utils-20: every CRLF becomes the four characters ``\\r\\n``."""
    name = strip_dollar(a)
    ctx.vars[name] = ctx.vars.get(name, "").replace("\r\n", "\\r\\n")


@module.action("utils.unescapeCRLF", "S")
def unescape_crlf(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-utils-21: the four characters ``\\r\\n`` become CRLF."""
    name = strip_dollar(a)
    ctx.vars[name] = ctx.vars.get(name, "").replace("\\r\\n", "\r\n")


# -- ring tones ----------------------------------------------------------------

_RINGTONE_KEYS = ("on", "off", "f", "f2")


@module.action("utils.playRingTone", "P,opt")
def play_ring_tone(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-utils-22: append a ring tone ``length[, on, off, f, f2]`` to the playlist.

    REFERENCE QUIRK: defaults are on 2000 ms, off 4000 ms, 440 Hz, 480 Hz.
    Unparsable values only log a warning.  errno is left alone.
    """
    length_text = ctx.resolve(p1)
    length = parse_int(length_text)
    if length is None:
        ctx.log(_LOG_WARN, f"utils.playRingTone: could not parse length '{length_text}'")
        length = 0
    settings = {"length": length, "on": 2000, "off": 4000, "f": 440, "f2": 480}
    for key, piece in zip(_RINGTONE_KEYS, p2.split(",") if p2 else []):
        text = ctx.resolve(piece.strip(' \t"'))
        if not text:
            continue
        value = parse_int(text)
        if value is None:
            ctx.log(_LOG_WARN, f"utils.playRingTone: could not parse {key} '{text}'")
            continue
        settings[key] = value
    _play(ctx, RingtoneItem(**settings))


# -- conditions ----------------------------------------------------------------


@module.condition("utils.isInList", "P,mand")
def is_in_list(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> bool:
    """M-utils-23: ``key`` equals one of the comma-separated items (trimmed, empty dropped)."""
    key = ctx.resolve(p1)
    items = (item.strip(" \t") for item in ctx.resolve(p2).split(","))
    return any(item and item == key for item in items)


@module.condition("utils.startsWith", "P,mand")
def starts_with(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> bool:
    """M-utils-24: ``R(p1)`` starts with ``R(p2)`` (an empty prefix always matches)."""
    return ctx.resolve(p1).startswith(ctx.resolve(p2))
