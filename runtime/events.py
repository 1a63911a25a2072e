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
    "TIMER",
    "DSM_EVENT",
    "B2B_EVENT",
    "QueuedEvent",
    "DoneCallback",
]

START = "Start"
STARTUP = "Startup"
RELOAD = "Reload"
BEFORE_DESTROY = "BeforeDestroy"
TIMER = "Timer"
DSM_EVENT = "DSMEvent"
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


class QueuedEvent:
    """One entry of a session's FIFO queue (E-146).

    ``objects`` are placed in the session's object store for the duration of
    the event only (E-20).  ``on_done`` lets the host inspect ``#processed``
    and similar results once processing has finished (E-157).  A ``start``
    entry carries the start diagram name instead of an event (section 10).
    """

    __slots__ = ("type", "params", "objects", "on_done", "start")

    def __init__(
        self,
        type: str,
        params: dict[str, str] | None,
        objects: Mapping[str, Any] | None = None,
        on_done: DoneCallback | None = None,
        start: str | None = None,
    ) -> None:
        self.type = type
        self.params = params
        self.objects = objects
        self.on_done = on_done
        self.start = start

    def __repr__(self) -> str:
        if self.start is not None:
            return f"<start {self.start!r} as {self.type}>"
        return f"<event {self.type} {self.params!r}>"
