"""Dialogs (RFC 3261 section 12), 2xx retransmission (13.3.1.4) and CANCEL (9.2)."""

from __future__ import annotations

from dsm.runtime.sip.dialog import Dialog, TwoXXRetransmitter, cancel_responses
from dsm.runtime.sip.message import Request, parse_message
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.transaction import Send, TimedOut

INVITE = (
    "INVITE sip:menu@10.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n"
    "Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKa1\r\n"
    "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com:5080;lr>\r\n"
    'From: "Alice" <sip:alice@example.com>;tag=ra\r\n'
    "To: <sip:menu@10.0.0.1>\r\n"
    "Call-ID: dlg-1\r\nCSeq: 17 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.9:5062;transport=udp>\r\n\r\n"
)


def invite(text: str = INVITE) -> Request:
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def uas_dialog(text: str = INVITE) -> tuple[Request, Dialog]:
    req = invite(text)
    ok = make_response(req, 200, to_tag="la")
    return req, Dialog.uas(req, ok, "<sip:10.0.0.1:5060>")


def test_12_1_1_uas_dialog_state_from_invite_and_2xx() -> None:
    _, dialog = uas_dialog()
    assert dialog.id == ("dlg-1", "la", "ra")
    assert dialog.remote_seq == 17 and dialog.local_seq == 0
    assert dialog.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com:5080;lr>"]
    assert dialog.remote_target == "sip:alice@10.0.0.9:5062;transport=udp"
    assert dialog.state == "confirmed"


def test_12_2_1_bye_with_loose_route_set() -> None:
    _, dialog = uas_dialog()
    bye = dialog.create_request("BYE", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb1")
    assert bye.method == "BYE" and bye.uri == dialog.remote_target
    assert bye.headers.get_all("Route") == dialog.route_set
    assert bye.from_.tag == "la" and bye.to.tag == "ra" and bye.to.display_name == "Alice"
    assert bye.cseq.number == 1 and bye.call_id == "dlg-1"
    assert dialog.next_hop() == ("p2.example.com", 5060)
    info = dialog.create_request(
        "INFO", "SIP/2.0/UDP x;branch=z9hG4bKb2", body=b"hi", content_type="text/plain"
    )
    assert info.cseq.number == 2 and info.headers.get("Content-Type") == "text/plain"
    again = parse_message(bytes(info))
    assert isinstance(again, Request) and again.body == b"hi"


def test_12_2_1_reinvite_carries_contact_and_ack_reuses_cseq() -> None:
    _, dialog = uas_dialog()
    reinvite = dialog.create_request("INVITE", "SIP/2.0/UDP x;branch=z9hG4bKc")
    assert reinvite.headers.get("Contact") == "<sip:10.0.0.1:5060>"
    ack = dialog.create_request("ACK", "SIP/2.0/UDP x;branch=z9hG4bKd", cseq=reinvite.cseq.number)
    assert ack.cseq.number == reinvite.cseq.number and ack.cseq.method == "ACK"
    assert dialog.local_seq == reinvite.cseq.number


def test_12_2_1_strict_router_becomes_request_uri() -> None:
    text = INVITE.replace(
        "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com:5080;lr>",
        "Record-Route: <sip:strict.example.com>",
    )
    _, dialog = uas_dialog(text)
    bye = dialog.create_request("BYE", "SIP/2.0/UDP x;branch=z9hG4bKb1")
    assert bye.uri == "sip:strict.example.com"
    assert bye.headers.get_all("Route") == ["<sip:alice@10.0.0.9:5062;transport=udp>"]


def test_direct_dialog_without_routes_goes_to_contact() -> None:
    text = INVITE.replace(
        "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com:5080;lr>\r\n", ""
    )
    _, dialog = uas_dialog(text)
    assert dialog.next_hop() == ("10.0.0.9", 5062)


def test_12_2_2_remote_cseq_out_of_order_is_refused() -> None:
    _, dialog = uas_dialog()
    lower = invite(INVITE.replace("CSeq: 17 INVITE", "CSeq: 16 INVITE"))
    assert not dialog.accept_remote_cseq(lower)
    higher = invite(INVITE.replace("CSeq: 17 INVITE", "CSeq: 18 INVITE"))
    assert dialog.accept_remote_cseq(higher) and dialog.remote_seq == 18


def test_uac_dialog_reverses_record_route() -> None:
    req = invite()
    ok = make_response(req, 200, to_tag="remote")
    ok.headers.add("Contact", "<sip:bob@192.0.2.5>")
    for rr in req.headers.get_all("Record-Route"):
        ok.headers.add("Record-Route", rr)
    dialog = Dialog.uac(req, ok)
    assert dialog.route_set == ["<sip:p1.example.com:5080;lr>", "<sip:p2.example.com;lr>"]
    assert dialog.remote_target == "sip:bob@192.0.2.5" and dialog.local_tag == "ra"


def test_13_3_1_4_2xx_retransmitted_until_ack() -> None:
    req = invite()
    ok = make_response(req, 200, to_tag="la")
    r = TwoXXRetransmitter(ok, now=0.0)
    times = []
    while (t := r.next_timeout()) is not None and t < 5:
        outs = r.handle_timeout(t)
        assert outs == [Send(ok)]
        times.append(t)
    assert times == [0.5, 1.5, 3.5]
    r.ack()
    assert r.done and r.next_timeout() is None


def test_13_3_1_4_no_ack_after_64_T1_times_out() -> None:
    r = TwoXXRetransmitter(make_response(invite(), 200, to_tag="la"), now=0.0)
    outs = r.handle_timeout(100.0)
    assert outs[-1] == TimedOut("H")
    assert r.done


def test_9_2_cancel_gives_200_and_487() -> None:
    req = invite()
    cancel = invite(INVITE.replace("INVITE sip", "CANCEL sip").replace("17 INVITE", "17 CANCEL"))
    ok, terminated = cancel_responses(req, cancel, "la")
    assert (ok.status, ok.cseq.method) == (200, "CANCEL")
    assert (terminated.status, terminated.reason, terminated.cseq.method) == (
        487,
        "Request Terminated",
        "INVITE",
    )
    assert terminated.to.tag == "la"
