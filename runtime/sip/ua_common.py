"""What the two sides of the user agent share: outputs, calls, one transaction layer.

The user agent is split by direction (``ua_server``: requests we receive,
``ua_client``: requests we send) because the two halves change for different
reasons; what both need lives here once:

* the typed outputs.  Every entry point appends to an :class:`Outputs`, which
  keeps bytes to send (:class:`Datagram`) and call events (:class:`Event`) on
  separate channels, so the shell sends one and delivers the other without
  sorting a mixed list;
* :class:`TransactionLayer`: our identity (host, port, tags, Via, Contact),
  the tables of server and client transactions and of calls, and the one
  timer heap that watches all of them;
* the dialog helpers both sides use (next hop, transport, UAC dialog).
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

from mypy_extensions import mypyc_attr

from dsm.runtime.sip.dialog import Dialog, TwoXXRetransmitter
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.timer_heap import NotifyingDict, TimerHeap
from dsm.runtime.sip.transaction import (
    MAGIC_COOKIE,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Output,
    Send,
    TimerSettings,
    TransactionKey,
)
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_uri

__all__ = [
    "Address",
    "ALLOWED_METHODS",
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
    "Outputs",
    "UserAgentError",
    "TransactionLayer",
]

Address = tuple[str, int]

ALLOWED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE")
KNOWN_METHODS = frozenset(
    {"REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH", *ALLOWED_METHODS}
)
DIALOG_ONLY = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})


@dataclass(frozen=True, slots=True)
class Datagram:
    """Bytes to send to ``destination`` (host, port) over ``transport``; the host may be a name.

    ``transport`` is ``"udp"`` (one datagram) or ``"tcp"`` (one message on
    the stream connected to ``destination``; the shell opens one if needed).
    """

    data: bytes
    destination: Address
    transport: str = "udp"

    def __init__(self, data: bytes, destination: Address, transport: str = "udp") -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "destination", destination)
        object.__setattr__(self, "transport", transport)


@dataclass(frozen=True, slots=True)
class NewCall:
    """A new INVITE arrived; answer with ``reply`` (our own 100 Trying only if that is slow)."""

    call_id: str
    request: Request
    source: Address

    def __init__(self, call_id: str, request: Request, source: Address) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "source", source)


@dataclass(frozen=True, slots=True)
class CallCancelled:
    """The caller cancelled the unanswered INVITE (200 and 487 already sent)."""

    call_id: str
    request: Request

    def __init__(self, call_id: str, request: Request) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The peer sent BYE (200 already sent); the call is gone from the core."""

    call_id: str
    request: Request

    def __init__(self, call_id: str, request: Request) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for our 2xx (to the INVITE or a re-INVITE); it may carry an SDP answer."""

    call_id: str
    request: Request

    def __init__(self, call_id: str, request: Request) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """No ACK for our 2xx within 64*T1 (``onNoAck``); a queued or new BYE is up to the TU."""

    call_id: str

    def __init__(self, call_id: str) -> None:
        object.__setattr__(self, "call_id", call_id)


@dataclass(frozen=True, slots=True)
class InDialogRequest:
    """re-INVITE, INFO, UPDATE, OPTIONS … inside a dialog; answer with ``reply_request``."""

    call_id: str
    request: Request
    transaction: TransactionKey

    def __init__(self, call_id: str, request: Request, transaction: TransactionKey) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "transaction", transaction)


@dataclass(frozen=True, slots=True)
class OutsideRequest:
    """A non-INVITE request of no call, taken by the TU's ``outside_requests`` hook (the SBC's
    simple relay); answer with ``reply_outside`` before the TU reply deadline (else ``500``)."""

    request: Request
    source: tuple[str, int]
    transaction: TransactionKey
    transport: str = "udp"

    def __init__(
        self,
        request: Request,
        source: tuple[str, int],
        transaction: TransactionKey,
        transport: str = "udp",
    ) -> None:
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "transaction", transaction)
        object.__setattr__(self, "transport", transport)


@dataclass(frozen=True, slots=True)
class ResponseToRequest:
    """A response to a request we sent in a dialog (BYE, INFO, re-INVITE …)."""

    call_id: str
    request: Request
    response: Response

    def __init__(self, call_id: str, request: Request, response: Response) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "response", response)


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """A request we sent got no final response (Timer B or F)."""

    call_id: str
    request: Request
    reason: str

    def __init__(self, call_id: str, request: Request, reason: str) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A provisional response to our outgoing INVITE (180: Ringing, 183: early media)."""

    call_id: str
    response: Response

    def __init__(self, call_id: str, response: Response) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "response", response)


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """Our outgoing INVITE got its 2xx; the ACK is already sent."""

    call_id: str
    response: Response

    def __init__(self, call_id: str, response: Response) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "response", response)


