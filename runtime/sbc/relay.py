"""The SBC relay: every incoming INVITE becomes a B2BUA call shaped by its call profile.

``dsm serve --sbc sbc.conf`` puts an :class:`SbcRelay` in front of the SIP
core's transaction user (:class:`~dsm.runtime.sip.sipcall.SipCalls`): new
INVITEs and every event of a relayed call's two dialogs come here, the rest
(subscriptions, ``dlg.dialout`` of system scripts) goes on to ``SipCalls``.

For one call (:class:`RelayedCall`):

1. ``select_profile`` names the profile, the store gives the call its own
   copy (a reload reaches the next call only); an unknown name is ``500``;
2. each ``call_control`` entry whose ``<entry>_module`` names a known
   factory gets a :class:`CallControl` for the A leg, ``init`` with the leg
   (:class:`~dsm.runtime.sbc.legs.SbcCallLeg`) and the entry's values; a
   failing init refuses the call with ``500``;
3. the hooks see the INVITE received and a copy (``on_initial_invite``);
   ``plan_leg`` then plans the B leg from the leg's profile (changes a hook
   made to either are honoured) and the *modified* INVITE;
4. a :class:`Refusal` is answered; a :class:`LegPlan` is sent: R-URI, From,
   To, Call-ID, headers and body as planned, to ``destination`` if set;
5. replies come back to the caller through ``translate_reply``,
   ``filter_headers`` and (with ``enable_rtp_relay``) our own SDP;
   ``CallFailed`` asks the A leg's hooks first (``on_b_leg_refused``);
6. BYE crosses both ways, CANCEL from the caller cancels the B leg,
   in-dialog requests cross both ways when ``message_allowed`` (else
   ``405``), their answers come back; re-INVITE SDP is rewritten too;
7. with ``call_timer`` the call ends (BYE both legs) after that many
   seconds of being connected.
8. the B leg's INVITE answers a 401/407 (``enable_auth``) and one 422
   itself (:mod:`.leg_auth`); an INVITE without SDP is a late offer whose
   answer comes in the caller's ACK (:mod:`.late_offer`); ``sbc.addCallee``
   builds a new B leg (:mod:`.callee`) or takes another call's leg
   (:mod:`.reconnect`).

Any exception in the handling of one call's event is logged and ends that
call only (:meth:`SbcRelay.on_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsm.runtime.errors import DSMException
from dsm.runtime.media.dtmf import KeyPress
from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.rfc4733 import TelephoneEventReceiver
from dsm.runtime.sbc import late_offer, reconnect
from dsm.runtime.sbc.bleg_timer import BLegTimer, bleg_timer_config, without_timer_headers
from dsm.runtime.sbc.callee import CalleeError, callee_plan
from dsm.runtime.sbc.leg import CONTINUE, CallControl, CallStatus, NoMediaError, StopReason
from dsm.runtime.sbc.leg_auth import BLegInvite, Credentials, LegAuthError, leg_credentials
from dsm.runtime.sbc.leg_media import LegMedia
from dsm.runtime.sbc.legs import SbcCallLeg
from dsm.runtime.sbc.patterns import PatternContext
from dsm.runtime.sbc.profile import (
    LegPlan,
    Refusal,
    call_control_entries,
    filter_headers,
    filter_sdp,
    message_allowed,
    parse_bool,
    plan_leg,
    select_profile,
    translate_reply,
)
from dsm.runtime.sbc.relay_media import RelaySide, RtpRelay, rewrite_sdp
from dsm.runtime.sbc.relay_store import ProfileStore
from dsm.runtime.sbc.relay_timer import TimerClock, aleg_timer_config
from dsm.runtime.sbc.simple_relay import SimpleRelay
from dsm.runtime.sip.b2b import relayed_headers
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.media_clock import MediaClock
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.session_timer import Refusal as TimerRefusal
from dsm.runtime.sip.session_timer import SessionTimer
from dsm.runtime.sip.uri import SipUri, parse_uri
from dsm.runtime.sip.useragent import (
    AckReceived,
    AckTimeout,
    CallAnswered,
    CallCancelled,
    CallEnded,
    CallFailed,
    CallProgress,
    Event,
    InDialogRequest,
    NewCall,
    RequestFailed,
    ResponseToRequest,
    UserAgentError,
)

if TYPE_CHECKING:
    from dsm.runtime.sip.sipcall import SipCalls

__all__ = ["SbcRelay", "RelayedCall", "CallControlFactories", "parse_destination"]

CallControlFactories = Mapping[str, Callable[[], CallControl]]


class CallControlError(RuntimeError):
    """A leg's call control could not be set up (unknown module, failing ``init``)."""


def parse_destination(text: str) -> tuple[tuple[str, int] | None, str]:
    """``host[:port][;transport=x]`` (``next_hop``) as ``((host, port), transport)``; empty: ``(None, "")``."""
    text = text.strip()
    if not text:
        return None, ""
    if text.startswith("sip:"):
        text = text[4:]
    hostport, _, params = text.partition(";")
    transport = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "transport":
            transport = value.strip().lower()
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, _, port_text = hostport.partition(":")
    try:
        port = int(port_text) if port_text else 5060
    except ValueError:
        raise ValueError(f"bad destination port in {text!r}") from None
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad destination {text!r}")
    return (host, port), transport


def next_hop_flags(profile: Any, destination: tuple[str, int] | None) -> tuple[bool, tuple[str, int] | None]:
    """Where the rest of a B leg's dialog goes once its first request went to ``destination``.

    With a ``next_hop`` every later request of the dialog goes there too,
    unless ``next_hop_1st_req=yes`` (then they follow the callee's Contact);
    ``next_hop_for_replies=yes`` sends our answers to the callee's requests
    there instead of by their Via.  Returns ``(route_hop, reply_hop)``.
    """
    if destination is None or not profile.next_hop.strip():
        return False, None
    replies = parse_bool(profile.raw.get("next_hop_for_replies", "")) is True
    return not profile.next_hop_1st_req, destination if replies else None


def _copy_request(request: Request) -> Request:
    return Request(
        headers=request.headers.copy(), body=request.body, method=request.method, uri=request.uri
    )


def _is_sdp(message: Request | Response) -> bool:
    return bool(message.body) and message.content_type.startswith("application/sdp")


@dataclass
class _Relayed:
    """A request of ``origin`` sent on in the other leg; its answer goes back to ``event``."""

    origin: SbcCallLeg
    event: InDialogRequest


