"""mod_uri — SIP URI and name-addr helpers, INVITE headers, URL coding (``modules.md`` section 15).

The parser is a small RFC 3261 section 25 subset written for this module:
``scheme:user@host:port;uri-params?headers`` and
``["Display"] <uri>;param=value;…``.  Percent coding works on the UTF-8
bytes of the text.

Reference quirks reproduced:

* the prefix argument of ``uri.parse``/``uri.parseNameaddr`` and the
  destination of ``uri.getHeader`` are resolved with ``R`` — write them
  without ``$`` (M-uri-1, M-uri-3);
* ``display_name`` is not set by ``uri.parse`` (M-uri-1);
* name-addr parameters are stored as ``<prefix>uri_param.<name>``
  (M-uri-2);
* failure messages contain a literal ``%s`` (M-uri-1, M-uri-2).

The invite hook stores the header block of an incoming INVITE in the
visible variable ``$hdrs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module
from dsm.runtime.values import strip_dollar

__all__ = [
    "module",
    "SipUri",
    "NameAddr",
    "parse_uri",
    "parse_nameaddr",
    "url_encode",
    "url_decode",
]

module = Module(
    "mod_uri", doc="SIP URI helpers, INVITE headers, URL coding (modules.md section 15)"
)


@dataclass(frozen=True, slots=True)
class SipUri:
    """The parts of a SIP URI that M-uri-1 exposes."""

    scheme: str
    user: str
    host: str
    port: str
    param: str
    headers: str


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A name-addr: display name, URI and the parameters after ``>``."""

    display_name: str
    uri: SipUri
    params: list[tuple[str, str]] = field(default_factory=list)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PORT = re.compile(r"[0-9]*")


