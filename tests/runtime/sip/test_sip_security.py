"""Attacks on ``dsm serve --sip`` over loopback, one per hole of issue 13, with the server's defaults.

Each test starts the server on its own loop (``SipServer``), places a
legitimate call that stays up during the attack, attacks with plain sockets,
and then checks that the call in progress is still there (BYE answered 200),
that a fresh call works over UDP and over TCP, that the limit's counter in
``/metrics`` moved, and that nothing was logged with a traceback.  The
deadlines that would make a test slow (RFC 3261 T1, the TCP message
deadline) are shortened through the same settings an operator has
(``docs/security.md``).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from attack_rig import WAIT, Caller, count_datagrams, legit_call, metrics, request, sdp
from test_sip_serve import SipServer

from dsm.runtime.media.rfc4733 import telephone_event_packets
from dsm.runtime.sip.sipcall import SipCall
from dsm.runtime.sip.transaction import TimerSettings


# -- the server and the checks after every attack -------------------------------------------------------
@pytest.fixture
def server() -> Iterator[SipServer]:
    s = SipServer(
        sip_settings={"sip_tcp_message_timeout": "1"},
        sip_timers=TimerSettings(t1=0.05, t2=0.4, t4=0.5, timer_d=0.5),
    )
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def in_progress(server: SipServer) -> Iterator[Caller]:
    """A call answered, ACKed and hearing RTP before the attack starts."""
    caller = Caller(server.port)
    try:
        assert caller.invite().status == 200
        caller.ack()
        assert caller.first_rtp(WAIT)
        yield caller
    finally:
        caller.close()


def _call(server: SipServer, call_id: str) -> SipCall | None:
    calls = server.server.sip_calls
    assert calls is not None
    return server.on_loop(lambda: calls.calls.get(call_id))


def _wait(what: str, check: Any, limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _counter(server: SipServer, name: str) -> int:
    calls = server.server.sip_calls
    assert calls is not None
    return int(server.on_loop(lambda: getattr(calls.counters, name)))


def _survived(server: SipServer, in_progress: Caller) -> None:
    """The call in progress lives on, fresh calls work over UDP and TCP, no traceback, no loop error."""
    call = _call(server, in_progress.call_id)
    assert call is not None and call.dialog == "connected"
    assert call.session is not None and not server.on_loop(lambda: call.session.ended)  # type: ignore[union-attr]
    assert in_progress.bye().status == 200
    legit_call(server.port, "udp")
    legit_call(server.port, "tcp")
    log = server.log_text.getvalue()
    assert "Traceback" not in log
    assert server.loop_errors == []


# -- RTP: strict latching ---------------------------------------------------------------------------------
def test_spoofed_rfc4733_key_from_a_second_socket_does_not_reach_the_script(
    server: SipServer, in_progress: Caller
) -> None:
    """The stream latched to the caller's RTP; a key from another port is dropped and counted, the caller's own works."""
    caller = Caller(server.port)
    spoofer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spoofer.bind(("127.0.0.1", 0))
    try:
        assert caller.invite().status == 200
        caller.ack()
        caller.send_audio(3)  # the caller's own RTP latches the stream
        call = _call(server, caller.call_id)
        assert call is not None
        _wait("the latch", lambda: server.on_loop(lambda: call.rtp.latch.source is not None))
        before = _counter(server, "rtp_foreign_dropped")
        caller.send_key(1, spoofer)
        sent = len(telephone_event_packets(1, 100))
        _wait("the spoofed packets", lambda: _counter(server, "rtp_foreign_dropped") - before >= sent)
        assert "hours" not in server.transitions()
        assert metrics(server.server.address or ("", 0))["dsm_rtp_foreign_dropped_total"] >= sent
        caller.send_key(1)  # the real caller's key still works
        _wait("the caller's key", lambda: "hours" in server.transitions())
        assert caller.bye().status == 200
    finally:
        spoofer.close()
        caller.close()
    _survived(server, in_progress)


def test_rtp_ports_of_successive_calls_are_not_sequential(server: SipServer, in_progress: Caller) -> None:
    """Eight calls get eight random even ports: the next call's port cannot be guessed from the last."""
    ports = []
    for _ in range(8):
        caller = Caller(server.port)
        try:
            assert caller.invite().status == 200
            caller.ack()
            ports.append(caller.server_media[1])
            assert caller.bye().status == 200
        finally:
            caller.close()
    steps = {b - a for a, b in zip(ports, ports[1:])}
    assert all(p % 2 == 0 and 10000 <= p <= 19999 for p in ports)
    assert len(set(ports)) >= len(ports) - 1  # a drawn port may come again: 1 in 5,000 a pair
    assert len(steps) > 1 and steps != {2}, ports
    _survived(server, in_progress)