class RelayedCall:
    """One relayed call: the caller's A leg, the callee's B leg, their call controls and media."""

    def __init__(self, relay: SbcRelay, new: NewCall, profile: Any) -> None:
        self.relay = relay
        sip = relay.sip
        self.sip = sip
        self.invite = new.request
        self.source = new.source
        invite = new.request
        ruri = invite.request_uri
        from_ = invite.from_
        a_tag = sip.core.calls[new.call_id].local_tag
        self.a = SbcCallLeg(
            self,
            call_id=new.call_id,
            is_a_leg=True,
            profile=profile,
            local_tag=a_tag,
            selects={
                "user": (ruri.user or "") if isinstance(ruri, SipUri) else "",
                "domain": ruri.host if isinstance(ruri, SipUri) else "",
                "remote_tag": from_.tag or "",
                "callid": invite.call_id,
                "local_uri": invite.uri,
                "local_party": invite.headers.get("To") or "",
                "remote_uri": str(from_.uri),
                "remote_party": invite.headers.get("From") or "",
            },
        )
        self.b: SbcCallLeg | None = None
        self.controls: dict[int, list[CallControl]] = {id(self.a): []}
        self.a_state = "incoming"  # incoming -> early -> connected -> ended
        self.b_state = "none"  # none -> calling -> early -> connected -> ended
        self.plan: LegPlan | None = None
        self.media: RtpRelay | None = None
        self.leg_medias: dict[int, LegMedia] = {}
        """Each leg's own playlist and detector (:mod:`.leg_media`), made on first use."""
        self.pending: dict[tuple[str, int], _Relayed] = {}
        self.last_sdp_to: dict[int, bytes] = {}
        """The SDP we last sent to each leg (what a hold re-INVITE starts from)."""
        self.timer: asyncio.TimerHandle | None = None
        self.session_timer: SessionTimer | None = None
        """RFC 4028 on the A leg (``enable_aleg_session_timer``), :mod:`.relay_timer`."""
        self.session_clock = TimerClock(self._session_timer_fired)
        self.refresh_cseq: int | None = None
        self.b_timer: BLegTimer | None = None
        """RFC 4028 on the B leg (``enable_session_timer``), :mod:`.bleg_timer`."""
        self.b_clock = TimerClock(self._b_timer_fired)
        self.b_refresh_cseq: int | None = None
        self.reconnect_cseq: int | None = None
        """CSeq of our re-INVITE to a reconnected leg (:mod:`.reconnect`)."""
        self.b_invite: BLegInvite | None = None
        """The B leg's INVITE, re-sent for a digest challenge or a 422 (:mod:`.leg_auth`)."""
        self.ended = False
        self.end_cause = ""
        self.started_at = sip.now()
        self.codes: list[int] = []
        """Status codes the caller got for its INVITE, in order (for operators and tests)."""

    @property
    def profile(self) -> Any:
        return self.a.profile

    # -- set-up ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Call control, hooks, plan; then refuse or send the B leg's INVITE."""
        relay = self.relay
        timer_config = aleg_timer_config(self.a.profile, relay.store.config.raw)
        if timer_config is not None:
            negotiated = SessionTimer.negotiate(timer_config, self.invite)
            if isinstance(negotiated, TimerRefusal):
                relay.refused += 1
                self._reply_a(negotiated.status, negotiated.reason, headers=list(negotiated.headers))
                self._finish(StopReason.OTHER, "session interval too small")
                return
            self.session_timer = negotiated
        self._init_call_control(self.a)
        if not self._set_aleg_credentials():
            return
        modified = _copy_request(self.invite)
        for cc in self.controls[id(self.a)]:
            self._hook(cc.on_initial_invite, self.invite, modified)
        if self.ended or self.b is not None:  # the script chose the callee itself (sbc.addCallee)
            return
        new_id = f"{self.sip.rng.getrandbits(64):016x}@{self.sip.host}"
        plan = plan_leg(
            self.a.profile,
            modified,
            self.source,
            (self.sip.host, self.sip.core.port),
            config=relay.store.config,
            new_call_id=new_id,
        )
        if isinstance(plan, Refusal):
            relay.refused += 1
            self.sip.log("sbc", "info", call=self.a.call_id, status=plan.code, msg=f"refused by profile {self.profile.name}")
            self._reply_a(plan.code, plan.reason, headers=list(plan.headers))
            self._finish(StopReason.OTHER, f"refused {plan.code}")
            return
        self.plan = plan
        self._send_b(plan)

    def _pattern_context(self) -> PatternContext:
        local = (self.sip.host, self.sip.core.port)
        return PatternContext(self.invite, self.source, local, self.relay.store.config.regex_maps)

    def _credentials(self, leg: str) -> Credentials | None | bool:
        """The leg's credentials (``enable_auth``/``enable_aleg_auth``); ``False``: refused 500."""
        try:
            return leg_credentials(self.profile, self._pattern_context(), leg)
        except LegAuthError as exc:
            self.sip.log("sbc", "warn", call=self.a.call_id, msg=str(exc))
            self.relay.refused += 1
            self._reply_a(500, "Server Internal Error")
            self._finish(StopReason.INTERNAL_ERROR, "authentication settings")
            return False

    def _set_aleg_credentials(self) -> bool:
        """Requests we send to the caller answer its challenges (``enable_aleg_auth``)."""
        credentials = self._credentials("a")
        if credentials is False:
            return False
        core_call = self.sip.core.calls.get(self.a.call_id)
        if isinstance(credentials, Credentials) and core_call is not None:
            core_call.credentials = credentials.pair()
        return True

    def _init_call_control(self, leg: SbcCallLeg) -> None:
        profile = leg.profile
        controls = self.controls.setdefault(id(leg), [])
        local = (self.sip.host, self.sip.core.port)
        entries = call_control_entries(profile, self.invite, self.source, local, config=self.relay.store.config)
        for entry, module, values in entries:
            factory = self.relay.call_control.get(module)
            if factory is None:
                raise CallControlError(f"call control {entry!r}: no module {module!r}")
            cc = factory()
            try:
                cc.init(leg, values)
            except Exception as exc:  # noqa: BLE001 - the leg's init fails, nothing else
                raise CallControlError(f"call control {entry!r} ({module}): {exc}") from None
            controls.append(cc)

    def _send_b(self, plan: LegPlan, local_tag: str | None = None) -> None:
        sip = self.sip
        call_id = plan.call_id
        if call_id in sip.core.calls:  # Call-ID kept ($ci) on a call to ourselves
            call_id = f"{sip.rng.getrandbits(64):016x}@{sip.host}"
        credentials = self._credentials("b")
        if credentials is False:
            return
        body = plan.body
        if plan.rtp_relay and body:
            try:
                self.media = self.relay.new_media(self)
            except OSError as exc:
                sip.log("sbc", "warn", call=self.a.call_id, msg=f"rtp relay: {exc}")
                self._reply_a(500, "Server Internal Error")
                self._finish(StopReason.INTERNAL_ERROR, "no RTP ports")
                return
            self.media.peer_sdp(self.media.a, self.invite.body)
            self.media.a.confirmed = False  # until the caller's ACK or its own RTP
            body = rewrite_sdp(body, sip.host, self.media.b.port)
        destination, transport = parse_destination(plan.destination)
        route_hop, reply_hop = next_hop_flags(self.profile, destination)
        if self._to_ourselves(plan.ruri, destination):
            sip.log("sbc", "warn", call=self.a.call_id, msg=f"loop: the B leg would go to ourselves ({plan.ruri})")
            if self.media is not None:
                self.media.close()
                self.media = None
            self.relay.refused += 1
            self._reply_a(482, "Loop Detected")
            self._finish(StopReason.OTHER, "loop detected")
            return
        b_tag = local_tag or f"{sip.rng.getrandbits(64):016x}"
        b = SbcCallLeg(
            self,
            call_id=call_id,
            is_a_leg=False,
            profile=self.a.profile,
            local_tag=b_tag,
            selects={
                "callid": call_id,
                "local_uri": plan.from_,
                "local_party": plan.from_,
                "remote_uri": plan.ruri,
                "remote_party": plan.to,
            },
        )
        self.b = b
        self.relay.legs[call_id] = (self, b)
        self._init_call_control(b)
        self.last_sdp_to[id(b)] = body
        headers = list(plan.headers)
        config = bleg_timer_config(self.profile, self.relay.store.config.raw)
        self.b_timer = BLegTimer(config) if config is not None else None
        if self.b_timer is not None:
            headers = self.b_timer.invite_headers(headers)
        self.b_invite = BLegInvite(
            ruri=plan.ruri, from_=plan.from_, to=plan.to or None, body=body,
            content_type=(plan.content_type or "application/sdp") if body else None,
            headers=headers, call_id=call_id, local_tag=b_tag,
            credentials=credentials if isinstance(credentials, Credentials) else None,
            timer=self.b_timer, rng=sip.rng,
        )  # fmt: skip
        try:
            self._invite_b(self.b_invite, destination, plan.contact, transport, route_hop, reply_hop)
        except UserAgentError as exc:
            sip.log("sbc", "warn", call=self.a.call_id, msg=f"B leg INVITE not sent: {exc}")
            self._reply_a(500, "Server Internal Error")
            self._finish(StopReason.INTERNAL_ERROR, str(exc))
            return
        self.b_state = "calling"
        b.status = CallStatus.NO_REPLY
        sip.log("sbc", call=self.a.call_id, other=call_id, profile=self.profile.name, ruri=plan.ruri)

    def _invite_b(
        self,
        invite: BLegInvite,
        destination: tuple[str, int] | None,
        contact: str,
        transport: str,
        route_hop: bool,
        reply_hop: tuple[str, int] | None,
    ) -> None:
        """Send (or re-send) the B leg's INVITE to ``destination``; may raise ``UserAgentError``."""
        sip = self.sip
        auth = (invite.auth_user, invite.auth_pwd) if invite.auth_user else None
        sip.run(
            lambda now: sip.core.invite(
                invite.ruri, from_uri=invite.from_, to=invite.to, now=now, destination=destination,
                body=invite.body, content_type=invite.content_type,
                headers=[*invite.headers, *invite.credentials], call_id=invite.call_id,
                local_tag=invite.local_tag, contact=contact or None, cseq=invite.cseq,
                ack_later=invite.ack_later, credentials=auth, transport=transport or None,
                route_hop=route_hop, reply_hop=reply_hop,
            )[1]
        )  # fmt: skip

    def _retry_b(self, b: SbcCallLeg, response: Response | None) -> bool:
        """A 401/407 or 422 to the B leg's INVITE that :class:`BLegInvite` answers: sent again."""
        invite, plan = self.b_invite, self.plan
        if invite is None or plan is None or self.a_state not in ("incoming", "early"):
            return False
        if self.b_state not in ("calling", "early") or not invite.retry(response):
            return False
        destination, transport = parse_destination(plan.destination)
        route_hop, reply_hop = next_hop_flags(self.profile, destination)
        try:
            self._invite_b(invite, destination, plan.contact, transport, route_hop, reply_hop)
        except UserAgentError as exc:
            self.sip.log("sbc", "warn", call=self.a.call_id, msg=f"B leg INVITE not re-sent: {exc}")
            return False
        self.b_state = "calling"
        return True

    def _to_ourselves(self, ruri: str, destination: tuple[str, int] | None) -> bool:
        """Whether the B leg's INVITE would come back to this server (its own address and port)."""
        if destination is None:
            try:
                uri = parse_uri(ruri)
            except ParseError:
                return False
            if not isinstance(uri, SipUri):
                return False
            destination = uri.address()
        host, port = destination
        ours = self.sip.host
        local = {ours, "localhost", "127.0.0.1", "::1"} if ours in ("127.0.0.1", "::1", "0.0.0.0") else {ours}
        return port == self.sip.core.port and host.strip("[]") in local

    # -- events ---------------------------------------------------------------------------------
    def on_event(self, leg: SbcCallLeg, event: Event) -> None:
        if leg is self.a:
            self._a_event(event)
        else:
            self._b_event(leg, event)

    def _a_event(self, event: Event) -> None:
        a = self.a
        if isinstance(event, CallCancelled):
            self.a_state = "ended"  # the core answered the CANCEL and the INVITE (487)
            self._cancel_b()
            self._finish(StopReason.CANCELED, "", event.request)
        elif isinstance(event, CallEnded):
            self.a_state = "ended"
            self._end_b()
            self._finish(StopReason.SIP_REQUEST, "", event.request)
        elif isinstance(event, AckReceived):
            if self.media is not None:
                self.media.a.confirmed = True  # the caller asked for the stream its SDP names
            late_offer.ack_callee(self, event.request)  # a late offer's answer goes on
        elif isinstance(event, AckTimeout):
            late_offer.ack_callee(self, None)
            self.stop_call("no ACK", StopReason.NO_ACK)
        elif isinstance(event, InDialogRequest):
            self._in_dialog(a, event)
        elif isinstance(event, ResponseToRequest):
            self._answer_back(a, event.request, event.response)
        elif isinstance(event, RequestFailed):
            self._answer_back(a, event.request, None)

    def _b_event(self, b: SbcCallLeg, event: Event) -> None:
        if isinstance(event, CallProgress):
            self._progress(b, event.response)
        elif isinstance(event, CallAnswered):
            self._answered(b, event.response)
        elif isinstance(event, CallFailed):
            self._failed(b, event.response)
        elif isinstance(event, InDialogRequest):
            self._in_dialog(b, event)
        elif isinstance(event, ResponseToRequest):
            self._answer_back(b, event.request, event.response)
        elif isinstance(event, RequestFailed):
            self._answer_back(b, event.request, None)

    # -- the B leg's INVITE ---------------------------------------------------------------------------
    def _progress(self, b: SbcCallLeg, response: Response) -> None:
        if response.status <= 100 or self.b_state not in ("calling", "early"):
            return
        self.b_state = "early"
        if self.a_state not in ("incoming", "early"):
            return
        body = self._media_answer(b, response)
        self._reply_a(response.status, response.reason, body, response, relayed=True)
        if response.status in (180, 183):
            self._status(CallStatus.RINGING, StopReason.SIP_REPLY, response, legs=(self.a, b))

    def _answered(self, b: SbcCallLeg, response: Response) -> None:
        if self.b_state not in ("calling", "early") or self.a_state not in ("incoming", "early"):
            self.b_state = "ended"
            late_offer.ack_callee(self, None)  # a late offer's 2xx still needs its ACK
            self._bye(b)  # the caller is gone: the 2xx that crossed its CANCEL ends here
            self.relay.legs.pop(b.call_id, None)
            return
        self.b_state = "connected"
        body = self._media_answer(b, response)
        self._reply_a(response.status, response.reason, body, response, relayed=True)
        if self.media is not None:
            self.media.start()
        self._status(CallStatus.CONNECTED, StopReason.SIP_REPLY, response, legs=(self.a, b))
        if self.b_timer is not None:
            self.b_timer.answered(response, self.sip.now())
            self.b_clock.arm(self.b_timer.deadline)
        plan = self.plan
        if plan is not None and plan.call_timer > 0:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(plan.call_timer, self._call_timer)

    def _failed(self, b: SbcCallLeg, response: Response | None) -> None:
        if self._retry_b(b, response):
            return
        self.b_state = "ended"
        self.relay.legs.pop(b.call_id, None)
        b.status = CallStatus.DISCONNECTED
        if self.a_state not in ("incoming", "early"):
            return
        code, reason = (408, "Request Timeout") if response is None else (response.status, response.reason)
        if response is not None:
            stop = False
            for cc in self.controls.get(id(self.a), []):
                stop = bool(self._hook(cc.on_b_leg_refused, response)) or stop
            if stop:  # the script handles the refusal (sbc.stopCall, a new callee …)
                self._status_of(b, CallStatus.DISCONNECTED, StopReason.SIP_REPLY, response)
                return
        self._reply_a(code, reason, b"", response, relayed=True)
        self._finish(StopReason.SIP_REPLY, "", response)

    def _media_answer(self, b: SbcCallLeg, response: Response) -> bytes:
        """The body the caller gets for ``response``: the callee's SDP, or ours with the RTP relay."""
        body = response.body
        if _is_sdp(response):
            body = filter_sdp(self.profile, body, to_caller=True, local_host=self.sip.host)
        if _is_sdp(response) and late_offer.is_late_offer(self.invite):
            late_offer.open_media(self, response)
        media = self.media
        if media is not None and _is_sdp(response):
            media.peer_sdp(media.b, response.body)
            body = rewrite_sdp(body, self.sip.host, media.a.port)
            media.start()  # early media too (nothing reaches the caller before it confirmed)
        if body and _is_sdp(response):
            self.last_sdp_to[id(self.a)] = body
        return body

    def _reply_a(
        self,
        code: int,
        reason: str,
        body: bytes = b"",
        response: Response | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        relayed: bool = False,
    ) -> None:
        """Answer the caller's INVITE (translated and filtered when it is the callee's reply)."""
        sip = self.sip
        if relayed:
            code, reason = translate_reply(self.profile, code, reason)
        extra = headers or []
        if response is not None:
            relayed_extra = filter_headers(self.profile, relayed_headers(response))
            if self.session_timer is not None or self.b_timer is not None:
                relayed_extra = without_timer_headers(relayed_extra)
            extra = extra + relayed_extra
        timer = self.session_timer
        if timer is not None and 200 <= code < 300:
            extra = extra + timer.response_headers()
        ctype = (response.headers.get("Content-Type") if response is not None else None) or "application/sdp"
        try:
            sip.run(
                lambda now: sip.core.reply(
                    self.a.call_id, code, reason or None, now=now, body=body,
                    content_type=ctype if body else None, headers=extra,
                )
            )  # fmt: skip
        except UserAgentError as exc:
            sip.log("sbc", "debug", call=self.a.call_id, msg=f"reply {code}: {exc}")
            return
        self.codes.append(code)
        if 200 <= code < 300:
            self.a_state = "connected"
            if timer is not None:
                timer.start(sip.now())
                self.session_clock.arm(timer.deadline)
        elif code >= 300:
            self.a_state = "ended"
        elif code > 100:
            self.a_state = "early"

    # -- in-dialog requests ------------------------------------------------------------------------
    def _in_dialog(self, leg: SbcCallLeg, event: InDialogRequest) -> None:
        request = event.request
        if request.method == "BYE":
            self._reply_request(leg, event, 200, "OK")
            if leg is self.a:
                self.a_state = "ended"
                self._end_b()
            else:
                self.b_state = "ended"
                self.relay.legs.pop(leg.call_id, None)
                self._bye_a()
            self._finish(StopReason.SIP_REQUEST, "", request)
            return
        for cc in self.controls.get(id(leg), []):
            if self._hook(cc.on_in_dialog_request, request):
                return  # the script answers it (dlg.replyRequest)
        timer = self.session_timer
        if timer is not None and leg is self.a and request.method in ("INVITE", "UPDATE"):
            refusal = timer.peer_refresh(request, self.sip.now())
            if refusal is not None:
                self._reply_request(leg, event, refusal.status, refusal.reason, headers=list(refusal.headers))
                return
            self.session_clock.arm(timer.deadline)
        b_timer = self.b_timer
        if b_timer is not None and b_timer.active and leg is self.b and request.method in ("INVITE", "UPDATE"):
            refusal = b_timer.peer_refresh(request, self.sip.now())
            if refusal is not None:
                self._reply_request(leg, event, refusal.status, refusal.reason, headers=list(refusal.headers))
                return
            self.b_clock.arm(b_timer.deadline)
        if not message_allowed(self.profile, request.method):
            self._reply_request(leg, event, 405, "Method Not Allowed")
            return
        other = self._other(leg)
        if other is None or leg.detached or other.detached or not self._connected(other):
            status = 200 if request.method in ("INFO", "OPTIONS") else 488
            self._reply_request(leg, event, status, None)
            return
        self._relay_request(leg, other, event)

    def _relay_request(self, src: SbcCallLeg, dst: SbcCallLeg, event: InDialogRequest) -> None:
        sip = self.sip
        request = event.request
        for cc in self.controls.get(id(dst), []):
            if self._hook(cc.on_other_request, request, True):
                return  # B2B.otherRequest with #StopProcessing: the script answers it
        body = request.body
        if _is_sdp(request):
            body = filter_sdp(self.profile, body, to_caller=dst is self.a, local_host=sip.host)
            media = self.media
            if media is not None:
                media.peer_sdp(self._side(src), request.body)
                body = rewrite_sdp(body, sip.host, self._side(dst).port)
            self.last_sdp_to[id(dst)] = body
        ctype = (request.headers.get("Content-Type") or None) if body else None
        headers = filter_headers(self.profile, relayed_headers(request))
        if self._has_timer(dst) or self._has_timer(src):
            headers = without_timer_headers(headers)
        try:
            sip.run(
                lambda now: sip.core.send_request(
                    dst.call_id, request.method, now=now, body=body, content_type=ctype, headers=headers
                )
            )
        except UserAgentError as exc:
            sip.log("sbc", "debug", call=src.call_id, msg=f"{request.method} not relayed: {exc}")
            self._reply_request(src, event, 500, None)
            return
        seq = sip.core.calls[dst.call_id].dialog.local_seq
        self.pending[(dst.call_id, seq)] = _Relayed(src, event)

    def _answer_back(self, leg: SbcCallLeg, request: Request, response: Response | None) -> None:
        """An answer to a request we sent in ``leg``: back to the leg the request came from."""
        key = (leg.call_id, request.cseq.number)
        relayed = self.pending.get(key)
        if relayed is None:
            if leg is self.a and request.cseq.number == self.refresh_cseq:
                self._refresh_answered(response)
            elif leg is self.b and request.cseq.number == self.b_refresh_cseq:
                self._b_refresh_answered(response)
            elif leg is self.b and request.cseq.number == self.reconnect_cseq:
                reconnect.answered(self, response)
            return  # our own BYE's or hold re-INVITE's answer
        if response is not None and response.status < 200:
            return
        del self.pending[key]
        if response is not None:
            for cc in self.controls.get(id(leg), []):
                if self._hook(cc.on_in_dialog_reply, response):
                    return
            for cc in self.controls.get(id(relayed.origin), []):
                if self._hook(cc.on_other_reply, response, True, request.method):
                    return  # B2B.otherReply with #StopProcessing: not relayed
        status, reason = (408, "Request Timeout") if response is None else (response.status, response.reason)
        body = response.body if response is not None else b""
        if response is not None and _is_sdp(response):
            body = filter_sdp(self.profile, body, to_caller=relayed.origin is self.a, local_host=self.sip.host)
            media = self.media
            if media is not None:
                media.peer_sdp(self._side(leg), response.body)
                body = rewrite_sdp(body, self.sip.host, self._side(relayed.origin).port)
            self.last_sdp_to[id(relayed.origin)] = body
        headers = filter_headers(self.profile, relayed_headers(response)) if response is not None else []
        if self._has_timer(leg) or self._has_timer(relayed.origin):
            headers = without_timer_headers(headers)
        refresh = 200 <= status < 300 and request.method in ("INVITE", "UPDATE")
        timer = self.session_timer
        if timer is not None and relayed.origin is self.a and refresh:
            headers = headers + timer.response_headers()
        b_timer = self.b_timer
        if b_timer is not None and b_timer.active and relayed.origin is self.b and refresh:
            headers = headers + b_timer.response_headers()
        ctype = (response.headers.get("Content-Type") or None) if response is not None and body else None
        self._reply_request(relayed.origin, relayed.event, status, reason, body, ctype, headers)

    def _reply_request(
        self,
        leg: SbcCallLeg,
        event: InDialogRequest,
        status: int,
        reason: str | None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        sip = self.sip
        with contextlib.suppress(UserAgentError):
            sip.run(
                lambda now: sip.core.reply_request(
                    leg.call_id, event.transaction, status, reason, now=now, body=body,
                    content_type=content_type, headers=headers or (),
                )
            )  # fmt: skip

    # -- ending ----------------------------------------------------------------------------------
    def _call_timer(self) -> None:
        self.timer = None
        self.sip.log("sbc", "info", call=self.a.call_id, msg="call timer expired")
        self.stop_call("call timer")

    def _session_timer_fired(self) -> None:
        timer = self.session_timer
        if timer is None or self.ended or self.a_state != "connected":
            return
        what = timer.due(self.sip.now())
        if what == "refresh":
            self._send_refresh(timer)
        elif what == "expired":
            self.sip.log("sbc", "info", call=self.a.call_id, msg="session timer expired")
            self.stop_call("session timer", StopReason.SESSION_TIMEOUT)
            return
        self.session_clock.arm(timer.deadline)

    def _send_refresh(self, timer: SessionTimer) -> None:
        """Our refresh of the A leg (we are the refresher): UPDATE, or re-INVITE with its SDP."""
        sip = self.sip
        method = timer.refresh_method()
        body = self.last_sdp_to.get(id(self.a), b"") if method == "INVITE" else b""
        try:
            sip.run(
                lambda now: sip.core.send_request(
                    self.a.call_id, method, now=now, body=body,
                    content_type="application/sdp" if body else None, headers=timer.refresh_headers(),
                )
            )  # fmt: skip
        except UserAgentError as exc:
            sip.log("sbc", "warn", call=self.a.call_id, msg=f"session refresh not sent: {exc}")
            return
        self.refresh_cseq = sip.core.calls[self.a.call_id].dialog.local_seq

    def _refresh_answered(self, response: Response | None) -> None:
        timer = self.session_timer
        if timer is None or (response is not None and response.status < 200):
            return
        self.refresh_cseq = None
        outcome = timer.refresh_answered(response.status, response, self.sip.now()) if response is not None else "gone"
        if outcome == "retry":
            self._send_refresh(timer)
        elif outcome == "gone":
            self.stop_call("caller gone", StopReason.SESSION_TIMEOUT)
            return
        self.session_clock.arm(timer.deadline)

    def _b_timer_fired(self) -> None:
        timer = self.b_timer
        if timer is None or self.ended or self.b_state != "connected":
            return
        what = timer.due(self.sip.now())
        if what == "refresh":
            self._send_b_refresh(timer)
        elif what == "expired":
            self.sip.log("sbc", "info", call=self.a.call_id, msg="B leg session timer expired")
            self.stop_call("session timer", StopReason.SESSION_TIMEOUT)
            return
        self.b_clock.arm(timer.deadline)

    def _send_b_refresh(self, timer: BLegTimer) -> None:
        """Our refresh of the B leg (we are the refresher): UPDATE, or re-INVITE with its SDP."""
        b = self.b
        if b is None:
            return
        sip = self.sip
        method = timer.refresh_method()
        body = self.last_sdp_to.get(id(b), b"") if method == "INVITE" else b""
        try:
            sip.run(
                lambda now: sip.core.send_request(
                    b.call_id, method, now=now, body=body,
                    content_type="application/sdp" if body else None, headers=timer.refresh_headers(),
                )
            )  # fmt: skip
        except UserAgentError as exc:
            sip.log("sbc", "warn", call=self.a.call_id, msg=f"B leg session refresh not sent: {exc}")
            return
        self.b_refresh_cseq = sip.core.calls[b.call_id].dialog.local_seq

    def _b_refresh_answered(self, response: Response | None) -> None:
        timer = self.b_timer
        if timer is None or (response is not None and response.status < 200):
            return
        self.b_refresh_cseq = None
        outcome = timer.refresh_answered(response.status, response, self.sip.now()) if response is not None else "gone"
        if outcome == "retry":
            self._send_b_refresh(timer)
        elif outcome == "gone":
            self.stop_call("callee gone", StopReason.SESSION_TIMEOUT)
            return
        self.b_clock.arm(timer.deadline)

    def _has_timer(self, leg: SbcCallLeg) -> bool:
        """Whether ``leg`` negotiates a session timer of its own (its peer's is then not relayed)."""
        if leg is self.a:
            return self.session_timer is not None
        return self.b_timer is not None

    def stop_call(self, cause: str, reason: StopReason = StopReason.OTHER) -> None:
        """End every leg (``sbc.stopCall``, teardown, call timer, no ACK)."""
        if self.ended:
            return
        if self.a_state in ("incoming", "early"):
            self._reply_a(487, "Request Terminated")
        else:
            self._bye_a()
        self._end_b()
        self._finish(reason, cause)

    def _bye_a(self) -> None:
        if self.a_state == "connected":
            self._bye(self.a)
        elif self.a_state in ("incoming", "early"):
            self._reply_a(487, "Request Terminated")
        self.a_state = "ended"

    def _end_b(self) -> None:
        b = self.b
        if b is None:
            return
        if self.b_state == "connected":
            self._bye(b)
        else:
            self._cancel_b()
        self.b_state = "ended"

    def _cancel_b(self) -> None:
        b = self.b
        if b is None or self.b_state not in ("calling", "early"):
            return
        sip = self.sip
        with contextlib.suppress(UserAgentError):
            sip.run(lambda now: sip.core.cancel(b.call_id, now=now))
        # the 487 still comes as CallFailed; the leg stays known until then
        self.b_state = "cancelling"

    def _bye(self, leg: SbcCallLeg) -> None:
        sip = self.sip
        with contextlib.suppress(UserAgentError):
            sip.run(lambda now: sip.core.bye(leg.call_id, now=now))

    def _finish(self, reason: StopReason, desc: str, detail: Request | Response | None = None) -> None:
        """The call is over: every leg reports Disconnected, call controls are told, media closes."""
        if self.ended:
            return
        self.ended = True
        self.end_cause = desc or str(reason)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.session_clock.cancel()
        self.b_clock.cancel()
        legs = [self.a] + ([self.b] if self.b is not None else [])
        self._status(CallStatus.DISCONNECTED, reason, detail if detail is not None else desc or None, legs=legs)
        for leg in legs:
            for cc in self.controls.get(id(leg), []):
                self._hook(cc.on_destroy_leg)
        if self.media is not None:
            self.media.close()
        self.relay.ended(self)

    # -- helpers ---------------------------------------------------------------------------------------
    def _status(
        self,
        status: CallStatus,
        reason: StopReason,
        detail: Request | Response | str | None,
        legs: tuple[SbcCallLeg, ...] | list[SbcCallLeg],
    ) -> None:
        for leg in legs:
            self._status_of(leg, status, reason, detail)

    def _status_of(
        self, leg: SbcCallLeg, status: CallStatus, reason: StopReason, detail: Request | Response | str | None
    ) -> None:
        if leg.status == status:
            return
        leg.status = status
        for cc in self.controls.get(id(leg), []):
            self._hook(cc.on_state_change, status, reason, detail)

    def _hook(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a call-control hook; its failure is logged and counts as "continue"."""
        try:
            return fn(*args)
        except DSMException as exc:
            self.sip.log("sbc", "warn", call=self.a.call_id, msg=f"call control: {exc}")
        except Exception as exc:  # noqa: BLE001 - a plug-in's fault stays with this call
            self.sip.log("sbc", "error", call=self.a.call_id, msg=f"call control {type(exc).__name__}: {exc}")
        return CONTINUE

    def _other(self, leg: SbcCallLeg) -> SbcCallLeg | None:
        return self.b if leg is self.a else self.a

    other_leg = _other

    def _connected(self, leg: SbcCallLeg) -> bool:
        return (self.a_state if leg is self.a else self.b_state) == "connected"

    def _side(self, leg: SbcCallLeg) -> RelaySide:
        assert self.media is not None
        return self.media.a if leg is self.a else self.media.b

    # -- LegHost: what mod_sbc asks of the call ------------------------------------------------------
    def disconnect_leg(self, leg: SbcCallLeg, hold_remote: bool, preserve_media: bool) -> None:
        leg.detached = True
        if hold_remote:
            self.hold(leg, True)

    def hold(self, leg: SbcCallLeg, on: bool) -> None:
        """Re-INVITE ``leg``'s peer with the SDP it has, ``sendonly`` (hold) or ``sendrecv``."""
        if not self._connected(leg):
            raise DSMException("script", {"cause": "the leg is not connected"})
        sdp = self.last_sdp_to.get(id(leg), b"")
        if not sdp:
            raise DSMException("script", {"cause": "no SDP to put on hold"})
        body = _with_direction(sdp, b"sendonly" if on else b"sendrecv")
        sip = self.sip
        try:
            sip.run(
                lambda now: sip.core.send_request(
                    leg.call_id, "INVITE", now=now, body=body, content_type="application/sdp"
                )
            )
        except UserAgentError as exc:
            raise DSMException("script", {"cause": f"hold: {exc}"}) from None
        leg.on_hold = on

    def relay_reliable_event(
        self,
        leg: SbcCallLeg,
        params: Mapping[str, str],
        processed: Mapping[str, str],
        unprocessed: Mapping[str, str],
    ) -> None:
        """M-sbc-8: after the sender's current event, the peer gets ``params``; the sender then
        gets ``processed`` if the peer's script set ``#processed=true``, else ``unprocessed``."""
        forward, yes, no = dict(params), dict(processed), dict(unprocessed)

        def deliver() -> None:
            if self.ended:
                return
            ok = bool(self.relay_event(leg, forward, True))
            for cc in self.controls.get(id(leg), []):
                self._hook(cc.on_b2b_event, yes if ok else no, False)

        asyncio.get_running_loop().call_soon(deliver)

    def relay_event(self, leg: SbcCallLeg, params: Mapping[str, str], reliable: bool) -> bool | None:
        other = self._other(leg)
        if other is None:
            return None
        controls = self.controls.get(id(other), [])
        if not controls:
            other.events.append(dict(params))
            return None
        answer = False
        for cc in controls:
            answer = bool(self._hook(cc.on_b2b_event, params, reliable)) or answer
        return answer

    def add_callee(self, leg: SbcCallLeg, spec: Mapping[str, str]) -> None:
        """``sbc.addCallee(var, …)`` on the A leg: a new B leg (after the last one failed).

        The variables and their flags: :mod:`.callee`.  One B leg at a time:
        while one is being called or connected this raises.  An interface
        other than ``default`` raises ``ProfilePropertyError`` (``errno = arg``).
        """
        self._may_add_callee(leg, "sbc.addCallee")
        body = self.invite.body
        if _is_sdp(self.invite):
            body = filter_sdp(self.profile, body, local_host=self.sip.host)
        try:
            plan = callee_plan(
                spec, self.profile, self.plan, caller_from=self.invite.headers.get("From") or "", body=body,
                content_type=self.invite.headers.get("Content-Type") or "",
                call_id=f"{self.sip.rng.getrandbits(64):016x}@{self.sip.host}",
            )  # fmt: skip
        except CalleeError as exc:
            raise DSMException("script", {"cause": str(exc)}) from None
        self._drop_b()
        self.plan = plan
        tag = self.invite.from_tag if self.profile.raw.get("transparent_dlg_id") == "true" else None
        self._send_b(plan, local_tag=tag or None)

    def reconnect_leg(self, leg: SbcCallLeg, ltag: str, hdrs: str) -> None:
        """``sbc.addCallee(ltag, …)``: another call's leg becomes this call's B leg (:mod:`.reconnect`)."""
        reconnect.reconnect(self, leg, ltag, hdrs)

    def _may_add_callee(self, leg: SbcCallLeg, what: str, connected_ok: bool = False) -> None:
        if leg is not self.a:
            raise DSMException("script", {"cause": f"{what}: only the A leg adds callees"})
        if self.ended:
            raise DSMException("script", {"cause": f"{what}: the call is over"})
        waiting = self.a_state in ("incoming", "early")
        if not waiting and not (connected_ok and self.a_state == "connected"):
            raise DSMException("script", {"cause": f"{what}: the caller is no longer waiting"})
        if self.b is not None and not self._b_gone():
            raise DSMException("script", {"cause": f"{what}: a B leg is still active"})

    def _b_gone(self) -> bool:
        """Whether the B leg failed, ended or was let go (``sbc.disconnect``): room for another."""
        b = self.b
        return b is None or b.detached or self.b_state in ("none", "ended")

    def _drop_b(self) -> None:
        """The old B leg is gone for good (its call control destroyed; BYE if still connected)."""
        if self.media is not None:
            self.media.close()
            self.media = None
        old = self.b
        if old is None:
            return
        if self.b_state == "connected":
            self._bye(old)
            self.relay.legs.pop(old.call_id, None)
        self.b_state = "ended"
        for cc in self.controls.pop(id(old), []):
            self._hook(cc.on_destroy_leg)

    def streams_set_receiving(self, leg: SbcCallLeg, receive_a: bool, receive_b: bool) -> None:
        if self.media is None:
            raise NoMediaError("no RTP relay on this call")
        self.media.receiving = (receive_a, receive_b)

    def dtmf_receiving(self, leg: SbcCallLeg, on: bool) -> None:
        """``sbc.enableRelayDTMFReceiving``: the leg's peer's RFC 4733 keys reach its call control."""
        media = self.media
        if media is None:
            raise NoMediaError("no RTP relay on this call")
        media.on_dtmf = self._dtmf
        self._side(leg).dtmf = TelephoneEventReceiver() if on else None

    def _dtmf(self, side: RelaySide, key: int, duration_ms: int) -> None:
        media = self.media
        leg = self.a if media is not None and side is media.a else self.b
        if leg is None:
            return
        for cc in self.controls.get(id(leg), []):
            self._hook(cc.on_dtmf, key, duration_ms)

    def end_leg(self, leg: SbcCallLeg) -> None:
        self.stop_call("stop")

    # -- the legs' own media (leg_media) ------------------------------------------------------------
    def leg_media(self, leg: SbcCallLeg) -> LegMedia:
        """``leg``'s playlist and detector, made on first use (attached to the relay if it runs)."""
        found = self.leg_medias.get(id(leg))
        if found is None:
            found = LegMedia(
                log=lambda message: self.sip.log("sbc", "error", call=self.a.call_id, msg=message),
                on_events=lambda events: self._leg_events(leg, events),
                rng=self.sip.rng,
            )
            self.leg_medias[id(leg)] = found
            if self.media is not None and not self.media.closed and (leg is self.a or leg is self.b):
                found.has_stream = True
                self._side(leg).local = found
        return found

    def _wire_media(self, media: RtpRelay) -> None:
        """A new RTP relay: the profile's DTMF options, the legs' own media on their sides."""
        profile = self.profile
        for side in (media.a, media.b):
            side.filter_dtmf = profile.rtprelay_dtmf_filtering
            if profile.rtprelay_dtmf_detection:
                side.dtmf = TelephoneEventReceiver()
        media.on_dtmf = self._dtmf
        for leg, side in ((self.a, media.a), (self.b, media.b)):
            own = self.leg_medias.get(id(leg)) if leg is not None else None
            if own is not None:
                own.has_stream = True
                side.local = own

    def _leg_events(self, leg: SbcCallLeg, events: list[Any]) -> None:
        """Playlist events and in-band keys of ``leg``'s own media, to its call controls."""
        if self.ended:  # keys of the call's last tick, analysed after it ended
            return
        for event in events:
            for cc in self.controls.get(id(leg), []):
                if isinstance(event, KeyPress):
                    self._hook(cc.on_dtmf, event.key, event.duration_ms)
                elif isinstance(event, PlaylistSeparatorReached):
                    hook = getattr(cc, "on_separator", None)
                    if hook is not None:
                        self._hook(hook, event.id)
                elif isinstance(event, NoAudio):
                    hook = getattr(cc, "on_no_audio", None)
                    if hook is not None:
                        self._hook(hook, event.type)

    def describe(self) -> dict[str, Any]:
        """One line of ``dsm sbc calls``."""
        return {
            "call_id": self.a.call_id,
            "b_call_id": self.b.call_id if self.b is not None else "",
            "profile": self.profile.name,
            "a": str(self.a.status),
            "b": str(self.b.status) if self.b is not None else "",
            "rtp_relay": self.media is not None,
            "seconds": round(self.sip.now() - self.started_at, 3),
        }


def _with_direction(sdp: bytes, direction: bytes) -> bytes:
    lines = [
        line
        for line in sdp.split(b"\r\n")
        if line not in (b"a=sendrecv", b"a=sendonly", b"a=recvonly", b"a=inactive")
    ]
    while lines and not lines[-1]:
        lines.pop()
    return b"\r\n".join([*lines, b"a=" + direction]) + b"\r\n"


class SbcRelay:
    """The SBC mode's transaction user (in front of :class:`SipCalls`); see the module docstring."""

    def __init__(
        self,
        sip: SipCalls,
        store: ProfileStore,
        *,
        call_control: CallControlFactories | None = None,
        rtp_symmetric: bool = False,
        keep_recent: int = 100,
    ) -> None:
        self.sip = sip
        self.store = store
        self.call_control: dict[str, Callable[[], CallControl]] = dict(call_control or {})
        self.rtp_symmetric = rtp_symmetric
        self.calls: dict[str, RelayedCall] = {}
        """Calls in progress by the caller's Call-ID."""
        self.legs: dict[str, tuple[RelayedCall, SbcCallLeg]] = {}
        """Every leg of a call in progress by its Call-ID."""
        self.recent: deque[RelayedCall] = deque(maxlen=keep_recent)
        self.relayed = 0
        self.refused = 0
        self.failed = 0
        self.simple = SimpleRelay(
            sip, store, call_control=self.call_control, parse_destination=parse_destination,
            next_hop_flags=next_hop_flags,
        )  # fmt: skip
        """Non-INVITE requests outside calls (:mod:`.simple_relay`), once :meth:`attach` hooked it in."""
        self._sweep: asyncio.TimerHandle | None = None

    def attach(self) -> None:
        """Hook the simple relay into the SIP core (its transport now exists)."""
        self.sip.core.outside_requests = self.simple.takes

    def _arm_sweep(self) -> None:
        """Forget expired relayed dialogs on time (also swept on every new request)."""
        deadline = self.simple.next_deadline()
        if self._sweep is not None or deadline is None:
            return
        delay = min(max(deadline - self.sip.now(), 0.05), 60.0)
        self._sweep = asyncio.get_running_loop().call_later(delay, self._swept)

    def _swept(self) -> None:
        self._sweep = None
        self.simple.sweep(self.sip.now())
        self._arm_sweep()

    # -- events from the SIP core --------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, NewCall):
            self._new_call(event)
            return
        if self.simple.handles(event):
            self._arm_sweep()
            return
        entry = self.legs.get(getattr(event, "call_id", ""))
        if entry is None:
            self.sip.on_event(event)
            return
        call, leg = entry
        try:
            call.on_event(leg, event)
        except Exception as exc:  # noqa: BLE001 - one call's fault ends that call only
            self.failed += 1
            self.sip.log("sbc", "error", call=call.a.call_id, msg=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):
                call.stop_call("internal error", StopReason.INTERNAL_ERROR)

    def _new_call(self, new: NewCall) -> None:
        sip = self.sip
        config = self.store.config
        try:
            name = select_profile(config, new.request, new.source, (sip.host, sip.core.port))
        except Exception as exc:  # noqa: BLE001 - a selection fault refuses this call only
            self._refuse(new.call_id, 500, "Server Internal Error", f"profile selection: {exc}")
            return
        profile = self.store.profile_for_call(name)
        if profile is None:
            self._refuse(new.call_id, 500, "Server Internal Error", f"no profile {name!r} loaded")
            return
        try:
            call = RelayedCall(self, new, profile)
        except Exception as exc:  # noqa: BLE001 - an INVITE we cannot take apart is refused
            self._refuse(new.call_id, 400, "Bad Request", f"INVITE not relayable: {type(exc).__name__}: {exc}")
            return
        self.calls[new.call_id] = call
        self.legs[new.call_id] = (call, call.a)
        self.recent.append(call)
        self.relayed += 1
        try:
            call.start()
        except CallControlError as exc:
            sip.log("sbc", "warn", call=new.call_id, msg=str(exc))
            call._reply_a(500, "Server Internal Error")
            call._finish(StopReason.INTERNAL_ERROR, str(exc))
        except Exception as exc:  # noqa: BLE001 - refuse this call, keep serving
            self.failed += 1
            sip.log("sbc", "error", call=new.call_id, msg=f"{type(exc).__name__}: {exc}")
            call._reply_a(500, "Server Internal Error")
            call._end_b()
            call._finish(StopReason.INTERNAL_ERROR, str(exc))

    def _refuse(self, call_id: str, status: int, reason: str, why: str) -> None:
        self.refused += 1
        sip = self.sip
        sip.log("sbc", "warn", call=call_id, status=status, msg=why)
        with contextlib.suppress(UserAgentError):
            sip.run(lambda now: sip.core.reply(call_id, status, reason, now=now))

    def ended(self, call: RelayedCall) -> None:
        """A call is over; its B leg stays routed until its INVITE transaction is done."""
        self.calls.pop(call.a.call_id, None)
        self.legs.pop(call.a.call_id, None)
        b = call.b
        if b is not None and call.b_state not in ("cancelling",):
            self.legs.pop(b.call_id, None)
        self.sip.log(
            "sbc_end", call=call.a.call_id, profile=call.profile.name, cause=call.end_cause,
            seconds=round(self.sip.now() - call.started_at, 3),
        )  # fmt: skip

    # -- media ---------------------------------------------------------------------------------------
    def new_media(self, call: RelayedCall) -> RtpRelay:
        """The call's RTP relay on two fresh port pairs, wired to its profile's DTMF options and legs' media."""
        ports = self.sip.rtp_ports
        a_pair = ports.bind_pair()
        try:
            b_pair = ports.bind_pair()
        except OSError:
            for sock in a_pair:
                sock.close()
            raise
        profile = call.profile
        limits = self.sip.limits
        media = RtpRelay(
            MediaClock.for_loop(asyncio.get_running_loop()),
            a_pair,
            b_pair,
            strict=limits.rtp_strict,
            symmetric_a=profile.aleg_force_symmetric_rtp or limits.rtp_symmetric or self.rtp_symmetric,
            symmetric_b=profile.force_symmetric_rtp or limits.rtp_symmetric or self.rtp_symmetric,
            on_error=lambda message: self.sip.log("rtp", "debug", call=call.a.call_id, msg=message),
        )
        call._wire_media(media)  # also for a late offer's relay (late_offer.open_media)
        return media

    # -- control ---------------------------------------------------------------------------------------
    def teardown(self, call_id: str) -> bool:
        """``teardown call``: end the call one of whose legs has ``call_id``."""
        entry = self.legs.get(call_id)
        if entry is None:
            return False
        entry[0].stop_call("teardown")
        return True

    def metrics(self) -> str:
        """The SBC's lines of ``/metrics`` (Prometheus text)."""
        relayed_packets = sum(
            c.media.a.sent + c.media.b.sent for c in self.calls.values() if c.media is not None
        )
        rows = (
            ("dsm_sbc_calls", "gauge", "SBC calls in progress", len(self.calls)),
            ("dsm_sbc_calls_total", "counter", "INVITEs handled by the SBC", self.relayed),
            ("dsm_sbc_refused_total", "counter", "SBC calls refused (refuse_with, unknown profile, 482, 422)", self.refused),
            ("dsm_sbc_failed_total", "counter", "SBC calls ended by an internal error", self.failed),
            ("dsm_sbc_rtp_relayed_packets", "gauge", "RTP packets relayed by the calls in progress", relayed_packets),
            ("dsm_sbc_relayed_dialogs", "gauge", "Non-INVITE relays (simple relay) in progress", len(self.simple.dialogs)),
            ("dsm_sbc_relayed_requests_total", "counter", "Non-INVITE relays started by the simple relay (refuse_with included)", self.simple.relayed),
            ("dsm_sbc_relay_refused_total", "counter", "Non-INVITE requests answered by the simple relay itself (refuse_with, 405, 483, 503 …)", self.simple.refused),
        )
        return "".join(f"# HELP {n} {h}.\n# TYPE {n} {t}\n{n} {v}\n" for n, t, h, v in rows)

    def close_all(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for call in list(self.calls.values()):
            if call.media is not None:
                call.media.close()
