"""RFC 4028 session timers for the calls we answer, as a plain state machine.

``config.md`` K-24 … K-29: with ``enable_session_timer=yes`` every call
session gets session-timer handling.  The interval is negotiated from the
INVITE (``Session-Expires``, ``Min-SE``, ``Supported: timer``) and the main
configuration (``session_expires``, ``minimum_timer``, ``maximum_timer``);
one side, the *refresher*, re-sends the session (re-INVITE or UPDATE,
``session_refresh_method``) at half the interval, and the other side ends
the call when no refresh came in time.  For a DSM call "ending" means the
``SessionTimeout`` event (``actions.md`` C-core-21), whose default (unless
``#processed``) is BYE and stop.

Choices where RFC 4028 leaves room (a voice engineer moving from SEMS gets
what the reference's plug-in does):

* a ``Session-Expires`` below our ``minimum_timer`` is refused with ``422``
  and our ``Min-SE`` (RFC 4028 section 9); above ``maximum_timer`` it is
  lowered to it;
* an INVITE without ``Session-Expires`` gets our ``session_expires`` (never
  below the request's ``Min-SE``);
* without a ``refresher`` parameter the UAC refreshes if it supports
  ``timer``, otherwise we do (a UAC without ``timer`` cannot be asked to);
* a refresh answered ``501`` counts as a success unless ``accept_501_reply``
  is ``no`` (K-29); ``422`` makes us retry once with the peer's ``Min-SE``;
  ``408``/``481`` mean the peer is gone (RemoteDisappeared, E-151).

RFC 4028 puts a floor of 90 s under ``Min-SE``; the configuration may set
lower values (the reference does not check), which is what tests use.

The class is fed the requests and responses and the time; it answers with
header lists, refusals and deadlines.  No sockets, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsm.runtime.sip.message import Message, Request

__all__ = ["TimerConfig", "Refusal", "RefreshClock", "SessionTimer", "parse_session_expires"]

REFRESH_METHODS = ("INVITE", "UPDATE", "UPDATE_FALLBACK_INVITE")


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """K-25 … K-29 of the main configuration."""

    session_expires: int = 120
    min_se: int = 90
    max_se: int = 900
    refresh_method: str = "UPDATE_FALLBACK_INVITE"
    accept_501: bool = True

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TimerConfig:
        """From :attr:`dsm.runtime.config.Config.session_timer`; ``ValueError`` when invalid (K-24)."""
        method = str(settings.get("session_refresh_method", "UPDATE_FALLBACK_INVITE"))
        if method not in REFRESH_METHODS:
            raise ValueError(
                f"session_refresh_method must be one of {', '.join(REFRESH_METHODS)}, not {method!r}"
            )
        config = cls(
            int(settings.get("session_expires", 120)),
            int(settings.get("minimum_timer", 90)),
            int(settings.get("maximum_timer", 900)),
            method,
            bool(settings.get("accept_501_reply", True)),
        )
        if min(config.session_expires, config.min_se, config.max_se) <= 0:
            raise ValueError("session timer intervals must be positive")
        return config


@dataclass(frozen=True, slots=True)
class Refusal:
    """The reply that refuses a request: ``422`` with our ``Min-SE``."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]


def parse_session_expires(value: str | None) -> tuple[int, str | None] | None:
    """``"1800;refresher=uac"`` -> ``(1800, "uac")``; ``None`` when absent or unreadable."""
    if not value:
        return None
    first, *params = value.split(";")
    first = first.strip()
    if not first.isdigit():
        return None
    refresher: str | None = None
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher" and val.strip().lower() in ("uac", "uas"):
            refresher = val.strip().lower()
    return int(first), refresher


def _min_se(message: Message) -> int:
    value = (message.headers.get("Min-SE") or "").split(";")[0].strip()
    return int(value) if value.isdigit() else 0


def _has_tag(message: Message, header: str, tag: str) -> bool:
    return any(
        t.strip().lower() == tag for v in message.headers.get_all(header) for t in v.split(",")
    )


