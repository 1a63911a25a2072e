"""The one exception the SIP parsers raise.

Everything that reads bytes from the network (SIP messages, URIs, header
values, SDP bodies, RTP headers) reports malformed input as a
:class:`ParseError` and nothing else, so a transport shell can catch one
type, drop the datagram or answer ``400`` and carry on with other calls.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ParseError", "RtpPortsExhausted"]


class ParseError(ValueError):
    """Malformed input.

    ``reason`` is short, printable, single-line text that can be used as the
    reason phrase of a ``400`` response.  ``request`` is, when the start line
    and the headers needed to form a response (Via, From, To, Call-ID, CSeq)
    were usable, the partially parsed request, so that a server can still
    answer it (RFC 3261 section 8.2.1 / 16.3).
    """

    def __init__(self, reason: str, request: Any = None) -> None:
        cleaned = "".join(ch if " " <= ch <= "~" else " " for ch in reason).strip()
        self.reason: str = cleaned[:120] or "Bad Request"
        self.request: Any = request
        super().__init__(self.reason)


class RtpPortsExhausted(OSError):
    """No port of the configured range could be bound.

    Defined here, not in ``rtp_session`` (which re-exports it): that module
    is compiled by mypyc, which cannot subclass ``OSError`` natively.
    """
