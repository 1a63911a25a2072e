"""SIP over TCP (RFC 3261 section 18) for the calls we answer, next to UDP on the same address.

Three layers, as in the code:

* the sans-I/O core on injected time: a request that came over TCP gets
  reliable transactions, its responses go back to the connection's peer,
  and the dialog it creates is a TCP dialog (our BYE says
  ``Via: SIP/2.0/TCP`` and its :class:`Datagram` says ``tcp``);
* the asyncio shell against plain sockets: framing of a byte stream,
  connections opened on demand and kept, a framing error closing one
  connection only, idle connections closed;
* ``dsm serve --sip`` end to end: sipp calls the menu over TCP (``-t t1``)
  with the answer-play-hangup scenario of the UDP test (E-152), and a
  script that hangs up itself sends its BYE over the caller's connection.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from sip_rig import LIMIT
from test_sip_serve import (
    ACK_2XX,
    ANSWERED,
    INVITE,
    SipServer,
    answer_request,
    in_dialog,
    pause,
    recv,
    run_sipp,
    scenario,
)

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request, Response, StreamFramer, parse_message
from dsm.runtime.sip.transport import SipTransport, open_sip_transport
from dsm.runtime.sip.useragent import (
    AckReceived,
    Datagram,
    Event,
    InDialogRequest,
    NewCall,
    Outputs,
    UserAgentServer,
)

UA = ("127.0.0.1", 5060)
CONNECTION = ("127.0.0.1", 40123)
"""The caller's end of its TCP connection (an ephemeral port, not the one in its Via)."""


# -- the core on injected time ------------------------------------------------------------------------
def _request(
    method: str,
    *,
    transport: str = "TCP",
    call_id: str = "tcp-call",
    cseq: int = 1,
    to_tag: str = "",
    branch: str = "z9hG4bKtcp1",
    contact: str = "<sip:alice@127.0.0.1:5070;transport=tcp>",
    content_length: bool = True,
) -> bytes:
    to = "<sip:menu@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    length = "Content-Length: 0\r\n" if content_length else ""
    return (
        f"{method} sip:menu@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5070;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1>;tag=alice1\r\n"
        f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: {contact}\r\n{length}\r\n"
    ).encode()


def _datagrams(outputs: Outputs) -> list[Datagram]:
    return outputs.datagrams


def _parsed(datagram: Datagram) -> Request | Response:
    return parse_message(datagram.data)


def _status(datagram: Datagram) -> int:
    response = _parsed(datagram)
    assert isinstance(response, Response)
    return response.status


def _answered_tcp_call(core: UserAgentServer, now: float = 0.0, **kw: Any) -> tuple[str, Response]:
    """An INVITE over TCP answered 200; returns the Call-ID and the 200."""
    out = core.receive(_request("INVITE", **kw), CONNECTION, now, transport="tcp")
    (new_call,) = [o for o in out.events if isinstance(o, NewCall)]
    (ok,) = _datagrams(core.reply(new_call.call_id, 200, now=now))
    response = _parsed(ok)
    assert isinstance(response, Response)
    return new_call.call_id, response


def test_RFC3261_18_2_2_tcp_invite_is_answered_over_its_connection() -> None:
    """100 and 200 go back over TCP to the connection's peer, not to the Via's port (E-152 Invite)."""
    core = UserAgentServer(*UA)
    out = core.receive(_request("INVITE"), CONNECTION, 0.0, transport="tcp")
    (trying,) = _datagrams(core.handle_timeout(0.1))  # our 100: the TU did not answer in time
    assert (trying.transport, trying.destination) == ("tcp", CONNECTION)
    assert _status(trying) == 100
    (new_call,) = [o for o in out.events if isinstance(o, NewCall)]
    (ok,) = _datagrams(core.reply(new_call.call_id, 200, now=0.0))
    assert (ok.transport, ok.destination) == ("tcp", CONNECTION)
    response = _parsed(ok)
    assert isinstance(response, Response) and response.status == 200
    assert response.headers.get("Contact") == "<sip:127.0.0.1:5060;transport=tcp>"


