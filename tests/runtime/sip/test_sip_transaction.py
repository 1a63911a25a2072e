"""RFC 3261 section 17 transaction state machines, driven by injected time.

T1 = 0.5 s, T2 = 4 s, T4 = 5 s, 64*T1 = 32 s (the RFC defaults).
"""

from __future__ import annotations

from dsm.runtime.sip.message import Request, Response, parse_message
from dsm.runtime.sip.responses import make_response
from dsm.runtime.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Output,
    ResponseReceived,
    Send,
    TimedOut,
    TimerSettings,
    Transaction,
    TransactionKey,
    client_key,
    server_key,
)


def request(method: str = "INVITE", branch: str = "z9hG4bK1", to_tag: str = "") -> Request:
    tag = f";tag={to_tag}" if to_tag else ""
    cseq_method = "INVITE" if method == "ACK" else method
    text = (
        f"{method} sip:b@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        f"From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:b@127.0.0.1>{tag}\r\n"
        f"Call-ID: tx1\r\nCSeq: 1 {cseq_method if method != 'ACK' else 'ACK'}\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response_to(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag="t1")


def sends(outputs: list[Output]) -> list[str]:
    out = []
    for o in outputs:
        if isinstance(o, Send):
            m = o.message
            out.append(m.method if isinstance(m, Request) else str(m.status))
    return out


def run_until(tx: Transaction, end: float) -> list[tuple[float, list[Output]]]:
    """Fire timers in order until ``end``; returns (time, outputs) for each firing."""
    log = []
    while (t := tx.next_timeout()) is not None and t <= end:
        log.append((t, tx.handle_timeout(t)))
    return log


def test_17_1_2_nict_retransmits_at_T1_doubling_capped_at_T2_then_times_out_F() -> None:
    req = request("OPTIONS")
    tx = NonInviteClientTransaction(req, now=0.0)
    assert sends(tx.start()) == ["OPTIONS"]
    log = run_until(tx, 40.0)
    resend_times = [t for t, outs in log if sends(outs)]
    assert resend_times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    final = [o for _, outs in log for o in outs if isinstance(o, TimedOut)]
    assert final == [TimedOut("F")] and tx.terminated
    assert log[-1][0] == 32.0


def test_17_1_2_nict_proceeding_uses_T2_and_final_response_waits_T4() -> None:
    req = request("BYE")
    tx = NonInviteClientTransaction(req, now=0.0)
    tx.start()
    assert tx.handle_message(response_to(req, 100), 0.2) == [
        ResponseReceived(response_to(req, 100))
    ]
    assert tx.state == "proceeding"
    log = run_until(tx, 5.0)
    assert [t for t, outs in log if sends(outs)] == [0.5, 4.5]
    final = response_to(req, 200)
    assert tx.handle_message(final, 5.0) == [ResponseReceived(final)]
    assert tx.state == "completed" and tx.next_timeout() == 10.0
    assert tx.handle_message(final, 6.0) == []  # retransmission absorbed
    tx.handle_timeout(10.0)
    assert tx.terminated


def test_17_1_1_ict_timer_A_doubles_without_cap_and_B_times_out() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, now=0.0)
    assert sends(tx.start()) == ["INVITE"]
    log = run_until(tx, 40.0)
    assert [t for t, outs in log if sends(outs)] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [o for _, outs in log for o in outs if isinstance(o, TimedOut)] == [TimedOut("B")]


def test_17_1_1_ict_non_2xx_is_acked_by_transaction_and_D_ends_it() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, now=0.0)
    tx.start()
    busy = response_to(req, 486)
    outs = tx.handle_message(busy, 0.1)
    acks = [o.message for o in outs if isinstance(o, Send)]
    assert len(acks) == 1 and isinstance(acks[0], Request) and acks[0].method == "ACK"
    ack = acks[0]
    assert ack.to.tag == "t1" and ack.cseq.number == 1 and ack.cseq.method == "ACK"
    assert ack.top_via.branch == req.top_via.branch and ack.uri == req.uri
    assert ResponseReceived(busy) in outs
    assert sends(tx.handle_message(busy, 1.0)) == ["ACK"]  # retransmitted final -> ACK again
    tx.handle_timeout(32.1)
    assert tx.terminated


def test_6026_ict_accepted_passes_2xx_retransmissions_to_tu() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, now=0.0)
    tx.start()
    ok = response_to(req, 200)
    assert tx.handle_message(ok, 0.1) == [ResponseReceived(ok)]
    assert tx.handle_message(ok, 0.6) == [ResponseReceived(ok)]
    tx.handle_timeout(32.1)
    assert tx.terminated


def test_17_2_1_ist_final_response_retransmitted_G_capped_T2_until_H() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0)
    assert sends(tx.send_response(response_to(req, 100), 0.0)) == ["100"]
    assert sends(tx.handle_message(req, 0.2)) == [
        "100"
    ]  # INVITE retransmission -> last provisional
    assert sends(tx.send_response(response_to(req, 404), 1.0)) == ["404"]
    log = run_until(tx, 40.0)
    resend_times = [t - 1.0 for t, outs in log if sends(outs)]
    assert resend_times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [o for _, outs in log for o in outs if isinstance(o, TimedOut)] == [TimedOut("H")]


