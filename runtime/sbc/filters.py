"""The SBC's filters: headers, in-dialog methods, SDP codecs; reply translations (sans-I/O).

A filter is ``transparent`` (nothing removed), ``whitelist`` (only listed
items pass) or ``blacklist`` (listed items are removed).  Header names and
codec names compare case-insensitively; header names also by compact form.
The SIP headers a B2BUA must write itself (:data:`CORE_HEADERS`, and every
``Content-*``) never pass a header filter, whatever the lists say: the
relay writes them for its own leg.
"""

from __future__ import annotations

from collections.abc import Iterable

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import canonical_name
from dsm.runtime.sip.sdp import MediaDescription, parse_sdp

__all__ = [
    "CORE_HEADERS",
    "FILTER_TYPES",
    "is_core_header",
    "filter_header_list",
    "method_allowed",
    "filter_sdp_body",
    "filter_sdp_alines",
    "anonymize_sdp",
    "parse_reply_translations",
    "split_header_lines",
    "STATIC_PAYLOAD_NAMES",
]

FILTER_TYPES = ("transparent", "whitelist", "blacklist")

CORE_HEADERS = frozenset(
    {
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "max-forwards",
        "route",
        "record-route",
    }
)
"""Headers of one hop/dialog, written by the relay for each leg (plus all ``Content-*``)."""

STATIC_PAYLOAD_NAMES = {
    0: "PCMU",
    3: "GSM",
    4: "G723",
    5: "DVI4",
    6: "DVI4",
    7: "LPC",
    8: "PCMA",
    9: "G722",
    10: "L16",
    11: "L16",
    12: "QCELP",
    13: "CN",
    14: "MPA",
    15: "G728",
    16: "DVI4",
    17: "DVI4",
    18: "G729",
}
"""RFC 3551 names of static payload types (used when an ``m=`` line has no ``a=rtpmap``)."""

ALWAYS_ALLOWED_METHODS = frozenset({"ACK", "CANCEL"})


def is_core_header(name: str) -> bool:
    """Is ``name`` (any case, compact form allowed) a header the relay writes itself?"""
    lower = canonical_name(name.strip()).lower()
    return lower in CORE_HEADERS or lower.startswith("content-")