def test_RFC3261_17_2_1_no_timer_G_over_tcp_and_the_ack_ends_the_transaction() -> None:
    """A 486 over TCP is not retransmitted (no Timer G); the ACK terminates the transaction at once (Timer I = 0)."""
    core = UserAgentServer(*UA)
    out = core.receive(_request("INVITE"), CONNECTION, 0.0, transport="tcp")
    (new_call,) = [o for o in out.events if isinstance(o, NewCall)]
    (busy,) = _datagrams(core.reply(new_call.call_id, 486, now=0.0))
    assert busy.transport == "tcp"
    for t in (0.5, 1.0, 2.0, 4.0, 8.0):
        assert _datagrams(core.handle_timeout(t)) == []
    to_tag = parse_message(busy.data).to.tag or ""
    core.receive(_request("ACK", to_tag=to_tag), CONNECTION, 8.5, transport="tcp")
    assert core._server == {}
    assert core.next_timeout() is None


def test_RFC3261_17_2_2_non_invite_over_tcp_has_no_timer_J() -> None:
    """OPTIONS over TCP: 200 over the connection and the transaction is gone at once (Timer J = 0)."""
    core = UserAgentServer(*UA)
    out = core.receive(_request("OPTIONS", branch="z9hG4bKopt"), CONNECTION, 0.0, transport="tcp")
    (ok,) = _datagrams(out)
    assert (ok.transport, ok.destination) == ("tcp", CONNECTION)
    assert _status(ok) == 200
    assert core._server == {} and core.next_timeout() is None


def test_RFC3261_13_3_1_4_our_2xx_is_retransmitted_until_the_ack_even_over_tcp() -> None:
    """RFC 3261 13.3.1.4: the 2xx is resent "even if the transport at the UAS is reliable".

    A later hop may be UDP, so the UAS core retransmits it (T1, 2*T1 …)
    until the ACK -- over the caller's connection -- and not afterwards.
    """
    core = UserAgentServer(*UA)
    _, response = _answered_tcp_call(core)
    (again,) = _datagrams(core.handle_timeout(0.5))
    assert (again.transport, again.destination) == ("tcp", CONNECTION)
    assert _status(again) == 200
    ack = _request("ACK", to_tag=response.to.tag or "")
    assert any(isinstance(o, AckReceived) for o in core.receive(ack, CONNECTION, 0.7, transport="tcp").events)
    assert _datagrams(core.handle_timeout(100.0)) == []


