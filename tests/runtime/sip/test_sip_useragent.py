"""The sans-I/O UAS core: whole call flows with datagrams and injected time."""

from __future__ import annotations

import dataclasses
import gc
import random
import weakref

import pytest

from dsm.runtime.sip import dialog as dialog_module
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.sdp import OfferAnswerError, answer_offer, make_offer, parse_sdp
from dsm.runtime.sip.useragent import (
    AckReceived,
    AckTimeout,
    CallCancelled,
    CallEnded,
    Datagram,
    Dropped,
    InDialogRequest,
    NewCall,
    Outputs,
    RequestFailed,
    ResponseToRequest,
    UserAgentError,
    UserAgentServer,
)

UA_ADDR = ("127.0.0.1", 5060)
PEER = ("127.0.0.1", 5070)


class Caller:
    """Builds the caller's side of a dialog as raw SIP text."""

    def __init__(self, call_id: str = "call-1", from_tag: str = "ft1") -> None:
        self.call_id = call_id
        self.from_tag = from_tag
        self.to_tag = ""
        self.cseq = 1
        self.branch_no = 0

    def branch(self) -> str:
        self.branch_no += 1
        return f"z9hG4bK{self.call_id}-{self.branch_no}"

    def request(
        self,
        method: str,
        *,
        branch: str | None = None,
        cseq: int | None = None,
        body: str = "",
        to_tag: str | None = None,
        extra: str = "",
    ) -> bytes:
        tag = to_tag if to_tag is not None else self.to_tag
        to = f"<sip:menu@127.0.0.1>{f';tag={tag}' if tag else ''}"
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{method} sip:menu@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch or self.branch()};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f'From: "Alice" <sip:alice@127.0.0.1>;tag={self.from_tag}\r\n'
            f"To: {to}\r\nCall-ID: {self.call_id}\r\n"
            f"CSeq: {cseq if cseq is not None else self.cseq} {method}\r\n"
            f"Contact: <sip:alice@127.0.0.1:5070>\r\n{extra}{ctype}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()


def responses(outputs: Outputs) -> list[Response]:
    messages = (parse_message(datagram.data) for datagram in outputs.datagrams)
    return [msg for msg in messages if isinstance(msg, Response)]


def requests(outputs: Outputs) -> list[Request]:
    messages = (parse_message(datagram.data) for datagram in outputs.datagrams)
    return [msg for msg in messages if isinstance(msg, Request)]


def events(outputs: Outputs) -> list[object]:
    return list(outputs.events)


def statuses(outputs: Outputs) -> list[int]:
    return [r.status for r in responses(outputs)]


def new_ua() -> UserAgentServer:
    return UserAgentServer(*UA_ADDR, rng=random.Random(7))


OFFER = bytes(make_offer(address="127.0.0.1", port=4000)).decode()


def establish(ua: UserAgentServer, caller: Caller, now: float = 0.0) -> Response:
    invite_branch = caller.branch()
    out = ua.receive(caller.request("INVITE", branch=invite_branch, body=OFFER), PEER, now)
    assert statuses(out) == []  # our 100 Trying waits: the TU answers within its delay
    (new_call,) = events(out)
    assert isinstance(new_call, NewCall) and new_call.call_id == caller.call_id
    negotiated = answer_offer(parse_sdp(new_call.request.body), address="127.0.0.1", port=20000)
    out = ua.reply(caller.call_id, 200, now=now + 0.1, body=bytes(negotiated.answer))
    (ok,) = responses(out)
    caller.to_tag = ok.to.tag or ""
    out = ua.receive(caller.request("ACK", cseq=1), PEER, now + 0.2)
    assert [type(e) for e in events(out)] == [AckReceived]
    return ok


def test_invite_100_200_ack_bye_200() -> None:
    ua, caller = new_ua(), Caller()
    ok = establish(ua, caller)
    assert ok.status == 200 and ok.to.tag
    assert ok.headers.get("Contact") == "<sip:127.0.0.1:5060>"
    assert parse_sdp(ok.body).media[0].formats == ["0", "8", "101"]
    caller.cseq = 2
    out = ua.receive(caller.request("BYE"), PEER, 1.0)
    assert statuses(out) == [200]
    (ended,) = events(out)
    assert isinstance(ended, CallEnded) and ended.request.method == "BYE"
    assert caller.call_id not in ua.calls


