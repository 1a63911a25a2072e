"""Simulated SBC calls: an SBC call-control script unit-tested like an IVR.

:meth:`Harness.sbc_call` starts a call whose legs are :class:`SimSbcLeg`
objects -- each one both the leg's :class:`~dsm.runtime.call.Call` (with
``sbc_leg`` set to itself) and its :class:`~dsm.runtime.sbc.leg.SbcLeg` --
driven through the real ``cc_dsm`` call control
(:class:`~dsm.runtime.sbc.cc_dsm.DsmCallControl`), so the script sees the
events of E-165 exactly as on the relay.  The test plays the caller and the
callee (:class:`SbcTestCall`: ``ring``, ``answer``, ``refuse``, ``hangup``,
in-dialog ``request``/``reply``, ``dtmf``) and asserts on what the script
did: :attr:`SimSbcLeg.did` records every ``mod_sbc`` effect in order, the
profile copy of each leg shows ``sbc.profileSet``, and the transcript has
it all in virtual time.

What a script asks of a leg (``sbc.stopCall``, ``sbc.disconnect``, reliable
events …) takes effect after the event that asked for it, as on the relay
where the leg's own event queue carries it out: the harness runs that work
between events, never inside one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from dsm.runtime.harness.media import VirtualMedia
from dsm.runtime.harness.records import Reply
from dsm.runtime.harness.simcall import parse_uri
from dsm.runtime.sbc.cc_dsm import DsmCallControl
from dsm.runtime.sbc.leg import CallStatus, NoMediaError, StopReason
from dsm.runtime.sbc.profile import CallProfile, LegPlan, Refusal, plan_leg, translate_reply
from dsm.runtime.sbc.session_call import SbcSessionCall
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.message import Request, Response

if TYPE_CHECKING:
    from dsm.runtime.harness.harness import Harness
    from dsm.runtime.session import Session

__all__ = ["SimSbcLeg", "SbcTestCall", "start_sbc_call", "DEFAULT_SDP"]

DEFAULT_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)

_MAX_WORK = 10_000  # bound on leg work per drive step (legs asking each other forever)


def _uri_of(header: str) -> str:
    text = header.strip()
    if "<" in text and ">" in text:
        return text[text.index("<") + 1 : text.index(">")]
    return text.split(";", 1)[0]


def _tag_of(header: str) -> str:
    for piece in header.split(">", 1)[-1].split(";")[1:]:
        key, _, val = piece.strip().partition("=")
        if key.lower() == "tag":
            return val
    return ""


class SimSbcLeg(SbcSessionCall):
    """One simulated SBC call leg: the Call of its DSM session and the SbcLeg ``mod_sbc`` acts on."""

    b2b_capable = True

    def __init__(self, call: SbcTestCall, name: str, is_a_leg: bool, profile: CallProfile, invite: Request) -> None:
        self.owner = call
        self.name = name
        self._is_a = is_a_leg
        self._profile = profile
        self._record_profile_changes(profile)
        self.invite = invite
        self.status = CallStatus.NO_REPLY if not is_a_leg else CallStatus.DISCONNECTED
        self.on_hold = False
        self.peer: SimSbcLeg | None = None
        self.cc = DsmCallControl(call.harness.engine)
        self.media = VirtualMedia(call.harness.clock, call.harness.prompts)
        self.media.flags["receiving"] = True  # as the relay's legs (runtime/sbc/leg_media.py)
        self.has_media = profile.enable_rtp_relay
        """Whether the leg has a media session (RTP relay, or media processing after ``connectMedia``)."""
        self.did: list[tuple[str, ...]] = []
        """Every effect a script had on this leg, in order: ``("stopCall", cause)`` …"""
        self.sent: list[Request | Response] = []
        """SIP messages this leg sent to its remote party (re-INVITEs, BYE, relayed requests, replies)."""
        self.ext_local_tag = ""
        self.relay_only = False
        self.relay_dtmf = False
        self.in_media_processor = False
        self.receiving = (True, True)
        self.destroyed = False
        ruri = invite.uri
        from_ = invite.headers.get("From") or ""
        to = invite.headers.get("To") or ""
        user, domain = parse_uri(ruri)
        if is_a_leg:  # incoming dialog: the caller is remote
            self._selects = {
                "user": user, "domain": domain, "remote_tag": _tag_of(from_), "callid": invite.call_id,
                "local_uri": ruri, "local_party": to, "remote_uri": _uri_of(from_), "remote_party": from_,
            }
        else:  # outgoing dialog: the callee is remote
            self._selects = {
                "user": user, "domain": domain, "remote_tag": "", "callid": invite.call_id,
                "local_uri": _uri_of(from_), "local_party": from_, "remote_uri": ruri, "remote_party": to,
            }

    def __repr__(self) -> str:
        return f"<SimSbcLeg {self.name} {self.local_tag} {self.status}>"

    # -- bookkeeping -----------------------------------------------------------------------
    @property
    def sbc_leg(self) -> SimSbcLeg:
        return self

    @property
    def session(self) -> Session | None:
        return self.cc.session

    def _did(self, *what: str) -> None:
        self.did.append(what)
        self.owner.harness.note(self.local_tag, "sbc", " ".join(what))

    def _later(self, work: Callable[[], None]) -> None:
        self.owner._later(work)

    def _record_profile_changes(self, profile: CallProfile) -> None:
        """Note each successful ``sbc.profileSet`` on this leg's profile copy in :attr:`did`."""
        method = getattr(type(profile), "set_property", None)  # not a copied leg's recorder
        if method is None:
            return

        def recording(name: str, value: str, interfaces: Collection[str] | None = None) -> None:
            method(profile, name, value, interfaces)
            self._did("profileSet", name, value)

        profile.set_property = recording  # type: ignore[method-assign]  # on this copy only

    def set_status(self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None = None) -> None:
        """Change the call status and tell the script (``legStateChange``)."""
        self.status = status
        if not self.destroyed:
            self.cc.on_state_change(status, reason, detail)

    def destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self.cc.on_destroy_leg()
        self.media.close()

    # -- SbcLeg ---------------------------------------------------------------------------------
    @property
    def is_a_leg(self) -> bool:
        return self._is_a

    @property
    def profile(self) -> CallProfile:
        return self._profile

    def call_status(self) -> CallStatus:
        return self.status

    def is_on_hold(self) -> bool:
        return self.on_hold

    def _end(self, cause: str) -> None:
        if self.destroyed:
            return
        if self.status == CallStatus.CONNECTED:
            self.sent.append(_req("BYE", self.invite.uri))
        elif not self.is_a_leg and self.status in (CallStatus.NO_REPLY, CallStatus.RINGING):
            self.sent.append(_req("CANCEL", self.invite.uri))
        self.set_status(CallStatus.DISCONNECTED, StopReason.OTHER, cause)
        self.destroy()

    def stop_call(self, cause: str) -> None:
        self._did("stopCall", cause)
        legs = [self] if self.peer is None else [self, self.peer]

        def work() -> None:
            for leg in legs:
                leg._end(cause)

        self._later(work)

    def disconnect(self, hold_remote: bool, preserve_media: bool) -> None:
        self._did("disconnect", "hold" if hold_remote else "no-hold", "keep-media" if preserve_media else "drop-media")
        peer = self.peer
        if peer is None:
            return
        self.peer = None
        if peer.peer is self:
            peer.peer = None
        if hold_remote:
            self.on_hold = True
            self.sent.append(_req("INVITE", self.invite.uri, body=b"a=sendonly"))
        if not preserve_media:
            self.has_media = False
        if peer.status not in (CallStatus.CONNECTED, CallStatus.DISCONNECTED) and not peer.is_a_leg:
            self._later(lambda: peer._end("disconnected"))  # unconnected B legs are terminated

    def send_disconnect_event(self, hold_remote: bool) -> None:
        self._did("sendDisconnectEvent", "hold" if hold_remote else "no-hold")
        self._later(lambda: self.disconnect(hold_remote, False))

    def put_on_hold(self) -> None:
        self._did("putOnHold")
        self.on_hold = True
        self.sent.append(_req("INVITE", self.invite.uri, body=b"a=sendonly"))

    def resume_held(self) -> None:
        self._did("resumeHeld")
        self.on_hold = False
        self.sent.append(_req("INVITE", self.invite.uri, body=b"a=sendrecv"))

    def relay_reliable_event(
        self, params: Mapping[str, str], processed: Mapping[str, str], unprocessed: Mapping[str, str]
    ) -> None:
        self._did("relayReliableEvent", ";".join(f"{k}={v}" for k, v in params.items()))
        forward, yes, no = dict(params), dict(processed), dict(unprocessed)

        def work() -> None:
            peer = self.peer
            ok = peer is not None and not peer.destroyed and peer.cc.on_b2b_event(forward, True)
            self._did("reliableEventReply", "processed" if ok else "unprocessed")
            self.cc.on_b2b_event(yes if ok else no, False)

        self._later(work)

    def add_callee(self, spec: Mapping[str, str]) -> None:
        from dsm.runtime.sbc.callee import check_interfaces

        check_interfaces(spec)  # as the relay: only "default" (ProfilePropertyError, errno arg)
        self._did("addCallee", *(f"{k}={v}" for k, v in spec.items()))
        if spec.get("transparent_dlg_id") == "true":
            setattr(self._profile, "transparent_dlg_id", True)  # noqa: B010 - a field the relay reads
        self._later(lambda: self.owner._new_b_leg(self, dict(spec)))

    def reconnect_leg(self, ltag: str, hdrs: str) -> None:
        self._did("reconnectLeg", ltag, hdrs)
        for leg in self.owner.legs:
            if leg.local_tag == ltag and not leg.destroyed:
                self.peer, leg.peer = leg, self

    def enable_relay_dtmf_receiving(self, on: bool) -> None:
        if not self.has_media:
            raise NoMediaError
        self.relay_dtmf = on
        self._did("enableRelayDTMFReceiving", str(on).lower())

    def add_to_media_processor(self) -> None:
        self.in_media_processor = True
        self._did("addToMediaProcessor")
        if self.has_media:  # as the relay's legs: the source playlist plays, keys are heard
            self.media.connected = True
            self.media.wake()

    def remove_from_media_processor(self) -> None:
        self.in_media_processor = False
        self._did("removeFromMediaProcessor")
        self.media.connected = False

    def streams_set_receiving(self, receive_a: bool, receive_b: bool) -> None:
        if not self.has_media:
            raise NoMediaError
        self.receiving = (receive_a, receive_b)
        self._did("streamsSetReceiving", str(receive_a).lower(), str(receive_b).lower())

    def set_ext_local_tag(self, tag: str) -> None:
        self.ext_local_tag = tag
        self._did("setExtLocalTag", tag)

    # -- Call (the session's host side) --------------------------------------------------------
    def select(self, name: str) -> str:
        if name == "local_tag":
            return self.local_tag
        return self._selects.get(name, "")

    @property
    def other_id(self) -> str:
        return "" if self.peer is None else self.peer.local_tag

    def play_item(self, item: Any, front: bool) -> None:
        self.media.play(item, front)

    def flush_playlist(self) -> None:
        self.media.flush_playlist()

    def attach_input(self) -> None:
        # SBC meaning: the playlist is the source of what the leg's remote party hears
        # (runtime/sbc/leg_media.py), so the simulated output; it stays the input for keys.
        self.media.attach_playlist(True, self.has_media)

    def media_connect(self) -> None:
        self.has_media = True
        self.in_media_processor = True
        self._did("connectMedia")
        self.media.media_connect()

    def media_disconnect(self) -> None:
        self.in_media_processor = False
        self._did("disconnectMedia")
        self.media.media_disconnect()

    def media_flag(self, flag: str, on: bool) -> None:
        self.media.set_media_flag(flag, on)

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self._did("sendDTMF", str(event), str(duration_ms))

    def bye(self) -> None:
        self._did("bye")
        self.sent.append(_req("BYE", self.invite.uri))

    def send_request(self, method: str, headers: str = "", content_type: str = "", body: str = "") -> None:
        self._did("request", method)
        self.sent.append(_req(method, self.invite.uri, body=body.encode()))
        if method == "BYE":
            self._later(lambda: self.set_status(CallStatus.DISCONNECTED, StopReason.OTHER, "bye"))

    def dialog_reply(self, code: int, reason: str, headers: str = "", sdp: bool = False) -> None:
        self._did("reply", str(code), reason)
        self.owner.replies.append(Reply(code, reason))
        if code >= 300 and self.is_a_leg:
            self.owner.refused_by_script = (code, reason)

    def reply_request(self, request: Any, code: int, reason: str, headers: str = "") -> None:
        method = getattr(request, "method", "")
        self._did("replyRequest", method, str(code), reason)
        self.sent.append(Response(headers=Headers([("CSeq", f"1 {method}")]), status=code, reason=reason))

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        self._did("sendReinvite", "sdp" if generate_sdp else "no-sdp")
        self.sent.append(_req("INVITE", self.invite.uri))

    def set_relay_only(self, on: bool) -> None:
        self.relay_only = on
        self._did("setRelayOnly", str(on).lower())

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        self._did("relayEvent", ";".join(f"{k}={v}" for k, v in params.items()))
        forward = dict(params)

        def work() -> None:
            if self.peer is not None and not self.peer.destroyed:
                self.peer.cc.on_b2b_event(forward, False)

        self._later(work)

    def on_session_end(self) -> None:
        self.media.close()


