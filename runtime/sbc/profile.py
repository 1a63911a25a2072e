"""SBC call profiles: the model and what a profile does to one call (sans-I/O).

The reference configures its SBC with ``sbc.conf`` (``load_profiles``,
``profiles_path``, ``active_profile``, ``regex_maps``) and one
``<name>.sbcprofile.conf`` per profile.  :class:`SbcConfig` is the loaded
whole; :class:`CallProfile` one profile, copied for every call so that a
call-control script may change its own copy (``sbc.profileSet``) without
touching the next call.  Everything here is a pure function of the incoming
INVITE and the profile: the relay (the SIP side) only sends what
:func:`plan_leg` returns.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from dsm.runtime.sip.message import Request

__all__ = [
    "CallProfile",
    "SbcConfig",
    "SbcConfigError",
    "LegPlan",
    "Refusal",
    "load_config",
    "select_profile",
    "plan_leg",
    "translate_reply",
    "message_allowed",
    "filter_headers",
    "filter_sdp",
]


class SbcConfigError(ValueError):
    """A configuration problem, with the file (and line where known) in the message."""


@dataclass
class CallProfile:
    """One call profile (``<name>.sbcprofile.conf``); keys as the reference names them.

    Text values keep their replacement patterns (``$fU`` …); they are
    evaluated per call by :func:`plan_leg`.  ``raw`` keeps every key of the
    file, also those without a field here (call-control values such as
    ``ctl_app_bundle``).
    """

    name: str
    path: str = ""
    raw: dict[str, str] = field(default_factory=dict)
    ruri: str = ""
    ruri_host: str = ""
    from_: str = ""
    to: str = ""
    contact: str = ""
    call_id: str = ""
    next_hop: str = ""
    next_hop_1st_req: bool = False
    patch_ruri_next_hop: bool = False
    outbound_proxy: str = ""
    force_outbound_proxy: bool = False
    aleg_outbound_proxy: str = ""
    aleg_force_outbound_proxy: bool = False
    aleg_next_hop: str = ""
    refuse_with: str = ""
    header_filter: str = "transparent"  # whitelist | blacklist | transparent
    header_list: tuple[str, ...] = ()
    message_filter: str = "transparent"
    message_list: tuple[str, ...] = ()
    sdp_filter: str = "transparent"
    sdpfilter_list: tuple[str, ...] = ()
    append_headers: str = ""
    append_headers_req: str = ""
    aleg_append_headers_req: str = ""
    reply_translations: dict[int, tuple[int, str]] = field(default_factory=dict)
    enable_rtp_relay: bool = False
    rtprelay_interface: str = ""
    aleg_rtprelay_interface: str = ""
    force_symmetric_rtp: bool = False
    aleg_force_symmetric_rtp: bool = False
    msgflags_symmetric_rtp: bool = False
    rtprelay_transparent_seqno: bool = True
    rtprelay_transparent_ssrc: bool = True
    rtprelay_dtmf_filtering: bool = False
    rtprelay_dtmf_detection: bool = False
    enable_session_timer: bool = False
    session_expires: int = 0
    minimum_timer: int = 0
    enable_aleg_session_timer: bool = False
    aleg_session_expires: int = 0
    enable_call_timer: bool = False
    call_timer: str = ""  # a pattern; seconds once evaluated
    call_control: tuple[str, ...] = ()

    def for_call(self) -> CallProfile:
        """A private copy for one call (``sbc.profileSet`` changes only that call)."""
        return copy.deepcopy(self)

    def call_control_values(self, entry: str) -> dict[str, str]:
        """The ``<entry>_<name>=value`` keys of ``entry`` as ``{name: value}`` (M-ccdsm-1), unevaluated."""
        prefix = entry + "_"
        return {k[len(prefix) :]: v for k, v in self.raw.items() if k.startswith(prefix)}


@dataclass
class SbcConfig:
    """``sbc.conf`` loaded: its profiles by name, the selection rule and the regex maps."""

    path: str = ""
    profiles: dict[str, CallProfile] = field(default_factory=dict)
    active_profile: tuple[str, ...] = ("transparent",)
    regex_maps: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """The call is answered with ``code reason`` and not relayed (``refuse_with``)."""

    code: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LegPlan:
    """What the relay sends as the B leg's INVITE (all patterns already evaluated).

    ``destination`` is where the request goes (``next_hop`` or
    ``outbound_proxy`` as ``host[:port][;transport=x]``), empty for "the
    R-URI's host".  ``headers`` are the extra headers after filtering and
    ``append_headers``; the relay adds Via, CSeq, Max-Forwards, Contact,
    Content-Type/-Length itself.  ``body`` is the SDP after the SDP filter.
    ``call_timer`` is in seconds, 0 for none.
    """

    ruri: str
    from_: str
    to: str
    call_id: str
    contact: str = ""
    destination: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str = ""
    rtp_relay: bool = False
    call_timer: int = 0


def load_config(path: str) -> SbcConfig:
    """Load ``sbc.conf`` and the profiles it names; :class:`SbcConfigError` on a problem."""
    raise NotImplementedError


def select_profile(config: SbcConfig, invite: Request) -> str:
    """The name of the active profile for this INVITE (first non-empty entry of ``active_profile``)."""
    return config.active_profile[0] if config.active_profile else ""


def plan_leg(
    profile: CallProfile,
    invite: Request,
    source: tuple[str, int],
    local: tuple[str, int],
    *,
    config: SbcConfig | None = None,
    new_call_id: str = "",
) -> LegPlan | Refusal:
    """The B leg for ``invite`` received from ``source`` on ``local``, or a refusal.

    ``new_call_id`` is a fresh Call-ID the relay made; it is used unless the
    profile says otherwise (``Call-ID=$ci`` keeps the caller's).
    """
    if profile.refuse_with:
        code, _, reason = profile.refuse_with.partition(" ")
        return Refusal(int(code), reason)
    return LegPlan(
        ruri=invite.uri,
        from_=invite.headers.get("From") or "",
        to=invite.headers.get("To") or "",
        call_id=new_call_id or invite.call_id,
        body=invite.body,
        content_type=invite.headers.get("Content-Type") or "",
    )


def translate_reply(profile: CallProfile, code: int, reason: str) -> tuple[int, str]:
    """``reply_translations``: the code and reason the other leg gets."""
    return profile.reply_translations.get(code, (code, reason))


def message_allowed(profile: CallProfile, method: str) -> bool:
    """``message_filter``/``message_list``: may an in-dialog ``method`` pass (else 405)?"""
    return True


def filter_headers(
    profile: CallProfile, headers: Mapping[str, str] | list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``header_filter``/``header_list`` applied to relayed headers (requests and replies)."""
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def filter_sdp(profile: CallProfile, body: bytes) -> bytes:
    """``sdp_filter``/``sdpfilter_list``: the SDP with the codecs kept or removed."""
    return body
