"""The call of an SBC leg's DSM session: what such a session may do (``actions.md``, SBC column).

The relay's legs (:class:`~dsm.runtime.sbc.legs.SbcCallLeg`) and the
harness's simulated legs both subclass :class:`SbcSessionCall`, so the rules
of M-ccdsm-3 -- which core actions work in an SBC session and which raise
``{type: core, cause: not implemented in DSM SBC}`` -- are written once.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsm.runtime.call import AudioItem, Call, PromptItem
from dsm.runtime.errors import DSMException

__all__ = ["SbcSessionCall", "not_in_sbc", "NOT_IN_SBC"]

NOT_IN_SBC = "not implemented in DSM SBC"


def not_in_sbc() -> DSMException:
    """``{type: core, cause: not implemented in DSM SBC}`` (``actions.md`` 0.3)."""
    return DSMException("core", {"cause": NOT_IN_SBC})


class SbcSessionCall(Call):
    """What an SBC session may do through its call (``actions.md``, SBC column).

    Prompts, recording, ``setInOutPlaylist``/``setOutputPlaylist``,
    ``mute``/``unmute``, ``B2B.connectCallee``/``terminateOtherLeg``,
    ``B2B.enableEarlyMediaRelay`` and the B2B header actions raise
    :func:`not_in_sbc`.  A host subclasses it with the leg's selects, its
    playlist (``play_item``, ``flush_playlist``), ``attach_input``,
    ``media_connect``/``media_disconnect``, the other media flags, DTMF,
    BYE and the working B2B operations.  The relay's legs keep their
    playlist and media processing in :class:`~dsm.runtime.sbc.leg_media.LegMedia`
    (what the leg's remote party hears instead of the relayed audio).
    """

    def play(self, item: AudioItem, front: bool = False) -> None:
        if isinstance(item, PromptItem):
            raise not_in_sbc()
        self.play_item(item, front)

    def play_item(self, item: AudioItem, front: bool) -> None:
        """Files, silence, ring tones, separators on the leg's own playlist (created on first use)."""
        raise not_in_sbc()

    def set_prompts(self, name: str) -> None:
        raise not_in_sbc()

    def record_start(self, path: str) -> None:
        raise not_in_sbc()

    def record_stop(self) -> bool:
        raise not_in_sbc()

    def record_length(self) -> int | None:
        raise not_in_sbc()

    def record_data_size(self) -> int | None:
        raise not_in_sbc()

    def attach_playlist(self, input: bool, output: bool) -> None:
        if output:
            raise not_in_sbc()
        if input:
            self.attach_input()

    def attach_input(self) -> None:
        """``setInputPlaylist``: the leg's playlist becomes its media input."""

    def set_media_flag(self, flag: str, on: bool) -> None:
        if flag == "mute":
            raise not_in_sbc()
        self.media_flag(flag, on)

    def media_flag(self, flag: str, on: bool) -> None:
        """``receiving``, ``force_dtmf_receiving``, ``rtp_timeout``, ``dtmf_detection``."""

    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None:
        raise not_in_sbc()

    def b2b_terminate_other_leg(self) -> None:
        raise not_in_sbc()

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        if flag != "relay_only":
            raise not_in_sbc()
        self.set_relay_only(on)

    def set_relay_only(self, on: bool) -> None:
        """``B2B.setRelayOnly``."""

    def get_b2b_headers(self) -> str:
        raise not_in_sbc()

    def set_b2b_headers(self, block: str) -> None:
        raise not_in_sbc()
