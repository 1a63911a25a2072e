"""The host's subscription service: :class:`Subscription` dialogs on the SIP core, events to sessions.

A SIP-serving host installs a :class:`SipSubscriptions` as
``engine.subscriptions``; ``mod_subscription`` asks it to ``create``,
``refresh`` and ``remove`` subscriptions for a session.  This is the thin
asyncio shell: SUBSCRIBEs go out through the core's client transactions
(:meth:`UserAgentServer.send_outside_call`), NOTIFYs come in through its
``dialog_requests`` hook, the deadlines of all subscriptions share one
``loop.call_at`` handle, and every :class:`StatusChange` becomes a
``SIPSubscription`` event of the creating session (C-core-25) with the NOTIFY
body as object ``SipSubscriptionBody``.  ``#expires`` is, as in the
reference, the expiry as a Unix time stamp (0 when there is none).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from dsm.runtime.sip.message import Request
from dsm.runtime.sip.subscription import (
    BODY_OBJECT,
    StatusChange,
    Subscription,
    SubscriptionBody,
    SubscriptionTarget,
    notify_target,
)
from dsm.runtime.sip.useragent import RequestFailed, ResponseToRequest, UserAgentError

__all__ = ["SipSubscriptions"]


class SipSubscriptions:
    """Every subscription of a SIP host, keyed by Call-ID; see the module docstring.

    ``calls`` is the host's :class:`~dsm.runtime.sip.sipcall.SipCalls` (the
    core, its ``run``, ``now``, ``rng`` and log).  ``wall`` gives the Unix
    time for ``#expires``.
    """

    def __init__(self, calls: Any, *, wall: Callable[[], float] = time.time) -> None:
        self.calls = calls
        self.wall = wall
        self.by_call_id: dict[str, Subscription] = {}
        self.by_handle: dict[str, Subscription] = {}
        self.sessions: dict[str, Any] = {}
        self._timer: asyncio.TimerHandle | None = None
        calls.core.dialog_requests = self.on_request

    # -- the service mod_subscription asks --------------------------------------------------
    def create(self, session: Any, target: SubscriptionTarget, expires: int = 0) -> str:
        """Send the first SUBSCRIBE; returns the handle. Raises :class:`ValueError` when it cannot."""
        if not target.domain or not target.user:
            raise ValueError("a subscription needs a user and a domain")
        core = self.calls.core
        rng = self.calls.rng
        call_id = f"{rng.getrandbits(64):016x}@{self.calls.host}"
        handle = f"{rng.getrandbits(64):016x}"
        sub = Subscription(
            target,
            call_id,
            handle,
            core.contact,
            t1=core.timers.t1,
            user_agent=core.user_agent,
        )
        destination = sub.destination()
        request = sub.subscribe(self.calls.now(), expires)
        self.by_call_id[call_id] = sub
        self.by_handle[handle] = sub
        self.sessions[handle] = session
        try:
            self._send(sub, request, destination)
        except (UserAgentError, ValueError):
            self._forget(sub)
            raise
        self._log(sub, f"SUBSCRIBE {sub.remote_uri} event {target.event!r}")
        return handle

    def refresh(self, handle: str, expires: int = 0) -> bool:
        """A new SUBSCRIBE in the dialog; ``False`` for an unknown or ended subscription."""
        sub = self.by_handle.get(handle)
        if sub is None or sub.terminated:
            return False
        try:
            self._send(sub, sub.subscribe(self.calls.now(), expires), sub.destination())
        except (UserAgentError, ValueError) as exc:
            self._log(sub, f"refresh not sent: {exc}", "warn")
            return False
        return True

    def remove(self, handle: str) -> None:
        """SUBSCRIBE with ``Expires: 0``; no more events for it (unknown handles are ignored)."""
        sub = self.by_handle.get(handle)
        if sub is None:
            return
        was_active = not sub.terminated
        self.sessions.pop(handle, None)
        if was_active:
            try:
                self._send(sub, sub.unsubscribe(), sub.destination())
            except (UserAgentError, ValueError) as exc:
                self._log(sub, f"unsubscribe not sent: {exc}", "warn")
        sub.removed = True
        sub.state = "terminated"
        if not sub.pending:
            self._forget(sub)

    # -- the core's side ---------------------------------------------------------------------
    def on_request(self, request: Request, now: float) -> int | None:
        """The core's ``dialog_requests`` hook: NOTIFYs of our subscriptions (else ``None``)."""
        key = notify_target(request)
        sub = self.by_call_id.get(key[0]) if key is not None else None
        if sub is None or key is None or key[1] != sub.handle:
            return None
        status, changes = sub.on_notify(request, now)
        self._report(sub, changes)
        self._arm()
        return status

    def on_event(self, event: object) -> bool:
        """Answers to our SUBSCRIBEs; ``True`` when the event was one of ours."""
        if not isinstance(event, ResponseToRequest | RequestFailed):
            return False
        sub = self.by_call_id.get(event.call_id)
        if sub is None or event.request.method != "SUBSCRIBE":
            return False
        response = event.response if isinstance(event, ResponseToRequest) else None
        if response is not None and response.status in (401, 407):
            cnonce = f"{self.calls.rng.getrandbits(64):016x}"
            again = sub.authenticate(event.request, response, cnonce)
            if again is not None:
                try:
                    self._send(sub, again, sub.destination())
                    return True
                except (UserAgentError, ValueError) as exc:
                    self._log(sub, f"authenticated SUBSCRIBE not sent: {exc}", "warn")
        self._report(sub, sub.on_response(event.request, response, self.calls.now()))
        if sub.removed and not sub.pending:
            self._forget(sub)
        self._arm()
        return True

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, sub: Subscription, request: Request, destination: tuple[str, int]) -> None:
        self.calls.run(
            lambda now: self.calls.core.send_outside_call(
                sub.call_id, request, destination, now=now
            )
        )
        self._arm()

    def _report(self, sub: Subscription, changes: list[StatusChange]) -> None:
        session = self.sessions.get(sub.handle)
        for change in changes:
            self._log(sub, f"status {change.status} {change.code or ''}".rstrip())
            if session is None or session.ended:
                continue
            expires = int(self.wall() + change.expires_in) if change.expires_in else 0
            params = {
                "status": change.status,
                "code": str(change.code),
                "reason": change.reason,
                "expires": str(expires),
                "has_body": "true" if change.body else "false",
            }
            objects = (
                {BODY_OBJECT: SubscriptionBody(change.content_type, change.body)}
                if change.body
                else None
            )
            session.deliver("SIPSubscription", params, objects=objects)
        if sub.terminated and not sub.pending:
            self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        self.by_call_id.pop(sub.call_id, None)
        self.by_handle.pop(sub.handle, None)
        self.sessions.pop(sub.handle, None)

    def _arm(self) -> None:
        """One loop timer at the earliest deadline of all subscriptions."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        times = [t for sub in self.by_call_id.values() if (t := sub.next_timeout()) is not None]
        if times:
            self._timer = asyncio.get_running_loop().call_at(min(times), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.calls.now()
        for sub in list(self.by_call_id.values()):
            self._report(sub, sub.on_timeout(now))
        self._arm()

    def _log(self, sub: Subscription, msg: str, level: str = "info") -> None:
        self.calls.log("subscription", level, call=sub.call_id, handle=sub.handle, msg=msg)
