"""SBC replacement patterns (``$fU``, ``$H(P-Hdr)``, ``$M($si=>map)`` …), sans-I/O.

Profile values such as ``RURI=sip:$rU@gw.example.net`` are templates that
take parts of the incoming INVITE.  :func:`evaluate` expands one against a
:class:`PatternContext` (the parsed INVITE, where it came from, where it was
received, the loaded regex maps).  It follows the reference's behaviour as
its documentation describes it: an absent part expands to the empty string,
an unknown or malformed pattern expands to nothing (the SBC must keep
relaying calls, so nothing here ever raises on odd input), ``\\r``/``\\n``/
``\\t`` become control characters and any other escaped character stands
for itself (``\\$`` is a literal dollar, ``\\"`` a quote).

Reading rule for ``$X`` forms: the letter after ``$`` and the one character
after it are consumed (``$fU`` From user, ``$ci`` Call-ID, ``$r.`` the whole
R-URI -- the dot only ends the pattern); bracket forms consume up to their
closing bracket.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request
from dsm.runtime.sip.uri import NameAddress, OtherUri, SipUri, parse_hostport, parse_uri

__all__ = [
    "PatternContext",
    "UriParts",
    "evaluate",
    "app_param",
    "uri_parts",
    "map_regex",
    "without_tag",
]

RegexMap = Sequence[tuple[str, str]]
_SPECIAL = re.compile(r"[$\\]")


@dataclass(frozen=True)
class PatternContext:
    """What patterns read: the INVITE, its source and local address, the regex maps."""

    invite: Request
    source: tuple[str, int] = ("", 0)
    local: tuple[str, int] = ("", 0)
    regex_maps: Mapping[str, RegexMap] = field(default_factory=dict)
    next_hop: str = ""
    """The call's evaluated ``next_hop``: ``$di``/``$dp`` read its first entry (empty: the R-URI's)."""
    parsed: dict[str, UriParts | None] = field(default_factory=dict, compare=False, repr=False)
    """Addresses already parsed for this call (a cache; patterns read each often)."""


@dataclass(frozen=True)
class UriParts:
    """The parts of a (name-)address the ``$?u $?U $?d …`` patterns read."""

    user: str = ""
    host: str = ""
    port: str = ""
    params: str = ""
    headers: str = ""
    display_name: str = ""
    param_map: Mapping[str, str] = field(default_factory=dict)

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def user_host(self) -> str:
        return f"{self.user}@{self.hostport}" if self.user else self.hostport


def uri_parts(text: str, bare_uri: bool = False) -> UriParts | None:
    """Parse a name-address or URI into :class:`UriParts`; ``None`` when unparsable.

    Without angle brackets the text is read as a URI first (its ``;x=y``
    are URI parameters, as the reference's URI parser reads them).
    """
    text = text.strip()
    try:
        na = NameAddress(parse_uri(text)) if bare_uri or "<" not in text else NameAddress.parse(text)
    except (ParseError, ValueError):
        try:
            na = NameAddress.parse(text)
        except (ParseError, ValueError):
            return None
    uri = na.uri
    display = na.display_name or ""
    if isinstance(uri, OtherUri):
        user, _, params = uri.rest.partition(";")
        return UriParts(user=user, params=params, display_name=display)
    assert isinstance(uri, SipUri)
    pmap = {k.lower(): (v or "") for k, v in uri.params.items()}
    params = ";".join(k if v is None else f"{k}={v}" for k, v in uri.params.items())
    headers = "&".join(f"{k}={v}" for k, v in uri.headers.items())
    return UriParts(
        user=uri.user or "",
        host=uri.host,
        port="" if uri.port is None else str(uri.port),
        params=params,
        headers=headers,
        display_name=display,
        param_map=pmap,
    )


_TAG_PARAM = re.compile(r";[ \t]*tag[ \t]*=[^;]*", re.IGNORECASE)


def without_tag(value: str) -> str:
    """A From/To value without its ``tag`` parameter (the B leg has its own tags).

    The rest of the text is kept as written.
    """
    text = value.strip()
    gt = text.rfind(">")
    if gt >= 0:
        return text[: gt + 1] + _TAG_PARAM.sub("", text[gt + 1 :])
    return _TAG_PARAM.sub("", text)


def _tag(value: str) -> str:
    try:
        na = NameAddress.parse(value)
    except (ParseError, ValueError):
        return ""
    for k, v in na.params.items():
        if k.lower() == "tag":
            return v or ""
    return ""


def app_param(value: str, key: str) -> str:
    """``key``'s value in a ``P-App-Param``-style ``k=v;k2=v2`` list (empty when absent)."""
    for item in value.split(";"):
        name, eq, val = item.partition("=")
        if name.strip().lower() == key.strip().lower():
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            return val if eq else ""
    return ""


@functools.lru_cache(maxsize=512)
def _compile(regex: str) -> re.Pattern[str] | None:
    try:
        return re.compile(regex)
    except re.error:
        return None


def map_regex(mapping: RegexMap, value: str) -> str | None:
    """The value of the first ``regex=>value`` entry whose regex matches (searches) ``value``.

    ``\\1`` … ``\\9`` in the result are the regex's groups, ``\\\\`` a backslash.
    """
    for regex, result in mapping:
        compiled = _compile(regex)
        m = compiled.search(value) if compiled is not None else None
        if m is None:
            continue
        out = result.replace("\\\\", "\x01")
        for g in range(1, min(m.re.groups, 9) + 1):
            out = out.replace(f"\\{g}", m.group(g) or "")
        return out.replace("\x01", "\\")
    return None


def _component(parts: UriParts | None, code: str, s: str, i: int) -> tuple[str, int]:
    """``$?<code>`` of parsed parts; ``i`` is after the code. Returns (text, new index)."""
    if parts is None:
        return "", i
    if code == "u":
        return parts.user_host, i
    if code == "U":
        return parts.user, i
    if code == "d":
        return parts.hostport, i
    if code == "h":
        return parts.host, i
    if code == "p":
        return parts.port, i
    if code == "H":
        return parts.headers, i
    if code == "n":
        return parts.display_name, i
    if code == "P":
        if i < len(s) and s[i] == "(":
            end = s.find(")", i)
            if end < 0:
                return "", len(s)
            name = s[i + 1 : end]
            if not name:
                return parts.params, end + 1
            return parts.param_map.get(name.lower(), ""), end + 1
        return parts.params, i
    return "", i


def _close(s: str, start: int) -> int:
    """Index of the ``)`` closing the bracket opened just before ``start`` (nesting counted)."""
    depth = 1
    i = start
    while i < len(s):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _header(ctx: PatternContext, name: str) -> str:
    try:
        return ctx.invite.headers.get(name.strip()) or ""
    except Exception:  # noqa: BLE001 - odd names must never break a call
        return ""


def _modify(op: str, value: str) -> str:
    if op in ("u", "U"):
        return value.upper()
    if op == "l":
        return value.lower()
    if op == "s":
        return str(len(value))
    if op == "5":
        return hashlib.md5(value.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
    return value


def _address(ctx: PatternContext, letter: str) -> str:
    """The raw text behind ``$f``/``$t``/``$r``/``$a``/``$p`` (From/To without tag)."""
    h = ctx.invite.headers
    if letter == "r":
        return ctx.invite.uri
    if letter == "f":
        return without_tag(h.get("From") or "")
    if letter == "t":
        return without_tag(h.get("To") or "")
    if letter == "a":
        return (h.get("P-Asserted-Identity") or "").strip()
    return (h.get("P-Preferred-Identity") or "").strip()


def evaluate(pattern: str, ctx: PatternContext) -> str:
    """Expand the replacement patterns in ``pattern``; never raises on odd input."""
    if "$" not in pattern and "\\" not in pattern:
        return pattern
    out: list[str] = []
    s = pattern
    n = len(s)
    i = 0
    while i < n:
        special = _SPECIAL.search(s, i)
        if special is None:
            out.append(s[i:])
            break
        if special.start() > i:
            out.append(s[i : special.start()])
            i = special.start()
        ch = s[i]
        if ch == "\\":
            if i + 1 >= n:
                out.append("\\")
                break
            nxt = s[i + 1]
            out.append({"r": "\r", "n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            break  # a lone trailing '$' expands to nothing
        text, i = _dollar(s, i + 1, ctx)
        out.append(text)
    return "".join(out)


def _dollar(s: str, i: int, ctx: PatternContext) -> tuple[str, int]:
    """One pattern; ``s[i]`` is the letter after ``$``. Returns (text, index after it)."""
    n = len(s)
    letter = s[i]
    sub = s[i + 1] if i + 1 < n else ""
    after = min(i + 2, n)  # letter plus one character consumed
    req = ctx.invite
    if letter in "frtap":
        if sub in ("", "."):
            return _address(ctx, letter), after
        if sub == "t" and letter in "ft":
            return _tag(ctx.invite.headers.get("From" if letter == "f" else "To") or ""), after
        if letter not in ctx.parsed:
            ctx.parsed[letter] = uri_parts(_address(ctx, letter), bare_uri=letter == "r")
        parts = ctx.parsed[letter]
        if sub == "i" and letter in "ap":
            return (parts.user_host if parts else ""), after
        return _component(parts, sub, s, after)
    if letter == "d":
        host, port = _destination(ctx)
        return {"i": host, "p": port}.get(sub, ""), after
    if letter == "m":
        return req.method, after
    if letter == "c":
        return (req.call_id if sub in ("", "i") else ""), after
    if letter == "s":
        if sub == "i":
            return ctx.source[0], after
        if sub == "p":
            return (str(ctx.source[1]) if ctx.source[1] else ""), after
        return "", after
    if letter == "R":
        values = {
            "i": ctx.local[0],
            "p": str(ctx.local[1]) if ctx.local[1] else "",
            "f": "0",
            "n": "default",
            "I": ctx.local[0],
        }
        return values.get(sub, ""), after
    if letter == "P":
        if sub != "(":
            return "", after
        end = s.find(")", i + 2)
        if end < 0:
            return "", n
        return app_param(_header(ctx, "P-App-Param"), s[i + 2 : end]), end + 1
    if letter == "H":
        return _header_pattern(s, i, ctx)
    if letter == "M":
        if sub != "(":
            return "", after
        end = _close(s, i + 2)
        if end < 0:
            return "", n
        inner = s[i + 2 : end]
        arrow = inner.rfind("=>")
        if arrow < 0:
            return "", end + 1
        value = evaluate(inner[:arrow], ctx)
        mapping = ctx.regex_maps.get(inner[arrow + 2 :].strip())
        mapped = map_regex(mapping, value) if mapping is not None else None
        return mapped or "", end + 1
    if letter == "_":
        if i + 2 >= n or s[i + 2] != "(":
            return "", after
        end = _close(s, i + 3)
        if end < 0:
            return "", n
        return _modify(sub, evaluate(s[i + 3 : end], ctx)), end + 1
    return "", after


def _destination(ctx: PatternContext) -> tuple[str, str]:
    """``$di``/``$dp``: host and port of the first ``next_hop`` entry, else of the R-URI.

    An absent port or an unparsable value gives empty text, as any absent part.
    """
    first = ctx.next_hop.split(",", 1)[0].strip()
    if first:
        if first.lower().startswith(("sip:", "sips:")):
            parts = uri_parts(first, bare_uri=True)
            return (parts.host, parts.port) if parts else ("", "")
        try:
            host, port = parse_hostport(first.partition("/")[0])
        except (ParseError, ValueError):
            return "", ""
        return host, "" if port is None else str(port)
    if "r" not in ctx.parsed:
        ctx.parsed["r"] = uri_parts(_address(ctx, "r"), bare_uri=True)
    parts = ctx.parsed["r"]
    return (parts.host, parts.port) if parts else ("", "")


def _header_pattern(s: str, i: int, ctx: PatternContext) -> tuple[str, int]:
    """``$H(name)`` (the value) or ``$H<c>(name)`` (a part of it as an address)."""
    n = len(s)
    if i + 1 < n and s[i + 1] == "(":
        end = s.find(")", i + 2)
        if end < 0:
            return "", n
        return _header(ctx, s[i + 2 : end]), end + 1
    if i + 2 < n and s[i + 2] == "(":
        code = s[i + 1]
        end = s.find(")", i + 3)
        if end < 0:
            return "", n
        value = _header(ctx, s[i + 3 : end])
        if code == ".":
            return value, end + 1
        if code == "P" and end + 1 < n and s[end + 1] == "(":
            return _component(uri_parts(value) if value else None, "P", s, end + 1)
        if code == "P":
            parts = uri_parts(value) if value else None
            return (parts.params if parts else ""), end + 1
        if code == "i":
            parts = uri_parts(value) if value else None
            return (parts.user_host if parts else ""), end + 1
        return _component(uri_parts(value) if value else None, code, "", 0)[0], end + 1
    return "", min(i + 2, n)