def test_17_2_1_ist_ack_confirms_and_I_absorbs_ack_retransmissions() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0)
    tx.send_response(response_to(req, 486), 0.0)
    assert sends(tx.handle_message(req, 0.1)) == ["486"]
    ack = request("ACK", to_tag="t1")
    assert server_key(ack) == server_key(req)  # ACK for non-2xx matches the INVITE transaction
    assert tx.handle_message(ack, 0.2) == []
    assert tx.state == "confirmed" and tx.next_timeout() == 5.2
    assert tx.handle_message(ack, 0.3) == []
    tx.handle_timeout(5.2)
    assert tx.terminated


def test_6026_ist_2xx_goes_to_accepted_and_absorbs_invite_retransmissions() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0)
    tx.send_response(response_to(req, 200), 0.0)
    assert tx.state == "accepted"
    assert tx.handle_message(req, 0.5) == []
    tx.handle_timeout(32.0)
    assert tx.terminated


def test_17_2_1_ist_no_100_of_its_own_when_the_tu_answers_within_the_trying_delay() -> None:
    """RFC 3261 17.2.1: no 100 is needed from a server whose TU answers within 200 ms (the reference sends none)."""
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0)
    assert tx.defer_trying(0.0) == [] and tx.next_timeout() == 0.1
    assert sends(tx.send_response(response_to(req, 200), 0.003)) == ["200"]
    assert [sends(outs) for _, outs in run_until(tx, 40.0)] == [[]]  # only Timer L; no 100
    assert tx.terminated


def test_17_2_1_ist_sends_its_100_when_the_tu_is_slow_and_then_the_tu_s_answer() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0)
    tx.defer_trying(0.0)
    assert [(t, sends(outs)) for t, outs in run_until(tx, 1.0)] == [(0.1, ["100"])]
    trying = tx.last_response
    assert trying is not None and trying.status == 100 and trying.to.tag is None
    assert sends(tx.handle_message(req, 0.5)) == ["100"]  # a retransmission gets the 100 again
    assert sends(tx.send_response(response_to(req, 200), 1.0)) == ["200"]


def test_17_2_1_ist_invite_retransmitted_before_the_tu_answers_gets_the_100_at_once() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0, timers=TimerSettings(trying=1.0))
    tx.defer_trying(0.0)
    assert sends(tx.handle_message(req, 0.5)) == ["100"]
    assert [sends(outs) for _, outs in run_until(tx, 2.0)] == []  # the timer went with it


def test_17_2_1_ist_trying_delay_zero_sends_the_100_at_once() -> None:
    req = request("INVITE")
    tx = InviteServerTransaction(req, now=0.0, timers=TimerSettings(trying=0.0))
    assert sends(tx.defer_trying(0.0)) == ["100"] and tx.next_timeout() is None


def test_17_2_2_nist_absorbs_in_trying_resends_final_and_J_ends() -> None:
    req = request("OPTIONS")
    tx = NonInviteServerTransaction(req, now=0.0)
    assert tx.handle_message(req, 0.1) == []
    assert sends(tx.send_response(response_to(req, 200), 0.2)) == ["200"]
    assert sends(tx.handle_message(req, 1.0)) == ["200"]
    assert tx.next_timeout() == 32.2
    tx.handle_timeout(32.2)
    assert tx.terminated


def test_reliable_transport_skips_retransmissions_and_waits() -> None:
    req = request("OPTIONS")
    tx = NonInviteClientTransaction(req, now=0.0, reliable=True)
    assert tx.next_timeout() == 32.0
    tx.handle_message(response_to(req, 200), 0.1)
    assert tx.terminated
    server = NonInviteServerTransaction(req, now=0.0, reliable=True)
    server.send_response(response_to(req, 200), 0.0)
    assert server.terminated


def test_custom_timers() -> None:
    req = request("OPTIONS")
    tx = NonInviteClientTransaction(req, now=10.0, timers=TimerSettings(t1=0.1, t2=0.4))
    log = run_until(tx, 20.0)
    times = [round(t - 10.0, 3) for t, outs in log if sends(outs)]
    assert times[:5] == [0.1, 0.3, 0.7, 1.1, 1.5]
    assert log[-1][0] == 10.0 + 6.4


def test_17_2_3_a_key_equals_and_hashes_by_its_three_parts() -> None:
    key = TransactionKey("z9hG4bKabc", "127.0.0.1:5070", "INVITE")
    same = TransactionKey("z9hG4bKabc", "127.0.0.1:5070", "INVITE")
    assert key == same and hash(key) == hash(same) and {key: 1}[same] == 1
    for other in (
        TransactionKey("z9hG4bKabd", "127.0.0.1:5070", "INVITE"),
        TransactionKey("z9hG4bKabc", "127.0.0.1:5071", "INVITE"),
        TransactionKey("z9hG4bKabc", "127.0.0.1:5070", "CANCEL"),
    ):
        assert key != other and other not in {key: 1}
    assert key != ("z9hG4bKabc", "127.0.0.1:5070", "INVITE")


def test_17_2_3_matching_by_branch_method_and_sent_by() -> None:
    invite = request("INVITE", branch="z9hG4bKabc")
    cancel = request("CANCEL", branch="z9hG4bKabc")
    assert server_key(invite) != server_key(cancel)
    assert server_key(invite) == TransactionKey("z9hG4bKabc", "127.0.0.1:5070", "INVITE")
    other = request("INVITE", branch="z9hG4bKother")
    assert server_key(other) != server_key(invite)
    legacy = request("INVITE", branch="1234")  # RFC 2543 peer: no magic cookie
    assert server_key(legacy).branch.startswith("2543|")
    resp = response_to(invite, 180)
    assert client_key(resp) == TransactionKey("z9hG4bKabc", "", "INVITE")
