"""The sans-I/O subscription dialog (``runtime/sip/subscription.py``), fed messages and time.

No sockets: requests are built, serialised and parsed back; NOTIFYs are
parsed from text.  Rules: M-subscription-1 … 3 and the status changes of
C-core-25 (``active``, ``pending``, ``terminated``, ``failed``, ``timeout``).
"""

from __future__ import annotations

from typing import Any

from dsm.runtime.sip.message import Request, parse_message
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.subscription import (
    TIMER_N_T1,
    Subscription,
    SubscriptionTarget,
    notify_target,
)

TARGET = SubscriptionTarget(
    domain="example.org:5070", user="alice", from_user="bob", event="reg", id="7", accept="x/y"
)


def make(**kw: Any) -> Subscription:
    target = kw.pop("target", TARGET)
    return Subscription(target, "cid@host", "ourtag", "<sip:127.0.0.1:5060>", **kw)


def wire(request: Request) -> Request:
    parsed = parse_message(bytes(request))
    assert isinstance(parsed, Request)
    return parsed


def notify(
    state: str, cseq: int = 1, tag: str = "ourtag", body: str = "", from_tag: str = "n1"
) -> Request:
    content = f"Content-Type: application/reginfo+xml\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    text = (
        "NOTIFY sip:127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKn\r\n"
        f"From: <sip:alice@example.org>;tag={from_tag}\r\n"
        f"To: <sip:bob@example.org>;tag={tag}\r\n"
        "Call-ID: cid@host\r\n"
        f"CSeq: {cseq} NOTIFY\r\n"
        "Contact: <sip:alice@10.0.0.1:5070>\r\n"
        "Event: reg\r\n"
        f"Subscription-State: {state}\r\n" + content
    )
    parsed = parse_message(text.encode())
    assert isinstance(parsed, Request)
    return parsed


def test_M_subscription_1_first_subscribe_headers() -> None:
    """R-URI and To sip:user@domain, From sip:from_user@domain with our tag, Event with id, Accept, Expires."""
    sub = make()
    request = wire(sub.subscribe(0.0, 300))
    assert request.method == "SUBSCRIBE" and request.uri == "sip:alice@example.org:5070"
    assert str(request.to.uri) == "sip:alice@example.org:5070" and request.to.tag is None
    assert str(request.from_.uri) == "sip:bob@example.org:5070" and request.from_.tag == "ourtag"
    h = request.headers
    assert (h.get("Event"), h.get("Accept"), h.get("Expires")) == ("reg;id=7", "x/y", "300")
    assert h.get("Contact") == "<sip:127.0.0.1:5060>" and request.cseq.number == 1
    assert sub.destination() == ("example.org", 5070) and sub.state == "notify_wait"


def test_M_subscription_1_default_expiry_has_no_expires_header_and_proxy_routes() -> None:
    """Expires 0: the notifier's default (no header); a proxy becomes a loose Route and the destination."""
    sub = make(target=SubscriptionTarget("example.org", "alice", "bob", proxy="10.1.1.1:5080"))
    request = wire(sub.subscribe(0.0))
    assert request.headers.get("Expires") is None
    assert request.headers.get("Route") == "<sip:10.1.1.1:5080;lr>"
    assert sub.destination() == ("10.1.1.1", 5080)


def test_notify_before_the_2xx_makes_the_dialog_and_the_refresh_goes_inside_it() -> None:
    """RFC 6665 4.1.2.4: the NOTIFY may overtake the 2xx; the refresh is sent in the NOTIFY's dialog."""
    sub = make()
    first = wire(sub.subscribe(0.0, 60))
    status, changes = sub.on_notify(notify("active;expires=60"), 0.1)
    assert status == 200 and [c.status for c in changes] == ["active"]
    assert changes[0].expires_in == 60
    assert (
        sub.on_response(
            first, make_response(first, 200, to_tag="n1", headers=[("Expires", "60")]), 0.2
        )
        == []
    )
    refresh = wire(sub.subscribe(10.0, 120))
    assert refresh.uri == "sip:alice@10.0.0.1:5070" and refresh.to.tag == "n1"
    assert refresh.cseq.number == 2 and refresh.headers.get("Expires") == "120"


