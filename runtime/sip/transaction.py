"""The four RFC 3261 transaction state machines (section 17), sans I/O.

A transaction is fed messages and time and answers with a list of outputs:
:class:`Send` (a message to put on the wire towards the transaction's peer)
and events for the transaction user (:class:`ResponseReceived`,
:class:`TimedOut`).  Nothing here reads a clock: every call gets ``now``
(seconds, any monotonic origin) and :meth:`Transaction.next_timeout` tells
the owner when to call :meth:`Transaction.handle_timeout` next.  An owner
that keeps many transactions sets :attr:`Transaction.on_timer` to learn every
deadline as it is started (a timer heap), instead of asking each transaction
again after every step; a stopped timer simply leaves a stale entry there,
which :meth:`Transaction.next_timeout` exposes as such.

Timers (RFC 3261 table 4), from :class:`TimerSettings` T1, T2, T4:

* INVITE client: A (retransmit, T1 doubling without cap), B (64*T1 timeout,
  in Calling only), D (32 s wait for final-response retransmissions).
* non-INVITE client: E (retransmit T1 doubling, capped at T2; T2 once
  Proceeding), F (64*T1 timeout), K (T4 wait).
* INVITE server: G (final response retransmit, T1 doubling capped at T2),
  H (64*T1 wait for ACK), I (T4 absorb ACK retransmissions); and ``trying``,
  our own: the 100 Trying goes out only if the TU has not responded within
  :attr:`TimerSettings.trying` (RFC 3261 17.2.1 lets a server that answers
  within 200 ms send none; the reference never sends one of its own).
* non-INVITE server: J (64*T1 absorb request retransmissions).

Over reliable transports the retransmit timers are not started and the wait
timers (D, I, J, K) are zero.  After a 2xx the INVITE transactions follow
RFC 6026: the server goes to Accepted (absorbing INVITE retransmissions for
Timer L = 64*T1) and the 2xx is retransmitted by the UAS core, not by the
transaction; the client goes to Accepted (Timer M = 64*T1) and passes every
2xx on to the TU.  The ACK for a non-2xx final response belongs to the
transaction (built here, absorbed there); the ACK for a 2xx is a separate
transaction-less request for the TU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mypy_extensions import mypyc_attr

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.headers import CSeq, Headers
from dsm.runtime.sip.message import Message, Request, Response
from dsm.runtime.sip.responses import make_response

__all__ = [
    "TimerSettings",
    "Send",
    "ResponseReceived",
    "TimedOut",
    "Output",
    "TransactionError",
    "TransactionKey",
    "server_key",
    "client_key",
    "Transaction",
    "InviteServerTransaction",
    "NonInviteServerTransaction",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "MAGIC_COOKIE",
]

MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class TimerSettings:
    """T1 (RTT estimate), T2 (max non-INVITE retransmit interval), T4 (max network lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying: float = 0.1
    """Seconds an INVITE server transaction waits for the TU before its own 100 Trying (0: at once).

    A script that answers at once (most do) then sends its 200 alone, one
    datagram fewer per call, as the reference does; one that waits (a
    database, a timer) still stops the caller's INVITE retransmissions
    well before T1 and within RFC 3261's 200 ms.
    """

    def __init__(
        self,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        timer_d: float = 32.0,
        trying: float = 0.1,
    ) -> None:
        object.__setattr__(self, "t1", t1)
        object.__setattr__(self, "t2", t2)
        object.__setattr__(self, "t4", t4)
        object.__setattr__(self, "timer_d", timer_d)
        object.__setattr__(self, "trying", trying)

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H, J, L, M."""
        return 64 * self.t1


@dataclass(frozen=True, slots=True)
class Send:
    """Put ``message`` on the wire towards the transaction's peer."""

    message: Message

    def __init__(self, message: Message) -> None:
        object.__setattr__(self, "message", message)


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A client transaction passes a response up to its TU."""

    response: Response

    def __init__(self, response: Response) -> None:
        object.__setattr__(self, "response", response)


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The transaction gave up: ``timer`` is ``B``, ``F`` (no response) or ``H`` (no ACK)."""

    timer: str

    def __init__(self, timer: str) -> None:
        object.__setattr__(self, "timer", timer)


Output = Send | ResponseReceived | TimedOut


@mypyc_attr(native_class=False)  # compiled (native_modules): an exception stays a Python class
class TransactionError(RuntimeError):
    """The transaction user asked for something the state does not allow."""


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """Identity of a transaction (RFC 3261 17.1.3 / 17.2.3).

    ``branch`` and ``method`` (ACK counted as INVITE); for server transactions
    also the top Via's sent-by.  Requests from RFC 2543 peers (branch without
    the magic cookie) are keyed by Call-ID, From tag, CSeq number and sent-by.
    """

    branch: str
    sent_by: str
    method: str

    def __init__(self, branch: str, sent_by: str, method: str) -> None:
        object.__setattr__(self, "branch", branch)
        object.__setattr__(self, "sent_by", sent_by)
        object.__setattr__(self, "method", method)

    # Written out, as __init__ is: every datagram looks its transaction up by key, and the
    # generated methods would be interpreted code.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransactionKey):
            return NotImplemented
        return self.branch == other.branch and self.sent_by == other.sent_by and self.method == other.method

    def __hash__(self) -> int:
        return hash((self.branch, self.sent_by, self.method))


def _match_method(method: str) -> str:
    return "INVITE" if method == "ACK" else method


def server_key(request: Request) -> TransactionKey:
    """The server transaction a request belongs to (ACK maps to its INVITE)."""
    via = request.top_via_view
    sent_by = f"{via.host}:{via.port or 5060}"
    branch = via.branch or ""
    if not branch.startswith(MAGIC_COOKIE):
        branch = "|".join(
            (
                "2543",
                request.call_id,
                request.from_tag or "",
                str(request.cseq.number),
                branch,
            )
        )
    return TransactionKey(branch, sent_by, _match_method(request.method))


def client_key(message: Message) -> TransactionKey:
    """The client transaction a response (or our own request) belongs to."""
    via = message.top_via_view
    method = message.cseq.method if isinstance(message, Response) else message.method
    return TransactionKey(via.branch or "", "", _match_method(method))


class Transaction:
    """Shared timer bookkeeping; subclasses implement the state machines."""

    kind = "transaction"

    def __init__(self, request: Request, timers: TimerSettings, reliable: bool) -> None:
        self.request = request
        self.timers = timers
        self.reliable = reliable
        self.state = "init"
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self.on_timer: Callable[[float], None] | None = None
        """Told the deadline of every timer started from now on (the owner's timer heap)."""

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def next_timeout(self) -> float | None:
        """When :meth:`handle_timeout` must be called next, or ``None``."""
        return min(self._deadlines.values()) if self._deadlines else None

    def deadlines(self) -> list[float]:
        """The deadlines of the running timers (for an owner that starts watching late)."""
        return list(self._deadlines.values())

    def handle_timeout(self, now: float) -> list[Output]:
        """Fire every timer due at ``now`` (in deadline order)."""
        out: list[Output] = []
        while self._deadlines:
            name = min(self._deadlines, key=lambda n: self._deadlines[n])
            deadline = self._deadlines[name]
            if deadline > now:
                break
            del self._deadlines[name]
            out.extend(self._fire(name, deadline))
        return out

    def handle_message(self, message: Message, now: float) -> list[Output]:
        raise NotImplementedError

    # --- helpers -----------------------------------------------------------

    def _start(self, name: str, at: float, interval: float | None = None) -> None:
        self._deadlines[name] = at
        if interval is not None:
            self._intervals[name] = interval
        if self.on_timer is not None:
            self.on_timer(at)

    def _stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _terminate(self) -> None:
        self.state = "terminated"
        self._deadlines.clear()

    def _fire(self, name: str, at: float) -> list[Output]:
        raise NotImplementedError


class InviteServerTransaction(Transaction):
    """RFC 3261 17.2.1 with RFC 6026's Accepted state."""

    kind = "ist"

    def __init__(
        self,
        request: Request,
        now: float,
        timers: TimerSettings | None = None,
        reliable: bool = False,
    ) -> None:
        super().__init__(request, timers or TimerSettings(), reliable)
        self.state = "proceeding"
        self.last_response: Response | None = None

    def defer_trying(self, now: float) -> list[Output]:
        """Our 100 Trying, unless the TU responds within :attr:`TimerSettings.trying` (then none).

        With a delay of 0 the 100 is returned at once, as before the delay existed.
        """
        if self.timers.trying <= 0:
            return self._trying(now)
        self._start("trying", now + self.timers.trying)
        return []

    def _trying(self, now: float) -> list[Output]:
        return self.send_response(make_response(self.request, 100), now)

    def send_response(self, response: Response, now: float) -> list[Output]:
        """The TU responds; 1xx keeps Proceeding, 2xx -> Accepted, 3xx-6xx -> Completed."""
        if self.state == "accepted" and 200 <= response.status < 300:
            return [Send(response)]
        if self.state != "proceeding":
            raise TransactionError(f"cannot send {response.status} in state {self.state}")
        self._stop("trying")  # any response of the TU's makes our own 100 needless
        self.last_response = response
        if response.status < 200:
            return [Send(response)]
        if response.status < 300:
            self.state = "accepted"
            self._start("L", now + self.timers.timeout)
            return [Send(response)]
        self.state = "completed"
        if not self.reliable:
            self._start("G", now + self.timers.t1, self.timers.t1)
        self._start("H", now + self.timers.timeout)
        return [Send(response)]

    def handle_message(self, message: Message, now: float) -> list[Output]:
        if not isinstance(message, Request):
            return []
        if message.method == "INVITE":
            if self.state in ("proceeding", "completed") and self.last_response is not None:
                return [Send(self.last_response)]
            if self.state == "proceeding" and "trying" in self._deadlines:
                # The caller retransmits before the TU responded: the 100 now stops it.
                return self._trying(now)
            return []
        if message.method == "ACK" and self.state == "completed":
            self.state = "confirmed"
            self._stop("G", "H")
            if self.reliable:
                self._terminate()
            else:
                self._start("I", now + self.timers.t4)
        return []

    def _fire(self, name: str, at: float) -> list[Output]:
        if name == "trying" and self.state == "proceeding" and self.last_response is None:
            return self._trying(at)
        if name == "G" and self.state == "completed" and self.last_response is not None:
            interval = min(self._intervals["G"] * 2, self.timers.t2)
            self._start("G", at + interval, interval)
            return [Send(self.last_response)]
        if name == "H" and self.state == "completed":
            self._terminate()
            return [TimedOut("H")]
        if name in ("I", "L"):
            self._terminate()
        return []


class NonInviteServerTransaction(Transaction):
    """RFC 3261 17.2.2: Trying -> Proceeding -> Completed -> Terminated."""

    kind = "nist"

    def __init__(
        self,
        request: Request,
        now: float,
        timers: TimerSettings | None = None,
        reliable: bool = False,
    ) -> None:
        super().__init__(request, timers or TimerSettings(), reliable)
        self.state = "trying"
        self.last_response: Response | None = None

    def send_response(self, response: Response, now: float) -> list[Output]:
        if self.state not in ("trying", "proceeding"):
            raise TransactionError(f"cannot send {response.status} in state {self.state}")
        self.last_response = response
        if response.status < 200:
            self.state = "proceeding"
            return [Send(response)]
        self.state = "completed"
        if self.reliable:
            self._terminate()
        else:
            self._start("J", now + self.timers.timeout)
        return [Send(response)]

    def handle_message(self, message: Message, now: float) -> list[Output]:
        if isinstance(message, Request) and self.state in ("proceeding", "completed"):
            if self.last_response is not None:
                return [Send(self.last_response)]
        return []

    def _fire(self, name: str, at: float) -> list[Output]:
        if name == "J":
            self._terminate()
        return []


def build_non_2xx_ack(invite: Request, response: Response) -> Request:
    """The ACK a client transaction sends for a 3xx-6xx (RFC 3261 17.1.1.3)."""
    headers = Headers()
    headers.add("Via", invite.headers.get("Via") or "")
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", str(CSeq(invite.cseq.number, "ACK")))
    headers.add("Max-Forwards", "70")
    return Request(headers=headers, method="ACK", uri=invite.uri)


class InviteClientTransaction(Transaction):
    """RFC 3261 17.1.1 with RFC 6026's Accepted state."""

    kind = "ict"

    def __init__(
        self,
        request: Request,
        now: float,
        timers: TimerSettings | None = None,
        reliable: bool = False,
    ) -> None:
        super().__init__(request, timers or TimerSettings(), reliable)
        timers = self.timers
        self.state = "calling"
        self.ack: Request | None = None
        if not reliable:
            self._start("A", now + timers.t1, timers.t1)
        self._start("B", now + timers.timeout)

    def start(self) -> list[Output]:
        """The initial transmission of the INVITE."""
        return [Send(self.request)]

    def handle_message(self, message: Message, now: float) -> list[Output]:
        if not isinstance(message, Response):
            return []
        status = message.status
        if self.state in ("calling", "proceeding"):
            if status < 200:
                self.state = "proceeding"
                self._stop("A", "B")
                return [ResponseReceived(message)]
            if status < 300:
                self.state = "accepted"
                self._stop("A", "B")
                self._start("M", now + self.timers.timeout)
                return [ResponseReceived(message)]
            self.state = "completed"
            self._stop("A", "B")
            try:
                self.ack = build_non_2xx_ack(self.request, message)
            except ParseError:
                self._terminate()
                return [ResponseReceived(message)]
            if self.reliable:
                self._terminate()
            else:
                self._start("D", now + self.timers.timer_d)
            return [Send(self.ack), ResponseReceived(message)]
        if self.state == "accepted" and 200 <= status < 300:
            return [ResponseReceived(message)]
        if self.state == "completed" and status >= 300 and self.ack is not None:
            return [Send(self.ack)]
        return []

    def _fire(self, name: str, at: float) -> list[Output]:
        if name == "A" and self.state == "calling":
            interval = self._intervals["A"] * 2
            self._start("A", at + interval, interval)
            return [Send(self.request)]
        if name == "B" and self.state == "calling":
            self._terminate()
            return [TimedOut("B")]
        if name in ("D", "M"):
            self._terminate()
        return []


class NonInviteClientTransaction(Transaction):
    """RFC 3261 17.1.2: Trying -> Proceeding -> Completed -> Terminated."""

    kind = "nict"

    def __init__(
        self,
        request: Request,
        now: float,
        timers: TimerSettings | None = None,
        reliable: bool = False,
    ) -> None:
        super().__init__(request, timers or TimerSettings(), reliable)
        timers = self.timers
        self.state = "trying"
        if not reliable:
            self._start("E", now + timers.t1, timers.t1)
        self._start("F", now + timers.timeout)

    def start(self) -> list[Output]:
        return [Send(self.request)]

    def handle_message(self, message: Message, now: float) -> list[Output]:
        if not isinstance(message, Response) or self.state not in ("trying", "proceeding"):
            return []
        if message.status < 200:
            self.state = "proceeding"
            return [ResponseReceived(message)]
        self.state = "completed"
        self._stop("E", "F")
        if self.reliable:
            self._terminate()
        else:
            self._start("K", now + self.timers.t4)
        return [ResponseReceived(message)]

    def _fire(self, name: str, at: float) -> list[Output]:
        if name == "E" and self.state in ("trying", "proceeding"):
            if self.state == "trying":
                interval = min(self._intervals["E"] * 2, self.timers.t2)
            else:
                interval = self.timers.t2
            self._start("E", at + interval, interval)
            return [Send(self.request)]
        if name == "F" and self.state in ("trying", "proceeding"):
            self._terminate()
            return [TimedOut("F")]
        if name == "K":
            self._terminate()
        return []
