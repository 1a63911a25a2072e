"""The UAS core's timer heap: RFC 3261 timers at their times, O(log n) per datagram.

All on injected time: the core never reads a clock, so every deadline below
is exact.  T1 = 0.5 s, T2 = 4 s, T4 = 5 s, 64*T1 = 32 s (RFC 3261 table 4).
"""

from __future__ import annotations

import random

import pytest
from test_sip_useragent import PEER, UA_ADDR, Caller, requests, responses, statuses

from dsm.runtime.sip.timer_heap import NotifyingDict, TimerHeap
from dsm.runtime.sip.ua_common import TimerOwner
from dsm.runtime.sip.useragent import AckTimeout, UserAgentServer


def new_ua() -> UserAgentServer:
    return UserAgentServer(*UA_ADDR, rng=random.Random(7))


def run_timers(ua: UserAgentServer, until: float) -> list[tuple[float, list[int]]]:
    """Drive the core like the transport does; (time, statuses sent) per timer step."""
    fired = []
    while (t := ua.next_timeout()) is not None and t <= until:
        fired.append((t, statuses(ua.handle_timeout(t))))
    return fired


# -- the heap itself ------------------------------------------------------------------------


class Owner:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline


def test_heap_drops_stale_entries_and_reports_the_first_live_one() -> None:
    heap: TimerHeap[Owner] = TimerHeap(lambda owner: owner.deadline)
    stopped, moved, live = Owner(None), Owner(9.0), Owner(5.0)
    heap.push(1.0, stopped)  # its timer was stopped: no deadline any more
    heap.push(2.0, moved)  # restarted later; the new time has its own entry
    heap.push(5.0, live)
    heap.push(9.0, moved)
    assert heap.earliest() == 5.0
    assert len(heap) == 2  # the two stale entries went on the way


def test_heap_pops_each_due_owner_once_in_time_order() -> None:
    heap: TimerHeap[Owner] = TimerHeap(lambda owner: owner.deadline)
    a, b = Owner(1.0), Owner(2.0)
    heap.push(2.0, b)
    heap.push(1.0, a)
    heap.push(1.0, a)  # a duplicate hint
    assert heap.pop_due(3.0) == [a, b]
    assert len(heap) == 0


def test_notifying_dict_reports_assignments_only() -> None:
    seen: list[tuple[str, int]] = []
    table: NotifyingDict[str, int] = NotifyingDict(lambda k, v: seen.append((k, v)))
    table["a"] = 1
    table["a"] = 2
    del table["a"]
    assert seen == [("a", 1), ("a", 2)] and table == {}


# -- RFC 3261 timer values through the core ----------------------------------------------------


def test_timer_G_doubles_to_T2_and_timer_H_ends_the_transaction() -> None:
    """RFC 3261 17.2.1: a 486 is retransmitted at T1, 2T1, 4T1 … capped at T2, until 64*T1."""
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    ua.reply(caller.call_id, 486, now=0.0)
    fired = run_timers(ua, 100.0)
    times = [t for t, sent in fired if sent == [486]]
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert all(t < 32.0 for t in times)
    assert fired[-1][0] == 32.0  # Timer H
    assert ua.next_timeout() is None and len(ua._server) == 0


def test_ack_stops_timer_G_and_timer_I_absorbs_for_T4() -> None:
    """RFC 3261 17.2.1: after the ACK only Timer I (T4) is left; G and H entries are stale."""
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    ua.receive(caller.request("INVITE", branch=branch), PEER, 0.0)
    ua.reply(caller.call_id, 486, now=0.0)
    ua.receive(caller.request("ACK", branch=branch, cseq=1), PEER, 0.2)
    assert ua.next_timeout() == pytest.approx(5.2)
    assert run_timers(ua, 100.0) == [(pytest.approx(5.2), [])]
    assert ua.next_timeout() is None and len(ua._server) == 0


def test_2xx_retransmission_T1_doubling_to_T2_then_ack_timeout_at_64_T1() -> None:
    """RFC 3261 13.3.1.4: 0.5, 1.5, 3.5, 7.5, then every T2; AckTimeout at 32 s."""
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    ua.reply(caller.call_id, 200, now=0.0)
    events = []
    times = []
    while (t := ua.next_timeout()) is not None and t <= 40:
        step = ua.handle_timeout(t)
        if 200 in statuses(step):
            times.append(t)
        events += step.events
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert AckTimeout(caller.call_id) in events


def test_non_invite_server_transaction_is_kept_64_T1_then_dropped_from_heap_and_table() -> None:
    """RFC 3261 17.2.2 Timer J: a finished OPTIONS transaction absorbs retransmissions, then goes."""
    ua, caller = new_ua(), Caller()
    branch = caller.branch()
    assert statuses(ua.receive(caller.request("OPTIONS", branch=branch), PEER, 0.0)) == [200]
    assert len(ua._server) == 1 and ua.next_timeout() == 32.0
    assert statuses(ua.receive(caller.request("OPTIONS", branch=branch), PEER, 1.0)) == [200]
    assert not ua.handle_timeout(32.0)
    assert len(ua._server) == 0
    assert ua.next_timeout() is None and len(ua._timers) == 0


def test_heap_entry_of_a_transaction_removed_from_its_table_is_dropped_without_work() -> None:
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    ua.reply(caller.call_id, 486, now=0.0)
    ua._server.clear()  # the transaction left its table (e.g. dropped after a fault)
    assert ua.next_timeout() is None
    assert not ua.handle_timeout(100.0)


def test_client_transaction_timer_E_then_F() -> None:
    """RFC 3261 17.1.2: our BYE is retransmitted at 0.5, 1.5, 3.5, 7.5, 11.5 … until F at 32 s."""
    ua, caller = new_ua(), Caller()
    ua.receive(caller.request("INVITE"), PEER, 0.0)
    out = ua.reply(caller.call_id, 200, now=0.0)
    caller.to_tag = [r for r in responses(out) if r.status == 200][0].to.tag or ""
    ua.receive(caller.request("ACK", cseq=1), PEER, 0.1)
    ua.bye(caller.call_id, now=1.0)
    sent = []
    while (t := ua.next_timeout()) is not None and t <= 40:
        if any(r.method == "BYE" for r in requests(ua.handle_timeout(t))):
            sent.append(t - 1.0)
    assert sent[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert ua.next_timeout() is None and len(ua._client) == 0


# -- cost per datagram --------------------------------------------------------------------------


def test_a_datagram_does_not_rescan_every_transaction() -> None:
    """Issue "Real calls": with 300 live calls, one datagram asks O(1) transactions for timers."""
    ua = new_ua()
    for i in range(300):
        caller = Caller(call_id=f"c{i}", from_tag=f"f{i}")
        ua.receive(caller.request("INVITE"), PEER, 0.0)
        ua.reply(caller.call_id, 200, now=0.0)
        ua.next_timeout()  # as the transport asks after every step (stopped timers leave the heap)
    calls = 0
    heap = ua.layer.heap
    original = heap.deadline_of

    def counting(owner: TimerOwner) -> float | None:
        # The heap's question to an owner (a compiled caller would not see a patched method).
        nonlocal calls
        calls += 1
        return original(owner)

    heap.deadline_of = counting
    late = Caller(call_id="late", from_tag="fl")
    ua.receive(late.request("OPTIONS"), PEER, 0.1)
    ua.next_timeout()
    assert 0 < calls < 10
