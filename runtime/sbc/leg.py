"""The contracts between the SBC relay, its call-control plug-ins and ``mod_sbc``.

Two directions, two protocols:

* :class:`SbcLeg` is what a call-control script acts on (``mod_sbc``'s
  actions and state conditions, ``modules.md`` 19.2/19.3).  The relay's real
  legs and the harness's simulated legs both implement it, so an SBC script
  is unit-tested like an IVR.
  A DSM session of a leg finds it as the ``sbc_leg`` attribute of its
  :class:`~dsm.runtime.call.Call` (:func:`sbc_leg_of`); the object handed to
  :meth:`CallControl.init` is that ``Call``.
* :class:`CallControl` is what the relay calls at each point of a leg's life
  (M-ccdsm-6).  ``cc_dsm`` implements it by raising the DSM events of
  E-165; a hook returns :data:`STOP` when the script set
  ``#StopProcessing=true`` where the spec says that stops the SBC's own
  handling (M-ccdsm-4, E-166).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from dsm.runtime.call import Call
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.message import Request, Response

__all__ = [
    "CallStatus",
    "StopReason",
    "SbcLeg",
    "CallControl",
    "STOP",
    "CONTINUE",
    "NoMediaError",
    "sbc_leg_of",
]


class CallStatus(StrEnum):
    """A leg's call status as ``legStateChange`` and ``sbc.getCallStatus`` name it."""

    DISCONNECTED = "Disconnected"
    NO_REPLY = "NoReply"
    RINGING = "Ringing"
    CONNECTED = "Connected"
    DISCONNECTING = "Disconnecting"
    UNKNOWN = "Unknown"


class StopReason(StrEnum):
    """``#reason`` of ``legStateChange`` (E-165)."""

    SIP_REPLY = "SipReply"
    SIP_REQUEST = "SipRequest"
    OTHER = "other"
    CANCELED = "Canceled"
    NO_ACK = "NoAck"
    NO_PRACK = "NoPrack"
    RTP_TIMEOUT = "RtpTimeout"
    SESSION_TIMEOUT = "SessionTimeout"
    INTERNAL_ERROR = "InternalError"


STOP = True
"""A hook's answer: the SBC skips its own handling of this event."""
CONTINUE = False


class NoMediaError(RuntimeError):
    """The leg has no media session (``sbc.enableRelayDTMFReceiving``, ``sbc.streamsSetReceiving``)."""


class SbcLeg(Protocol):
    """One SBC call leg as ``mod_sbc`` sees it."""

    @property
    def local_tag(self) -> str: ...

    @property
    def is_a_leg(self) -> bool: ...

    @property
    def profile(self) -> CallProfile:
        """This call's own copy of its profile (``sbc.profileSet`` changes it)."""
        ...

    def call_status(self) -> CallStatus: ...

    def is_on_hold(self) -> bool: ...

    def stop_call(self, cause: str) -> None:
        """M-sbc-2: end every leg; each reports ``legStateChange`` reason ``other``, ``#desc`` = cause."""

    def disconnect(self, hold_remote: bool, preserve_media: bool) -> None:
        """M-sbc-3: detach from the other leg, keep the own dialog."""

    def send_disconnect_event(self, hold_remote: bool) -> None:
        """M-sbc-4: queue a disconnect to this leg (processed later, media not kept)."""

    def put_on_hold(self) -> None:
        """M-sbc-5: re-INVITE the remote with hold SDP."""

    def resume_held(self) -> None:
        """M-sbc-6."""

    def relay_reliable_event(
        self,
        params: Mapping[str, str],
        processed: Mapping[str, str],
        unprocessed: Mapping[str, str],
    ) -> None:
        """M-sbc-8: a B2BEvent to the peer; the sender gets one of the two reply maps back."""

    def add_callee(self, spec: Mapping[str, str]) -> None:
        """M-sbc-9 ``var`` mode: a new B leg from ``local_party``, ``remote_party``, ``hdrs`` …"""

    def reconnect_leg(self, ltag: str, hdrs: str) -> None:
        """M-sbc-9 ``ltag`` mode."""

    def enable_relay_dtmf_receiving(self, on: bool) -> None:
        """M-sbc-10; :class:`NoMediaError` without a media session."""

    def add_to_media_processor(self) -> None:
        """M-sbc-11."""

    def remove_from_media_processor(self) -> None:
        """M-sbc-12."""

    def streams_set_receiving(self, receive_a: bool, receive_b: bool) -> None:
        """M-sbc-13; :class:`NoMediaError` without a media session."""

    def set_ext_local_tag(self, tag: str) -> None:
        """M-sbc-15 (empty: back to the internal tag, M-sbc-14)."""


class CallControl(Protocol):
    """The relay's hooks into a call-control plug-in (M-ccdsm-6); one object per leg."""

    def init(self, call: Call, values: Mapping[str, str]) -> None:
        """Before the INVITE is relayed; raising fails the leg's call-control initialisation.

        ``call`` is the leg's host side for a DSM session (selects, playlist,
        ``dlg.*``) with ``call.sbc_leg`` set; ``values`` are the entry's
        call-control values, patterns already evaluated.
        """

    def on_initial_invite(self, original: Request, modified: Request) -> None:
        """A leg: the INVITE received and the one about to be sent (changes to ``modified`` are sent)."""

    def on_state_change(
        self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None
    ) -> None: ...

    def on_in_dialog_request(self, request: Request) -> bool: ...

    def on_in_dialog_reply(self, reply: Response) -> bool: ...

    def on_b_leg_refused(self, reply: Response) -> bool: ...

    def on_other_request(self, request: Request, forward: bool) -> bool:
        """``B2B.otherRequest``: the peer leg relays a request to this leg."""

    def on_other_reply(self, reply: Response, forward: bool, trans_method: str) -> bool: ...

    def on_event(self, params: Mapping[str, str]) -> bool:
        """``postEvent`` to the leg's local tag."""

    def on_b2b_event(self, params: Mapping[str, str], reliable: bool) -> bool:
        """``B2B.relayEvent`` / ``sbc.relayReliableEvent`` from the peer; for a reliable event the
        answer says whether the script set ``#processed=true``."""

    def on_dtmf(self, key: int, duration_ms: int) -> bool: ...

    def on_timer(self, timer_id: int) -> bool: ...

    def on_destroy_leg(self) -> None: ...


def sbc_leg_of(call: object) -> SbcLeg | None:
    """The SBC leg a session's call belongs to, or ``None`` (not a call leg, M-sbc "without call leg")."""
    leg: SbcLeg | None = getattr(call, "sbc_leg", None)
    return leg
