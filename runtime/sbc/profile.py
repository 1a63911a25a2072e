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
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace

from dsm.runtime.sbc import filters
from dsm.runtime.sbc.contact import contact_parts, rewrite_contact
from dsm.runtime.sbc.patterns import PatternContext, app_param, evaluate, without_tag
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_hostport, parse_uri

__all__ = [
    "CallProfile",
    "SbcConfig",
    "SbcConfigError",
    "ProfilePropertyError",
    "parse_active_profile",
    "call_profile_for",
    "call_control_entries",
    "LegPlan",
    "Refusal",
    "parse_bool",
    "select_profile",
    "plan_leg",
    "translate_reply",
    "message_allowed",
    "filter_headers",
    "filter_sdp",
]


class SbcConfigError(ValueError):
    """A configuration problem, with the file (and line where known) in the message."""


class ProfilePropertyError(KeyError):
    """``sbc.profileSet`` failed (M-sbc-1): ``strerror`` is the text for ``$strerror``.

    ``errno`` is ``arg`` for every such failure (unknown property, unknown
    RTP interface); ``str()`` gives the strerror text unquoted.
    """

    errno = "arg"

    def __init__(self, strerror: str) -> None:
        super().__init__(strerror)
        self.strerror = strerror

    def __str__(self) -> str:
        return self.strerror


_TEXT_PROPERTIES: dict[str, str] = {
    "To": "to",
    "RURI": "ruri",
    "From": "from_",
    "Call-ID": "call_id",
    "next_hop": "next_hop",
    "RURI_host": "ruri_host",
    "refuse_with": "refuse_with",
    "outbound_proxy": "outbound_proxy",
    "aleg_outbound_proxy": "aleg_outbound_proxy",
    "aleg_next_hop": "aleg_next_hop",
    "append_headers": "append_headers",
    "append_headers_req": "append_headers_req",
    "aleg_append_headers_req": "aleg_append_headers_req",
    "rtprelay_enabled": "rtprelay_enabled",
}
"""M-sbc-1 text properties (exact names) -> fields."""

_BOOL_PROPERTIES = frozenset(
    {
        "force_outbound_proxy",
        "aleg_force_outbound_proxy",
        "next_hop_1st_req",
        "patch_ruri_next_hop",
        "force_symmetric_rtp",
        "aleg_force_symmetric_rtp",
        "msgflags_symmetric_rtp",
        "rtprelay_transparent_seqno",
        "rtprelay_transparent_ssrc",
        "rtprelay_dtmf_filtering",
        "rtprelay_dtmf_detection",
    }
)
"""M-sbc-1 boolean properties: true only for the exact value ``true`` (QUIRK)."""


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
    aleg_sdp_filter: str = ""  # empty: not set, sdp_filter applies to the caller's SDP too
    aleg_sdpfilter_list: tuple[str, ...] = ()
    sdp_alines_filter: str = "transparent"
    sdp_alinesfilter_list: tuple[str, ...] = ()
    sdp_anonymize: bool = False
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
    rtprelay_enabled: str = ""  # enable_rtprelay as written (may be a pattern); wins when set
    message_filter_entries: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    md5: str = ""  # of the profile file, shown by "list profiles" to track revisions

    def set_property(
        self, name: str, value: str, interfaces: Collection[str] | None = None
    ) -> None:
        """``sbc.profileSet(name, value)`` exactly as M-sbc-1 specifies.

        ``name`` is the exact property name (``From``, not ``FROM``); text
        properties take ``value`` as a pattern evaluated when the INVITE is
        relayed; boolean ones are true only for the exact value ``true``;
        ``rtprelay_interface``/``aleg_rtprelay_interface`` must be ``default``
        or one of ``interfaces`` (the media interface names; ``None``: only
        ``default`` exists); ``message_list`` adds a filter
        entry of undefined type (no effect, as in the reference);
        ``message_filter`` is accepted and ignored.  Raises
        :class:`ProfilePropertyError` (a ``KeyError``, ``errno`` ``arg``) with
        the spec's strerror text otherwise.
        """
        if name in _TEXT_PROPERTIES:
            setattr(self, _TEXT_PROPERTIES[name], value)
            if name == "rtprelay_enabled":
                self.enable_rtp_relay = value in ("yes", "true", "1")
        elif name in _BOOL_PROPERTIES:
            setattr(self, name, value == "true")
        elif name in ("rtprelay_interface", "aleg_rtprelay_interface"):
            known = value in ("", "default") or (interfaces is not None and value in interfaces)
            if not known:
                raise ProfilePropertyError(f"{name} '{value}' not present")
            setattr(self, name, value)
        elif name == "message_list":
            methods = tuple(m.strip() for m in value.split(",") if m.strip())
            self.message_filter_entries.append(("undefined", methods))
        elif name == "message_filter":
            pass  # QUIRK (M-sbc-1): accepted, no effect
        else:
            raise ProfilePropertyError(f"Call profile property '{name}' not known")

    def for_call(self) -> CallProfile:
        """A private copy for one call (``sbc.profileSet`` changes only that call).

        Fields hold immutable values (str, bool, int, tuples) or containers
        of them; the containers are copied, which is all a call can change.
        """
        mine = copy.copy(self)
        for name in _container_fields():
            setattr(mine, name, copy.copy(getattr(self, name)))
        return mine

    def call_control_values(self, entry: str) -> dict[str, str]:
        """The ``<entry>_<name>=value`` keys of ``entry`` as ``{name: value}`` (M-ccdsm-1), unevaluated."""
        prefix = entry + "_"
        return {k[len(prefix) :]: v for k, v in self.raw.items() if k.startswith(prefix)}


