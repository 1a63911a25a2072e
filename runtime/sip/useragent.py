"""The SIP user agent core for one listening address: a façade over its two sides.

It serves incoming calls (the UAS role the DSM server needs first) and
places outgoing calls (:meth:`UserAgentServer.invite`, for B legs and
dial-out).  The work is split by direction over one shared transaction
layer (``ua_common.TransactionLayer``: tables, timer heap, identity):

* ``ua_server.ServerSide`` -- requests we receive: new calls, replies, 2xx
  retransmission, ACK, CANCEL, in-dialog requests, the core's own answers;
* ``ua_client.ClientSide`` -- requests we send: INVITE, CANCEL, ACK for 2xx,
  BYE and other in-dialog requests, requests outside calls.

This class parses what arrives and routes it (requests to the server side,
responses to the client side), routes due timers to their owner's side and
keeps the public names the call layer uses.  The transport shell feeds it
datagrams and time; every method returns one :class:`Outputs` with two typed
channels, ``datagrams`` (:class:`Datagram`: bytes and destination) and
``events`` (:class:`NewCall`, :class:`CallCancelled`, :class:`CallEnded`,
:class:`AckReceived`, :class:`AckTimeout`, :class:`InDialogRequest`,
:class:`ResponseToRequest`, :class:`RequestFailed`, :class:`CallProgress`,
:class:`CallAnswered`, :class:`CallFailed`, :class:`Dropped`)::

    out = core.receive(datagram, source, now)
    out = core.handle_timeout(now)          # when now >= core.next_timeout()
    out = core.reply(call_id, 200, body=sdp, content_type="application/sdp", now=now)
    out = core.bye(call_id, now=now)
    call_id, out = core.invite("sip:bob@192.0.2.9", from_uri="<sip:dsm@192.0.2.1>", now=now)
    for datagram in out.datagrams: ...
    for event in out.events: ...

What the core answers by itself (RFC 3261 section 8.2 and 12-15):

* ``100 Trying`` to a new INVITE (or re-INVITE) the TU has not responded to
  within :attr:`TimerSettings.trying` (0.1 s), or at once to its
  retransmission; retransmissions are otherwise absorbed by
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
:class:`Dropped` event says why, and nothing else of that step is sent) and
no other call is touched.  Calls are keyed by Call-ID; a new INVITE reusing
a live Call-ID is answered ``482``.  The TU's own mistakes (unknown call,
reply in the wrong state) raise :class:`UserAgentError` to the TU.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.limits import DEFAULT_LIMITS, SipCounters
from dsm.runtime.sip.message import Request, Response, header_count, parse_message
from dsm.runtime.sip.timer_heap import TimerHeap
from dsm.runtime.sip.transaction import TimerSettings, TransactionKey
from dsm.runtime.sip.ua_client import ClientSide
from dsm.runtime.sip.ua_common import (
    ALLOWED_METHODS,
    AckReceived,
    AckTimeout,
    Address,
    CallAnswered,
    CallCancelled,
    CallEnded,
    CallFailed,
    CallProgress,
    ClientEntry,
    CoreCall,
    Datagram,
    Dropped,
    Event,
    InDialogRequest,
    NewCall,
    Outputs,
    OutsideRequest,
    RequestFailed,
    ResponseToRequest,
    ServerEntry,
    TimerOwner,
    TransactionLayer,
    UserAgentError,
)
from dsm.runtime.sip.ua_server import ServerSide

__all__ = [
    "UserAgentServer",
    "UserAgentError",
    "ALLOWED_METHODS",
    "Address",
    "Datagram",
    "NewCall",
    "CallCancelled",
    "CallEnded",
    "AckReceived",
    "AckTimeout",
    "InDialogRequest",
    "OutsideRequest",
    "ResponseToRequest",
    "RequestFailed",
    "CallProgress",
    "CallAnswered",
    "CallFailed",
    "Dropped",
    "Event",
    "Outputs",
]


class UserAgentServer:
    """The user agent core (both directions); see the module docstring."""

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
        timers = timers or TimerSettings()
        self.layer = TransactionLayer(host, port, timers, rng or random.Random(), user_agent)
        self.max_message_bytes = max_message_bytes
        self.max_headers = max_headers
        self.counters = counters if counters is not None else SipCounters()
        self.client = ClientSide(self.layer)
        self.server = ServerSide(
            self.layer,
            self.client,
            tu_reply_timeout=tu_reply_timeout
            if tu_reply_timeout is not None
            else timers.timeout / 2,
            bye_to_tu=bye_to_tu,
            extensions=tuple(extensions),
            counters=self.counters,
        )

    # ------------------------------------------------------------ state the call layer reads

    @property
    def host(self) -> str:
        return self.layer.host

    @property
    def port(self) -> int:
        return self.layer.port

    @port.setter
    def port(self, value: int) -> None:  # set by the shell once the socket is bound (port 0)
        self.layer.port = value

    @property
    def timers(self) -> TimerSettings:
        return self.layer.timers

    @timers.setter
    def timers(self, value: TimerSettings) -> None:  # for new transactions (tests shorten them)
        self.layer.timers = value

    @property
    def user_agent(self) -> str:
        return self.layer.user_agent

    @property
    def calls(self) -> dict[str, CoreCall]:
        """The live calls of both directions, by Call-ID."""
        return self.layer.calls

    @property
    def errors(self) -> int:
        """Internal errors caught (each cost one datagram or one timer owner, nothing else)."""
        return self.layer.errors

    @property
    def bye_to_tu(self) -> bool:
        return self.server.bye_to_tu

    @property
    def extensions(self) -> tuple[str, ...]:
        return self.server.extensions

    @property
    def tu_reply_timeout(self) -> float:
        return self.server.tu_reply_timeout

    @tu_reply_timeout.setter
    def tu_reply_timeout(self, value: float) -> None:
        self.server.tu_reply_timeout = value

    @property
    def unavailable(self) -> int | None:
        """Retry-After seconds while the node drains: new INVITEs and OPTIONS get ``503``."""
        return self.server.unavailable

    @unavailable.setter
    def unavailable(self, value: int | None) -> None:
        self.server.unavailable = value

    @property
    def dialog_requests(self) -> Callable[[Request, float], int | None] | None:
        """Requests in dialogs that are no calls (subscriptions): returns the status, or ``None``."""
        return self.server.dialog_requests

    @dialog_requests.setter
    def dialog_requests(self, value: Callable[[Request, float], int | None] | None) -> None:
        self.server.dialog_requests = value

    @property
    def outside_requests(self) -> Callable[[Request], bool] | None:
        """Non-INVITE requests of no call that the TU relays (the SBC): ``True`` takes one."""
        return self.server.outside_requests

    @outside_requests.setter
    def outside_requests(self, value: Callable[[Request], bool] | None) -> None:
        self.server.outside_requests = value

    @property
    def _server(self) -> dict[TransactionKey, ServerEntry]:
        """The server transactions (for tests and the fuzzers' leak checks)."""
        return self.layer.server

    @property
    def _client(self) -> dict[TransactionKey, ClientEntry]:
        return self.layer.client

    @property
    def _timers(self) -> TimerHeap[TimerOwner]:
        return self.layer.heap

    @property
    def contact(self) -> str:
        """Our Contact for UDP (no ``transport`` parameter: UDP is the default)."""
        return self.layer.contact_for("udp")

    def contact_for(self, transport: str) -> str:
        """Our Contact for requests and responses sent over ``transport``."""
        return self.layer.contact_for(transport)

    # ------------------------------------------------------------ I/O

    def receive(self, data: bytes, source: Address, now: float, transport: str = "udp") -> Outputs:
        """Process one message from ``source`` (a datagram, or one framed from a stream); never raises.

        ``transport`` is ``"udp"`` or ``"tcp"``: over TCP ``source`` is the
        connection's peer, the message must carry Content-Length (RFC 3261
        18.3) and its transactions are reliable.
        """
        out = Outputs()
        try:
            if len(data) > self.max_message_bytes:
                head = data[: self.max_message_bytes]
                self.server.reject_too_large(head, source, transport, "Message too large", out)
            # The head's lines are among the message's: one with few lines is never counted.
            elif data.count(b"\n") > self.max_headers and header_count(data) > self.max_headers:
                self.server.reject_too_large(data, source, transport, "Too many headers", out)
            else:
                self._receive(data, source, now, transport, out)
        except Exception as exc:  # noqa: BLE001 - one bad datagram must not stop the server
            self.layer.errors += 1
            out = Outputs()
            out.emit(Dropped(f"internal error: {type(exc).__name__}: {exc}", source))
        return out

    def _receive(
        self, data: bytes, source: Address, now: float, transport: str, out: Outputs
    ) -> None:
        try:
            message = parse_message(data, stream=transport != "udp")
        except ParseError as exc:
            self.server.on_unparsable(exc, source, transport, out)
            return
        if isinstance(message, Response):
            self.client.on_response(message, source, now, out)
        else:
            self.server.on_request(message, source, now, transport, out)

    def reject_too_large(
        self, head: bytes, source: Address, transport: str, why: str = "Message too large"
    ) -> Outputs:
        """A message over the limits (``head``: its first bytes): UDP drop, TCP ``513`` (RFC 3261 18.1.1).

        Nothing but the start line and the essential headers is looked at,
        so a hostile message costs no more than a scan of its head.
        """
        out = Outputs()
        self.server.reject_too_large(head, source, transport, why, out)
        return out

    def next_timeout(self) -> float | None:
        """The earliest time at which :meth:`handle_timeout` has work.

        O(1) amortised: the top of the timer heap, after dropping entries
        whose timer was stopped or whose transaction is gone.
        """
        return self.layer.heap.earliest()

    def handle_timeout(self, now: float) -> Outputs:
        """Fire every timer due at ``now``, earliest first, on its owner's side; never raises."""
        layer = self.layer
        out = Outputs()
        for owner in layer.heap.pop_due(now):
            step = Outputs()
            try:
                if isinstance(owner, ServerEntry):
                    self.server.on_timer(owner, now, step)
                elif isinstance(owner, ClientEntry):
                    self.client.on_timer(owner, now, step)
                else:
                    self.server.on_call_timer(owner, now, step)
            except Exception as exc:  # noqa: BLE001
                layer.errors += 1
                layer.forget(owner)
                out.emit(Dropped(f"internal error: {type(exc).__name__}: {exc}", None))
                continue
            out.extend(step)
            layer.reschedule(owner)
        return out

    # ------------------------------------------------------------ TU API: calls we answer

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
    ) -> Outputs:
        """Answer the call's INVITE: 1xx, 2xx (starts the dialog) or 3xx-6xx.

        A 100 (the core sent one already; a script may send its own, with its
        reason) carries no To tag and changes nothing in the call.
        """
        out = Outputs()
        self.server.reply(
            call_id, status, reason, now=now, body=body, content_type=content_type,
            headers=headers, out=out,
        )  # fmt: skip
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
    ) -> Outputs:
        """Answer an :class:`InDialogRequest` (re-INVITE, INFO, UPDATE, OPTIONS …)."""
        out = Outputs()
        self.server.reply_request(
            call_id, transaction, status, reason, now=now, body=body,
            content_type=content_type, headers=headers, out=out,
        )  # fmt: skip
        return out

    def reply_outside(
        self,
        transaction: TransactionKey,
        status: int,
        reason: str | None = None,
        *,
        now: float,
        to_tag: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        destination: Address | None = None,
    ) -> Outputs:
        """Answer an :class:`OutsideRequest`; ``to_tag`` goes on a To without one;
        ``destination`` overrides the Via's answer address."""
        out = Outputs()
        self.server.reply_outside(
            transaction, status, reason, now=now, to_tag=to_tag, body=body,
            content_type=content_type, headers=headers, out=out, destination=destination,
        )  # fmt: skip
        return out

    # ------------------------------------------------------------ TU API: requests we send

    def bye(self, call_id: str, *, now: float, headers: Iterable[tuple[str, str]] = ()) -> Outputs:
        """End an answered call with BYE; before the ACK the BYE waits for it (RFC 3261 15)."""
        call = self.layer.call(call_id)
        if call.state != "confirmed" or call.dialog is None:
            raise UserAgentError(f"call {call_id!r} is not answered; reply with a final response")
        out = Outputs()
        if call.ack_pending is not None:  # no answer came for the 2xx's offer: ACK it bare
            self.client.ack(call, b"", None, now, out)
        if not self.server.hold_bye(call, list(headers)):
            self.client.send_bye(call, list(headers), now, out)
        return out

    def send_request(
        self,
        call_id: str,
        method: str,
        *,
        now: float,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Outputs:
        """Send INFO, UPDATE, OPTIONS, re-INVITE … in the call's dialog."""
        call = self.layer.call(call_id)
        if call.dialog is None or call.state != "confirmed":
            raise UserAgentError(f"call {call_id!r} has no confirmed dialog")
        if method in ("ACK", "CANCEL", "BYE"):
            raise UserAgentError(f"{method} is sent by the core itself")
        out = Outputs()
        self.client.send_in_dialog(call, method, now, body, content_type, list(headers), out)
        return out

    def send_outside_call(
        self,
        owner: str,
        request: Request,
        destination: Address,
        *,
        now: float,
        transport: str = "udp",
    ) -> Outputs:
        """Send a non-INVITE request that belongs to no call (a SUBSCRIBE) with a fresh Via.

        Answers come back as :class:`ResponseToRequest` / :class:`RequestFailed`
        with ``call_id`` = ``owner``.  ``transport`` is ``udp`` or ``tcp``.
        """
        out = Outputs()
        self.client.send_outside_call(
            owner, request, destination, now=now, out=out, transport=transport
        )
        return out

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
        ack_later: bool = False,
        credentials: tuple[str, str] | None = None,
        contact: str | None = None,
        transport: str | None = None,
        route_hop: bool = False,
        reply_hop: Address | None = None,
    ) -> tuple[str, Outputs]:
        """Start an outgoing call; returns its Call-ID and the INVITE to send.

        ``uri`` is the Request-URI (and the To address unless ``to`` is
        given); ``destination`` defaults to the URI's host and port (no DNS
        here: a host name is left to the transport shell).  A URI with
        ``;transport=tcp`` sends over TCP (RFC 3261 18.1.1).  ``local_tag``
        and ``cseq`` repeat a failed INVITE with credentials (RFC 3261
        22.2: same From tag and Call-ID, a higher CSeq).  Outcomes arrive as
        :class:`CallProgress`, :class:`CallAnswered` or :class:`CallFailed`.

        ``ack_later`` (an INVITE without an offer, RFC 3264 late offer): the
        2xx carries the callee's offer, so its ACK must carry the answer; the
        core does not send it but waits for :meth:`ack`.  ``credentials``
        (user, password) answer a digest challenge to a later request in the
        dialog (BYE, re-INVITE, INFO …) once.  ``contact`` replaces our own
        Contact (an SBC profile's ``Contact=``): the callee then sends its
        in-dialog requests there, so it must lead back to us.

        For an SBC's next hop: ``transport`` (``udp``/``tcp``) overrides the
        URI's; ``route_hop`` sends every request of the dialog (ACK, BYE,
        re-INVITE …) to ``destination`` rather than to the remote target;
        ``reply_hop`` sends our answers to the callee's requests there
        rather than by their Via.
        """
        out = Outputs()
        call_id = self.client.invite(
            uri, from_uri=from_uri, now=now, out=out, to=to, destination=destination,
            body=body, content_type=content_type, headers=headers, call_id=call_id,
            local_tag=local_tag, cseq=cseq, ack_later=ack_later, credentials=credentials,
            contact=contact, transport=transport, route_hop=route_hop, reply_hop=reply_hop,
        )  # fmt: skip
        return call_id, out

    def ack(
        self, call_id: str, *, now: float, body: bytes = b"", content_type: str | None = None
    ) -> Outputs:
        """The ACK for the 2xx of an ``ack_later`` INVITE, carrying the answer (``body``)."""
        out = Outputs()
        self.client.ack(self.layer.call(call_id), body, content_type, now, out)
        return out

    def awaits_ack(self, call_id: str) -> bool:
        """Whether the 2xx of the call's ``ack_later`` INVITE still waits for :meth:`ack`."""
        call = self.layer.calls.get(call_id)
        return call is not None and call.ack_pending is not None

    def cancel(self, call_id: str, *, now: float) -> Outputs:
        """Cancel our unanswered INVITE (RFC 3261 9.1).

        Before any provisional response the CANCEL waits for one; the call
        ends with :class:`CallFailed` when the 487 arrives.
        """
        out = Outputs()
        self.client.cancel(call_id, now=now, out=out)
        return out
