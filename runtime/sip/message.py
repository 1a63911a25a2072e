"""SIP messages: the Request/Response model, the parser and the serialiser.

``parse_message(data)`` turns one datagram (or one framed stream message)
into a :class:`Request` or :class:`Response`; ``bytes(message)`` serialises
it again.  The parser follows RFC 3261 section 7 with the leniencies real
traffic needs (RFC 4475): CRLFs before the start line are skipped, bare LF
line ends are accepted, folded header lines are joined, compact header
names are expanded, comma lists are split, and whitespace around the colon
is ignored.

Content-Length (RFC 3261 18.3): over UDP a body longer than Content-Length
is truncated, a missing Content-Length means "the rest of the datagram",
and a Content-Length larger than the body is an error.  Over a stream the
header is required and :class:`StreamFramer` cuts messages by it.

Every defect is reported as :class:`ParseError`; the essential headers of
every message (Via, From, To, Call-ID, CSeq) are checked here so that upper
layers can rely on them.  When only a non-essential part is bad, the error
carries the partially parsed request so that a ``400`` can be sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from mypy_extensions import mypyc_attr

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Headers, Via
from dsm.runtime.sip.uri import NameAddress, Uri, is_token, parse_uri

__all__ = [
    "Request",
    "Response",
    "Message",
    "parse_message",
    "StreamFramer",
    "ParseError",
    "TooLarge",
    "header_count",
    "essential_request",
]

MAX_HEAD_SIZE = 65536

_T = TypeVar("_T")


_SHARED: dict[tuple[str, str], object] = {}
"""Parses of header values shared by all messages: ``(accessor, text) -> parse``, never handed out.

