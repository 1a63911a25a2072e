"""The simple relay's sans-I/O parts: the SIP core's ``outside_requests`` hook and a relayed side.

The core is fed bytes and time (no sockets); :class:`RelaySide` builds requests.
"""

from __future__ import annotations

import pytest

from dsm.runtime.sbc.simple_relay_dialog import (
    RelaySide,
    expires_of,
    first_request,
    max_forwards,
    subscription_terminated,
)
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.useragent import OutsideRequest, UserAgentError, UserAgentServer

SENDER = ("192.0.2.5", 5062)


def message(method: str = "MESSAGE", to_tag: str = "", call_id: str = "m1") -> bytes:
    to = "<sip:bob@example.net>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bK{method}{call_id}\r\n"
        f"From: <sip:alice@example.net>;tag=a1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 7 {method}\r\n"
        f"Max-Forwards: 9\r\nContact: <sip:alice@192.0.2.5:5062>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def responses(out: object) -> list[Response]:
    return [m for d in out.datagrams if isinstance(m := parse_message(d.data), Response)]  # type: ignore[attr-defined]


def test_without_the_hook_the_core_answers_out_of_dialog_methods_itself() -> None:
    """No TU hook (no ``--sbc``): MESSAGE is ``405`` as before, OPTIONS ``200``."""
    core = UserAgentServer("127.0.0.1", 5060)
    assert [r.status for r in responses(core.receive(message(), SENDER, 0.0))] == [405]
    assert [r.status for r in responses(core.receive(message("OPTIONS"), SENDER, 0.0))] == [200]


def test_hook_takes_a_request_the_tu_answers_once_with_its_to_tag() -> None:
    """A taken request is an :class:`OutsideRequest` and waits; ``reply_outside`` answers it with
    the TU's To tag; a second final answer is the TU's mistake."""
    core = UserAgentServer("127.0.0.1", 5060)
    core.outside_requests = lambda request: True
    out = core.receive(message(), SENDER, 0.0)
    assert not out.datagrams
    (event,) = out.events
    assert isinstance(event, OutsideRequest) and event.source == SENDER and event.request.method == "MESSAGE"
    reply = core.reply_outside(event.transaction, 202, "Accepted", now=0.1, to_tag="t1", headers=[("X-A", "1")])
    (response,) = responses(reply)
    assert (response.status, response.to.tag, response.headers.get("X-A")) == (202, "t1", "1")
    assert [d.destination for d in reply.datagrams] == [SENDER]
    with pytest.raises(UserAgentError):
        core.reply_outside(event.transaction, 200, now=0.2)
    again = core.receive(message(), SENDER, 0.3)  # a retransmission: the transaction answers it
    assert [r.status for r in responses(again)] == [202] and not again.events


def test_an_unanswered_outside_request_gets_500_at_the_tu_deadline() -> None:
    core = UserAgentServer("127.0.0.1", 5060, tu_reply_timeout=2.0)
    core.outside_requests = lambda request: True
    core.receive(message(), SENDER, 0.0)
    deadline = core.next_timeout()
    assert deadline is not None and deadline <= 2.0
    assert [r.status for r in responses(core.handle_timeout(2.0))] == [500]


def test_hook_never_sees_invite_ack_cancel_nor_requests_of_calls() -> None:
    """INVITE stays a call; an in-dialog request the hook declines still gets the core's 481."""
    core = UserAgentServer("127.0.0.1", 5060)
    asked: list[str] = []

    def decline(request: Request) -> bool:
        asked.append(request.method)
        return False

    core.outside_requests = decline
    core.receive(message("NOTIFY", to_tag="x"), SENDER, 0.0)
    assert asked == ["NOTIFY"]
    assert [r.status for r in responses(core.receive(message("BYE", to_tag="y", call_id="b"), SENDER, 0.0))] == [481]
    invite = message("INVITE", call_id="i1")
    core.receive(invite, SENDER, 0.0)
    assert "INVITE" not in asked


def test_relay_side_makes_in_dialog_requests_with_its_identifiers() -> None:
    side = RelaySide(
        call_id="c2", local_tag="ours", remote_tag="theirs", local_uri="<sip:sbc@example.org>",
        remote_uri="<sip:alice@example.net>", remote_target="sip:alice@192.0.2.5:5062", cseq=4,
    )  # fmt: skip
    request = side.request(
        "NOTIFY", headers=[("Event", "presence")], body=b"x", content_type="text/plain", forwards=69,
        contact="<sip:127.0.0.1:5060>",
    )  # fmt: skip
    parsed = parse_message(bytes(request))
    assert isinstance(parsed, Request)
    assert parsed.uri == "sip:alice@192.0.2.5:5062"
    assert (parsed.from_.tag, parsed.to.tag, parsed.call_id) == ("ours", "theirs", "c2")
    assert str(parsed.cseq.number) == "5" and parsed.headers.get("Max-Forwards") == "69"
    assert parsed.headers.get("Event") == "presence" and parsed.body == b"x"
    assert side.target_address() == ("192.0.2.5", 5062)
    side.destination = ("127.0.0.1", 5070)
    assert side.target_address() == ("127.0.0.1", 5070)


def test_relay_side_learns_the_peers_tag_and_contact() -> None:
    side = RelaySide(call_id="c", local_tag="l", remote_tag="", local_uri="<sip:a@x>", remote_uri="<sip:b@y>",
                     remote_target="sip:b@y")  # fmt: skip
    ok = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=l\r\n"
        b"To: <sip:b@y>;tag=peer\r\nCall-ID: c\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:b@192.0.2.9:5099>\r\n"
        b"Expires: 120\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(ok, Response)
    side.learn(ok)
    assert (side.remote_tag, side.remote_target) == ("peer", "sip:b@192.0.2.9:5099")
    assert expires_of(ok) == 120


def test_helpers_read_subscription_state_and_max_forwards() -> None:
    notify = parse_message(message("NOTIFY", to_tag="x").replace(b"Max-Forwards: 9\r\n", b"Subscription-State: terminated;reason=timeout\r\n"))
    assert isinstance(notify, Request)
    assert subscription_terminated(notify) and max_forwards(notify) == 70
    msg = parse_message(message())
    assert isinstance(msg, Request)
    assert not subscription_terminated(msg) and max_forwards(msg) == 9 and expires_of(msg) is None
    first = first_request(
        "MESSAGE", "sip:bob@example.net", from_="<sip:a@x>", local_tag="f1", to="<sip:bob@example.net>",
        call_id="n1", cseq=7, forwards=8, contact=None, headers=[], body=b"", content_type="",
    )  # fmt: skip
    parsed = parse_message(bytes(first))
    assert isinstance(parsed, Request) and parsed.from_.tag == "f1" and parsed.to.tag is None


def test_while_draining_new_requests_are_not_handed_to_the_tu() -> None:
    """``dsm drain``: a new MESSAGE gets the core's own answer, OPTIONS ``503``; requests of
    relayed dialogs (a To tag) still reach the TU."""
    core = UserAgentServer("127.0.0.1", 5060)
    core.outside_requests = lambda request: True
    core.unavailable = 30
    assert [r.status for r in responses(core.receive(message("OPTIONS"), SENDER, 0.0))] == [503]
    assert [r.status for r in responses(core.receive(message(call_id="m2"), SENDER, 0.0))] == [405]
    out = core.receive(message("NOTIFY", to_tag="ours", call_id="n9"), SENDER, 0.0)
    assert [type(e).__name__ for e in out.events] == ["OutsideRequest"]
