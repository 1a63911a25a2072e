"""The client side of the user agent: the requests we send and the responses to them.

Outgoing INVITEs (B legs, ``dlg.dialout``) and their outcome, the ACK to
every 2xx (again for each retransmission; a 2xx from a second fork is ACKed
and otherwise ignored), CANCEL held back until the first provisional
response (RFC 3261 9.1), and requests in a dialog of either direction (BYE,
re-INVITE, INFO …) or outside any call (SUBSCRIBE).  Kept apart from the
server side because the two share only the transaction layer: nothing here
answers a request.
"""

from __future__ import annotations

from collections.abc import Iterable

from dsm.runtime.sip.digest import AUTH_HEADERS, authorization, choose, parse_challenges
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.transaction import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    Output,
    ResponseReceived,
    Send,
    TimedOut,
    client_key,
)
from dsm.runtime.sip.ua_common import (
    ALLOWED_METHODS,
    Address,
    CallAnswered,
    CallFailed,
    CallProgress,
    ClientEntry,
    ClientTransaction,
    CoreCall,
    Dropped,
    Outputs,
    RequestFailed,
    ResponseToRequest,
    TransactionLayer,
    UserAgentError,
    ack_destination,
    dialog_transport,
    uac_dialog,
)
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_uri

__all__ = ["ClientSide"]


