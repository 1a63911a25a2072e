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
call.  A 422 to the initial INVITE is answered once: the INVITE goes again
with the callee's ``Min-SE`` as interval and floor (:meth:`BLegTimer.too_small`,
sent by :class:`~dsm.runtime.sbc.leg_auth.BLegInvite`), unless that is above
``maximum_timer``; a second 422 goes back to the caller.

``maximum_timer`` (else 900 s, at least the interval) caps the interval a
callee's refresh may ask for; ``session_refresh_method`` (``UPDATE``,
``INVITE`` or ``UPDATE_FALLBACK_INVITE``, the default: UPDATE when the
callee's ``Allow`` lists it) is how we refresh.  Both may be set in
``sbc.conf`` and overridden by the profile, as the other timer keys.

Plain state machine: fed responses, requests and the time; the shell runs
the deadline (:class:`~dsm.runtime.sbc.relay_timer.TimerClock`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.message import Message, Request
from dsm.runtime.sip.session_timer import (
    REFRESH_METHODS,
    RefreshClock,
    Refusal,
    TimerConfig,
    parse_session_expires,
)

__all__ = [
    "BLegTimer",
    "bleg_timer_config",
    "timer_extras",
    "check_timer_keys",
    "TIMER_HEADERS",
    "without_timer_headers",
]

TIMER_HEADERS = frozenset({"session-expires", "x", "min-se"})
"""Headers of one leg's timer negotiation that must not cross to the other leg."""


EXTRA_KEYS = ("maximum_timer", "session_refresh_method")
"""Timer keys without a :class:`CallProfile` field: read from the profile file, else ``sbc.conf``."""


def check_timer_keys(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Problems of ``maximum_timer``/``session_refresh_method`` in a file, as ``(key, message)``."""
    problems: list[tuple[str, str]] = []
    top = values.get("maximum_timer", "")
    if top and not (top.isascii() and top.isdigit() and int(top) > 0):
        problems.append(("maximum_timer", f"maximum_timer: '{top}' is not a number of seconds"))
    method = values.get("session_refresh_method", "")
    if method and method not in REFRESH_METHODS:
        problems.append(
            ("session_refresh_method", f"session_refresh_method: '{method}' is not one of {', '.join(REFRESH_METHODS)}")
        )
    return problems


def timer_extras(profile: CallProfile, defaults: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``(maximum_timer or 0, session_refresh_method)`` of ``profile`` (else ``defaults``, sbc.conf).

    A value the loader did not check (a profile changed at run time) falls
    back to the default rather than failing the call.
    """
    values = dict(defaults or {})
    values.update({k: v for k, v in profile.raw.items() if k in EXTRA_KEYS and v})
    top = values.get("maximum_timer", "")
    maximum = int(top) if top.isascii() and top.isdigit() else 0
    method = values.get("session_refresh_method", "")
    return maximum, method if method in REFRESH_METHODS else "UPDATE_FALLBACK_INVITE"


def bleg_timer_config(profile: CallProfile, defaults: Mapping[str, str] | None = None) -> TimerConfig | None:
    """The B leg's timer settings from ``profile`` (``enable_session_timer``), or ``None``.

    ``defaults`` are ``sbc.conf``'s values (``maximum_timer``,
    ``session_refresh_method`` when the profile does not set them).
    """
    if not profile.enable_session_timer:
        return None
    maximum, method = timer_extras(profile, defaults)
    interval = profile.session_expires or 120
    if maximum:
        interval = min(interval, maximum)
    return leg_timer_config(interval, profile.minimum_timer or 90, maximum, method)


def leg_timer_config(interval: int, floor: int, maximum: int, method: str) -> TimerConfig:
    """One leg's :class:`TimerConfig`: ``Min-SE`` never above the interval, the cap 900 s unless set."""
    return TimerConfig(
        session_expires=interval,
        min_se=min(floor, interval),
        max_se=max(interval, maximum or 900),
        refresh_method=method,
    )


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

    def too_small(self, response: Message) -> bool:
        """A 422 to our INVITE: take the callee's ``Min-SE`` as interval and floor; ``False`` when
        it gives none we can use (missing, not above our interval, or above ``maximum_timer``)."""
        text = (response.headers.get("Min-SE") or "").split(";")[0].strip()
        if not (text.isascii() and text.isdigit()):
            return False
        wanted = int(text)
        if wanted <= self.config.session_expires or wanted > self.config.max_se:
            return False
        self.config = dataclasses.replace(
            self.config, session_expires=max(wanted, self.config.session_expires), min_se=wanted
        )
        self.interval = self.config.session_expires
        return True

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
            self.interval = min(asked[0], self.config.max_se)
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
