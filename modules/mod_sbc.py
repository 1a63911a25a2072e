"""mod_sbc — acting on an SBC call leg from its DSM session (``modules.md`` section 19).

A session made by the ``cc_dsm`` call control (:mod:`dsm.runtime.sbc.cc_dsm`)
runs on a call whose ``sbc_leg`` attribute is the leg
(:func:`dsm.runtime.sbc.leg.sbc_leg_of`); every action here acts on that
:class:`~dsm.runtime.sbc.leg.SbcLeg`, so the relay's real legs and the
harness's simulated legs behave alike.  The module imports without the SBC
running: in any other session the leg actions raise the reference's
``{type: param, cause: script writer error: DSM action <Name> used without
call leg}`` and the state conditions are false.

Reference quirks kept (see each function): ``sbc.enableRelayDTMFReceiving``
reports itself as ``AddCallee`` when there is no leg; boolean profile
properties are true only for the exact value ``true`` (M-sbc-1); the
reliable-event lists are literal variable names (M-sbc-8); the hold event
conditions exist but never match (M-sbc-20 … 23).
"""

from __future__ import annotations

from typing import Any

from dsm.runtime.actions.conditions import test_predicate
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.registry import Module
from dsm.runtime.sbc.leg import CallStatus, NoMediaError, SbcLeg, sbc_leg_of
from dsm.runtime.values import strip_dollar

__all__ = ["module", "CALL_PROFILE", "NO_MEDIA"]

module = Module("mod_sbc", doc="SBC call legs and their call profiles (modules.md section 19)")

_LOG_ERROR = 0
_LOG_DEBUG = 3

CALL_PROFILE = "__call_profile"
"""The object-store entry of the simple relay's profile (Relay* events); ``sbc.profileSet`` prefers it."""

NO_MEDIA = "No B2BMedia in current SBC call leg, sorry"


# -- the leg of a session ----------------------------------------------------------------


def _leg(ctx: ActionContext) -> SbcLeg | None:
    return sbc_leg_of(ctx.call)


def _call_leg(ctx: ActionContext, name: str) -> SbcLeg:
    """The leg, or the reference's ``param`` exception naming the action ``name``."""
    leg = _leg(ctx)
    if leg is None:
        raise DSMException(
            "param", {"cause": f"script writer error: DSM action {name} used without call leg"}
        )
    return leg


def _sbc_call_leg(ctx: ActionContext, name: str) -> SbcLeg:
    """As :func:`_call_leg` for the actions that need an SBC leg specifically."""
    leg = _leg(ctx)
    if leg is None:
        raise DSMException(
            "param", {"cause": f"script writer error: DSM action {name} used without sbc call leg"}
        )
    return leg


# -- event conditions (M-sbc-18 … 31): style T, filtered by event type -------------------------
# ``test_predicate`` carries the engine's generic-test marker: each use compiles to the
# event filter plus the optional test expression, like the core's ``timer(#id == 1)``.

module.condition("legStateChange", "T", event="LegStateChange")(test_predicate)
module.condition("bLegRefused", "T", event="BLegRefused")(test_predicate)
module.condition("PutOnHold", "T", event="PutOnHold")(test_predicate)
module.condition("ResumeHeld", "T", event="ResumeHeld")(test_predicate)
module.condition("CreateHoldRequest", "T", event="CreateHoldRequest")(test_predicate)
module.condition("HandleHoldReply", "T", event="HandleHoldReply")(test_predicate)
module.condition("RelayInit", "T", event="RelayInit")(test_predicate)
module.condition("RelayInitUAC", "T", event="RelayInitUAC")(test_predicate)
module.condition("RelayInitUAS", "T", event="RelayInitUAS")(test_predicate)
module.condition("RelayFinalize", "T", event="RelayFinalize")(test_predicate)
module.condition("RelayOnSipRequest", "T", event="RelayOnSipRequest")(test_predicate)
module.condition("RelayOnSipReply", "T", event="RelayOnSipReply")(test_predicate)
module.condition("RelayOnB2BRequest", "T", event="RelayOnB2BRequest")(test_predicate)
module.condition("RelayOnB2BReply", "T", event="RelayOnB2BReply")(test_predicate)


