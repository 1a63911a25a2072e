"""SIP subscriptions from the subscriber's side (RFC 6665), sans I/O.

One :class:`Subscription` is one SUBSCRIBE dialog with one event package:
it builds the SUBSCRIBE requests (the first one out of dialog, refreshes
and the final ``Expires: 0`` inside it), takes the answers to them and the
NOTIFY requests of the notifier, keeps its two deadlines (RFC 6665 Timer N
after each SUBSCRIBE, the expiry of the subscription) and reports what the
script sees as :class:`StatusChange` values.  Time comes in as ``now``; the
requests go out through the SIP core's client transactions.

The rules follow the reference's subscriber (``modules.md`` section 13):

* a final failure to the first SUBSCRIBE, or 405/481/489/501 to a later
  one, ends the subscription with ``failed`` (``code``, ``reason``); a 2xx
  without a readable ``Expires`` does too (``code`` 200);
* a 2xx with ``Expires: n`` (n > 0) sets the expiry and stops Timer N;
* a NOTIFY is answered 200; ``Subscription-State: active`` or ``pending``
  with an ``expires`` parameter above 0 gives ``active``/``pending`` and a
  new expiry, anything else ``terminated``; a NOTIFY for an ended or
  unknown subscription gets 481;
* Timer N (68 T1, no NOTIFY after a SUBSCRIBE) and the expiry give
  ``timeout``.  There is no automatic refresh: the script refreshes with
  ``subscription.refresh`` (the reference does not refresh either).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsm.runtime.sip.dialog import Dialog
from dsm.runtime.sip.digest import authorization, choose, parse_challenges
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Headers
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.uri import SipUri, parse_uri

__all__ = [
    "BODY_OBJECT",
    "SubscriptionBody",
    "SubscriptionTarget",
    "StatusChange",
    "Subscription",
    "TIMER_N_T1",
    "notify_target",
]

TIMER_N_T1 = 68
"""Timer N in units of T1: 64 T1 of the SUBSCRIBE transaction plus 4 (as the reference)."""

Address = tuple[str, int]

_VIA = "SIP/2.0/UDP 0.0.0.0"
"""Placeholder top Via: the SIP core puts its own (with a fresh branch) when it sends."""


BODY_OBJECT = "SipSubscriptionBody"
"""The object name under which a NOTIFY body reaches the script (engine.md section 3)."""


@dataclass(frozen=True, slots=True)
class SubscriptionBody:
    """A NOTIFY body in the script's object store (``xml.parseSIPMsgBody`` reads ``payload``)."""

    content_type: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SubscriptionTarget:
    """What ``subscription.create`` reads from ``$<p>.*`` (M-subscription-1)."""

    domain: str
    user: str
    from_user: str
    pwd: str = ""
    proxy: str = ""
    event: str = ""
    accept: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One SIPSubscription event: ``#status``, ``#code``, ``#reason``, the expiry, the NOTIFY body."""

    handle: str
    status: str
    """``active``, ``pending``, ``terminated``, ``failed`` or ``timeout``."""
    code: int = 0
    reason: str = ""
    expires_in: float = 0.0
    """Seconds until the subscription expires (``active``/``pending``), else 0."""
    body: bytes = b""
    content_type: str = ""


def _subscription_state(request: Request) -> tuple[str, int]:
    """``Subscription-State`` value (lower case) and its ``expires`` parameter (0 when none)."""
    value = request.headers.get("Subscription-State") or ""
    state, _, params = value.partition(";")
    expires = 0
    for param in params.split(";"):
        name, _, text = param.partition("=")
        if name.strip().lower() == "expires":
            try:
                expires = max(0, int(text.strip()))
            except ValueError:
                expires = 0
    return state.strip().lower(), expires


def _expires_header(response: Response) -> int | None:
    text = (response.headers.get("Expires") or "").partition(";")[0].strip()
    try:
        return int(text) if text else None
    except ValueError:
        return None


