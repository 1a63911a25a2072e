"""SIP session timers (RFC 4028) on the SBC's A leg, per profile.

The A leg is a dialog we answered, so the server's UAS timer
(:class:`~dsm.runtime.sip.session_timer.SessionTimer`) does the protocol
work; this module only chooses its settings from the profile and runs its
deadline on the loop.  ``enable_aleg_session_timer`` turns it on (the
profile loader gives it ``enable_session_timer``'s value unless the file
sets it, so ``enable_aleg_session_timer=no`` keeps the A leg without a
timer while the B leg has one, :mod:`.bleg_timer`); the interval is
``aleg_session_expires`` (else ``session_expires``, else 120 s) and the
floor ``minimum_timer`` (else 90 s).  The caller's refreshes are relayed to
the callee like any re-INVITE/UPDATE and restart the clock; our own
refreshes (when we are the refresher) stay on the A leg; an expired session
ends the call (``SessionTimeout``).  ``maximum_timer`` caps the interval the
caller may ask for; ``session_refresh_method`` is how we refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from dsm.runtime.sbc.bleg_timer import leg_timer_config, timer_extras
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.session_timer import TimerConfig

__all__ = ["aleg_timer_config", "TimerClock"]


def aleg_timer_config(profile: CallProfile, defaults: Mapping[str, str] | None = None) -> TimerConfig | None:
    """The A leg's timer settings from ``profile``, or ``None`` when it has none.

    ``maximum_timer`` and ``session_refresh_method`` are the B leg's
    (:func:`~dsm.runtime.sbc.bleg_timer.timer_extras`; ``defaults``: sbc.conf).
    """
    if not profile.enable_aleg_session_timer:
        return None
    maximum, method = timer_extras(profile, defaults)
    interval = profile.aleg_session_expires or profile.session_expires or 120
    return leg_timer_config(interval, profile.minimum_timer or 90, maximum, method)


class TimerClock:
    """One call handle on the loop at the timer's deadline (re-armed after every change)."""

    def __init__(self, fire: Callable[[], None]) -> None:
        self.fire = fire
        self.handle: asyncio.TimerHandle | None = None

    def arm(self, deadline: float | None) -> None:
        self.cancel()
        if deadline is not None:
            self.handle = asyncio.get_running_loop().call_at(deadline, self._fired)

    def _fired(self) -> None:
        self.handle = None
        self.fire()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