def _req(method: str, uri: str, body: bytes = b"", headers: Headers | None = None) -> Request:
    return Request(headers=headers if headers is not None else Headers(), body=body, method=method, uri=uri)


def _invite(caller: str, callee: str, headers: Mapping[str, str], sdp: str, number: int) -> Request:
    items = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-sim{number}"),
        ("From", f"<{caller}>;tag=caller-{number}"),
        ("To", f"<{callee}>"),
        ("Call-ID", f"sbc-sim-{number}@dsm.invalid"),
        ("CSeq", "1 INVITE"),
        ("Contact", f"<{caller}>"),
        ("Max-Forwards", "70"),
    ]
    items.extend(headers.items())
    if sdp:
        items.append(("Content-Type", "application/sdp"))
    return Request(method="INVITE", uri=callee, headers=Headers(items), body=sdp.encode())


def _b_invite(plan: LegPlan) -> Request:
    items = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-sbc"),
        ("From", plan.from_),
        ("To", plan.to),
        ("Call-ID", plan.call_id),
        ("CSeq", "10 INVITE"),
        ("Max-Forwards", "69"),
    ]
    if plan.contact:
        items.append(("Contact", plan.contact))
    items.extend(plan.headers)
    if plan.body:
        items.append(("Content-Type", plan.content_type or "application/sdp"))
    return Request(method="INVITE", uri=plan.ruri, headers=Headers(items), body=plan.body)


