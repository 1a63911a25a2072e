"""The asyncio shell around the sans-I/O SIP core: a UDP socket, TCP connections, the timers.

:class:`SipTransport` feeds every datagram (with the protocol methods of an
:class:`asyncio.DatagramProtocol`), with its source address and the loop's time, into a
:class:`~dsm.runtime.sip.useragent.UserAgentServer`, sends the datagrams the
core returns and hands the core's events to one callback.  The core's timers
(retransmissions, Timer B/F/H, 2xx retransmission, unanswered in-dialog
requests) are driven by a single ``loop.call_at`` re-armed on
:meth:`UserAgentServer.next_timeout` after every step.

The UDP socket is the transport's own (:class:`UdpEndpoint`, no asyncio
datagram transport): a loop reader reads it while no call's media runs,
and the shared media clock's ticks read it while some does
(:meth:`~dsm.runtime.sip.media_clock.MediaClock.share`).  A datagram that
arrives during calls then waits for the next tick, at most one 20 ms
period (5 ms once a call's peer sends RTP), instead of waking the process
on its own: on a virtual machine each wake-up costs more CPU than the SIP
work it brings (docs/sip.md, "Wake-ups").  At most
:data:`MAX_DATAGRAMS_A_READ` datagrams are read at a time; a flood beyond
that waits in the kernel's buffer, which drops what does not fit.

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

TCP (RFC 3261 section 18), with :meth:`SipTransport.listen_tcp` on the same
address as the UDP socket: every connection, accepted or opened by us, is a
:class:`SipConnection` with its own :class:`StreamFramer`; each framed
message goes to the core as ``receive(..., transport="tcp")`` with the
connection's peer as source.  What one peer may hold is bounded by the
:class:`~dsm.runtime.sip.limits.SipLimits` given: at most
``tcp_max_per_source`` accepted connections per source IP address (more are
closed at once), ``tcp_message_timeout`` seconds to complete a message once
its first byte arrived (else the connection is closed), and messages of at
most ``max_message_bytes`` (a larger one is answered ``513`` and its body
skipped, or the connection closed when its head alone is too large); each
firing is counted in the :class:`~dsm.runtime.sip.limits.SipCounters`.
Connections are kept in a map from peer
address to connection: a message the core sends over TCP goes over the
connection to its destination, and when there is none one is opened (in the
background, like a name lookup; what the core sends meanwhile waits for it)
and kept.  A framing error (bad Content-Length, a head that never ends)
closes that connection only -- the stream position is lost -- while a
message that frames but does not parse is handled by the core as over UDP
(``400`` or dropped).  Connections the peer closes are forgotten; one
without traffic for ``tcp_idle_timeout`` seconds is closed unless a
call of the core came over it (a caller that does not listen for
connections -- sipp, a phone behind NAT -- can only get our BYE over the
connection it opened); a peer that stops reading is cut off once
:data:`TCP_WRITE_LIMIT` bytes wait for it; beyond :data:`TCP_MAX_CONNECTIONS`
new connections are closed at once.
"""

from __future__ import annotations

import asyncio
import asyncio.protocols  # noqa: F401 - compiled: the module of the Python bases below
import ipaddress
import socket
from collections.abc import Callable
from functools import partial
from typing import Any, Final, cast

from mypy_extensions import mypyc_attr

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.limits import DEFAULT_LIMITS, SipCounters, SipLimits
from dsm.runtime.sip.media_clock import MediaClock
from dsm.runtime.sip.message import StreamFramer, TooLarge
from dsm.runtime.sip.useragent import Address, Datagram, Event, Outputs, UserAgentServer

__all__ = ["SipTransport", "SipConnection", "open_sip_transport"]

DNS_TTL: Final = 60.0
"""Seconds a resolved host name is reused."""

TCP_IDLE_TIMEOUT: Final = DEFAULT_LIMITS.tcp_idle_timeout
"""Seconds without a byte either way after which a TCP connection without a call is closed."""

TCP_WRITE_LIMIT: Final = 1 << 20
"""Bytes waiting for a peer that does not read, beyond which its connection is closed."""

