"""The simple relay's bounds (``docs/security.md``): how many relayed dialogs, how long each lives.

A sender and a silent target are plain UDP sockets on loopback, so the test
decides when (and whether) the target answers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from relay_rig import SbcRig
from sip_rig import LIMIT

from dsm.runtime.sbc.simple_relay import RelayLimits
from dsm.runtime.sip.message import Request, Response, parse_message


def message(port: int, call_id: str, branch: str) -> bytes:
    return (
        f"MESSAGE sip:bob@bob.invalid SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:alice@127.0.0.1:{port}>;tag=alice-{branch}\r\nTo: <sip:bob@bob.invalid>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n"
        f"Content-Length: 2\r\n\r\nhi"
    ).encode()


def receive(sock: socket.socket) -> Request | Response:
    data, _ = sock.recvfrom(65535)
    return parse_message(data)


def receive_response(sock: socket.socket) -> Response:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        got = receive(sock)
        if isinstance(got, Response) and got.status >= 200:
            return got
    raise AssertionError("no final response")


def answer(request: Request, status: str = "200 OK") -> bytes:
    lines = [f"SIP/2.0 {status}"]
    lines += [f"Via: {v}" for v in request.headers.get_all("Via")]
    lines += [
        f"From: {request.headers.get('From')}",
        f"To: {request.headers.get('To')};tag=bob",
        f"Call-ID: {request.call_id}",
        f"CSeq: {request.headers.get('CSeq')}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    made = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(LIMIT)
        made.append(sock)
    try:
        yield made[0], made[1]
    finally:
        for sock in made:
            sock.close()


def test_relayed_dialogs_beyond_the_limit_get_503_and_expired_ones_are_forgotten(
    rig: SbcRig, sockets: tuple[socket.socket, socket.socket]
) -> None:
    """With room for one relayed dialog, a second MESSAGE while the first is unanswered gets 503
    (Retry-After); once answered, there is room again; one whose target stays silent is
    forgotten after its lifetime by the sweep."""
    sender, target = sockets
    target_port = target.getsockname()[1]
    sender_port = sender.getsockname()[1]
    rig.profile("relay", f"next_hop=127.0.0.1:{target_port}\n")
    server = rig.start(["relay"], "relay")
    server.on_loop(lambda: setattr(rig.relay.simple, "limits", RelayLimits(max_dialogs=1, transaction_lifetime=0.3)))
    sbc = ("127.0.0.1", server.port)

    sender.sendto(message(sender_port, "first", "1"), sbc)
    relayed = receive(target)
    assert isinstance(relayed, Request) and relayed.method == "MESSAGE"
    sender.sendto(message(sender_port, "second", "2"), sbc)
    busy = receive_response(sender)
    assert busy.status == 503 and busy.call_id == "second"
    assert busy.headers.get("Retry-After")

    target.sendto(answer(relayed), ("127.0.0.1", server.port))
    ok = receive_response(sender)
    assert ok.status == 200 and ok.call_id == "first"
    assert ok.to.tag  # our own tag towards the sender

    sender.sendto(message(sender_port, "third", "3"), sbc)
    assert isinstance(receive(target), Request)  # relayed; the target never answers
    deadline = time.monotonic() + LIMIT
    while server.on_loop(lambda: len(rig.relay.simple.dialogs)):
        assert time.monotonic() < deadline, "the silent relay was not forgotten"
        time.sleep(0.05)
    assert server.on_loop(lambda: rig.relay.simple.expired) == 1
    metrics = server.on_loop(rig.relay.metrics)
    assert "dsm_sbc_relayed_dialogs 0" in metrics
    assert "dsm_sbc_relayed_requests_total 2" in metrics
    assert "dsm_sbc_relay_refused_total 1" in metrics


def test_relay_limits_from_sbc_conf() -> None:
    """``max_relayed_dialogs``/``relayed_dialog_lifetime`` of sbc.conf; bad values are clear errors."""
    limits = RelayLimits.from_config({"max_relayed_dialogs": "5", "relayed_dialog_lifetime": "90"})
    assert (limits.max_dialogs, limits.max_lifetime) == (5, 90.0)
    assert RelayLimits.from_config({}) == RelayLimits()
    with pytest.raises(ValueError, match="max_relayed_dialogs"):
        RelayLimits.from_config({"max_relayed_dialogs": "many"})
    with pytest.raises(ValueError, match="must be positive"):
        RelayLimits.from_config({"relayed_dialog_lifetime": "0"})
