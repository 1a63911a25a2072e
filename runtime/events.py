"""Event types and queued events (``engine.md`` E-4, E-150).

An event is a type name plus a parameter map or *no map at all* (params
absent, E-4).  Type names are plain strings so that modules (SBC, ZRTP) can
raise their own types without touching this file; the constants below are
the ones the core knows (E-150).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "EXCEPTION",
    "START",
    "STARTUP",
    "RELOAD",
    "BEFORE_DESTROY",
    "SYSTEM",
    "SYSTEM_SHUTDOWN",
    "TIMER",
    "DSM_EVENT",
    "B2B_EVENT",
    "QueuedEvent",
    "DoneCallback",
    "processed",
    "regardless",
    "unless_processed",
]

START = "Start"
STARTUP = "Startup"
RELOAD = "Reload"
BEFORE_DESTROY = "BeforeDestroy"
TIMER = "Timer"
DSM_EVENT = "DSMEvent"
SYSTEM = "System"
SYSTEM_SHUTDOWN = "ServerShutdown"
B2B_EVENT = "B2BEvent"
EXCEPTION = "Exception"
"""The dedicated type of exception rounds; no condition name matches it (E-73)."""

EVENT_TYPES: frozenset[str] = frozenset(
    (
        "Start", "Invite", "SessionStart", "Ringing", "EarlySession", "FailedCall", "SipRequest",
        "SipReply", "BeforeDestroy", "Hangup", "Hold", "UnHold", "B2BOtherRequest", "B2BOtherReply",
        "B2BOtherBye", "SessionTimeout", "RtpTimeout", "RemoteDisappeared", "Key", "Timer",
        "NoAudio", "PlaylistSeparator", "DSMEvent", "B2BEvent", "Exception", "XmlrpcResponse",
        "JsonRpcResponse", "JsonRpcRequest", "Startup", "Reload", "System", "SIPSubscription",
        "RTPTimeout", "LegStateChange", "BLegRefused", "PutOnHold", "ResumeHeld",
        "CreateHoldRequest", "HandleHoldReply", "RelayInit", "RelayInitUAC", "RelayInitUAS",
        "RelayFinalize", "RelayOnSipRequest", "RelayOnSipReply", "RelayOnB2BRequest",
        "RelayOnB2BReply", "ZRTPProtocolEvent", "ZRTPSecurityEvent",
    )
)
"""Every type the engine knows (E-150).  Other names are accepted too (modules)."""

DoneCallback = Callable[[dict[str, str] | None], None]
"""Called after an event was processed, with the event's own (possibly modified) map (E-157)."""


def processed(params: Mapping[str, str] | None) -> bool:
    """E-157: the script took the event over -- its map says ``processed`` is exactly ``true``."""
    return params is not None and params.get("processed") == "true"


def unless_processed(default: Callable[[], object]) -> DoneCallback:
    """A done-callback that runs the host's ``default`` unless the script set ``#processed=true``."""

    def done(params: dict[str, str] | None) -> None:
        if not processed(params):
            default()

    return done


def regardless(then: Callable[[], object]) -> DoneCallback:
    """A done-callback that runs ``then`` whatever the script set (the host acts anyway)."""

    def done(params: dict[str, str] | None) -> None:
        then()

    return done


QueuedEvent = tuple[
    str, "dict[str, str] | None", "Mapping[str, Any] | None", "DoneCallback | None", "str | None"
]
"""One entry of a session's FIFO queue (E-146): ``(type, params, objects, on_done, start)``.

A plain tuple, because one is created per event.  ``objects`` are placed in
the session's object store for the duration of the event only (E-20);
``on_done`` lets the host inspect ``#processed`` and similar results once
processing has finished (E-157); a non-``None`` ``start`` makes the entry the
session start with that diagram name and ``type`` as start type (section 10).
"""