TCP_CONNECT_BACKLOG: Final = 64
"""Messages that may wait for one TCP connection being opened; more are dropped."""

TCP_MAX_CONNECTIONS: Final = 4096
"""Open TCP connections at most (file descriptors are finite); more are refused."""

EventHandler = Callable[[Event], None]
ErrorLog = Callable[[str], None]


def _ignore(message: str) -> None:
    """The error log of a transport given none."""


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    """Mark a background task's exception retrieved (its coroutine has logged it)."""
    if not task.cancelled():
        task.exception()


@mypyc_attr(native_class=False, allow_interpreted_subclasses=True)  # compiled: a Python class
class SipTransport(asyncio.DatagramProtocol):
    """UDP datagrams and TCP connections in and out of one :class:`UserAgentServer`."""

    def __init__(
        self,
        core: UserAgentServer,
        loop: asyncio.AbstractEventLoop,
        on_event: EventHandler,
        on_error: ErrorLog | None = None,
        limits: SipLimits | None = None,
    ) -> None:
        self.core = core
        self.limits = limits if limits is not None else SipLimits()
        self.counters: SipCounters = core.counters
        self._per_source: dict[str, set[SipConnection]] = {}
        """Accepted connections open, by source IP address."""
        self.loop = loop
        self.on_event = on_event
        self.on_error: ErrorLog = on_error or _ignore
        self.transport: UdpEndpoint | None = None
        """The UDP socket (set by :func:`_bind_udp`)."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.sent = 0
        self.received = 0
        self._resolved: dict[str, tuple[str, float]] = {}
        """Host name -> (address, expiry on the loop clock)."""
        self._resolving: dict[str, list[Datagram]] = {}
        """Host names being looked up -> datagrams waiting for the answer."""
        self.tcp_idle_timeout = self.limits.tcp_idle_timeout
        self.tcp_message_timeout = self.limits.tcp_message_timeout
        self._tcp_server: asyncio.Server | None = None
        self.connections: dict[Address, SipConnection] = {}
        """Open TCP connections by peer address (normalised IP literal, port)."""
        self._connecting: dict[Address, list[bytes]] = {}
        """Peers a TCP connection is being opened to -> messages waiting for it."""
        self._closed = False

    # -- the UDP socket's side (UdpEndpoint) -------------------------------------------------
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

    def run(self, step: Callable[[float], Outputs]) -> None:
        """Call ``step(now)`` (a core method) and dispatch what it returns."""
        self.dispatch(step(self.loop.time()))

    def dispatch(self, outputs: Outputs) -> None:
        """Send the datagrams, then deliver the events, then re-arm the timer."""
        for datagram in outputs.datagrams:
            self._send(datagram)
        for event in outputs.events:
            try:
                self.on_event(event)
            except Exception as exc:  # noqa: BLE001 - one call's fault must not stop the others
                self.on_error(f"sip event {type(event).__name__} failed: {type(exc).__name__}: {exc}")
        self._arm()

    def close(self) -> None:
        """Close the UDP socket, the TCP listener and every TCP connection."""
        self._closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            self._tcp_server = None
        for connection in list(self.connections.values()):
            connection.close()
        self._connecting.clear()

    # -- TCP ------------------------------------------------------------------------------------
    async def listen_tcp(self, host: str, port: int) -> None:
        """Accept SIP over TCP on ``host:port`` (the UDP socket's address)."""
        self._tcp_server = await self.loop.create_server(
            partial(SipConnection, self, accepted=True), host, port
        )

    @property
    def tcp_port(self) -> int | None:
        """The port the TCP listener is bound to, or ``None`` without one."""
        server = self._tcp_server
        if server is None or not server.sockets:
            return None
        return int(server.sockets[0].getsockname()[1])

    def stream_message(self, data: bytes, peer: Address) -> None:
        """One message framed from the TCP connection with ``peer``."""
        self.received += 1
        self.dispatch(self.core.receive(data, peer, self.loop.time(), "tcp"))

    def register(self, connection: SipConnection) -> bool:
        """A connection is up (accepted or opened): messages to its peer use it from now on.

        ``False`` (and a log line) when :data:`TCP_MAX_CONNECTIONS` are open,
        or when an accepted one's source address has ``tcp_max_per_source``
        open already (counted; logged on the 1st, 10th, 100th … refusal).
        """
        peer = connection.peer
        assert peer is not None
        if len(self.connections) >= TCP_MAX_CONNECTIONS:
            self.on_error(f"refusing tcp connection with {peer[0]}:{peer[1]}: too many connections")
            return False
        if connection.accepted:
            same = self._per_source.setdefault(peer[0], set())
            held = len(same)
            if held >= self.limits.tcp_max_per_source:
                self.counters.tcp_source_cap_refused += 1
                refused = self.counters.tcp_source_cap_refused
                if _sparse(refused):
                    self.on_error(
                        f"refusing tcp connection from {peer[0]}:{peer[1]}: {held} open from that "
                        f"address (sip_tcp_max_connections_per_source); {refused} refused so far"
                    )
                return False
            same.add(connection)
        self.connections[peer] = connection
        return True

    def carries_calls(self, peer: Address) -> bool:
        """Whether a live call of the core came over the TCP connection with ``peer``."""
        return any(
            call.transport == "tcp" and call.source == peer for call in self.core.calls.values()
        )

    def forget(self, connection: SipConnection) -> None:
        """A connection is gone; later messages to its peer open a new one."""
        peer = connection.peer
        if peer is None:
            return
        if self.connections.get(peer) is connection:
            del self.connections[peer]
        same = self._per_source.get(peer[0])
        if same is not None:
            same.discard(connection)
            if not same:
                del self._per_source[peer[0]]

    def too_large(self, head: TooLarge, peer: Address) -> None:
        """A message over ``max_message_bytes`` framed from a TCP connection: ``513`` if answerable."""
        self.dispatch(self.core.reject_too_large(bytes(head), peer, "tcp"))

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, item: Datagram) -> None:
        if item.transport not in ("udp", "tcp"):
            self.on_error(f"cannot send to {item.destination}: no {item.transport} transport")
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        host, port = item.destination[0], item.destination[1]
        if not _is_address(host):
            known = self._resolved.get(host)
            if known is None or known[1] < self.loop.time():
                self._resolve_then_send(host, item)
                return
            item = Datagram(item.data, (known[0], port), item.transport)
        if item.transport == "tcp":
            self._send_tcp(item.data, (_normal_address(item.destination[0]), port))
            return
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
        task.add_done_callback(_retrieve_exception)

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
            self._send(Datagram(item.data, (address, item.destination[1]), item.transport))

    def _send_tcp(self, data: bytes, peer: Address) -> None:
        connection = self.connections.get(peer)
        if connection is not None and connection.write(data):
            self.sent += 1
            return
        waiting = self._connecting.get(peer)
        if waiting is not None:
            if len(waiting) < TCP_CONNECT_BACKLOG:
                waiting.append(data)
            else:
                self.on_error(f"tcp connection to {peer[0]}:{peer[1]} not up yet: message dropped")
            return
        if self._closed:
            return
        self._connecting[peer] = [data]
        task = self.loop.create_task(self._connect(peer))
        task.add_done_callback(_retrieve_exception)

    async def _connect(self, peer: Address) -> None:
        """Open a TCP connection to ``peer`` and send what waits for it (RFC 3261 18.1.1)."""
        try:
            _, connection = await self.loop.create_connection(
                partial(SipConnection, self), peer[0], peer[1]
            )
        except OSError as exc:
            waiting = self._connecting.pop(peer, [])
            self.on_error(
                f"cannot connect to {peer[0]}:{peer[1]} over tcp: {exc} "
                f"({len(waiting)} message(s) dropped)"
            )
            return
        waiting = self._connecting.pop(peer, [])
        if self._closed:  # closed while connecting
            connection.close()
            return
        for data in waiting:
            if connection.write(data):
                self.sent += 1

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


