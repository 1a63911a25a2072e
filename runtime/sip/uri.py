"""SIP URIs, name-addr/addr-spec values and ``;name=value`` parameter lists.

RFC 3261 sections 19.1 (SIP URI), 20.10 / 25.1 (name-addr, addr-spec) and
the generic-param rule shared by Via, From, To, Contact, Route and
Record-Route.  Parameter names are case-insensitive and stored lower-cased;
values are kept verbatim (quoted values keep their quotes) so that a value
formats back to what was received.  All parse errors are :class:`ParseError`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from dsm.runtime.sip.errors import ParseError

__all__ = [
    "SipUri",
    "OtherUri",
    "Uri",
    "NameAddress",
    "parse_uri",
    "parse_params",
    "format_params",
    "split_outside_quotes",
]

Params = dict[str, str | None]

_TOKEN_TEXT = string.ascii_letters + string.digits + "-.!%*_+`'~"
"""The characters of an RFC 3261 ``token``.

Checks strip a text of the allowed characters (this, ``_HOST_TEXT``…) and
look whether anything is left: one C-level pass, cheaper than a regular
expression's call or a set built per text.
"""
_HOST_TEXT = string.ascii_letters + string.digits + "-._"
_IPV6_TEXT = string.hexdigits + ":."
_SCHEME_TEXT = string.ascii_letters + string.digits + "+-."


def is_token(text: str) -> bool:
    """RFC 3261 ``token``: one or more of the token characters."""
    return bool(text) and not text.strip(_TOKEN_TEXT)


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split at ``sep`` where it is outside double quotes and angle brackets.

    A backslash inside quotes escapes the next character (quoted-pair).
    Used for comma-separated header values and ``;`` parameter lists.
    """
    if '"' not in text and "<" not in text:
        # nothing to skip: without quotes no escape applies and no angle opens
        return text.split(sep)
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = False
    angle = 0
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if in_quotes:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
            current.append(ch)
            continue
        if ch == '"':
            in_quotes = True
        elif ch == "<":
            angle += 1
        elif ch == ">" and angle:
            angle -= 1
        elif ch == sep and angle == 0:
            pieces.append("".join(current))
            current = []
            continue
        current.append(ch)
    if in_quotes:
        raise ParseError("Unterminated quoted string")
    pieces.append("".join(current))
    return pieces


def parse_params(text: str) -> Params:
    """Parse ``;a=b;c;d="q"`` (leading ``;`` optional) into an ordered dict.

    Names are lower-cased; a flag parameter has the value ``None``; the first
    occurrence of a repeated name wins.
    """
    params: Params = {}
    text = text.strip()
    if not text:
        return params
    if text.startswith(";"):
        text = text[1:]
    for piece in split_outside_quotes(text, ";"):
        piece = piece.strip()
        if not piece:
            raise ParseError("Empty parameter")
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not is_token(name):
            raise ParseError("Bad parameter name")
        if eq:
            value = value.strip()
            if not value:
                raise ParseError(f"Empty value for parameter {name}")
        params.setdefault(name.lower(), value if eq else None)
    return params


def format_params(params: Params) -> str:
    """The ``;name=value`` form of a parameter dict (empty for no parameters)."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _check_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 4 or host[1:-1].strip(_IPV6_TEXT):
            raise ParseError("Bad IPv6 reference")
        return host
    if not host or host.strip(_HOST_TEXT):
        raise ParseError("Bad host")
    return host


def parse_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` with bracketed IPv6 references; ports 0..65535."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError("Bad IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ParseError("Bad host")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = text.partition(":")
        port_text = port_text_raw if colon else None
    _check_host(host)
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
        raise ParseError("Bad port")
    port = int(port_text)
    if port > 65535:
        raise ParseError("Bad port")
    return host, port


def format_hostport(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


@dataclass(slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 19.1.1)."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "sip"

    def __init__(
        self,
        host: str,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
        scheme: str = "sip",
    ) -> None:
        self.host = host
        self.user = user
        self.password = password
        self.port = port
        self.params = {} if params is None else params
        self.headers = {} if headers is None else headers
        self.scheme = scheme

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(format_hostport(self.host, self.port))
        out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    def copy(self) -> SipUri:
        """An independent copy (its own parameter and header dicts)."""
        return SipUri(
            self.host, self.user, self.password, self.port, dict(self.params), dict(self.headers), self.scheme
        )

    @property
    def transport(self) -> str:
        """The ``transport`` parameter, lower-cased (``udp`` when absent)."""
        return (self.params.get("transport") or "udp").lower()

    def address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where requests for this URI go without DNS: (``maddr`` or host, port)."""
        host = self.params.get("maddr") or self.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host, self.port if self.port is not None else default_port