def test_responses_go_to_via_received_and_rport() -> None:
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), ("192.0.2.7", 40000), 0.0)
    (datagram,) = ua.handle_timeout(0.1).datagrams  # our 100 Trying: the TU did not answer in time
    assert datagram.destination == ("192.0.2.7", 40000)
    via = parse_message(datagram.data).top_via
    assert via.received == "192.0.2.7" and via.rport == 40000


def test_invite_retransmission_resends_provisional_without_new_call() -> None:
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    ua.receive(caller.request("INVITE", branch=branch), PEER, 0.0)
    ua.reply(caller.call_id, 180, now=0.1)
    out = ua.receive(caller.request("INVITE", branch=branch), PEER, 0.5)
    assert statuses(out) == [180] and events(out) == []


def test_2xx_retransmitted_until_ack() -> None:
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    ua.reply(caller.call_id, 200, now=0.0)
    assert ua.next_timeout() == 0.5
    assert statuses(ua.handle_timeout(0.5)) == [200]
    assert statuses(ua.handle_timeout(1.0)) == []
    assert statuses(ua.handle_timeout(1.5)) == [200]


def test_no_ack_gives_ack_timeout_and_queued_bye_is_sent() -> None:
    """E-151: a missing ACK is reported (onNoAck); a BYE requested before the ACK waits."""
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    ua.reply(caller.call_id, 200, now=0.0)
    assert not ua.bye(caller.call_id, now=1.0)
    out = Outputs()
    while (t := ua.next_timeout()) is not None and t <= 40:
        out.extend(ua.handle_timeout(t))
    assert AckTimeout(caller.call_id) in events(out)
    assert {r.method for r in requests(out)} == {"BYE"}  # sent at 64*T1, then retransmitted


def test_bye_waits_for_ack_then_goes_out() -> None:
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    (ok,) = responses(ua.reply(caller.call_id, 200, now=0.0))
    caller.to_tag = ok.to.tag or ""
    assert not ua.bye(caller.call_id, now=0.1)
    out = ua.receive(caller.request("ACK"), PEER, 0.2)
    assert [r.method for r in requests(out)] == ["BYE"]


def test_our_bye_and_its_response() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    out = ua.bye(caller.call_id, now=2.0)
    (bye,) = requests(out)
    assert out.datagrams[0].destination == ("127.0.0.1", 5070)
    assert (
        bye.to.tag == "ft1"
        and bye.from_.tag == caller.to_tag
        and bye.uri == "sip:alice@127.0.0.1:5070"
    )
    ok = (
        f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
        f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n\r\n"
    ).encode()
    (event,) = ua.receive(ok, PEER, 2.1).events
    assert isinstance(event, ResponseToRequest) and event.response.status == 200
    with pytest.raises(UserAgentError):
        ua.bye(caller.call_id, now=3.0)


def test_our_request_timing_out() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    ua.send_request(caller.call_id, "INFO", now=1.0, body=b"x", content_type="text/plain")
    out = Outputs()
    while (t := ua.next_timeout()) is not None and t <= 40:
        out.extend(ua.handle_timeout(t))
    failed = [e for e in events(out) if isinstance(e, RequestFailed)]
    assert len(failed) == 1 and failed[0].request.method == "INFO" and "F" in failed[0].reason
    assert len(requests(out)) == 10  # retransmissions of the INFO


def test_cancel_before_answer_gives_200_and_487() -> None:
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    ua.receive(caller.request("INVITE", branch=branch), PEER, 0.0)
    ua.reply(caller.call_id, 180, now=0.1)
    out = ua.receive(caller.request("CANCEL", branch=branch), PEER, 1.0)
    resp = responses(out)
    assert [(r.status, r.cseq.method) for r in resp] == [(200, "CANCEL"), (487, "INVITE")]
    (cancelled,) = events(out)
    assert isinstance(cancelled, CallCancelled)
    assert caller.call_id not in ua.calls
    ack = caller.request("ACK", branch=branch, to_tag=resp[1].to.tag)
    assert not ua.receive(ack, PEER, 1.1)  # absorbed by the INVITE server transaction
    with pytest.raises(UserAgentError):
        ua.reply(caller.call_id, 200, now=1.2)


def test_cancel_after_answer_has_no_effect() -> None:
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    ua.receive(caller.request("INVITE", branch=branch), PEER, 0.0)
    ua.reply(caller.call_id, 200, now=0.1)
    out = ua.receive(caller.request("CANCEL", branch=branch), PEER, 0.2)
    assert statuses(out) == [200] and events(out) == []
    assert caller.call_id in ua.calls


