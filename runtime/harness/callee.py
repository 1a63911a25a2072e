"""The simulated B leg created by ``B2B.connectCallee``.

In a DSM B2B call the callee leg is not itself a DSM session: what the script
sees of it are the ``B2B.otherReply`` and ``B2B.otherBye`` events
(``engine.md`` E-151).  A test drives the callee with :meth:`ring`,
:meth:`answer`, :meth:`reject` and :meth:`hangup`; each raises the event the
A leg's script would get from a real callee.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SimCallee"]

_REASONS = {
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    503: "Service Unavailable",
    603: "Decline",
}


class SimCallee:
    """The other leg of a B2B call, as the test sees it."""

    def __init__(
        self, to: str, request_uri: str, deliver: Callable[[str, dict[str, str]], None]
    ) -> None:
        self.to = to
        self.request_uri = request_uri
        self.state = "calling"  # calling -> ringing -> connected | failed -> ended
        self.events: list[dict[str, str]] = []
        self._deliver = deliver

    def _reply(self, code: int, reason: str | None, hdrs: str = "") -> None:
        self._deliver(
            "B2BOtherReply",
            {"code": str(code), "reason": reason or _REASONS.get(code, ""), "hdrs": hdrs},
        )

    def ring(self, code: int = 180) -> None:
        """The callee rings (180) or sends early media (183)."""
        self.state = "ringing"
        self._reply(code, None)

    def answer(self) -> None:
        """The callee picks up: 200 OK in the other leg."""
        self.state = "connected"
        self._reply(200, None)

    def reject(self, code: int = 486, reason: str | None = None) -> None:
        """The callee refuses the call with a final error reply."""
        self.state = "failed"
        self._reply(code, reason)

    def hangup(self) -> None:
        """The callee hangs up: BYE in the other leg (``B2B.otherBye``)."""
        self.state = "ended"
        self._deliver("B2BOtherBye", {"hdrs": ""})

    # called by the A leg's SimCall
    def terminated_by_a(self) -> None:
        self.state = "ended"

    def relay_event(self, params: dict[str, str]) -> None:
        self.events.append(dict(params))

    def __repr__(self) -> str:
        return f"<SimCallee {self.to} {self.state}>"