def test_C_core_25_notify_states() -> None:
    """pending/active need ``expires`` > 0; without it, or ``terminated``, the subscription ends; a body is passed on."""
    sub = make()
    sub.subscribe(0.0, 60)
    _, changes = sub.on_notify(notify("pending;expires=30", body="<x/>"), 1.0)
    assert (changes[0].status, changes[0].body, changes[0].content_type) == (
        "pending",
        b"<x/>",
        "application/reginfo+xml",
    )
    assert sub.next_timeout() == 31.0
    status, changes = sub.on_notify(notify("active", cseq=2), 2.0)
    assert status == 200 and changes[0].status == "terminated" and sub.terminated
    assert sub.on_notify(notify("active;expires=5", cseq=3), 3.0) == (481, [])


def test_notify_out_of_order_cseq_and_foreign_tag() -> None:
    """A lower CSeq gets 500; a NOTIFY from another notifier tag (a fork) 481."""
    sub = make()
    sub.subscribe(0.0, 60)
    assert sub.on_notify(notify("active;expires=60", cseq=5), 0.0)[0] == 200
    assert sub.on_notify(notify("active;expires=60", cseq=4), 0.0) == (500, [])
    assert sub.on_notify(notify("active;expires=60", cseq=6, from_tag="other"), 0.0) == (481, [])


def test_timer_n_without_notify_is_timeout() -> None:
    """No NOTIFY within Timer N (68 T1) after the SUBSCRIBE: ``timeout``."""
    sub = make(t1=0.5)
    sub.subscribe(0.0, 60)
    assert sub.next_timeout() == TIMER_N_T1 * 0.5
    assert sub.on_timeout(33.0) == []
    (change,) = sub.on_timeout(34.0)
    assert change.status == "timeout" and sub.terminated and sub.next_timeout() is None


def test_refresh_failures_that_end_the_usage() -> None:
    """Once a NOTIFY came only 405/481/489/501 end the subscription (RFC 5057); a 500 does not.

    Before any NOTIFY (still waiting for one) every failure ends it, as in the reference.
    """
    sub = make()
    first = wire(sub.subscribe(0.0, 60))
    sub.on_response(first, make_response(first, 200, to_tag="n1", headers=[("Expires", "60")]), 0.0)
    sub.on_notify(notify("active;expires=60"), 0.0)
    refresh = wire(sub.subscribe(1.0, 60))
    assert sub.on_response(refresh, make_response(refresh, 500), 1.0) == []
    again = wire(sub.subscribe(2.0, 60))
    (change,) = sub.on_response(again, make_response(again, 489, "Bad Event"), 2.0)
    assert (change.status, change.code, change.reason) == ("failed", 489, "Bad Event")


def test_no_answer_to_the_first_subscribe_is_failed_408() -> None:
    sub = make()
    first = wire(sub.subscribe(0.0, 60))
    (change,) = sub.on_response(first, None, 32.0)
    assert (change.status, change.code, change.reason) == ("failed", 408, "Request Timeout")


def test_M_subscription_3_unsubscribe() -> None:
    """``Expires: 0`` in the dialog; no events afterwards, NOTIFYs get 481."""
    sub = make()
    first = wire(sub.subscribe(0.0, 60))
    sub.on_response(first, make_response(first, 200, to_tag="n1", headers=[("Expires", "60")]), 0.0)
    bye = wire(sub.unsubscribe())
    assert bye.headers.get("Expires") == "0" and bye.to.tag == "n1" and sub.removed
    assert sub.on_response(bye, make_response(bye, 200, headers=[("Expires", "0")]), 0.0) == []
    assert sub.on_notify(notify("terminated"), 0.0) == (481, [])
    assert sub.next_timeout() is None and not sub.pending


def test_notify_target() -> None:
    assert notify_target(notify("active;expires=1")) == ("cid@host", "ourtag")
    assert notify_target(wire(make().subscribe(0.0))) is None


def test_authenticate_once_then_give_up() -> None:
    """A 401 gets one retry with Authorization (new CSeq); a 401 to that one does not."""
    sub = make(target=SubscriptionTarget("example.org", "alice", "bob", pwd="pw"))
    first = wire(sub.subscribe(0.0, 60))
    challenge = [("WWW-Authenticate", 'Digest realm="r", nonce="n"')]
    again = sub.authenticate(first, make_response(first, 401, headers=challenge), "c")
    assert again is not None
    again = wire(again)
    assert again.cseq.number == 2 and again.headers.get("Expires") == "60"
    assert (again.headers.get("Authorization") or "").startswith('Digest username="bob"')
    assert sub.authenticate(again, make_response(again, 401, headers=challenge), "c") is None
    assert sub.pending == {2}
