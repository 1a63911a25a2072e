"""A sans-I/O SIP user agent core for one listening address.

It serves incoming calls (the UAS role the DSM server needs first) and can
also place outgoing calls (:meth:`UserAgentServer.invite`, for dial-out).

:class:`UserAgentServer` ties the parser, the transactions and the dialogs
together.  The transport shell feeds it datagrams and time and sends what it
returns; the transaction user (the call layer that runs DSM sessions) gets
events and answers through methods::

    outputs = core.receive(datagram, source, now)
    outputs = core.handle_timeout(now)          # when now >= core.next_timeout()
    outputs = core.reply(call_id, 200, body=sdp, content_type="application/sdp", now=now)
    outputs = core.bye(call_id, now=now)
    call_id, outputs = core.invite("sip:bob@192.0.2.9", from_uri="<sip:dsm@192.0.2.1>", now=now)

Every method returns a list of :class:`Datagram` (bytes and destination) and
events (:class:`NewCall`, :class:`CallCancelled`, :class:`CallEnded`,
:class:`AckReceived`, :class:`AckTimeout`, :class:`InDialogRequest`,
:class:`ResponseToRequest`, :class:`RequestFailed`, :class:`CallProgress`,
:class:`CallAnswered`, :class:`CallFailed`, :class:`Dropped`).

What the core answers by itself (RFC 3261 section 8.2 and 12-15):

* ``100 Trying`` to a new INVITE at once; retransmissions are absorbed by
  the transactions; the 2xx to INVITE is retransmitted until the ACK;
* ``OPTIONS`` outside a dialog: ``200`` with Allow/Accept; while the node
  drains (``unavailable`` set) ``503`` with Retry-After, as for a new INVITE;
* ``CANCEL``: ``200``, then ``487`` to the INVITE if it is unanswered;
  ``481`` when no INVITE matches;
* ``BYE``: ``200`` and :class:`CallEnded` -- unless the core was made with
  ``bye_to_tu=True``: then a BYE is an :class:`InDialogRequest` like any
  other, and the TU's 2xx through :meth:`UserAgentServer.reply_request` ends
  the call (the DSM host lets a script see the BYE first, E-151 SipRequest);
* in-dialog requests with an unknown dialog: ``481``; CSeq lower than the
  last one: ``500``; a second re-INVITE while one is pending: ``500`` with
  Retry-After;
* out-of-dialog methods we do not serve: ``405`` (known) or ``501``;
  ``Require`` with an option tag not in ``extensions``: ``420`` with
  Unsupported (``extensions`` are also listed in ``Supported``);
* a message over ``max_message_bytes`` or with more than ``max_headers``
  header lines is not parsed: over UDP it is dropped, over TCP a request
  gets ``513 Message Too Large`` built from its Via/From/To/Call-ID/CSeq
  alone (:meth:`UserAgentServer.reject_too_large`); both are counted in
  the :class:`~dsm.runtime.sip.limits.SipCounters`;
* malformed requests: ``400`` with the parser's reason as phrase when Via,
  From, To, Call-ID and CSeq were usable, otherwise dropped (RFC 3261 says a
  response cannot be routed without them);
* for outgoing calls: the ACK to every 2xx (again for each retransmission;
  a 2xx from a second fork is ACKed and otherwise ignored) and a CANCEL that
  waits for the first provisional response (RFC 3261 9.1).

Transports (RFC 3261 section 18): UDP, and TCP for the calls we answer.
:meth:`UserAgentServer.receive` is told the transport a message came over.
Requests that came over TCP get reliable server transactions (no
retransmission timers, Timers I and J zero) and their responses go back to
the connection's peer (18.2.2).  A call answered over TCP is a TCP dialog:
the core's own requests in it (BYE, re-INVITE/UPDATE refreshes, INFO) and
its ACKs go over TCP with ``Via: SIP/2.0/TCP``, and our Contact says
``;transport=tcp``; a ``transport`` parameter on the next hop (the remote
target or the first route) overrides the dialog's transport either way.
Our 2xx to an INVITE is retransmitted until the ACK on every transport, as
RFC 3261 13.3.1.4 asks ("even if the transport at the UAS is reliable":
a hop further on may be UDP).  Outgoing INVITEs (:meth:`invite`) go over
UDP, or over TCP when the request URI says ``;transport=tcp``.  Every
:class:`Datagram` says its ``transport``.

The core never lets an exception escape :meth:`receive` or
:meth:`handle_timeout`: a datagram that breaks something is dropped (a
:class:`Dropped` event says why) and no other call is touched.  Calls are
keyed by Call-ID; a new INVITE reusing a live Call-ID is answered ``482``.
The TU's own mistakes (unknown call, reply in the wrong state) raise
:class:`UserAgentError` to the TU.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

from dsm.runtime.sip.dialog import Dialog, TwoXXRetransmitter, cancel_responses
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.limits import DEFAULT_LIMITS, SipCounters
from dsm.runtime.sip.message import (
    Request,
    Response,
    essential_request,
    header_count,
    parse_message,
)
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.timer_heap import NotifyingDict, TimerHeap
from dsm.runtime.sip.transaction import (
    MAGIC_COOKIE,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Output,
    ResponseReceived,
    Send,
    TimedOut,
    TimerSettings,
    TransactionKey,
    client_key,
    server_key,
)
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_uri

__all__ = [
    "UserAgentServer",
    "UserAgentError",
    "Address",
    "Datagram",
    "NewCall",
    "CallCancelled",
    "CallEnded",
    "AckReceived",
    "AckTimeout",
    "InDialogRequest",
    "ResponseToRequest",
    "RequestFailed",
    "CallProgress",
    "CallAnswered",
    "CallFailed",
    "Dropped",
    "Event",
    "UAOutput",
]

Address = tuple[str, int]

ALLOWED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
_KNOWN_METHODS = frozenset(
    {"REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH", *ALLOWED_METHODS}
)
_DIALOG_ONLY = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})


@dataclass(frozen=True, slots=True)
class Datagram:
    """Bytes to send to ``destination`` (host, port) over ``transport``; the host may be a name.

    ``transport`` is ``"udp"`` (one datagram) or ``"tcp"`` (one message on
    the stream connected to ``destination``; the shell opens one if needed).
    """

    data: bytes
    destination: Address
    transport: str = "udp"


@dataclass(frozen=True, slots=True)
class NewCall:
    """A new INVITE arrived (100 Trying already sent); answer with :meth:`UserAgentServer.reply`."""

    call_id: str
    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class CallCancelled:
    """The caller cancelled the unanswered INVITE (200 and 487 already sent)."""

    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The peer sent BYE (200 already sent); the call is gone from the core."""

    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for our 2xx (to the INVITE or a re-INVITE); it may carry an SDP answer."""

    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """No ACK for our 2xx within 64*T1 (``onNoAck``); a queued or new BYE is up to the TU."""

    call_id: str


@dataclass(frozen=True, slots=True)
class InDialogRequest:
    """re-INVITE, INFO, UPDATE, OPTIONS … inside a dialog; answer with ``reply_request``."""

    call_id: str
    request: Request
    transaction: TransactionKey


@dataclass(frozen=True, slots=True)
class ResponseToRequest:
    """A response to a request we sent in a dialog (BYE, INFO, re-INVITE …)."""

    call_id: str
    request: Request
    response: Response


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """A request we sent got no final response (Timer B or F)."""

    call_id: str
    request: Request
    reason: str


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A provisional response to our outgoing INVITE (180: Ringing, 183: early media)."""

    call_id: str
    response: Response


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """Our outgoing INVITE got its 2xx; the ACK is already sent."""

    call_id: str
    response: Response


