"""The other leg of a B2B call over SIP (``actions.md`` 9, E-129 … E-132, E-149, E-151).

``B2B.connectCallee`` on a :class:`~dsm.runtime.sip.sipcall.SipCall` (the A
leg) makes an :class:`OtherLeg`: an outgoing INVITE sent through the same SIP
core as ``dlg.dialout`` (:meth:`UserAgentServer.invite`), but with no DSM
session of its own -- as in the reference, what the A leg's script sees of
it are events:

* every reply to the INVITE: ``B2BOtherReply`` with ``code``, ``reason``,
  ``hdrs`` (C-core-16); a final failure (3xx-6xx, or no answer at all:
  ``408``) detaches the leg and leaves the A leg alone;
* the callee's BYE: answered 200 by the host, then ``B2BOtherBye`` with
  ``hdrs`` and the ``request`` object (C-core-17); unless the script sets
  ``#processed=true`` the BYE goes on to the caller and the session stops;
* ``B2B.relayEvent`` from the A leg is kept in :attr:`OtherLeg.events`
  (the B leg runs no script that could take it).

Media is end to end by default (the reference's ``RTP_Direct``): the INVITE
carries the caller's SDP offer, and when the callee answers an answered
caller gets a re-INVITE with the callee's SDP; our own stream to the caller
pauses.  In relayed-INVITE mode (``$b2b_relayed_invite``, ``dlg.connectCalleeRelayed``)
the caller's INVITE is still open and the callee's replies (18x, 2xx with
its SDP, failures) are passed through to it.  After the callee answered the
session is in relay-only mode: in-dialog requests of either leg (re-INVITE,
UPDATE, INFO …) are relayed to the other and the answer relayed back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from dsm.runtime.events import processed
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.invite_retry import OutgoingInvite
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.sdp import OfferAnswerError, answer_offer, make_offer, parse_sdp
from dsm.runtime.sip.useragent import (
    CallAnswered,
    CallFailed,
    CallProgress,
    Event,
    InDialogRequest,
    RequestFailed,
    ResponseToRequest,
    UserAgentError,
)

if TYPE_CHECKING:
    from dsm.runtime.sip.sipcall import SipCall, SipCalls

__all__ = ["OtherLeg", "connect_callee", "initial_header_block", "relayed_headers", "RelayedRequest"]

_NOT_RELAYED = frozenset(
    h.lower()
    for h in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Content-Length",
        "Max-Forwards", "Route", "Record-Route", "Allow", "User-Agent", "Supported", "Require",
        "Proxy-Require", "Session-Expires", "Min-SE", "Authorization", "Proxy-Authorization",
        "Server", "Accept", "i", "f", "t", "m", "v", "c", "l", "k",
    )
)  # fmt: skip
"""Headers of the caller's INVITE that the core writes itself for the B leg (or must not copy)."""


def relayed_headers(message: Request | Response) -> list[tuple[str, str]]:
    """The headers of ``message`` that go with it to the other leg (not the core's own)."""
    return [(name, value) for name, value in message.headers if name.lower() not in _NOT_RELAYED]


def initial_header_block(request: Request) -> str:
    """The header block of an incoming call: the INVITE's headers except the core's own (A-core-53)."""
    return "".join(f"{name}: {value}\r\n" for name, value in relayed_headers(request))


def _header_text(message: Request | Response) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in message.headers)


class RelayedRequest:
    """A request of one leg sent on in the other; its answer goes back to ``origin``."""

    __slots__ = ("origin_call", "origin")

    def __init__(self, origin_call: str, origin: InDialogRequest) -> None:
        self.origin_call = origin_call
        self.origin = origin