@dataclass(slots=True)
class OtherUri:
    """A URI of another scheme (``tel:``, ``urn:``, …), kept as text."""

    scheme: str
    rest: str

    def __init__(self, scheme: str, rest: str) -> None:
        self.scheme = scheme
        self.rest = rest

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"

    def copy(self) -> OtherUri:
        return OtherUri(self.scheme, self.rest)


Uri = SipUri | OtherUri


_URI_EXCLUDED = re.compile('[ \t\r\n<>"]')


def parse_uri(text: str) -> Uri:
    """Parse a URI; ``sip``/``sips`` fully, other schemes as :class:`OtherUri`."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not scheme[0].isalpha() or scheme.strip(_SCHEME_TEXT):
        raise ParseError("Bad URI scheme")
    if not rest or _URI_EXCLUDED.search(rest):
        raise ParseError("Bad URI")
    lower = scheme.lower()
    if lower not in ("sip", "sips"):
        return OtherUri(lower, rest)
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        if not userinfo:
            raise ParseError("Empty user part in URI")
        user, pcolon, pw = userinfo.partition(":")
        password = pw if pcolon else None
    rest, qmark, header_text = rest.partition("?")
    headers: dict[str, str] = {}
    if qmark:
        for item in header_text.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise ParseError("Bad URI header")
            headers[name] = value
    hostport, semi, param_text = rest.partition(";")
    host, port = parse_hostport(hostport)
    params = parse_params(param_text) if semi else {}
    return SipUri(
        host=host.lower() if not host.startswith("[") else host,
        user=user,
        password=password,
        port=port,
        params=params,
        headers=headers,
        scheme=lower,
    )


def _unquote(text: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class NameAddress:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route…).

    ``display_name`` is unquoted; ``params`` are the header's parameters
    (``tag``, ``expires``, ``lr`` inside the brackets belongs to the URI).
    Formatting always uses the bracketed name-addr form, which is valid
    everywhere an addr-spec is.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    def __init__(
        self,
        uri: Uri,
        display_name: str | None = None,
        params: Params | None = None,
    ) -> None:
        self.uri = uri
        self.display_name = display_name
        self.params = {} if params is None else params

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def copy(self) -> NameAddress:
        """An independent copy (its own URI and parameter dict)."""
        return NameAddress(self.uri.copy(), self.display_name, dict(self.params))

    def __str__(self) -> str:
        name = ""
        if self.display_name is not None:
            dn = self.display_name
            name = (dn if dn and all(is_token(w) for w in dn.split(" ")) else _quote(dn)) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        text = text.strip()
        if not text:
            raise ParseError("Empty address")
        display: str | None = None
        if text.startswith('"'):
            end = 1
            escaped = False
            while end < len(text):
                ch = text[end]
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    break
                end += 1
            else:
                raise ParseError("Unterminated display name")
            display = _unquote(text[1:end])
            text = text[end + 1 :].lstrip()
            if not text.startswith("<"):
                raise ParseError("Display name without <URI>")
        if "<" in text.split(";", 1)[0] or text.startswith("<"):
            lt = text.find("<")
            if display is None:
                words = text[:lt].split()
                if words:
                    if not all(is_token(w) for w in words):
                        raise ParseError("Bad display name")
                    display = " ".join(words)
            gt = text.find(">", lt)
            if gt < 0:
                raise ParseError("Missing >")
            uri = parse_uri(text[lt + 1 : gt])
            rest = text[gt + 1 :].strip()
            if rest and not rest.startswith(";"):
                raise ParseError("Junk after address")
            return cls(uri, display, parse_params(rest))
        uri_text, semi, rest = text.partition(";")
        uri_text = uri_text.strip()
        if any(ch in uri_text for ch in " \t,?"):
            raise ParseError("Bad addr-spec")
        return cls(parse_uri(uri_text), None, parse_params(rest) if semi else {})