@functools.cache
def _container_fields() -> tuple[str, ...]:
    """Fields of :class:`CallProfile` holding a dict, list or set (copied per call)."""
    sample = CallProfile("")
    return tuple(f.name for f in fields(CallProfile) if isinstance(getattr(sample, f.name), (dict, list, set)))


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
    ``call_timer`` is in seconds, 0 for none.  ``from_`` and ``to`` carry
    no tag (the relay adds its own From tag); a ``Route`` for
    ``outbound_proxy`` is the first of ``headers``.
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


def parse_bool(value: str) -> bool | None:
    """The reference's ``str2bool``: ``yes``/``true``/``1`` -> True, ``no``/``false``/``0`` -> False."""
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    return None


def _context(invite: Request, source: tuple[str, int], local: tuple[str, int], config: SbcConfig | None) -> PatternContext:
    return PatternContext(invite, source, local, config.regex_maps if config is not None else {})


def select_profile(
    config: SbcConfig,
    invite: Request,
    source: tuple[str, int] = ("", 0),
    local: tuple[str, int] = ("", 0),
) -> str:
    """The name of the active profile for this INVITE (first non-empty entry of ``active_profile``).

    Entries: a static name, ``$(ruri.user)`` (the R-URI user), ``$(paramhdr)``
    (``profile=`` of ``P-App-Param``), ``$(Header-Name)`` (that header's
    value), or any replacement pattern (``$rP(profile)``, ``$M($si=>map)``).
    The result may name a profile that is not loaded (the relay refuses
    such a call); empty when no entry gives a name.  ``source``/``local``
    feed ``$si``/``$Ri`` … patterns.
    """
    ctx = _context(invite, source, local, config)
    for entry in config.active_profile:
        if not entry:
            continue
        if entry == "$(paramhdr)":
            name = app_param(invite.headers.get("P-App-Param") or "", "profile")
        elif entry == "$(ruri.user)":
            try:
                uri = parse_uri(invite.uri)
                name = (uri.user or "") if isinstance(uri, SipUri) else ""
            except (ParseError, ValueError):
                name = ""
        elif entry.startswith("$(") and entry.endswith(")") and "$" not in entry[2:]:
            name = (invite.headers.get(entry[2:-1].strip()) or "").strip()
        else:
            name = evaluate(entry, ctx)
        if name:
            return name
    return ""