def test_E151_bye_we_send_in_a_tcp_dialog_says_via_tcp() -> None:
    """``stop(true)`` in a call answered over TCP: the BYE goes over TCP with ``Via: SIP/2.0/TCP``.

    Its client transaction is reliable: no Timer E retransmission; the 200
    ends it at once (Timer K = 0).
    """
    core = UserAgentServer(*UA)
    call_id, response = _answered_tcp_call(core)
    core.receive(_request("ACK", to_tag=response.to.tag or ""), CONNECTION, 0.1, transport="tcp")
    (bye,) = _datagrams(core.bye(call_id, now=1.0))
    assert bye.transport == "tcp"
    assert bye.destination == ("127.0.0.1", 5070)  # the remote target (Contact), RFC 3261 12.2.1.1
    request = _parsed(bye)
    assert isinstance(request, Request) and request.method == "BYE"
    assert request.top_via.transport.upper() == "TCP"
    assert _datagrams(core.handle_timeout(1.5)) == []  # no Timer E over TCP
    assert _datagrams(core.handle_timeout(3.0)) == []
    ok = (
        "SIP/2.0 200 OK\r\n"
        f"Via: {request.headers.get('Via')}\r\n"
        f"From: {request.headers.get('From')}\r\nTo: {request.headers.get('To')}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {request.headers.get('CSeq')}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    core.receive(ok, CONNECTION, 3.1, transport="tcp")
    assert core._client == {}


def test_requests_in_a_tcp_dialog_carry_our_tcp_contact() -> None:
    """A re-INVITE (session refresh) in a TCP dialog: Via TCP and ``Contact: …;transport=tcp``."""
    core = UserAgentServer(*UA)
    call_id, response = _answered_tcp_call(core)
    core.receive(_request("ACK", to_tag=response.to.tag or ""), CONNECTION, 0.1, transport="tcp")
    (reinvite,) = _datagrams(core.send_request(call_id, "INVITE", now=1.0))
    request = _parsed(reinvite)
    assert reinvite.transport == "tcp" and request.top_via.transport.upper() == "TCP"
    assert request.headers.get("Contact") == "<sip:127.0.0.1:5060;transport=tcp>"
    assert _datagrams(core.handle_timeout(1.5)) == []  # no Timer A over TCP


def test_transport_parameter_of_the_remote_target_decides() -> None:
    """A UDP INVITE whose Contact says ``;transport=tcp``: requests in its dialog go over TCP (RFC 3261 12.2.1.1)."""
    core = UserAgentServer(*UA)
    out = core.receive(_request("INVITE", transport="UDP"), ("127.0.0.1", 5070), 0.0)
    assert all(d.transport == "udp" for d in _datagrams(out))
    (new_call,) = [o for o in out.events if isinstance(o, NewCall)]
    (ok,) = _datagrams(core.reply(new_call.call_id, 200, now=0.0))
    assert ok.transport == "udp"
    assert parse_message(ok.data).headers.get("Contact") == "<sip:127.0.0.1:5060>"
    to_tag = parse_message(ok.data).to.tag or ""
    core.receive(_request("ACK", transport="UDP", to_tag=to_tag), ("127.0.0.1", 5070), 0.1)
    (bye,) = _datagrams(core.bye(new_call.call_id, now=1.0))
    assert bye.transport == "tcp" and _parsed(bye).top_via.transport.upper() == "TCP"


def test_udp_calls_are_unchanged() -> None:
    """Without a transport the core is the UDP core it was: datagrams say ``udp``, the BYE says ``Via: SIP/2.0/UDP``."""
    core = UserAgentServer(*UA)
    contact = "<sip:alice@127.0.0.1:5070>"
    out = core.receive(_request("INVITE", transport="UDP", contact=contact), ("127.0.0.1", 5070), 0.0)
    (new_call,) = [o for o in out.events if isinstance(o, NewCall)]
    (ok,) = _datagrams(core.reply(new_call.call_id, 200, now=0.0))
    to_tag = parse_message(ok.data).to.tag or ""
    core.receive(_request("ACK", transport="UDP", to_tag=to_tag, contact=contact), ("127.0.0.1", 5070), 0.1)
    (bye,) = _datagrams(core.bye(new_call.call_id, now=1.0))
    assert bye.transport == "udp" and _parsed(bye).top_via.transport.upper() == "UDP"
    assert len(_datagrams(core.handle_timeout(1.5))) == 1  # Timer E retransmits over UDP


def test_RFC3261_18_3_stream_message_without_content_length_gets_400() -> None:
    """Over a stream Content-Length is required: the request is answered ``400 Missing Content-Length``."""
    core = UserAgentServer(*UA)
    out = core.receive(_request("OPTIONS", content_length=False), CONNECTION, 0.0, transport="tcp")
    (bad,) = _datagrams(out)
    response = _parsed(bad)
    assert (bad.transport, bad.destination) == ("tcp", CONNECTION)
    assert isinstance(response, Response) and response.status == 400
    assert "Content-Length" in response.reason


def test_stream_framer_gives_raw_messages() -> None:
    """``StreamFramer.frames``: two messages in one piece, one message in many pieces, keep-alive CRLFs skipped."""
    one, two = _request("OPTIONS", branch="z9hG4bKa"), _request("OPTIONS", branch="z9hG4bKb")
    framer = StreamFramer()
    assert framer.frames(b"\r\n\r\n" + one + two) == [one, two]
    pieces = [two[i : i + 7] for i in range(0, len(two), 7)]
    got = [frame for piece in pieces for frame in framer.frames(piece)]
    assert got == [two]


def test_RFC5626_3_5_1_stream_framer_counts_double_crlf_pings() -> None:
    """CRLF CRLF between messages is a ping, also split over reads; a lone CRLF before a message is not."""
    one = _request("OPTIONS", branch="z9hG4bKp")
    framer = StreamFramer()
    assert framer.frames(b"\r\n\r\n") == [] and framer.pings == 1
    assert framer.frames(b"\r\n") == [] and framer.pings == 1
    assert framer.frames(b"\r\n" + one) == [one] and framer.pings == 2
    assert framer.frames(b"\r\n" + one + b"\r\n\r\n\r\n\r\n") == [one] and framer.pings == 4


def test_RFC5626_udp_keepalive_crlfs_are_dropped_without_a_reply() -> None:
    """Phones send CRLF CRLF datagrams to keep NAT bindings: no 400, nothing sent."""
    core = UserAgentServer(*UA)
    outputs = core.receive(b"\r\n\r\n", ("127.0.0.1", 5062), now=0.0)
    assert _datagrams(outputs) == [] and core.errors == 0


def test_stream_framer_serves_the_messages_before_a_framing_error() -> None:
    """A good message and garbage in one piece: the message first, the error on the next call."""
    good = _request("OPTIONS", branch="z9hG4bKc")
    framer = StreamFramer()
    assert framer.frames(good + b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n") == [good]
    assert framer.broken is not None and framer.broken.reason == "Bad Content-Length"
    with pytest.raises(ParseError):
        framer.frames(good)


# -- the asyncio shell against plain sockets ---------------------------------------------------------------
def _no_events(_event: Event) -> None:
    pass


async def _read_messages(reader: asyncio.StreamReader, count: int) -> list[Response | Request]:
    framer = StreamFramer()
    out: list[Response | Request] = []
    async with asyncio.timeout(LIMIT):
        while len(out) < count:
            data = await reader.read(65536)
            if not data:
                break
            out += framer.feed(data)
    return out


def test_shell_opens_a_connection_for_tcp_and_keeps_it() -> None:
    """A ``tcp`` Datagram with no connection to its peer opens one; the next message reuses it."""

    async def run() -> tuple[int, list[bytes], int, list[str]]:
        accepted: list[asyncio.StreamReader] = []
        got = asyncio.Event()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(reader)
            got.set()

        peer = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = peer.sockets[0].getsockname()[1]
        errors: list[str] = []
        transport = await open_sip_transport("127.0.0.1", 0, _no_events, on_error=errors.append, tcp=True)
        one, two = _request("OPTIONS", branch="z9hG4bK1"), _request("OPTIONS", branch="z9hG4bK2")
        transport.dispatch(Outputs([Datagram(one, ("127.0.0.1", port), "tcp")]))
        transport.dispatch(Outputs([Datagram(two, ("127.0.0.1", port), "tcp")]))  # waits for the same connect
        async with asyncio.timeout(LIMIT):
            await got.wait()
        messages = await _read_messages(accepted[0], 2)
        transport.dispatch(Outputs([Datagram(one, ("127.0.0.1", port), "tcp")]))  # over the kept connection
        messages += await _read_messages(accepted[0], 1)
        count = len(accepted)
        sent = transport.sent
        transport.close()
        peer.close()
        return count, [bytes(m) for m in messages], sent, errors

    count, messages, sent, errors = asyncio.run(run())
    assert count == 1
    assert len(messages) == 3 and sent == 3
    assert errors == []


def test_shell_connect_failure_is_a_log_line() -> None:
    """Nobody listens: the message is dropped with a log line; nothing reaches the loop."""

    async def run() -> tuple[list[str], list[dict[str, Any]], int]:
        loop_errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: loop_errors.append(ctx))
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        errors: list[str] = []
        transport = await open_sip_transport("127.0.0.1", 0, _no_events, on_error=errors.append, tcp=True)
        transport.dispatch(Outputs([Datagram(b"x", ("127.0.0.1", port), "tcp")]))
        async with asyncio.timeout(LIMIT):
            while not errors:
                await asyncio.sleep(0.01)
        transport.close()
        return errors, loop_errors, len(transport.connections)

    errors, loop_errors, connections = asyncio.run(run())
    assert len(errors) == 1 and "cannot connect" in errors[0]
    assert loop_errors == [] and connections == 0


def test_shell_closes_idle_connections() -> None:
    """A connection without traffic for ``tcp_idle_timeout`` is closed and forgotten."""

    async def run() -> tuple[int, bytes, int]:
        transport = await open_sip_transport("127.0.0.1", 0, _no_events, tcp=True)
        transport.tcp_idle_timeout = 0.2
        reader, writer = await asyncio.open_connection("127.0.0.1", transport.core.port)
        async with asyncio.timeout(LIMIT):
            while not transport.connections:
                await asyncio.sleep(0.01)
        up = len(transport.connections)
        async with asyncio.timeout(LIMIT):
            rest = await reader.read()  # EOF when the server closes
        writer.close()
        async with asyncio.timeout(LIMIT):
            while transport.connections:
                await asyncio.sleep(0.01)
        left = len(transport.connections)
        transport.close()
        return up, rest, left

    up, rest, left = asyncio.run(run())
    assert (up, rest, left) == (1, b"", 0)


def test_shell_keeps_an_idle_connection_that_carries_a_call() -> None:
    """A caller that does not listen gets our BYE only over its connection: kept while its call lives."""

    async def run() -> tuple[bool, int, bytes, int]:
        transport = await open_sip_transport("127.0.0.1", 0, _no_events, tcp=True)
        transport.tcp_idle_timeout = 0.1
        reader, writer = await asyncio.open_connection("127.0.0.1", transport.core.port)
        writer.write(_request("INVITE", call_id="kept"))
        await _read_messages(reader, 1)  # our 100 Trying (nobody answers): the call exists
        await asyncio.sleep(0.5)  # five idle periods
        kept = bool(transport.connections)
        transport.run(lambda now: transport.core.reply("kept", 486, now=now))
        await _read_messages(reader, 1)
        async with asyncio.timeout(LIMIT):  # the call is gone (486): idle closes the connection
            while transport.connections:
                await asyncio.sleep(0.01)
            rest = await reader.read()
        writer.close()
        calls = len(transport.core.calls)
        transport.close()
        return kept, len(transport.connections), rest, calls

    kept, left, rest, calls = asyncio.run(run())
    assert kept and calls == 0
    assert (left, rest) == (0, b"")


# -- dsm serve --sip over TCP ------------------------------------------------------------------------------
def _tcp_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _options(port: int, local: int, transport: str = "TCP") -> bytes:
    return (
        f"OPTIONS sip:menu@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local};branch=z9hG4bKo{time.monotonic_ns()}\r\n"
        "From: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:menu@127.0.0.1>\r\n"
        f"Call-ID: opt-{time.monotonic_ns()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _responses(sock: socket.socket, count: int) -> list[Response]:
    framer = StreamFramer()
    out: list[Response] = []
    deadline = time.monotonic() + LIMIT
    while len(out) < count and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.1))
        data = sock.recv(65536)
        if not data:
            break
        out += [m for m in framer.feed(data) if isinstance(m, Response)]
    return out


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(LIMIT)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_tcp_framing_two_messages_in_one_write_and_one_in_many(served: SipServer) -> None:
    """RFC 3261 18.3: messages are cut by Content-Length, however the bytes arrive."""
    with _tcp_connect(served.port) as sock:
        local = sock.getsockname()[1]
        sock.sendall(_options(served.port, local) + _options(served.port, local))
        assert [r.status for r in _responses(sock, 2)] == [200, 200]
        message = _options(served.port, local)
        for i in range(0, len(message), 40):
            sock.sendall(message[i : i + 40])
            time.sleep(0.005)
        (ok,) = _responses(sock, 1)
        assert ok.status == 200 and "INVITE" in (ok.headers.get("Allow") or "")
    assert served.loop_errors == []


