"""SDP (RFC 4566) parse/serialise and the audio offer/answer of RFC 3264.

The model keeps every line it does not interpret (``i=``, ``u=``, ``b=``,
unknown attributes …) so that a description formats back to its lines.
The negotiation covers what the media layer implements: G.711 PCMU (static
payload type 0), PCMA (8) and RFC 4733 telephone-event (dynamic, usually
101), 8 kHz, 20 ms frames.

Answer rules (:func:`answer_offer`):

* one m-line per offered m-line; streams we do not take (non-audio, other
  transports, a second audio stream, no common codec) get port 0;
* the accepted audio stream keeps the **offer's payload order**, filtered to
  what we support: the reference's auto-answer echoes the offer order, so
  the caller's first choice is used;
* direction: ``sendonly`` is answered ``recvonly``, ``recvonly`` with
  ``sendonly``, ``inactive`` with ``inactive``, ``sendrecv`` with
  ``sendrecv``; the legacy hold form ``c=0.0.0.0`` (RFC 2543) is answered
  ``recvonly``.  ``sendonly``, ``inactive`` and ``c=0.0.0.0`` count as hold;
* no audio stream with a common codec: :class:`OfferAnswerError` with
  status 488 (Not Acceptable Here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsm.runtime.sip.errors import ParseError

__all__ = [
    "Origin",
    "Connection",
    "MediaDescription",
    "SessionDescription",
    "Codec",
    "PCMU",
    "PCMA",
    "parse_sdp",
    "answer_offer",
    "make_offer",
    "Negotiated",
    "OfferAnswerError",
    "DIRECTIONS",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
_STATIC_PAYLOADS: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
}


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str = "-"
    session_id: str = "0"
    version: str = "0"
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "127.0.0.1"

    def __init__(
        self,
        username: str = "-",
        session_id: str = "0",
        version: str = "0",
        net_type: str = "IN",
        addr_type: str = "IP4",
        address: str = "127.0.0.1",
    ) -> None:
        self.username = username
        self.session_id = session_id
        self.version = version
        self.net_type = net_type
        self.addr_type = addr_type
        self.address = address

    def __str__(self) -> str:
        return " ".join(
            (
                self.username,
                self.session_id,
                self.version,
                self.net_type,
                self.addr_type,
                self.address,
            )
        )


@dataclass(slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>`` (a multicast TTL stays in ``address``)."""

    address: str
    net_type: str = "IN"
    addr_type: str = "IP4"

    def __init__(self, address: str, net_type: str = "IN", addr_type: str = "IP4") -> None:
        self.address = address
        self.net_type = net_type
        self.addr_type = addr_type

    def __str__(self) -> str:
        return f"{self.net_type} {self.addr_type} {self.address}"

    @property
    def is_null(self) -> bool:
        """The RFC 2543 hold address."""
        return self.address.split("/", 1)[0] in ("0.0.0.0", "::")


Attribute = tuple[str, str | None]


def _find(attributes: list[Attribute], name: str) -> list[str | None]:
    return [v for n, v in attributes if n == name]


def _direction(attributes: list[Attribute]) -> str | None:
    for name, value in attributes:
        if name in DIRECTIONS and value is None:
            return name
    return None