@dataclass(frozen=True, slots=True)
class CallFailed:
    """Our outgoing INVITE failed: a 3xx-6xx (``response``) or no answer (``None``)."""

    call_id: str
    response: Response | None
    reason: str

    def __init__(self, call_id: str, response: Response | None, reason: str) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "reason", reason)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A datagram was ignored; ``reason`` says why (for logs)."""

    reason: str
    source: Address | None

    def __init__(self, reason: str, source: Address | None) -> None:
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "source", source)


Event = (
    NewCall
    | CallCancelled
    | CallEnded
    | AckReceived
    | AckTimeout
    | InDialogRequest
    | OutsideRequest
    | ResponseToRequest
    | RequestFailed
    | CallProgress
    | CallAnswered
    | CallFailed
    | Dropped
)


@dataclass(slots=True)
class Outputs:
    """What one step of the core produced: datagrams to send and events for the calls.

    Two channels instead of one mixed list: the transport shell sends
    ``datagrams`` and hands ``events`` to the transaction user, neither has
    to sort.  Within a channel the order is the order of production.
    """

    datagrams: list[Datagram] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __init__(
        self,
        datagrams: list[Datagram] | None = None,
        events: list[Event] | None = None,
    ) -> None:
        self.datagrams = [] if datagrams is None else datagrams
        self.events = [] if events is None else events

    def send(self, data: bytes, destination: Address, transport: str = "udp") -> None:
        """Queue bytes for ``destination``."""
        self.datagrams.append(Datagram(data, destination, transport))

    def emit(self, event: Event) -> None:
        """Queue an event for the transaction user."""
        self.events.append(event)

    def extend(self, other: Outputs) -> None:
        """Append ``other``'s datagrams and events (a step that succeeded as a whole)."""
        self.datagrams += other.datagrams
        self.events += other.events

    def __bool__(self) -> bool:
        return bool(self.datagrams or self.events)


class UserAgentError(ValueError):
    """The transaction user asked for something impossible (unknown call, wrong state)."""


class ReplyTo(NamedTuple):
    """Where the responses to a received request go, and over which transport."""

    address: Address
    transport: str


ServerTransaction: TypeAlias = InviteServerTransaction | NonInviteServerTransaction
ClientTransaction: TypeAlias = InviteClientTransaction | NonInviteClientTransaction


@mypyc_attr(native_class=False)  # compiled (native_modules): weakly referenced, a Python class
@dataclass(slots=True, weakref_slot=True)
class ServerEntry:
    """A server transaction in the table, with where its responses go."""

    transaction: ServerTransaction
    call_id: str | None
    destination: Address
    tu_deadline: float | None = None
    key: TransactionKey | None = None
    """Set when the entry is put into the table (the timer heap finds it back by it)."""
    transport: str = "udp"
    """The transport the request came over; its responses go back the same way."""

    def __init__(
        self,
        transaction: ServerTransaction,
        call_id: str | None,
        destination: Address,
        tu_deadline: float | None = None,
        key: TransactionKey | None = None,
        transport: str = "udp",
    ) -> None:
        self.transaction = transaction
        self.call_id = call_id
        self.destination = destination
        self.tu_deadline = tu_deadline
        self.key = key
        self.transport = transport


@mypyc_attr(native_class=False)  # compiled (native_modules): weakly referenced, a Python class
@dataclass(slots=True, weakref_slot=True)
class ClientEntry:
    """A client transaction in the table: the call (or owner) it belongs to and its next hop."""

    transaction: ClientTransaction
    call_id: str
    destination: Address
    key: TransactionKey | None = None
    """Set when the entry is put into the table (the timer heap finds it back by it)."""
    transport: str = "udp"
    credentials: tuple[str, str] | None = None
    """Answer one digest challenge (401/407) with these (user, password)."""
    origin: Request | None = None
    """The request the TU sent, when this one re-sends it with credentials (events name it)."""

    def __init__(
        self,
        transaction: ClientTransaction,
        call_id: str,
        destination: Address,
        key: TransactionKey | None = None,
        transport: str = "udp",
        credentials: tuple[str, str] | None = None,
        origin: Request | None = None,
    ) -> None:
        self.transaction = transaction
        self.call_id = call_id
        self.destination = destination
        self.key = key
        self.transport = transport
        self.credentials = credentials
        self.origin = origin


