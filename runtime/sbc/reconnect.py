"""``sbc.addCallee(ltag, name)``: an existing leg becomes this call's B leg (M-sbc-9, "reconnect").

The script of a call's A leg names another call's leg by its local tag
(``<name>.ltag``, e.g. a parked callee found with ``dlg.getOtherId`` and
passed on by ``postEvent``).  That leg (the *target*) leaves its own call:
the target's former peer is ended (BYE, or 487 to a caller still waiting),
its call is over, and the target's call control moves with it.  Then the
target gets a re-INVITE with the caller's SDP (and ``<name>.hdrs``); its
2xx connects the legs: a caller still waiting gets our 200 with the
target's SDP, a connected caller a re-INVITE with it.  A failed re-INVITE
ends the call (BYE to the target, 487 or BYE to the caller).

With the RTP relay on this call (``enable_rtp_relay``), the target's media
joins this call's relay: the re-INVITE offers the relay's B-side port, the
caller keeps its A-side port (a connected caller's relay lives on; packets
towards the target are held back until its answer names its address).  The
other call's relay, if any, closes with that call.  Without the relay here
the media goes end to end, whatever the other call had.

As the reference: an unknown tag is logged and nothing happens.  Limits
(a :class:`DSMException` in the script): only an A leg reconnects, only
while it has no active B leg, only another call's connected leg.  The
re-INVITE carries the caller's SDP as received in its INVITE.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from dsm.runtime.errors import DSMException
from dsm.runtime.sbc.leg import CallControl, CallStatus, StopReason
from dsm.runtime.sbc.profile import filter_sdp
from dsm.runtime.sbc.relay_media import RtpRelay, rewrite_sdp
from dsm.runtime.sip.message import Response
from dsm.runtime.sip.sipcall import header_lines
from dsm.runtime.sip.useragent import UserAgentError

if TYPE_CHECKING:
    from dsm.runtime.sbc.legs import SbcCallLeg
    from dsm.runtime.sbc.relay import RelayedCall

__all__ = ["reconnect", "answered"]


def _error(cause: str) -> DSMException:
    return DSMException("script", {"cause": f"sbc.addCallee(ltag): {cause}"})


def _find(call: RelayedCall, ltag: str) -> tuple[RelayedCall, SbcCallLeg] | None:
    for other, leg in call.relay.legs.values():
        if ltag and leg.local_tag == ltag and not other.ended:
            return other, leg
    return None


def _release(old: RelayedCall, target: SbcCallLeg) -> list[CallControl]:
    """``target`` leaves ``old``: the rest of ``old`` ends; the target's call control is returned."""
    controls = old.controls.pop(id(target), [])
    if target is old.b:
        old.b = None
        old.b_state = "none"
    else:
        old.a_state = "ended"  # no BYE, no reply: the leg lives on elsewhere
    old.pending = {k: v for k, v in old.pending.items() if k[0] != target.call_id}
    old.stop_call("reconnected")
    return controls


def reconnect(call: RelayedCall, leg: SbcCallLeg, ltag: str, hdrs: str) -> None:
    """Make the leg tagged ``ltag`` the B leg of ``call`` (see the module docstring)."""
    call._may_add_callee(leg, "sbc.addCallee(ltag)", connected_ok=True)
    found = _find(call, ltag)
    if found is None:
        call.sip.log("sbc", "info", call=call.a.call_id, msg=f"the leg to connect to ({ltag!r}) does not exist")
        return
    old, target = found
    if old is call:
        raise _error("the leg is already part of this call")
    if not old._connected(target):
        raise _error("the leg to connect to is not connected")
    headers = list(header_lines(hdrs.replace("\\r\\n", "\r\n")))  # before any change: may raise
    kept, call.media = call.media, None  # the caller's side keeps its relay port
    call._drop_b()
    controls = _release(old, target)
    relay = call.relay
    target.host = call
    target.detached = False
    target.on_hold = False
    target.status = CallStatus.NO_REPLY
    call.b = target
    call.b_state = "connected"  # the target's dialog is established
    call.b_timer = None
    call.b_clock.cancel()
    call.controls[id(target)] = controls
    relay.legs[target.call_id] = (call, target)
    body = filter_sdp(call.profile, call.invite.body) if call.invite.body else b""
    sip = call.sip
    if body and _relay_wanted(call):
        try:
            media = _join_relay(call, kept)
        except OSError as exc:
            sip.log("sbc", "warn", call=call.a.call_id, msg=f"rtp relay: {exc}")
            call.stop_call("no RTP ports", StopReason.INTERNAL_ERROR)
            return
        body = rewrite_sdp(body, sip.host, media.b.port)
    elif kept is not None:
        kept.close()
    try:
        sip.run(
            lambda now: sip.core.send_request(
                target.call_id, "INVITE", now=now, body=body,
                content_type="application/sdp" if body else None, headers=headers,
            )
        )  # fmt: skip
    except UserAgentError as exc:
        sip.log("sbc", "warn", call=call.a.call_id, msg=f"reconnect: {exc}")
        call.stop_call("reconnect failed")
        return
    call.last_sdp_to[id(target)] = body
    call.reconnect_cseq = sip.core.calls[target.call_id].dialog.local_seq
    sip.log("sbc", call=call.a.call_id, other=target.call_id, msg="reconnected an existing leg")


def _relay_wanted(call: RelayedCall) -> bool:
    """Whether this call relays RTP: its plan's choice, else its profile's ``enable_rtp_relay``."""
    return call.plan.rtp_relay if call.plan is not None else call.profile.enable_rtp_relay


def _join_relay(call: RelayedCall, kept: RtpRelay | None) -> RtpRelay:
    """This call's relay for the target (``call.b`` already): the caller's kept one, else a new one."""
    if kept is not None and not kept.closed:
        media = kept
        media.b.local = None  # the old B leg's own media stays with it
    else:
        if kept is not None:
            kept.close()
        media = call.relay.new_media(call)  # may raise OSError: no ports
        media.peer_sdp(media.a, call.invite.body)
        media.a.confirmed = call.a_state == "connected"  # a waiting caller: until its ACK
    media.b.confirmed = False  # until the target's answer names where it listens
    call.media = media
    return media


def answered(call: RelayedCall, response: Response | None) -> None:
    """The target's answer to our re-INVITE: connect the caller, or end the call."""
    if response is not None and response.status < 200:
        return
    call.reconnect_cseq = None
    target = call.b
    if target is None or call.ended:
        return
    if response is None or response.status >= 300:
        call.stop_call("reconnect failed")
        return
    body = filter_sdp(call.profile, response.body) if response.body else b""
    media = call.media
    if media is not None and body:
        media.peer_sdp(media.b, response.body)
        media.b.confirmed = True
        body = rewrite_sdp(body, call.sip.host, media.a.port)
        media.start()  # a waiting caller hears nothing before its ACK (no reflection)
    if call.a_state in ("incoming", "early"):
        call._reply_a(200, "OK", body)
    elif body:
        call.last_sdp_to[id(call.a)] = body
        sip = call.sip
        with contextlib.suppress(UserAgentError):
            sip.run(
                lambda now: sip.core.send_request(
                    call.a.call_id, "INVITE", now=now, body=body, content_type="application/sdp"
                )
            )
    if body:
        call.last_sdp_to[id(call.a)] = body
    call._status(CallStatus.CONNECTED, StopReason.SIP_REPLY, response, legs=(call.a, target))