def _response(request: Request, code: int, reason: str, to_tag: str = "", body: bytes = b"") -> Response:
    to = request.headers.get("To") or ""
    if to_tag and "tag=" not in to:
        to = f"{to};tag={to_tag}"
    items = [
        ("From", request.headers.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.headers.get("CSeq") or "1 INVITE"),
    ]
    if body:
        items.append(("Content-Type", "application/sdp"))
    return Response(headers=Headers(items), status=code, reason=reason, body=body)


class SbcTestCall:
    """One simulated SBC call as a test drives it: the caller, the SBC's legs, the callee."""

    __test__ = False

    def __init__(self, harness: Harness, values: Mapping[str, str], profile: CallProfile, number: int) -> None:
        self.harness = harness
        self.values = dict(values)
        self.base_profile = profile
        self.number = number
        self.legs: list[SimSbcLeg] = []
        self.a: SimSbcLeg | None = None
        self.b: SimSbcLeg | None = None
        self.replies: list[Reply] = []
        """Replies the SBC sent to the caller (refusals, translated error replies, the 200 OK)."""
        self.b_invites: list[Request] = []
        """Every INVITE the SBC sent towards a callee (the relayed one first, then ``sbc.addCallee`` legs)."""
        self.refusal: Refusal | None = None
        self.refused_by_script: tuple[int, str] | None = None
        self._work: deque[Callable[[], None]] = deque()
        self._work_due = False
        self._cseq = 1

    def __repr__(self) -> str:
        return f"<SbcTestCall {self.number} legs={self.legs!r}>"

    # -- leg work between events ------------------------------------------------------------
    def _later(self, work: Callable[[], None]) -> None:
        """Queue leg work; it runs after the current event, at the same virtual time."""
        self._work.append(work)
        if not self._work_due:
            self._work_due = True
            self.harness.clock.call_at(self.harness.clock.now(), self._due)

    def _due(self) -> None:
        self._work_due = False
        self._settle()

    def _settle(self) -> None:
        """Run the legs' queued work (and the events it raises) until nothing is left."""
        self.harness._pump()
        for _ in range(_MAX_WORK):
            if not self._work:
                return
            self._work.popleft()()
            self.harness._pump()
        raise RuntimeError("SBC legs kept asking each other for work (more than 10000 steps)")

    # -- start ---------------------------------------------------------------------------------
    def _start(self, caller: str, callee: str, headers: Mapping[str, str], sdp: str) -> None:
        invite = _invite(caller, callee, headers, sdp, self.number)
        a = SimSbcLeg(self, "A", True, self.base_profile.for_call(), invite)
        self.a = a
        self.legs.append(a)
        a.cc.init(a, self.values)  # Start runs here: sbc.profileSet changes what follows
        self._bind(a)
        self._settle()
        if self.refused_by_script is not None:
            a.destroy()
            self._settle()
            return
        plan = plan_leg(
            a.profile, invite, ("127.0.0.1", 5070), ("127.0.0.1", 5060),
            new_call_id=f"sbc-b-{self.number}@dsm.invalid",
        )
        if isinstance(plan, Refusal):
            self.refusal = plan
            self.replies.append(Reply(plan.code, plan.reason))
            self.harness.note(a.local_tag, "sbc", f"refused {plan.code} {plan.reason}")
            a.destroy()
            self._settle()
            return
        modified = _b_invite(plan)
        a.cc.on_initial_invite(invite, modified)
        self._settle()
        if self.refused_by_script is not None:
            a.destroy()
            self._settle()
            return
        self.b = self._connect_b(a, modified)
        self._settle()

    def _bind(self, leg: SimSbcLeg) -> None:
        s = leg.session
        if s is not None:
            leg.media.bind(s, lambda kind, detail: self.harness.note(s.id, kind, detail))

    def _connect_b(self, a: SimSbcLeg, invite: Request) -> SimSbcLeg:
        b = SimSbcLeg(self, f"B{len(self.legs)}", False, a.profile.for_call(), invite)
        self.legs.append(b)
        self.b_invites.append(invite)
        b.peer, a.peer = a, b
        try:
            b.cc.init(b, self.values)
        except ValueError as exc:
            self.harness.note(a.local_tag, "sbc", f"B leg call control failed: {exc}")
        self._bind(b)
        a.status = CallStatus.NO_REPLY
        return b

    def _new_b_leg(self, a: SimSbcLeg, spec: dict[str, str]) -> None:
        """``sbc.addCallee`` in ``var`` mode: a new B leg for ``a`` from the given parts."""
        remote = spec.get("remote_party") or a.invite.headers.get("To") or ""
        local = spec.get("local_party") or a.invite.headers.get("From") or ""
        items = [("From", local), ("To", remote), ("Call-ID", f"sbc-b{len(self.legs)}-{self.number}@dsm.invalid"),
                 ("CSeq", "10 INVITE")]
        items.extend((k.strip(), v.strip()) for k, _, v in (
            line.partition(":") for line in spec.get("hdrs", "").replace("\r\n", "\n").split("\n") if ":" in line))
        invite = Request(method="INVITE", uri=_uri_of(remote), headers=Headers(items))
        self.b = self._connect_b(a, invite)

    # -- the callee's side ------------------------------------------------------------------
    def _b_reply(self, code: int, reason: str) -> Response:
        b = self._require_b()
        return _response(b.invite, code, reason, f"callee-{self.number}", DEFAULT_SDP.encode() if code == 200 else b"")

    def _require_b(self) -> SimSbcLeg:
        if self.b is None:
            raise RuntimeError("this SBC call has no B leg (refused, or not relayed)")
        return self.b

    def ring(self, code: int = 180, reason: str = "Ringing") -> None:
        """The callee rings: both legs go to Ringing (reason SipReply)."""
        b = self._require_b()
        reply = self._b_reply(code, reason)
        b.set_status(CallStatus.RINGING, StopReason.SIP_REPLY, reply)
        if b.peer is not None:
            b.peer.set_status(CallStatus.RINGING, StopReason.SIP_REPLY, reply)
            self.replies.append(Reply(code, reason))
        self._settle()

    def answer(self) -> None:
        """The callee answers 200 OK: both legs Connected."""
        b = self._require_b()
        reply = self._b_reply(200, "OK")
        b._selects["remote_tag"] = f"callee-{self.number}"
        b.set_status(CallStatus.CONNECTED, StopReason.SIP_REPLY, reply)
        if b.peer is not None:
            b.peer.set_status(CallStatus.CONNECTED, StopReason.SIP_REPLY, reply)
            self.replies.append(Reply(200, "OK"))
        self._settle()

    def refuse(self, code: int = 486, reason: str = "Busy Here") -> None:
        """The callee refuses: the A leg's script gets ``bLegRefused``; unless it stops processing,
        the caller gets the (translated) error reply and the call ends."""
        b = self._require_b()
        reply = self._b_reply(code, reason)
        a = b.peer
        b.set_status(CallStatus.DISCONNECTED, StopReason.SIP_REPLY, reply)
        b.destroy()
        self.b = None
        if a is not None:
            a.peer = None
            self._settle()
            if not a.cc.on_b_leg_refused(reply) and self.b is None:
                out_code, out_reason = translate_reply(a.profile, code, reason)
                self.replies.append(Reply(out_code, out_reason))
                a.set_status(CallStatus.DISCONNECTED, StopReason.SIP_REPLY, reply)
                a.destroy()
        self._settle()

    # -- either side --------------------------------------------------------------------------
    def leg(self, side: str) -> SimSbcLeg:
        leg = self.a if side == "a" else self.b
        if leg is None:
            raise RuntimeError(f"no {side.upper()} leg")
        return leg

    def hangup(self, side: str = "a") -> None:
        """BYE from the caller (``a``) or the callee (``b``): that leg Disconnected (SipRequest),
        the other leg sends BYE on and goes Disconnected (SipReply with the 200 OK); both end."""
        leg = self.leg(side)
        bye = _req("BYE", leg.invite.uri, headers=Headers(_dialog_headers(leg, "2 BYE")))
        leg.set_status(CallStatus.DISCONNECTED, StopReason.SIP_REQUEST, bye)
        peer = leg.peer
        if peer is not None and not peer.destroyed:
            peer.sent.append(_req("BYE", peer.invite.uri))
            peer.set_status(CallStatus.DISCONNECTED, StopReason.SIP_REPLY, _response(peer.invite, 200, "OK"))
            peer.destroy()
        leg.destroy()
        self._settle()

    def request(self, side: str, method: str, headers: Mapping[str, str] | None = None, body: str = "") -> bool:
        """An in-dialog request arriving at leg ``side``; returns whether it was relayed to the peer.

        The leg's script sees ``sipRequest`` (``#StopProcessing=true`` keeps it);
        then the peer's script sees ``B2B.otherRequest`` (same rule).
        """
        leg = self.leg(side)
        self._cseq += 1
        items = [*_dialog_headers(leg, f"{self._cseq} {method}"), *(headers or {}).items()]
        req = _req(method, leg.invite.uri, headers=Headers(items), body=body.encode())
        if leg.cc.on_in_dialog_request(req):
            self._settle()
            return False
        self._settle()
        peer = leg.peer
        if peer is None or peer.destroyed:
            return False
        stopped = peer.cc.on_other_request(req, True)
        self._settle()
        if not stopped:
            peer.sent.append(req)
        return not stopped

    def reply(self, side: str, code: int, reason: str, method: str = "INVITE", body: str = "") -> bool:
        """An in-dialog reply arriving at leg ``side``; returns whether it was relayed to the peer."""
        leg = self.leg(side)
        items = _dialog_headers(leg, f"{self._cseq} {method}")
        if body:
            items.append(("Content-Type", "application/sdp"))
        rep = Response(headers=Headers(items), status=code, reason=reason, body=body.encode())
        if leg.cc.on_in_dialog_reply(rep):
            self._settle()
            return False
        self._settle()
        peer = leg.peer
        if peer is None or peer.destroyed:
            return False
        stopped = peer.cc.on_other_reply(rep, True, method)
        self._settle()
        if not stopped:
            peer.sent.append(rep)
        return not stopped

    def dtmf(self, side: str, key: int, duration_ms: int = 100) -> bool:
        """DTMF detected on leg ``side`` (Key event); whether the script stopped its processing."""
        stopped = self.leg(side).cc.on_dtmf(key, duration_ms)
        self._settle()
        return stopped

    def post_event(self, side: str, params: Mapping[str, str]) -> bool:
        """``postEvent`` to the leg (DSMEvent); whether the script stopped its processing."""
        stopped = self.leg(side).cc.on_event(params)
        self._settle()
        return stopped

    def relay_hook(
        self,
        kind: str,
        method: str = "MESSAGE",
        *,
        code: int = 0,
        headers: Mapping[str, str] | None = None,
        profile: CallProfile | None = None,
    ) -> CallProfile:
        """One simple-relay hook (``kind`` = ``init`` … ``onB2BReply``, M-sbc-24…31) to the A leg's
        script, as the SBC's simple relay raises it for a relayed ``method``; ``code`` adds a
        reply.  Returns the relay's profile (``__call_profile``) after the script's
        ``sbc.profileSet`` calls (a copy of the call's profile unless ``profile`` is given)."""
        leg = self.leg("a")
        relay_profile = profile if profile is not None else self.base_profile.for_call()
        self._cseq += 1
        items = [*_dialog_headers(leg, f"{self._cseq} {method}"), *(headers or {}).items()]
        request = _req(method, leg.invite.uri, headers=Headers(items))
        reply = _response(request, code, "Reply") if code else None
        with_request = kind in ("init", "initUAC", "initUAS", "onSipRequest", "onB2BRequest", "onSipReply")
        old_status = "Connected" if kind == "onSipReply" else ""
        leg.cc.on_relay_event(kind, relay_profile, request if with_request else None, reply, old_status)
        self._settle()
        return relay_profile

    def advance(self, seconds: float) -> None:
        """Let virtual time pass (timers, playlists), then the legs' work."""
        self.harness.clock.advance(seconds)
        self._settle()

    # -- what happened ---------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """Every leg is gone."""
        return all(leg.destroyed for leg in self.legs)

    def transcript(self, side: str = "a") -> str:
        leg = self.leg(side) if (self.a if side == "a" else self.b) is not None else None
        return "" if leg is None else self.harness.transcript_of(leg.local_tag)


