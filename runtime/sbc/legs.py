"""One SBC call leg as its call-control session sees it: a :class:`Call` and an :class:`SbcLeg`.

The relay makes one :class:`SbcCallLeg` per leg (the caller's A leg, the
callee's B leg) and hands it to every call-control plug-in of the leg
(:meth:`CallControl.init`).  For a DSM session (``cc_dsm``) it is the host
call: selects come from the leg's dialog (M-ccdsm-3), and everything an SBC
leg cannot do raises ``{type: core, cause: not implemented in DSM SBC}``
(``actions.md``'s SBC column).  ``mod_sbc``'s actions reach the relay
through the :class:`LegHost` the leg belongs to (one per relayed call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from dsm.runtime.call import AudioItem
from dsm.runtime.sbc.leg import CallStatus
from dsm.runtime.sbc.leg_media import LegMedia
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sbc.session_call import SbcSessionCall

__all__ = ["SbcCallLeg", "LegHost"]


class LegHost(Protocol):
    """What a leg asks of the relayed call it belongs to."""

    def stop_call(self, cause: str) -> None: ...

    def disconnect_leg(self, leg: SbcCallLeg, hold_remote: bool, preserve_media: bool) -> None: ...

    def hold(self, leg: SbcCallLeg, on: bool) -> None: ...

    def relay_event(
        self, leg: SbcCallLeg, params: Mapping[str, str], reliable: bool
    ) -> bool | None: ...

    def relay_reliable_event(
        self,
        leg: SbcCallLeg,
        params: Mapping[str, str],
        processed: Mapping[str, str],
        unprocessed: Mapping[str, str],
    ) -> None: ...

    def add_callee(self, leg: SbcCallLeg, spec: Mapping[str, str]) -> None: ...

    def reconnect_leg(self, leg: SbcCallLeg, ltag: str, hdrs: str) -> None: ...

    def streams_set_receiving(self, leg: SbcCallLeg, receive_a: bool, receive_b: bool) -> None: ...

    def dtmf_receiving(self, leg: SbcCallLeg, on: bool) -> None: ...

    def end_leg(self, leg: SbcCallLeg) -> None: ...

    def other_leg(self, leg: SbcCallLeg) -> SbcCallLeg | None: ...

    def leg_media(self, leg: SbcCallLeg) -> LegMedia: ...


class SbcCallLeg(SbcSessionCall):
    """A relayed call's leg; see the module docstring."""

    b2b_capable = True

    def __init__(
        self,
        host: LegHost,
        *,
        call_id: str,
        is_a_leg: bool,
        profile: CallProfile,
        local_tag: str,
        selects: Mapping[str, str],
    ) -> None:
        self.host = host
        self.call_id = call_id
        self._is_a_leg = is_a_leg
        self._profile = profile
        self.local_tag = local_tag
        self._internal_tag = local_tag
        self._selects = dict(selects)
        self.status = CallStatus.DISCONNECTED if not is_a_leg else CallStatus.NO_REPLY
        self.on_hold = False
        self.detached = False
        """``sbc.disconnect``: no longer relayed to the other leg."""
        self.events: list[dict[str, str]] = []
        """B2B events that reached this leg without a call control to take them."""

    @property
    def sbc_leg(self) -> SbcCallLeg:
        """The leg a session of this call acts on (``mod_sbc``; :func:`~dsm.runtime.sbc.leg.sbc_leg_of`)."""
        return self

    @property
    def other_id(self) -> str:
        """``dlg.getOtherId``: the other leg's local tag (its session's address), empty once detached."""
        other = None if self.detached else self.host.other_leg(self)
        return "" if other is None else other.local_tag

    # -- SbcLeg ------------------------------------------------------------------------------
    @property
    def is_a_leg(self) -> bool:
        return self._is_a_leg

    @property
    def profile(self) -> CallProfile:
        return self._profile

    def call_status(self) -> CallStatus:
        return self.status

    def is_on_hold(self) -> bool:
        return self.on_hold

    def stop_call(self, cause: str) -> None:
        self.host.stop_call(cause)

    def disconnect(self, hold_remote: bool, preserve_media: bool) -> None:
        self.host.disconnect_leg(self, hold_remote, preserve_media)

    def send_disconnect_event(self, hold_remote: bool) -> None:
        self.host.disconnect_leg(self, hold_remote, False)

    def put_on_hold(self) -> None:
        self.host.hold(self, True)

    def resume_held(self) -> None:
        self.host.hold(self, False)

    def relay_reliable_event(
        self,
        params: Mapping[str, str],
        processed: Mapping[str, str],
        unprocessed: Mapping[str, str],
    ) -> None:
        self.host.relay_reliable_event(self, params, processed, unprocessed)

    def add_callee(self, spec: Mapping[str, str]) -> None:
        self.host.add_callee(self, spec)

    def reconnect_leg(self, ltag: str, hdrs: str) -> None:
        """``sbc.addCallee(ltag, …)``: the leg tagged ``ltag`` becomes this leg's peer."""
        self.host.reconnect_leg(self, ltag, hdrs)

    def enable_relay_dtmf_receiving(self, on: bool) -> None:
        self.host.dtmf_receiving(self, on)

    def add_to_media_processor(self) -> None:
        self.host.leg_media(self).add_to_processor()

    def remove_from_media_processor(self) -> None:
        self.host.leg_media(self).remove_from_processor()

    def streams_set_receiving(self, receive_a: bool, receive_b: bool) -> None:
        self.host.streams_set_receiving(self, receive_a, receive_b)

    def set_ext_local_tag(self, tag: str) -> None:
        self.local_tag = tag or self._internal_tag

    # -- Call: selects --------------------------------------------------------------------------
    def select(self, name: str) -> str:
        if name == "local_tag":
            return self.local_tag
        return self._selects.get(name, "")

    # -- Call: what the relay's legs do (the rest: SbcSessionCall) ----------------------------------
    # The leg's own playlist and media processing: runtime/sbc/leg_media.py.
    def play_item(self, item: AudioItem, front: bool) -> None:
        self.host.leg_media(self).play(item, front)

    def flush_playlist(self) -> None:
        self.host.leg_media(self).flush()

    def attach_input(self) -> None:
        self.host.leg_media(self).attach_input()

    def media_connect(self) -> None:
        self.host.leg_media(self).connect()

    def media_disconnect(self) -> None:
        self.host.leg_media(self).disconnect()

    def media_flag(self, flag: str, on: bool) -> None:
        self.host.leg_media(self).set_flag(flag, on)

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.host.leg_media(self).send_dtmf(event, duration_ms)

    def bye(self) -> None:
        """``stop(true)`` in a leg's session ends this leg (and with it the relayed call)."""
        self.host.end_leg(self)

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        return None  # M-ccdsm-3: accepted; the relay keeps both legs' SDP as negotiated

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        self.host.relay_event(self, params, False)

    def __repr__(self) -> str:
        side = "A" if self._is_a_leg else "B"
        return f"<SbcCallLeg {side} {self.call_id} {self.status}>"