def test_cancel_without_invite_is_481() -> None:
    ua, caller = new_ua(), Caller()
    assert statuses(ua.receive(caller.request("CANCEL"), PEER, 0.0)) == [481]


def test_reinvite_hold_and_ack() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    caller.cseq = 2
    hold_offer = bytes(make_offer(address="127.0.0.1", port=4000, direction="sendonly")).decode()
    out = ua.receive(caller.request("INVITE", body=hold_offer), PEER, 5.0)
    assert statuses(out) == []  # a 100 only if the TU takes longer than its delay
    (event,) = events(out)
    assert isinstance(event, InDialogRequest) and event.request.method == "INVITE"
    negotiated = answer_offer(parse_sdp(event.request.body), address="127.0.0.1", port=20000)
    assert negotiated.hold and negotiated.direction == "recvonly"
    out = ua.reply_request(
        caller.call_id, event.transaction, 200, now=5.1, body=bytes(negotiated.answer)
    )
    (ok,) = responses(out)
    assert ok.cseq.number == 2 and parse_sdp(ok.body).media[0].direction == "recvonly"
    out = ua.receive(caller.request("ACK", cseq=2), PEER, 5.2)
    assert [type(e) for e in events(out)] == [AckReceived]


def test_second_reinvite_while_pending_is_500_retry_after() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    caller.cseq = 2
    ua.receive(caller.request("INVITE", body=OFFER), PEER, 1.0)
    caller.cseq = 3
    out = ua.receive(caller.request("INVITE", body=OFFER), PEER, 1.1)
    (resp,) = responses(out)
    assert resp.status == 500 and resp.headers.get("Retry-After") == "1"


def test_in_dialog_info_answered_by_tu_and_unanswered_gets_500() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    caller.cseq = 2
    out = ua.receive(caller.request("INFO"), PEER, 1.0)
    (event,) = events(out)
    assert isinstance(event, InDialogRequest)
    assert statuses(ua.reply_request(caller.call_id, event.transaction, 200, now=1.1)) == [200]
    caller.cseq = 3
    ua.receive(caller.request("UPDATE"), PEER, 2.0)
    out = ua.handle_timeout(2.0 + ua.tu_reply_timeout)
    assert statuses(out) == [500]


def test_in_dialog_cseq_out_of_order_is_500() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    caller.cseq = 5
    ua.receive(caller.request("INFO"), PEER, 1.0)
    caller.cseq = 4
    assert statuses(ua.receive(caller.request("INFO"), PEER, 1.1)) == [500]


def test_options_outside_dialog_is_200_with_allow() -> None:
    ua, caller = new_ua(), Caller()
    out = ua.receive(caller.request("OPTIONS"), PEER, 0.0)
    (resp,) = responses(out)
    assert resp.status == 200 and "INVITE" in (resp.headers.get("Allow") or "")
    assert resp.headers.get("Accept") == "application/sdp" and resp.to.tag
    assert events(out) == []


@pytest.mark.parametrize(
    ("method", "to_tag", "status"),
    [
        ("BYE", "", 481),
        ("INFO", "", 481),
        ("BYE", "nosuch", 481),
        ("INVITE", "nosuch", 481),
        ("REGISTER", "", 405),
        ("MESSAGE", "", 405),
        ("FOO", "", 501),
    ],
)
def test_requests_the_core_refuses(method: str, to_tag: str, status: int) -> None:
    ua, caller = new_ua(), Caller()
    assert statuses(ua.receive(caller.request(method, to_tag=to_tag), PEER, 0.0)) == [status]


def test_require_unknown_extension_is_420() -> None:
    ua, caller = new_ua(), Caller()
    out = ua.receive(caller.request("INVITE", extra="Require: 100rel\r\n"), PEER, 0.0)
    (resp,) = responses(out)
    assert resp.status == 420 and resp.headers.get("Unsupported") == "100rel"


def test_merged_invite_is_482() -> None:
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    assert statuses(ua.receive(caller.request("INVITE"), PEER, 0.1)) == [482]


def test_stray_ack_and_response_are_dropped() -> None:
    ua, caller = new_ua(), Caller()
    (dropped,) = ua.receive(caller.request("ACK", to_tag="x"), PEER, 0.0).events
    assert isinstance(dropped, Dropped)
    stray = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKzz\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: q\r\nCSeq: 1 BYE\r\n\r\n"
    (dropped2,) = ua.receive(stray, PEER, 0.0).events
    assert isinstance(dropped2, Dropped)