@dataclass(slots=True)
class MediaDescription:
    """One ``m=`` section with its ``c=``, ``b=``, ``a=`` and other lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    def __init__(
        self,
        media: str,
        port: int,
        proto: str,
        formats: list[str],
        port_count: int | None = None,
        connection: Connection | None = None,
        attributes: list[Attribute] | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self.media = media
        self.port = port
        self.proto = proto
        self.formats = formats
        self.port_count = port_count
        self.connection = connection
        self.attributes = [] if attributes is None else attributes
        self.extra = [] if extra is None else extra

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        out += [f"{k}={v}" for k, v in self.extra if k in "i"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{k}={v}" for k, v in self.extra if k not in "i"]
        out += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes]
        return out

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """payload type -> (encoding name, clock rate, channels) from ``a=rtpmap``."""
        out: dict[int, tuple[str, int, int]] = {}
        for value in _find(self.attributes, "rtpmap"):
            if value is None:
                continue
            pt_text, _, enc = value.partition(" ")
            parts = enc.strip().split("/")
            if not pt_text.isdigit() or len(parts) < 2 or not parts[1].isdigit():
                continue
            channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
            out.setdefault(int(pt_text), (parts[0], int(parts[1]), channels))
        return out

    def fmtp(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for value in _find(self.attributes, "fmtp"):
            if value is None:
                continue
            pt_text, _, params = value.partition(" ")
            if pt_text.isdigit():
                out.setdefault(int(pt_text), params.strip())
        return out

    @property
    def direction(self) -> str | None:
        return _direction(self.attributes)

    @property
    def ptime(self) -> int | None:
        for value in _find(self.attributes, "ptime"):
            if value and value.strip().isdigit():
                return int(value.strip())
        return None


@dataclass(slots=True)
class SessionDescription:
    """A whole SDP body."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: Connection | None = None
    times: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    version: int = 0

    def __init__(
        self,
        origin: Origin | None = None,
        session_name: str = "-",
        connection: Connection | None = None,
        times: list[str] | None = None,
        attributes: list[Attribute] | None = None,
        media: list[MediaDescription] | None = None,
        extra: list[tuple[str, str]] | None = None,
        version: int = 0,
    ) -> None:
        self.origin = Origin() if origin is None else origin
        self.session_name = session_name
        self.connection = connection
        self.times = ["0 0"] if times is None else times
        self.attributes = [] if attributes is None else attributes
        self.media = [] if media is None else media
        self.extra = [] if extra is None else extra
        self.version = version

    def __str__(self) -> str:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        lines += [f"{k}={v}" for k, v in self.extra if k in "iuep"]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"{k}={v}" for k, v in self.extra if k == "b"]
        for t in self.times:
            lines.append(f"t={t}")
        lines += [f"{k}={v}" for k, v in self.extra if k in "rzk"]
        lines += [f"a={n}" if v is None else f"a={n}:{v}" for n, v in self.attributes]
        for m in self.media:
            lines += m.lines()
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    @property
    def direction(self) -> str | None:
        return _direction(self.attributes)


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise ParseError("Bad SDP c= line")
    return Connection(parts[2], parts[0], parts[1])


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise ParseError("Bad SDP m= line")
    port_text, slash, count_text = parts[1].partition("/")
    if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        raise ParseError("Bad SDP media port")
    if slash and (not count_text.isdigit() or not count_text.isascii()):
        raise ParseError("Bad SDP port count")
    return MediaDescription(
        media=parts[0],
        port=int(port_text),
        proto=parts[2],
        formats=parts[3:],
        port_count=int(count_text) if slash else None,
    )


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not name:
        raise ParseError("Bad SDP attribute")
    return (name, rest if colon else None)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; :class:`ParseError` on malformed input.

    Lenient where real traffic is: bare LF line ends, trailing blanks and
    empty lines are accepted; lines must otherwise be ``<letter>=<value>``.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ParseError("SDP is not UTF-8") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines or lines[0] != "v=0":
        raise ParseError("SDP must start with v=0")
    sdp = SessionDescription(times=[])
    seen_origin = False
    current: MediaDescription | None = None
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise ParseError("Bad SDP line")
        kind, value = line[0], line[2:]
        if kind == "m":
            current = _parse_media(value)
            sdp.media.append(current)
        elif kind == "a":
            (current.attributes if current else sdp.attributes).append(_parse_attribute(value))
        elif kind == "c":
            conn = _parse_connection(value)
            if current is not None:
                current.connection = conn
            else:
                sdp.connection = conn
        elif current is not None:
            current.extra.append((kind, value))
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6:
                raise ParseError("Bad SDP o= line")
            sdp.origin = Origin(*parts)
            seen_origin = True
        elif kind == "s":
            sdp.session_name = value
        elif kind == "t":
            sdp.times.append(value)
        elif kind == "v":
            raise ParseError("Repeated SDP v= line")
        else:
            sdp.extra.append((kind, value))
    if not seen_origin:
        raise ParseError("SDP without o= line")
    if not sdp.times:
        sdp.times.append("0 0")
    return sdp


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: payload type, encoding name, clock rate, fmtp."""

    payload_type: int
    name: str
    rate: int = 8000
    fmtp: str | None = None

    def __init__(
        self,
        payload_type: int,
        name: str,
        rate: int = 8000,
        fmtp: str | None = None,
    ) -> None:
        object.__setattr__(self, "payload_type", payload_type)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "fmtp", fmtp)

    @property
    def is_telephone_event(self) -> bool:
        return self.name.lower() == "telephone-event"


PCMU = Codec(0, "PCMU")
PCMA = Codec(8, "PCMA")


class OfferAnswerError(Exception):
    """The offer cannot be answered; reply with ``status`` (488) and ``reason``."""

    def __init__(self, detail: str, status: int = 488, reason: str = "Not Acceptable Here") -> None:
        self.status = status
        self.reason = reason
        self.detail = detail
        super().__init__(f"{status} {reason}: {detail}")


@dataclass(slots=True)
class Negotiated:
    """The outcome of answering an offer."""

    answer: SessionDescription
    codecs: list[Codec]
    """Accepted audio codecs in the offer's order; the first is the one to send."""
    telephone_event: Codec | None
    remote_address: tuple[str, int]
    """Where to send RTP (the offer's connection address and port)."""
    direction: str
    """The direction of our answer (what we do)."""
    hold: bool
    """The offerer put the call on hold (sendonly, inactive, or c=0.0.0.0)."""
    ptime: int | None

    def __init__(
        self,
        answer: SessionDescription,
        codecs: list[Codec],
        telephone_event: Codec | None,
        remote_address: tuple[str, int],
        direction: str,
        hold: bool,
        ptime: int | None,
    ) -> None:
        self.answer = answer
        self.codecs = codecs
        self.telephone_event = telephone_event
        self.remote_address = remote_address
        self.direction = direction
        self.hold = hold
        self.ptime = ptime

    @property
    def codec(self) -> Codec:
        return self.codecs[0]


