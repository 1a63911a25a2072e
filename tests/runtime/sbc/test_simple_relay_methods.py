"""REGISTER and OPTIONS through the simple relay (the sender and target are loopback sockets).

REGISTER is relayed as the reference's SBC does without a registration
cache: the registrar gets the UA's own Contact and its answer's Contacts come
back.  OPTIONS is relayed unless ``core_options_handling=yes``.
"""

from __future__ import annotations

import socket

from relay_rig import SbcRig
from test_simple_relay_limits import answer, receive, receive_response, sockets  # noqa: F401 - fixture

from dsm.runtime.sip.message import Request


def request(method: str, port: int, call_id: str, extra: str = "") -> bytes:
    return (
        f"{method} sip:registrar.invalid SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id};rport\r\n"
        f"From: <sip:alice@registrar.invalid>;tag=a-{call_id}\r\nTo: <sip:alice@registrar.invalid>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 3 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


def test_register_is_relayed_with_the_uas_contact_and_the_answer_keeps_the_bindings(
    rig: SbcRig, sockets: tuple[socket.socket, socket.socket]  # noqa: F811
) -> None:
    sender, target = sockets
    sender_port, target_port = sender.getsockname()[1], target.getsockname()[1]
    rig.profile("reg", f"next_hop=127.0.0.1:{target_port}\n")
    server = rig.start(["reg"], "reg")
    contact = f"<sip:alice@127.0.0.1:{sender_port}>;expires=600"
    sender.sendto(request("REGISTER", sender_port, "r1", f"Contact: {contact}\r\nExpires: 600\r\n"), ("127.0.0.1", server.port))
    relayed = receive(target)
    assert isinstance(relayed, Request) and relayed.method == "REGISTER"
    assert relayed.headers.get("Contact") == contact
    assert relayed.call_id != "r1" and relayed.headers.get("Expires") == "600"
    ok = answer(relayed).replace(b"Content-Length: 0", f"Contact: {contact}\r\nContent-Length: 0".encode())
    target.sendto(ok, ("127.0.0.1", server.port))
    response = receive_response(sender)
    assert response.status == 200 and response.call_id == "r1"
    assert response.headers.get("Contact") == contact


def test_options_are_relayed_unless_core_options_handling(
    rig: SbcRig, sockets: tuple[socket.socket, socket.socket]  # noqa: F811
) -> None:
    sender, target = sockets
    sender_port, target_port = sender.getsockname()[1], target.getsockname()[1]
    rig.profile("opt", f"next_hop=127.0.0.1:{target_port}\n")
    server = rig.start(["opt"], "opt")
    sbc = ("127.0.0.1", server.port)
    sender.sendto(request("OPTIONS", sender_port, "o1"), sbc)
    relayed = receive(target)
    assert isinstance(relayed, Request) and relayed.method == "OPTIONS"
    target.sendto(answer(relayed).replace(b"Content-Length: 0", b"X-Target: yes\r\nContent-Length: 0"), sbc)
    assert receive_response(sender).headers.get("X-Target") == "yes"

    server.on_loop(lambda: rig.relay.store.config.raw.__setitem__("core_options_handling", "yes"))
    sender.sendto(request("OPTIONS", sender_port, "o2"), sbc)
    own = receive_response(sender)
    assert own.status == 200 and own.headers.get("X-Target") is None and own.headers.get("Allow")
