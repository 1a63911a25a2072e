"""A late offer through the SBC: the caller's INVITE without SDP (RFC 3261 13.2.1).

The B leg's INVITE then goes without SDP too (``ack_later``: the SIP core
keeps the 2xx's ACK for us).  The callee's offer comes in its 2xx and goes to
the caller in our 200; the caller's answer comes in its ACK and goes on in
the B leg's ACK.  With the RTP relay both SDPs are rewritten to the relay's
ports: the callee's offer names our caller-side port, the caller's answer
our callee-side port; the relay is opened when the callee's SDP arrives
(there was none to open it with when the INVITE went out).

A 2xx without SDP, or a caller that never ACKs, leaves nothing to answer
with: the B leg is ACKed without a body (the call then ends as usual, no
ACK ending it with BYE on both legs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsm.runtime.sbc.profile import filter_sdp
from dsm.runtime.sbc.relay_media import rewrite_sdp
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.useragent import UserAgentError

if TYPE_CHECKING:
    from dsm.runtime.sbc.relay import RelayedCall

__all__ = ["is_late_offer", "open_media", "ack_callee"]


def is_late_offer(invite: Request) -> bool:
    """Whether the caller's INVITE carries no offer (an empty body)."""
    return not invite.body


def open_media(call: RelayedCall, response: Response) -> None:
    """With ``enable_rtp_relay``: the relay for a late offer, when the callee's first SDP arrives.

    The caller's side stays unconfirmed until its ACK brings its address.
    A failure to bind ports leaves the media end to end (logged).
    """
    plan = call.plan
    if call.media is not None or plan is None or not plan.rtp_relay or not response.body:
        return
    try:
        media = call.relay.new_media(call)
    except OSError as exc:
        call.sip.log("sbc", "warn", call=call.a.call_id, msg=f"rtp relay: {exc}; media end to end")
        return
    media.a.confirmed = False
    call.media = media


def ack_callee(call: RelayedCall, ack: Request | None) -> None:
    """The B leg's ACK for the callee's 2xx, with the caller's answer from ``ack`` (if any).

    Does nothing unless the B leg's 2xx still waits for its ACK.
    """
    b = call.b
    sip = call.sip
    if b is None or not sip.core.awaits_ack(b.call_id):
        return
    body = ack.body if ack is not None and ack.content_type.startswith("application/sdp") else b""
    if body:
        body = filter_sdp(call.profile, body, local_host=sip.host)
        media = call.media
        if media is not None:
            media.peer_sdp(media.a, ack.body if ack is not None else b"")
            media.a.confirmed = True
            body = rewrite_sdp(body, sip.host, media.b.port)
        call.last_sdp_to[id(b)] = body
    ctype = "application/sdp" if body else None
    try:
        sip.run(lambda now: sip.core.ack(b.call_id, now=now, body=body, content_type=ctype))
    except UserAgentError as exc:
        sip.log("sbc", "debug", call=call.a.call_id, msg=f"B leg ACK: {exc}")