def parse_active_profile(text: str, config: SbcConfig) -> tuple[str, ...]:
    """``set active_profile <text>`` at run time: the comma list, checked like at load.

    A static name that is not loaded raises :class:`SbcConfigError`.
    """
    entries = tuple(p.strip() for p in text.split(",") if p.strip())
    if not entries:
        raise SbcConfigError("active_profile is empty")
    for entry in entries:
        if "$" not in entry and entry not in config.profiles:
            raise SbcConfigError(f"active_profile names profile '{entry}', which is not loaded")
    return entries


def call_profile_for(
    config: SbcConfig,
    invite: Request,
    source: tuple[str, int] = ("", 0),
    local: tuple[str, int] = ("", 0),
) -> CallProfile | Refusal:
    """The selected profile's own copy for this call, or 500 when no loaded profile matches
    (the reference answers so)."""
    name = select_profile(config, invite, source, local)
    profile = config.profiles.get(name)
    if profile is None:
        return Refusal(500, _SERVER_ERROR)
    return profile.for_call()


def call_control_entries(
    profile: CallProfile,
    invite: Request,
    source: tuple[str, int],
    local: tuple[str, int],
    *,
    config: SbcConfig | None = None,
) -> list[tuple[str, str, dict[str, str]]]:
    """``call_control`` evaluated for one call: ``(entry, module, values)`` per entry.

    Entry names may be patterns (empty results are skipped); ``module`` is
    ``<entry>_module``; ``values`` are the other ``<entry>_<name>`` keys with
    their patterns evaluated (M-ccdsm-1).  An entry without a module is skipped.
    """
    ctx = _context(invite, source, local, config)
    out: list[tuple[str, str, dict[str, str]]] = []
    for raw_entry in profile.call_control:
        entry = evaluate(raw_entry, ctx).strip() if "$" in raw_entry else raw_entry
        if not entry:
            continue
        values = profile.call_control_values(entry)
        module = values.pop("module", "").strip()
        if not module:
            continue
        out.append((entry, module, {k: evaluate(v, ctx) for k, v in values.items()}))
    return out


_SERVER_ERROR = "Server Internal Error"


def _refusal(profile: CallProfile, ctx: PatternContext) -> Refusal:
    text = evaluate(profile.refuse_with, ctx).strip()
    code_text, _, reason = text.partition(" ")
    headers = tuple(filters.split_header_lines(evaluate(profile.append_headers, ctx)))
    if not (code_text.isascii() and code_text.isdigit() and 300 <= int(code_text) <= 699 and reason.strip()):
        return Refusal(500, _SERVER_ERROR, headers)
    return Refusal(int(code_text), reason.strip(), headers)


def _next_hop(text: str) -> str | None:
    """``1.2.3.4:5070/TCP,…`` (the first alternative) as ``1.2.3.4:5070;transport=tcp``.

    Empty text: no next hop (""); text that is no host[:port][/transport]: ``None``.
    """
    first = text.split(",", 1)[0].strip()
    if not first:
        return ""
    hostport, slash, transport = first.partition("/")
    hostport, transport = hostport.strip(), transport.strip().lower()
    if hostport.lower().startswith(("sip:", "sips:")):
        return _proxy_destination(hostport) or None
    if slash and not (transport.isascii() and transport.isalpha()):
        return None
    try:
        parse_hostport(hostport)
    except (ParseError, ValueError):
        return None
    return hostport + (f";transport={transport}" if transport else "")


def _proxy_destination(uri_text: str) -> str:
    try:
        uri = parse_uri(uri_text)
    except (ParseError, ValueError):
        return ""
    if not isinstance(uri, SipUri):
        return ""
    dest = str(SipUri(host=uri.host, port=uri.port)).split(":", 1)[1]
    transport = (uri.params.get("transport") or "").lower()
    if transport and not (transport.isascii() and transport.isalpha()):
        return ""
    return dest + (f";transport={transport}" if transport else "")


