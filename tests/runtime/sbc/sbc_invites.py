"""Parsed INVITEs for the SBC profile tests."""

from __future__ import annotations

from dsm.runtime.sip.message import Request, parse_message

SDP = (
    "v=0\r\no=a 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 18 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\na=ptime:20\r\n"
)


def make_invite(
    ruri: str = "sip:bob@sbc.example:5070;user=phone;profile=gold",
    from_: str = '"Alice Doe" <sip:alice@caller.example:5080;x=1>;tag=ft1',
    to: str = "<sip:bob@callee.example>",
    extra: str = "",
    body: str = SDP,
) -> Request:
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    text = (
        f"INVITE {ruri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {from_}\r\n"
        f"To: {to}\r\n"
        "Call-ID: cid-1@192.0.2.10\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@192.0.2.10:5062>\r\n"
        "Record-Route: <sip:proxy.example;lr>\r\n"
        f"{extra}{ctype}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg
