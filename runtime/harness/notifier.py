"""The harness's subscription service: the test plays the notifier of ``mod_subscription``.

Installed as ``engine.subscriptions`` by :class:`~dsm.runtime.harness.Harness`
(as ``engine.dialout`` is for ``dlg.dialout``).  ``subscription.create``
records a :class:`SimSubscription`; the test then answers as a notifier
would, and each answer becomes the creating session's ``SIPSubscription``
event (C-core-25) with the same rules as over SIP::

    h = Harness("scripts")
    call = h.call("push")
    (sub,) = h.subscriptions.live()
    h.subscriptions.notify(sub.handle, "active", expires=60, body=b"<reginfo .../>")
    h.subscriptions.fail(sub.handle, 404, "Not Found")

``#expires`` is the virtual clock's time plus the expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dsm.runtime.sip.subscription import BODY_OBJECT, SubscriptionBody, SubscriptionTarget

__all__ = ["SimSubscription", "SimSubscriptions"]


@dataclass(slots=True)
class SimSubscription:
    """One subscription a script created; ``expires`` are the values of its SUBSCRIBEs in order."""

    handle: str
    session: Any
    target: SubscriptionTarget
    expires: list[int] = field(default_factory=list)
    state: str = "notify_wait"
    removed: bool = False

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"


class SimSubscriptions:
    """Every subscription of the harness's sessions; see the module docstring."""

    def __init__(
        self,
        now: Callable[[], float],
        pump: Callable[[], None],
        note: Callable[[str, str, str], None],
    ) -> None:
        self.now = now
        self.pump = pump
        self.note = note
        self.all: dict[str, SimSubscription] = {}

    # -- the service mod_subscription asks ------------------------------------------------------
    def create(self, session: Any, target: SubscriptionTarget, expires: int = 0) -> str:
        if not target.domain or not target.user:
            raise ValueError("a subscription needs a user and a domain")
        handle = f"sub{len(self.all) + 1}"
        self.all[handle] = SimSubscription(handle, session, target, [expires])
        self.note(
            session.id, "subscribe", f"sip:{target.user}@{target.domain} event {target.event!r}"
        )
        return handle

    def refresh(self, handle: str, expires: int = 0) -> bool:
        sub = self.all.get(handle)
        if sub is None or sub.terminated:
            return False
        sub.expires.append(expires)
        self.note(sub.session.id, "subscribe", f"refresh {handle} expires {expires}")
        return True

    def remove(self, handle: str) -> None:
        sub = self.all.get(handle)
        if sub is not None and not sub.removed:
            sub.removed = True
            sub.state = "terminated"
            self.note(sub.session.id, "subscribe", f"remove {handle} (Expires: 0)")

    # -- the test as notifier ----------------------------------------------------------------
    def live(self) -> list[SimSubscription]:
        """The subscriptions not ended or removed, oldest first."""
        return [s for s in self.all.values() if not s.terminated]

    def notify(
        self,
        handle: str,
        state: str,
        *,
        expires: int = 0,
        body: bytes = b"",
        content_type: str = "application/octet-stream",
    ) -> int:
        """A NOTIFY with ``Subscription-State: <state>;expires=<expires>``; returns our answer (200 or 481).

        As over SIP, ``active``/``pending`` without an expiry above 0 end the subscription.
        """
        sub = self.all.get(handle)
        if sub is None or sub.terminated:
            return 481
        if expires > 0 and state in ("active", "pending"):
            sub.state = state
            self._event(
                sub, state, expires_at=int(self.now() + expires), body=body, ctype=content_type
            )
        else:
            sub.state = "terminated"
            self._event(sub, "terminated", body=body, ctype=content_type)
        return 200

    def fail(self, handle: str, code: int, reason: str) -> None:
        """A final failure to the SUBSCRIBE: ``failed`` with ``code`` and ``reason``."""
        sub = self.all[handle]
        if not sub.terminated:
            sub.state = "terminated"
            self._event(sub, "failed", code=code, reason=reason)

    def timeout(self, handle: str) -> None:
        """The subscription expired (or Timer N passed): ``timeout``."""
        sub = self.all[handle]
        if not sub.terminated:
            sub.state = "terminated"
            self._event(sub, "timeout")

    def _event(
        self,
        sub: SimSubscription,
        status: str,
        *,
        code: int = 0,
        reason: str = "",
        expires_at: int = 0,
        body: bytes = b"",
        ctype: str = "",
    ) -> None:
        session = sub.session
        if sub.removed or session.ended:
            return
        params = {
            "status": status,
            "code": str(code),
            "reason": reason,
            "expires": str(expires_at),
            "has_body": "true" if body else "false",
        }
        objects = {BODY_OBJECT: SubscriptionBody(ctype, body)} if body else None
        self.note(session.id, "subscription", f"{sub.handle} {status}")
        session.deliver("SIPSubscription", params, objects=objects)
        self.pump()