def test_RFC5626_3_5_1_tcp_keepalive_ping_gets_a_crlf_pong(served: SipServer) -> None:
    """A CRLF CRLF ping is answered with one CRLF; the connection goes on carrying SIP."""
    with _tcp_connect(served.port) as sock:
        sock.settimeout(LIMIT)
        sock.sendall(b"\r\n\r\n")
        assert sock.recv(16) == b"\r\n"
        sock.sendall(_options(served.port, sock.getsockname()[1]))
        assert [r.status for r in _responses(sock, 1)] == [200]
    assert served.loop_errors == []


def test_tcp_garbage_closes_only_its_connection(served: SipServer) -> None:
    """A bad Content-Length on one connection closes it; another connection and UDP still get 200."""
    with _tcp_connect(served.port) as good, _tcp_connect(served.port) as bad:
        bad.sendall(b"INVITE sip:menu@127.0.0.1 SIP/2.0\r\nContent-Length: banana\r\n\r\n")
        assert _closed_by_server(bad)
        good.sendall(_options(served.port, good.getsockname()[1]))
        assert [r.status for r in _responses(good, 1)] == [200]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(LIMIT)
        udp.sendto(_options(served.port, udp.getsockname()[1], "UDP"), ("127.0.0.1", served.port))
        data, _ = udp.recvfrom(65535)
        response = parse_message(data)
        assert isinstance(response, Response) and response.status == 200
    assert served.loop_errors == []
    assert "closing tcp connection" in served.log_text.getvalue()