def start_sbc_call(
    harness: Harness,
    values: Mapping[str, str],
    *,
    caller: str = "sip:alice@example.org",
    callee: str = "sip:bob@example.net",
    headers: Mapping[str, str] | None = None,
    profile: CallProfile | None = None,
    sdp: str = DEFAULT_SDP,
) -> SbcTestCall:
    """Start a simulated SBC call whose legs run the call-control values ``values``.

    ``values`` are the entry's call-control values as the relay passes them
    (``app_bundle``, ``start_diag``, others); a bad bundle or diagram raises
    :class:`ValueError` like the relay's failing call-control init.
    """
    number = len(harness.sbc_calls) + 1
    call = SbcTestCall(harness, values, profile if profile is not None else CallProfile("transparent"), number)
    harness.sbc_calls.append(call)
    call._start(caller, callee, dict(headers or {}), sdp)
    return call


def _dialog_headers(leg: Any, cseq: str) -> list[tuple[str, str]]:
    """From, To, Call-ID and ``CSeq: cseq`` of a simulated in-dialog message on ``leg``."""
    headers = leg.invite.headers
    return [("From", headers.get("From") or ""), ("To", headers.get("To") or ""),
            ("Call-ID", leg.invite.call_id), ("CSeq", cseq)]  # fmt: skip