@dataclass(slots=True)
class CoreCall:
    """One call (dialog-forming INVITE and its dialog) as the core sees it, either direction."""

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
    on_timer: Callable[[CoreCall], None] | None = None
    """The core's timer heap, told when a new 2xx retransmitter starts its timers."""
    transport: str = "udp"
    """The transport of the dialog-creating INVITE: the dialog's transport (RFC 3261 12.1)."""
    twoxx_route: tuple[Address, str] | None = None
    """Destination and transport of the 2xx being retransmitted (that of its INVITE)."""
    ack_later: bool = False
    """UAC, INVITE sent without an offer: the 2xx offers, the TU's ACK answers (RFC 3264 late offer)."""
    ack_pending: tuple[int, str] | None = None
    """(CSeq number, To tag) of the 2xx whose ACK waits for the TU (``ack_later``)."""
    credentials: tuple[str, str] | None = None
    """User and password for digest challenges to requests in this call's dialog."""
    route_hop: Address | None = None
    """Every request in the dialog goes here, not to its remote target (an SBC's ``next_hop``)."""
    reply_hop: Address | None = None
    """Our answers to requests in the dialog go here, not by their Via (``next_hop_for_replies``)."""

    def __init__(
        self,
        call_id: str,
        invite: Request,
        invite_key: TransactionKey,
        source: Address,
        local_tag: str,
        state: str = "incoming",
        role: str = "uas",
        dialog: Dialog | None = None,
        _retransmitter: TwoXXRetransmitter | None = None,
        bye_pending: list[tuple[str, str]] | None = None,
        pending_reinvite: TransactionKey | None = None,
        acks: dict[tuple[int, str], Request] | None = None,
        cancel_pending: bool = False,
        on_timer: Callable[[CoreCall], None] | None = None,
        transport: str = "udp",
        twoxx_route: tuple[Address, str] | None = None,
        ack_later: bool = False,
        ack_pending: tuple[int, str] | None = None,
        credentials: tuple[str, str] | None = None,
        route_hop: Address | None = None,
        reply_hop: Address | None = None,
    ) -> None:
        self.call_id = call_id
        self.invite = invite
        self.invite_key = invite_key
        self.source = source
        self.local_tag = local_tag
        self.state = state
        self.role = role
        self.dialog = dialog
        self._retransmitter = _retransmitter
        self.bye_pending = bye_pending
        self.pending_reinvite = pending_reinvite
        self.acks = {} if acks is None else acks
        self.cancel_pending = cancel_pending
        self.on_timer = on_timer
        self.transport = transport
        self.twoxx_route = twoxx_route
        self.ack_later = ack_later
        self.ack_pending = ack_pending
        self.credentials = credentials
        self.route_hop = route_hop
        self.reply_hop = reply_hop

    @property
    def retransmitter(self) -> TwoXXRetransmitter | None:
        """The 2xx retransmitter of the last INVITE we answered with 2xx, if any."""
        return self._retransmitter

    @retransmitter.setter
    def retransmitter(self, value: TwoXXRetransmitter | None) -> None:
        self._retransmitter = value
        if value is not None and self.on_timer is not None:
            self.on_timer(self)


TimerOwner: TypeAlias = "ServerEntry | ClientEntry | CoreCall"


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