def _offered_codecs(m: MediaDescription) -> list[Codec]:
    rtpmap = m.rtpmap()
    fmtp = m.fmtp()
    out: list[Codec] = []
    for fmt in m.formats:
        if not fmt.isdigit() or not fmt.isascii() or int(fmt) > 127:
            continue
        pt = int(fmt)
        if pt in rtpmap:
            name, rate, _channels = rtpmap[pt]
        elif pt in _STATIC_PAYLOADS:
            name, rate = _STATIC_PAYLOADS[pt]
        else:
            continue
        out.append(Codec(pt, name, rate, fmtp.get(pt)))
    return out


def _accept(codec: Codec, supported: tuple[str, ...], telephone_event: bool) -> bool:
    if codec.rate != 8000:
        return False
    if codec.is_telephone_event:
        return telephone_event
    return codec.name.upper() in supported


def answer_offer(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    session_id: str = "0",
    session_version: str = "0",
    supported: tuple[str, ...] = ("PCMU", "PCMA"),
    telephone_event: bool = True,
    ptime: int = 20,
    username: str = "-",
    session_name: str = "-",
) -> Negotiated:
    """Answer an audio offer (RFC 3264 section 6); see the module docstring."""
    answer = SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", _addr_type(address), address),
        session_name=session_name,
        connection=Connection(address, "IN", _addr_type(address)),
        times=["0 0"],
    )
    chosen: Negotiated | None = None
    reason = "no audio stream"
    for m in offer.media:
        accepted: list[Codec] = []
        if chosen is None and m.media == "audio" and m.proto.upper() == "RTP/AVP" and m.port != 0:
            accepted = [c for c in _offered_codecs(m) if _accept(c, supported, telephone_event)]
            if not any(not c.is_telephone_event for c in accepted):
                reason = "no common codec"
                accepted = []
        if not accepted:
            answer.media.append(MediaDescription(m.media, 0, m.proto, list(m.formats) or ["0"]))
            continue
        connection = m.connection or offer.connection
        if connection is None:
            raise OfferAnswerError("no connection address", 400, "Bad Request")
        offered_direction = m.direction or offer.direction or "sendrecv"
        null_hold = connection.is_null
        direction = _ANSWER_DIRECTION[offered_direction]
        if null_hold and direction == "sendrecv":
            direction = "recvonly"
        media = MediaDescription("audio", port, m.proto, [str(c.payload_type) for c in accepted])
        for c in accepted:
            media.attributes.append(("rtpmap", f"{c.payload_type} {c.name}/{c.rate}"))
            if c.is_telephone_event:
                media.attributes.append(("fmtp", f"{c.payload_type} 0-15"))
        media.attributes.append(("ptime", str(ptime)))
        media.attributes.append((direction, None))
        answer.media.append(media)
        events = [c for c in accepted if c.is_telephone_event]
        chosen = Negotiated(
            answer=answer,
            codecs=[c for c in accepted if not c.is_telephone_event],
            telephone_event=events[0] if events else None,
            remote_address=(connection.address.split("/", 1)[0], m.port),
            direction=direction,
            hold=null_hold or offered_direction in ("sendonly", "inactive"),
            ptime=m.ptime,
        )
    if chosen is None:
        raise OfferAnswerError(reason)
    return chosen


def _addr_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def make_offer(
    *,
    address: str,
    port: int,
    session_id: str = "0",
    session_version: str = "0",
    codecs: tuple[Codec, ...] = (PCMU, PCMA),
    telephone_event_pt: int | None = 101,
    direction: str = "sendrecv",
    ptime: int = 20,
    username: str = "-",
) -> SessionDescription:
    """An audio offer (outgoing calls, re-INVITEs that put a call on hold)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")
    formats = [str(c.payload_type) for c in codecs]
    media = MediaDescription("audio", port, "RTP/AVP", formats)
    for c in codecs:
        media.attributes.append(("rtpmap", f"{c.payload_type} {c.name}/{c.rate}"))
    if telephone_event_pt is not None:
        media.formats.append(str(telephone_event_pt))
        media.attributes.append(("rtpmap", f"{telephone_event_pt} telephone-event/8000"))
        media.attributes.append(("fmtp", f"{telephone_event_pt} 0-15"))
    media.attributes.append(("ptime", str(ptime)))
    media.attributes.append((direction, None))
    return SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", _addr_type(address), address),
        connection=Connection(address, "IN", _addr_type(address)),
        media=[media],
    )