def filter_header_list(
    kind: str, names: Iterable[str], headers: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The ``headers`` that pass filter ``kind`` with list ``names`` (core headers never do)."""
    listed = {canonical_name(n.strip()).lower() for n in names if n.strip()}
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if is_core_header(name):
            continue
        hit = canonical_name(name.strip()).lower() in listed
        if kind == "whitelist" and not hit:
            continue
        if kind == "blacklist" and hit:
            continue
        out.append((name, value))
    return out


def method_allowed(kind: str, methods: Iterable[str], method: str) -> bool:
    """May an in-dialog ``method`` pass filter ``kind``? ACK and CANCEL always pass."""
    m = method.strip().upper()
    if m in ALWAYS_ALLOWED_METHODS or kind not in ("whitelist", "blacklist"):
        return True
    hit = m in {x.strip().upper() for x in methods}
    return hit if kind == "whitelist" else not hit


def _payload_name(media: MediaDescription, fmt: str, rtpmap: dict[int, tuple[str, int, int]]) -> str:
    if not fmt.isdigit():
        return fmt.lower()
    pt = int(fmt)
    if pt in rtpmap:
        return rtpmap[pt][0].lower()
    return STATIC_PAYLOAD_NAMES.get(pt, "").lower()


def _drop_attributes(media: MediaDescription, removed: set[str]) -> None:
    keep = []
    for name, value in media.attributes:
        if name in ("rtpmap", "fmtp", "rtcp-fb") and value is not None:
            if value.split(" ", 1)[0] in removed:
                continue
        keep.append((name, value))
    media.attributes = keep


def filter_sdp_body(kind: str, codecs: Iterable[str], body: bytes) -> tuple[bytes, bool]:
    """Codecs kept (whitelist) or removed (blacklist) by name in every ``m=`` line.

    Returns the new body and whether any media stream is still usable.  A
    stream that loses all its payloads keeps its first one and gets port 0
    (rejected, RFC 3264 6.1), as the reference does; ``telephone-event`` is
    a payload like any other (list it to keep DTMF events in a whitelist).
    A ``transparent`` filter or an unparsable body leaves ``body`` untouched.
    """
    if kind not in ("whitelist", "blacklist") or not body.strip():
        return body, True
    try:
        sdp = parse_sdp(body)
    except (ParseError, ValueError):
        return body, True
    names = {c.strip().lower() for c in codecs if c.strip()}
    left = False
    filtered_out = False
    for media in sdp.media:
        rtpmap = media.rtpmap()
        kept: list[str] = []
        removed: set[str] = set()
        for fmt in media.formats:
            listed = _payload_name(media, fmt, rtpmap) in names
            if listed == (kind == "whitelist"):
                kept.append(fmt)
            else:
                removed.add(fmt)
        if not kept and media.formats:
            kept = media.formats[:1]
            removed.discard(kept[0])
            media.port = 0
            filtered_out = True
        elif media.port != 0:
            left = True
        media.formats = kept
        _drop_attributes(media, removed)
    return bytes(sdp), left or not filtered_out


_MEDIA_STRUCTURE = frozenset({"rtpmap", "fmtp", "direction", "sendrecv", "sendonly", "recvonly", "inactive"})
"""Media-level attributes the reference parses into the stream itself: never filtered as a= lines."""


def _kept_attributes(
    kind: str, names: set[str], attributes: list[tuple[str, str | None]], keep: frozenset[str] = frozenset()
) -> list[tuple[str, str | None]]:
    return [(n, v) for n, v in attributes if n.lower() in keep or (n.lower() in names) == (kind == "whitelist")]


def filter_sdp_alines(kind: str, names: Iterable[str], body: bytes) -> bytes:
    """``a=`` lines kept (whitelist) or removed (blacklist) by attribute name.

    Names compare case-insensitively (``rtpmap`` matches ``a=RTPMAP:…``) and
    apply to the session's and every media stream's attributes.  A stream's
    ``rtpmap``, ``fmtp`` and direction (``sendrecv`` …) are part of the
    stream and always stay, as in the reference.
    A ``transparent`` filter or an unparsable body leaves ``body`` untouched.
    """
    if kind not in ("whitelist", "blacklist") or not body.strip():
        return body
    try:
        sdp = parse_sdp(body)
    except (ParseError, ValueError):
        return body
    listed = {n.strip().lower() for n in names if n.strip()}
    sdp.attributes = _kept_attributes(kind, listed, sdp.attributes)
    for media in sdp.media:
        media.attributes = _kept_attributes(kind, listed, media.attributes, _MEDIA_STRUCTURE)
    return bytes(sdp)


def anonymize_sdp(body: bytes, address: str = "") -> bytes:
    """``sdp_anonymize``: ``s=-``, no ``u=`` line, ``o=`` user ``-`` and address ``address``.

    ``address`` is the relay's own (the reference uses the leg's advertised
    address); empty keeps the ``o=`` address.  An unparsable body is
    left untouched.
    """
    if not body.strip():
        return body
    try:
        sdp = parse_sdp(body)
    except (ParseError, ValueError):
        return body
    sdp.session_name = "-"
    sdp.extra = [(k, v) for k, v in sdp.extra if k != "u"]
    sdp.origin.username = "-"
    if address:
        sdp.origin.address = address
        sdp.origin.addr_type = "IP6" if ":" in address else "IP4"
    return bytes(sdp)


def parse_reply_translations(text: str) -> dict[int, tuple[int, str]]:
    """``"603=>488 Not acceptable here|600=>406 Not Acceptable"`` as ``{603: (488, "…")}``.

    :class:`ValueError` with a readable message for a malformed entry.
    """
    out: dict[int, tuple[int, str]] = {}
    for entry in text.split("|"):
        if not entry.strip():
            continue
        parts = [p for p in entry.split("=>")]
        if len(parts) != 2:
            raise ValueError(f"reply translation '{entry}': expected 'code=>newcode reason'")
        code_text, target = parts[0].strip(), parts[1].strip()
        new_text, _, reason = target.partition(" ")
        for t in (code_text, new_text):
            if not (t.isascii() and t.isdigit() and len(t) == 3 and 100 <= int(t) <= 699):
                raise ValueError(f"reply translation '{entry}': '{t}' is not a reply code (100-699)")
        out[int(code_text)] = (int(new_text), reason.strip())
    return out


def split_header_lines(text: str) -> list[tuple[str, str]]:
    """``"A: 1\\r\\nB: 2"`` (evaluated ``append_headers``) as ``[("A", "1"), ("B", "2")]``.

    Lines without a ``name:`` and core headers are dropped (the relay writes those).
    """
    out: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c in name for c in " \t") or is_core_header(name):
            continue
        out.append((name, value.strip()))
    return out
