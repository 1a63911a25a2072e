"""Outgoing calls through the core: INVITE client side, ACK for 2xx, CANCEL.

RFC 3261 sections 13.2 (UAC INVITE), 9.1 (CANCEL), 12.1.2 (UAC dialog);
the events map onto engine.md E-151 Ringing / SessionStart / FailedCall.
"""

from __future__ import annotations

import random

import pytest

from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.useragent import (
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    Outputs,
    ResponseToRequest,
    UserAgentError,
    UserAgentServer,
)

CALLEE = ("127.0.0.1", 5080)


def new_ua() -> UserAgentServer:
    return UserAgentServer("127.0.0.1", 5060, rng=random.Random(11))


def sent(outputs: Outputs) -> list[Request | Response]:
    return [parse_message(o.data) for o in outputs.datagrams]


def events(outputs: Outputs) -> list[object]:
    return list(outputs.events)


def answer(invite: Request, status: int, tag: str = "callee") -> bytes:
    response = make_response(invite, status, to_tag=tag)
    if status < 300:
        response.headers.add("Contact", "<sip:bob@127.0.0.1:5080>")
    return bytes(response)


def start(ua: UserAgentServer) -> tuple[str, Request, Outputs]:
    call_id, out = ua.invite(
        "sip:bob@127.0.0.1:5080", from_uri='"DSM" <sip:dsm@127.0.0.1>', now=0.0, body=b"v=0\r\n"
    )
    (invite,) = sent(out)
    assert isinstance(invite, Request)
    return call_id, invite, out


def test_invite_is_well_formed_and_sent_to_uri_host() -> None:
    ua = new_ua()
    call_id, invite, out = start(ua)
    assert out.datagrams[0].destination == CALLEE
    assert invite.method == "INVITE" and invite.call_id == call_id and invite.cseq.number == 1
    assert invite.from_.tag and invite.from_.display_name == "DSM" and invite.to.tag is None
    assert invite.headers.get("Contact") == "<sip:127.0.0.1:5060>"
    assert invite.content_type == "application/sdp" and invite.body == b"v=0\r\n"


def test_ringing_answer_ack_and_bye() -> None:
    ua = new_ua()
    call_id, invite, _ = start(ua)
    assert events(ua.receive(answer(invite, 100), CALLEE, 0.1)) == [
        CallProgress(call_id, parse_message(answer(invite, 100)))  # type: ignore[arg-type]
    ]
    (progress,) = events(ua.receive(answer(invite, 180), CALLEE, 0.2))
    assert isinstance(progress, CallProgress) and progress.response.status == 180
    assert ua.calls[call_id].state == "ringing"
    out = ua.receive(answer(invite, 200), CALLEE, 1.0)
    (ack,) = sent(out)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.cseq.number == 1 and ack.to.tag == "callee" and ack.uri == "sip:bob@127.0.0.1:5080"
    assert ack.top_via.branch != invite.top_via.branch
    assert [type(e) for e in events(out)] == [CallAnswered]
    again = ua.receive(answer(invite, 200), CALLEE, 1.5)  # 2xx retransmission: ACK again, no event
    assert [m.method for m in sent(again) if isinstance(m, Request)] == ["ACK"] and events(
        again
    ) == []
    (bye,) = sent(ua.bye(call_id, now=2.0))
    assert isinstance(bye, Request) and bye.method == "BYE" and bye.cseq.number == 2
    assert bye.to.tag == "callee" and bye.from_.tag == invite.from_.tag


def test_failure_is_acked_by_transaction_and_reported() -> None:
    ua = new_ua()
    call_id, invite, _ = start(ua)
    out = ua.receive(answer(invite, 486), CALLEE, 0.5)
    (ack,) = sent(out)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.top_via.branch == invite.top_via.branch  # non-2xx ACK: same transaction
    (failed,) = events(out)
    assert isinstance(failed, CallFailed) and failed.response is not None
    assert failed.reason == "486 Busy Here" and call_id not in ua.calls


def test_no_answer_times_out_after_64_T1() -> None:
    ua = new_ua()
    call_id, _, _ = start(ua)
    out = Outputs()
    while (t := ua.next_timeout()) is not None and t <= 40:
        out.extend(ua.handle_timeout(t))
    assert CallFailed(call_id, None, "timeout") in events(out)
    assert len(sent(out)) == 6  # timer A retransmissions


