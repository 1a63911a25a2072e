"""The asyncio shell around the sans-I/O SIP core: one UDP socket, its timers, nothing else.

:class:`SipTransport` is a :class:`asyncio.DatagramProtocol` that feeds every
datagram, with its source address and the loop's time, into a
:class:`~dsm.runtime.sip.useragent.UserAgentServer`, sends the datagrams the
core returns and hands the core's events to one callback.  The core's timers
(retransmissions, Timer B/F/H, 2xx retransmission, unanswered in-dialog
requests) are driven by a single ``loop.call_at`` re-armed on
:meth:`UserAgentServer.next_timeout` after every step.

The transaction user (the call layer) answers through :meth:`SipTransport.run`,
which calls a core method with the current time and dispatches its outputs
the same way, so every byte that leaves goes through one place.  Nothing a
callback raises escapes into the event loop: it is logged and the other calls
carry on.

Destinations are usually IP addresses (Via ``received``, SDP).  A host name
(a Contact or Record-Route with a name) is resolved with the loop's
``getaddrinfo`` in the background -- a blocking lookup would stall every
call on the loop -- and the datagram leaves when the answer is there.
Answers are kept for :data:`DNS_TTL` seconds; a name that does not resolve
is logged and its datagrams are dropped (the transactions time out as for
any lost packet).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any, Final, cast

from dsm.runtime.sip.useragent import Datagram, Event, UAOutput, UserAgentServer

__all__ = ["SipTransport", "open_sip_transport"]

DNS_TTL: Final = 60.0
"""Seconds a resolved host name is reused."""

EventHandler = Callable[[Event], None]
ErrorLog = Callable[[str], None]


class SipTransport(asyncio.DatagramProtocol):
    """UDP datagrams in and out of one :class:`UserAgentServer`."""

    def __init__(
        self,
        core: UserAgentServer,
        loop: asyncio.AbstractEventLoop,
        on_event: EventHandler,
        on_error: ErrorLog | None = None,
    ) -> None:
        self.core = core
        self.loop = loop
        self.on_event = on_event
        self.on_error: ErrorLog = on_error or (lambda message: None)
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.sent = 0
        self.received = 0
        self._resolved: dict[str, tuple[str, float]] = {}
        """Host name -> (address, expiry on the loop clock)."""
        self._resolving: dict[str, list[Datagram]] = {}
        """Host names being looked up -> datagrams waiting for the answer."""

    # -- asyncio protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not registered as a subclass: cast, not assert.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        self.dispatch(self.core.receive(data, (str(addr[0]), int(addr[1])), self.loop.time()))

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" and the like: the transactions time out on their own.
        self.on_error(f"sip socket error: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.transport = None

    # -- the transaction user's side ----------------------------------------------------------
    def now(self) -> float:
        """The time scale the core runs on (the loop's monotonic clock)."""
        return self.loop.time()

    def run(self, step: Callable[[float], list[UAOutput]]) -> None:
        """Call ``step(now)`` (a core method) and dispatch what it returns."""
        self.dispatch(step(self.loop.time()))

    def dispatch(self, outputs: list[UAOutput]) -> None:
        """Send the datagrams, deliver the events, re-arm the timer."""
        for item in outputs:
            if isinstance(item, Datagram):
                self._send(item)
            else:
                try:
                    self.on_event(item)
                except Exception as exc:  # noqa: BLE001 - one call's fault must not stop the others
                    self.on_error(f"sip event {type(item).__name__} failed: {type(exc).__name__}: {exc}")
        self._arm()

    def close(self) -> None:
        self._disarm()
        if self.transport is not None:
            self.transport.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, item: Datagram) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        host, port = item.destination[0], item.destination[1]
        if not _is_address(host):
            known = self._resolved.get(host)
            if known is None or known[1] < self.loop.time():
                self._resolve_then_send(host, item)
                return
            item = Datagram(item.data, (known[0], port))
        try:
            transport.sendto(item.data, item.destination)
            self.sent += 1
        except (OSError, ValueError) as exc:  # e.g. an unresolvable host name in a Via
            self.on_error(f"cannot send to {item.destination}: {exc}")

    def _resolve_then_send(self, host: str, item: Datagram) -> None:
        waiting = self._resolving.get(host)
        if waiting is not None:
            waiting.append(item)
            return
        self._resolving[host] = [item]
        task = self.loop.create_task(self._lookup(host))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _lookup(self, host: str) -> None:
        family = socket.AF_UNSPEC
        try:
            infos = await self.loop.getaddrinfo(host, None, family=family, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError, ValueError) as exc:  # ValueError/UnicodeError: bad IDNA
            waiting = self._resolving.pop(host, [])
            self.on_error(f"cannot resolve {host}: {exc} ({len(waiting)} datagram(s) dropped)")
            return
        address = str(infos[0][4][0]) if infos else ""
        waiting = self._resolving.pop(host, [])
        if not address:
            self.on_error(f"cannot resolve {host}: no address")
            return
        self._resolved[host] = (address, self.loop.time() + DNS_TTL)
        for item in waiting:
            self._send(Datagram(item.data, (address, item.destination[1])))

    def _arm(self) -> None:
        when = self.core.next_timeout()
        if when == self._timer_at and self._timer is not None:
            return
        self._disarm()
        if when is not None:
            self._timer_at = when
            self._timer = self.loop.call_at(when, self._fire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.dispatch(self.core.handle_timeout(self.loop.time()))


async def open_sip_transport(
    host: str,
    port: int,
    on_event: EventHandler,
    *,
    on_error: ErrorLog | None = None,
    **core_options: Any,
) -> SipTransport:
    """Bind ``host:port`` (port 0: any free port) and return the running transport.

    The core is created with the port actually bound, so Via, Contact and
    the SDP say where the server really listens.
    """
    loop = asyncio.get_running_loop()
    core = UserAgentServer(host, port, **core_options)
    protocol = SipTransport(core, loop, on_event, on_error)
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, port))
    sockname = transport.get_extra_info("sockname")
    if sockname is not None:
        core.port = int(sockname[1])
    return protocol


def _is_address(host: str) -> bool:
    """An IPv4/IPv6 literal (brackets allowed), as opposed to a name to resolve."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