def parse_uri(text: str) -> SipUri | None:
    """Parse a bare URI; ``None`` when it is not ``scheme:[user@]host[:port][;params][?headers]``."""
    text = text.strip(" \t")
    m = _SCHEME.match(text)
    if m is None:
        return None
    scheme = m.group(0)[:-1]
    rest = text[m.end() :]
    headers = ""
    if "?" in rest:
        rest, headers = rest.split("?", 1)
    user = ""
    at = rest.rfind("@")
    if at >= 0:
        user, rest = rest[:at], rest[at + 1 :]
    param = ""
    if ";" in rest:
        rest, param = rest.split(";", 1)
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return None
        host, rest = rest[: close + 1], rest[close + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, _, port = rest.partition(":")
    if not host or any(c in host for c in ' \t<>"') or not _PORT.fullmatch(port):
        return None
    return SipUri(scheme, user, host, port, param, headers)


def _split_params(text: str) -> list[tuple[str, str]] | None:
    """``;name=value;flag`` after a name-addr's ``>`` (leading ``;`` optional)."""
    text = text.strip(" \t")
    if not text:
        return []
    if not text.startswith(";"):
        return None
    out: list[tuple[str, str]] = []
    for piece in text[1:].split(";"):
        name, _, value = piece.partition("=")
        name = name.strip(" \t")
        if not name:
            continue
        out.append((name, value.strip(" \t").strip('"')))
    return out


def parse_nameaddr(text: str) -> NameAddr | None:
    """Parse ``["Display"] <uri>;params`` or a bare URI followed by parameters.

    For the bare form the parameters after the URI are name-addr parameters
    (RFC 3261 section 20.10), so the URI's own ``param`` is empty.
    """
    text = text.strip(" \t")
    display = ""
    if text.startswith('"'):
        i, buf = 1, []
        while i < len(text) and text[i] != '"':
            if text[i] == "\\" and i + 1 < len(text):
                i += 1
            buf.append(text[i])
            i += 1
        if i >= len(text):
            return None
        display = "".join(buf)
        text = text[i + 1 :].lstrip(" \t")
        if not text.startswith("<"):
            return None
    lt = text.find("<")
    if lt >= 0:
        if not display:
            # an unquoted display name; stray quotes (R() strips only the leading run) are dropped
            display = text[:lt].strip(' \t"')
        gt = text.find(">", lt)
        if gt < 0:
            return None
        uri = parse_uri(text[lt + 1 : gt])
        params = _split_params(text[gt + 1 :])
    else:
        head, sep, tail = text.partition(";")
        uri = parse_uri(head)
        params = _split_params(sep + tail)
    if uri is None or params is None:
        return None
    return NameAddr(display, uri, params)


def _set_uri_parts(ctx: ActionContext, prefix: str, uri: SipUri) -> None:
    ctx.vars[f"{prefix}user"] = uri.user
    ctx.vars[f"{prefix}host"] = uri.host
    ctx.vars[f"{prefix}port"] = uri.port
    ctx.vars[f"{prefix}headers"] = uri.headers
    ctx.vars[f"{prefix}param"] = uri.param


@module.action("uri.parse", "P,opt")
def uri_parse(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-uri-1: split a bare SIP URI into ``<prefix>user``, ``host``, ``port``, ``headers``, ``param``."""
    text, prefix = ctx.resolve(p1), ctx.resolve(p2)
    uri = parse_uri(text)
    if uri is None:
        ctx.set_error("general", f"parsing URI '{text}%s' failed")
        return
    _set_uri_parts(ctx, prefix, uri)
    ctx.clear_error()


@module.action("uri.parseNameaddr", "P,opt")
def uri_parse_nameaddr(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-uri-2: as ``uri.parse`` plus ``<prefix>display_name`` and ``<prefix>uri_param.<name>``."""
    text, prefix = ctx.resolve(p1), ctx.resolve(p2)
    na = parse_nameaddr(text)
    if na is None:
        ctx.set_error("general", f"parsing nameaddr '{text}%s' failed")
        return
    ctx.vars[f"{prefix}display_name"] = na.display_name
    _set_uri_parts(ctx, prefix, na.uri)
    for name, value in na.params:
        ctx.vars[f"{prefix}uri_param.{name}"] = value
    ctx.clear_error()


def header_value(block: str, name: str) -> str:
    """The first ``name:`` line of a header block (case-insensitive name), left-trimmed; ``""`` if absent."""
    wanted = name.strip(" \t").lower()
    for line in block.split("\n"):
        line = line.rstrip("\r")
        hname, colon, value = line.partition(":")
        if colon and hname.strip(" \t").lower() == wanted:
            return value.lstrip(" \t")
    return ""


@module.action("uri.getHeader", "P,mand")
def uri_get_header(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-uri-3: ``$var`` = value of header ``name`` in ``$hdrs``.

    REFERENCE QUIRK: the destination ``p2`` is resolved, so it is written
    without ``$``.  No compact-form fallback.  errno unchanged.
    """
    name, var = ctx.resolve(p1), ctx.resolve(p2)
    ctx.vars[var] = header_value(ctx.vars.get("hdrs", ""), name)


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def url_encode(text: str) -> str:
    """Percent-encode every byte except ``A-Z a-z 0-9 - _ . ~`` (upper-case hex)."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        out.append(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}")
    return "".join(out)


_HEX = frozenset("0123456789abcdefABCDEF")


def url_decode(text: str) -> str:
    """M-uri-5 decoding: ``%hh`` → byte, ``%%`` → ``%``, a bad ``%`` eats the next two characters."""
    data = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c != 0x25:  # '%'
            out.append(c)
            i += 1
            continue
        nxt = data[i + 1 : i + 3]
        if nxt[:1] == b"%":
            out.append(0x25)
            i += 2
        elif len(nxt) == 2 and all(chr(b) in _HEX for b in nxt):
            out.append(int(nxt.decode("ascii"), 16))
            i += 3
        else:
            i += 3
    return out.decode("utf-8", "surrogateescape")


@module.action("uri.encode", "P=mand")
def uri_encode(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-uri-4: ``$var`` = percent-encoded ``R(p2)``."""
    ctx.vars[strip_dollar(p1)] = url_encode(ctx.resolve(p2))


@module.action("uri.decode", "P=mand")
def uri_decode(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-uri-5: ``$var`` = percent-decoded ``R(p2)`` (``+`` is kept)."""
    ctx.vars[strip_dollar(p1)] = url_decode(ctx.resolve(p2))


def _header_block(request: Any) -> str:
    """The header lines of a SIP request object, whatever shape the host gives them in."""
    for attr in ("hdrs", "header_text", "headers_text"):
        value = getattr(request, attr, None)
        if isinstance(value, str):
            return value
    headers = getattr(request, "headers", request)
    if isinstance(headers, str):
        return headers
    items: Iterable[Any]
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, Iterable):
        items = headers
    else:
        return ""
    lines: list[str] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        lines.extend(f"{name}: {v}\r\n" for v in values)
    return "".join(lines)


@module.on_invite
def on_invite(request: Any, session: Any) -> bool:
    """M-api-7 / section 15: put the INVITE's header block into the visible ``$hdrs``."""
    session.vars["hdrs"] = _header_block(request)
    return True