class MediaRelay:
    """Anchored media (``$b2b_rtp_relay == true``, the reference's ``RTP_Relay``).

    The B leg gets an RTP port of its own and our offer (the codec the
    caller negotiated, plus telephone-event); once the callee answers,
    every packet the latch admits on one leg is sent on unchanged from the
    other leg's port, and our own audio to the caller stops.  Both streams
    still go through their :class:`CallMedia`, so RFC 4733 and in-band keys
    of either leg arrive in the A leg's script as ``Key``.
    """

    def __init__(self, a: SipCall, call_id: str) -> None:
        self.a = a
        calls = a.calls
        self.media, self.rtp = calls.media_for(a.app, call_id, [a])
        self.media.connected = True  # keys only: no playlist, no recorder on this leg
        self.media.input = None
        self.media.output = None
        self.media.set_media_flag("receiving", True)
        self.active = False

    def offer(self) -> bytes:
        negotiated = self.a.negotiated
        assert negotiated is not None
        te = negotiated.telephone_event
        offer = make_offer(
            address=self.a.calls.host,
            port=self.rtp.local_port,
            session_id=self.a.calls.session_id(self.a.call_id + "-b"),
            codecs=(negotiated.codec,),
            telephone_event_pt=te.payload_type if te is not None else None,
        )
        return bytes(offer)

    def answer(self, body: bytes) -> bool:
        """The callee's SDP answer: configure its stream and start relaying; usable?"""
        if not self.reanswer(body):
            return False
        a_rtp = self.a.rtp
        self.rtp.forward = a_rtp.send_relayed
        a_rtp.forward = self.rtp.send_relayed
        self.rtp.relaying = a_rtp.relaying = True
        self.rtp.start()
        self.active = True
        return True

    def reanswer(self, body: bytes) -> bool:
        """A new SDP from the callee in the dialog: its stream moves, relaying goes on."""
        calls = self.a.calls
        try:
            negotiated = answer_offer(parse_sdp(body), address=calls.host, port=self.rtp.local_port)
            self.rtp.configure(
                negotiated.remote_address,
                negotiated.codec,
                negotiated.telephone_event,
                negotiated.direction,
                [c.payload_type for c in negotiated.codecs],
            )
        except (ParseError, OfferAnswerError, ValueError) as exc:
            calls.log("sip", "warn", call=self.a.call_id, msg=f"media relay: callee SDP: {exc}")
            return False
        return True

    def close(self) -> None:
        a_rtp = self.a.rtp
        if self.active:
            a_rtp.forward = None
            a_rtp.relaying = False
            self.active = False
        self.rtp.close()
        self.media.close()