def test_tcp_message_then_garbage_in_one_write_is_answered_then_closed(served: SipServer) -> None:
    """The OPTIONS before the bad bytes is answered 200; then the connection is closed."""
    with _tcp_connect(served.port) as sock:
        sock.sendall(_options(served.port, sock.getsockname()[1]) + b"\x00\x01 garbage\r\nl: ?\r\n\r\n")
        assert [r.status for r in _responses(sock, 1)] == [200]
        assert _closed_by_server(sock)
    assert served.loop_errors == []


def _mutations(rng: random.Random) -> bytes:
    """One seeded piece of hostile stream: a mutated non-INVITE request, or random bytes.

    No INVITE among them, so no call starts and nothing leaves for an
    address a mutated Contact might name: every answer goes back over the
    connection it came from (loopback).
    """
    if rng.random() < 0.15:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    method = rng.choice(["OPTIONS", "INFO", "BYE", "CANCEL", "ACK", "REGISTER", "FOO"])
    data = bytearray(_request(method, branch=f"z9hG4bK{rng.getrandbits(32):x}", call_id=f"fz{rng.getrandbits(32)}"))
    for _ in range(rng.randint(0, 3)):
        kind = rng.random()
        at = rng.randrange(len(data))
        if kind < 0.4:
            data[at] = rng.getrandbits(8)
        elif kind < 0.7:
            del data[at : at + rng.randint(1, 20)]
        else:
            data[at:at] = rng.choice([b"\r\n", b":", b"Content-Length: 7\r\n", b"\x00", b" "])
    return bytes(data)


