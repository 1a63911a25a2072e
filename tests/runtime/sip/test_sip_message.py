"""SIP message parsing and serialisation (RFC 3261 sections 7, 18.3, 19, 20, 25).

The torture cases are written in the style of RFC 4475: odd but valid
messages must parse to the same model as their plain form, invalid ones must
raise ParseError with a usable reason, and everything must round-trip.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Headers, Via, canonical_name
from dsm.runtime.sip.message import (
    Request,
    Response,
    StreamFramer,
    _checked_head_lines,
    _head_lines,
    parse_message,
)
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.uri import (
    _TOKEN_TEXT,
    NameAddress,
    OtherUri,
    SipUri,
    is_token,
    parse_uri,
    split_outside_quotes,
)

BASIC = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n"
)


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def roundtrip(message: Request | Response) -> Request | Response:
    again = parse_message(bytes(message))
    assert type(again) is type(message)
    assert again.body == message.body
    without_length = [(n, v) for n, v in message.headers if n != "Content-Length"]
    assert [(n, v) for n, v in again.headers if n != "Content-Length"] == without_length
    return again


def test_basic_invite_parses_and_round_trips() -> None:
    msg = parse_message(BASIC.encode())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.uri == "sip:bob@biloxi.example.com"
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.cseq == CSeq(314159, "INVITE")
    assert msg.from_.tag == "1928301774" and msg.from_.display_name == "Alice"
    assert msg.to.display_name == "Bob" and msg.to.tag is None
    assert msg.top_via.branch == "z9hG4bK776asdhds" and msg.top_via.port == 5060
    assert msg.body == b"v=0\n"
    assert msg.content_type == "application/sdp"
    roundtrip(msg)


def test_compact_forms_are_normalised_to_full_names() -> None:
    text = (
        "OPTIONS sip:x@h SIP/2.0\r\n"
        "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "f: <sip:a@h>;tag=1\r\nt: <sip:x@h>\r\ni: cid\r\n"
        "CSeq: 1 OPTIONS\r\nm: <sip:a@h>\r\nk: timer\r\ns: subj\r\n"
        "c: text/plain\r\ne: gzip\r\no: dialog\r\nu: talk\r\nr: <sip:z@h>\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    names = [n for n, _ in msg.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Type",
        "Content-Encoding",
        "Event",
        "Allow-Events",
        "Refer-To",
        "Content-Length",
    ]
    assert msg.headers.get("i") == "cid" and msg.headers.get("call-id") == "cid"
    roundtrip(msg)


def test_header_names_are_case_insensitive_and_canonical() -> None:
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("CALL-ID") == "Call-ID"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("X-Custom") == "X-Custom"
    headers = Headers([("x-thing", "1")])
    assert headers.get("X-THING") == "1"


def test_folded_header_lines_are_joined() -> None:
    text = BASIC.replace("Subject", "").replace(
        "Max-Forwards: 70\r\n",
        "Subject: I know you're there,\r\n   pick up\r\n\tthe phone\r\nMax-Forwards: 70\r\n",
    )
    msg = parse_message(text.encode())
    assert msg.headers.get("Subject") == "I know you're there, pick up the phone"


def test_odd_whitespace_is_tolerated() -> None:
    """RFC 4475 3.1.1.1 style: whitespace around colons and inside Via/CSeq."""
    text = (
        "INVITE sip:vivekg@chair-dnrc.example.com SIP/2.0\r\n"
        "Via  :   SIP  /  2.0\r\n  /UDP  192.0.2.2:5060 ;  branch = z9hG4bK390skdjuw\r\n"
        "To\t:\r\n  sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
        'From   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
        "Call-ID\t: 0ha0isndaksdj@192.0.2.1\r\n"
        "CSeq: 0009\r\n  INVITE\r\n"
        "Max-Forwards: 0068\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    via = msg.top_via
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "192.0.2.2",
        5060,
    )
    assert via.branch == "z9hG4bK390skdjuw"
    assert msg.to.tag == "1918181833n"
    assert msg.from_.tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.cseq == CSeq(9, "INVITE")
    roundtrip(msg)


def test_multiple_values_split_outside_quotes_and_brackets() -> None:
    text = BASIC.replace(
        "Contact: <sip:alice@pc33.atlanta.example.com>\r\n",
        'Contact: "Comma, Inc" <sip:a@h;x=1,2>;q=0.5, <sip:b@h>, sip:c@h;expires=60\r\n'
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK2, SIP/2.0/TCP p2.example.com:5070\r\n"
        "Route: <sip:r1@h;lr>,<sip:r2@h;lr>\r\n"
        'Authorization: Digest username="a", realm="b"\r\n',
    )
    msg = parse_message(text.encode())
    contacts = msg.headers.get_all("Contact")
    assert contacts == ['"Comma, Inc" <sip:a@h;x=1,2>;q=0.5', "<sip:b@h>", "sip:c@h;expires=60"]
    assert NameAddress.parse(contacts[0]).display_name == "Comma, Inc"
    assert NameAddress.parse(contacts[2]).params == {"expires": "60"}
    assert [v.host for v in msg.vias] == [
        "pc33.atlanta.example.com",
        "p1.example.com",
        "p2.example.com",
    ]
    assert msg.headers.get_all("Route") == ["<sip:r1@h;lr>", "<sip:r2@h;lr>"]
    assert msg.headers.get_all("Authorization") == ['Digest username="a", realm="b"']
    roundtrip(msg)


def test_leading_crlf_and_bare_lf_are_accepted() -> None:
    msg = parse_message(b"\r\n\r\n" + BASIC.replace("\r\n", "\n").encode())
    assert isinstance(msg, Request) and msg.body == b"v=0\n"


def test_udp_body_longer_than_content_length_is_truncated() -> None:
    """RFC 3261 18.3: extra bytes after Content-Length are discarded over UDP."""
    msg = parse_message(BASIC.encode() + b"extra junk")
    assert msg.body == b"v=0\n"


def test_udp_missing_content_length_takes_rest_of_datagram() -> None:
    text = BASIC.replace("Content-Length: 4\r\n", "")
    assert parse_message((text + "o=x").encode()).body == b"v=0\no=x"


def test_content_length_larger_than_body_is_an_error_with_salvage() -> None:
    with pytest.raises(ParseError) as info:
        parse_message(BASIC.replace("Content-Length: 4", "Content-Length: 400").encode())
    assert "Content-Length" in info.value.reason
    assert isinstance(info.value.request, Request)


def test_stream_requires_content_length_and_frames_by_it() -> None:
    with pytest.raises(ParseError):
        parse_message(BASIC.replace("Content-Length: 4\r\n", "").encode(), stream=True)
    framer = StreamFramer()
    data = b"\r\n" + BASIC.encode() + BASIC.encode()
    first = framer.feed(data[:100])
    assert first == []
    messages = framer.feed(data[100:])
    assert len(messages) == 2 and all(m.body == b"v=0\n" for m in messages)


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", ""), "Missing Call-ID"),
        (("CSeq: 314159 INVITE", "CSeq: 314159 BYE"), "CSeq method does not match"),
        (("CSeq: 314159 INVITE", "CSeq: nope INVITE"), "Bad CSeq"),
        (("Via: SIP/2.0/UDP", "Via: SIP/2.0"), "Bad Via"),
        (("INVITE sip:bob", "INVITE bob"), "Bad URI"),
        (("SIP/2.0\r\nVia", "SIP/x\r\nVia"), "Bad SIP version"),
        (("Max-Forwards: 70", "Max-Forwards: many"), "Bad Max-Forwards"),
        (("From: Alice <sip:alice@atlanta.example.com>", "From: Alice <sip:alice@>"), "Bad host"),
    ],
)
def test_malformed_messages_raise_parse_error_with_reason(
    mutation: tuple[str, str], reason: str
) -> None:
    text = BASIC.replace(*mutation)
    with pytest.raises(ParseError) as info:
        parse_message(text.encode())
    assert reason in info.value.reason


def test_bad_request_uri_keeps_request_for_400() -> None:
    with pytest.raises(ParseError) as info:
        parse_message(
            BASIC.replace("INVITE sip:bob@biloxi.example.com", "INVITE sip:bob@bi loxi").encode()
        )
    # "sip:bob@bi" "loxi" does not split into three parts → bad request line, nothing to answer
    assert info.value.request is None
    with pytest.raises(ParseError) as info2:
        parse_message(
            BASIC.replace("INVITE sip:bob@biloxi.example.com", "INVITE sip:bob@[::1").encode()
        )
    assert isinstance(info2.value.request, Request)


def test_response_parse_and_round_trip() -> None:
    text = (
        "SIP/2.0 180 Ringing and more\r\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1;received=1.2.3.4;rport=5062\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 5 INVITE\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing and more")
    via = msg.top_via
    assert via.received == "1.2.3.4" and via.rport == 5062
    assert via.response_address() == ("1.2.3.4", 5062)
    roundtrip(msg)


def test_sip_uri_parse_and_format() -> None:
    uri = parse_uri(
        "sips:alice:secret@Example.COM:5061;transport=tcp;lr;maddr=10.0.0.1?subject=hi&x=y"
    )
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "example.com",
        5061,
    )
    assert uri.params == {"transport": "tcp", "lr": None, "maddr": "10.0.0.1"}
    assert uri.headers == {"subject": "hi", "x": "y"}
    assert (
        str(uri)
        == "sips:alice:secret@example.com:5061;transport=tcp;lr;maddr=10.0.0.1?subject=hi&x=y"
    )
    assert uri.address() == ("10.0.0.1", 5061)
    v6 = parse_uri("sip:[2001:db8::10]:5070")
    assert isinstance(v6, SipUri) and v6.address() == ("2001:db8::10", 5070)
    assert parse_uri("sip:+49123;phone-context=x@h").user == "+49123;phone-context=x"  # type: ignore[union-attr]
    tel = parse_uri("tel:+1-201-555-0123")
    assert isinstance(tel, OtherUri) and str(tel) == "tel:+1-201-555-0123"


@pytest.mark.parametrize(
    "bad", ["sip:", "sip:host:99999", "sip:host:ab", "nocolon", "sip:a@", "sip:ho st"]
)
def test_bad_uris_raise_parse_error(bad: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(bad)


def test_name_addr_forms() -> None:
    a = NameAddress.parse('"Mr. \\"X\\"" <sip:x@h>;tag=abc;foo')
    assert (
        a.display_name == 'Mr. "X"' and a.tag == "abc" and a.params == {"tag": "abc", "foo": None}
    )
    assert NameAddress.parse(str(a)) == a
    b = NameAddress.parse("sip:x@h;tag=1")  # addr-spec: parameters belong to the header
    assert b.tag == "1" and isinstance(b.uri, SipUri) and b.uri.params == {}
    c = NameAddress.parse("Bob Smith <sip:b@h;lr>")
    assert c.display_name == "Bob Smith" and c.uri.params == {"lr": None}  # type: ignore[union-attr]


def test_via_parse_variants() -> None:
    via = Via.parse("SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKx;rport")
    assert via.transport == "TCP" and via.host == "[2001:db8::1]" and via.port == 5070
    assert via.response_address(("2001:db8::1", 4000)) == ("2001:db8::1", 4000)
    assert str(Via.parse(str(via))) == str(via)


def test_make_response_copies_dialog_headers_and_adds_tag() -> None:
    req = parse_message(BASIC.encode())
    assert isinstance(req, Request)
    resp = make_response(req, 486, to_tag="t1")
    assert resp.reason == "Busy Here"
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.to.tag == "t1" and resp.call_id == req.call_id and resp.cseq == req.cseq
    trying = make_response(req, 100, to_tag="t1")
    assert trying.to.tag is None
    assert roundtrip(resp) == parse_message(bytes(resp))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["", "Bob ", '"Bob \\"B\\" B." ', "Bob Smith "]),
    st.sampled_from(["<sip:u@h>", "<sip:u@h;lr;user=phone>", "sip:u@h", "<tel:+4930>", "<sip:u@[::1]:5070>"]),
    st.sampled_from(["", ";x", ";x=1", ";x=1;Y=\"q;r\"", " ", " ;foo=bar "]),
)
def test_8_2_6_2_a_response_reads_the_to_it_built_as_a_parse_of_its_text(
    name: str, address: str, params: str
) -> None:
    """RFC 3261 8.2.6.2: the To a response gets (the request's, tagged) reads as its text parses;
    the From, CSeq and top Via it shares with its request read the same, and copies stay apart."""
    if name and not address.startswith("<"):
        return  # an addr-spec takes no display name
    request = parse_message(HEAD.replace("To: <sip:u@h>", f"To: {name}{address}{params}").encode() + b"\r\n")
    assert isinstance(request, Request)
    request_to = str(request.to)
    response = make_response(request, 200, to_tag="abc")
    to_text = response.headers.get("To") or ""
    assert response.to == NameAddress.parse(to_text) and response.to_tag == "abc"
    assert response.from_ == NameAddress.parse(response.headers.get("From") or "")
    assert response.cseq == CSeq.parse(response.headers.get("CSeq") or "")
    assert response.top_via == Via.parse(response.headers.get("Via") or "")
    response.to.params["tag"] = "changed"
    response.top_via.params["received"] = "192.0.2.1"
    assert response.to_tag == "abc" and str(request.to) == request_to
    assert request.top_via.received is None and request.to_tag is None


HEAD = (
    "OPTIONS sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK9\r\n"
    "From: <sip:a@h>;tag=1\r\nTo: <sip:u@h>\r\nCall-ID: t\r\nCSeq: 8 OPTIONS\r\n"
)


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        ('X-Foo: a, "b,c"\r\n', lambda m: m.headers.get_all("X-Foo") == ['a, "b,c"']),
        ("Subject:\r\n", lambda m: m.headers.get("Subject") == ""),
        ("X-Long: " + "x" * 10000 + "\r\n", lambda m: len(m.headers.get("X-Long")) == 10000),
        ("l : 0000\r\n", lambda m: m.body == b""),
        (
            "Via: SIP/2.0/UDP [2001:db8::9]:5070 (comment);branch=z9hG4bKv\r\n",
            lambda m: m.vias[1].port == 5070,
        ),
        ("Contact: *\r\n", lambda m: m.contact is None),
        (
            "Allow: INVITE,ACK ,  BYE\r\n",
            lambda m: m.headers.get_all("Allow") == ["INVITE", "ACK", "BYE"],
        ),
        ("Via: SIP/2.0/UDP x;branch=z9hG4bKa,,SIP/2.0/UDP y\r\n", lambda m: len(m.vias) == 3),
    ],
)
def test_odd_but_valid_headers(extra: str, check: Callable[[Any], bool]) -> None:
    msg = parse_message((HEAD + extra + "\r\n").encode())
    assert check(msg)
    roundtrip(msg)


@pytest.mark.parametrize(
    "uri",
    [
        "sip:%61lice@h",
        "sip:u@h?Subject=foo&Call-Info=x",
        "sip:u@h;maddr=239.255.255.1;ttl=15",
        "tel:+1",
    ],
)
def test_odd_request_uris_are_kept_verbatim(uri: str) -> None:
    msg = parse_message(HEAD.replace("sip:u@h SIP", f"{uri} SIP").encode() + b"\r\n")
    assert isinstance(msg, Request) and msg.uri == uri


def test_unknown_method_and_empty_reason_phrase() -> None:
    msg = parse_message(HEAD.replace("OPTIONS", "NEWMETHOD").encode() + b"\r\n")
    assert isinstance(msg, Request) and msg.method == "NEWMETHOD"
    resp = parse_message(HEAD.replace("OPTIONS sip:u@h SIP/2.0", "SIP/2.0 200 ").encode() + b"\r\n")
    assert isinstance(resp, Response) and resp.reason == ""


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("Call-ID: again\r\n", "Multiple Call-ID headers"),
        ("Content-Length: 0\r\nl: 3\r\n", "Conflicting Content-Length"),
        ("Content-Length: -1\r\n", "Bad Content-Length"),
        ("NoColonHere\r\n", "Bad header line"),
        ('X-A: "open\r\nContact: "unterminated <sip:a@h>\r\n', "Unterminated"),
        ("Bad Name: x\r\n", "Bad header line"),
        ("Max-Forwards: 256\r\n", "Bad Max-Forwards"),
    ],
)
def test_invalid_headers(extra: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        msg = parse_message((HEAD + extra + "\r\n").encode())
        msg.contact  # noqa: B018 - lazily parsed header
    assert reason in info.value.reason


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        HEAD.encode(),  # no empty line
        HEAD.replace("SIP/2.0\r\n", "SIP/2.0\r\n  folded-start\r\n", 1).encode() + b"\r\n",
        HEAD.replace("OPTIONS sip:u@h SIP/2.0", "SIP/2.0 999 Nope").encode() + b"\r\n",
        HEAD.replace("OPTIONS sip:u@h SIP/2.0", "SIP/2.0 20 Short").encode() + b"\r\n",
        HEAD.replace("CSeq: 8", "CSeq: 2147483648").encode() + b"\r\n",
        HEAD.replace("Via: SIP/2.0/UDP h;", "Via: SIP/2.0/UDP h:70000;").encode() + b"\r\n",
    ],
)
def test_invalid_messages(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(data)


_TOKEN = st.text(
    alphabet=string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=8
)
_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    return SipUri(
        host=".".join(draw(st.lists(_LABEL, min_size=1, max_size=3))),
        user=draw(
            st.none()
            | st.text(
                alphabet=string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/",
                min_size=1,
                max_size=10,
            )
        ),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(st.dictionaries(_TOKEN.map(str.lower), st.none() | _TOKEN, max_size=3)),
        headers=draw(st.dictionaries(_LABEL, _LABEL, max_size=2)),
        scheme=draw(st.sampled_from(["sip", "sips"])),
    )


@settings(max_examples=100, deadline=None, database=None)
@given(
    sip_uris(),
    st.none() | st.text(alphabet=string.printable.strip(), max_size=12),
    st.dictionaries(_TOKEN.map(str.lower), st.none() | _TOKEN, max_size=3),
)
def test_uri_and_name_addr_round_trip(
    uri: SipUri, display: str | None, params: dict[str, str | None]
) -> None:
    assert parse_uri(str(uri)) == uri
    address = NameAddress(uri, display, params)
    assert NameAddress.parse(str(address)) == address


def test_headers_editing_keeps_order() -> None:
    headers = Headers([("Via", "a"), ("v", "b"), ("X-A", "1"), ("To", "t")])
    assert headers.items() == [("Via", "a"), ("Via", "b"), ("X-A", "1"), ("To", "t")]
    headers.replace_first("via", "a2")
    headers.set("x-a", "2")
    headers.prepend("Route", "<sip:r;lr>")
    headers.remove("TO")
    assert headers.items() == [("Route", "<sip:r;lr>"), ("Via", "a2"), ("Via", "b"), ("X-A", "2")]
    assert "route" in headers and "To" not in headers and len(headers) == 4
    with pytest.raises(KeyError):
        headers.replace_first("Contact", "x")


def test_headers_lookup_stays_right_after_every_edit() -> None:
    """The lower-cased key list follows every edit: lookups agree with a plain scan."""
    headers = Headers([("X-Odd", "1"), ("x-odd", "2"), ("Via", "v1")])
    headers.add("X-ODD", "3")
    headers.add_raw("Contact", "<sip:a>, <sip:b>")
    headers.prepend("v", "v0")
    headers.remove("x-odd")
    headers.set("contact", "<sip:c>")
    headers.set("X-New", "n")
    headers.replace_first("VIA", "v0b")
    copy = headers.copy()
    copy.add("X-Copy", "c")
    for h in (headers, copy):
        for name in ("via", "X-ODD", "Contact", "m", "x-new", "X-Copy", "Route"):
            plain = [v for n, v in h.items() if n.lower() == canonical_name(name).lower()]
            assert h.get_all(name) == plain
            assert h.get(name) == (plain[0] if plain else None)
    assert headers.items() == [("Via", "v0b"), ("Via", "v1"), ("Contact", "<sip:c>"), ("X-New", "n")]
    assert "X-Copy" not in headers and copy.get("x-copy") == "c"


def test_essential_header_reads_are_independent_copies() -> None:
    """Via/From/To/Contact are parsed once per message; each read can be changed freely."""
    message = parse_message(crlf(BASIC))
    via = message.top_via
    via.params["received"] = "192.0.2.1"
    from_ = message.from_
    from_.params["tag"] = "changed"
    assert isinstance(from_.uri, SipUri)
    from_.uri.params["x"] = "1"
    contact = message.contact
    assert contact is not None
    contact.params["expires"] = "0"
    assert "received" not in message.top_via.params
    assert message.from_.tag == "1928301774" and message.from_.uri.params == {}
    assert message.contact is not None and message.contact.params == {}
    assert message.to.display_name == "Bob" and message.to is not message.to
    # a changed header is parsed again
    message.headers.replace_first("Via", str(via))
    assert message.top_via.received == "192.0.2.1"
    message.headers.set("From", "<sip:carol@example.com>;tag=9")
    assert message.from_.tag == "9"
    message.headers.set("CSeq", "7 INVITE")
    assert message.cseq == CSeq(7, "INVITE")
    message.headers.set("Contact", "*")
    assert message.contact is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "é\u00a0<>\"\\", max_size=30))
def test_token_check_and_split_agree_with_their_definitions(text: str) -> None:
    """is_token is exactly "one or more token characters"; a split with nothing quoted is str.split."""
    assert is_token(text) == (bool(text) and all(ch in _TOKEN_TEXT for ch in text))
    if '"' not in text and "<" not in text:
        assert split_outside_quotes(text, ",") == text.split(",")


def _lines_or_error(split: Callable[[], list[str]]) -> list[str] | str:
    try:
        return split()
    except ParseError as exc:
        return f"error: {exc.reason}"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab: \t\r\n\x00\x0b\x7f\x85é", max_size=40))
def test_head_lines_whole_head_pass_agrees_with_the_line_by_line_rules(head: str) -> None:
    """RFC 3261 7.3.1: the fast pass over a whole head gives the same lines or error as the checks per line."""
    raw = head.encode("utf-8", "surrogateescape")
    assert _lines_or_error(lambda: _head_lines(raw, head)) == _lines_or_error(
        lambda: _checked_head_lines(head)
    )


def test_stream_framer_rejects_oversized_and_bad_length() -> None:
    with pytest.raises(ParseError):
        StreamFramer().feed(b"INVITE sip:a@b SIP/2.0\r\nl: x\r\n\r\n")
    with pytest.raises(ParseError):
        StreamFramer(max_message=100).feed(BASIC.encode())
    with pytest.raises(ParseError):
        StreamFramer().feed(b"A" * 70000)


def test_made_up_header_names_are_parsed_alike_and_the_name_caches_stay_bounded() -> None:
    """A peer may send any header names: each message is parsed as ever (the name as sent,
    looked up case-insensitively, compact forms mapped), and what the parser and the header
    lookups remember about names stays bounded however many distinct names arrive."""
    from dsm.runtime.sip import headers as headers_module
    from dsm.runtime.sip import message as message_module

    for n in range(1500):  # bounded: more distinct names than either cache keeps
        data = (
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
            "v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-x\r\n"
            "f: <sip:b@127.0.0.1>;tag=1\r\nt: <sip:a@127.0.0.1>\r\n"
            f"i: call-{n}\r\nCSeq: 1 OPTIONS\r\nX-Made-Up-{n}: value {n}\r\nl: 0\r\n\r\n"
        ).encode()
        message = parse_message(data)
        assert message.headers.get(f"x-made-up-{n}") == f"value {n}"
        assert message.headers.get(f"X-MADE-UP-{n}") == f"value {n}"
        assert message.call_id == f"call-{n}" and message.top_via.branch == "z9hG4bK-x"
    assert len(headers_module._NAMES) <= headers_module._NAMES_MAX
    assert len(message_module._TOKEN_NAMES) <= 1024
    with pytest.raises(ParseError):
        parse_message(b"OPTIONS sip:a@h SIP/2.0\r\nBad Name: x\r\n\r\n")


def test_header_parses_shared_between_messages_are_never_handed_out_and_stay_bounded() -> None:
    """Messages with the same From, To, Contact, CSeq or Request-URI text share one parse:
    what a reader gets is its own copy (changing it changes no other message), the tags
    read without a copy agree, and the shared parses stay bounded however many texts come."""
    from dsm.runtime.sip import message as message_module

    def request(n: int) -> bytes:
        return (
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}\r\n"
            f"From: <sip:b@127.0.0.1>;tag=f{n}\r\nTo: <sip:a@127.0.0.1>\r\n"
            f"Call-ID: call-{n}\r\nCSeq: 1 OPTIONS\r\nContact: <sip:b@127.0.0.1:5070>\r\nl: 0\r\n\r\n"
        ).encode()

    first, second = parse_message(request(1)), parse_message(request(2))
    assert isinstance(first, Request) and isinstance(second, Request)
    to = first.to
    to.params["tag"] = "changed"
    to.uri.params["lr"] = None  # type: ignore[union-attr]
    uri = first.request_uri
    uri.params["transport"] = "tcp"  # type: ignore[union-attr]
    contact = first.contact
    assert contact is not None
    contact.params["expires"] = "1"
    assert second.to_tag is None and str(second.to) == "<sip:a@127.0.0.1>"
    assert first.to_tag is None and str(first.to) == "<sip:a@127.0.0.1>"
    assert str(second.request_uri) == str(first.request_uri) == "sip:a@127.0.0.1"
    assert str(second.contact) == "<sip:b@127.0.0.1:5070>"
    assert (first.from_tag, second.from_tag) == ("f1", "f2") == (first.from_.tag, second.from_.tag)
    for n in range(message_module._SHARED_MAX + 200):  # bounded: more texts than it keeps
        assert parse_message(request(n)).from_tag == f"f{n}"
    assert len(message_module._SHARED) <= message_module._SHARED_MAX
    long_tag = "x" * message_module._SHARED_TEXT_MAX  # too long to keep: parsed for its message
    message_module._SHARED.clear()
    long = parse_message(request(1).replace(b"tag=f1", b"tag=" + long_tag.encode()))
    assert long.from_tag == long_tag and not any(long_tag in text for _, text in message_module._SHARED)