class TransactionLayer:
    """The state both directions share: identity, transaction and call tables, timers.

    Every table entry with a timer has an entry in :attr:`heap` at or before
    each of its deadlines: transactions push each timer they start
    (``Transaction.on_timer``), entries push what they hold when they are put
    into a table, 2xx retransmitters when they are set on a call, and every
    owner pushes its next deadline after its timers ran (:meth:`reschedule`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        timers: TimerSettings,
        rng: random.Random,
        user_agent: str,
    ) -> None:
        self.host = host
        self.port = port
        self.timers = timers
        self.rng = rng
        self.user_agent = user_agent
        self.heap: TimerHeap[TimerOwner] = TimerHeap(self.deadline_of)
        self.calls: dict[str, CoreCall] = NotifyingDict(self._call_added)
        self.server: dict[TransactionKey, ServerEntry] = NotifyingDict(self._server_added)
        self.client: dict[TransactionKey, ClientEntry] = NotifyingDict(self._client_added)
        self.errors = 0

    # ------------------------------------------------------------ identity

    def tag(self) -> str:
        """A fresh random token (tags, branches, Call-IDs)."""
        return f"{self.rng.getrandbits(64):016x}"

    def via(self, transport: str = "udp") -> str:
        """A Via for a new client transaction of ours."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"SIP/2.0/{transport.upper()} {host}:{self.port};"
            f"branch={MAGIC_COOKIE}{self.tag()};rport"
        )

    def contact_for(self, transport: str) -> str:
        """Our Contact for requests and responses sent over ``transport``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        param = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{host}:{self.port}{param}>"

    def call(self, call_id: str) -> CoreCall:
        """The call, or :class:`UserAgentError` for the TU."""
        call = self.calls.get(call_id)
        if call is None:
            raise UserAgentError(f"no call {call_id!r}")
        return call

    @staticmethod
    def send_all(destination: Address, transport: str, outputs: list[Output], out: Outputs) -> None:
        """Queue the messages a transaction wants sent (its other outputs are the caller's)."""
        for item in outputs:
            if isinstance(item, Send):
                out.send(bytes(item.message), destination, transport)

    # ------------------------------------------------------------ timers

    def _server_added(self, key: TransactionKey, entry: ServerEntry) -> None:
        entry.key = key
        self._watch(entry.transaction, entry)
        if entry.tu_deadline is not None:
            self.heap.push(entry.tu_deadline, entry)

    def _client_added(self, key: TransactionKey, entry: ClientEntry) -> None:
        entry.key = key
        self._watch(entry.transaction, entry)

    def _call_added(self, call_id: str, call: CoreCall) -> None:
        call.on_timer = self.reschedule
        self.reschedule(call)

    def _watch(
        self, transaction: ServerTransaction | ClientTransaction, owner: ServerEntry | ClientEntry
    ) -> None:
        push = self.heap.push
        for at in transaction.deadlines():
            push(at, owner)
        # The entry holds the transaction: a callback holding the entry would make a
        # cycle of the two (with the request and responses the transaction keeps) that
        # only the collector could free, 32 s after the call for every BYE's transaction.
        entry = weakref.ref(owner)

        def started(at: float) -> None:
            alive = entry()
            if alive is not None:
                push(at, alive)

        transaction.on_timer = started

    def reschedule(self, owner: TimerOwner) -> None:
        """Push the owner's next deadline (after its timers ran or a new one started)."""
        at = self.deadline_of(owner)
        if at is not None:
            self.heap.push(at, owner)

    def deadline_of(self, owner: TimerOwner) -> float | None:
        """The owner's earliest deadline, or ``None`` when it left its table or has none."""
        if isinstance(owner, ServerEntry):
            if owner.key is None or self.server.get(owner.key) is not owner:
                return None
            return _earliest(owner.transaction.next_timeout(), owner.tu_deadline)
        if isinstance(owner, ClientEntry):
            if owner.key is None or self.client.get(owner.key) is not owner:
                return None
            return owner.transaction.next_timeout()
        if self.calls.get(owner.call_id) is not owner:
            return None
        retransmitter = owner.retransmitter
        if retransmitter is None or retransmitter.done:
            return None
        return retransmitter.next_timeout()

    def forget(self, owner: TimerOwner) -> None:
        """Drop an owner whose timers raised (its heap entries go stale with it)."""
        if isinstance(owner, ServerEntry):
            if owner.key is not None and self.server.get(owner.key) is owner:
                del self.server[owner.key]
        elif isinstance(owner, ClientEntry):
            if owner.key is not None and self.client.get(owner.key) is owner:
                del self.client[owner.key]
        elif self.calls.get(owner.call_id) is owner:
            del self.calls[owner.call_id]


def dialog_header_problem(request: Request | Response) -> str | None:
    """Why Contact / Record-Route of a dialog-forming message are unusable, or ``None``.

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


def uac_dialog(invite: Request, response: Response) -> Dialog:
    """The dialog of our INVITE; an unusable Contact/Record-Route falls back to the R-URI."""
    if dialog_header_problem(response) is None:
        return Dialog.uac(invite, response)
    return Dialog(
        call_id=invite.call_id,
        local_tag=invite.from_tag or "",
        remote_tag=response.to_tag or "",
        local_address=str(invite.from_),
        remote_address=str(response.to),
        remote_target=invite.uri,
        local_seq=invite.cseq.number,
        local_contact=invite.headers.get("Contact") or "",
        state="confirmed" if 200 <= response.status < 300 else "early",
    )


def dialog_transport(dialog: Dialog, default: str) -> str:
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


def ack_destination(dialog: Dialog) -> Address:
    """The next hop of the dialog, for an ACK (an unroutable target is the TU's problem)."""
    try:
        return dialog.next_hop()
    except ParseError:
        raise UserAgentError("the dialog's remote target is not routable") from None