class OtherLeg:
    """The B leg: an outgoing INVITE and its dialog, owned by the A leg's call."""

    def __init__(
        self, a: SipCall, call_id: str, to: str, ruri: str, relayed: bool, invite: OutgoingInvite
    ) -> None:
        self.a = a
        self.invite = invite
        self.media_relay: MediaRelay | None = None
        """Set when the legs' RTP goes through us (``$b2b_rtp_relay``)."""
        """The INVITE, re-sent on 401/407 with credentials and on 3xx (``invite_retry``)."""
        self.calls: SipCalls = a.calls
        self.call_id = call_id
        self.to = to
        self.ruri = ruri
        self.relayed = relayed
        self.state = "calling"  # calling -> early -> connected | ended
        self.early_sdp = b""
        self.events: list[dict[str, str]] = []
        """B2BEvents the A leg relayed to this leg (E-149)."""
        self.replies: list[int] = []
        """The status codes of the replies to the INVITE, in order (for operators and tests)."""

    # -- the core's events for this leg -------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, CallProgress):
            self._progress(event.response)
        elif isinstance(event, CallAnswered):
            self._answered(event.response)
        elif isinstance(event, CallFailed):
            self._failed(event.response)
        elif isinstance(event, InDialogRequest):
            self._request(event)
        elif isinstance(event, ResponseToRequest | RequestFailed):
            response = event.response if isinstance(event, ResponseToRequest) else None
            self.calls.relay_answer(self.call_id, event.request, response)

    def _other_reply(self, response: Response | None, code: int, reason: str) -> None:
        self.replies.append(code)
        hdrs = _header_text(response) if response is not None else ""
        self.a.b2b_event("B2BOtherReply", {"code": str(code), "reason": reason, "hdrs": hdrs})

    def _progress(self, response: Response) -> None:
        if self.state not in ("calling", "early"):
            return
        if response.status > 100:
            self.state = "early"
        self._other_reply(response, response.status, response.reason)
        a = self.a
        if response.status <= 100:
            return
        relay = self.media_relay
        if relay is not None and response.body and not relay.active:
            relay.answer(response.body)
        if self.relayed and a.unanswered():
            a.pass_reply(
                response.status, response.reason, response.body, response.content_type,
                anchored=relay is not None,
            )  # fmt: skip
            return
        if relay is not None:
            return
        if response.body and 180 <= response.status <= 183:
            self.early_sdp = response.body
            if a.b2b_flags.get("early_media_relay") and a.dialog == "connected":
                a.media_to_other(self.early_sdp)

    def _answered(self, response: Response) -> None:
        if self.state not in ("calling", "early"):  # given up while the 2xx was on its way
            self._send_bye()
            return
        self.state = "connected"
        self._other_reply(response, response.status, response.reason)
        a = self.a
        body = response.body or self.early_sdp
        a.b2b_flags["relay_only"] = True
        relay = self.media_relay
        if relay is not None:
            if response.body and relay.active:  # the 2xx's answer replaces an early one
                relay.rtp.forward = None
                relay.active = False
            if not relay.active:
                relay.answer(body)
        late = self.awaiting_ack()
        answer_coming = False
        if a.unanswered():
            a.pass_reply(
                response.status, response.reason, body, response.content_type,
                anchored=relay is not None,
            )  # fmt: skip
            # late offer: the caller's ACK brings the answer for our ACK (SipCall.ack)
            answer_coming = a.dialog == "connected" and relay is None
        elif a.dialog == "connected" and relay is None:
            # late offer: the caller's 200 to this re-INVITE brings the answer (SipCall.answered)
            answer_coming = a.media_to_other(body, late_offer=late)
        if late and not answer_coming:
            self.send_ack(b"")  # nowhere to get an answer from: ACK bare

    def awaiting_ack(self) -> bool:
        """Late offer (our INVITE had no SDP): the callee's 2xx offered, its ACK waits for the answer."""
        return bool(self.calls.core.awaits_ack(self.call_id))

    def send_ack(self, body: bytes) -> None:
        """The ACK for the callee's 2xx, with the caller's answer to its offer (late offer)."""
        ctype = "application/sdp" if body else None
        try:
            self.calls.run(
                lambda now: self.calls.core.ack(self.call_id, now=now, body=body, content_type=ctype)
            )
        except UserAgentError as exc:
            self.calls.log("sip", "debug", call=self.call_id, msg=f"other leg ACK: {exc}")

    def _failed(self, response: Response | None) -> None:
        if self.invite.retry(response):
            try:
                self.invite.send(self.calls.run, self.calls.core)
            except UserAgentError as exc:
                self.calls.log("sip", "warn", call=self.call_id, msg=f"other leg: {exc}")
            else:
                self.state = "calling"
                return
        self.state = "ended"
        self.calls.legs.pop(self.call_id, None)
        self.close_media()
        a = self.a
        if a.other is self:
            a.other = None
        code, reason = (408, "Request Timeout") if response is None else (response.status, response.reason)
        self._other_reply(response, code, reason)
        if self.relayed and a.unanswered():
            a.pass_reply(code, reason, b"", "")

    def _request(self, event: InDialogRequest) -> None:
        request = event.request
        if request.method == "BYE":
            self._reply(event, 200, "OK")
            self.state = "ended"
            self.calls.legs.pop(self.call_id, None)
            self.close_media()
            if self.a.other is self:
                self.a.other = None
                self.a.other_bye(request)
            return
        relay = self.media_relay
        if relay is not None and request.method in ("INVITE", "UPDATE"):
            # anchored media: the callee's new SDP is ours to take; the caller keeps talking to us
            if request.body and relay.reanswer(request.body):
                self._reply(event, 200, "OK", relay.offer())
            else:
                self._reply(event, 488 if request.body else 200, None, b"" if request.body else relay.offer())
            return
        if self.a.dialog == "connected" and self.calls.relay(self.a.call_id, self.call_id, event):
            return
        self._reply(event, 200 if request.method in ("INFO", "OPTIONS") else 488, None)

    # -- asked by the A leg -------------------------------------------------------------------
    def terminate(self) -> None:
        """``B2B.terminateOtherLeg``, the caller's BYE/CANCEL, the session's end: BYE or CANCEL."""
        state, self.state = self.state, "ended"
        self.calls.legs.pop(self.call_id, None)
        self.close_media()
        try:
            if state == "connected":
                self.calls.run(lambda now: self.calls.core.bye(self.call_id, now=now))
            elif state in ("calling", "early"):
                self.calls.run(lambda now: self.calls.core.cancel(self.call_id, now=now))
        except UserAgentError as exc:
            self.calls.log("sip", "debug", call=self.call_id, msg=f"other leg: {exc}")

    def close_media(self) -> None:
        """Anchored media ends with the leg; the caller's stream is ours again."""
        relay, self.media_relay = self.media_relay, None
        if relay is not None:
            relay.close()

    def _send_bye(self) -> None:
        with contextlib.suppress(UserAgentError):
            self.calls.run(lambda now: self.calls.core.bye(self.call_id, now=now))

    def _reply(
        self, event: InDialogRequest, status: int, reason: str | None, body: bytes = b""
    ) -> None:
        ctype = "application/sdp" if body else None
        with contextlib.suppress(UserAgentError):
            self.calls.run(
                lambda now: self.calls.core.reply_request(
                    self.call_id, event.transaction, status, reason, now=now, body=body,
                    content_type=ctype,
                )
            )  # fmt: skip

    def __repr__(self) -> str:
        return f"<OtherLeg {self.ruri} {self.state}>"