# -- no reflection -----------------------------------------------------------------------------------------
def test_never_acked_invite_streams_nothing_to_the_sdp_address(server: SipServer, in_progress: Caller) -> None:
    """An INVITE naming a victim's address is answered but never ACKed: 0 RTP packets reach the victim, the call ends (Timer H)."""
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.bind(("127.0.0.1", 0))
    attacker = Caller(server.port)
    try:
        assert attacker.invite(media=victim.getsockname()).status == 200
        call = _call(server, attacker.call_id)
        assert call is not None
        deadline = time.monotonic() + WAIT  # Timer H: 64 * T1 = 3.2 s here
        received = 0
        while time.monotonic() < deadline:
            received += count_datagrams(victim, 0.2)
            if call.session is not None and server.on_loop(lambda: call.session.ended):  # type: ignore[union-attr]
                break
        else:
            raise AssertionError("the unacknowledged call did not end")
        received += count_datagrams(victim, 0.3)
        held = _counter(server, "rtp_held_back")
        assert received == 0
        assert call.rtp.packets_sent == 0
        assert held > 0  # frames were due: they were held back, not merely absent
    finally:
        victim.close()
        attacker.close()
    _survived(server, in_progress)


def test_the_peers_own_rtp_opens_the_stream_before_the_ack(server: SipServer, in_progress: Caller) -> None:
    """A caller whose ACK is late but whose RTP arrives from its SDP's address gets the stream at once."""
    caller = Caller(server.port)
    try:
        assert caller.invite().status == 200
        assert caller.rtp_received(0.3) == 0  # answered, not ACKed: silent
        caller.send_audio(2)
        assert caller.first_rtp(WAIT)
        caller.ack()
        assert caller.bye().status == 200
    finally:
        caller.close()
    _survived(server, in_progress)