@dataclass(frozen=True, slots=True)
class CallFailed:
    """Our outgoing INVITE failed: a 3xx-6xx (``response``) or no answer (``None``)."""

    call_id: str
    response: Response | None
    reason: str


@dataclass(frozen=True, slots=True)
class Dropped:
    """A datagram was ignored; ``reason`` says why (for logs)."""

    reason: str
    source: Address | None


Event = (
    NewCall
    | CallCancelled
    | CallEnded
    | AckReceived
    | AckTimeout
    | InDialogRequest
    | ResponseToRequest
    | RequestFailed
    | CallProgress
    | CallAnswered
    | CallFailed
    | Dropped
)
UAOutput = Datagram | Event


class UserAgentError(ValueError):
    """The transaction user asked for something impossible (unknown call, wrong state)."""


class _ReplyTo(NamedTuple):
    """Where the responses to a received request go, and over which transport."""

    address: Address
    transport: str


ServerTransaction: TypeAlias = InviteServerTransaction | NonInviteServerTransaction
ClientTransaction: TypeAlias = InviteClientTransaction | NonInviteClientTransaction


@dataclass(slots=True)
class _ServerEntry:
    transaction: ServerTransaction
    call_id: str | None
    destination: Address
    tu_deadline: float | None = None
    key: TransactionKey | None = None
    """Set when the entry is put into the table (the timer heap finds it back by it)."""
    transport: str = "udp"
    """The transport the request came over; its responses go back the same way."""


@dataclass(slots=True)
class _ClientEntry:
    transaction: ClientTransaction
    call_id: str
    destination: Address
    key: TransactionKey | None = None
    """Set when the entry is put into the table (the timer heap finds it back by it)."""
    transport: str = "udp"


@dataclass(slots=True)
class _Call:
    call_id: str
    invite: Request
    invite_key: TransactionKey
    source: Address
    local_tag: str
    state: str = "incoming"
    """UAS: incoming, early, confirmed.  UAC: calling, ringing, confirmed."""
    role: str = "uas"
    dialog: Dialog | None = None
    _retransmitter: TwoXXRetransmitter | None = None
    bye_pending: list[tuple[str, str]] | None = None
    pending_reinvite: TransactionKey | None = None
    acks: dict[tuple[int, str], Request] = field(default_factory=dict)
    """ACKs we sent for 2xx to our INVITEs, by (CSeq number, To tag); resent on retransmission."""
    cancel_pending: bool = False
    on_timer: Callable[[_Call], None] | None = None
    """The core's timer heap, told when a new 2xx retransmitter starts its timers."""
    transport: str = "udp"
    """The transport of the dialog-creating INVITE: the dialog's transport (RFC 3261 12.1)."""
    twoxx_route: tuple[Address, str] | None = None
    """Destination and transport of the 2xx being retransmitted (that of its INVITE)."""

    @property
    def retransmitter(self) -> TwoXXRetransmitter | None:
        """The 2xx retransmitter of the last INVITE we answered with 2xx, if any."""
        return self._retransmitter

    @retransmitter.setter
    def retransmitter(self, value: TwoXXRetransmitter | None) -> None:
        self._retransmitter = value
        if value is not None and self.on_timer is not None:
            self.on_timer(self)


_TimerOwner: TypeAlias = "_ServerEntry | _ClientEntry | _Call"


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


