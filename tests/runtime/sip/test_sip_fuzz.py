"""Robustness: mutated and random input never breaks the parser or the UAS core.

The parser may only raise ParseError; a message it accepts must serialise
and parse again to the same model.  The UAS core must never raise from
``receive`` or ``handle_timeout``, whatever it is fed.  10,000 seeded
mutations go through each, plus Hypothesis-generated input.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Via
from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.rtp import RtpPacket
from dsm.runtime.sip.sdp import OfferAnswerError, answer_offer, parse_sdp
from dsm.runtime.sip.uri import NameAddress, parse_params, parse_uri
from dsm.runtime.sip.useragent import InDialogRequest, NewCall, UserAgentError, UserAgentServer

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def _msg(method: str, cseq: int, branch: str, to_tag: str = "", body: str = "") -> bytes:
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} sip:menu@127.0.0.1 SIP/2.0\r\n"
        f"v: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        'f: "A, b" <sip:alice@127.0.0.1>;tag=ft\r\n'
        f"t: <sip:menu@127.0.0.1>{tag}\r\ni: fuzz-1\r\nCSeq: {cseq} {method}\r\n"
        "m: <sip:alice@127.0.0.1:5070>\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n"
        f"Subject: folded\r\n  line\r\nc: application/sdp\r\nl: {len(body)}\r\n\r\n{body}"
    ).encode()


CORPUS: list[bytes] = [
    _msg("INVITE", 1, "z9hG4bK1", body=SDP),
    _msg("ACK", 1, "z9hG4bK2", to_tag="x"),
    _msg("CANCEL", 1, "z9hG4bK1"),
    _msg("BYE", 2, "z9hG4bK3", to_tag="x"),
    _msg("OPTIONS", 1, "z9hG4bK4"),
    _msg("INFO", 3, "z9hG4bK5", to_tag="x", body="Signal=1\r\n"),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq\r\nFrom: <sip:a@h>;tag=1\r\n"
    b"To: <sip:b@h>;tag=2\r\nCall-ID: fuzz-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
]
SPECIAL = [
    b"\r\n",
    b"\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"\\",
    b" ",
    b"\t",
    b"=",
    b"@",
    b"0",
    b"\x00",
    b"\xff",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            del buf[pos : pos + rng.randint(1, 20)]
        elif op == 2:
            buf[pos:pos] = rng.choice(SPECIAL)
        elif op == 3:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            lines = bytes(buf).split(b"\r\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            buf = bytearray(b"\r\n".join(lines))
        elif op == 5:
            lines = bytes(buf).split(b"\r\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            buf = bytearray(b"\r\n".join(lines))
        else:
            buf = buf[: rng.randrange(len(buf) + 1)]
    return bytes(buf)


def check_parser(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError as exc:
        assert exc.reason and "\r" not in exc.reason and "\n" not in exc.reason
        return
    again = parse_message(bytes(message))
    assert type(again) is type(message)
    assert again.body == message.body
    if isinstance(message, Request):
        assert isinstance(again, Request)
        assert (again.method, again.uri) == (message.method, message.uri)
    else:
        assert isinstance(again, Response) and again.status == message.status
    strip = [(n, v) for n, v in message.headers if n != "Content-Length"]
    assert [(n, v) for n, v in again.headers if n != "Content-Length"] == strip


def test_parser_survives_10000_mutations() -> None:
    rng = random.Random(4475)
    for i in range(10_000):
        check_parser(mutate(CORPUS[i % len(CORPUS)], rng))


def drive(ua: UserAgentServer, data: bytes, now: float, rng: random.Random) -> None:
    """Feed one datagram and act as a TU that answers at random."""
    for out in ua.receive(data, ("127.0.0.1", 5070), now).events:
        try:
            if isinstance(out, NewCall):
                status = rng.choice([180, 200, 486, 603])
                body = b""
                if status == 200:
                    try:
                        body = bytes(
                            answer_offer(
                                parse_sdp(out.request.body), address="127.0.0.1", port=2000
                            ).answer
                        )
                    except (ParseError, OfferAnswerError):
                        status = 488
                ua.reply(out.call_id, status, now=now, body=body)
                if status == 200 and rng.random() < 0.3:
                    ua.bye(out.call_id, now=now)
            elif isinstance(out, InDialogRequest):
                ua.reply_request(out.call_id, out.transaction, rng.choice([200, 488]), now=now)
        except UserAgentError:
            pass
    if rng.random() < 0.2:
        ua.handle_timeout(now + rng.uniform(0, 40))


def test_uas_core_survives_10000_mutations() -> None:
    rng = random.Random(3261)
    ua = UserAgentServer("127.0.0.1", 5060, rng=random.Random(1))
    now = 0.0
    for i in range(10_000):
        base = CORPUS[i % len(CORPUS)]
        data = base if rng.random() < 0.2 else mutate(base, rng)
        now += 0.01
        drive(ua, data, now, rng)
    assert ua.errors == 0


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.binary(max_size=600))
def test_parser_random_bytes(data: bytes) -> None:
    check_parser(data)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(CORPUS), st.randoms(use_true_random=False))
def test_parser_hypothesis_mutations(base: bytes, rng: random.Random) -> None:
    check_parser(mutate(base, rng))


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.lists(st.tuples(st.sampled_from(CORPUS), st.booleans()), max_size=15),
    st.randoms(use_true_random=False),
)
def test_uas_core_hypothesis_sequences(items: list[tuple[bytes, bool]], rng: random.Random) -> None:
    ua = UserAgentServer("127.0.0.1", 5060, rng=random.Random(2))
    for n, (base, do_mutate) in enumerate(items):
        drive(ua, mutate(base, rng) if do_mutate else base, float(n), rng)
    assert ua.errors == 0


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_rtp_and_sdp_parsers_only_raise_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        RtpPacket.parse(data)
    with contextlib.suppress(ParseError):
        parse_sdp(data)


def test_outgoing_call_survives_mutated_responses() -> None:
    """Responses to our own INVITE, mutated: the UAC side never raises either."""
    rng = random.Random(3264)
    for round_no in range(300):
        ua = UserAgentServer("127.0.0.1", 5060, rng=random.Random(round_no))
        call_id, out = ua.invite("sip:bob@127.0.0.1:5080", from_uri="<sip:dsm@127.0.0.1>", now=0.0)
        invite = parse_message(out.datagrams[0].data)
        assert isinstance(invite, Request)
        for step in range(8):
            status = rng.choice([100, 180, 183, 200, 200, 486, 487])
            response = make_response(invite, status, to_tag=rng.choice(["a", "b"]))
            response.headers.add("Contact", "<sip:bob@127.0.0.1:5080>")
            response.headers.add("Record-Route", "<sip:p1;lr>")
            data = bytes(response)
            ua.receive(
                mutate(data, rng) if rng.random() < 0.6 else data, ("127.0.0.1", 5080), step * 0.1
            )
            if rng.random() < 0.2:
                with contextlib.suppress(UserAgentError):
                    ua.cancel(call_id, now=step * 0.1)
        ua.handle_timeout(100.0)
        assert ua.errors == 0


_SIPISH = st.text(alphabet='sip:@<>;,="\\ \t?&[]./-_abc0123456789', max_size=60)


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(_SIPISH, st.text(max_size=40)))
def test_header_value_parsers_only_raise_parse_error(text: str) -> None:
    for parser in (parse_uri, NameAddress.parse, Via.parse, CSeq.parse, parse_params):
        with contextlib.suppress(ParseError):
            parser(text)
