"""The real call: a SIP dialog behind the :class:`~dsm.runtime.call.Call` interface.

:class:`SipCall` is to the SIP user agent what the harness's ``SimCall`` is to
the simulation: the same selects, the same ``reply``/``dialog`` contract that
:func:`dsm.runtime.incoming.answer_incoming` relies on, and the same media
object (:class:`~dsm.runtime.media.call_media.CallMedia`), here driven by the
call's :class:`~dsm.runtime.sip.rtp_session.RtpSession` instead of a virtual
clock.  A script cannot tell the two apart.

:class:`SipCalls` is the transaction user of the SIP core: it receives the
core's events, starts a session for every new INVITE (application chosen by
the server, AS-1; an unknown one is refused with ``500 Server Internal
Error``), and routes the rest to their call:

* BYE and CANCEL give ``Hangup`` with ``headers`` (E-151); the session is not
  stopped, the script calls ``stop``;
* no ACK for our 2xx gives ``Hangup`` with ``reason=onNoAck``, then the
  host's default: BYE and stop; until the ACK (or the caller's own RTP)
  arrives no RTP is sent after our 2xx, so an INVITE naming someone else's
  address cannot aim a stream at it (early media after a 183 flows while
  the INVITE is pending);
* INFO ``application/dtmf-relay`` is answered 200 and gives ``Key``; other
  in-dialog requests are answered 200 (a re-INVITE or UPDATE with an offer
  gets a fresh SDP answer and moves the RTP stream); with
  ``$enable_request_events == true`` the script sees ``SipRequest`` first
  and ``#processed=true`` leaves the request unanswered by the host (E-157);
* the answers to an INVITE we sent (``dlg.dialout``) go to the outgoing call
  (:mod:`dsm.runtime.sip.outgoing`); a 2xx for a dial-out that already
  ended is ended with BYE.

The SDP offer of the INVITE is negotiated before the session starts: an offer
without a common codec is refused with ``488`` and no session is created.
B2B calls (``B2B.connectCallee`` …) make an :class:`~dsm.runtime.sip.b2b.OtherLeg`
through the same core; see :mod:`dsm.runtime.sip.b2b`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from mypy_extensions import mypyc_attr

from dsm.runtime.call import Call, DialogError, MediaDelegation
from dsm.runtime.events import regardless, unless_processed
from dsm.runtime.incoming import InviteRequest, SipReplyObject, answer_incoming, header_block
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.dtmf import dtmf_relay_key
from dsm.runtime.media.prompts import PromptLibrary
from dsm.runtime.monitor import CallRefused
from dsm.runtime.sip.b2b import (
    OtherLeg,
    RelayedRequest,
    connect_callee,
    initial_header_block,
    other_bye_default,
    relayed_headers,
)
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.limits import SipCounters, SipLimits
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.rtp_latch import RtpLatch
from dsm.runtime.sip.rtp_session import (
    DEFAULT_RTP_TIMEOUT,
    RtpPortPool,
    RtpSession,
    SessionMediaEvent,
)
from dsm.runtime.sip.sdp import (
    Negotiated,
    OfferAnswerError,
    SessionDescription,
    answer_offer,
    make_offer,
    parse_sdp,
)
from dsm.runtime.sip.session_timer import Refusal, SessionTimer, TimerConfig
from dsm.runtime.sip.transport import SipTransport
from dsm.runtime.sip.uri import SipUri
from dsm.runtime.sip.useragent import (
    AckReceived,
    AckTimeout,
    CallAnswered,
    CallCancelled,
    CallEnded,
    CallFailed,
    CallProgress,
    Dropped,
    Event,
    InDialogRequest,
    NewCall,
    Outputs,
    RequestFailed,
    ResponseToRequest,
    UserAgentError,
)

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = ["SipCall", "SipCalls"]

Log = Callable[..., None]


def _headers_of(request: Request | Response) -> dict[str, str]:
    """First value of every header, in order (what ``InviteRequest.headers`` holds)."""
    out: dict[str, str] = {}
    for name, value in request.headers:
        out.setdefault(name, value)
    return out


def _is_sdp(request: Request | Response) -> bool:
    return bool(request.body) and request.content_type.lower().startswith("application/sdp")


@mypyc_attr(native_class=False, allow_interpreted_subclasses=True)  # compiled: a Python class
class SipCall(MediaDelegation, Call):
    """One incoming SIP call and its session; see the module docstring."""

    def __init__(
        self,
        calls: SipCalls,
        new: NewCall,
        media: CallMedia,
        rtp: RtpSession,
        negotiated: Negotiated | None,
    ) -> None:
        self.calls = calls
        self.call_id = new.call_id
        self.invite = new.request
        self.media = media
        self.rtp = rtp
        self.negotiated = negotiated
        self.local_sdp: SessionDescription | None = negotiated.answer if negotiated else None
        self.session: Session | None = None
        self.media_holder: list[SipCall] | None = None
        """The list through which this call's RTP session reaches it (``media_for``): emptied at the end."""
        self.dialog = "trying"  # trying -> (proceeding) -> early -> connected -> disconnected
        self.b2b_capable = True
        self.other: OtherLeg | None = None
        """The B leg of a B2B call (A-core-53), while there is one."""
        self.b2b_flags: dict[str, bool] = {}
        self.b2b_headers = initial_header_block(new.request)
        self.own_media = True
        """Whether the caller's media comes to us; ``False`` once it goes end to end to the B leg."""
        self.app = ""
        """The application the call runs (its prompts serve the B leg's media, if anchored)."""
        self.peer_body: bytes = new.request.body
        """The body the B leg's INVITE carries (A-core-53): the INVITE's, or the callee's SDP answer."""
        self.peer_content_type: str = new.request.headers.get("Content-Type") or ""
        """The Content-Type of :attr:`peer_body`."""
        self.recent_number: int | None = None
        """Its place in the order of :meth:`SipCalls.remember` (``None``: never among the recent calls)."""
        self._offer_cseq: int | None = None
        """The CSeq of our re-INVITE carrying an offer of ours (``B2B.sendReinvite(true)``)."""
        self._late_offer_cseq: int | None = None
        """The CSeq of our re-INVITE carrying the callee's late offer; its 2xx answers for the B leg's ACK."""
        self._sdp_version = 0
        self.timer: SessionTimer | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self.dialog_was_confirmed = False
        """Whether the ACK for our 2xx arrived (the peer is where its INVITE says)."""
        self._pending_bye: InDialogRequest | None = None
        """A BYE the script is looking at (SipRequest), not answered yet."""
        self.started_at = calls.now()
        self.end_reason = ""
        """Why the call ended, for the ``event=call_end`` log line (first cause wins)."""
        invite = new.request
        ruri = invite.request_uri
        user = (ruri.user or "") if isinstance(ruri, SipUri) else ""
        domain = ruri.host if isinstance(ruri, SipUri) else ""
        from_ = invite.from_
        self._selects = {
            "user": user,
            "domain": domain,
            "remote_tag": from_.tag or "",
            "callid": invite.call_id,
            "local_uri": invite.uri,
            "local_party": invite.headers.get("To") or "",
            "remote_uri": str(from_.uri),
            "remote_party": invite.headers.get("From") or "",
        }

    # -- SIP side ------------------------------------------------------------------------
    def reply(
        self,
        code: int,
        reason: str,
        request: str = "INVITE",
        headers: Mapping[str, str] | None = None,
        body: str = "",
    ) -> None:
        """The host's own answer to the INVITE; 2xx and 183 carry the SDP answer."""
        if request != "INVITE":
            raise UserAgentError("only the INVITE is answered through reply(); see SipCalls")
        if code == 100:
            return  # the core sends its own 100 Trying if the answer is slow
        other = self.other
        if other is not None and other.relayed and self.unanswered():
            return  # relayed INVITE (A-core-53): the callee's replies answer the caller
        data = body.encode("utf-8") if body else b""
        with_sdp = not data and ((200 <= code < 300) or code == 183)
        try:
            self._answer(code, reason, list((headers or {}).items()), data, with_sdp)
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"reply {code} not sent: {exc}")

    def _answer(
        self, code: int, reason: str, extra: list[tuple[str, str]], data: bytes, with_sdp: bool
    ) -> None:
        """Send a reply to the INVITE and move dialog and media as the reply says."""
        if with_sdp and self.local_sdp is not None:
            data = str(self.local_sdp).encode("utf-8")
        if 200 <= code < 300:
            extra = extra + self.timer_headers()
        self.calls.run_at(
            self.calls.core.reply, self.call_id, code, reason or None, body=data, headers=extra
        )
        if 200 <= code < 300:
            self.dialog = "connected"
            self.start_session_timer()
            if not self.dialog_was_confirmed:
                # No reflection: the SDP's address gets our stream only once the ACK (or the
                # peer's own RTP) shows that whoever sent the INVITE wants it there.
                self.rtp.hold_until_confirmed()
        elif code >= 300:
            self.dialog = "disconnected"
            self.rtp.close()
        elif code > 100:
            self.dialog = "early"
        if with_sdp and code > 100 and code < 300 and self.negotiated is not None:
            self.rtp.start()

    # -- direct dialog control (mod_dlg) ---------------------------------------------------
    def dialog_reply(self, code: int, reason: str, headers: str = "", sdp: bool = False) -> None:
        """``dlg.reply`` / ``dlg.acceptInvite``: answer the INVITE from the script (M-dlg-1, 3).

        A 100 is sent too (with the script's reason) and, as any reply of the
        script's, moves the dialog on, so the host sends no 200 of its own (E-151).
        """
        if code == 100:
            try:
                self.calls.run_at(
                    self.calls.core.reply,
                    self.call_id,
                    100,
                    reason or None,
                    headers=header_lines(headers),
                )
            except UserAgentError as exc:
                raise DialogError(str(exc), 500, "could not send response") from None
            if self.dialog == "trying":
                self.dialog = "proceeding"
            return
        if sdp and self.local_sdp is None:
            raise DialogError("no SDP answer for this INVITE", 488, "Not Acceptable Here")
        try:
            self._answer(code, reason, header_lines(headers), b"", sdp)
        except UserAgentError as exc:
            raise DialogError(str(exc), 500, "could not send response") from None

    def reply_request(self, request: Any, code: int, reason: str, headers: str = "") -> None:
        """``dlg.replyRequest``: answer the wrapped request of a SipRequest event (M-dlg-2)."""
        event = getattr(request, "handle", None)
        if not isinstance(event, InDialogRequest) or event.call_id != self.call_id:
            raise DialogError("not a request of this dialog")
        self._reply_request(event, code, reason or None, extra=header_lines(headers), strict=True)
        if event is self._pending_bye and code >= 200:
            self._pending_bye = None
            if code < 300:  # the script accepted the BYE itself: the dialog is over
                self.dialog = "disconnected"
                self.stop_session_timer()
                self.rtp.close()

    def send_request(self, method: str, headers: str = "", content_type: str = "", body: str = "") -> None:
        """``dlg.bye`` / ``dlg.info`` / ``dlg.refer``: a request in the dialog (M-dlg-4, 11, 12)."""
        extra = header_lines(headers)
        method = method.upper()
        try:
            if method == "BYE":
                if self.dialog in ("trying", "proceeding", "early"):
                    raise UserAgentError("the INVITE is not answered yet")
                self.calls.run_at(self.calls.core.bye, self.call_id, headers=extra)
                self.dialog = "disconnected"
                self.stop_session_timer()
                self.rtp.close()
                return
            data = body.encode("utf-8")
            self.calls.run_at(
                self.calls.core.send_request,
                self.call_id,
                method,
                body=data,
                content_type=content_type or None,
                headers=extra,
            )
        except UserAgentError as exc:
            raise DialogError(str(exc)) from None

    # -- Call interface: selects and media ----------------------------------------------
    def select(self, name: str) -> str:
        if name == "local_tag":
            return self.local_tag
        return self._selects.get(name, "")

    # -- dialog end ----------------------------------------------------------------------
    def bye(self) -> None:
        """``stop(true)``: BYE when answered, ``487`` while the INVITE is unanswered."""
        state, self.dialog = self.dialog, "disconnected"
        self.stop_session_timer()
        self.rtp.close()
        try:
            if state == "connected":
                self.calls.run_at(self.calls.core.bye, self.call_id)
            elif state in ("trying", "proceeding", "early"):
                self.calls.run_at(self.calls.core.reply, self.call_id, 487, "Request Terminated")
        except UserAgentError as exc:
            self.calls.log("sip", "debug", call=self.call_id, msg=f"bye: {exc}")

    def on_session_end(self) -> None:
        self._log_end()
        self.b2b_terminate_other_leg()
        self.stop_session_timer()
        if self._pending_bye is not None:  # the session ended before its SipRequest ran
            bye, self._pending_bye = self._pending_bye, None
            self._reply_request(bye, 200, "OK")
            self.dialog = "disconnected"
        self.media.close()
        if self.dialog != "disconnected":
            self.bye()
        self.rtp.close()
        self.calls.forget(self)
        if not self.calls.is_recent(self):  # else when it leaves the recent calls
            self.release()

    def release(self) -> None:
        """Cut the reference cycles through this ended call: session <-> call, RTP -> media callback -> call.

        The call, its session and its media are then freed as soon as nothing
        uses them, instead of waiting in the oldest generation for a full
        collection, which scans every live call at once.
        """
        self.session = None
        if self.media_holder is not None:
            self.media_holder.clear()

    def _log_end(self) -> None:
        """One ``event=call_end`` line to go with the ``event=call`` line of the start."""
        session = self.session
        state = session.state.name if session is not None and session.state is not None else "-"
        if self.end_reason:
            reason = self.end_reason
        elif self.dialog == "disconnected":
            reason = "script ended the dialog"
        else:
            reason = "script stopped"
        self.calls.log(
            "call_end", call=self.call_id, session=session.id if session is not None else "-",
            state=state, seconds=round(self.calls.now() - self.started_at, 3), reason=reason,
        )  # fmt: skip

    def outgoing_event(self, event: CallProgress | CallAnswered | CallFailed) -> None:
        """The answers to an INVITE we sent; only outgoing calls have one (``outgoing.py``)."""

    # -- B2B (A-core-53 … 62, dsm.runtime.sip.b2b) ------------------------------------------
    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None:
        """A-core-53: end another leg first, then INVITE the callee.

        A bad R-URI or header is reported as ``B2BOtherReply`` ``400`` with
        the reason, as a callee that could not be reached would be.  In
        relayed mode an unanswered caller is left to the callee's replies
        (the host sends no 200 of its own).
        """
        if self.other is not None:
            self.b2b_terminate_other_leg()
        try:
            leg = connect_callee(self, to, request_uri, relayed, settings, self.b2b_headers)
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"connectCallee: {exc}")
            self.b2b_event("B2BOtherReply", {"code": "400", "reason": str(exc), "hdrs": ""})
            return
        self.other = leg
        if relayed:
            self.b2b_flags["relay_only"] = True
            if self.dialog == "trying":
                self.dialog = "proceeding"  # the callee's replies answer the caller
        self.calls.log("b2b", call=self.call_id, other=leg.call_id, ruri=request_uri, relayed=relayed)

    @property
    def other_id(self) -> str:
        """The B leg's Call-ID for ``dlg.getOtherId`` (M-dlg-9); empty without one."""
        return self.other.call_id if self.other is not None else ""

    def b2b_terminate_other_leg(self) -> None:
        other, self.other = self.other, None
        if other is not None:
            other.terminate()

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        """A-core-55: a re-INVITE to the caller; with ``generate_sdp`` our own offer (media back to us)."""
        if self.dialog != "connected":
            self.calls.log("sip", "debug", call=self.call_id, msg="sendReinvite: not connected")
            return
        body = b""
        if generate_sdp:
            self._sdp_version += 1
            offer = make_offer(
                address=self.calls.host,
                port=self.rtp.local_port,
                session_id=self.calls.session_id(self.call_id),
                session_version=str(self._sdp_version),
            )
            self.local_sdp = offer
            body = bytes(offer)
        elif self.local_sdp is not None:
            body = str(self.local_sdp).encode("utf-8")
        extra = header_lines(extra_headers.replace("\\r\\n", "\r\n"))
        try:
            self.calls.run_at(
                self.calls.core.send_request, self.call_id, "INVITE", body=body, headers=extra
            )
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"sendReinvite: {exc}")
            return
        if generate_sdp:
            self._offer_cseq = self.calls.core.calls[self.call_id].dialog.local_seq

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        self.b2b_flags[flag] = on

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        """A-core-61: the B leg runs no script; the event is kept on the leg and logged."""
        if self.other is not None:
            self.other.events.append(dict(params))
            self.calls.log("b2b", "debug", call=self.call_id, msg=f"B2BEvent to the other leg: {sorted(params)}")

    def get_b2b_headers(self) -> str:
        return self.b2b_headers

    def set_b2b_headers(self, block: str) -> None:
        self.b2b_headers = block

    # -- B2B: what the other leg asks of this one ------------------------------------------
    def b2b_event(self, event_type: str, params: dict[str, str], **kw: Any) -> None:
        """An event from the other leg into this session's queue."""
        self._deliver(event_type, params, **kw)

    def unanswered(self) -> bool:
        return self.dialog in ("trying", "proceeding", "early")

    @property
    def rtp_relay_mode(self) -> str:
        """``dlg.getRtpRelayMode`` (M-dlg-10): ``RTP_Relay`` while the legs' media goes through us."""
        other = self.other
        return "RTP_Relay" if other is not None and other.media_relay is not None else "RTP_Direct"

    def pass_reply(
        self, status: int, reason: str, body: bytes, content_type: str, *, anchored: bool = False
    ) -> None:
        """Relayed-INVITE mode: the callee's reply goes to the caller's open INVITE.

        With anchored media a 18x/2xx carries our own SDP answer (the
        caller's stream stays with us) instead of the callee's.
        """
        if anchored and 100 < status < 300:
            try:
                self._answer(status, reason, [], b"", with_sdp=self.local_sdp is not None)
            except UserAgentError as exc:
                self.calls.log("sip", "warn", call=self.call_id, msg=f"relayed reply {status}: {exc}")
            return
        extra = self.timer_headers() if 200 <= status < 300 else []
        try:
            self.calls.run_at(
                self.calls.core.reply,
                self.call_id,
                status,
                reason or None,
                body=body,
                content_type=content_type or None,
                headers=extra,
            )
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"relayed reply {status}: {exc}")
            return
        if 200 <= status < 300:
            self.dialog = "connected"
            self.start_session_timer()
            self._media_away(body)
        elif status >= 300:
            self.dialog = "disconnected"
            self.rtp.close()
        else:
            self.dialog = "early"
            if body:
                self._media_away(body)

    def media_to_other(self, body: bytes, late_offer: bool = False) -> bool:
        """The callee's SDP reaches the answered caller in a re-INVITE; our stream pauses.

        ``late_offer``: the SDP is the callee's offer in its 2xx (our INVITE
        had none), so the caller's answer in its 200 goes on in the B leg's
        ACK.  Returns whether the re-INVITE went out.
        """
        if not body:
            return False
        try:
            self.calls.run_at(
                self.calls.core.send_request,
                self.call_id,
                "INVITE",
                body=body,
                content_type="application/sdp",
            )
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"re-INVITE with the callee's SDP: {exc}")
            return False
        self._offer_cseq = None
        if late_offer:
            self._late_offer_cseq = self.calls.core.calls[self.call_id].dialog.local_seq
        self._media_away(body)
        return True

    def _media_away(self, body: bytes) -> None:
        with contextlib.suppress(ParseError):
            self.local_sdp = parse_sdp(body)
        self.own_media = False
        self.rtp.pause()

    def other_bye(self, request: Request) -> None:
        """The callee hung up (its BYE answered): B2BOtherBye; unless ``#processed``, BYE to the caller."""
        session = self.session
        if session is None or session.ended:
            return
        session.deliver(
            "B2BOtherBye",
            {"hdrs": _header_text(request)},
            objects={"request": _invite_request(request)},
            on_done=other_bye_default(self),
        )

    # -- events from the dialog ---------------------------------------------------------------
    def deliver_media(self, events: Sequence[SessionMediaEvent]) -> None:
        session = self.session
        if session is None or session.ended:
            return
        for ev in events:
            session.deliver(ev.event_type, ev.params)

    def _deliver(self, event_type: str, params: dict[str, str] | None, **kw: Any) -> None:
        session = self.session
        if session is not None and not session.ended:
            session.deliver(event_type, params, **kw)

    def remote_hangup(self, request: Request) -> None:
        """BYE or CANCEL from the caller (already answered): ``Hangup`` (E-151)."""
        self.end_reason = self.end_reason or f"caller {request.method}"
        self.dialog = "disconnected"
        self.b2b_terminate_other_leg()
        self.stop_session_timer()
        self.media.media_disconnect()
        self.rtp.close()
        self._deliver("Hangup", {"headers": _header_text(request)})

    def cancelled(self, request: Request) -> None:
        """CANCEL before the answer (the core sent 200 and 487): SipRequest first, then Hangup."""
        self.dialog = "disconnected"
        self.rtp.close()
        if self._request_events():
            self._sip_request(request, None, partial(self.remote_hangup, request))
        else:
            self.remote_hangup(request)

    def _request_events(self) -> bool:
        session = self.session
        return (
            session is not None
            and not session.ended
            and session.vars.get("enable_request_events") == "true"
        )

    def _sip_request(
        self, request: Request, event: InDialogRequest | None, default: Callable[[], None]
    ) -> None:
        """The SipRequest event (E-151); ``default`` runs unless the script set ``#processed=true``."""
        session = self.session
        assert session is not None
        params = {
            "method": request.method,
            "r_uri": request.uri,
            "from": request.headers.get("From") or "",
            "to": request.headers.get("To") or "",
            "hdrs": _header_text(request),
            "cseq": str(request.cseq.number),
        }
        req = _invite_request(request, handle=event)
        session.deliver(
            "SipRequest", params, objects={"request": req}, on_done=unless_processed(default)
        )

    def no_ack(self) -> None:
        """No ACK for our 2xx: ``Hangup`` with ``reason=onNoAck``, then BYE and stop (E-151)."""
        self.end_reason = self.end_reason or "no ACK"
        self._event_with_default("Hangup", {"headers": "", "reason": "onNoAck"}, always=True)

    def ack(self, request: Request) -> None:
        """An ACK; it carries the SDP answer when the INVITE had no offer.  Our stream may start.

        When our 2xx carried the callee's late offer (relayed), the answer is
        the callee's: it goes on in the B leg's ACK.
        """
        self.dialog_was_confirmed = True
        other = self.other
        if other is not None and other.awaiting_ack():
            other.send_ack(request.body if _is_sdp(request) else b"")
        elif self.negotiated is None and _is_sdp(request):
            self._take_answer(request.body)
        self.rtp.confirm()

    def _take_answer(self, body: bytes) -> None:
        try:
            answer = parse_sdp(body)
            negotiated = answer_offer(answer, address=self.calls.host, port=self.rtp.local_port)
        except (ParseError, OfferAnswerError) as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"unusable SDP answer: {exc}")
            return
        self.negotiated = negotiated
        self.rtp.configure(
            negotiated.remote_address,
            negotiated.codec,
            negotiated.telephone_event,
            "sendrecv",
            [c.payload_type for c in negotiated.codecs],
        )
        if self.dialog == "connected" and self.own_media:
            self.rtp.start()

    def in_dialog(self, event: InDialogRequest) -> None:
        """BYE, re-INVITE, UPDATE, INFO, OPTIONS …: the script first if it asked (E-151 SipRequest).

        In relay-only mode with a connected B leg, requests other than BYE
        go on to the callee and its answer comes back (A-core-62).
        """
        if self._request_events():
            if event.request.method == "BYE":
                self._pending_bye = event
            self._sip_request(event.request, event, partial(self._relay_or_default, event))
        else:
            self._relay_or_default(event)

    def _relay_or_default(self, event: InDialogRequest) -> None:
        other = self.other
        if (
            other is not None
            and other.state == "connected"
            and self.b2b_flags.get("relay_only")
            and event.request.method not in ("BYE", "ACK")
            and not (other.media_relay is not None and event.request.method in ("INVITE", "UPDATE"))
            and self.calls.relay(other.call_id, self.call_id, event)
        ):
            return
        self._default_request(event)

    def _default_request(self, event: InDialogRequest) -> None:
        request = event.request
        method = request.method
        if method == "BYE":
            self._pending_bye = None
            self._reply_request(event, 200, "OK")
            self.remote_hangup(request)
            return
        body = b""
        extra: list[tuple[str, str]] = []
        if method in ("INVITE", "UPDATE") and self.timer is not None:
            refusal = self.timer.peer_refresh(request, self.calls.now())
            if refusal is not None:
                self._reply_request(event, refusal.status, refusal.reason, extra=refusal.headers)
                return
            extra = self.timer.response_headers()
            self._arm_timer()
        if method in ("INVITE", "UPDATE"):
            if _is_sdp(request):
                try:
                    body = self._renegotiate(request.body)
                except (ParseError, OfferAnswerError) as exc:
                    status = exc.status if isinstance(exc, OfferAnswerError) else 488
                    self._reply_request(event, status, None)
                    return
            elif self.local_sdp is not None:
                body = str(self.local_sdp).encode("utf-8")
        self._reply_request(event, 200, "OK", body, extra=extra)
        if method == "INFO" and request.content_type.lower().startswith("application/dtmf-relay"):
            key = dtmf_relay_key(request.body.decode("utf-8", "replace"))
            if key is not None and self.media.flags["dtmf_detection"]:
                self._deliver("Key", {"key": str(key[0]), "duration": key[1]})

    # -- session timer (K-24 … K-29) and answers to our requests ----------------------------
    def timer_headers(self) -> list[tuple[str, str]]:
        """Session-Expires (and Require) for our 2xx to the INVITE."""
        return self.timer.response_headers() if self.timer is not None else []

    def start_session_timer(self) -> None:
        if self.timer is not None:
            self.timer.start(self.calls.now())
            self._arm_timer()

    def stop_session_timer(self) -> None:
        if self.timer is not None:
            self.timer.stop()
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None

    def _arm_timer(self) -> None:
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        timer = self.timer
        if timer is not None and timer.deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer_handle = loop.call_at(timer.deadline, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer_handle = None
        timer = self.timer
        if timer is None or self.dialog != "connected":
            return
        what = timer.due(self.calls.now())
        if what == "refresh":
            self._send_refresh()
        elif what == "expired":
            self._session_timeout()
        self._arm_timer()

    def _send_refresh(self) -> None:
        timer = self.timer
        assert timer is not None
        method = timer.refresh_method()
        body = str(self.local_sdp).encode("utf-8") if method == "INVITE" and self.local_sdp else b""
        try:
            self.calls.run_at(
                self.calls.core.send_request,
                self.call_id,
                method,
                body=body,
                headers=timer.refresh_headers(),
            )
        except UserAgentError as exc:
            self.calls.log("sip", "warn", call=self.call_id, msg=f"session refresh not sent: {exc}")

    def _session_timeout(self) -> None:
        """No refresh in time: SessionTimeout; unless ``#processed``, BYE and stop (E-151)."""
        self.calls.log("sip", "info", call=self.call_id, msg="session timer expired")
        self.end_reason = self.end_reason or "session timer expired"
        self._event_with_default("SessionTimeout", {})

    def _event_with_default(
        self,
        event_type: str,
        params: dict[str, str],
        *,
        always: bool = False,
        objects: Mapping[str, Any] | None = None,
    ) -> None:
        """Deliver an event whose host default is BYE and stop: unless ``#processed`` (E-157), or ``always``."""
        session = self.session
        if session is None or session.ended:
            self.bye()
            return
        default = self._bye_and_stop
        on_done = regardless(default) if always else unless_processed(default)
        session.deliver(event_type, params, objects=objects, on_done=on_done)

    def _bye_and_stop(self) -> None:
        """The host's default of :meth:`_event_with_default`."""
        self.bye()
        if self.session is not None:
            self.session.stop()

    def answered(self, request: Request, response: Any) -> None:
        """A response (or a timeout, ``response`` None) to a request we sent in the dialog.

        With ``$enable_reply_events == true`` the script sees it first as
        SipReply and ``#processed=true`` keeps the host out (E-151, E-157).
        """
        if self._late_offer_cseq == request.cseq.number and request.method == "INVITE":
            self._late_answer(response)
        if response is None:
            self._answered(request, None)
        else:
            self.reply_event(response, partial(self._answered, request, response))

    def _late_answer(self, response: Response | None) -> None:
        """The caller's answer to the callee's late offer (our re-INVITE) goes in the B leg's ACK."""
        if response is not None and response.status < 200:
            return
        self._late_offer_cseq = None
        other = self.other
        if other is None or not other.awaiting_ack():
            return
        ok = response is not None and response.status < 300 and _is_sdp(response)
        if not ok:
            self.calls.log("sip", "warn", call=self.call_id, msg="caller gave no answer to the callee's offer")
        other.send_ack(response.body if ok and response is not None else b"")

    def reply_event(self, response: Any, default: Callable[[], None], new_status: str | None = None) -> None:
        """SipReply for ``response`` when the script asked for reply events, then ``default`` unless processed."""
        session = self.session
        if session is None or session.ended or session.vars.get("enable_reply_events") != "true":
            default()
            return
        old = _DIALOG_STATUS.get(self.dialog, "")
        params = {
            "code": str(response.status),
            "reason": response.reason,
            "hdrs": _header_text(response),
            "cseq": str(response.cseq.number),
            "dlg_status": new_status or old,
            "old_dlg_status": old,
        }
        session.deliver(
            "SipReply",
            params,
            objects={"reply": reply_object(response)},
            on_done=unless_processed(default),
        )

    def _answered(self, request: Request, response: Any) -> None:
        status = response.status if response is not None else 408
        if status < 200:
            return
        if (
            request.method == "INVITE"
            and self._offer_cseq == request.cseq.number
            and response is not None
            and 200 <= status < 300
            and _is_sdp(response)
        ):  # B2B.sendReinvite(true): the caller's media comes back to us
            self._offer_cseq = None
            self.negotiated = None
            self.own_media = True
            self._take_answer(response.body)
        timer = self.timer
        if timer is not None and _is_refresh(request):
            outcome = timer.refresh_answered(status, response, self.calls.now()) if response is not None else "gone"
            if outcome == "retry":
                self._send_refresh()
            self._arm_timer()
            if outcome != "gone":
                return
        if status in (408, 481) and self.dialog == "connected" and request.method != "BYE":
            # The peer is gone (E-151 RemoteDisappeared): unless #processed, BYE and stop.
            reason = response.reason if response is not None else "Request Timeout"
            hdrs = "".join(f"{n}: {v}\r\n" for n, v in response.headers) if response is not None else ""
            self._event_with_default(
                "RemoteDisappeared",
                {
                    "code": str(status),
                    "reason": reason,
                    "hdrs": hdrs,
                    "cseq": str(request.cseq.number),
                    "dlg_status": _DIALOG_STATUS.get(self.dialog, ""),
                },
                objects={"reply": reply_object(response)} if response is not None else None,
            )

    def _renegotiate(self, offer_body: bytes) -> bytes:
        """A new offer in the dialog (hold, resume, new address): answer it, move the stream."""
        offer = parse_sdp(offer_body)
        self._sdp_version += 1
        negotiated = answer_offer(
            offer,
            address=self.calls.host,
            port=self.rtp.local_port,
            session_id=self.calls.session_id(self.call_id),
            session_version=str(self._sdp_version),
        )
        self.negotiated = negotiated
        self.local_sdp = negotiated.answer
        self.own_media = True
        self.rtp.configure(
            negotiated.remote_address,
            negotiated.codec,
            negotiated.telephone_event,
            negotiated.direction,
            [c.payload_type for c in negotiated.codecs],
        )
        if self.dialog == "connected":
            self.rtp.start()
        return str(negotiated.answer).encode("utf-8")

    def _reply_request(
        self,
        event: InDialogRequest,
        status: int,
        reason: str | None,
        body: bytes = b"",
        *,
        extra: Sequence[tuple[str, str]] = (),
        strict: bool = False,
    ) -> None:
        try:
            self.calls.run_at(
                self.calls.core.reply_request,
                self.call_id,
                event.transaction,
                status,
                reason,
                body=body,
                headers=extra,
            )
        except UserAgentError as exc:
            if strict:
                raise DialogError(str(exc), 500, "could not send response") from None
            self.calls.log("sip", "debug", call=self.call_id, msg=f"{event.request.method}: {exc}")


def _is_refresh(request: Request) -> bool:
    """Our session refreshes are the only requests we send with Session-Expires."""
    return request.method in ("INVITE", "UPDATE") and "Session-Expires" in request.headers


_DIALOG_STATUS = {"trying": "Trying", "proceeding": "Proceeding", "early": "Early", "connected": "Connected", "disconnected": "Disconnected"}


def header_lines(block: str) -> list[tuple[str, str]]:
    """A ``Name: value CRLF`` block (mod_dlg's converted headers) as header pairs."""
    out: list[tuple[str, str]] = []
    for line in block.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            out.append((name.strip(), value.strip()))
    return out


def _header_text(message: Request | Response) -> str:
    return "".join([f"{name}: {value}\r\n" for name, value in message.headers])


def reply_object(response: Response) -> SipReplyObject:
    """The ``reply`` object of SipReply and RemoteDisappeared (E-20, E-151)."""
    return SipReplyObject(
        response.status,
        response.reason,
        _header_text(response),
        response.body.decode("utf-8", "replace"),
        response.cseq.number,
        _headers_of(response),
    )


def _invite_request(
    request: Request, handle: InDialogRequest | None = None, headers: dict[str, str] | None = None
) -> InviteRequest:
    """``headers``: ``_headers_of(request)`` when the caller has it already (a new call)."""
    return InviteRequest(
        request.method,
        request.uri,
        request.headers.get("From") or "",
        request.headers.get("To") or "",
        request.call_id,
        _header_text(request),
        request.body.decode("utf-8", "replace"),
        request.cseq.number,
        headers if headers is not None else _headers_of(request),
        wrapped=handle is not None,
        handle=handle,
    )


class SipCalls:
    """The transaction user of the SIP core: sessions for new calls, events to their calls.

    ``choose_app(request)`` gives the application name for a new INVITE
    (AS-1; ``""`` refuses); ``prompts_for(app)`` the prompt library of that
    application.  ``log(event, level, **fields)`` is the server's structured log.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        host: str,
        choose_app: Callable[[Request], str],
        prompts_for: Callable[[str], PromptLibrary],
        rtp_ports: RtpPortPool,
        log: Log,
        rng: random.Random | None = None,
        keep_recent: int = 100,
        rtp_timeout: float = DEFAULT_RTP_TIMEOUT,
        session_timer: TimerConfig | None = None,
        limits: SipLimits | None = None,
        counters: SipCounters | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits if limits is not None else SipLimits()
        self.counters = counters if counters is not None else SipCounters()
        self.session_timer = session_timer
        self.rtp_timeout = rtp_timeout
        self.host = host
        self.choose_app = choose_app
        self.prompts_for = prompts_for
        self.rtp_ports = rtp_ports
        self.log = log
        self.rng = rng or random.Random()
        self.transport: SipTransport | None = None
        self.calls: dict[str, SipCall] = {}
        self.legs: dict[str, OtherLeg] = {}
        """The B legs of B2B calls, by their Call-ID."""
        self.relays: dict[tuple[str, int], RelayedRequest] = {}
        """Requests relayed from one leg to the other, by (Call-ID, CSeq) of the relayed copy."""
        self.recent: deque[SipCall] = deque(maxlen=keep_recent)
        """The last calls started (ended ones included), newest last: for operators and tests."""
        self._remembered = 0
        """Calls put among :attr:`recent` so far (see :meth:`is_recent`)."""
        self.refused = 0
        self.subscriptions: Any = None
        """The host's :class:`~dsm.runtime.sip.subscriber.SipSubscriptions`, given the answers to its SUBSCRIBEs."""

    # -- plumbing for the calls ------------------------------------------------------------
    @property
    def core(self) -> Any:
        assert self.transport is not None, "SIP transport not attached"
        return self.transport.core

    def run(self, step: Callable[[float], Outputs]) -> None:
        assert self.transport is not None, "SIP transport not attached"
        self.transport.run(step)

    def run_at(self, step: Callable[..., Outputs], *args: Any, **kwargs: Any) -> None:
        """``step(*args, now=…, **kwargs)``, a core method, run as :meth:`run` runs one.

        What a call's methods use instead of a lambda: compiled, they may not
        hold nested functions (``SipCall`` stays a Python class).
        """
        assert self.transport is not None, "SIP transport not attached"
        transport = self.transport
        transport.dispatch(step(*args, now=transport.now(), **kwargs))

    def core_options(self) -> dict[str, Any]:
        """How the SIP core must be made for these calls (see :class:`UserAgentServer`)."""
        return {
            "bye_to_tu": True,
            "extensions": ("timer",) if self.session_timer else (),
            "max_message_bytes": self.limits.max_message_bytes,
            "max_headers": self.limits.max_headers,
            "counters": self.counters,
        }

    def now(self) -> float:
        assert self.transport is not None, "SIP transport not attached"
        return self.transport.now()

    def drain(self) -> None:
        self.engine.run_pending(limit=100_000)

    def remember(self, call: SipCall) -> None:
        """Keep ``call`` among the recent calls; the one that leaves them is released if it ended."""
        recent = self.recent
        if recent.maxlen is not None and len(recent) == recent.maxlen and recent:
            oldest = recent[0]
            ended = oldest.session is None or oldest.session.ended
            if ended and self.calls.get(oldest.call_id) is not oldest:
                oldest.release()  # ended and forgotten: nothing will ask for it again
        recent.append(call)
        call.recent_number = self._remembered
        self._remembered += 1

    def is_recent(self, call: SipCall) -> bool:
        """Whether ``call`` is still among :attr:`recent`, without a scan of them (per ended call)."""
        number = call.recent_number
        if number is None:
            return False
        kept = self.recent.maxlen
        return kept is None or self._remembered - number <= kept

    def forget(self, call: SipCall) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    def session_id(self, call_id: str) -> str:
        """The SDP ``o=`` session id of a call: stable for the call, unrelated to others."""
        return str(zlib.crc32(call_id.encode("utf-8", "surrogateescape")))

    def registered(self, app: str) -> bool:
        """AS-2: a name the engine serves (``dsm`` only with ``inbound_start_diag``)."""
        if app == "dsm":
            return bool(self.engine.inbound_start_diag)
        return bool(app) and app in self.engine.apps

    def close_all(self) -> None:
        for call in list(self.calls.values()):
            call.rtp.close()

    # -- the core's events --------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, NewCall):
            self._new_call(event)
            return
        leg = self.legs.get(getattr(event, "call_id", ""))
        if leg is not None:
            leg.on_event(event)
            return
        if isinstance(event, ResponseToRequest | RequestFailed) and self.relay_answer(
            event.call_id, event.request, event.response if isinstance(event, ResponseToRequest) else None
        ):
            return
        if isinstance(event, Dropped):
            self.log("sip", "debug", msg=f"dropped: {event.reason}", source=str(event.source))
            return
        if self.subscriptions is not None and self.subscriptions.on_event(event):
            return
        call = self.calls.get(getattr(event, "call_id", ""))
        if call is None:
            if isinstance(event, CallAnswered):  # a dial-out given up while its 2xx was on the way
                with contextlib.suppress(UserAgentError):
                    self.run(lambda now: self.core.bye(event.call_id, now=now))
            elif isinstance(event, InDialogRequest):  # no session behind the dialog any more
                with contextlib.suppress(UserAgentError):
                    self.run(
                        lambda now: self.core.reply_request(
                            event.call_id, event.transaction, 481, None, now=now
                        )
                    )
            return
        if isinstance(event, CallProgress | CallAnswered | CallFailed):
            call.outgoing_event(event)
            return
        if isinstance(event, CallCancelled):
            call.cancelled(event.request)
        elif isinstance(event, CallEnded):
            call.remote_hangup(event.request)
        elif isinstance(event, AckReceived):
            call.ack(event.request)
        elif isinstance(event, AckTimeout):
            call.no_ack()
        elif isinstance(event, InDialogRequest):
            call.in_dialog(event)
        elif isinstance(event, ResponseToRequest):
            call.answered(event.request, event.response)
        elif isinstance(event, RequestFailed):
            call.answered(event.request, None)

    # -- relaying requests between the legs of a B2B call (A-core-62) ----------------------------
    def relay(self, to_call: str, from_call: str, event: InDialogRequest) -> bool:
        """Send ``event``'s request on in the dialog ``to_call``; its answer goes back later."""
        request = event.request
        body = request.body
        ctype = (request.headers.get("Content-Type") or None) if body else None
        try:
            self.run(
                lambda now: self.core.send_request(
                    to_call, request.method, now=now, body=body, content_type=ctype,
                    headers=relayed_headers(request),
                )
            )
        except UserAgentError as exc:
            self.log("sip", "debug", call=from_call, msg=f"{request.method} not relayed: {exc}")
            return False
        self.relays[(to_call, self.core.calls[to_call].dialog.local_seq)] = RelayedRequest(from_call, event)
        return True

    def relay_answer(self, call_id: str, request: Request, response: Response | None) -> bool:
        """The answer to a relayed request goes back to where the request came from."""
        relayed = self.relays.get((call_id, request.cseq.number))
        if relayed is None:
            return False
        if response is not None and response.status < 200:
            return True
        del self.relays[(call_id, request.cseq.number)]
        status, reason = (408, "Request Timeout") if response is None else (response.status, response.reason)
        body = response.body if response is not None else b""
        ctype = response.content_type if response is not None and body else None
        origin = relayed.origin
        with contextlib.suppress(UserAgentError):
            self.run(
                lambda now: self.core.reply_request(
                    relayed.origin_call, origin.transaction, status, reason, now=now, body=body,
                    content_type=ctype, headers=relayed_headers(response) if response else (),
                )
            )  # fmt: skip
        return True

    def media_for(
        self, app: str, call_id: str, holder: Sequence[SipCall]
    ) -> tuple[CallMedia, RtpSession]:
        """The media side of a new call: its prompts, an RTP/RTCP port pair, the RTP session.

        ``holder`` gets the call once it exists; media events go to it.
        Raises :class:`OSError` when no port pair is free.
        """
        sock, rtcp = self.rtp_ports.bind_pair()

        def deliver(events: Sequence[SessionMediaEvent]) -> None:
            if holder:
                holder[0].deliver_media(events)

        def rtp_error(message: str) -> None:
            self.log("rtp", "debug", call=call_id, msg=message)

        media = CallMedia(self.prompts_for(app))
        rtp = RtpSession(
            asyncio.get_running_loop(),
            sock,
            media,
            deliver,
            on_error=rtp_error,
            rng=self.rng,
            rtp_timeout=self.rtp_timeout,
            rtcp_sock=rtcp,
            cname=f"dsm@{self.host}",
            latch=RtpLatch(strict=self.limits.rtp_strict, symmetric=self.limits.rtp_symmetric),
            counters=self.counters,
        )
        return media, rtp

    def _refuse(
        self,
        call_id: str,
        status: int,
        reason: str,
        why: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.refused += 1
        self.log("sip", "warn", call=call_id, status=status, msg=why)
        with contextlib.suppress(UserAgentError):
            self.run(lambda now: self.core.reply(call_id, status, reason, now=now, headers=headers))

    def _new_call(self, new: NewCall) -> None:
        request = new.request
        app = self.choose_app(request)
        if not self.registered(app):
            self._refuse(
                new.call_id, 500, "Server Internal Error", f"no application {app!r} (see --application)"
            )
            return
        timer: SessionTimer | None = None
        if self.session_timer is not None:
            negotiated_timer = SessionTimer.negotiate(self.session_timer, request)
            if isinstance(negotiated_timer, Refusal):
                self._refuse(
                    new.call_id,
                    negotiated_timer.status,
                    negotiated_timer.reason,
                    "session interval too small (RFC 4028)",
                    negotiated_timer.headers,
                )
                return
            timer = negotiated_timer
        holder: list[SipCall] = []
        try:
            media, rtp = self.media_for(app, new.call_id, holder)
        except OSError as exc:
            self._refuse(new.call_id, 500, "Server Internal Error", str(exc))
            return
        negotiated: Negotiated | None = None
        if _is_sdp(request):
            try:
                negotiated = answer_offer(
                    parse_sdp(request.body),
                    address=self.host,
                    port=rtp.local_port,
                    session_id=self.session_id(new.call_id),
                )
            except (ParseError, OfferAnswerError) as exc:
                rtp.close()
                status = exc.status if isinstance(exc, OfferAnswerError) else 400
                reason = exc.reason if isinstance(exc, OfferAnswerError) else "Bad SDP"
                self._refuse(new.call_id, status, reason, f"SDP offer: {exc}")
                return
            rtp.configure(
                negotiated.remote_address,
                negotiated.codec,
                negotiated.telephone_event,
                negotiated.direction,
                [c.payload_type for c in negotiated.codecs],
            )
        call = SipCall(self, new, media, rtp, negotiated)
        call.app = app
        call.timer = timer
        if negotiated is None:  # no offer in the INVITE: we offer in the 2xx, the ACK answers
            call.local_sdp = make_offer(address=self.host, port=rtp.local_port)
        holder.append(call)
        call.media_holder = holder
        self.calls[new.call_id] = call
        self.remember(call)
        headers = _headers_of(request)
        try:
            session = self.engine.start_call(app, call, headers=header_block(headers))
        except CallRefused as exc:  # E-9, AS-9: the DSM component's own refusal (488, 500)
            self.forget(call)
            rtp.close()
            self._refuse(new.call_id, exc.status, exc.reason, exc.why)
            return
        except Exception as exc:  # noqa: BLE001 - refuse this call, keep serving
            self.forget(call)
            rtp.close()
            self._refuse(new.call_id, 500, "Server Internal Error", f"session start: {exc}")
            return
        call.session = session
        self.log("call", call=new.call_id, app=app, session=session.id, source=f"{new.source[0]}:{new.source[1]}")
        self.drain()
        answer_incoming(self.engine, session, call, _invite_request(request, headers=headers), self.drain)