def _patch_host(ruri: str, hostport: str) -> str:
    try:
        uri = parse_uri(ruri)
        host, port = parse_hostport(hostport.split(";", 1)[0])
    except (ParseError, ValueError):
        return ruri
    if not isinstance(uri, SipUri):
        return ruri
    uri.host, uri.port = host, port
    return str(uri)


_CONTROL = frozenset("\r\n\x00")


def _usable(ruri: str, from_: str, to: str, call_id: str, contact: str) -> bool:
    """Do the evaluated values make a valid INVITE (no header injection, parsable addresses)?"""
    if any(_CONTROL & set(v) for v in (ruri, from_, to, call_id, contact)):
        return False
    if not call_id or any(c in call_id for c in " \t"):
        return False
    try:
        parse_uri(ruri)
        NameAddress.parse(from_)
        NameAddress.parse(to)
        if contact:
            NameAddress.parse(contact)
    except (ParseError, ValueError):
        return False
    return True


def _own_contact(ruri: str, local: tuple[str, int]) -> str:
    """The relay's own Contact for a B leg to ``ruri`` (as the SIP core writes it)."""
    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    try:
        uri = parse_uri(ruri)
    except (ParseError, ValueError):
        uri = None
    transport = uri.transport if isinstance(uri, SipUri) else "udp"
    param = "" if transport == "udp" else f";transport={transport}"
    return f"<sip:{host}:{local[1]}{param}>"


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
    profile says otherwise (``Call-ID=$ci`` keeps the caller's).  From and To
    carry no tag (the relay adds its own From tag).  ``refuse_with`` gives a
    :class:`Refusal` with the evaluated ``append_headers``; an SDP filter that
    leaves no usable stream gives 488; a profile value that does not evaluate
    to something usable (``call_timer``, ``enable_rtprelay``, ``refuse_with``)
    gives 500, as the reference does.
    """
    ctx = _context(invite, source, local, config)
    if profile.next_hop:  # first, so the other values can read it ($di, $dp)
        ctx = replace(ctx, next_hop=evaluate(profile.next_hop, ctx))
    if profile.refuse_with:
        return _refusal(profile, ctx)
    ruri = evaluate(profile.ruri, ctx).strip() if profile.ruri else invite.uri
    if profile.ruri_host:
        ruri = _patch_host(ruri, evaluate(profile.ruri_host, ctx).strip())
    from_ = evaluate(profile.from_, ctx).strip() if profile.from_ else without_tag(invite.headers.get("From") or "")
    to = evaluate(profile.to, ctx).strip() if profile.to else without_tag(invite.headers.get("To") or "")
    call_id = evaluate(profile.call_id, ctx).strip() if profile.call_id else ""
    call_id = call_id or new_call_id or invite.call_id
    contact = evaluate(profile.contact, ctx).strip() if profile.contact else ""
    parts = contact_parts(profile.raw, "bleg", lambda text: evaluate(text, ctx))
    if parts:
        try:
            contact = rewrite_contact(contact or _own_contact(ruri, local), parts)
        except ValueError:
            return Refusal(500, _SERVER_ERROR)
    if not _usable(ruri, from_, to, call_id, contact):
        return Refusal(500, _SERVER_ERROR)
    headers = filter_headers(profile, invite.headers.items())
    hop = _next_hop(ctx.next_hop) if profile.next_hop else ""
    if hop is None:
        return Refusal(500, _SERVER_ERROR)
    destination = hop
    if profile.outbound_proxy:
        proxy = evaluate(profile.outbound_proxy, ctx).strip()
        if proxy:
            route = proxy if proxy.startswith("<") else f"<{proxy};lr>"
            headers.insert(0, ("Route", route))
            if not destination:
                destination = _proxy_destination(proxy.strip("<>"))
    if profile.patch_ruri_next_hop and destination:
        ruri = _patch_host(ruri, destination)
    headers += filters.split_header_lines(evaluate(profile.append_headers, ctx))
    body = invite.body
    content_type = invite.headers.get("Content-Type") or ""
    if body and invite.content_type == "application/sdp":
        body, usable = filters.filter_sdp_body(profile.sdp_filter, profile.sdpfilter_list, body)
        if not usable:
            return Refusal(488, "Not Acceptable Here")
        body = _sdp_lines(profile, body, local[0])
    rtp_relay = profile.enable_rtp_relay
    if profile.rtprelay_enabled:
        text = evaluate(profile.rtprelay_enabled, ctx).strip()
        if text:
            flag = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text)
            if flag is None:
                return Refusal(500, _SERVER_ERROR)
            rtp_relay = flag
        else:
            rtp_relay = False
    call_timer = 0
    if profile.enable_call_timer and profile.call_timer:
        text = evaluate(profile.call_timer, ctx).strip()
        if not (text.isascii() and text.isdigit()):
            return Refusal(500, _SERVER_ERROR)
        call_timer = int(text)
    return LegPlan(
        ruri=ruri,
        from_=from_,
        to=to,
        call_id=call_id,
        contact=contact,
        destination=destination,
        headers=tuple(headers),
        body=body,
        content_type=content_type,
        rtp_relay=rtp_relay,
        call_timer=call_timer,
    )


def translate_reply(profile: CallProfile, code: int, reason: str) -> tuple[int, str]:
    """``reply_translations``: the code and reason the other leg gets.

    A translation written without a reason (``603=>488``) keeps the received reason.
    """
    new_code, new_reason = profile.reply_translations.get(code, (code, reason))
    return new_code, new_reason or reason


def message_allowed(profile: CallProfile, method: str) -> bool:
    """``message_filter``/``message_list``: may an in-dialog ``method`` pass (else 405)?

    ACK and CANCEL always pass; methods compare case-insensitively.
    Entries added by ``sbc.profileSet(message_list, …)`` have no filter type
    and no effect (M-sbc-1).
    """
    if not filters.method_allowed(profile.message_filter, profile.message_list, method):
        return False
    return all(filters.method_allowed(kind, methods, method) for kind, methods in profile.message_filter_entries)


def filter_headers(
    profile: CallProfile, headers: Mapping[str, str] | list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``header_filter``/``header_list`` applied to relayed headers (requests and replies).

    Core headers (Via, From, To, Call-ID, CSeq, Contact, Max-Forwards,
    Route, Record-Route, Content-*) never pass: the relay writes them.
    """
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    return filters.filter_header_list(profile.header_filter, profile.header_list, items)


def filter_sdp(profile: CallProfile, body: bytes, *, to_caller: bool = False, local_host: str = "") -> bytes:
    """The SDP filters for ``body`` on its way to the callee or (``to_caller``) the caller.

    Codecs: ``sdp_filter``/``sdpfilter_list``, or towards the caller
    ``aleg_sdp_filter``/``aleg_sdpfilter_list`` when the profile sets them.
    A stream left without codecs keeps its first one with port 0 (rejected);
    a transparent filter or an unparsable body leaves ``body`` as it is.
    Then ``sdp_alines_filter`` and ``sdp_anonymize`` (``o=`` address
    ``local_host``), both directions.
    """
    kind, codecs = profile.sdp_filter, profile.sdpfilter_list
    if to_caller and profile.aleg_sdp_filter:
        kind, codecs = profile.aleg_sdp_filter, profile.aleg_sdpfilter_list
    body = filters.filter_sdp_body(kind, codecs, body)[0]
    return _sdp_lines(profile, body, local_host)


def _sdp_lines(profile: CallProfile, body: bytes, local_host: str) -> bytes:
    """``sdp_alines_filter`` then ``sdp_anonymize`` (identical for both legs)."""
    body = filters.filter_sdp_alines(profile.sdp_alines_filter, profile.sdp_alinesfilter_list, body)
    return filters.anonymize_sdp(body, local_host) if profile.sdp_anonymize else body