class ClientSide:
    """Client transactions over the shared :class:`TransactionLayer`; see the module docstring."""

    def __init__(self, layer: TransactionLayer) -> None:
        self.layer = layer

    # ------------------------------------------------------------ TU API

    def invite(
        self,
        uri: str,
        *,
        from_uri: str,
        now: float,
        out: Outputs,
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
    ) -> str:
        """Start an outgoing call (see ``UserAgentServer.invite``); returns its Call-ID."""
        layer = self.layer
        try:
            target = parse_uri(uri)
            from_address = NameAddress.parse(from_uri)
            to_address = NameAddress.parse(to if to is not None else f"<{uri}>")
            contact_address = NameAddress.parse(contact) if contact else None
        except ParseError as exc:
            raise UserAgentError(f"bad address: {exc.reason}") from None
        if not isinstance(target, SipUri):
            raise UserAgentError(f"not a SIP URI: {uri!r}")
        transport = (transport or target.transport).lower()
        if transport not in ("udp", "tcp"):
            raise UserAgentError(f"transport {transport!r} is not supported")
        call_id = call_id or f"{layer.tag()}@{layer.host}"
        if call_id in layer.calls:
            raise UserAgentError(f"call {call_id!r} exists")
        local_tag = local_tag or layer.tag()
        from_address.params["tag"] = local_tag
        to_address.params.pop("tag", None)
        request_headers = Headers()
        request_headers.add("Via", layer.via(transport))
        request_headers.add("Max-Forwards", "70")
        request_headers.add("From", str(from_address))
        request_headers.add("To", str(to_address))
        request_headers.add("Call-ID", call_id)
        request_headers.add("CSeq", f"{cseq} INVITE")
        own_contact = layer.contact_for(transport)
        request_headers.add("Contact", str(contact_address) if contact_address is not None else own_contact)
        request_headers.add("Allow", ", ".join(ALLOWED_METHODS))
        request_headers.add("User-Agent", layer.user_agent)
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
        transaction = InviteClientTransaction(request, now, layer.timers, transport != "udp")
        key = client_key(request)
        entry = ClientEntry(transaction, call_id, destination, transport=transport)
        layer.client[key] = entry
        call = CoreCall(
            call_id, request, key, destination, local_tag, state="calling", role="uac",
            transport=transport, ack_later=ack_later, credentials=credentials,
            route_hop=destination if route_hop else None, reply_hop=reply_hop,
        )  # fmt: skip
        layer.calls[call_id] = call
        self._outputs(entry, transaction.start(), now, out)
        return call_id

    def cancel(self, call_id: str, *, now: float, out: Outputs) -> None:
        """Cancel our unanswered INVITE; before any provisional response the CANCEL waits for one."""
        call = self.layer.call(call_id)
        if call.role != "uac" or call.state not in ("calling", "ringing"):
            raise UserAgentError(f"call {call_id!r} is not an unanswered outgoing call")
        entry = self.layer.client.get(call.invite_key)
        if entry is None:
            raise UserAgentError(f"call {call_id!r} has no INVITE transaction")
        if entry.transaction.state == "calling":
            call.cancel_pending = True
            return
        self._send_cancel(call, entry, now, out)

    def ack(
        self, call: CoreCall, body: bytes, content_type: str | None, now: float, out: Outputs
    ) -> None:
        """The TU's ACK for the 2xx of an ``ack_later`` INVITE, with the answer to its offer.

        Kept on the call and sent again for each retransmission of the 2xx.
        """
        key = call.ack_pending
        if key is None or call.dialog is None:
            raise UserAgentError(f"no 2xx in call {call.call_id!r} waits for an ACK")
        call.ack_pending = None
        dialog = call.dialog
        transport = dialog_transport(dialog, call.transport)
        ack = dialog.create_request(
            "ACK", self.layer.via(transport), cseq=key[0], body=body,
            content_type=(content_type or "application/sdp") if body else None,
        )  # fmt: skip
        ack.headers.add("User-Agent", self.layer.user_agent)
        call.acks[key] = ack
        out.send(bytes(ack), call.route_hop or ack_destination(dialog), transport)

    def send_outside_call(
        self,
        owner: str,
        request: Request,
        destination: Address,
        *,
        now: float,
        out: Outputs,
        transport: str = "udp",
    ) -> None:
        """Send a non-INVITE request that belongs to no call (a SUBSCRIBE) with a fresh Via."""
        if transport not in ("udp", "tcp"):
            raise UserAgentError(f"transport {transport!r} is not supported")
        request.headers.replace_first("Via", self.layer.via(transport))
        transaction = NonInviteClientTransaction(
            request, now, self.layer.timers, transport != "udp"
        )
        entry = ClientEntry(transaction, owner, destination, transport=transport)
        self.layer.client[client_key(request)] = entry
        self._outputs(entry, transaction.start(), now, out)

    def send_bye(
        self, call: CoreCall, headers: list[tuple[str, str]], now: float, out: Outputs
    ) -> None:
        """BYE in the call's dialog; the call leaves the table at once."""
        del self.layer.calls[call.call_id]
        self.send_in_dialog(call, "BYE", now, b"", None, headers, out)

    def send_in_dialog(
        self,
        call: CoreCall,
        method: str,
        now: float,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]],
        out: Outputs,
    ) -> None:
        """A request in the call's dialog over the dialog's transport."""
        layer = self.layer
        dialog = call.dialog
        assert dialog is not None
        transport = dialog_transport(dialog, call.transport)
        request = dialog.create_request(
            method, layer.via(transport), body=body, content_type=content_type, headers=headers
        )
        request.headers.add("User-Agent", layer.user_agent)
        try:
            destination = call.route_hop or dialog.next_hop()
        except ParseError as exc:
            raise UserAgentError(
                f"cannot route {method} in call {call.call_id!r}: {exc.reason}"
            ) from None
        transaction: ClientTransaction
        reliable = transport != "udp"
        if method == "INVITE":
            transaction = InviteClientTransaction(request, now, layer.timers, reliable)
        else:
            transaction = NonInviteClientTransaction(request, now, layer.timers, reliable)
        entry = ClientEntry(
            transaction, call.call_id, destination, transport=transport,
            credentials=call.credentials,
        )  # fmt: skip
        layer.client[client_key(request)] = entry
        self._outputs(entry, transaction.start(), now, out)

    # ------------------------------------------------------------ receiving

    def on_response(self, response: Response, source: Address, now: float, out: Outputs) -> None:
        """A response from the network: to its client transaction, or dropped."""
        try:
            key = client_key(response)
        except ParseError as exc:
            out.emit(Dropped(exc.reason, source))
            return
        entry = self.layer.client.get(key)
        if entry is None:
            out.emit(Dropped("response without transaction", source))
            return
        self._outputs(entry, entry.transaction.handle_message(response, now), now, out)
        if entry.transaction.terminated:
            self.layer.client.pop(key, None)

    def on_timer(self, entry: ClientEntry, now: float, out: Outputs) -> None:
        """Timers of a client transaction (retransmissions, Timer B/F, cleanup)."""
        self._outputs(entry, entry.transaction.handle_timeout(now), now, out)
        if entry.transaction.terminated and entry.key is not None:
            if self.layer.client.get(entry.key) is entry:
                del self.layer.client[entry.key]

    # ------------------------------------------------------------ plumbing

    def _send_cancel(self, call: CoreCall, entry: ClientEntry, now: float, out: Outputs) -> None:
        layer = self.layer
        invite = call.invite
        cancel_headers = Headers()
        cancel_headers.add("Via", invite.headers.get("Via") or "")
        cancel_headers.add("Max-Forwards", "70")
        for route in invite.headers.get_all("Route"):
            cancel_headers.add("Route", route)
        for name in ("From", "To", "Call-ID"):
            cancel_headers.add(name, invite.headers.get(name) or "")
        cancel_headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        cancel_headers.add("User-Agent", layer.user_agent)
        cancel = Request(headers=cancel_headers, method="CANCEL", uri=invite.uri)
        transaction = NonInviteClientTransaction(
            cancel, now, layer.timers, entry.transport != "udp"
        )
        cancel_entry = ClientEntry(
            transaction, call.call_id, entry.destination, transport=entry.transport
        )
        layer.client[client_key(cancel)] = cancel_entry
        self._outputs(cancel_entry, transaction.start(), now, out)

    def _outputs(self, entry: ClientEntry, outputs: list[Output], now: float, out: Outputs) -> None:
        request = entry.transaction.request
        for item in outputs:
            if isinstance(item, Send):
                out.send(bytes(item.message), entry.destination, entry.transport)
            elif isinstance(item, ResponseReceived):
                if request.method == "INVITE":
                    self._invite_response(entry, item.response, now, out)
                elif not self._authenticate(entry, item.response, now, out):
                    origin = entry.origin or request
                    out.emit(ResponseToRequest(entry.call_id, origin, item.response))
            elif isinstance(item, TimedOut):
                call = self.layer.calls.get(entry.call_id)
                if call is not None and call.role == "uac" and call.invite is request:
                    if call.state in ("calling", "ringing"):
                        del self.layer.calls[call.call_id]
                        out.emit(CallFailed(call.call_id, None, "timeout"))
                        continue
                origin = entry.origin or request
                out.emit(RequestFailed(entry.call_id, origin, f"timeout (timer {item.timer})"))

    def _invite_response(
        self, entry: ClientEntry, response: Response, now: float, out: Outputs
    ) -> None:
        """Responses to our INVITEs: outgoing calls and re-INVITEs."""
        request = entry.transaction.request
        call = self.layer.calls.get(entry.call_id)
        status = response.status
        initial = call is not None and call.role == "uac" and call.invite is request
        if 200 <= status < 300:
            if not self._ack_2xx(call, request, response, out):
                return
            if call is not None and initial and call.state in ("calling", "ringing"):
                call.state = "confirmed"
                call.cancel_pending = False
                out.emit(CallAnswered(call.call_id, response))
            elif not initial:  # (initial: a second 2xx from another fork, ACKed, not used)
                out.emit(ResponseToRequest(entry.call_id, entry.origin or request, response))
            return
        if not initial or call is None or call.state not in ("calling", "ringing"):
            if initial or not self._authenticate(entry, response, now, out):
                out.emit(ResponseToRequest(entry.call_id, entry.origin or request, response))
            return
        if status < 200:
            if response.to_tag and call.dialog is None:
                call.dialog = uac_dialog(request, response)
            if status > 100:
                call.state = "ringing"
            if call.cancel_pending:
                call.cancel_pending = False
                self._send_cancel(call, entry, now, out)
            out.emit(CallProgress(call.call_id, response))
            return
        del self.layer.calls[call.call_id]
        out.emit(CallFailed(call.call_id, response, f"{status} {response.reason}"))

    def _ack_2xx(
        self, call: CoreCall | None, invite: Request, response: Response, out: Outputs
    ) -> bool:
        """ACK a 2xx to one of our INVITEs (RFC 3261 13.2.2.4); again for each retransmission.

        Returns whether this was the first 2xx of its dialog.  The first 2xx
        of an outgoing call creates the dialog.
        """
        if call is None:
            return False
        number = invite.cseq.number
        to_tag = response.to_tag or ""
        ack = call.acks.get((number, to_tag))
        if ack is not None and call.dialog is not None:
            transport = dialog_transport(call.dialog, call.transport)
            out.send(bytes(ack), call.route_hop or ack_destination(call.dialog), transport)
            return False
        if call.ack_pending == (number, to_tag):
            return False  # a retransmission while the TU prepares the answer
        dialog = call.dialog
        first = True
        if call.role == "uac" and call.invite is invite:
            if dialog is not None and dialog.state == "confirmed":
                if dialog.remote_tag != to_tag:
                    dialog = uac_dialog(invite, response)  # another fork: ACK only
                    first = False
            else:
                dialog = call.dialog = uac_dialog(invite, response)
        if dialog is None:
            return False
        if first and call.ack_later and call.invite is invite:
            call.ack_pending = (number, to_tag)  # the 2xx carries an offer: the TU answers (ack)
            return True
        transport = dialog_transport(dialog, call.transport)
        ack = dialog.create_request("ACK", self.layer.via(transport), cseq=number)
        ack.headers.add("User-Agent", self.layer.user_agent)
        call.acks[(number, to_tag)] = ack
        out.send(bytes(ack), call.route_hop or ack_destination(dialog), transport)
        return first

    def _authenticate(
        self, entry: ClientEntry, response: Response, now: float, out: Outputs
    ) -> bool:
        """Answer a 401/407 to an in-dialog request once with credentials; ``True``: re-sent.

        RFC 3261 22.2: the same request with the next CSeq of the dialog, a
        new branch and ``Authorization``/``Proxy-Authorization``.  The answer
        to the new request is reported as the answer to the TU's request
        (``origin``), so the TU matches it as before.  A second challenge is
        the TU's: the credentials were refused.
        """
        if response.status not in AUTH_HEADERS or entry.credentials is None:
            return False
        if entry.origin is not None:  # already answered once
            return False
        challenge_header, answer_header = AUTH_HEADERS[response.status]
        challenge = choose(parse_challenges(response.headers.get_all(challenge_header)))
        if challenge is None:
            return False
        layer = self.layer
        request = entry.transaction.request
        user, password = entry.credentials
        call = layer.calls.get(entry.call_id)
        if call is not None and call.dialog is not None:
            call.dialog.local_seq += 1
            number = call.dialog.local_seq
        else:  # the call is gone already (a BYE): the request's own next number
            number = request.cseq.number + 1
        headers = request.headers.copy()
        headers.replace_first("Via", layer.via(entry.transport))
        headers.set("CSeq", f"{number} {request.method}")
        headers.remove(answer_header)
        headers.add(
            answer_header,
            authorization(
                challenge, method=request.method, uri=request.uri, user=user,
                password=password, cnonce=layer.tag(), body=request.body,
            ),
        )  # fmt: skip
        retry = Request(headers=headers, body=request.body, method=request.method, uri=request.uri)
        transaction: ClientTransaction
        reliable = entry.transport != "udp"
        if request.method == "INVITE":
            transaction = InviteClientTransaction(retry, now, layer.timers, reliable)
        else:
            transaction = NonInviteClientTransaction(retry, now, layer.timers, reliable)
        again = ClientEntry(
            transaction, entry.call_id, entry.destination, transport=entry.transport,
            credentials=entry.credentials, origin=request,
        )  # fmt: skip
        layer.client[client_key(retry)] = again
        self._outputs(again, transaction.start(), now, out)
        return True
