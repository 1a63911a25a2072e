"""What an untrusted SIP/RTP peer may cost the server: the limits and the counters of their use.

:class:`SipLimits` holds the defaults of ``docs/security.md`` (strict RTP
latching, TCP per-source cap and deadlines, message size caps).  It is built
once in the composition root from the ``dsm.conf`` keys of
:data:`CONF_KEYS` with the command line's values on top
(:meth:`SipLimits.from_settings`), and handed to the SIP core, the transport
and the RTP sessions.  :class:`SipCounters` is the one mutable object they
all count into when a limit fires; ``/metrics`` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Final

__all__ = ["SipLimits", "SipCounters", "CONF_KEYS", "DEFAULT_LIMITS"]


@dataclass(frozen=True, slots=True)
class SipLimits:
    """The security defaults of the SIP side; each field has a ``dsm.conf`` key (:data:`CONF_KEYS`)."""

    max_message_bytes: int = 32 * 1024
    """A SIP message (datagram or framed from TCP) larger than this: UDP dropped, TCP ``513``."""
    max_headers: int = 256
    """Header lines at most in one message; more is treated like an oversized message."""
    tcp_max_per_source: int = 32
    """TCP connections accepted at most from one source IP address at a time."""
    tcp_message_timeout: float = 10.0
    """Seconds a TCP peer has to complete a message once its first byte arrived."""
    tcp_idle_timeout: float = 120.0
    """Seconds without traffic after which a TCP connection that carries no call is closed."""
    rtp_strict: bool = True
    """Latch each RTP stream to its first valid source; drop packets from anyone else."""
    rtp_symmetric: bool = False
    """Send RTP (and RTCP) to where the peer's packets come from (callers behind NAT)."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> SipLimits:
        """Limits from ``dsm.conf``-style text values keyed by :data:`CONF_KEYS`; bad values raise ``ValueError``.

        Keys not in :data:`CONF_KEYS` are ignored (they belong to someone else).
        """
        values: dict[str, object] = {}
        for key, field_name in CONF_KEYS.items():
            text = settings.get(key)
            if text is None or text.strip() == "":
                continue
            values[field_name] = _convert(key, field_name, text.strip())
        return replace(cls(), **values)  # type: ignore[arg-type]


DEFAULT_LIMITS: Final = SipLimits()
"""The defaults, for code that takes one limit as a parameter."""

CONF_KEYS: Final[dict[str, str]] = {
    "sip_max_message_bytes": "max_message_bytes",
    "sip_max_headers": "max_headers",
    "sip_tcp_max_connections_per_source": "tcp_max_per_source",
    "sip_tcp_message_timeout": "tcp_message_timeout",
    "sip_tcp_idle_timeout": "tcp_idle_timeout",
    "rtp_strict": "rtp_strict",
    "rtp_symmetric": "rtp_symmetric",
}
"""``dsm.conf`` key -> :class:`SipLimits` field."""

_TYPES = {f.name: f.type for f in fields(SipLimits)}
_YES = ("yes", "true", "1", "on")
_NO = ("no", "false", "0", "off")


def _convert(key: str, field_name: str, text: str) -> object:
    kind = _TYPES[field_name]
    if kind in (bool, "bool"):
        if text.lower() in _YES:
            return True
        if text.lower() in _NO:
            return False
        raise ValueError(f"{key} must be yes or no, not {text!r}")
    if kind in (int, "int"):
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{key} must be a positive whole number, not {text!r}")
        return int(text)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{key} must be a positive number of seconds, not {text!r}")
    return seconds


@dataclass(slots=True)
class SipCounters:
    """How often each limit fired since the server started (``/metrics`` counters)."""

    rtp_foreign_dropped: int = 0
    """RTP packets dropped because they came from another source than the latched one."""
    rtcp_foreign_dropped: int = 0
    """RTCP packets dropped because they came from another host than the RTP peer."""
    rtp_held_back: int = 0
    """Frames not sent after a 2xx because neither the ACK nor the peer's RTP had arrived."""
    tcp_source_cap_refused: int = 0
    """TCP connections refused: their source address had the most connections allowed."""
    tcp_message_timeouts: int = 0
    """TCP connections closed because a started message was not completed in time."""
    tcp_idle_closed: int = 0
    """TCP connections without a call closed after the idle timeout."""
    sip_too_large_dropped: int = 0
    """UDP datagrams dropped for their size or header count."""
    sip_too_large_rejected: int = 0
    """TCP messages answered ``513 Message Too Large`` (or dropped when not answerable)."""