# -- TCP: per-source cap and message deadline ----------------------------------------------------------
def _slow_client(port: int) -> socket.socket | None:
    """A TCP connection from 127.0.0.2; ``None`` when 127.0.0.2 cannot be bound."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.2", 0))
    except OSError:
        sock.close()
        return None
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_tcp_clients_are_capped_per_source_and_cut_at_the_message_deadline(
    server: SipServer, in_progress: Caller
) -> None:
    """40 connections from one address: 32 held, 8 refused; each trickling a partial INVITE is cut by the deadline."""
    pool: list[socket.socket] = []
    try:
        for _ in range(40):
            sock = _slow_client(server.port)
            if sock is None:
                pytest.skip("127.0.0.2 cannot be bound here")
            pool.append(sock)
        _wait("the cap", lambda: _counter(server, "tcp_source_cap_refused") >= 8)
        transport = server.server._sip_transport
        assert transport is not None
        held = server.on_loop(lambda: sum(1 for p in transport.connections if p[0] == "127.0.0.2"))
        assert held == 32 and _counter(server, "tcp_source_cap_refused") == 8
        # While the pool holds its slots, another address is served over TCP.
        other = Caller(server.port, "tcp")
        try:
            other.send(request("OPTIONS", server.port, other.local, transport="TCP"))
            assert other.final("OPTIONS").status == 200
        finally:
            other.close()
        # Each held connection begins an INVITE and trickles one byte every 0.2 s: the 1 s
        # message deadline (counted from the first byte) cuts every one of them.
        _wait("the refused ones closed", lambda: sum(not _closed_by_peer(k) for k in pool) == 32)
        open_ = [sock for sock in pool if not _closed_by_peer(sock)]
        for sock in open_:
            sock.sendall(request("INVITE", server.port, sock.getsockname()[:2], transport="TCP")[:60])
        deadline = time.monotonic() + WAIT
        while open_ and time.monotonic() < deadline:
            for sock in list(open_):
                if _closed_by_peer(sock):
                    open_.remove(sock)
                    continue
                try:
                    sock.send(b"X")
                except OSError:
                    open_.remove(sock)
            time.sleep(0.2)
        assert open_ == []
        assert _counter(server, "tcp_message_timeouts") == 32
        values = metrics(server.server.address or ("", 0))
        assert values["dsm_sip_tcp_source_cap_refused_total"] == 8
        assert values["dsm_sip_tcp_message_timeouts_total"] == 32
        # The slots are free again: the same address is served.
        fresh = Caller(server.port, "tcp", bind="127.0.0.2")
        try:
            fresh.send(request("OPTIONS", server.port, fresh.local, transport="TCP"))
            assert fresh.final("OPTIONS").status == 200
        finally:
            fresh.close()
    finally:
        for sock in pool:
            sock.close()
    _survived(server, in_progress)


# -- sizes ---------------------------------------------------------------------------------------------------
def _options(caller: Caller, *, header_bytes: int = 0, headers: int = 0, body: int = 0) -> bytes:
    extra = ""
    if header_bytes:
        extra += f"X-Filler: {'a' * header_bytes}\r\n"
    extra += "".join(f"X-H{i}: {i}\r\n" for i in range(headers))
    data = request("OPTIONS", caller.server, caller.local, transport=caller.transport.upper(), extra=extra)
    if body:
        data = data.replace(b"Content-Length: 0\r\n\r\n", f"Content-Length: {body}\r\n\r\n".encode() + b"b" * body)
    return data


def test_oversized_messages_are_dropped_over_udp_and_refused_513_over_tcp(
    server: SipServer, in_progress: Caller
) -> None:
    """A 60 KB header, 300 headers, a 40 KB body: UDP silence (counted), TCP ``513`` each (counted)."""
    udp = Caller(server.port)
    try:
        for attack in (dict(header_bytes=60000), dict(headers=300), dict(body=40000)):
            udp.send(_options(udp, **attack))  # type: ignore[arg-type]
        assert udp.receive(1.0) is None
        _wait("the drops", lambda: _counter(server, "sip_too_large_dropped") == 3)
        udp.send(_options(udp))  # an ordinary request from the same socket is answered
        assert udp.final("OPTIONS").status == 200
    finally:
        udp.close()
    tcp = Caller(server.port, "tcp")
    try:
        # The body is skipped and the connection goes on; so it does after too many headers.
        for attack in (dict(body=40000), dict(headers=300)):
            tcp.send(_options(tcp, **attack))  # type: ignore[arg-type]
            response = tcp.final("OPTIONS")
            assert (response.status, response.reason) == (513, "Message Too Large")
        tcp.send(_options(tcp))
        assert tcp.final("OPTIONS").status == 200
        # A head larger than the limit loses the framing: 513, then the connection is closed.
        tcp.send(_options(tcp, header_bytes=60000))
        response = tcp.final("OPTIONS")
        assert response.status == 513
        assert tcp.receive(WAIT) is None  # closed by the server
    finally:
        tcp.close()
    assert _counter(server, "sip_too_large_rejected") == 3
    values = metrics(server.server.address or ("", 0))
    assert values["dsm_sip_too_large_dropped_total"] == 3
    assert values["dsm_sip_too_large_rejected_total"] == 3
    _survived(server, in_progress)


def test_the_limits_come_from_dsm_conf_and_the_command_line_wins(tmp_path: Any) -> None:
    """``dsm.conf`` keys set the limits; ``sip_settings`` (the command line) overrides them."""
    from dsm.runtime.server import Server

    conf = tmp_path / "dsm.conf"
    conf.write_text(
        "diag_path=" + str(tmp_path) + "/\nload_diags=\nsip_max_headers=50\nrtp_symmetric=yes\n"
        "sip_tcp_message_timeout=4\n"
    )
    async def limits() -> Any:
        srv = Server(config=str(conf), control="127.0.0.1:0", sip="127.0.0.1:0", sip_settings={"sip_max_headers": "70"})
        await srv.start()
        try:
            return srv.sip_limits
        finally:
            await srv.shutdown()

    got = asyncio.run(limits())
    assert (got.max_headers, got.rtp_symmetric, got.tcp_message_timeout, got.rtp_strict) == (70, True, 4.0, True)


def test_bad_limit_values_are_refused_with_a_clear_message() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dsm.cli", "serve", "--sip", "127.0.0.1:0", "--tcp-max-per-source", "lots"],
        capture_output=True, text=True, errors="replace", timeout=WAIT,
    )
    assert out.returncode == 2
    assert "--tcp-max-per-source" in out.stderr and "positive whole number" in out.stderr
    assert "Traceback" not in out.stderr



# -- early media: as the script asks, until the INVITE transaction ends -----------------------------------
EARLY = """\
import(mod_dlg);
initial state START;
state RINGING enter {{ playSilence(30000); setTimer(1, {answer_after}) }};
state TALK;
state END;
transition "invite" START - invite / dlg.acceptInvite(183, Session Progress) -> RINGING;
transition "answer" RINGING - timer(#id == 1) / dlg.acceptInvite(200, OK) -> TALK;
transition "hangup" (START, RINGING, TALK, END) - hangup / stop(false) -> END;
"""


def _provisional(caller: Caller, status: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        msg = caller.receive(deadline - time.monotonic())
        if msg is None:
            break
        if getattr(msg, "status", 0) == status:
            return
    raise AssertionError(f"no {status}")


def _quiet_after(caller: Caller) -> int:
    """RTP arriving in 0.5 s, after 0.2 s for packets already on their way."""
    count_datagrams(caller.rtp, 0.2)
    return caller.rtp_received(0.5)


def test_early_media_flows_while_the_invite_is_pending_and_stops_when_it_ends(tmp_path: Any) -> None:
    """183 with SDP: RTP flows; the 200 ends the INVITE transaction: silence until the ACK; CANCEL: silence."""
    (tmp_path / "early.dsm").write_text(EARLY.format(answer_after=1))
    (tmp_path / "ring.dsm").write_text(EARLY.format(answer_after=60))
    s = SipServer(tmp_path, sip_timers=TimerSettings(t1=0.05, t2=0.4, t4=0.5, timer_d=0.5))
    try:
        caller = Caller(s.port)
        try:
            caller.call_id = "early-1"
            caller.send(request("INVITE", s.port, caller.local, call_id=caller.call_id,
                                body=sdp(caller.rtp_address), user="early"))
            _provisional(caller, 183)
            assert caller.first_rtp(WAIT)  # early media
            ok = caller.final()
            assert ok.status == 200
            caller.ok = ok
            assert _quiet_after(caller) == 0  # answered, not ACKed
            caller.ack()
            assert caller.first_rtp(WAIT)
            assert caller.bye().status == 200
        finally:
            caller.close()
        ringing = Caller(s.port)
        try:
            ringing.call_id = "early-2"
            invite = request("INVITE", s.port, ringing.local, call_id=ringing.call_id,
                             body=sdp(ringing.rtp_address), user="ring")
            ringing.send(invite)
            _provisional(ringing, 183)
            assert ringing.first_rtp(WAIT)
            branch = invite.split(b"branch=", 1)[1].split(b"\r\n", 1)[0].decode()
            cancel = request("CANCEL", s.port, ringing.local, call_id=ringing.call_id, user="ring")
            cancel = cancel.replace(cancel.split(b"branch=", 1)[1].split(b"\r\n", 1)[0], branch.encode())
            ringing.send(cancel)
            assert ringing.final("INVITE").status == 487
            assert _quiet_after(ringing) == 0
        finally:
            ringing.close()
        assert "Traceback" not in s.log_text.getvalue() and s.loop_errors == []
    finally:
        s.stop()


def test_symmetric_rtp_goes_where_the_callers_rtp_comes_from() -> None:
    """``rtp_symmetric=yes``: the SDP names one port, the caller sends from another (NAT): the stream follows."""
    s = SipServer(sip_settings={"rtp_symmetric": "yes"})
    caller = Caller(s.port)
    nat = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nat.bind(("127.0.0.1", 0))
    try:
        assert caller.invite().status == 200
        caller.ack()
        deadline = time.monotonic() + WAIT
        got = 0
        while not got and time.monotonic() < deadline:
            caller.send_audio(1, nat)
            got = count_datagrams(nat, 0.2)
        assert got > 0
        count_datagrams(caller.rtp, 0.2)  # sent before the latch moved the stream
        assert caller.rtp_received(0.5) == 0
        assert caller.bye().status == 200
    finally:
        nat.close()
        caller.close()
        s.stop()


def test_cli_flags_reach_the_served_limits() -> None:
    """``dsm serve --sip … --sip-max-headers 12``: an OPTIONS with 20 headers is dropped, an ordinary one answered."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsm.cli", "serve", "--sip", "127.0.0.1:0", "--control", "127.0.0.1:0",
         "--application", "menu", "--sip-max-headers", "12"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + WAIT
        line = ""
        while "event=listening" not in line:
            line = proc.stderr.readline()
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise AssertionError(f"no listening line (exit {proc.poll()})")
        port = int(next(p for p in line.split() if p.startswith("sip=")).rpartition(":")[2])
        caller = Caller(port)
        try:
            extra = "".join(f"X-H{i}: {i}\r\n" for i in range(20))
            caller.send(request("OPTIONS", port, caller.local, extra=extra))
            assert caller.receive(1.0) is None
            caller.send(request("OPTIONS", port, caller.local))
            assert caller.final("OPTIONS").status == 200
        finally:
            caller.close()
    finally:
        proc.terminate()
        proc.wait(WAIT)