def test_cancel_waits_for_provisional_then_487_ends_call() -> None:
    ua = new_ua()
    call_id, invite, _ = start(ua)
    assert not ua.cancel(call_id, now=0.1)
    out = ua.receive(answer(invite, 180), CALLEE, 0.2)
    (cancel,) = sent(out)
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert cancel.top_via.branch == invite.top_via.branch and cancel.cseq.number == 1
    assert cancel.to.tag is None and cancel.uri == invite.uri
    out = ua.receive(answer(invite, 487), CALLEE, 0.3)
    assert [type(e) for e in events(out)] == [CallFailed]


def test_bye_from_callee_ends_outgoing_call() -> None:
    ua = new_ua()
    call_id, invite, _ = start(ua)
    ua.receive(answer(invite, 200), CALLEE, 0.5)
    bye = (
        f"BYE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKcb\r\n"
        f"From: <sip:bob@127.0.0.1:5080>;tag=callee\r\nTo: {invite.headers.get('From')}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 BYE\r\n\r\n"
    ).encode()
    out = ua.receive(bye, CALLEE, 1.0)
    assert [r.status for r in sent(out) if isinstance(r, Response)] == [200]
    assert [type(e) for e in events(out)] == [CallEnded]


def test_second_fork_2xx_is_acked_but_ignored() -> None:
    ua = new_ua()
    call_id, invite, _ = start(ua)
    ua.receive(answer(invite, 200, tag="a"), CALLEE, 0.5)
    out = ua.receive(answer(invite, 200, tag="b"), CALLEE, 0.6)
    (ack,) = sent(out)
    assert isinstance(ack, Request) and ack.to.tag == "b" and events(out) == []
    assert ua.calls[call_id].dialog.remote_tag == "a"  # type: ignore[union-attr]


def test_outgoing_misuse() -> None:
    ua = new_ua()
    with pytest.raises(UserAgentError):
        ua.invite("tel:+123", from_uri="<sip:a@h>", now=0.0)
    with pytest.raises(UserAgentError):
        ua.invite("sip:b@h", from_uri="not an address <", now=0.0)
    call_id, _, _ = start(ua)
    with pytest.raises(UserAgentError):
        ua.reply(call_id, 200, now=0.0)
    with pytest.raises(UserAgentError):
        ua.bye(call_id, now=0.0)


# -- late offer: the ACK carries the answer (RFC 3264 section 5, RFC 3261 13.2.2.4) -----------------
OFFER_IN_2XX = b"v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=alice 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"


def offer_2xx(invite: Request, tag: str = "callee") -> bytes:
    response = make_response(invite, 200, to_tag=tag, body=OFFER_IN_2XX, content_type="application/sdp")
    response.headers.add("Contact", "<sip:bob@127.0.0.1:5080>")
    return bytes(response)


def test_late_offer_2xx_waits_for_the_tus_ack_with_the_answer_and_resends_it() -> None:
    """An INVITE without SDP (``ack_later``): no ACK of the core's own; the TU's ACK carries the answer."""
    ua = new_ua()
    call_id, out = ua.invite("sip:bob@127.0.0.1:5080", from_uri="<sip:dsm@127.0.0.1>", now=0.0, ack_later=True)
    (invite,) = sent(out)
    assert isinstance(invite, Request) and invite.body == b""
    out = ua.receive(offer_2xx(invite), CALLEE, 0.5)
    assert sent(out) == [] and [type(e) for e in events(out)] == [CallAnswered]
    assert ua.awaits_ack(call_id)
    assert not ua.receive(offer_2xx(invite), CALLEE, 0.6)  # retransmitted 2xx: still waiting
    (ack,) = sent(ua.ack(call_id, now=0.7, body=ANSWER))
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.cseq.number == 1
    assert ack.body == ANSWER and ack.content_type == "application/sdp" and ack.to.tag == "callee"
    assert not ua.awaits_ack(call_id)
    (again,) = sent(ua.receive(offer_2xx(invite), CALLEE, 1.0))  # the same ACK for a retransmission
    assert bytes(again) == bytes(ack)
    with pytest.raises(UserAgentError):
        ua.ack(call_id, now=1.1, body=ANSWER)


def test_late_offer_bye_before_the_answer_acks_bare_first() -> None:
    ua = new_ua()
    call_id, out = ua.invite("sip:bob@127.0.0.1:5080", from_uri="<sip:dsm@127.0.0.1>", now=0.0, ack_later=True)
    (invite,) = sent(out)
    assert isinstance(invite, Request)
    ua.receive(offer_2xx(invite), CALLEE, 0.5)
    ack, bye = sent(ua.bye(call_id, now=1.0))
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.body == b""
    assert isinstance(bye, Request) and bye.method == "BYE"


