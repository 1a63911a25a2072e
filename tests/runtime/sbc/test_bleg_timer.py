"""The B leg's RFC 4028 timer as a plain state machine (fed messages and times, no sockets)."""

from __future__ import annotations

from dsm.runtime.sbc.bleg_timer import BLegTimer, without_timer_headers
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.session_timer import Refusal, TimerConfig

CONFIG = TimerConfig(session_expires=60, min_se=30, max_se=900)


def response(status: int, *headers: str) -> Response:
    head = "".join(f"{h}\r\n" for h in headers)
    text = (
        f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        f"{head}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Response)
    return message


def request(*headers: str) -> Request:
    head = "".join(f"{h}\r\n" for h in headers)
    text = (
        "INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK2\r\n"
        "From: <sip:b@y>;tag=2\r\nTo: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\n"
        f"Max-Forwards: 70\r\n{head}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def test_invite_headers_replace_the_callers_negotiation_with_ours() -> None:
    timer = BLegTimer(CONFIG)
    relayed = [("Session-Expires", "1800;refresher=uac"), ("Min-SE", "90"), ("Supported", "timer, 100rel"), ("X-A", "1")]
    assert timer.invite_headers(relayed) == [
        ("Supported", "timer, 100rel"), ("X-A", "1"), ("Session-Expires", "60"), ("Min-SE", "30"),
    ]  # fmt: skip
    assert ("Supported", "timer") in timer.invite_headers([])


def test_a_2xx_without_session_expires_leaves_us_the_refresher_at_our_interval() -> None:
    timer = BLegTimer(CONFIG)
    timer.answered(response(200), 100.0)
    assert timer.we_refresh and timer.interval == 60 and timer.deadline == 130.0
    assert timer.due(129.0) is None
    assert timer.due(130.0) == "refresh" and timer.refresh_method() == "INVITE"
    assert timer.refresh_headers()[0] == ("Session-Expires", "60;refresher=uac")
    assert timer.refresh_answered(200, response(200, "Session-Expires: 90;refresher=uac"), 131.0) == "ok"
    assert timer.interval == 90 and timer.deadline == 176.0


def test_the_callee_refreshes_when_its_2xx_says_uas_and_an_unrefreshed_session_expires() -> None:
    timer = BLegTimer(CONFIG)
    timer.answered(response(200, "Session-Expires: 60;refresher=uas", "Allow: INVITE, UPDATE"), 0.0)
    assert not timer.we_refresh and timer.peer_allows_update
    assert timer.deadline == 40.0 and timer.due(40.0) == "expired"


def test_the_callees_refresh_restarts_the_clock_and_a_too_short_one_is_refused_422() -> None:
    timer = BLegTimer(CONFIG)
    timer.answered(response(200, "Session-Expires: 60;refresher=uas"), 0.0)
    refusal = timer.peer_refresh(request("Session-Expires: 10"), 20.0)
    assert isinstance(refusal, Refusal) and refusal.status == 422 and refusal.headers == (("Min-SE", "30"),)
    assert timer.peer_refresh(request("Session-Expires: 45;refresher=uac"), 20.0) is None
    assert timer.interval == 45 and not timer.we_refresh and timer.deadline == 20.0 + 45 - 15
    assert timer.response_headers() == [("Session-Expires", "45;refresher=uac"), ("Require", "timer")]


def test_refresh_outcomes() -> None:
    timer = BLegTimer(CONFIG)
    timer.answered(response(200), 0.0)
    assert timer.refresh_answered(422, response(422, "Min-SE: 120"), 1.0) == "retry" and timer.interval == 120
    assert timer.refresh_answered(481, response(481), 1.0) == "gone" and timer.deadline is None
    assert timer.refresh_answered(501, response(501), 2.0) == "ok"
    assert timer.refresh_answered(500, response(500), 3.0) == "failed"


def test_without_timer_headers_keeps_other_require_tags() -> None:
    headers = [("Session-Expires", "90"), ("x", "90"), ("Min-SE", "30"), ("Require", "timer, 100rel"), ("Require", "timer")]
    assert without_timer_headers(headers) == [("Require", "100rel")]
