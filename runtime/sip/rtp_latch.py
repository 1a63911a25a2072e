"""Which RTP/RTCP source a call listens to, and where it sends: strict latching, symmetric RTP.

Sans-I/O: :class:`RtpLatch` is told the offer/answer outcome (:meth:`reset`)
and asked about each received packet (:meth:`admit`, :meth:`admit_rtcp`);
the RTP session does the I/O.

Strict (the default, like Asterisk's ``strictrtp``): after an offer/answer
the stream latches to the first source that sends a parseable RTP packet
with a negotiated payload type; from then on packets from any other
address or port are refused (the caller counts them).  A packet from the
very address and port the SDP named always wins the latch, so a stranger
who was quicker than the real peer holds it only until the peer's first
packet.  A new offer/answer re-opens the latch.  RTCP is admitted from the
latched host only (any port: RTCP muxing and NAT move it).

Symmetric (an option, for callers behind NAT): RTP and RTCP are sent to
where the peer's admitted packets come from instead of to the SDP's
address; until the first one arrives, to the SDP's address.

Not strict: every packet is admitted, as before latching existed; the
latch still learns the first source for symmetric sending.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable

__all__ = ["RtpLatch", "Address", "normal_address"]

Address = tuple[str, int]


def normal_address(address: tuple[object, ...]) -> Address:
    """``(host, port)`` of a socket address (IPv6 4-tuples too), the host in one spelling."""
    host = str(address[0])
    try:  # a dotted quad the kernel accepts is already in its one spelling (no leading zeros)
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        with contextlib.suppress(ValueError):
            host = str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    return host, int(str(address[1]))


class RtpLatch:
    """The latch of one RTP stream; see the module docstring."""

    def __init__(self, *, strict: bool = True, symmetric: bool = False) -> None:
        self.strict = strict
        self.symmetric = symmetric
        self.expected: Address | None = None
        """Where the SDP says the peer's media is (its ``c=`` address and ``m=`` port)."""
        self.source: Address | None = None
        """The latched RTP source, ``None`` while the latch is open."""
        self.rtcp_source: Address | None = None
        """Where the peer's admitted RTCP came from last."""
        self.payload_types: frozenset[int] = frozenset()
        self._raw_source: object = None
        """The latched source as the socket reported it: the per-packet check compares this."""

    def reset(self, expected: Address, payload_types: Iterable[int]) -> None:
        """A new offer/answer: the SDP's address and the negotiated payload types; the latch opens."""
        self.expected = normal_address(expected)
        self.payload_types = frozenset(payload_types)
        self.source = None
        self.rtcp_source = None
        self._raw_source = None

    def holds(self, raw: object) -> bool:
        """Whether ``raw`` (a socket address as received) is the source latched now.

        Such a packet is admitted by :meth:`admit` without a look at its
        payload type, until :meth:`reset`; the RTP session's fast receive
        path relies on that.
        """
        return raw is not None and raw == self._raw_source

    @property
    def latched(self) -> bool:
        return self.source is not None

    def admit(self, raw: tuple[object, ...], payload_type: int) -> bool:
        """Whether an RTP packet from ``raw`` (a socket address; the packet parsed as RTP) is the peer's."""
        if raw == self._raw_source:  # the per-packet path: no parsing
            return True
        source = normal_address(raw)
        if source == self.source:
            return True
        negotiated = payload_type in self.payload_types
        if negotiated and (self.source is None or source == self.expected):
            # The first valid packet latches; the SDP's own address always wins the latch.
            self.source = source
            self._raw_source = raw
            return True
        return not self.strict

    def admit_rtcp(self, raw: tuple[object, ...]) -> bool:
        """Whether an RTCP packet from ``raw`` is the peer's: from the latched host (or the SDP's)."""
        source = normal_address(raw)
        peer = self.source or self.expected
        if self.strict and (peer is None or source[0] != peer[0]):
            return False
        self.rtcp_source = source
        return True

    def destination(self) -> Address | None:
        """Where RTP goes: the latched source when symmetric, else the SDP's address."""
        if self.symmetric and self.source is not None:
            return self.source
        return self.expected

    def rtcp_destination(self) -> Address | None:
        """Where RTCP goes: the peer's RTCP source when symmetric, else RTP's destination port + 1."""
        if self.symmetric and self.rtcp_source is not None:
            return self.rtcp_source
        rtp = self.destination()
        return (rtp[0], rtp[1] + 1) if rtp is not None else None
