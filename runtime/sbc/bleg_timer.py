"""SIP session timers (RFC 4028) on the SBC's B leg, per profile.

On the B leg we are the UAC, so the negotiation runs the other way round
from the A leg's (:mod:`.relay_timer`): our INVITE proposes
``Session-Expires`` (the profile's ``session_expires``, else 120 s) with
``Min-SE`` (``minimum_timer``, else 90 s) and ``Supported: timer``; the
callee's 2xx decides the interval and the refresher (``refresher=uac`` is
us).  A 2xx without ``Session-Expires`` (a callee without timer support)
leaves us the refresher at our own interval (RFC 4028 7.2).  The callee's
refreshes (re-INVITE/UPDATE with ``Session-Expires``) restart the clock;
ours are sent half-way through the interval; an expired session ends the
call.  A 422 to the initial INVITE is relayed to the caller, not retried.

Plain state machine: fed responses, requests and the time; the shell runs
the deadline (:class:`~dsm.runtime.sbc.relay_timer.TimerClock`).
"""

from __future__ import annotations

from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.message import Message, Request
from dsm.runtime.sip.session_timer import RefreshClock, Refusal, TimerConfig, parse_session_expires

__all__ = ["BLegTimer", "bleg_timer_config", "TIMER_HEADERS", "without_timer_headers"]

TIMER_HEADERS = frozenset({"session-expires", "x", "min-se"})
"""Headers of one leg's timer negotiation that must not cross to the other leg."""


def bleg_timer_config(profile: CallProfile) -> TimerConfig | None:
    """The B leg's timer settings from ``profile`` (``enable_session_timer``), or ``None``."""
    if not profile.enable_session_timer:
        return None
    interval = profile.session_expires or 120
    floor = profile.minimum_timer or 90
    return TimerConfig(session_expires=interval, min_se=min(floor, interval), max_se=max(interval, 900))


def without_timer_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without Session-Expires/Min-SE and without ``timer`` in Require.

    Used where a leg has a timer of its own: the other leg's negotiation is
    not relayed over it (it would contradict ours).
    """
    out: list[tuple[str, str]] = []
    for name, value in headers:
        low = name.lower()
        if low in TIMER_HEADERS:
            continue
        if low == "require":
            tags = [t.strip() for t in value.split(",") if t.strip() and t.strip().lower() != "timer"]
            if not tags:
                continue
            value = ", ".join(tags)
        out.append((name, value))
    return out


def _allows_update(message: Message) -> bool | None:
    allow = message.headers.get_all("Allow")
    if not allow:
        return None
    return any(m.strip().upper() == "UPDATE" for v in allow for m in v.split(","))


class BLegTimer(RefreshClock):
    """The session timer of the B leg (we sent its INVITE, so our role is ``uac``); see the
    module docstring.  :attr:`deadline` is when :meth:`due` has something to do;
    :attr:`we_refresh` says whether the refreshes are ours.
    """

    our_role = "uac"

    def __init__(self, config: TimerConfig) -> None:
        super().__init__(config, config.session_expires, "uac")
        self.active = False

    # -- negotiation ----------------------------------------------------------------------
    def invite_headers(self, relayed: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Our headers for the B leg's INVITE: ``relayed`` (the caller's timer headers removed)
        plus ours; ``Supported: timer`` only when no relayed Supported already lists it."""
        headers = without_timer_headers(relayed)
        headers.append(("Session-Expires", str(self.config.session_expires)))
        headers.append(("Min-SE", str(self.config.min_se)))
        supported = (t.strip().lower() for n, v in headers if n.lower() in ("supported", "k") for t in v.split(","))
        if "timer" not in supported:
            headers.append(("Supported", "timer"))
        return headers

    def answered(self, response: Message, now: float) -> None:
        """The callee's 2xx to the INVITE (or to our refresh): interval and refresher, clock restarts."""
        got = parse_session_expires(response.headers.get("Session-Expires"))
        if got is None:
            self.interval, self.refresher = self.config.session_expires, "uac"
        else:
            self.interval = max(got[0], 1)
            self.refresher = "uac" if got[1] in (None, "uac") else "uas"
        allows = _allows_update(response)
        if allows is not None:
            self.peer_allows_update = allows
        self.active = True
        self.start(now)

    def peer_refresh(self, request: Request, now: float) -> Refusal | None:
        """The callee's re-INVITE/UPDATE: a too small interval is refused 422, else the clock restarts."""
        asked = parse_session_expires(request.headers.get("Session-Expires"))
        if asked is not None and asked[0] < self.config.min_se:
            return Refusal(422, "Session Interval Too Small", (("Min-SE", str(self.config.min_se)),))
        if asked is not None:
            self.interval = asked[0]
            # refresher=uac in the callee's request means the callee; absent, the sender refreshes
            self.refresher = "uac" if asked[1] == "uas" else "uas"
        allows = _allows_update(request)
        if allows is not None:
            self.peer_allows_update = allows
        self.start(now)
        return None

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers of our 2xx to the callee's refresh (roles seen from that request)."""
        refresher = "uas" if self.we_refresh else "uac"
        return [("Session-Expires", f"{self.interval};refresher={refresher}"), ("Require", "timer")]

    # -- our refreshes ----------------------------------------------------------------------
    def refresh_answered(self, status: int, response: Message, now: float) -> str:
        """A final response to our refresh: ``"ok"``, ``"retry"``, ``"gone"`` or ``"failed"``."""
        if 200 <= status < 300 or (status == 501 and self.config.accept_501):
            if 200 <= status < 300:
                self.answered(response, now)
            else:
                self.start(now)
            return "ok"
        return self._refresh_not_ok(status, response)
