"""Dialog state and in-dialog request building (RFC 3261 section 12).

A :class:`Dialog` holds what identifies and routes a call once the INVITE
was answered: Call-ID, local and remote tags, CSeq counters, the route set
(from Record-Route) and the remote target (from Contact).  It builds BYE,
re-INVITE, INFO … requests ready for a client transaction; the caller adds
the Via (the branch belongs to the transport layer).

:class:`TwoXXRetransmitter` is the UAS core's duty of RFC 3261 13.3.1.4:
the 2xx to an INVITE is retransmitted (T1 doubling, capped at T2) until the
ACK arrives, and after 64*T1 without ACK the dialog is to be ended.
:func:`cancel_responses` answers a CANCEL (RFC 3261 9.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mypy_extensions import mypyc_attr

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Headers
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.transaction import Output, Send, TimedOut, TimerSettings
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_uri

__all__ = ["Dialog", "TwoXXRetransmitter", "cancel_responses", "DialogId"]

DialogId = tuple[str, str, str]
"""(Call-ID, local tag, remote tag)."""


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled: tests put in a dialog that fails
@dataclass(slots=True)
class Dialog:
    """One dialog as seen from our side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_address: str
    """Our name-addr with our tag (From of the requests we send)."""
    remote_address: str
    """The peer's name-addr with its tag (To of the requests we send)."""
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    local_contact: str = ""
    state: str = "confirmed"

    def __init__(
        self,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_address: str,
        remote_address: str,
        remote_target: str,
        route_set: list[str] | None = None,
        local_seq: int = 0,
        remote_seq: int | None = None,
        local_contact: str = "",
        state: str = "confirmed",
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_address = local_address
        self.remote_address = remote_address
        self.remote_target = remote_target
        self.route_set = [] if route_set is None else route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.local_contact = local_contact
        self.state = state

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def uas(cls, request: Request, response: Response, local_contact: str) -> Dialog:
        """The dialog a UAS creates by answering ``request`` with ``response`` (12.1.1)."""
        to = response.to
        local_tag = to.tag
        if not local_tag:
            raise ValueError("a dialog-creating response needs a To tag")
        contact = request.contact
        target = str(contact.uri) if contact is not None else str(request.from_.uri)
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_address=str(to),
            remote_address=str(request.from_),
            remote_target=target,
            route_set=list(request.headers.get_all("Record-Route")),
            local_seq=0,
            remote_seq=request.cseq.number,
            local_contact=local_contact,
            state="confirmed" if 200 <= response.status < 300 else "early",
        )

    @classmethod
    def uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC gets from a response to its INVITE (12.1.2)."""
        contact = response.contact
        target = str(contact.uri) if contact is not None else request.uri
        return cls(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=response.to_tag or "",
            local_address=str(request.from_),
            remote_address=str(response.to),
            remote_target=target,
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq.number,
            remote_seq=None,
            local_contact=request.headers.get("Contact") or "",
            state="confirmed" if 200 <= response.status < 300 else "early",
        )

    def accept_remote_cseq(self, request: Request) -> bool:
        """Check and record the CSeq of an in-dialog request (12.2.2).

        A number lower than the last one is out of order (answer 500); ACK
        and CANCEL carry the number of their INVITE and are not counted.
        """
        if request.method in ("ACK", "CANCEL"):
            return True
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def create_request(
        self,
        method: str,
        via: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A request within the dialog (12.2.1.1); ``via`` is the full Via value.

        ACK takes the CSeq number of the INVITE it acknowledges (``cseq``);
        any other method increments the local CSeq.
        """
        if method == "ACK":
            number = cseq if cseq is not None else self.local_seq
        else:
            self.local_seq += 1
            number = self.local_seq
        uri, routes = self._uri_and_routes()
        out = Headers()
        out.add("Via", via)
        out.add("Max-Forwards", "70")
        for route in routes:
            out.add("Route", route)
        out.add("From", self.local_address)
        out.add("To", self.remote_address)
        out.add("Call-ID", self.call_id)
        out.add("CSeq", str(CSeq(number, method)))
        if self.local_contact and method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
            out.add("Contact", self.local_contact)
        for name, value in headers or []:
            out.add(name, value)
        if body:
            out.add("Content-Type", content_type or "application/octet-stream")
        return Request(headers=out, body=body, method=method, uri=uri)

    def _uri_and_routes(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = NameAddress.parse(self.route_set[0])
        if isinstance(first.uri, SipUri) and "lr" in first.uri.params:
            return self.remote_target, list(self.route_set)
        # Strict router: it becomes the Request-URI, the target goes last.
        uri = first.uri
        if isinstance(uri, SipUri):
            uri = SipUri(
                uri.host, uri.user, uri.password, uri.port, dict(uri.params), {}, uri.scheme
            )
        return str(uri), [*self.route_set[1:], f"<{self.remote_target}>"]

    def next_hop(self) -> tuple[str, int]:
        """Address (without DNS) of the first hop for in-dialog requests."""
        uri_text, routes = self._uri_and_routes()
        target = NameAddress.parse(routes[0]).uri if routes else parse_uri(uri_text)
        if not isinstance(target, SipUri):
            raise ParseError("Next hop is not a SIP URI")
        return target.address()


class TwoXXRetransmitter:
    """Retransmit a 2xx to INVITE until ACKed (RFC 3261 13.3.1.4), sans I/O."""

    def __init__(
        self,
        response: Response,
        now: float,
        timers: TimerSettings | None = None,
        reliable: bool = False,
    ) -> None:
        timers = timers or TimerSettings()
        self.response = response
        self.timers = timers
        self.acked = False
        self._interval = timers.t1
        self._next: float | None = None if reliable else now + timers.t1
        self._give_up: float | None = now + timers.timeout

    @property
    def done(self) -> bool:
        return self.acked or self._give_up is None

    def ack(self) -> None:
        self.acked = True
        self._next = self._give_up = None

    def next_timeout(self) -> float | None:
        """The earlier of the next retransmission and the give-up time (64*T1), or ``None``."""
        retransmit, give_up = self._next, self._give_up
        if retransmit is None or (give_up is not None and give_up < retransmit):
            return give_up
        return retransmit

    def handle_timeout(self, now: float) -> list[Output]:
        out: list[Output] = []
        while (
            self._next is not None
            and self._next <= now
            and (self._give_up is None or self._next < self._give_up)
        ):
            out.append(Send(self.response))
            self._interval = min(self._interval * 2, self.timers.t2)
            self._next += self._interval
        if self._give_up is not None and self._give_up <= now:
            self._next = self._give_up = None
            out.append(TimedOut("H"))
        return out


def cancel_responses(
    invite: Request, cancel: Request, to_tag: str | None
) -> tuple[Response, Response]:
    """``200`` for the CANCEL and ``487 Request Terminated`` for its INVITE (9.2)."""
    return make_response(cancel, 200, to_tag=to_tag), make_response(invite, 487, to_tag=to_tag)
