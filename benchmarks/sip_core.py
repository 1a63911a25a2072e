"""The signalling of one answer-play-hangup call, sans-I/O: CPU and Python calls per call.

The SIP work ``dsm serve`` does for each call of ``benchmarks/sip.py``'s
calls-per-second step, without sockets, media or sessions: the user agent
core (:class:`UserAgentServer`, made as ``SipCalls.core_options`` makes it)
receives sipp's INVITE with its PCMU offer, the SDP is parsed and answered,
the INVITE is answered 200 with the answer, the ACK and the BYE arrive and
the BYE is answered 200 -- every datagram parsed, every response built and
serialised as on the wire.  The datagrams are sipp's, call by call (own
Call-ID, tags and branches).

The collector is set up as ``dsm serve`` sets it (start-up heap frozen,
its thresholds).  Reports CPU microseconds per call (``process_time``; the median of
``--rounds`` rounds of ``--calls`` calls) and Python function calls per
call (one more round under cProfile; they do not depend on the machine's
load, so they compare two trees on a busy machine).  A quick yardstick for
the interpreted SIP part of a call; ``benchmarks/sip.py`` measures the
whole server.

Run: ``.venv/bin/python benchmarks/sip_core.py [--calls 2000] [--rounds 7]``.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import statistics
import time

from dsm.runtime.server import GC_THRESHOLDS
from dsm.runtime.sip.sdp import answer_offer, parse_sdp
from dsm.runtime.sip.useragent import (
    AckReceived,
    CallEnded,
    InDialogRequest,
    NewCall,
    UserAgentServer,
)

SERVER = ("127.0.0.1", 5080)
CALLER = ("127.0.0.1", 5061)
SDP = (
    "v=0\r\no=sipp 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
)


def invite(n: int) -> bytes:
    """sipp's INVITE of call ``n`` (the UAC scenario of ``benchmarks/sip.py``)."""
    return (
        "INVITE sip:aph@127.0.0.1:5080 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-{n}-0\r\n"
        f"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00{n}\r\n"
        "To: <sip:aph@127.0.0.1:5080>\r\n"
        f"Call-ID: {n}-4242@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:sipp@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}"
    ).encode()


def in_dialog(method: str, n: int, cseq: int, to: str, contact: str) -> bytes:
    """sipp's ACK or BYE of call ``n``: From and To as last received, to the 200's Contact."""
    return (
        f"{method} {contact} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-{n}-{cseq}{method}\r\n"
        f"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00{n}\r\n"
        f"To: {to}\r\nCall-ID: {n}-4242@127.0.0.1\r\nCSeq: {cseq} {method}\r\n"
        "Contact: <sip:sipp@127.0.0.1:5061>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def one_call(core: UserAgentServer, n: int, now: float) -> int:
    """One call's signalling through ``core``; the datagrams it sent."""
    sent = 0
    out = core.receive(invite(n), CALLER, now)
    sent += len(out.datagrams)
    new = next(e for e in out.events if isinstance(e, NewCall))
    request = new.request
    negotiated = answer_offer(
        parse_sdp(request.body), address="127.0.0.1", port=20000, session_id=str(n)
    )
    out = core.reply(new.call_id, 200, now=now, body=str(negotiated.answer).encode("utf-8"))
    sent += len(out.datagrams)
    answer = out.datagrams[-1].data.decode()
    to = next(line[4:] for line in answer.split("\r\n") if line.startswith("To: "))
    contact = next(line[9:] for line in answer.split("\r\n") if line.startswith("Contact: "))
    contact = contact.strip("<>")
    out = core.receive(in_dialog("ACK", n, 1, to, contact), CALLER, now)
    assert any(isinstance(e, AckReceived) for e in out.events), out.events
    out = core.receive(in_dialog("BYE", n, 2, to, contact), CALLER, now)
    bye = next(e for e in out.events if isinstance(e, InDialogRequest | CallEnded))
    if isinstance(bye, InDialogRequest):
        out = core.reply_request(bye.call_id, bye.transaction, 200, now=now)
        sent += len(out.datagrams)
    return sent


def make_core() -> UserAgentServer:
    return UserAgentServer(SERVER[0], SERVER[1], bye_to_tu=True)


def run_round(calls: int, start: int) -> float:
    """CPU seconds for ``calls`` calls on a fresh core."""
    core = make_core()
    now = 1000.0
    began = time.process_time()
    for n in range(start, start + calls):
        one_call(core, n, now)
        now += 0.001
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    run_round(200, 0)  # warm-up: caches, first-use imports
    gc.freeze()  # as dsm serve does before it serves
    gc.set_threshold(*GC_THRESHOLDS)
    per_call = [
        run_round(args.calls, (r + 1) * args.calls) / args.calls * 1e6 for r in range(args.rounds)
    ]
    profile = cProfile.Profile()
    core = make_core()
    profile.enable()
    for n in range(args.calls):
        one_call(core, 10**7 + n, 1000.0 + n / 1000)
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    result = {
        "benchmark": "sip_core",
        "calls": args.calls,
        "rounds_us_per_call": [round(x, 1) for x in per_call],
        "cpu_us_per_call": round(statistics.median(per_call), 1),
        "python_calls_per_call": round(total / args.calls, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