@dataclass(slots=True)
class Subscription:
    """One subscription dialog; see the module docstring.

    ``handle`` (our From tag) names it for the script; ``contact`` is our
    Contact, ``user_agent`` our User-Agent.  Raises :class:`ValueError`
    from :meth:`first_request` when the target makes no SIP URI.
    """

    target: SubscriptionTarget
    call_id: str
    handle: str
    contact: str
    t1: float = 0.5
    user_agent: str = "dsm-runtime"
    state: str = "init"
    """``init``, ``notify_wait``, ``pending``, ``active``, ``terminated``."""
    dialog: Dialog | None = None
    local_seq: int = 0
    timer_n: float | None = None
    expires_at: float | None = None
    removed: bool = False
    """``remove`` was called: no more events, forgotten after its last SUBSCRIBE."""
    pending: set[int] = field(default_factory=set)
    """CSeq numbers of our SUBSCRIBE requests still without a final answer."""

    # -- addresses ------------------------------------------------------------------------
    @property
    def local_uri(self) -> str:
        return f"sip:{self.target.from_user}@{self.target.domain}"

    @property
    def remote_uri(self) -> str:
        return f"sip:{self.target.user}@{self.target.domain}"

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def destination(self) -> Address:
        """Where SUBSCRIBE goes: the dialog's next hop, else the proxy, else the URI's host."""
        try:
            if self.dialog is not None:
                return self.dialog.next_hop()
            uri = parse_uri(self._proxy_uri() or self.remote_uri)
        except ParseError as exc:
            raise ValueError(f"no route for the subscription: {exc.reason}") from None
        if not isinstance(uri, SipUri):
            raise ValueError("the subscription target is not a SIP URI")
        return uri.address()

    def _proxy_uri(self) -> str:
        proxy = self.target.proxy.strip().strip("<>")
        if proxy and not proxy.startswith(("sip:", "sips:")):
            proxy = f"sip:{proxy}"
        return proxy

    # -- sending --------------------------------------------------------------------------
    def subscribe(self, now: float, expires: int = 0) -> Request:
        """The next SUBSCRIBE (``expires`` 0: no Expires header, the notifier's default).

        Out of dialog until the first 2xx or NOTIFY made one; every
        SUBSCRIBE starts Timer N.  ``remove`` sends ``Expires: 0`` with
        :meth:`unsubscribe` instead.
        """
        request = self._request([("Expires", str(expires))] if expires else [])
        if self.state == "init":
            self.state = "notify_wait"
        self.timer_n = now + TIMER_N_T1 * self.t1
        return request

    def unsubscribe(self) -> Request:
        """``SUBSCRIBE`` with ``Expires: 0``; the subscription is forgotten (M-subscription-3)."""
        self.removed = True
        self.timer_n = None
        self.expires_at = None
        request = self._request([("Expires", "0")])
        self.state = "terminated"
        return request

    def _request(self, extra: list[tuple[str, str]]) -> Request:
        headers: list[tuple[str, str]] = []
        if self.target.event:
            event = self.target.event + (f";id={self.target.id}" if self.target.id else "")
            headers.append(("Event", event))
        if self.target.accept:
            headers.append(("Accept", self.target.accept))
        headers += extra
        headers.append(("User-Agent", self.user_agent))
        if self.dialog is not None:
            self.dialog.local_seq = max(self.dialog.local_seq, self.local_seq)
            request = self.dialog.create_request("SUBSCRIBE", _VIA, headers=headers)
            self.local_seq = self.dialog.local_seq
        else:
            self.local_seq += 1
            out = Headers()
            out.add("Via", _VIA)
            out.add("Max-Forwards", "70")
            if proxy := self._proxy_uri():
                out.add("Route", f"<{proxy};lr>")
            out.add("From", f"<{self.local_uri}>;tag={self.handle}")
            out.add("To", f"<{self.remote_uri}>")
            out.add("Call-ID", self.call_id)
            out.add("CSeq", str(CSeq(self.local_seq, "SUBSCRIBE")))
            out.add("Contact", self.contact)
            for name, value in headers:
                out.add(name, value)
            request = Request(headers=out, method="SUBSCRIBE", uri=self.remote_uri)
        self.pending.add(self.local_seq)
        return request

    def authenticate(self, request: Request, response: Response, cnonce: str) -> Request | None:
        """A 401/407 to a SUBSCRIBE: the same SUBSCRIBE with digest credentials, once.

        ``None`` when there is no password, the challenge is not one we can
        answer, or the request already carried credentials (they were refused).
        """
        if response.status not in (401, 407) or not self.target.pwd or self.removed:
            return None
        ask, answer = (
            ("WWW-Authenticate", "Authorization")
            if response.status == 401
            else ("Proxy-Authenticate", "Proxy-Authorization")
        )
        if request.headers.get(answer) is not None:
            return None
        challenge = choose(parse_challenges([response.headers.get(ask) or ""]))
        if challenge is None:
            return None
        credentials = authorization(
            challenge,
            method="SUBSCRIBE",
            uri=request.uri,
            user=self.target.from_user,
            password=self.target.pwd,
            cnonce=cnonce,
        )
        self.pending.discard(request.cseq.number)
        expires = request.headers.get("Expires")
        extra = [("Expires", expires)] if expires else []
        return self._request([*extra, (answer, credentials)])

    # -- receiving -------------------------------------------------------------------------
    def on_response(
        self, request: Request, response: Response | None, now: float
    ) -> list[StatusChange]:
        """A final answer to one of our SUBSCRIBEs (``None``: no answer, a local 408)."""
        status = response.status if response is not None else 408
        if status < 200:
            return []
        self.pending.discard(request.cseq.number)
        if self.removed or self.terminated:
            return []
        reason = response.reason if response is not None else "Request Timeout"
        if status >= 300:
            if self.state == "notify_wait" or status in (405, 481, 489, 501):
                return self._fail(status, reason)
            return []
        assert response is not None
        if self.dialog is None and response.to_tag:
            self.dialog = Dialog.uac(request, response)
            self.dialog.local_contact = self.contact
        expires = _expires_header(response)
        if expires is None:
            return self._fail(status, reason)
        if expires > 0:
            self.expires_at = now + expires
            self.timer_n = None
        return []

    def on_notify(self, request: Request, now: float) -> tuple[int, list[StatusChange]]:
        """A NOTIFY in this subscription's dialog: the status to answer and the event to raise."""
        if self.removed or self.terminated:
            return 481, []
        remote_tag = request.from_tag or ""
        if self.dialog is None:
            contact = request.contact
            self.dialog = Dialog(
                call_id=self.call_id,
                local_tag=self.handle,
                remote_tag=remote_tag,
                local_address=f"<{self.local_uri}>;tag={self.handle}",
                remote_address=str(request.from_),
                remote_target=str(contact.uri) if contact is not None else self.remote_uri,
                route_set=list(request.headers.get_all("Record-Route")),
                local_seq=self.local_seq,
                local_contact=self.contact,
            )
        elif remote_tag != self.dialog.remote_tag:
            return 481, []
        if not self.dialog.accept_remote_cseq(request):
            return 500, []
        state, expires = _subscription_state(request)
        self.timer_n = None
        change: StatusChange
        body, ctype = request.body, request.content_type if request.body else ""
        if expires and state in ("active", "pending"):
            self.state = state
            self.expires_at = now + expires
            change = StatusChange(
                self.handle, state, expires_in=expires, body=body, content_type=ctype
            )
        else:
            self.state = "terminated"
            self.expires_at = None
            change = StatusChange(self.handle, "terminated", body=body, content_type=ctype)
        return 200, [change]

    # -- time --------------------------------------------------------------------------------
    def next_timeout(self) -> float | None:
        if self.terminated:
            return None
        times = [t for t in (self.timer_n, self.expires_at) if t is not None]
        return min(times) if times else None

    def on_timeout(self, now: float) -> list[StatusChange]:
        """Timer N or the expiry passed: the subscription ends with ``timeout``."""
        due = self.next_timeout()
        if due is None or due > now:
            return []
        self.state = "terminated"
        self.timer_n = self.expires_at = None
        return [StatusChange(self.handle, "timeout")]

    def _fail(self, code: int, reason: str) -> list[StatusChange]:
        self.state = "terminated"
        self.timer_n = self.expires_at = None
        return [StatusChange(self.handle, "failed", code, reason)]


def notify_target(request: Request) -> tuple[str, str] | None:
    """Call-ID and To tag of an in-dialog NOTIFY (the subscription's key), else ``None``."""
    if request.method != "NOTIFY":
        return None
    try:
        tag = request.to_tag
    except ParseError:
        return None
    return (request.call_id, tag) if tag else None