def connect_callee(
    a: SipCall, to: str, ruri: str, relayed: bool, settings: Mapping[str, str], headers: str
) -> OtherLeg:
    """Send the B leg's INVITE (A-core-53): To ``to``, R-URI ``ruri``, the header block, the caller's body
    (for an outgoing A leg: the called party's SDP answer).

    From is ``$b2b_local_party`` (else ``<$b2b_local_uri>``, else the
    caller's From), the Call-ID ``$b2b_callid`` or a fresh one; with
    ``$b2b_auth_user`` and ``$b2b_auth_pwd`` a digest challenge is answered.  Raises
    :class:`UserAgentError` when the INVITE cannot be built (bad URI or header).
    """
    from dsm.runtime.sip.sipcall import header_lines

    calls = a.calls
    local_uri = settings.get("b2b_local_uri", "")
    from_ = (
        settings.get("b2b_local_party", "")
        or (f"<{local_uri}>" if local_uri else "")
        or a.invite.headers.get("From")
        or ""
    )
    call_id = settings.get("b2b_callid", "") or f"{calls.rng.getrandbits(64):016x}@{calls.host}"
    body = a.peer_body
    content_type = (a.peer_content_type or None) if body else None
    relay: MediaRelay | None = None
    if settings.get("b2b_rtp_relay") == "true" and a.negotiated is not None:
        try:
            relay = MediaRelay(a, call_id)
        except OSError as exc:
            calls.log("sip", "warn", call=a.call_id, msg=f"media relay: {exc}; media end to end")
        else:
            body, content_type = relay.offer(), "application/sdp"
    invite = OutgoingInvite(
        ruri=ruri,
        from_=from_,
        to=to or None,
        body=body,
        content_type=content_type,
        headers=header_lines(headers),
        call_id=call_id,
        auth_user=settings.get("b2b_auth_user", ""),
        auth_pwd=settings.get("b2b_auth_pwd", ""),
        rng=calls.rng,
        ack_later=not body,  # late offer: the caller answers the callee's offer
    )
    try:
        invite.send(calls.run, calls.core)
    except UserAgentError:
        if relay is not None:
            relay.close()
        raise
    leg = OtherLeg(a, call_id, to, ruri, relayed, invite)
    leg.media_relay = relay
    calls.legs[call_id] = leg
    return leg


def other_bye_default(a: SipCall) -> Callable[[dict[str, str] | None], None]:
    """What follows ``B2BOtherBye`` unless ``#processed``: the BYE goes on to the caller, the session stops."""

    def default(result: dict[str, str] | None) -> None:
        if processed(result):
            return
        a.end_reason = a.end_reason or "callee BYE"
        a.bye()
        if a.session is not None:
            a.session.stop()

    return default
