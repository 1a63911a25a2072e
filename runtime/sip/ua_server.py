"""The server side of the user agent: the requests we receive and our answers to them.

New INVITEs (100 Trying if the TU is slow), the TU's replies, 2xx retransmission until
the ACK, CANCEL, in-dialog requests received (re-INVITE, INFO, UPDATE, BYE …)
and everything the core answers by itself (OPTIONS, 481, 482, 420, 405/501,
505, 513, 400).  Kept apart from the client side because the two share only
the transaction layer; the one crossing is a BYE the TU asked for before the
ACK arrived, which this side holds and then hands to the client side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dsm.runtime.sip.dialog import Dialog, TwoXXRetransmitter, cancel_responses
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.limits import SipCounters
from dsm.runtime.sip.message import Request, Response, essential_request
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    Output,
    Send,
    TimedOut,
    TransactionKey,
    server_key,
)
from dsm.runtime.sip.ua_client import ClientSide
from dsm.runtime.sip.ua_common import (
    ALLOWED_METHODS,
    DIALOG_ONLY,
    KNOWN_METHODS,
    AckReceived,
    AckTimeout,
    Address,
    CallCancelled,
    CallEnded,
    CoreCall,
    Dropped,
    InDialogRequest,
    NewCall,
    Outputs,
    OutsideRequest,
    ReplyTo,
    ServerEntry,
    ServerTransaction,
    TransactionLayer,
    UserAgentError,
    dialog_header_problem,
)

__all__ = ["ServerSide"]


def reply_destination(request: Request, source: Address, transport: str) -> Address:
    """Where the responses to ``request`` go (RFC 3261 18.2.2).

    Over UDP: the top Via's ``received``/``rport`` address (RFC 3581).  Over
    TCP: back to the connection's peer, whatever the Via says.
    """
    if transport == "udp":
        return request.top_via_view.response_address(source)
    return source


class ServerSide:
    """Server transactions over the shared :class:`TransactionLayer`; see the module docstring."""

    def __init__(
        self,
        layer: TransactionLayer,
        client: ClientSide,
        *,
        tu_reply_timeout: float,
        bye_to_tu: bool,
        extensions: tuple[str, ...],
        counters: SipCounters,
    ) -> None:
        self.layer = layer
        self.client = client
        self.tu_reply_timeout = tu_reply_timeout
        self.bye_to_tu = bye_to_tu
        self.extensions = extensions
        self.counters = counters
        self.unavailable: int | None = None
        """Retry-After seconds while the node drains: new INVITEs and OPTIONS get ``503``."""
        self.dialog_requests: Callable[[Request, float], int | None] | None = None
        """Requests in dialogs that are no calls (subscriptions): returns the status to answer, or ``None``."""
        self.outside_requests: Callable[[Request], bool] | None = None
        """Non-INVITE requests of no call the TU relays itself (the SBC's simple relay): ``True``
        takes one, it then arrives as :class:`OutsideRequest` and is answered by ``reply_outside``."""

    # ------------------------------------------------------------ receiving

    def reject_too_large(
        self, head: bytes, source: Address, transport: str, why: str, out: Outputs
    ) -> None:
        """A message over the limits (``head``: its first bytes): UDP drop, TCP ``513``."""
        if transport == "udp":
            self.counters.sip_too_large_dropped += 1
            out.emit(Dropped(f"{why.lower()}: dropped", source))
            return
        self.counters.sip_too_large_rejected += 1
        request = essential_request(head)
        if request is None or request.method == "ACK":
            out.emit(Dropped(f"{why.lower()}: not answerable", source))
            return
        self._stamp_via(request, source)
        response = make_response(request, 513, "Message Too Large")
        out.send(bytes(response), reply_destination(request, source, transport), transport)
        out.emit(Dropped(why.lower(), source))

    def on_unparsable(self, exc: ParseError, source: Address, transport: str, out: Outputs) -> None:
        """A message the parser refused: ``400`` when it can be routed, else dropped."""
        request = exc.request
        if isinstance(request, Request) and request.method != "ACK":
            self._stamp_via(request, source)
            response = make_response(request, 400, exc.reason)
            out.send(bytes(response), reply_destination(request, source, transport), transport)
            return
        out.emit(Dropped(exc.reason, source))

    def on_request(
        self, message: Request, source: Address, now: float, transport: str, out: Outputs
    ) -> None:
        """A request from the network: to its transaction, its dialog, or a new call."""
        self._stamp_via(message, source)
        reply_to = ReplyTo(reply_destination(message, source, transport), transport)
        if message.version.upper() != "SIP/2.0":
            if message.method == "ACK":
                out.emit(Dropped("unsupported SIP version", source))
                return
            out.send(bytes(make_response(message, 505)), reply_to.address, reply_to.transport)
            return
        key = server_key(message)
        entry = self.layer.server.get(key)
        if entry is not None:
            if message.method == "ACK" and entry.transaction.state in ("accepted", "terminated"):
                # ACK for a 2xx reusing the INVITE's branch (RFC 2543 peers): dialog business.
                self._on_ack(message, source, now, out)
                return
            self._send(entry, entry.transaction.handle_message(message, now), out)
            if entry.transaction.terminated:  # reliable transports: no Timer I to wait for
                self.layer.server.pop(key, None)
            return
        if message.method == "ACK":
            self._on_ack(message, source, now, out)
            return
        if message.method == "CANCEL":
            self._on_cancel(message, key, reply_to, now, out)
            return
        if required := message.headers.get_all("Require"):
            unsupported = [
                tag
                for value in required
                for tag in (t.strip() for t in value.split(","))
                if tag and tag.lower() not in self.extensions
            ]
            if unsupported:
                self._stateless(
                    message, key, reply_to, now, 420, out,
                    headers=[("Unsupported", ", ".join(unsupported))],
                )  # fmt: skip
                return
        if (
            self.outside_requests is not None
            and message.method != "INVITE"
            and (message.call_id not in self.layer.calls if message.to_tag else self.unavailable is None)
            and self.outside_requests(message)
        ):  # while draining, new requests get the core's own answers (503 to OPTIONS)
            self._to_tu(message, key, source, reply_to, now, out)
            return
        if message.to_tag:
            self._in_dialog(message, key, reply_to, now, out)
            return
        if self.unavailable is not None and message.method in ("INVITE", "OPTIONS"):
            # draining (dsm drain, SIGTERM): the dispatcher sends new calls elsewhere
            self._stateless(
                message, key, reply_to, now, 503, out,
                headers=[("Retry-After", str(self.unavailable))],
            )  # fmt: skip
            return
        if message.method == "INVITE":
            self._new_call(message, key, source, reply_to, now, out)
        elif message.method == "OPTIONS":
            self._stateless(
                message, key, reply_to, now, 200, out,
                headers=self.capabilities(), to_tag=self.layer.tag(),
            )  # fmt: skip
        elif message.method in DIALOG_ONLY:
            self._stateless(message, key, reply_to, now, 481, out)
        elif message.method in KNOWN_METHODS:
            self._stateless(
                message, key, reply_to, now, 405, out,
                headers=[("Allow", ", ".join(ALLOWED_METHODS))],
            )  # fmt: skip
        else:
            self._stateless(message, key, reply_to, now, 501, out)

    # ------------------------------------------------------------ TU API

    def reply(
        self,
        call_id: str,
        status: int,
        reason: str | None,
        *,
        now: float,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        out: Outputs,
    ) -> None:
        """Answer the call's INVITE (see ``UserAgentServer.reply``)."""
        layer = self.layer
        call = layer.call(call_id)
        if call.role != "uas":
            raise UserAgentError(f"call {call_id!r} is an outgoing call")
        if call.state not in ("incoming", "early"):
            raise UserAgentError(f"call {call_id!r} is already answered")
        if not 100 <= status <= 699:
            raise UserAgentError(f"cannot reply {status} to an INVITE")
        entry = layer.server.get(call.invite_key)
        if entry is None or not isinstance(entry.transaction, InviteServerTransaction):
            raise UserAgentError(f"call {call_id!r} has no INVITE transaction")
        if status == 100:
            trying = make_response(
                call.invite, 100, reason, headers=[("Server", layer.user_agent), *headers]
            )
            self._send(entry, entry.transaction.send_response(trying, now), out)
            return
        response = self._response(
            call.invite, status, reason, call.local_tag, body, content_type, headers,
            entry.transport,
        )  # fmt: skip
        self._send(entry, entry.transaction.send_response(response, now), out)
        if status < 200:
            if call.dialog is None:
                call.dialog = Dialog.uas(call.invite, response, layer.contact_for(call.transport))
            call.state = "early"
        elif status < 300:
            call.dialog = Dialog.uas(call.invite, response, layer.contact_for(call.transport))
            call.state = "confirmed"
            self._retransmit_2xx(call, entry, response, now)
        else:
            del layer.calls[call_id]

    def reply_request(
        self,
        call_id: str,
        transaction: TransactionKey,
        status: int,
        reason: str | None,
        *,
        now: float,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        out: Outputs,
    ) -> None:
        """Answer an :class:`InDialogRequest` (re-INVITE, INFO, UPDATE, OPTIONS, BYE …)."""
        call = self.layer.call(call_id)
        entry = self.layer.server.get(transaction)
        if entry is None or entry.call_id != call_id:
            raise UserAgentError(f"no pending request {transaction!r} in call {call_id!r}")
        if entry.tu_deadline is None:
            raise UserAgentError("that request has already been answered")
        request = entry.transaction.request
        if not 100 <= status <= 699:
            raise UserAgentError(f"bad status {status}")
        response = self._response(
            request, status, reason, call.local_tag, body, content_type, headers,
            entry.transport,
        )  # fmt: skip
        self._send(entry, entry.transaction.send_response(response, now), out)
        if entry.transaction.terminated:  # reliable transports: no Timer J to wait for
            self.layer.server.pop(transaction, None)
        if status >= 200:
            entry.tu_deadline = None
            if request.method == "BYE" and status < 300:
                self._end_by_bye(call, now, out)
            if call.pending_reinvite == transaction:
                call.pending_reinvite = None
            if request.method == "INVITE" and status < 300:
                self._retransmit_2xx(call, entry, response, now)
            if request.method in ("INVITE", "UPDATE") and status < 300 and call.dialog is not None:
                if dialog_header_problem(request) is None and request.contact is not None:
                    call.dialog.remote_target = str(request.contact.uri)

    def reply_outside(
        self,
        transaction: TransactionKey,
        status: int,
        reason: str | None,
        *,
        now: float,
        to_tag: str | None,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        out: Outputs,
        destination: Address | None = None,
    ) -> None:
        """Answer an :class:`OutsideRequest`; ``headers`` are sent as given (no Contact is added).

        ``destination`` overrides where the answers go (``next_hop_for_replies``).
        """
        entry = self.layer.server.get(transaction)
        if entry is None or entry.call_id is not None:
            raise UserAgentError(f"no pending outside request {transaction!r}")
        if destination is not None:
            entry.destination = destination
        if entry.tu_deadline is None:
            raise UserAgentError("that request has already been answered")
        if not 100 <= status <= 699:
            raise UserAgentError(f"bad status {status}")
        request = entry.transaction.request
        if status == 100 or request.to_tag:
            to_tag = None
        response = make_response(
            request, status, reason, to_tag=to_tag,
            headers=[("Server", self.layer.user_agent), *headers],
            body=body, content_type=content_type if body else None,
        )  # fmt: skip
        self._send(entry, entry.transaction.send_response(response, now), out)
        if entry.transaction.terminated:
            self.layer.server.pop(transaction, None)
        if status >= 200:
            entry.tu_deadline = None

    def hold_bye(self, call: CoreCall, headers: list[tuple[str, str]]) -> bool:
        """Keep the TU's BYE until the ACK of our 2xx (RFC 3261 15); ``False``: send it now."""
        if call.retransmitter is not None and not call.retransmitter.done:
            call.bye_pending = headers
            return True
        return False

    # ------------------------------------------------------------ timers

    def on_timer(self, entry: ServerEntry, now: float, out: Outputs) -> None:
        """Timers of a server transaction, and the TU's reply deadline (``500 No Reply``)."""
        layer = self.layer
        key = entry.key
        assert key is not None
        if entry.tu_deadline is not None and entry.tu_deadline <= now:
            # The TU never answered: fail the request rather than leave it hanging.
            entry.tu_deadline = None
            request = entry.transaction.request
            response = make_response(
                request, 500, "No Reply", headers=[("Server", layer.user_agent)]
            )
            self._send(entry, entry.transaction.send_response(response, now), out)
            call = layer.calls.get(entry.call_id or "")
            if call is not None and call.pending_reinvite == key:
                call.pending_reinvite = None
        self._send(entry, entry.transaction.handle_timeout(now), out)
        if entry.transaction.terminated:
            layer.server.pop(key, None)

    def on_call_timer(self, call: CoreCall, now: float, out: Outputs) -> None:
        """The 2xx retransmission of a call: resend, or give up (``AckTimeout``)."""
        retransmitter = call.retransmitter
        if retransmitter is None or retransmitter.done:
            return
        for item in retransmitter.handle_timeout(now):
            if isinstance(item, Send):
                if call.twoxx_route is not None:
                    destination, transport = call.twoxx_route
                else:
                    destination = item.message.top_via_view.response_address(call.source)
                    transport = "udp"
                out.send(bytes(item.message), destination, transport)
            elif isinstance(item, TimedOut):
                out.emit(AckTimeout(call.call_id))
                if call.bye_pending is not None:
                    headers, call.bye_pending = call.bye_pending, None
                    self.client.send_bye(call, headers, now, out)

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def _send(entry: ServerEntry, outputs: list[Output], out: Outputs) -> None:
        TransactionLayer.send_all(entry.destination, entry.transport, outputs, out)

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
        reply_to: ReplyTo,
        now: float,
        out: Outputs,
    ) -> None:
        layer = self.layer
        call_id = invite.call_id
        if call_id in layer.calls:
            self._stateless(invite, key, reply_to, now, 482, out)
            return
        problem = dialog_header_problem(invite)
        if problem is not None:
            self._stateless(invite, key, reply_to, now, 400, out, problem)
            return
        transport = reply_to.transport
        transaction = InviteServerTransaction(
            invite, now, layer.timers, reliable=transport != "udp"
        )
        entry = ServerEntry(transaction, call_id, reply_to.address, transport=transport)
        layer.server[key] = entry
        layer.calls[call_id] = CoreCall(
            call_id, invite, key, source, layer.tag(), transport=transport
        )
        self._send(entry, transaction.defer_trying(now), out)
        out.emit(NewCall(call_id, invite, source))

    def _on_cancel(
        self, cancel: Request, key: TransactionKey, reply_to: ReplyTo, now: float, out: Outputs
    ) -> None:
        layer = self.layer
        invite_key = TransactionKey(key.branch, key.sent_by, "INVITE")
        entry = layer.server.get(invite_key)
        if entry is None or not isinstance(entry.transaction, InviteServerTransaction):
            self._stateless(cancel, key, reply_to, now, 481, out)
            return
        call = layer.calls.get(entry.call_id or "")
        tag = call.local_tag if call is not None else None
        invite = entry.transaction.request
        ok, terminated = cancel_responses(invite, cancel, tag)
        self._stateless_response(cancel, key, reply_to, now, ok, out)
        if entry.transaction.state == "proceeding":
            self._send(entry, entry.transaction.send_response(terminated, now), out)
            if call is not None and call.invite_key == invite_key:
                del layer.calls[call.call_id]
                out.emit(CallCancelled(call.call_id, cancel))
            elif call is not None and call.pending_reinvite == invite_key:
                call.pending_reinvite = None
                entry.tu_deadline = None

    def _on_ack(self, ack: Request, source: Address, now: float, out: Outputs) -> None:
        call = self.layer.calls.get(ack.call_id)
        if call is None or call.dialog is None or ack.to_tag != call.local_tag:
            out.emit(Dropped("ACK without dialog", source))
            return
        retransmitter = call.retransmitter
        if retransmitter is None or retransmitter.acked:
            return
        if ack.cseq.number != retransmitter.response.cseq.number:
            out.emit(Dropped("ACK for an older INVITE", source))
            return
        retransmitter.ack()
        out.emit(AckReceived(call.call_id, ack))
        if call.bye_pending is not None:
            headers, call.bye_pending = call.bye_pending, None
            self.client.send_bye(call, headers, now, out)

    def _to_tu(
        self,
        request: Request,
        key: TransactionKey,
        source: Address,
        reply_to: ReplyTo,
        now: float,
        out: Outputs,
    ) -> None:
        """A request the TU took (``outside_requests``): a server transaction waiting for its answer."""
        transport = reply_to.transport
        transaction = NonInviteServerTransaction(request, now, self.layer.timers, transport != "udp")
        entry = ServerEntry(
            transaction, None, reply_to.address, now + self.tu_reply_timeout, transport=transport
        )
        self.layer.server[key] = entry
        out.emit(OutsideRequest(request, source, key, transport))

    def _in_dialog(
        self, request: Request, key: TransactionKey, reply_to: ReplyTo, now: float, out: Outputs
    ) -> None:
        layer = self.layer
        call = layer.calls.get(request.call_id)
        if call is None and self.dialog_requests is not None:
            status = self.dialog_requests(request, now)
            if status is not None:
                self._stateless(request, key, reply_to, now, status, out)
                return
        dialog = call.dialog if call is not None else None
        if (
            call is None
            or dialog is None
            or request.to_tag != dialog.local_tag
            or (request.from_tag or "") != dialog.remote_tag
        ):
            self._stateless(request, key, reply_to, now, 481, out)
            return
        if not dialog.accept_remote_cseq(request):
            self._stateless(request, key, reply_to, now, 500, out, "CSeq out of order")
            return
        if request.method == "BYE" and not self.bye_to_tu:
            self._stateless(request, key, reply_to, now, 200, out)
            self._end_by_bye(call, now, out)
            out.emit(CallEnded(call.call_id, request))
            return
        transaction: ServerTransaction
        transport = reply_to.transport
        reliable = transport != "udp"
        if request.method == "INVITE":
            if call.pending_reinvite is not None or call.state != "confirmed":
                self._stateless(
                    request, key, reply_to, now, 500, out, headers=[("Retry-After", "1")]
                )
                return
            transaction = InviteServerTransaction(request, now, layer.timers, reliable)
            call.pending_reinvite = key
        else:
            transaction = NonInviteServerTransaction(request, now, layer.timers, reliable)
        entry = ServerEntry(
            transaction,
            call.call_id,
            call.reply_hop or reply_to.address,
            now + self.tu_reply_timeout,
            transport=transport,
        )
        layer.server[key] = entry
        if isinstance(transaction, InviteServerTransaction):
            self._send(entry, transaction.defer_trying(now), out)
        out.emit(InDialogRequest(call.call_id, request, key))

    def capabilities(self) -> list[tuple[str, str]]:
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
        if request.method == "INVITE" and 101 <= status < 300 and request.to_tag is None:
            extra += [("Record-Route", rr) for rr in request.headers.get_all("Record-Route")]
        if request.method in ("INVITE", "UPDATE") and 101 <= status < 300:
            extra.append(("Contact", self.layer.contact_for(transport)))
        if 200 <= status < 300 and request.method == "INVITE":
            extra += self.capabilities()[:1]
            if self.extensions:
                extra.append(("Supported", ", ".join(self.extensions)))
        extra.append(("Server", self.layer.user_agent))
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
        reply_to: ReplyTo,
        now: float,
        status: int,
        out: Outputs,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        to_tag: str | None = None,
    ) -> None:
        """Answer a request at once through a fresh server transaction."""
        extra = [*headers, ("Server", self.layer.user_agent)]
        if to_tag is None and status != 100 and request.to_tag is None:
            to_tag = self.layer.tag()
        response = make_response(request, status, reason, to_tag=to_tag, headers=extra)
        self._stateless_response(request, key, reply_to, now, response, out)

    def _stateless_response(
        self,
        request: Request,
        key: TransactionKey,
        reply_to: ReplyTo,
        now: float,
        response: Response,
        out: Outputs,
    ) -> None:
        layer = self.layer
        transaction: ServerTransaction
        transport = reply_to.transport
        reliable = transport != "udp"
        if request.method == "INVITE":
            transaction = InviteServerTransaction(request, now, layer.timers, reliable)
        else:
            transaction = NonInviteServerTransaction(request, now, layer.timers, reliable)
        entry = ServerEntry(transaction, None, reply_to.address, transport=transport)
        layer.server[key] = entry
        self._send(entry, transaction.send_response(response, now), out)
        if transaction.terminated:
            layer.server.pop(key, None)

    def _end_by_bye(self, call: CoreCall, now: float, out: Outputs) -> None:
        """The peer's BYE was accepted: a still unanswered INVITE gets 487, the call is gone."""
        invite_entry = self.layer.server.get(call.invite_key)
        if invite_entry is not None and invite_entry.transaction.state == "proceeding":
            response = make_response(call.invite, 487, to_tag=call.local_tag)
            self._send(invite_entry, invite_entry.transaction.send_response(response, now), out)
        self.layer.calls.pop(call.call_id, None)

    def _retransmit_2xx(
        self, call: CoreCall, entry: ServerEntry, response: Response, now: float
    ) -> None:
        """Start retransmitting our 2xx to an INVITE until the ACK (RFC 3261 13.3.1.4).

        Also over TCP: the RFC retransmits "even if the transport at the UAS
        is reliable", since the 2xx travels end to end and a later hop may be
        UDP.  The copies go where the INVITE's responses go.
        """
        call.twoxx_route = (entry.destination, entry.transport)
        call.retransmitter = TwoXXRetransmitter(response, now, self.layer.timers)
