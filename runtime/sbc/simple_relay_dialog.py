"""The two halves of a relayed non-INVITE dialog and the requests they make (sans-I/O).

A relayed dialog (:mod:`.simple_relay`) is two dialogs with the SBC in the
middle, as for a relayed call: the caller's side (we are its UAS, our tag is
the To tag we answered with) and the target's side (we are its UAC, our tag
is the From tag we sent).  :class:`RelaySide` keeps one side's identifiers
and makes the request that goes out on it; nothing here does I/O or reads a
clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_uri

__all__ = ["RelaySide", "first_request", "expires_of", "subscription_terminated", "max_forwards"]

Address = tuple[str, int]


@dataclass
class RelaySide:
    """One side of a relayed dialog, as the SBC sees it.

    ``local_uri``/``remote_uri`` are From/To without tags as *we* send them
    on this side; ``remote_target`` is where in-dialog requests go (the
    peer's Contact, else the first request's R-URI); ``destination`` a fixed
    next hop for them (``next_hop``), ``None`` for "the target's address".
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    destination: Address | None = None
    transport: str = "udp"
    cseq: int = 1
    reply_hop: Address | None = None
    """Where our answers to this side's requests go instead of by their Via (``next_hop_for_replies``)."""

    def keys(self) -> tuple[str, str]:
        """How an in-dialog request of the peer names this side: (Call-ID, its To tag = our tag)."""
        return self.call_id, self.local_tag

    def learn(self, message: Request | Response) -> None:
        """The peer's tag (first reply or request) and its newest Contact (remote target refresh)."""
        tag = (message.to_tag if isinstance(message, Response) else message.from_tag) or ""
        if not self.remote_tag and tag:
            self.remote_tag = tag
        contact = _contact_uri(message)
        if contact:
            self.remote_target = contact

    def request(
        self,
        method: str,
        *,
        headers: list[tuple[str, str]],
        body: bytes,
        content_type: str,
        forwards: int,
        contact: str | None,
    ) -> Request:
        """An in-dialog ``method`` on this side (Via filled in by the core when it is sent)."""
        self.cseq += 1
        return first_request(
            method, self.remote_target, from_=self.local_uri, local_tag=self.local_tag,
            to=_with_tag(self.remote_uri, self.remote_tag), call_id=self.call_id, cseq=self.cseq,
            forwards=forwards, contact=contact, headers=headers, body=body, content_type=content_type,
        )  # fmt: skip

    def target_address(self) -> Address | None:
        """Where this side's next request goes: the fixed next hop, else the remote target's host."""
        if self.destination is not None:
            return self.destination
        try:
            uri = parse_uri(self.remote_target)
        except (ParseError, ValueError):
            return None
        return uri.address() if isinstance(uri, SipUri) else None


def first_request(
    method: str,
    ruri: str,
    *,
    from_: str,
    local_tag: str,
    to: str,
    call_id: str,
    cseq: int,
    forwards: int,
    contact: str | None,
    headers: list[tuple[str, str]],
    body: bytes,
    content_type: str,
) -> Request:
    """A relayed request: outside a dialog (the target side's first request) or in one (``to`` tagged)."""
    out = Headers()
    out.add("Via", "SIP/2.0/UDP invalid")
    out.add("Max-Forwards", str(forwards))
    out.add("From", _with_tag(from_, local_tag))
    out.add("To", to)
    out.add("Call-ID", call_id)
    out.add("CSeq", f"{cseq} {method}")
    if contact:
        out.add("Contact", contact)
    for name, value in headers:
        out.add(name, value)
    if body:
        out.set("Content-Type", content_type or "application/octet-stream")
    return Request(headers=out, body=body, method=method, uri=ruri)


def _with_tag(address: str, tag: str) -> str:
    if not tag:
        return address
    parsed = NameAddress.parse(address)
    parsed.params["tag"] = tag
    return str(parsed)


def _contact_uri(message: Request | Response) -> str:
    try:
        contact = message.contact
    except ParseError:
        return ""
    return str(contact.uri) if contact is not None else ""


def expires_of(message: Request | Response) -> int | None:
    """``Expires`` in seconds (``None``: absent or not a number)."""
    text = (message.headers.get("Expires") or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def subscription_terminated(request: Request) -> bool:
    """A NOTIFY whose ``Subscription-State`` is ``terminated`` (RFC 6665 4.1.3) ends the subscription."""
    state = (request.headers.get("Subscription-State") or "").split(";", 1)[0].strip().lower()
    return request.method == "NOTIFY" and state == "terminated"


def max_forwards(request: Request) -> int:
    """``Max-Forwards`` of a received request (70 when absent or unreadable)."""
    text = (request.headers.get("Max-Forwards") or "").strip()
    return int(text) if text.isascii() and text.isdigit() else 70
