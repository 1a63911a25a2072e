"""SIP header fields: names, compact forms, multi-value splitting, Via and CSeq.

Header names are case-insensitive (RFC 3261 7.3.1); the parser normalises
compact forms (``v`` -> ``Via``, ``i`` -> ``Call-ID`` …) and known names to
their canonical spelling so that upper layers (and ``$hdrs`` in scripts)
see one spelling.  Headers whose grammar is a comma list (Via, Contact,
Route, Allow, …) are split into one entry per value, at commas outside
quotes and angle brackets; other headers (Authorization, Date, …) contain
commas as part of a single value and are never split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.uri import (
    Params,
    format_hostport,
    format_params,
    is_token,
    parse_hostport,
    parse_params,
    split_outside_quotes,
)

__all__ = ["Headers", "Via", "CSeq", "canonical_name", "COMPACT_FORMS", "MULTI_VALUE"]

COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Authentication-Info",
        "Authorization",
        "Call-ID",
        "Call-Info",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Error-Info",
        "Event",
        "Expires",
        "From",
        "Identity",
        "Identity-Info",
        "In-Reply-To",
        "Max-Forwards",
        "Min-Expires",
        "Min-SE",
        "MIME-Version",
        "Organization",
        "P-Asserted-Identity",
        "P-App-Name",
        "P-App-Param",
        "Path",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "RAck",
        "Reason",
        "Record-Route",
        "Refer-To",
        "Referred-By",
        "Reject-Contact",
        "Reply-To",
        "Request-Disposition",
        "Require",
        "Retry-After",
        "Route",
        "RSeq",
        "Server",
        "Service-Route",
        "Session-Expires",
        "Subject",
        "Subscription-State",
        "Supported",
        "Timestamp",
        "To",
        "Unsupported",
        "User-Agent",
        "Via",
        "Warning",
        "WWW-Authenticate",
    )
}

MULTI_VALUE: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Require",
        "Route",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)


_EXACT: dict[str, str] = {
    **{name: name for name in _CANONICAL.values()},
    **COMPACT_FORMS,
    **{short.upper(): full for short, full in COMPACT_FORMS.items()},
}
"""Names already spelled canonically, and compact forms: one lookup, no lower-casing."""


def canonical_name(name: str) -> str:
    """Full, canonically spelled name for a header name or compact form."""
    exact = _EXACT.get(name)
    if exact is not None:
        return exact
    lower = name.lower()
    if len(lower) == 1 and lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    return _CANONICAL.get(lower, name)


_NAMES: dict[str, tuple[str, str]] = {}
"""Header name as written (in code or on the wire) -> (canonical name, its lower-cased key)."""
_NAMES_MAX = 1024
"""Names kept in :data:`_NAMES`; beyond, a name is worked out each time (a peer's made-up names)."""


def _name_of(name: str) -> tuple[str, str]:
    """``(canonical name, lookup key)`` of ``name``: one dict lookup for every name seen before."""
    known = _NAMES.get(name)
    if known is not None:
        return known
    full = canonical_name(name)
    known = (full, full.lower())
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[name] = known
    return known


class Headers:
    """Ordered header entries ``(name, value)`` with case-insensitive lookup.

    One entry per value: ``Via: a, b`` is stored as two ``Via`` entries.
    ``_keys`` holds each entry's name lower-cased, in the same order, so that
    a lookup is one C-level ``list.index`` rather than a ``lower()`` per entry.
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._keys: list[str] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append one value (the name is canonicalised)."""
        full, key = _NAMES.get(name) or _name_of(name)
        self._items.append((full, value))
        self._keys.append(key)

    def add_raw(self, name: str, value: str) -> None:
        """Append a received value, splitting comma lists of multi-value headers."""
        full, key = _NAMES.get(name) or _name_of(name)
        if key in MULTI_VALUE and "," in value:
            for piece in split_outside_quotes(value, ","):
                piece = piece.strip()
                if piece:
                    self._items.append((full, piece))
                    self._keys.append(key)
            return
        self._items.append((full, value))
        self._keys.append(key)

    def prepend(self, name: str, value: str) -> None:
        full = canonical_name(name)
        self._items.insert(0, (full, value))
        self._keys.insert(0, full.lower())

    def _index(self, lower: str) -> int:
        try:
            return self._keys.index(lower)
        except ValueError:
            return -1

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` (compact forms accepted), else ``default``.

        A plain loop, not ``list.index``: compiled, it compares the interned
        keys by identity first, and a missing name raises nothing (about 70
        reads a call, each a few hundred instructions less).
        """
        key = _name_of(name)[1]
        keys = self._keys
        for index in range(len(keys)):
            if keys[index] == key:
                return self._items[index][1]
        return default

    def count(self, name: str) -> int:
        """How many values of ``name`` there are (compact forms accepted)."""
        key = _name_of(name)[1]
        found = 0
        for other in self._keys:
            if other == key:
                found += 1
        return found

    def get_all(self, name: str) -> list[str]:
        lower = (_NAMES.get(name) or _name_of(name))[1]
        if lower not in self._keys:
            return []
        return [item[1] for key, item in zip(self._keys, self._items, strict=True) if key == lower]

    def set(self, name: str, value: str) -> None:
        """Replace all values of ``name`` by one, at the place of the first."""
        full = canonical_name(name)
        lower = full.lower()
        out: list[tuple[str, str]] = []
        keys: list[str] = []
        placed = False
        for key, (n, v) in zip(self._keys, self._items, strict=True):
            if key == lower:
                if not placed:
                    out.append((n, value))  # keep the existing spelling
                    keys.append(key)
                    placed = True
            else:
                out.append((n, v))
                keys.append(key)
        if not placed:
            out.append((full, value))
            keys.append(lower)
        self._items = out
        self._keys = keys

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value of ``name`` in place (e.g. the top Via)."""
        index = self._index(canonical_name(name).lower())
        if index < 0:
            raise KeyError(name)
        self._items[index] = (self._items[index][0], value)

    def remove(self, name: str) -> None:
        lower = canonical_name(name).lower()
        if lower not in self._keys:
            return
        kept = [(key, item) for key, item in zip(self._keys, self._items, strict=True) if key != lower]
        self._keys = [key for key, _ in kept]
        self._items = [item for _, item in kept]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        new._keys = list(self._keys)
        return new

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass(slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=…;received=…;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.params = {} if params is None else params
        self.protocol = protocol

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value when it carries a port number (RFC 3581)."""
        value = self.params.get("rport")
        return int(value) if value and value.isdigit() and int(value) <= 65535 else None

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {format_hostport(self.host, self.port)}{format_params(self.params)}"

    def copy(self) -> Via:
        """An independent copy (its own parameter dict)."""
        return Via(self.transport, self.host, self.port, dict(self.params), self.protocol)

    @classmethod
    def parse(cls, text: str) -> Via:
        parts = text.strip().split("/", 2)
        if len(parts) != 3:
            raise ParseError("Bad Via")
        name, version = parts[0].strip(), parts[1].strip()
        rest = parts[2].lstrip()
        transport, _, rest = rest.partition(" ")
        if "\t" in transport:
            transport, _, tail = transport.partition("\t")
            rest = tail + " " + rest
        if not is_token(name) or not is_token(version) or not is_token(transport):
            raise ParseError("Bad Via protocol")
        rest = rest.strip()
        sent_by, semi, param_text = rest.partition(";")
        # Comments in parentheses after the sent-by are allowed and ignored.
        sent_by = sent_by.split("(", 1)[0].strip()
        host, port = parse_hostport(sent_by)
        params = parse_params(param_text) if semi else {}
        return cls(transport.upper(), host.lower(), port, params, f"{name.upper()}/{version}")

    def response_address(self, source: tuple[str, int] | None = None) -> tuple[str, int]:
        """Where a response to this Via goes over UDP (RFC 3261 18.2.2, RFC 3581).

        ``received`` (or the source address) and ``rport`` take precedence
        over the sent-by host and port.
        """
        host = self.received or self.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = self.rport
        if port is None and "rport" in self.params and source is not None:
            port = source[1]
        if port is None:
            port = self.port if self.port is not None else 5060
        return host, port


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: <number> <METHOD>``; the number is below 2**32."""

    number: int
    method: str

    def __init__(self, number: int, method: str) -> None:
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "method", method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii():
            raise ParseError("Bad CSeq")
        if len(parts[0]) > 10 or int(parts[0]) >= 2**32:
            raise ParseError("CSeq number too large")
        if not is_token(parts[1]):
            raise ParseError("Bad CSeq method")
        return cls(int(parts[0]), parts[1])