class UserAgentServer:
    """The UAS core; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timers: TimerSettings | None = None,
        rng: random.Random | None = None,
        user_agent: str = "dsm-runtime",
        tu_reply_timeout: float | None = None,
        bye_to_tu: bool = False,
        extensions: Iterable[str] = (),
        max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes,
        max_headers: int = DEFAULT_LIMITS.max_headers,
        counters: SipCounters | None = None,
    ) -> None:
        self.host = host
        self.max_message_bytes = max_message_bytes
        self.max_headers = max_headers
        self.counters = counters if counters is not None else SipCounters()
        self.bye_to_tu = bye_to_tu
        self.unavailable: int | None = None
        """Retry-After seconds while the node drains: new INVITEs and OPTIONS get ``503``."""
        self.extensions = tuple(extensions)
        self.port = port
        self.timers = timers or TimerSettings()
        self._rng = rng or random.Random()
        self.user_agent = user_agent
        self.tu_reply_timeout = (
            tu_reply_timeout if tu_reply_timeout is not None else self.timers.timeout / 2
        )
        self._timers: TimerHeap[_TimerOwner] = TimerHeap(self._deadline_of)
        self.calls: dict[str, _Call] = NotifyingDict(self._call_added)
        self._server: dict[TransactionKey, _ServerEntry] = NotifyingDict(self._server_added)
        self._client: dict[TransactionKey, _ClientEntry] = NotifyingDict(self._client_added)
        self.errors = 0
        self.dialog_requests: Callable[[Request, float], int | None] | None = None
        """Requests in dialogs that are no calls (subscriptions): returns the status to answer, or ``None``."""

    # ------------------------------------------------------------------ I/O

    @property
    def contact(self) -> str:
        """Our Contact for UDP (no ``transport`` parameter: UDP is the default)."""
        return self.contact_for("udp")

    def contact_for(self, transport: str) -> str:
        """Our Contact for requests and responses sent over ``transport``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        param = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{host}:{self.port}{param}>"

    def receive(
        self, data: bytes, source: Address, now: float, transport: str = "udp"
    ) -> list[UAOutput]:
        """Process one message from ``source`` (a datagram, or one framed from a stream); never raises.

        ``transport`` is ``"udp"`` or ``"tcp"``: over TCP ``source`` is the
        connection's peer, the message must carry Content-Length (RFC 3261
        18.3) and its transactions are reliable.
        """
        try:
            if len(data) > self.max_message_bytes:
                return self.reject_too_large(data[: self.max_message_bytes], source, transport)
            if header_count(data) > self.max_headers:
                return self.reject_too_large(data, source, transport, "Too many headers")
            return self._receive(data, source, now, transport)
        except Exception as exc:  # noqa: BLE001 - one bad datagram must not stop the server
            self.errors += 1
            return [Dropped(f"internal error: {type(exc).__name__}: {exc}", source)]

    def reject_too_large(
        self, head: bytes, source: Address, transport: str, why: str = "Message too large"
    ) -> list[UAOutput]:
        """A message over the limits (``head``: its first bytes): UDP drop, TCP ``513`` (RFC 3261 18.1.1).

        Nothing but the start line and the essential headers is looked at,
        so a hostile message costs no more than a scan of its head.
        """
        if transport == "udp":
            self.counters.sip_too_large_dropped += 1
            return [Dropped(f"{why.lower()}: dropped", source)]
        self.counters.sip_too_large_rejected += 1
        request = essential_request(head)
        if request is None or request.method == "ACK":
            return [Dropped(f"{why.lower()}: not answerable", source)]
        self._stamp_via(request, source)
        response = make_response(request, 513, "Message Too Large")
        address = _reply_destination(request, source, transport)
        return [Datagram(bytes(response), address, transport), Dropped(why.lower(), source)]

    def next_timeout(self) -> float | None:
        """The earliest time at which :meth:`handle_timeout` has work.

        O(1) amortised: the top of the timer heap, after dropping entries
        whose timer was stopped or whose transaction is gone.
        """
        return self._timers.earliest()

    def handle_timeout(self, now: float) -> list[UAOutput]:
        """Fire every timer due at ``now``, earliest first; never raises."""
        out: list[UAOutput] = []
        for owner in self._timers.pop_due(now):
            try:
                if isinstance(owner, _ServerEntry):
                    assert owner.key is not None
                    out += self._server_timeouts(owner.key, owner, now)
                elif isinstance(owner, _ClientEntry):
                    out += self._client_timeouts(owner, now)
                else:
                    out += self._call_timeouts(owner, now)
            except Exception as exc:  # noqa: BLE001
                self.errors += 1
                self._forget(owner)
                out.append(Dropped(f"internal error: {type(exc).__name__}: {exc}", None))
                continue
            self._reschedule(owner)
        return out

    # ------------------------------------------------------------ TU API

    def reply(
        self,
        call_id: str,
        status: int,
        reason: str | None = None,
        *,
        now: float,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> list[UAOutput]:
        """Answer the call's INVITE: 1xx, 2xx (starts the dialog) or 3xx-6xx.

        A 100 (the core sent one already; a script may send its own, with its
        reason) carries no To tag and changes nothing in the call.
        """
        call = self._call(call_id)
        if call.role != "uas":
            raise UserAgentError(f"call {call_id!r} is an outgoing call")
        if call.state not in ("incoming", "early"):
            raise UserAgentError(f"call {call_id!r} is already answered")
        if not 100 <= status <= 699:
            raise UserAgentError(f"cannot reply {status} to an INVITE")
        entry = self._server.get(call.invite_key)
        if entry is None or not isinstance(entry.transaction, InviteServerTransaction):
            raise UserAgentError(f"call {call_id!r} has no INVITE transaction")
        if status == 100:
            trying = make_response(
                call.invite, 100, reason, headers=[("Server", self.user_agent), *headers]
            )
            return self._server_outputs(entry, entry.transaction.send_response(trying, now))
        response = self._response(
            call.invite,
            status,
            reason,
            call.local_tag,
            body,
            content_type,
            headers,
            entry.transport,
        )
        out = self._server_outputs(entry, entry.transaction.send_response(response, now))
        if status < 200:
            if call.dialog is None:
                call.dialog = Dialog.uas(call.invite, response, self.contact_for(call.transport))
            call.state = "early"
        elif status < 300:
            call.dialog = Dialog.uas(call.invite, response, self.contact_for(call.transport))
            call.state = "confirmed"
            self._retransmit_2xx(call, entry, response, now)
        else:
            del self.calls[call_id]
        return out

    def reply_request(
        self,
        call_id: str,
        transaction: TransactionKey,
        status: int,
        reason: str | None = None,
        *,
        now: float,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> list[UAOutput]:
        """Answer an :class:`InDialogRequest` (re-INVITE, INFO, UPDATE, OPTIONS …)."""
        call = self._call(call_id)
        entry = self._server.get(transaction)
        if entry is None or entry.call_id != call_id:
            raise UserAgentError(f"no pending request {transaction!r} in call {call_id!r}")
        if entry.tu_deadline is None:
            raise UserAgentError("that request has already been answered")
        request = entry.transaction.request
        if not 100 <= status <= 699:
            raise UserAgentError(f"bad status {status}")
        response = self._response(
            request,
            status,
            reason,
            call.local_tag,
            body,
            content_type,
            headers,
            entry.transport,
        )
        out = self._server_outputs(entry, entry.transaction.send_response(response, now))
        if entry.transaction.terminated:  # reliable transports: no Timer J to wait for
            self._server.pop(transaction, None)
        if status >= 200:
            entry.tu_deadline = None
            if request.method == "BYE" and status < 300:
                out += self._end_by_bye(call, now)
            if call.pending_reinvite == transaction:
                call.pending_reinvite = None
            if request.method == "INVITE" and status < 300:
                self._retransmit_2xx(call, entry, response, now)
            if request.method in ("INVITE", "UPDATE") and status < 300 and call.dialog is not None:
                if _dialog_header_problem(request) is None and request.contact is not None:
                    call.dialog.remote_target = str(request.contact.uri)
        return out

    def bye(
        self, call_id: str, *, now: float, headers: Iterable[tuple[str, str]] = ()
    ) -> list[UAOutput]:
        """End an answered call with BYE; before the ACK the BYE waits for it (RFC 3261 15)."""
        call = self._call(call_id)
        if call.state != "confirmed" or call.dialog is None:
            raise UserAgentError(f"call {call_id!r} is not answered; reply with a final response")
        if call.retransmitter is not None and not call.retransmitter.done:
            call.bye_pending = list(headers)
            return []
        return self._send_bye(call, list(headers), now)

    def send_request(
        self,
        call_id: str,
        method: str,
        *,
        now: float,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> list[UAOutput]:
        """Send INFO, UPDATE, OPTIONS, re-INVITE … in the call's dialog."""
        call = self._call(call_id)
        if call.dialog is None or call.state != "confirmed":
            raise UserAgentError(f"call {call_id!r} has no confirmed dialog")
        if method in ("ACK", "CANCEL", "BYE"):
            raise UserAgentError(f"{method} is sent by the core itself")
        return self._send_in_dialog(call, method, now, body, content_type, list(headers))

    def send_outside_call(
        self, owner: str, request: Request, destination: Address, *, now: float
    ) -> list[UAOutput]:
        """Send a non-INVITE request that belongs to no call (a SUBSCRIBE) with a fresh Via.

        Answers come back as :class:`ResponseToRequest` / :class:`RequestFailed`
        with ``call_id`` = ``owner``.
        """
        request.headers.replace_first("Via", self._via())
        transaction = NonInviteClientTransaction(request, now, self.timers)
        entry = _ClientEntry(transaction, owner, destination)
        self._client[client_key(request)] = entry
        return self._client_outputs(entry, transaction.start(), now)

    def invite(
        self,
        uri: str,
        *,
        from_uri: str,
        now: float,
        to: str | None = None,
        destination: Address | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        call_id: str | None = None,
        local_tag: str | None = None,
        cseq: int = 1,
    ) -> tuple[str, list[UAOutput]]:
        """Start an outgoing call; returns its Call-ID and the INVITE to send.

        ``uri`` is the Request-URI (and the To address unless ``to`` is
        given); ``destination`` defaults to the URI's host and port (no DNS
        here: a host name is left to the transport shell).  A URI with
        ``;transport=tcp`` sends over TCP (RFC 3261 18.1.1).  ``local_tag``
        and ``cseq`` repeat a failed INVITE with credentials (RFC 3261
        22.2: same From tag and Call-ID, a higher CSeq).  Outcomes arrive as
        :class:`CallProgress`, :class:`CallAnswered` or :class:`CallFailed`.
        """
        try:
            target = parse_uri(uri)
            from_address = NameAddress.parse(from_uri)
            to_address = NameAddress.parse(to if to is not None else f"<{uri}>")
        except ParseError as exc:
            raise UserAgentError(f"bad address: {exc.reason}") from None
        if not isinstance(target, SipUri):
            raise UserAgentError(f"not a SIP URI: {uri!r}")
        transport = target.transport
        if transport not in ("udp", "tcp"):
            raise UserAgentError(f"transport {transport!r} is not supported")
        call_id = call_id or f"{self._tag()}@{self.host}"
        if call_id in self.calls:
            raise UserAgentError(f"call {call_id!r} exists")
        local_tag = local_tag or self._tag()
        from_address.params["tag"] = local_tag
        to_address.params.pop("tag", None)
        request_headers = Headers()
        request_headers.add("Via", self._via(transport))
        request_headers.add("Max-Forwards", "70")
        request_headers.add("From", str(from_address))
        request_headers.add("To", str(to_address))
        request_headers.add("Call-ID", call_id)
        request_headers.add("CSeq", f"{cseq} INVITE")
        request_headers.add("Contact", self.contact_for(transport))
        request_headers.add("Allow", ", ".join(ALLOWED_METHODS))
        request_headers.add("User-Agent", self.user_agent)
        for name, value in headers:
            request_headers.add(name, value)
        if body:
            request_headers.set("Content-Type", content_type or "application/sdp")
        request = Request(headers=request_headers, body=body, method="INVITE", uri=str(target))
        try:
            parse_message(bytes(request))
        except ParseError as exc:
            raise UserAgentError(f"cannot build the INVITE: {exc.reason}") from None
        destination = destination or target.address()
        transaction = InviteClientTransaction(request, now, self.timers, transport != "udp")
        key = client_key(request)
        entry = _ClientEntry(transaction, call_id, destination, transport=transport)
        self._client[key] = entry
        call = _Call(
            call_id, request, key, destination, local_tag, state="calling", role="uac",
            transport=transport,
        )  # fmt: skip
        self.calls[call_id] = call
        return call_id, self._client_outputs(entry, transaction.start(), now)

    def cancel(self, call_id: str, *, now: float) -> list[UAOutput]:
        """Cancel our unanswered INVITE (RFC 3261 9.1).

        Before any provisional response the CANCEL waits for one; the call
        ends with :class:`CallFailed` when the 487 arrives.
        """
        call = self._call(call_id)
        if call.role != "uac" or call.state not in ("calling", "ringing"):
            raise UserAgentError(f"call {call_id!r} is not an unanswered outgoing call")
        entry = self._client.get(call.invite_key)
        if entry is None:
            raise UserAgentError(f"call {call_id!r} has no INVITE transaction")
        if entry.transaction.state == "calling":
            call.cancel_pending = True
            return []
        return self._send_cancel(call, entry, now)

    def _send_cancel(self, call: _Call, entry: _ClientEntry, now: float) -> list[UAOutput]:
        invite = call.invite
        cancel_headers = Headers()
        cancel_headers.add("Via", invite.headers.get("Via") or "")
        cancel_headers.add("Max-Forwards", "70")
        for route in invite.headers.get_all("Route"):
            cancel_headers.add("Route", route)
        for name in ("From", "To", "Call-ID"):
            cancel_headers.add(name, invite.headers.get(name) or "")
        cancel_headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        cancel_headers.add("User-Agent", self.user_agent)
        cancel = Request(headers=cancel_headers, method="CANCEL", uri=invite.uri)
        transaction = NonInviteClientTransaction(
            cancel, now, self.timers, entry.transport != "udp"
        )
        cancel_entry = _ClientEntry(
            transaction, call.call_id, entry.destination, transport=entry.transport
        )
        self._client[client_key(cancel)] = cancel_entry
        return self._client_outputs(cancel_entry, transaction.start(), now)

    # ------------------------------------------------------------ receiving

    def _receive(self, data: bytes, source: Address, now: float, transport: str) -> list[UAOutput]:
        try:
            message = parse_message(data, stream=transport != "udp")
        except ParseError as exc:
            request = exc.request
            if isinstance(request, Request) and request.method != "ACK":
                self._stamp_via(request, source)
                response = make_response(request, 400, exc.reason)
                address = _reply_destination(request, source, transport)
                return [Datagram(bytes(response), address, transport)]
            return [Dropped(exc.reason, source)]
        if isinstance(message, Response):
            return self._on_response(message, source, now)
        self._stamp_via(message, source)
        reply_to = _ReplyTo(_reply_destination(message, source, transport), transport)
        if message.version.upper() != "SIP/2.0":
            if message.method == "ACK":
                return [Dropped("unsupported SIP version", source)]
            response = make_response(message, 505)
            return [Datagram(bytes(response), reply_to.address, reply_to.transport)]
        key = server_key(message)
        entry = self._server.get(key)
        if entry is not None:
            if message.method == "ACK" and entry.transaction.state in ("accepted", "terminated"):
                # ACK for a 2xx reusing the INVITE's branch (RFC 2543 peers): dialog business.
                return self._on_ack(message, source, now)
            out = self._server_outputs(entry, entry.transaction.handle_message(message, now))
            if entry.transaction.terminated:  # reliable transports: no Timer I to wait for
                self._server.pop(key, None)
            return out
        if message.method == "ACK":
            return self._on_ack(message, source, now)
        if message.method == "CANCEL":
            return self._on_cancel(message, key, reply_to, now)
        if message.method != "CANCEL" and (required := message.headers.get_all("Require")):
            unsupported = [
                tag
                for value in required
                for tag in (t.strip() for t in value.split(","))
                if tag and tag.lower() not in self.extensions
            ]
            if unsupported:
                return self._stateless(
                    message,
                    key,
                    reply_to,
                    now,
                    420,
                    headers=[("Unsupported", ", ".join(unsupported))],
                )
        if message.to.tag:
            return self._in_dialog(message, key, reply_to, now)
        if self.unavailable is not None and message.method in ("INVITE", "OPTIONS"):
            # draining (dsm drain, SIGTERM): the dispatcher sends new calls elsewhere
            return self._stateless(
                message, key, reply_to, now, 503, headers=[("Retry-After", str(self.unavailable))]
            )
        if message.method == "INVITE":
            return self._new_call(message, key, source, reply_to, now)
        if message.method == "OPTIONS":
            return self._stateless(
                message,
                key,
                reply_to,
                now,
                200,
                headers=self._capabilities(),
                to_tag=self._tag(),
            )
        if message.method in _DIALOG_ONLY:
            return self._stateless(message, key, reply_to, now, 481)
        if message.method in _KNOWN_METHODS:
            return self._stateless(
                message, key, reply_to, now, 405, headers=[("Allow", ", ".join(ALLOWED_METHODS))]
            )
        return self._stateless(message, key, reply_to, now, 501)

    def _stamp_via(self, request: Request, source: Address) -> None:
        """Add ``received`` / fill ``rport`` on the top Via (RFC 3261 18.2.1, RFC 3581)."""
        via = request.top_via
        changed = False
        if via.host.strip("[]") != source[0]:
            via.params["received"] = source[0]
            changed = True
        elif "received" in via.params:
            # A sender's own ``received`` would steer our responses elsewhere.
            del via.params["received"]
            changed = True
        if "rport" in via.params and via.params["rport"] is None:
            via.params["rport"] = str(source[1])
            changed = True
        if changed:
            request.headers.replace_first("Via", str(via))

    def _new_call(
        self,
        invite: Request,
        key: TransactionKey,
        source: Address,
        reply_to: _ReplyTo,
        now: float,
    ) -> list[UAOutput]:
        call_id = invite.call_id
        if call_id in self.calls:
            return self._stateless(invite, key, reply_to, now, 482)
        problem = _dialog_header_problem(invite)
        if problem is not None:
            return self._stateless(invite, key, reply_to, now, 400, problem)
        transport = reply_to.transport
        transaction = InviteServerTransaction(invite, now, self.timers, reliable=transport != "udp")
        entry = _ServerEntry(transaction, call_id, reply_to.address, transport=transport)
        self._server[key] = entry
        call = _Call(call_id, invite, key, source, self._tag(), transport=transport)
        self.calls[call_id] = call
        out = self._server_outputs(
            entry, transaction.send_response(make_response(invite, 100), now)
        )
        out.append(NewCall(call_id, invite, source))
        return out

    def _on_cancel(
        self, cancel: Request, key: TransactionKey, reply_to: _ReplyTo, now: float
    ) -> list[UAOutput]:
        invite_key = TransactionKey(key.branch, key.sent_by, "INVITE")
        entry = self._server.get(invite_key)
        if entry is None or not isinstance(entry.transaction, InviteServerTransaction):
            return self._stateless(cancel, key, reply_to, now, 481)
        call = self.calls.get(entry.call_id or "")
        tag = call.local_tag if call is not None else None
        invite = entry.transaction.request
        ok, terminated = cancel_responses(invite, cancel, tag)
        out = self._stateless_response(cancel, key, reply_to, now, ok)
        if entry.transaction.state == "proceeding":
            out += self._server_outputs(entry, entry.transaction.send_response(terminated, now))
            if call is not None and call.invite_key == invite_key:
                del self.calls[call.call_id]
                out.append(CallCancelled(call.call_id, cancel))
            elif call is not None and call.pending_reinvite == invite_key:
                call.pending_reinvite = None
                entry.tu_deadline = None
        return out

    def _on_ack(self, ack: Request, source: Address, now: float) -> list[UAOutput]:
        call = self.calls.get(ack.call_id)
        if call is None or call.dialog is None or ack.to.tag != call.local_tag:
            return [Dropped("ACK without dialog", source)]
        retransmitter = call.retransmitter
        if retransmitter is None or retransmitter.acked:
            return []
        if ack.cseq.number != retransmitter.response.cseq.number:
            return [Dropped("ACK for an older INVITE", source)]
        retransmitter.ack()
        out: list[UAOutput] = [AckReceived(call.call_id, ack)]
        if call.bye_pending is not None:
            headers, call.bye_pending = call.bye_pending, None
            out += self._send_bye(call, headers, now)
        return out

    def _in_dialog(
        self, request: Request, key: TransactionKey, reply_to: _ReplyTo, now: float
    ) -> list[UAOutput]:
        call = self.calls.get(request.call_id)
        if call is None and self.dialog_requests is not None:
            status = self.dialog_requests(request, now)
            if status is not None:
                return self._stateless(request, key, reply_to, now, status)
        dialog = call.dialog if call is not None else None
        if (
            call is None
            or dialog is None
            or request.to.tag != dialog.local_tag
            or (request.from_.tag or "") != dialog.remote_tag
        ):
            return self._stateless(request, key, reply_to, now, 481)
        if not dialog.accept_remote_cseq(request):
            return self._stateless(request, key, reply_to, now, 500, "CSeq out of order")
        if request.method == "BYE" and not self.bye_to_tu:
            out = self._stateless(request, key, reply_to, now, 200)
            out += self._end_by_bye(call, now)
            out.append(CallEnded(call.call_id, request))
            return out
        transaction: ServerTransaction
        transport = reply_to.transport
        reliable = transport != "udp"
        if request.method == "INVITE":
            if call.pending_reinvite is not None or call.state != "confirmed":
                return self._stateless(
                    request, key, reply_to, now, 500, headers=[("Retry-After", "1")]
                )
            transaction = InviteServerTransaction(request, now, self.timers, reliable)
            call.pending_reinvite = key
        else:
            transaction = NonInviteServerTransaction(request, now, self.timers, reliable)
        entry = _ServerEntry(
            transaction,
            call.call_id,
            reply_to.address,
            now + self.tu_reply_timeout,
            transport=transport,
        )
        self._server[key] = entry
        out = []
        if request.method == "INVITE":
            out = self._server_outputs(
                entry, transaction.send_response(make_response(request, 100), now)
            )
        out.append(InDialogRequest(call.call_id, request, key))
        return out

    def _on_response(self, response: Response, source: Address, now: float) -> list[UAOutput]:
        try:
            key = client_key(response)
        except ParseError as exc:
            return [Dropped(exc.reason, source)]
        entry = self._client.get(key)
        if entry is None:
            return [Dropped("response without transaction", source)]
        out = self._client_outputs(entry, entry.transaction.handle_message(response, now), now)
        if entry.transaction.terminated:
            self._client.pop(key, None)
        return out

    # ------------------------------------------------------------ sending

    def _tag(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    def _via(self, transport: str = "udp") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"SIP/2.0/{transport.upper()} {host}:{self.port};"
            f"branch={MAGIC_COOKIE}{self._tag()};rport"
        )

    def _capabilities(self) -> list[tuple[str, str]]:
        out = [("Allow", ", ".join(ALLOWED_METHODS)), ("Accept", "application/sdp")]
        if self.extensions:
            out.append(("Supported", ", ".join(self.extensions)))
        return out

    def _response(
        self,
        request: Request,
        status: int,
        reason: str | None,
        to_tag: str,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        transport: str,
    ) -> Response:
        extra: list[tuple[str, str]] = []
        if request.method == "INVITE" and 101 <= status < 300 and request.to.tag is None:
            extra += [("Record-Route", rr) for rr in request.headers.get_all("Record-Route")]
        if request.method in ("INVITE", "UPDATE") and 101 <= status < 300:
            extra.append(("Contact", self.contact_for(transport)))
        if 200 <= status < 300 and request.method == "INVITE":
            extra += self._capabilities()[:1]
            if self.extensions:
                extra.append(("Supported", ", ".join(self.extensions)))
        extra.append(("Server", self.user_agent))
        extra += list(headers)
        if body and not content_type:
            content_type = "application/sdp"
        return make_response(
            request,
            status,
            reason,
            to_tag=to_tag,
            headers=extra,
            body=body,
            content_type=content_type,
        )

    def _stateless(
        self,
        request: Request,
        key: TransactionKey,
        reply_to: _ReplyTo,
        now: float,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        to_tag: str | None = None,
    ) -> list[UAOutput]:
        """Answer a request at once through a fresh server transaction."""
        extra = [*headers, ("Server", self.user_agent)]
        if to_tag is None and status != 100 and request.to.tag is None:
            to_tag = self._tag()
        response = make_response(request, status, reason, to_tag=to_tag, headers=extra)
        return self._stateless_response(request, key, reply_to, now, response)

    def _stateless_response(
        self,
        request: Request,
        key: TransactionKey,
        reply_to: _ReplyTo,
        now: float,
        response: Response,
    ) -> list[UAOutput]:
        transaction: ServerTransaction
        transport = reply_to.transport
        reliable = transport != "udp"
        if request.method == "INVITE":
            transaction = InviteServerTransaction(request, now, self.timers, reliable)
        else:
            transaction = NonInviteServerTransaction(request, now, self.timers, reliable)
        entry = _ServerEntry(transaction, None, reply_to.address, transport=transport)
        self._server[key] = entry
        out = self._server_outputs(entry, transaction.send_response(response, now))
        if transaction.terminated:
            self._server.pop(key, None)
        return out

    def _end_by_bye(self, call: _Call, now: float) -> list[UAOutput]:
        """The peer's BYE was accepted: a still unanswered INVITE gets 487, the call is gone."""
        out: list[UAOutput] = []
        invite_entry = self._server.get(call.invite_key)
        if invite_entry is not None and invite_entry.transaction.state == "proceeding":
            response = make_response(call.invite, 487, to_tag=call.local_tag)
            out += self._server_outputs(
                invite_entry, invite_entry.transaction.send_response(response, now)
            )
        self.calls.pop(call.call_id, None)
        return out

    def _send_bye(self, call: _Call, headers: list[tuple[str, str]], now: float) -> list[UAOutput]:
        del self.calls[call.call_id]
        return self._send_in_dialog(call, "BYE", now, b"", None, headers)

    def _send_in_dialog(
        self,
        call: _Call,
        method: str,
        now: float,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]],
    ) -> list[UAOutput]:
        dialog = call.dialog
        assert dialog is not None
        transport = _dialog_transport(dialog, call.transport)
        request = dialog.create_request(
            method, self._via(transport), body=body, content_type=content_type, headers=headers
        )
        request.headers.add("User-Agent", self.user_agent)
        try:
            destination = dialog.next_hop()
        except ParseError as exc:
            raise UserAgentError(
                f"cannot route {method} in call {call.call_id!r}: {exc.reason}"
            ) from None
        transaction: ClientTransaction
        reliable = transport != "udp"
        if method == "INVITE":
            transaction = InviteClientTransaction(request, now, self.timers, reliable)
        else:
            transaction = NonInviteClientTransaction(request, now, self.timers, reliable)
        entry = _ClientEntry(transaction, call.call_id, destination, transport=transport)
        self._client[client_key(request)] = entry
        return self._client_outputs(entry, transaction.start(), now)

    # ------------------------------------------------------------ plumbing

    def _call(self, call_id: str) -> _Call:
        call = self.calls.get(call_id)
        if call is None:
            raise UserAgentError(f"no call {call_id!r}")
        return call

    def _server_outputs(self, entry: _ServerEntry, outputs: list[Output]) -> list[UAOutput]:
        out: list[UAOutput] = []
        for item in outputs:
            if isinstance(item, Send):
                out.append(Datagram(bytes(item.message), entry.destination, entry.transport))
        return out

    def _client_outputs(
        self, entry: _ClientEntry, outputs: list[Output], now: float
    ) -> list[UAOutput]:
        out: list[UAOutput] = []
        request = entry.transaction.request
        for item in outputs:
            if isinstance(item, Send):
                out.append(Datagram(bytes(item.message), entry.destination, entry.transport))
            elif isinstance(item, ResponseReceived):
                if request.method == "INVITE":
                    out += self._invite_response(entry, item.response, now)
                else:
                    out.append(ResponseToRequest(entry.call_id, request, item.response))
            elif isinstance(item, TimedOut):
                call = self.calls.get(entry.call_id)
                if call is not None and call.role == "uac" and call.invite is request:
                    if call.state in ("calling", "ringing"):
                        del self.calls[call.call_id]
                        out.append(CallFailed(call.call_id, None, "timeout"))
                        continue
                out.append(RequestFailed(entry.call_id, request, f"timeout (timer {item.timer})"))
        return out

    def _invite_response(
        self, entry: _ClientEntry, response: Response, now: float
    ) -> list[UAOutput]:
        """Responses to our INVITEs: outgoing calls and re-INVITEs."""
        request = entry.transaction.request
        call = self.calls.get(entry.call_id)
        status = response.status
        initial = call is not None and call.role == "uac" and call.invite is request
        if 200 <= status < 300:
            acks, first = self._ack_2xx(call, request, response)
            if not first:
                return acks
            if call is not None and initial and call.state in ("calling", "ringing"):
                call.state = "confirmed"
                call.cancel_pending = False
                return [*acks, CallAnswered(call.call_id, response)]
            if initial:  # a second 2xx from another fork: ACKed, not used
                return acks
            return [*acks, ResponseToRequest(entry.call_id, request, response)]
        if not initial or call is None or call.state not in ("calling", "ringing"):
            return [ResponseToRequest(entry.call_id, request, response)]
        if status < 200:
            out: list[UAOutput] = []
            if response.to.tag and call.dialog is None:
                call.dialog = _uac_dialog(request, response)
            if status > 100:
                call.state = "ringing"
            if call.cancel_pending:
                call.cancel_pending = False
                out += self._send_cancel(call, entry, now)
            out.append(CallProgress(call.call_id, response))
            return out
        del self.calls[call.call_id]
        return [CallFailed(call.call_id, response, f"{status} {response.reason}")]

    def _ack_2xx(
        self, call: _Call | None, invite: Request, response: Response
    ) -> tuple[list[UAOutput], bool]:
        """ACK a 2xx to one of our INVITEs (RFC 3261 13.2.2.4); again for each retransmission.

        Returns the datagrams and whether this was the first 2xx of its
        dialog.  The first 2xx of an outgoing call creates the dialog.
        """
        if call is None:
            return [], False
        number = invite.cseq.number
        to_tag = response.to.tag or ""
        ack = call.acks.get((number, to_tag))
        if ack is not None and call.dialog is not None:
            transport = _dialog_transport(call.dialog, call.transport)
            return [Datagram(bytes(ack), _ack_destination(call.dialog), transport)], False
        dialog = call.dialog
        first = True
        if call.role == "uac" and call.invite is invite:
            if dialog is not None and dialog.state == "confirmed":
                if dialog.remote_tag != to_tag:
                    dialog = _uac_dialog(invite, response)  # another fork: ACK only
                    first = False
            else:
                dialog = call.dialog = _uac_dialog(invite, response)
        if dialog is None:
            return [], False
        transport = _dialog_transport(dialog, call.transport)
        ack = dialog.create_request("ACK", self._via(transport), cseq=number)
        ack.headers.add("User-Agent", self.user_agent)
        call.acks[(number, to_tag)] = ack
        return [Datagram(bytes(ack), _ack_destination(dialog), transport)], first

    # ------------------------------------------------------------ timers
    #
    # Every table entry with a timer has an entry in ``self._timers`` at or
    # before each of its deadlines: transactions push each timer they start
    # (``Transaction.on_timer``), entries push what they hold when they are
    # put into a table, 2xx retransmitters when they are set on a call, and
    # every owner pushes its next deadline after its timers ran.

    def _server_added(self, key: TransactionKey, entry: _ServerEntry) -> None:
        entry.key = key
        self._watch(entry.transaction, entry)
        if entry.tu_deadline is not None:
            self._timers.push(entry.tu_deadline, entry)

    def _client_added(self, key: TransactionKey, entry: _ClientEntry) -> None:
        entry.key = key
        self._watch(entry.transaction, entry)

    def _call_added(self, call_id: str, call: _Call) -> None:
        call.on_timer = self._reschedule
        self._reschedule(call)

    def _watch(
        self, transaction: ServerTransaction | ClientTransaction, owner: _TimerOwner
    ) -> None:
        push = self._timers.push
        for at in transaction.deadlines():
            push(at, owner)
        transaction.on_timer = lambda at: push(at, owner)

    def _reschedule(self, owner: _TimerOwner) -> None:
        at = self._deadline_of(owner)
        if at is not None:
            self._timers.push(at, owner)

    def _deadline_of(self, owner: _TimerOwner) -> float | None:
        """The owner's earliest deadline, or ``None`` when it left its table or has none."""
        if isinstance(owner, _ServerEntry):
            if owner.key is None or self._server.get(owner.key) is not owner:
                return None
            return _earliest(owner.transaction.next_timeout(), owner.tu_deadline)
        if isinstance(owner, _ClientEntry):
            if owner.key is None or self._client.get(owner.key) is not owner:
                return None
            return owner.transaction.next_timeout()
        if self.calls.get(owner.call_id) is not owner:
            return None
        return self._call_deadline(owner)

    @staticmethod
    def _call_deadline(call: _Call) -> float | None:
        """The earliest timer of a call itself (not of its transactions)."""
        retransmitter = call.retransmitter
        if retransmitter is None or retransmitter.done:
            return None
        return retransmitter.next_timeout()

    def _forget(self, owner: _TimerOwner) -> None:
        """Drop an owner whose timers raised (its heap entries go stale with it)."""
        if isinstance(owner, _ServerEntry):
            if owner.key is not None and self._server.get(owner.key) is owner:
                del self._server[owner.key]
        elif isinstance(owner, _ClientEntry):
            if owner.key is not None and self._client.get(owner.key) is owner:
                del self._client[owner.key]
        elif self.calls.get(owner.call_id) is owner:
            del self.calls[owner.call_id]

    def _client_timeouts(self, entry: _ClientEntry, now: float) -> list[UAOutput]:
        out = self._client_outputs(entry, entry.transaction.handle_timeout(now), now)
        if entry.transaction.terminated and entry.key is not None:
            if self._client.get(entry.key) is entry:
                del self._client[entry.key]
        return out

    def _server_timeouts(
        self, key: TransactionKey, entry: _ServerEntry, now: float
    ) -> list[UAOutput]:
        out: list[UAOutput] = []
        if entry.tu_deadline is not None and entry.tu_deadline <= now:
            # The TU never answered: fail the request rather than leave it hanging.
            entry.tu_deadline = None
            request = entry.transaction.request
            response = make_response(
                request, 500, "No Reply", headers=[("Server", self.user_agent)]
            )
            out += self._server_outputs(entry, entry.transaction.send_response(response, now))
            call = self.calls.get(entry.call_id or "")
            if call is not None and call.pending_reinvite == key:
                call.pending_reinvite = None
        out += self._server_outputs(entry, entry.transaction.handle_timeout(now))
        if entry.transaction.terminated:
            self._server.pop(key, None)
        return out

    def _call_timeouts(self, call: _Call, now: float) -> list[UAOutput]:
        retransmitter = call.retransmitter
        if retransmitter is None or retransmitter.done:
            return []
        out: list[UAOutput] = []
        for item in retransmitter.handle_timeout(now):
            if isinstance(item, Send):
                if call.twoxx_route is not None:
                    destination, transport = call.twoxx_route
                else:
                    destination = self._response_destination(call, item.message)
                    transport = "udp"
                out.append(Datagram(bytes(item.message), destination, transport))
            elif isinstance(item, TimedOut):
                out.append(AckTimeout(call.call_id))
                if call.bye_pending is not None:
                    headers, call.bye_pending = call.bye_pending, None
                    out += self._send_bye(call, headers, now)
        return out

    def _response_destination(self, call: _Call, message: Request | Response) -> Address:
        return message.top_via.response_address(call.source)

    def _retransmit_2xx(
        self, call: _Call, entry: _ServerEntry, response: Response, now: float
    ) -> None:
        """Start retransmitting our 2xx to an INVITE until the ACK (RFC 3261 13.3.1.4).

        Also over TCP: the RFC retransmits "even if the transport at the UAS
        is reliable", since the 2xx travels end to end and a later hop may be
        UDP.  The copies go where the INVITE's responses go.
        """
        call.twoxx_route = (entry.destination, entry.transport)
        call.retransmitter = TwoXXRetransmitter(response, now, self.timers)


def _dialog_header_problem(request: Request | Response) -> str | None:
    """Why Contact / Record-Route of a dialog-forming request are unusable, or ``None``.

    The dialog's remote target and route set come from them; checking once
    here keeps later requests in the dialog (BYE) routable.
    """
    try:
        contact = request.contact
        if contact is None:
            return "Missing Contact"
        if not isinstance(contact.uri, SipUri):
            return "Contact is not a SIP URI"
        for value in request.headers.get_all("Record-Route"):
            if not isinstance(NameAddress.parse(value).uri, SipUri):
                return "Record-Route is not a SIP URI"
    except ParseError as exc:
        return exc.reason
    return None


def _uac_dialog(invite: Request, response: Response) -> Dialog:
    """The dialog of our INVITE; an unusable Contact/Record-Route falls back to the R-URI."""
    if _dialog_header_problem(response) is None:
        return Dialog.uac(invite, response)
    return Dialog(
        call_id=invite.call_id,
        local_tag=invite.from_.tag or "",
        remote_tag=response.to.tag or "",
        local_address=str(invite.from_),
        remote_address=str(response.to),
        remote_target=invite.uri,
        local_seq=invite.cseq.number,
        local_contact=invite.headers.get("Contact") or "",
        state="confirmed" if 200 <= response.status < 300 else "early",
    )


def _reply_destination(request: Request, source: Address, transport: str) -> Address:
    """Where the responses to ``request`` go (RFC 3261 18.2.2).

    Over UDP: the top Via's ``received``/``rport`` address (RFC 3581).  Over
    TCP: back to the connection's peer, whatever the Via says.
    """
    if transport == "udp":
        return request.top_via.response_address(source)
    return source


def _dialog_transport(dialog: Dialog, default: str) -> str:
    """The transport of requests in ``dialog``: the next hop's ``transport`` parameter, else ``default``.

    The next hop is the first route, or the remote target without a route
    set.  Only ``udp`` and ``tcp`` are served; another value (``tls``,
    ``sctp`` …) or an unparsable hop keeps ``default`` (the transport the
    dialog was created over).
    """
    try:
        hop = (
            NameAddress.parse(dialog.route_set[0]).uri
            if dialog.route_set
            else parse_uri(dialog.remote_target)
        )
    except ParseError:
        return default
    if not isinstance(hop, SipUri):
        return default
    value = (hop.params.get("transport") or "").lower()
    return value if value in ("udp", "tcp") else default


def _ack_destination(dialog: Dialog) -> Address:
    try:
        return dialog.next_hop()
    except ParseError:
        raise UserAgentError("the dialog's remote target is not routable") from None