def test_tcp_hostile_streams_leave_the_server_serving(served: SipServer) -> None:
    """600 seeded mutated messages and random bytes over TCP, in random pieces, on several connections.

    Connections the server closes are reopened.  Afterwards OPTIONS is
    answered over TCP and UDP, no exception reached the loop and the core
    counted no internal error.
    """
    rng = random.Random(3261)
    socks: list[socket.socket] = []
    try:
        for _ in range(600):
            if len(socks) < 4:
                socks.append(_tcp_connect(served.port))
            sock = rng.choice(socks)
            data = _mutations(rng)
            cut = rng.randint(0, len(data))
            try:
                sock.sendall(data[:cut])
                sock.sendall(data[cut:])
                _drain(sock)
            except OSError:
                socks.remove(sock)  # closed by the server: the next round opens another
                sock.close()
    finally:
        for sock in socks:
            sock.close()
    with _tcp_connect(served.port) as sock:
        sock.sendall(_options(served.port, sock.getsockname()[1]))
        assert [r.status for r in _responses(sock, 1)] == [200]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(LIMIT)
        udp.sendto(_options(served.port, udp.getsockname()[1], "UDP"), ("127.0.0.1", served.port))
        response = parse_message(udp.recvfrom(65535)[0])
        assert isinstance(response, Response) and response.status == 200
    assert served.loop_errors == []
    transport = served.server._sip_transport
    assert isinstance(transport, SipTransport)
    assert served.on_loop(lambda: transport.received) > 100  # most pieces framed into messages
    core = transport.core
    assert served.on_loop(lambda: core.errors) == 0
    assert served.on_loop(lambda: len(core.calls)) == 0