# -- state conditions (M-sbc-32 … 38): any event, false without a leg -----------------------------


@module.condition("sbc.isALeg", "N")
def is_a_leg(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-32."""
    leg = _leg(ctx)
    return leg is not None and leg.is_a_leg


@module.condition("sbc.isOnHold", "N")
def is_on_hold(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-33."""
    leg = _leg(ctx)
    return leg is not None and leg.is_on_hold()


def _status_is(ctx: ActionContext, status: CallStatus) -> bool:
    leg = _leg(ctx)
    return leg is not None and leg.call_status() == status


@module.condition("sbc.isDisconnected", "N")
def is_disconnected(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-34."""
    return _status_is(ctx, CallStatus.DISCONNECTED)


@module.condition("sbc.isNoReply", "N")
def is_no_reply(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-35."""
    return _status_is(ctx, CallStatus.NO_REPLY)


@module.condition("sbc.isRinging", "N")
def is_ringing(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-36."""
    return _status_is(ctx, CallStatus.RINGING)


@module.condition("sbc.isConnected", "N")
def is_connected(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-37."""
    return _status_is(ctx, CallStatus.CONNECTED)


@module.condition("sbc.isDisconnecting", "N")
def is_disconnecting(ctx: ActionContext, *_: str) -> bool:
    """M-sbc-38."""
    return _status_is(ctx, CallStatus.DISCONNECTING)


# -- the call profile (M-sbc-1) ----------------------------------------------------------------------


@module.action("sbc.profileSet", "P,mand")
def profile_set(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sbc-1: one property of ``__call_profile`` (relay events) or of the leg's own profile.

    :meth:`CallProfile.set_property` knows the names and their kinds; it
    raises a :class:`KeyError` (or :class:`ValueError`) whose message is the
    reference's strerror (unknown property, unknown interface), which
    becomes ``errno = arg``.  Success leaves errno alone.
    """
    name = ctx.resolve(p1)
    value = ctx.resolve(p2)
    profile: Any = ctx.objects.get(CALL_PROFILE)
    if profile is None:
        leg = _leg(ctx)
        profile = None if leg is None else leg.profile
    if profile is None:
        ctx.log(_LOG_ERROR, "internal: Call profile object not found")
        return
    setter = getattr(profile, "set_property", None)
    if setter is None:
        ctx.log(_LOG_ERROR, f"sbc.profileSet: this call profile cannot be changed ({name})")
        return
    try:
        setter(name, value)
    except (ValueError, KeyError) as exc:
        ctx.set_error("arg", str(exc.args[0]) if exc.args else str(exc))


# -- call and leg control (M-sbc-2 … 9) ------------------------------------------------------------


@module.action("sbc.stopCall", "S")
def stop_call(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-2: end the whole call; every leg reports ``legStateChange`` reason ``other``."""
    leg = _call_leg(ctx, "StopCall")
    leg.stop_call(ctx.resolve(a))


@module.action("sbc.disconnect", "P,opt")
def disconnect(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sbc-3: detach from the other leg, keeping the own dialog."""
    leg = _call_leg(ctx, "Disconnect")
    leg.disconnect(ctx.resolve(p1) == "true", ctx.resolve(p2) == "true")


@module.action("sbc.sendDisconnectEvent", "S")
def send_disconnect_event(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-4: queue a disconnect to the own leg (processed later, media not kept)."""
    leg = _call_leg(ctx, "SendDisconnectEvent")
    leg.send_disconnect_event(ctx.resolve(a) == "true")


@module.action("sbc.putOnHold", "N")
def put_on_hold(ctx: ActionContext, *_: str) -> None:
    """M-sbc-5."""
    _call_leg(ctx, "PutOnHold").put_on_hold()


@module.action("sbc.resumeHeld", "N")
def resume_held(ctx: ActionContext, *_: str) -> None:
    """M-sbc-6."""
    _call_leg(ctx, "ResumeHeld").resume_held()


@module.action("sbc.getCallStatus", "S")
def get_call_status(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-7: ``$var`` = the leg's call status name."""
    leg = _call_leg(ctx, "GetCallStatus")
    status = leg.call_status()
    ctx.vars[strip_dollar(a)] = status.value if isinstance(status, CallStatus) else "Unknown"


def _literal_list(ctx: ActionContext, names: str) -> dict[str, str]:
    """M-sbc-8: ``;``-separated variable names taken literally (no ``$`` removal, no resolution).

    A name ending in ``.`` copies every variable with that prefix; missing
    variables are skipped.
    """
    out: dict[str, str] = {}
    for piece in names.split(";"):
        if not piece:
            continue
        if piece.endswith("."):
            out.update((k, v) for k, v in ctx.vars.items() if k.startswith(piece))
        elif piece in ctx.vars:
            out[piece] = ctx.vars[piece]
    return out


@module.action("sbc.relayReliableEvent", "P,mand")
def relay_reliable_event(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sbc-8: a B2BEvent to the peer; the processed or unprocessed map comes back.

    The reply maps are taken now (not when the peer answers).
    """
    leg = _call_leg(ctx, "B2BRelayReliable")
    processed, _sep, unprocessed = p2.partition(",")
    leg.relay_reliable_event(
        _literal_list(ctx, p1),
        _literal_list(ctx, processed.strip(" ")),
        _literal_list(ctx, unprocessed.strip(" ")),
    )


_CALLEE_KEYS = (
    "transparent_dlg_id",
    "local_party",
    "remote_party",
    "hdrs",
    "outbound_proxy",
    "next_hop",
    "next_hop_1st_req",
    "next_hop_patch_ruri",
    "next_hop_fixed",
    "outbound_interface",
    "rtp_interface",
)


@module.action("sbc.addCallee", "P,mand")
def add_callee(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sbc-9: a new B leg from ``<name>.*`` variables, or reconnect ``<name>.ltag``.

    ``name`` is literal.  The booleans are passed as the variables hold
    them; the leg treats exactly ``true`` as true.  An interface other than
    ``default`` (``outbound_interface``, ``rtp_interface``) is
    ``errno = arg`` with ``<key> '<name>' not present``, as an unknown
    ``rtprelay_interface`` in ``sbc.profileSet``; no callee is added.
    """
    leg = _sbc_call_leg(ctx, "sbc.addCallee")
    mode = ctx.resolve(p1)
    name = p2
    if mode == "var":
        spec = {k: ctx.vars[f"{name}.{k}"] for k in _CALLEE_KEYS if f"{name}.{k}" in ctx.vars}
        try:
            leg.add_callee(spec)
        except KeyError as exc:  # ProfilePropertyError: an interface that does not exist
            ctx.set_error("arg", str(exc.args[0]) if exc.args else str(exc))
    elif mode == "ltag":
        leg.reconnect_leg(ctx.vars.get(f"{name}.ltag", ""), ctx.vars.get(f"{name}.hdrs", ""))


# -- media (M-sbc-10 … 13) -----------------------------------------------------------------------------


@module.action("sbc.enableRelayDTMFReceiving", "S")
def enable_relay_dtmf_receiving(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-10.  REFERENCE QUIRK: without a leg the exception names ``AddCallee``."""
    flag = ctx.resolve(a) == "true"
    leg = _sbc_call_leg(ctx, "AddCallee")
    try:
        leg.enable_relay_dtmf_receiving(flag)
    except NoMediaError:
        ctx.set_error("arg", NO_MEDIA)


@module.action("sbc.addToMediaProcessor", "N")
def add_to_media_processor(ctx: ActionContext, *_: str) -> None:
    """M-sbc-11: the leg's media processing (its source playlist plays, in-band keys are heard).

    On a relayed leg without RTP relay: an error log, nothing else
    (:mod:`dsm.runtime.sbc.leg_media`).
    """
    _call_leg(ctx, "AddToMediaProcessor").add_to_media_processor()


@module.action("sbc.removeFromMediaProcessor", "N")
def remove_from_media_processor(ctx: ActionContext, *_: str) -> None:
    """M-sbc-12: back to plain relaying (the playlist keeps its items)."""
    _call_leg(ctx, "RemoveFromMediaProcessor").remove_from_media_processor()


@module.action("sbc.streamsSetReceiving", "P,mand")
def streams_set_receiving(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sbc-13: pause (``false``) or resume the A-side and B-side streams."""
    receive_a = ctx.resolve(p1) == "true"
    receive_b = ctx.resolve(p2) == "true"
    leg = _sbc_call_leg(ctx, "RtpStreamsSetReceiving")
    try:
        leg.streams_set_receiving(receive_a, receive_b)
    except NoMediaError:
        ctx.set_error("arg", NO_MEDIA)


# -- dialog (M-sbc-14 … 17) -------------------------------------------------------------------------------


@module.action("sbc.clearExtLocalTag", "N")
def clear_ext_local_tag(ctx: ActionContext, *_: str) -> None:
    """M-sbc-14: back to the internal local tag (nothing outside an SBC leg)."""
    leg = _leg(ctx)
    if leg is None:
        ctx.log(_LOG_DEBUG, "sbc.clearExtLocalTag: not an SBC call leg")
        return
    leg.set_ext_local_tag("")


@module.action("sbc.setExtLocalTag", "S")
def set_ext_local_tag(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-15: ``R(a)`` becomes the externally visible local tag."""
    tag = ctx.resolve(a)
    leg = _leg(ctx)
    if leg is None:
        ctx.log(_LOG_DEBUG, "sbc.setExtLocalTag: not an SBC call leg")
        return
    leg.set_ext_local_tag(tag)


@module.action("sbc.setLastReq", "N")
def set_last_req(ctx: ActionContext, *_: str) -> None:
    """M-sbc-16: the ``request`` object becomes the request ``dlg.reply`` answers.

    Only the Invite event's bare INVITE qualifies; the wrapped requests of
    other events fail as in the reference (error log, nothing changes).
    """
    from dsm.modules.mod_dlg import set_last_request

    request = ctx.objects.get("request")
    if request is None:
        ctx.log(_LOG_ERROR, "Could not find request avar for request")
        return
    if getattr(request, "wrapped", False) or not hasattr(request, "method"):
        ctx.log(_LOG_ERROR, "Could not find request avar as request")
        return
    set_last_request(ctx, request)


def session_connection_address(sdp: str) -> str | None:
    """The address of the session-level ``c=`` line (before the first ``m=``), or ``None``."""
    for raw in sdp.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("m="):
            return None
        if line.startswith("c="):
            parts = line[2:].split()
            return parts[2].split("/", 1)[0] if len(parts) >= 3 else None
    return None


@module.action("sbc.testSDPConnectionAddress", "S")
def test_sdp_connection_address(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sbc-17: ``$match_connection_addr`` = whether the reply's session ``c=`` is one of ``R(a)``.

    The list is split at ``,`` and not trimmed.  No reply, no SDP or an
    unreadable SDP: error log, nothing set.
    """
    wanted = ctx.resolve(a).split(",")
    reply = ctx.objects.get("reply")
    if reply is None:
        ctx.log(_LOG_ERROR, "Could not find reply avar for reply")
        return
    body = getattr(reply, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or "v=" not in body:
        ctx.log(_LOG_ERROR, "No SDP in reply")
        return
    address = session_connection_address(body)
    if address is None:
        ctx.log(_LOG_ERROR, "error parsing SDP: no session-level connection address")
        return
    ctx.vars["match_connection_addr"] = "true" if address in wanted else "false"
