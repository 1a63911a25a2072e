"""The asyncio shell's sending: host names are resolved off the loop, never by a blocking call.

Only names the machine resolves locally (``localhost``) are looked up for
real; failures are simulated by replacing the loop's ``getaddrinfo``, so no
query ever leaves the machine.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from dsm.runtime.sip.transport import SipTransport, _is_address, open_sip_transport
from dsm.runtime.sip.useragent import Datagram, Event, Outputs


def test_ip_literals_are_sent_as_they_are_and_names_are_resolved() -> None:
    assert _is_address("127.0.0.1") and _is_address("::1") and _is_address("[::1]")
    assert not _is_address("localhost") and not _is_address("sip.example.org")


async def _transport(errors: list[str]) -> SipTransport:
    def on_event(_event: Event) -> None:
        pass

    return await open_sip_transport("127.0.0.1", 0, on_event, on_error=errors.append)


def test_datagram_to_a_host_name_is_sent_once_resolved_and_the_answer_is_kept() -> None:
    async def run() -> tuple[list[bytes], int, list[str]]:
        errors: list[str] = []
        transport = await _transport(errors)
        lookups = 0
        real = transport.loop.getaddrinfo

        async def counting(*args: Any, **kw: Any) -> Any:
            nonlocal lookups
            lookups += 1
            return await real(*args, **kw)

        transport.loop.getaddrinfo = counting  # type: ignore[method-assign]
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        port = peer.getsockname()[1]
        transport.dispatch(Outputs([Datagram(b"one", ("localhost", port)), Datagram(b"two", ("localhost", port))]))
        got: list[bytes] = []
        deadline = transport.loop.time() + 10
        while len(got) < 2 and transport.loop.time() < deadline:
            try:
                got.append(peer.recv(100))
            except BlockingIOError:
                await asyncio.sleep(0.01)
        transport.dispatch(Outputs([Datagram(b"three", ("localhost", port))]))  # from the cache, at once
        while len(got) < 3 and transport.loop.time() < deadline:
            try:
                got.append(peer.recv(100))
            except BlockingIOError:
                await asyncio.sleep(0.01)
        transport.close()
        peer.close()
        return got, lookups, errors

    got, lookups, errors = asyncio.run(run())
    assert sorted(got) == [b"one", b"three", b"two"]
    assert lookups == 1
    assert errors == []


def test_unresolvable_name_drops_its_datagrams_with_a_log_line() -> None:
    async def run() -> tuple[list[str], int]:
        errors: list[str] = []
        transport = await _transport(errors)

        async def failing(*_args: Any, **_kw: Any) -> Any:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        transport.loop.getaddrinfo = failing  # type: ignore[method-assign]
        transport.dispatch(Outputs([Datagram(b"x", ("nowhere.invalid", 5060))]))
        for _ in range(20):
            await asyncio.sleep(0)
        sent = transport.sent
        transport.close()
        return errors, sent

    errors, sent = asyncio.run(run())
    assert sent == 0
    assert len(errors) == 1 and "cannot resolve nowhere.invalid" in errors[0]


def test_a_datagram_whose_handling_fails_does_not_stop_the_next_and_close_frees_the_port() -> None:
    """The UDP socket is read by the transport itself (a loop reader, or the media clock's
    ticks while calls are up): a fault in one datagram's handling is logged and the next
    is read; closing unregisters the socket and frees its port."""

    async def run() -> tuple[list[bytes], list[str], int]:
        errors: list[str] = []
        transport = await _transport(errors)
        seen: list[bytes] = []

        def flaky(data: bytes, _addr: Any) -> None:
            seen.append(data)
            if data == b"bad":
                raise RuntimeError("boom")

        transport.datagram_received = flaky  # type: ignore[method-assign]
        port = transport.core.port
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for data in (b"bad", b"good"):
                peer.sendto(data, ("127.0.0.1", port))
            deadline = transport.loop.time() + 10
            while len(seen) < 2 and transport.loop.time() < deadline:
                await asyncio.sleep(0.01)
        finally:
            peer.close()
        transport.close()
        await asyncio.sleep(0)
        return seen, errors, port

    seen, errors, port = asyncio.run(run())
    assert seen == [b"bad", b"good"]
    assert any("boom" in line for line in errors)
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        again.bind(("127.0.0.1", port))  # the port is free again
    finally:
        again.close()