def _drain(sock: socket.socket) -> None:
    """Read what the server sent so far without waiting; ``OSError`` once it closed the connection."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed by the server")
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)




def test_E152_answer_play_hangup_menu_over_tcp(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """E-152 over TCP: Start, Invite, 200 OK with SDP, SessionStart; the caller's BYE -> Hangup -> END.

    The same scenario as the UDP test; sipp sends everything over one
    connection and gets 100/200 and the 200 to its BYE back on it.
    """
    xml = scenario(
        "answer-play-hangup-tcp",
        INVITE,
        ANSWERED,
        ACK_2XX,
        pause(1500),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "menu", transport="t1")
    (call,) = served.wait_ended(1)
    assert call["state"] == "END"
    assert call["vars"]["rounds"] == "1"
    assert call["codec"] == "PCMU"
    assert call["dialog"] == "disconnected"
    assert call["sent"] > 20
    assert served.loop_errors == []


def test_E151_script_hangs_up_a_tcp_call_with_bye_over_the_connection(sipp: str, tmp_path: Path) -> None:
    """``stop(true)`` on SessionStart: the BYE reaches sipp over its TCP connection and sipp answers 200."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "quick.dsm").write_text(
        "initial state WAIT;\n"
        'transition "up" WAIT - sessionStart / set($up=1); stop(true) -> END;\n'
        "state END;\n"
    )
    xml = scenario("script-bye-tcp", INVITE, ANSWERED, ACK_2XX, answer_request("BYE"))
    server = SipServer(scripts=scripts)
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "quick", transport="t1")
        (call,) = server.wait_ended(1)
        connections = server.on_loop(lambda: _connections(server))
    finally:
        server.stop()
    assert call["vars"]["up"] == "1"
    assert call["state"] == "END"
    assert server.loop_errors == []
    assert connections <= 1


def _connections(server: SipServer) -> int:
    transport = server.server._sip_transport
    assert isinstance(transport, SipTransport)
    return len(transport.connections)


def test_serve_listens_on_udp_and_tcp_on_the_same_port(served: SipServer) -> None:
    """``dsm serve --sip HOST:PORT`` binds both transports on one port (port 0: one free for both)."""
    transport = served.server._sip_transport
    assert isinstance(transport, SipTransport)
    assert served.on_loop(lambda: transport.tcp_port) == served.port


def test_RFC3261_17_2_2_answered_request_in_a_tcp_dialog_leaves_no_transaction() -> None:
    """INFO over TCP answered by the TU: its reliable transaction ends with the answer (no Timer J to wait for)."""
    core = UserAgentServer(*UA)
    call_id, response = _answered_tcp_call(core)
    tag = response.to.tag or ""
    core.receive(_request("ACK", to_tag=tag), CONNECTION, 0.1, transport="tcp")
    out = core.receive(_request("INFO", to_tag=tag, cseq=2, branch="z9hG4bKinfo"), CONNECTION, 0.2, transport="tcp")
    (info,) = [o for o in out.events if isinstance(o, InDialogRequest)]
    (ok,) = _datagrams(core.reply_request(call_id, info.transaction, 200, now=0.3))
    assert (ok.transport, ok.destination) == ("tcp", CONNECTION)
    assert info.transaction not in core._server
    assert [entry.transaction.state for entry in core._server.values()] == ["accepted"]  # the INVITE's, Timer L
