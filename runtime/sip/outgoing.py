"""Outgoing SIP calls: the host service behind ``dlg.dialout`` (M-dlg-6).

:func:`dialout` is what a SIP-serving host installs as ``engine.dialout``:
it binds an RTP port, sends an INVITE with our SDP offer (PCMU, PCMA and
telephone-event, :func:`~dsm.runtime.sip.sdp.make_offer`) through the SIP
core (:meth:`UserAgentServer.invite`), and starts a session running the
application with ``outgoing=True`` (its Start, E-9).  The call is an
:class:`OutgoingSipCall`, a :class:`~dsm.runtime.sip.sipcall.SipCall` whose
INVITE went the other way: everything inside the dialog (BYE and other
requests from the callee, SipRequest events, re-INVITEs, media, ``dlg.bye``
/ ``dlg.info``) is the incoming call's code.  What differs are the answers to
our INVITE, which the core reports as ``CallProgress``, ``CallAnswered`` and
``CallFailed`` (E-151, order of E-152):

* a provisional reply (101-199) without SDP: ``Ringing`` with ``code``,
  ``reason``, ``has_body``;
* the first 18x with a usable SDP answer: ``EarlySession`` (the RTP stream
  starts; unless ``$connect_early_session`` is ``0`` the playlist is
  attached) -- unless ``$accept_early_session`` was ``0`` when the INVITE
  was sent, then it is a ``Ringing`` with ``has_body=true``.  A 180 with
  SDP gives ``Ringing`` first;
* 2xx: the SDP answer is taken (from the 2xx, else the early one),
  ``SessionStart``, then RTP receiving on and, unless ``$connect_session``
  is ``0``, the playlist connected -- as for an incoming call;
* a final failure (3xx-6xx, or no answer at all: ``408 Request
  Timeout``): ``FailedCall`` with ``code`` and ``reason``, then the session
  is stopped (always);
* ``stop(true)`` (or the end of the session): BYE when connected, CANCEL
  while trying or ringing (the core holds a CANCEL back until the first
  provisional reply, RFC 3261 9.1; a 2xx that crosses it is ACKed and
  ended with BYE).

A ``401``/``407`` is answered with digest credentials when ``auth_user``
and ``auth_pwd`` are given (MD5 or SHA-256), a ``3xx`` is followed to its
Contact (at most five times), and a request URI with ``;transport=tcp``
is called over TCP (:mod:`dsm.runtime.sip.invite_retry`); only the final
outcome reaches the script.  Limits, on purpose: a 2xx without any
usable SDP answer is ACKed, ended with BYE and reported as ``FailedCall``
``488 Not Acceptable Here``; outgoing calls have no session timer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from functools import partial

from mypy_extensions import mypyc_attr

from dsm.runtime.call import DialogError
from dsm.runtime.events import regardless
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.invite_retry import OutgoingInvite
from dsm.runtime.sip.message import Response
from dsm.runtime.sip.rtp_session import RtpSession
from dsm.runtime.sip.sdp import SessionDescription, make_offer
from dsm.runtime.sip.sipcall import SipCall, SipCalls, header_lines
from dsm.runtime.sip.uri import SipUri, parse_uri
from dsm.runtime.sip.useragent import (
    CallAnswered,
    CallFailed,
    CallProgress,
    NewCall,
    UserAgentError,
)

__all__ = ["OutgoingSipCall", "dialout"]


def _nothing() -> None:
    """No host default: the script saw the answer as SipReply."""


def _has_sdp(response: Response) -> bool:
    return bool(response.body) and response.content_type == "application/sdp"


def _user_and_host(uri: str) -> tuple[str, str]:
    """User and host of a SIP URI (``("", "")`` when it is none)."""
    try:
        parsed = parse_uri(uri)
    except ParseError:
        return "", ""
    if isinstance(parsed, SipUri):
        return parsed.user or "", parsed.host
    return "", ""


@mypyc_attr(native_class=False, allow_interpreted_subclasses=True)  # compiled: a Python class
class OutgoingSipCall(SipCall):
    """One outgoing SIP call and its session; see the module docstring.

    Built after the core sent the INVITE, from that INVITE: the base class
    takes it like an incoming one, then the selects are turned round (the
    local party is the From, the remote one the To; ``user``/``domain`` are
    those of the From URI, the local side as for an incoming call).
    """

    def __init__(
        self,
        calls: SipCalls,
        new: NewCall,
        media: CallMedia,
        rtp: RtpSession,
        offer: SessionDescription,
        *,
        from_: str,
        from_uri: str,
        r_uri: str,
        to: str,
    ) -> None:
        super().__init__(calls, new, media, rtp, None)
        self.peer_body, self.peer_content_type = b"", ""
        self.b2b_headers = ""  # A-core-53: an outgoing call's header block starts empty
        self.outgoing_invite: OutgoingInvite | None = None
        """The INVITE as sent, for re-sending it after 401/407 or 3xx."""
        self.local_sdp = offer
        self.accept_early_session = True
        """``$accept_early_session`` was not ``0`` when the INVITE was sent (E-167)."""
        self.early_session = False
        """An early session (18x with SDP) was started."""
        user, domain = _user_and_host(from_uri)
        self._selects.update(
            {
                "user": user,
                "domain": domain,
                "remote_tag": "",
                "local_uri": from_uri,
                "local_party": from_,
                "remote_uri": r_uri,
                "remote_party": to,
            }
        )

    # -- the answers to our INVITE --------------------------------------------------------
    def outgoing_event(self, event: CallProgress | CallAnswered | CallFailed) -> None:
        """The answers to our INVITE; with ``$enable_reply_events`` the script sees SipReply first.

        ``#processed=true`` on a provisional or failure reply keeps the host
        from raising Ringing/EarlySession/FailedCall for it (E-151); a 2xx is
        always taken, since the core has already ACKed it.
        """
        if isinstance(event, CallProgress):
            provisional = event.response
            status = "Early" if provisional.status > 100 else "Trying"
            self.reply_event(provisional, partial(self.progress, provisional), status)
        elif isinstance(event, CallAnswered):
            self.reply_event(event.response, _nothing, "Connected")
            self.answered_call(event.response)
        elif (failure := event.response) is not None:
            self.reply_event(failure, partial(self.failed, failure), "Disconnected")
        else:
            self.failed(None)

    def progress(self, response: Response) -> None:
        """A provisional reply: Ringing, or EarlySession for the first usable SDP (E-151)."""
        status = response.status
        if status <= 100 or self.dialog not in ("trying", "early"):
            return
        self._remote_tag(response)
        self.dialog = "early"
        early = (
            _has_sdp(response)
            and self.accept_early_session
            and not self.early_session
            and self._use_answer(response.body)
        )
        if status == 180 or not early:
            has_body = "true" if response.body else "false"
            self._deliver(
                "Ringing", {"code": str(status), "reason": response.reason, "has_body": has_body}
            )
        if early:
            self.early_session = True
            self.rtp.start()
            self._deliver_then("EarlySession", None, partial(self._connect, "connect_early_session"))

    def answered_call(self, response: Response) -> None:
        """The 2xx (already ACKed by the core): SDP answer, SessionStart, media (E-151)."""
        if self.dialog == "disconnected":  # given up while the 2xx was on its way
            self._send_bye()
            return
        self._remote_tag(response)
        self.dialog = "connected"
        usable = (
            self._use_answer(response.body) if _has_sdp(response) else self.negotiated is not None
        )
        if not usable:
            self.calls.log(
                "sip", "warn", call=self.call_id, msg="2xx without a usable SDP answer: BYE"
            )
            self.bye()
            self._fail(488, "Not Acceptable Here")
            return
        self.rtp.start()
        self._deliver_then("SessionStart", None, partial(self._connect, "connect_session"))

    def failed(self, response: Response | None) -> None:
        """A final failure or no answer: FailedCall, then the session is stopped (E-151).

        401/407 (with credentials) and 3xx are first tried again (``invite_retry``).
        """
        invite = self.outgoing_invite
        if invite is not None and self.dialog != "disconnected" and invite.retry(response):
            try:
                invite.send(self.calls.run, self.calls.core)
            except UserAgentError as exc:
                self.calls.log("sip", "warn", call=self.call_id, msg=f"INVITE not re-sent: {exc}")
            else:
                self.invite = self.calls.core.calls[self.call_id].invite
                self.dialog = "trying"
                return
        self.dialog = "disconnected"
        self.rtp.close()
        if response is None:
            self._fail(408, "Request Timeout")
        else:
            self._remote_tag(response)
            self._fail(response.status, response.reason)

    # -- dialog end ---------------------------------------------------------------------
    def bye(self) -> None:
        """``stop(true)``: BYE when connected, CANCEL while the INVITE is unanswered."""
        state, self.dialog = self.dialog, "disconnected"
        self.stop_session_timer()
        self.rtp.close()
        if state == "connected":
            self._send_bye()
        elif state in ("trying", "early"):
            try:
                self.calls.run_at(self.calls.core.cancel, self.call_id)
            except UserAgentError as exc:
                self.calls.log("sip", "debug", call=self.call_id, msg=f"cancel: {exc}")

    def dialog_reply(self, code: int, reason: str, headers: str = "", sdp: bool = False) -> None:
        """``dlg.reply``/``dlg.acceptInvite``: an outgoing call has no INVITE to answer."""
        raise DialogError("an outgoing call has no incoming INVITE to reply to")

    # -- helpers -------------------------------------------------------------------------
    def _send_bye(self) -> None:
        try:
            self.calls.run_at(self.calls.core.bye, self.call_id)
        except UserAgentError as exc:
            self.calls.log("sip", "debug", call=self.call_id, msg=f"bye: {exc}")

    def _use_answer(self, body: bytes) -> bool:
        """Take an SDP answer to our offer (the incoming call's ACK-answer code); usable?"""
        before = self.negotiated
        self._take_answer(body)
        usable = self.negotiated is not None and self.negotiated is not before
        if usable:
            self.peer_body, self.peer_content_type = body, "application/sdp"
        return usable

    def _remote_tag(self, response: Response) -> None:
        with contextlib.suppress(ParseError):
            tag = response.to_tag
            if tag:
                self._selects["remote_tag"] = tag

    def _deliver_then(
        self, event_type: str, params: dict[str, str] | None, after: Callable[[], None]
    ) -> None:
        session = self.session
        if session is not None and not session.ended:
            session.deliver(event_type, params, on_done=regardless(after))

    def _connect(self, switch: str) -> None:
        """What the host does after SessionStart/EarlySession: receive, and attach unless ``0``."""
        session = self.session
        if session is None or session.ended:
            return
        self.set_media_flag("receiving", True)
        if session.vars.get(switch) != "0":
            self.media_connect()

    def _fail(self, code: int, reason: str) -> None:
        session = self.session
        if session is None or session.ended:
            return
        session.deliver(
            "FailedCall",
            {"code": str(code), "reason": reason},
            on_done=regardless(session.stop),
        )


def dialout(
    calls: SipCalls,
    app: str,
    *,
    r_uri: str,
    from_: str,
    from_uri: str,
    to: str,
    local_tag: str = "",
    headers: str = "",
    auth_user: str = "",
    auth_pwd: str = "",
    variables: Mapping[str, str] | None = None,
) -> str:
    """Place an outgoing call running ``app``; returns its local tag (the session id).

    The host service of ``dlg.dialout`` (M-dlg-6), bound to ``calls`` with
    :func:`functools.partial`.  ``headers`` (a CRLF block) go into the
    INVITE; ``variables`` become the new session's variables (E-170).
    Raises :class:`LookupError` for an unknown application,
    :class:`ValueError` for a local tag in use or an INVITE that cannot be
    built (bad URI, bad header), :class:`OSError` when no RTP port is free.
    REFERENCE QUIRK (E-12): the application ``dsm`` is accepted, and its
    session gets an empty start diagram, so its start fails.
    """
    engine = calls.engine
    if app != "dsm" and app not in engine.apps:
        raise LookupError(f"no application named {app!r}")
    if local_tag and local_tag in engine.addresses:
        raise ValueError(f"local tag {local_tag!r} is in use")
    target = _parse_target(r_uri)
    call_id = f"{calls.rng.getrandbits(64):016x}@{calls.host}"
    holder: list[OutgoingSipCall] = []
    media, rtp = calls.media_for(app, call_id, holder)
    offer = make_offer(
        address=calls.host, port=rtp.local_port, session_id=calls.session_id(call_id)
    )
    outgoing_invite = OutgoingInvite(
        ruri=r_uri,
        from_=from_,
        to=to,
        body=bytes(offer),
        content_type=None,
        headers=header_lines(headers),
        call_id=call_id,
        auth_user=auth_user,
        auth_pwd=auth_pwd,
        rng=calls.rng,
    )
    try:
        outgoing_invite.send(calls.run, calls.core)
    except UserAgentError as exc:
        rtp.close()
        raise ValueError(f"cannot place the call: {exc}") from None
    invite = calls.core.calls[call_id].invite
    call = OutgoingSipCall(
        calls,
        NewCall(call_id, invite, target),
        media,
        rtp,
        offer,
        from_=from_,
        from_uri=from_uri,
        r_uri=r_uri,
        to=to,
    )
    call.local_tag = local_tag
    call.app = app
    call.outgoing_invite = outgoing_invite
    holder.append(call)
    calls.calls[call_id] = call
    calls.remember(call)
    try:
        session = engine.start_call(app, call, dict(variables or {}), headers, outgoing=True)
    except Exception:
        calls.forget(call)
        call.bye()
        raise
    call.session = session
    call.accept_early_session = session.vars.get("accept_early_session") != "0"
    auth = " (with credentials)" if auth_user and auth_pwd else ""
    calls.log(
        "call",
        call=call_id,
        app=app,
        session=session.id,
        direction="out",
        to=r_uri,
        msg=f"dialout{auth}",
    )
    return session.id


def _parse_target(r_uri: str) -> tuple[str, int]:
    """Where the INVITE goes: the R-URI's host and port (no DNS here)."""
    try:
        target = parse_uri(r_uri)
    except ParseError as exc:
        raise ValueError(f"bad request URI {r_uri!r}: {exc.reason}") from None
    if not isinstance(target, SipUri):
        raise ValueError(f"not a SIP URI: {r_uri!r}")
    return target.address()