The From, To, Contact and CSeq of a call come again in its ACK and BYE, and
many calls from one peer share their To, Contact and CSeq texts: each text is
parsed once.  Like a message's own memo, the parse is only read or copied
(see :meth:`_Base._parsed`).  Bounded, whatever a peer sends: at most
``_SHARED_MAX`` texts of at most ``_SHARED_TEXT_MAX`` characters (a longer
one is parsed for its message alone); emptied when full.
"""
_SHARED_MAX = 2048
_SHARED_TEXT_MAX = 256
_SHARED_KEYS = frozenset({"From", "To", "Contact", "CSeq", "R-URI"})
"""What is worth sharing: not the Via, whose branch differs in every request."""


def _shared_parse(key: str, value: str, parse: Callable[[str], _T]) -> _T:
    """``parse(value)``, from :data:`_SHARED` when the same text was parsed before."""
    if key not in _SHARED_KEYS or len(value) > _SHARED_TEXT_MAX:
        return parse(value)
    known = _SHARED.get((key, value))
    if known is not None:
        return cast("_T", known)
    parsed = parse(value)
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.clear()
    _SHARED[(key, value)] = parsed
    return parsed


@dataclass(slots=True, eq=True)
class _Base:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    _memo: dict[str, tuple[str, object]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Parsed essential headers by accessor, each with the text it was parsed from.

    The parser validates Via/From/To/CSeq, and the layers above read them
    again several times per message: the parse is kept and each read gets a
    copy (callers may change what they get, e.g. the top Via's ``received``).
    A header changed since is parsed again, since its text no longer matches.
    """

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = Headers() if headers is None else headers
        self.body = body
        self._memo = {}

    def _parsed(self, key: str, value: str, parse: Callable[[str], _T]) -> _T:
        memo = self._memo.get(key)
        if memo is not None and memo[0] == value:
            return cast("_T", memo[1])
        parsed = _shared_parse(key, value, parse)
        self._memo[key] = (value, parsed)
        return parsed

    # --- typed accessors for the essential headers -------------------------

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return self._parsed("CSeq", self.headers.get("CSeq") or "", CSeq.parse)  # frozen: no copy

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return self.top_via_view.copy()

    @property
    def top_via_view(self) -> Via:
        """The parsed top Via itself, kept for every reader: to read, never to change.

        :attr:`top_via` is a copy a caller may change; the transaction layer
        only reads the branch and sent-by, several times per message.
        """
        value = self.headers.get("Via")
        if value is None:
            raise ParseError("Missing Via")
        return self._parsed("Via", value, Via.parse)

    def share_parse(self, source: _Base, name: str, text: str) -> None:
        """Take ``source``'s kept parse of header ``name`` if made of ``text``, this message's value.

        A response copies its request's From, To, CSeq and top Via: their
        parses need not be made again (they are only read or copied).
        """
        memo = source._memo.get(name)
        if memo is not None and memo[0] == text:
            self._memo[name] = memo

    def remember_parse(self, name: str, text: str, parsed: object) -> None:
        """Keep ``parsed`` as the parse of header ``name`` while its text is ``text``.

        For a header built from a parse at hand (a response's To with the
        tag added to its request's): readers then skip the parse.  The
        object is kept, read and copied like a parse of the text.
        """
        self._memo[name] = (text, parsed)

    def _address(self, name: str) -> NameAddress:
        """The parsed From or To, kept (only read here or copied for callers)."""
        return self._parsed(name, self.headers.get(name) or "", NameAddress.parse)

    @property
    def from_(self) -> NameAddress:
        return self._address("From").copy()

    @property
    def to(self) -> NameAddress:
        return self._address("To").copy()

    @property
    def from_tag(self) -> str | None:
        """The From tag (``from_.tag`` without copying the parsed From)."""
        return self._address("From").tag

    @property
    def to_tag(self) -> str | None:
        """The To tag (``to.tag`` without copying the parsed To)."""
        return self._address("To").tag

    @property
    def contact(self) -> NameAddress | None:
        value = self.headers.get("Contact")
        if value is None or value.strip() == "*":
            return None
        return self._parsed("Contact", value, NameAddress.parse).copy()

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (empty when absent)."""
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def _head_lines(self) -> list[str]:
        lines = [f"{name}: {value}" for name, value in self.headers if name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return lines


@dataclass(slots=True, eq=True)
class Request(_Base):
    """A SIP request.  ``uri`` is the Request-URI as text; see :attr:`request_uri`."""

    method: str = "OPTIONS"
    uri: str = "sip:invalid"
    version: str = "SIP/2.0"

    def __init__(
        self,
        headers: Headers | None = None,
        body: bytes = b"",
        method: str = "OPTIONS",
        uri: str = "sip:invalid",
        version: str = "SIP/2.0",
    ) -> None:
        _Base.__init__(self, headers, body)  # not super(): slots=True rebuilds the class
        self.method = method
        self.uri = uri
        self.version = version

    @property
    def request_uri(self) -> Uri:
        return self._parsed("R-URI", self.uri, parse_uri).copy()

    def __bytes__(self) -> bytes:
        head = "\r\n".join([f"{self.method} {self.uri} {self.version}", *self._head_lines()])
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + self.body


@dataclass(slots=True, eq=True)
class Response(_Base):
    """A SIP response."""

    status: int = 200
    reason: str = "OK"
    version: str = "SIP/2.0"

    def __init__(
        self,
        headers: Headers | None = None,
        body: bytes = b"",
        status: int = 200,
        reason: str = "OK",
        version: str = "SIP/2.0",
    ) -> None:
        _Base.__init__(self, headers, body)  # not super(): slots=True rebuilds the class
        self.status = status
        self.reason = reason
        self.version = version

    def __bytes__(self) -> bytes:
        head = "\r\n".join([f"{self.version} {self.status} {self.reason}", *self._head_lines()])
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + self.body


Message = Request | Response


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line (CRLF CRLF or bare LF LF)."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        raise ParseError("No end of headers")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return data[:crlf], data[crlf + 4 :]
    return data[:lf], data[lf + 2 :]


_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0B, 0x0D), *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL = bytes(byte for byte in range(256) if byte not in _CONTROL_BYTES)
"""Every byte but the controls a head may not hold (tab, CR and LF stay: checked by place)."""


def _head_lines(head_bytes: bytes, head: str) -> list[str]:
    """The head's lines (``head`` is ``head_bytes`` decoded), end-of-line CRs dropped.

    Most heads hold no control character but CR LF, no bare CR and no
    folded line: for them three C-level passes over the whole head do
    what :func:`_checked_head_lines` does line by line.  Any other head
    goes through it, for the same lines or the same error.
    """
    if head_bytes.translate(None, _NOT_CONTROL) or head[:1] in (" ", "\t"):
        return _checked_head_lines(head)
    text = head.replace("\r\n", "\n")
    if text.endswith("\r"):
        text = text[:-1]
    if "\r" in text or "\n " in text or "\n\t" in text:
        return _checked_head_lines(head)
    return text.split("\n")


def _checked_head_lines(head: str) -> list[str]:
    """:func:`_head_lines` line by line: control characters, bare CRs and folded lines."""
    lines: list[str] = []
    for raw in head.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if _CONTROL.search(line):
            raise ParseError("Control character in header")
        if line[:1] in (" ", "\t"):
            if len(lines) < 2:
                raise ParseError("Continuation line without header")
            lines[-1] = lines[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            lines.append(line)
    return lines


def _parse_version(text: str) -> str:
    if not text.upper().startswith("SIP/"):
        raise ParseError("Bad SIP version")
    major, dot, minor = text[4:].partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise ParseError("Bad SIP version")
    return "SIP/" + text[4:]


_ESSENTIAL_NAMES = ("Via", "From", "To", "Call-ID", "CSeq")

_TOKEN_NAMES: set[str] = set()
"""Header names seen to be tokens (bounded): a known name costs one set lookup per line."""


def _token_name(name: str) -> bool:
    """Whether ``name`` is a token (RFC 3261); a good one is remembered, up to 1,024 names."""
    if not is_token(name):
        return False
    if len(_TOKEN_NAMES) < 1024:
        _TOKEN_NAMES.add(name)
    return True


def _check_essentials(message: Message) -> None:
    """Via, From, To, Call-ID and CSeq must be present and parseable."""
    headers = message.headers
    counts = [headers.count(name) for name in _ESSENTIAL_NAMES]
    for name, count in zip(_ESSENTIAL_NAMES, counts, strict=True):
        if not count:
            raise ParseError(f"Missing {name}")
    for name, count in zip(_ESSENTIAL_NAMES[1:], counts[1:], strict=True):
        if count > 1:
            raise ParseError(f"Multiple {name} headers")
    # Parsed for validation and kept for the readers to come (no copies here:
    # the same values and parses as top_via, from_, to, cseq and call_id read).
    message._parsed("Via", headers.get("Via") or "", Via.parse)
    message._parsed("From", headers.get("From") or "", NameAddress.parse)
    message._parsed("To", headers.get("To") or "", NameAddress.parse)
    cseq = message._parsed("CSeq", headers.get("CSeq") or "", CSeq.parse)
    call_id = (headers.get("Call-ID") or "").strip()
    if not call_id or any(ch in call_id for ch in " \t"):
        raise ParseError("Bad Call-ID")
    if isinstance(message, Request):
        if cseq.method != message.method:
            raise ParseError("CSeq method does not match")
        if cseq.number >= 2**31:
            raise ParseError("CSeq number too large")


def parse_message(data: bytes, *, stream: bool = False) -> Message:
    """Parse one SIP message; raise :class:`ParseError` on any defect."""
    try:
        return _parse(data, stream)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: ParseError and nothing else
        raise ParseError(f"Malformed message ({type(exc).__name__})") from None


def _parse(data: bytes, stream: bool) -> Message:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError("Not bytes")
    data = bytes(data).lstrip(b"\r\n")
    if not data:
        raise ParseError("Empty message")
    head_bytes, rest = _split_head(data)
    if len(head_bytes) > MAX_HEAD_SIZE:
        raise ParseError("Headers too large")
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines = _head_lines(head_bytes, head)
    start = lines[0]
    message: Message
    parts = start.split(" ", 2)
    if start.startswith("SIP/"):
        if len(parts) < 2:
            raise ParseError("Bad status line")
        version = _parse_version(parts[0])
        code = parts[1]
        if (
            len(code) != 3
            or not code.isdigit()
            or not code.isascii()
            or not 100 <= int(code) <= 699
        ):
            raise ParseError("Bad status code")
        message = Response(
            status=int(code), reason=parts[2] if len(parts) > 2 else "", version=version
        )
    else:
        if len(parts) != 3 or not parts[1]:
            raise ParseError("Bad request line")
        method, uri, version_text = parts
        if not is_token(method):
            raise ParseError("Bad method")
        message = Request(method=method, uri=uri, version=_parse_version(version_text))
    headers = message.headers
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or (name not in _TOKEN_NAMES and not _token_name(name)):
            raise ParseError("Bad header line")
        headers.add_raw(name, value.strip(" \t"))
    _check_essentials(message)
    # From here on the request is good enough to be answered with a 400.
    salvage = message if isinstance(message, Request) else None
    try:
        message.body = _frame_body(headers, rest, stream)
        if isinstance(message, Request):
            message._parsed("R-URI", message.uri, parse_uri)  # validate (kept for request_uri)
            max_forwards = headers.get("Max-Forwards")
            if max_forwards is not None and (
                not max_forwards.isdigit() or not max_forwards.isascii() or int(max_forwards) > 255
            ):
                raise ParseError("Bad Max-Forwards")
    except ParseError as exc:
        if salvage is not None:
            salvage.body = b""
        raise ParseError(exc.reason, salvage) from None
    return message


def header_count(data: bytes) -> int:
    """Lines in the head of ``data`` after the start line (folded lines count): cheap, no parsing."""
    data = data.lstrip(b"\r\n")
    end = data.find(b"\n\r\n")
    lf = data.find(b"\n\n")
    if end < 0 or (0 <= lf < end):
        end = lf
    head = data if end < 0 else data[:end]
    return head.count(b"\n")


_ESSENTIAL = frozenset({b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"})


def essential_request(head: bytes) -> Request | None:
    """The request line and Via/From/To/Call-ID/CSeq of a head too large to parse, as a request.

    Enough to route a ``513 Message Too Large`` back (RFC 3261 21.5.14)
    without parsing the rest; ``None`` when it is no request or the
    essentials are missing or bad.  Only whole lines are used.
    """
    head = head.lstrip(b"\r\n")
    lines = head.split(b"\n")
    if len(lines) < 2:
        return None
    kept = [lines[0].rstrip(b"\r")]
    for raw in lines[1:-1] if not head.endswith(b"\n") else lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            break
        name = line.partition(b":")[0].strip().lower()
        if name in _ESSENTIAL:
            kept.append(line)
    try:
        message = parse_message(b"\r\n".join(kept) + b"\r\nContent-Length: 0\r\n\r\n")
    except ParseError:
        return None
    return message if isinstance(message, Request) else None


@mypyc_attr(native_class=False)  # compiled (native_modules): a bytes subclass stays a Python class
class TooLarge(bytes):
    """What :meth:`StreamFramer.frames` gives for a message over its size: the head's first bytes.

    ``framing_lost`` says whether the stream position is lost (the head did
    not end within the limit); when it is not, the body was skipped and the
    connection can go on.
    """

    framing_lost: bool = False


def _frame_body(headers: Headers, rest: bytes, stream: bool) -> bytes:
    count = headers.count("Content-Length")
    if not count:
        if stream:
            raise ParseError("Missing Content-Length")
        return rest
    if count > 1 and len(set(headers.get_all("Content-Length"))) > 1:
        raise ParseError("Conflicting Content-Length")
    text = headers.get("Content-Length") or ""
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise ParseError("Bad Content-Length")
    length = int(text)
    if length > len(rest):
        raise ParseError("Content-Length larger than body")
    return rest[:length]


class StreamFramer:
    """Cut a byte stream (TCP/TLS) into SIP messages by Content-Length.

    Feed received bytes; get back the complete messages so far, parsed
    (:meth:`feed`) or as raw bytes (:meth:`frames`, for a receiver that
    parses itself and answers a malformed but framed message with ``400``
    instead of dropping the connection).

    A message over ``max_message`` bytes is returned as a :class:`TooLarge`
    item (its head, for a ``513`` answer): when its head ended within the
    limit, its body is skipped as it arrives and the stream goes on; when
    not, the stream position is lost (``framing_lost``) and nothing more is
    returned.  A framing error (a bad Content-Length) raises
    :class:`ParseError`.  Messages complete
    before the bad bytes are returned first; the error is then kept in
    :attr:`broken` and raised by the next call.  Either way the connection
    should be closed, as the stream position is lost.  Keep-alive CRLFs
    between messages are skipped; each CRLF CRLF among them is an RFC 5626
    (3.5.1) ping, counted in :attr:`pings` for the connection to answer
    with a CRLF pong.  A missing Content-Length frames the message without
    body (the parser then reports it: RFC 3261 18.3 requires the header on
    streams).
    """

    def __init__(self, max_message: int = 1 << 20) -> None:
        self._buffer = b""
        self._max = max_message
        self._skip = 0
        """Body bytes of an oversized message still to be thrown away."""
        self._crlfs = 0
        """CRLFs seen since the last message, not yet counted as a ping."""
        self.pings = 0
        """Keep-alive pings received and not yet answered; the reader resets it."""
        self.broken: ParseError | None = None
        """The framing error met after the messages last returned, if any."""

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        for chunk in self.frames(data):
            if isinstance(chunk, TooLarge):
                raise ParseError("Message too large")
            out.append(parse_message(chunk, stream=True))
        return out

    @property
    def pending(self) -> int:
        """Bytes of a message begun but not complete (skipped body bytes included)."""
        return len(self._buffer) + self._skip

    def frames(self, data: bytes) -> list[bytes]:
        """The complete messages in the stream so far, each as its own bytes."""
        if self.broken is not None:
            raise self.broken
        self._buffer += data
        out: list[bytes] = []
        try:
            self._cut(out)
        except ParseError as exc:
            self.broken = exc
            self._buffer = b""
            if not out:
                raise
        return out

    def _skip_keepalives(self) -> None:
        """Drop the CRLFs before the next message; every second one completes a ping.

        The count carries over between reads, so a ping split over two
        segments still counts; a message in between starts it afresh.
        """
        buffer = self._buffer
        rest = buffer.lstrip(b"\r\n")
        if len(rest) != len(buffer):
            self._crlfs += buffer.count(b"\r\n", 0, len(buffer) - len(rest))
            self.pings += self._crlfs // 2
            self._crlfs %= 2
            self._buffer = rest
        if rest:
            self._crlfs = 0

    def _cut(self, out: list[bytes]) -> None:
        while True:
            if self._skip:
                dropped = min(self._skip, len(self._buffer))
                self._skip -= dropped
                self._buffer = self._buffer[dropped:]
                if self._skip:
                    return
            self._skip_keepalives()
            if not self._buffer:
                return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > min(MAX_HEAD_SIZE, self._max):
                    too_large = TooLarge(self._buffer[: self._max])
                    too_large.framing_lost = True
                    out.append(too_large)
                    raise ParseError("Headers too large")
                return
            head = self._buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, colon, value = line.partition(b":")
                if colon and name.strip().lower() in (b"content-length", b"l"):
                    value = value.strip()
                    if not value.isdigit() or len(value) > 9:
                        raise ParseError("Bad Content-Length")
                    length = int(value)
            total = end + 4 + length
            if total > self._max:
                if end + 4 > self._max:  # the head alone is over: its end is no safe boundary
                    too_large = TooLarge(head[: self._max])
                    too_large.framing_lost = True
                    out.append(too_large)
                    raise ParseError("Headers too large")
                out.append(TooLarge(head + b"\r\n\r\n"))
                self._buffer = self._buffer[end + 4 :]
                self._skip = length
                continue
            if len(self._buffer) < total:
                return
            chunk, self._buffer = self._buffer[:total], self._buffer[total:]
            out.append(chunk)