def test_malformed_request_with_usable_headers_is_400_with_reason() -> None:
    ua, caller = new_ua(), Caller()
    bad = caller.request("INVITE").replace(b"Max-Forwards: 70", b"Max-Forwards: lots")
    (datagram,) = ua.receive(bad, PEER, 0.0).datagrams
    assert isinstance(datagram, Datagram)
    resp = parse_message(datagram.data)
    assert isinstance(resp, Response) and resp.status == 400 and resp.reason == "Bad Max-Forwards"
    assert datagram.destination == PEER


def test_malformed_without_via_is_dropped() -> None:
    ua, caller = new_ua(), Caller()
    bad = caller.request("INVITE").replace(b"Via: SIP/2.0/UDP", b"Via: nonsense")
    (event,) = ua.receive(bad, PEER, 0.0).events
    assert isinstance(event, Dropped) and event.reason == "Bad Via"
    assert isinstance(ua.receive(b"\x00\xff garbage", PEER, 0.0).events[0], Dropped)


def test_unsupported_version_is_505() -> None:
    ua, caller = new_ua(), Caller()
    bad = caller.request("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    assert statuses(ua.receive(bad, PEER, 0.0)) == [505]


def test_tu_mistakes_raise_user_agent_error() -> None:
    ua, caller = new_ua(), Caller()
    with pytest.raises(UserAgentError):
        ua.reply("nope", 200, now=0.0)
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    with pytest.raises(UserAgentError):
        ua.bye(caller.call_id, now=0.0)
    with pytest.raises(UserAgentError):
        ua.reply(caller.call_id, 99, now=0.0)
    ua.reply(caller.call_id, 486, now=0.1)
    with pytest.raises(UserAgentError):
        ua.reply(caller.call_id, 200, now=0.2)


def test_M_dlg_1_a_100_from_the_tu_is_sent_without_to_tag_and_leaves_the_call_unanswered() -> None:
    """A script's own ``100 trytry`` goes out as is (no To tag); the INVITE can still be answered."""
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    out = ua.reply(caller.call_id, 100, "trytry", now=0.1)
    (trying,) = responses(out)
    assert (trying.status, trying.reason) == (100, "trytry")
    assert trying.to.tag is None
    assert statuses(ua.reply(caller.call_id, 200, now=0.2)) == [200]


class _BrokenDialog(dialog_module.Dialog):
    """A dialog whose in-dialog requests fail inside the core (a fault of ours, not the peer's)."""

    def accept_remote_cseq(self, request: Request) -> bool:
        raise RuntimeError("boom")


def test_one_calls_failure_does_not_affect_another() -> None:
    ua = new_ua()
    good, bad = Caller("good"), Caller("bad")
    establish(ua, good)
    establish(ua, bad)
    call = ua.layer.calls["bad"]
    assert call.dialog is not None
    fields = {f.name: getattr(call.dialog, f.name) for f in dataclasses.fields(call.dialog)}
    call.dialog = _BrokenDialog(**fields)
    bad.cseq = good.cseq = 2
    (event,) = ua.receive(bad.request("INFO"), PEER, 1.0).events
    assert isinstance(event, Dropped) and "boom" in event.reason
    out = ua.receive(good.request("BYE"), PEER, 1.1)
    assert statuses(out) == [200] and isinstance(events(out)[0], CallEnded)
    assert ua.errors == 1


def test_ack_for_2xx_reusing_invite_branch_reaches_dialog() -> None:
    """RFC 2543-style peers send the 2xx ACK with the INVITE's branch."""
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    ua.receive(caller.request("INVITE", branch=branch), PEER, 0.0)
    (ok,) = responses(ua.reply(caller.call_id, 200, now=0.1))
    caller.to_tag = ok.to.tag or ""
    out = ua.receive(caller.request("ACK", branch=branch), PEER, 0.2)
    assert [type(e) for e in events(out)] == [AckReceived]


@pytest.mark.parametrize(
    ("contact", "reason"),
    [
        ("Contact: <tel:+123>", "Contact is not a SIP URI"),
        ("Contact: *", "Missing Contact"),
        ("Contact: <sip:alice@>", "Bad host"),
    ],
)
def test_invite_with_unusable_contact_is_400(contact: str, reason: str) -> None:
    ua, caller = new_ua(), Caller()
    data = caller.request("INVITE").replace(
        b"Contact: <sip:alice@127.0.0.1:5070>", contact.encode()
    )
    out = ua.receive(data, PEER, 0.0)
    (resp,) = responses(out)
    assert (resp.status, resp.reason) == (400, reason)
    assert events(out) == [] and caller.call_id not in ua.calls


def test_late_ack_of_first_invite_does_not_confirm_reinvite_2xx() -> None:
    ua, caller = new_ua(), Caller()
    establish(ua, caller)
    caller.cseq = 2
    (event,) = events(ua.receive(caller.request("INVITE", body=OFFER), PEER, 1.0))
    assert isinstance(event, InDialogRequest)
    ua.reply_request(caller.call_id, event.transaction, 200, now=1.1, body=OFFER.encode())
    (dropped,) = ua.receive(caller.request("ACK", cseq=1), PEER, 1.2).events
    assert isinstance(dropped, Dropped)
    assert statuses(ua.handle_timeout(1.6)) == [200]  # still retransmitting the re-INVITE 2xx
    out = ua.receive(caller.request("ACK", cseq=2), PEER, 1.7)
    assert [type(e) for e in events(out)] == [AckReceived]


def test_offer_without_common_codec_answered_488_by_tu() -> None:
    ua, caller = new_ua(), Caller()
    offer = OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 18")
    (new_call,) = events(ua.receive(caller.request("INVITE", body=offer), PEER, 0.0))
    assert isinstance(new_call, NewCall)
    with pytest.raises(OfferAnswerError) as info:
        answer_offer(parse_sdp(new_call.request.body), address="127.0.0.1", port=2000)
    out = ua.reply(caller.call_id, info.value.status, now=0.1)
    (resp,) = responses(out)
    assert (resp.status, resp.reason) == (488, "Not Acceptable Here")
    assert caller.call_id not in ua.calls


def test_rfc3261_18_2_1_client_supplied_received_is_dropped() -> None:
    """A ``received`` parameter written by the sender must not redirect our responses."""
    from dsm.runtime.sip.useragent import UserAgentServer

    ua = UserAgentServer("127.0.0.1", 5070)
    raw = (
        b"OPTIONS sip:x@127.0.0.1:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKspoof;received=127.0.0.9\r\n"
        b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
        b"Call-ID: spoof@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    out = ua.receive(raw, ("127.0.0.1", 5061), 0.0)
    sent = out.datagrams
    assert sent, out
    assert sent[0].destination == ("127.0.0.1", 5061)
    assert b"received=127.0.0.9" not in sent[0].data


def _run_out_timers(ua: UserAgentServer, now: float) -> None:
    while (at := ua.next_timeout()) is not None and now < 3600:
        now = max(now, at)
        ua.handle_timeout(now)


@pytest.mark.parametrize("hangs_up", ["caller", "we"])
def test_ended_call_transactions_are_freed_without_the_collector(hangs_up: str) -> None:
    """No reference cycle per transaction: after their timers ran out, reference counting frees them.

    A transaction's timer callback once held its table entry, which holds the
    transaction: INVITE and BYE transactions (with their requests and
    responses) were left for the cyclic collector, tens of thousands of
    objects a minute at 100 calls/s.  Server entries (the caller's INVITE,
    ACK, BYE) and client entries (our BYE) alike.
    """
    ua, caller = new_ua(), Caller()
    entries: list[weakref.ref[object]] = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        establish(ua, caller)
        entries += [weakref.ref(entry) for entry in ua.layer.server.values()]
        if hangs_up == "caller":
            caller.cseq = 2
            ua.receive(caller.request("BYE"), PEER, 1.0)
            entries += [weakref.ref(entry) for entry in ua.layer.server.values()]
        else:
            (bye,) = requests(ua.bye(caller.call_id, now=1.0))
            entries += [weakref.ref(entry) for entry in ua.layer.client.values()]
            ok = (
                f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\n"
                f"From: {bye.headers.get('From')}\r\nTo: {bye.headers.get('To')}\r\n"
                f"Call-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n\r\n"
            ).encode()
            ua.receive(ok, PEER, 1.1)
        _run_out_timers(ua, 1.1)
        assert not ua.layer.server and not ua.layer.client and not ua.calls
        assert len(entries) >= 2
        assert [ref() for ref in entries] == [None] * len(entries)
    finally:
        if was_enabled:
            gc.enable()