# -- digest on requests in the dialog (RFC 3261 22.2) ------------------------------------------------
CHALLENGE = 'Digest realm="sipp", nonce="abc123", algorithm=MD5'


def answered_call(ua: UserAgentServer, credentials: tuple[str, str] | None) -> tuple[str, Request]:
    call_id, out = ua.invite(
        "sip:bob@127.0.0.1:5080", from_uri="<sip:dsm@127.0.0.1>", now=0.0, credentials=credentials
    )
    (invite,) = sent(out)
    assert isinstance(invite, Request)
    ua.receive(answer(invite, 200), CALLEE, 0.5)
    return call_id, invite


def challenge(request: Request, status: int = 401) -> bytes:
    response = make_response(request, status, to_tag="callee")
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    response.headers.add(header, CHALLENGE)
    return bytes(response)


@pytest.mark.parametrize("status", [401, 407])
def test_in_dialog_request_challenged_is_sent_once_more_with_credentials(status: int) -> None:
    """A 401/407 to INFO is answered once (next CSeq, new branch, digest); the TU sees only the final answer."""
    ua = new_ua()
    call_id, _ = answered_call(ua, ("alice", "secret"))
    (info,) = sent(ua.send_request(call_id, "INFO", now=1.0, body=b"x", content_type="text/plain"))
    assert isinstance(info, Request)
    out = ua.receive(challenge(info, status), CALLEE, 1.1)
    assert events(out) == []
    (again,) = sent(out)
    assert isinstance(again, Request) and again.method == "INFO" and again.body == b"x"
    assert again.cseq.number == info.cseq.number + 1 and again.top_via.branch != info.top_via.branch
    answer_header = "Authorization" if status == 401 else "Proxy-Authorization"
    credentials = again.headers.get(answer_header) or ""
    assert 'username="alice"' in credentials and 'nonce="abc123"' in credentials
    assert ua.calls[call_id].dialog.local_seq == again.cseq.number  # type: ignore[union-attr]
    (event,) = events(ua.receive(answer(again, 200), CALLEE, 1.2))
    assert isinstance(event, ResponseToRequest) and event.response.status == 200
    assert event.request.cseq.number == info.cseq.number  # reported as the answer to the TU's own request
    assert event.request.top_via.branch == info.top_via.branch
    # a second challenge is the TU's: the credentials were refused
    (info2,) = sent(ua.send_request(call_id, "INFO", now=2.0))
    assert isinstance(info2, Request)
    (retry,) = sent(ua.receive(challenge(info2, status), CALLEE, 2.1))
    assert isinstance(retry, Request)
    (refused,) = events(ua.receive(challenge(retry, status), CALLEE, 2.2))
    assert isinstance(refused, ResponseToRequest) and refused.response.status == status


def test_challenged_bye_and_reinvite_are_answered_and_without_credentials_reported() -> None:
    ua = new_ua()
    call_id, _ = answered_call(ua, ("alice", "secret"))
    (reinvite,) = sent(ua.send_request(call_id, "INVITE", now=1.0, body=b"v=0\r\n"))
    assert isinstance(reinvite, Request)
    out = ua.receive(challenge(reinvite), CALLEE, 1.1)
    ack, again = sent(out)  # the 401 is ACKed by its transaction, the re-INVITE goes again
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert isinstance(again, Request) and again.method == "INVITE" and "Authorization" in again.headers
    ua.receive(answer(again, 200), CALLEE, 1.2)
    (bye,) = sent(ua.bye(call_id, now=2.0))
    assert isinstance(bye, Request)
    (bye_again,) = sent(ua.receive(challenge(bye), CALLEE, 2.1))
    assert isinstance(bye_again, Request) and bye_again.method == "BYE" and "Authorization" in bye_again.headers
    assert bye_again.cseq.number == bye.cseq.number + 1
    # no credentials: the challenge is the TU's answer
    plain = new_ua()
    call_id, _ = answered_call(plain, None)
    (info,) = sent(plain.send_request(call_id, "INFO", now=1.0))
    assert isinstance(info, Request)
    (event,) = events(plain.receive(challenge(info), CALLEE, 1.1))
    assert isinstance(event, ResponseToRequest) and event.response.status == 401