class RefreshClock:
    """The clock of one leg's session timer, whichever side of the INVITE we were.

    ``refresher`` names the refreshing side as the initial INVITE's roles
    (``"uac"``/``"uas"``); :attr:`our_role` is ours, so :attr:`we_refresh`
    says whether the refreshes are ours.  :attr:`deadline` is when
    :meth:`due` has something to do.  Subclasses negotiate; the clock,
    the refresh method and the failures of our refreshes are the same.
    """

    our_role = "uas"

    def __init__(self, config: TimerConfig, interval: int, refresher: str) -> None:
        self.config = config
        self.interval = interval
        self.refresher = refresher
        self.peer_allows_update = False
        self.deadline: float | None = None
        self.refreshing = False
        self._retried = False

    @property
    def we_refresh(self) -> bool:
        return self.refresher == self.our_role

    def start(self, now: float) -> None:
        """The session was (re)established at ``now``: set the next deadline."""
        self.refreshing = False
        self._retried = False
        if self.we_refresh:
            self.deadline = now + self.interval / 2
        else:
            self.deadline = now + self.interval - min(32.0, self.interval / 3)

    def stop(self) -> None:
        self.deadline = None

    def due(self, now: float) -> str | None:
        """``"refresh"`` (send one), ``"expired"`` (SessionTimeout) or ``None`` (not yet)."""
        if self.deadline is None or now < self.deadline:
            return None
        if self.we_refresh and not self.refreshing:
            self.refreshing = True
            # If the refresh gets no answer, the session expires like the peer's would.
            self.deadline = now + self.interval / 2 - min(32.0, self.interval / 3)
            return "refresh"
        self.deadline = None
        return "expired"

    def refresh_method(self) -> str:
        method = self.config.refresh_method
        if method == "UPDATE_FALLBACK_INVITE":
            return "UPDATE" if self.peer_allows_update else "INVITE"
        return method

    def refresh_headers(self) -> list[tuple[str, str]]:
        return [
            ("Session-Expires", f"{self.interval};refresher={self.our_role}"),
            ("Min-SE", str(self.config.min_se)),
            ("Supported", "timer"),
        ]

    def _refresh_not_ok(self, status: int, response: Message) -> str:
        """A refresh that did not succeed: ``"retry"`` once after 422, ``"gone"`` or ``"failed"``."""
        if status == 422 and not self._retried:
            self._retried = True
            self.interval = max(self.interval, _min_se(response))
            return "retry"
        if status in (408, 481):
            self.deadline = None
            return "gone"
        return "failed"


class SessionTimer(RefreshClock):
    """The session timer of one call we answered; see the module docstring.

    ``refresher`` is ``"uac"`` (the caller refreshes) or ``"uas"`` (we do),
    seen from the initial INVITE; :attr:`we_refresh` says which role is ours.
    :attr:`deadline` is when :meth:`due` has something to do.
    """

    def __init__(self, config: TimerConfig, interval: int, refresher: str, peer_timer: bool) -> None:
        super().__init__(config, interval, refresher)
        self.peer_timer = peer_timer

    # -- the INVITE and the peer's refreshes --------------------------------------------
    @classmethod
    def negotiate(cls, config: TimerConfig, request: Request) -> SessionTimer | Refusal:
        """The timer for an initial INVITE, or the 422 refusing it."""
        timer = cls(config, config.session_expires, "uas", _has_tag(request, "Supported", "timer"))
        refusal = timer._take_request(request)
        return refusal if refusal is not None else timer

    def peer_refresh(self, request: Request, now: float) -> Refusal | None:
        """A re-INVITE or UPDATE from the peer: renegotiate and restart the clock."""
        refusal = self._take_request(request)
        if refusal is None:
            self.start(now)
        return refusal

    def _take_request(self, request: Request) -> Refusal | None:
        cfg = self.config
        self.peer_timer = self.peer_timer or _has_tag(request, "Supported", "timer")
        allow = request.headers.get_all("Allow")
        if allow:
            self.peer_allows_update = any(
                m.strip().upper() == "UPDATE" for v in allow for m in v.split(",")
            )
        asked = parse_session_expires(request.headers.get("Session-Expires"))
        if asked is not None and asked[0] < cfg.min_se:
            return Refusal(422, "Session Interval Too Small", (("Min-SE", str(cfg.min_se)),))
        if asked is None:
            interval, refresher = max(cfg.session_expires, _min_se(request)), None
        else:
            interval, refresher = min(asked[0], cfg.max_se), asked[1]
            interval = max(interval, _min_se(request), cfg.min_se)
        self.interval = interval
        if refresher is None:
            refresher = "uac" if self.peer_timer else "uas"
        self.refresher = refresher
        return None

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers of our 2xx to the INVITE (or to a refresh)."""
        out = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.peer_timer:
            out.append(("Require", "timer"))
        return out

    # -- our refreshes --------------------------------------------------------------------
    def refresh_answered(self, status: int, response: Message, now: float) -> str:
        """A final response to our refresh: ``"ok"``, ``"retry"``, ``"gone"`` or ``"failed"``."""
        if 200 <= status < 300 or (status == 501 and self.config.accept_501):
            got = parse_session_expires(response.headers.get("Session-Expires"))
            if got is not None:
                self.interval = got[0]
                self.refresher = "uas" if got[1] in (None, "uas") else "uac"
            self.start(now)
            return "ok"
        return self._refresh_not_ok(status, response)