@mypyc_attr(native_class=False, allow_interpreted_subclasses=True)  # compiled: a Python class
class SipConnection(asyncio.Protocol):
    """One TCP connection carrying SIP: bytes -> :class:`StreamFramer` -> the transport's core.

    Nothing raised while handling the peer's bytes reaches the loop: a
    framing error or a fault closes this connection only, with a log line.
    """

    def __init__(self, owner: SipTransport, *, accepted: bool = False) -> None:
        self.owner = owner
        self.accepted = accepted
        """Opened by the peer (counted against its address's cap), not by us."""
        self.framer = StreamFramer(owner.core.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer: Address | None = None
        self._last_active = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self._message_deadline: asyncio.TimerHandle | None = None
        """Armed while a message is begun but not complete (``tcp_message_timeout``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if not peer:
            transport.close()
            return
        self.peer = (_normal_address(str(peer[0])), int(peer[1]))
        if not self.owner.register(self):
            self.peer = None
            transport.close()
            return
        self._last_active = self.owner.loop.time()
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            return
        self._last_active = self.owner.loop.time()
        try:
            frames = self.framer.frames(data)
        except ParseError as exc:
            self._give_up(exc.reason)
            return
        try:
            for frame in frames:
                if isinstance(frame, TooLarge):
                    self.owner.too_large(frame, peer)
                else:
                    self.owner.stream_message(frame, peer)
        except Exception as exc:  # noqa: BLE001 - one connection's fault must not reach the loop
            self._give_up(f"{type(exc).__name__}: {exc}")
            return
        if self.framer.broken is not None:  # the messages before the bad bytes were served
            self._give_up(self.framer.broken.reason)
            return
        if self.framer.pings:  # RFC 5626 3.5.1: a CRLF CRLF ping gets a CRLF pong
            self.write(b"\r\n" * self.framer.pings)
            self.framer.pings = 0
        self._watch_message(bool(frames))

    def _watch_message(self, completed: bool) -> None:
        """Arm the deadline when a message began, disarm it when none is pending.

        A message completed in this read ends the old deadline; bytes left
        over begin the next message, with a deadline of its own.
        """
        timer = self._message_deadline
        if timer is not None and (completed or not self.framer.pending):
            timer.cancel()
            self._message_deadline = timer = None
        if timer is None and self.framer.pending and self.transport is not None:
            self._message_deadline = self.owner.loop.call_later(
                self.owner.tcp_message_timeout, self._message_late
            )

    def _message_late(self) -> None:
        self._message_deadline = None
        if self.transport is None or not self.framer.pending:
            return
        counters = self.owner.counters
        counters.tcp_message_timeouts += 1
        if _sparse(counters.tcp_message_timeouts):
            peer = self.peer or ("?", 0)
            self.owner.on_error(
                f"closing tcp connection from {peer[0]}:{peer[1]}: message not complete after "
                f"{self.owner.tcp_message_timeout:g} s (sip_tcp_message_timeout); "
                f"{counters.tcp_message_timeouts} so far"
            )
        self.close()

    def _give_up(self, reason: str) -> None:
        peer = self.peer or ("?", 0)
        self.owner.on_error(f"closing tcp connection from {peer[0]}:{peer[1]}: {reason}")
        self.close()

    def eof_received(self) -> bool | None:
        return None  # the peer is done: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._message_deadline is not None:
            self._message_deadline.cancel()
            self._message_deadline = None
        self.owner.forget(self)
        self.transport = None

    def write(self, data: bytes) -> bool:
        """Send one message; ``False`` when the connection is closed or closing."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > TCP_WRITE_LIMIT:
            peer = self.peer or ("?", 0)
            self.owner.on_error(
                f"closing tcp connection to {peer[0]}:{peer[1]}: peer does not read"
            )
            self.close()
            return False
        transport.write(data)
        self._last_active = self.owner.loop.time()
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _arm_idle(self) -> None:
        when = self._last_active + self.owner.tcp_idle_timeout
        self._idle = self.owner.loop.call_at(when, self._check_idle)

    def _check_idle(self) -> None:
        """Close when idle for the timeout and no call came over it; else look again later."""
        self._idle = None
        if self.transport is None:
            return
        now = self.owner.loop.time()
        if self.peer is not None and self.owner.carries_calls(self.peer):
            self._last_active = now
        if now >= self._last_active + self.owner.tcp_idle_timeout:
            self.owner.counters.tcp_idle_closed += 1
            self.close()
        else:
            self._arm_idle()


async def open_sip_transport(
    host: str,
    port: int,
    on_event: EventHandler,
    *,
    on_error: ErrorLog | None = None,
    tcp: bool = False,
    limits: SipLimits | None = None,
    **core_options: Any,
) -> SipTransport:
    """Bind ``host:port`` (port 0: any free port) and return the running transport.

    The core is created with the port actually bound, so Via, Contact and
    the SDP say where the server really listens.  With ``tcp`` the same
    address also accepts SIP over TCP; with port 0 a UDP port whose TCP twin
    is taken is given back and another one tried.
    """
    attempts = 20 if tcp and port == 0 else 1
    for attempt in range(attempts):
        protocol = await _bind_udp(host, port, on_event, on_error, limits, core_options)
        if not tcp:
            return protocol
        try:
            await protocol.listen_tcp(host, protocol.core.port)
        except OSError:
            protocol.close()
            if attempt == attempts - 1:
                raise
            continue
        return protocol
    raise AssertionError("unreachable")


async def _bind_udp(
    host: str,
    port: int,
    on_event: EventHandler,
    on_error: ErrorLog | None,
    limits: SipLimits | None,
    core_options: dict[str, Any],
) -> SipTransport:
    loop = asyncio.get_running_loop()
    if limits is not None:  # one source for the size caps of the core and the framers
        core_options = {
            "max_message_bytes": limits.max_message_bytes,
            "max_headers": limits.max_headers,
            **core_options,
        }
    core = UserAgentServer(host, port, **core_options)
    protocol = SipTransport(core, loop, on_event, on_error, limits)
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    sock = socket.socket(infos[0][0], socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(infos[0][4])
    except OSError:
        sock.close()
        raise
    protocol.transport = UdpEndpoint(sock, protocol, MediaClock.for_loop(loop))
    core.port = int(sock.getsockname()[1])
    return protocol


MAX_DATAGRAMS_A_READ = 128
"""Datagrams read from the SIP socket at one readiness; the rest waits for the next."""


class UdpEndpoint:
    """The SIP UDP socket: datagrams sent at once, read when the socket is readable.

    Read by a loop reader while no call's media runs and at the media
    clock's ticks while it does (:meth:`MediaClock.share`), so that SIP and
    the frames of a tick share one wake-up.  A datagram the kernel cannot
    take at once is dropped, as the network may drop it (SIP retransmits).
    """

    def __init__(self, sock: socket.socket, protocol: SipTransport, clock: MediaClock) -> None:
        self.sock = sock
        self.protocol = protocol
        self.clock = clock
        self._fd = sock.fileno()
        self._closing = False
        clock.share(self._fd, self.read_ready)

    def sendto(self, data: bytes, address: Any) -> None:
        try:  # noqa: SIM105 - per message: contextlib.suppress would run interpreted code
            self.sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):  # a full send buffer: dropped
            pass

    def read_ready(self) -> None:
        """Read what is waiting (at most :data:`MAX_DATAGRAMS_A_READ`); never raises."""
        sock = self.sock
        protocol = self.protocol
        for _ in range(MAX_DATAGRAMS_A_READ):
            if self._closing:
                return
            try:
                data, address = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error reported on the socket
                protocol.error_received(exc)
                return  # one log line; the next readiness reads on
            try:
                protocol.datagram_received(data, address)
            except Exception as exc:  # noqa: BLE001 - one datagram's fault must not stop the reads
                protocol.error_received(exc)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.clock.unshare(self._fd)
        self.sock.close()
        self.protocol.connection_lost(None)


def _sparse(count: int) -> bool:
    """Log the 1st, 10th, 100th … time a limit fires: a flood must not flood the log too."""
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


def _normal_address(host: str) -> str:
    """An IP literal in one spelling (no brackets, compressed IPv6), the key of the connection map."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host


def _is_address(host: str) -> bool:
    """An IPv4/IPv6 literal (brackets allowed), as opposed to a name to resolve."""
    try:
        # the common case, checked in C: a dotted quad (the same ones ip_address accepts)
        socket.inet_pton(socket.AF_INET, host)
        return True
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
