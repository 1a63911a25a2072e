"""Digest authentication by the SBC, and the B leg's INVITE that answers challenges.

A call profile may give the SBC credentials for each leg (the reference's
"SIP authentication"):

* ``enable_auth=yes``, ``auth_user``, ``auth_pwd``: a 401/407 from the
  callee to the B leg's INVITE, or to a request we send in the B leg's
  dialog, is answered once with digest credentials (MD5 or SHA-256,
  :mod:`dsm.runtime.sip.digest`); a second challenge goes back to the
  caller as the final answer (the credentials were refused);
* ``enable_aleg_auth=yes``, ``auth_aleg_user``, ``auth_aleg_pwd``: the same
  for requests we send to the caller in the A leg's dialog (a relayed
  re-INVITE, BYE, a session refresh).

The user and password are replacement patterns (``auth_user=$P(u)``),
evaluated against the caller's INVITE.  Without ``enable_auth`` the callee's
challenge goes back to the caller, who may answer it itself.  Credentials
are never logged: :class:`Credentials` hides the password in ``repr``.

:class:`BLegInvite` is the B leg's INVITE: it answers the challenge and,
with a B leg session timer, a ``422 Session Interval Too Small`` (once, with
the callee's ``Min-SE``, :meth:`~dsm.runtime.sbc.bleg_timer.BLegTimer.too_small`).
Unlike the B2B core's INVITE it does not follow 3xx: a redirect is the
caller's to follow.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from dsm.runtime.sbc.bleg_timer import BLegTimer
from dsm.runtime.sbc.patterns import PatternContext, evaluate
from dsm.runtime.sbc.profile import CallProfile, parse_bool
from dsm.runtime.sip.digest import AUTH_HEADERS
from dsm.runtime.sip.invite_retry import OutgoingInvite
from dsm.runtime.sip.message import Response

__all__ = ["Credentials", "LegAuthError", "leg_credentials", "check_auth_keys", "BLegInvite", "AUTH_KEYS"]

AUTH_KEYS = {
    "b": ("enable_auth", "auth_user", "auth_pwd"),
    "a": ("enable_aleg_auth", "auth_aleg_user", "auth_aleg_pwd"),
}
"""Per leg: the profile keys that switch authentication on and give user and password."""


class LegAuthError(ValueError):
    """A profile's authentication keys cannot be used for this call (the call is refused 500)."""


@dataclass(frozen=True)
class Credentials:
    """A digest user and password; the password stays out of ``repr`` (and so out of logs)."""

    user: str
    password: str = field(repr=False)

    def pair(self) -> tuple[str, str]:
        return self.user, self.password


def check_auth_keys(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Problems of a profile file's authentication keys as ``(key, message)`` (for the loader)."""
    problems: list[tuple[str, str]] = []
    for enable, user, _pwd in AUTH_KEYS.values():
        text = values.get(enable, "")
        if text and parse_bool(text) is None:
            problems.append((enable, f"{enable}: '{text}' is not yes or no"))
        elif parse_bool(text) and not values.get(user, ""):
            problems.append((enable, f"{enable}=yes needs {user}"))
    return problems


def leg_credentials(profile: CallProfile, ctx: PatternContext, leg: str) -> Credentials | None:
    """The credentials of leg ``"a"`` or ``"b"`` for this call, or ``None`` when it has none.

    Raises :class:`LegAuthError` when authentication is on but the keys do
    not give a user (a bad ``enable_*`` value, an empty evaluated user).
    """
    enable, user_key, pwd_key = AUTH_KEYS[leg]
    raw = profile.raw
    text = raw.get(enable, "")
    flag = parse_bool(text) if text else False
    if flag is None:
        raise LegAuthError(f"{enable}: '{text}' is not yes or no")
    if not flag:
        return None
    user = evaluate(raw.get(user_key, ""), ctx).strip()
    password = evaluate(raw.get(pwd_key, ""), ctx)
    if not user:
        raise LegAuthError(f"{enable}=yes but {user_key} is empty for this call")
    return Credentials(user, password)


class BLegInvite(OutgoingInvite):
    """The B leg's INVITE: re-sent for a digest challenge and for one 422; see the module docstring."""

    def __init__(
        self,
        *,
        ruri: str,
        from_: str,
        to: str | None,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]],
        call_id: str,
        local_tag: str,
        credentials: Credentials | None,
        timer: BLegTimer | None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            ruri=ruri, from_=from_, to=to, body=body, content_type=content_type, headers=headers,
            call_id=call_id, auth_user=credentials.user if credentials else "",
            auth_pwd=credentials.password if credentials else "", rng=rng,
            ack_later=not body,  # late offer: the caller's ACK brings the answer
        )  # fmt: skip
        self.local_tag = local_tag
        self.timer = timer
        self.retried_422 = False

    def retry(self, response: Response | None) -> bool:
        """Whether the failed INVITE goes again: a challenge we answer, or the first 422."""
        if response is None:
            return False
        if response.status in AUTH_HEADERS:
            return self._authenticate(response)
        if response.status == 422 and self.timer is not None and not self.retried_422:
            if not self.timer.too_small(response):
                return False
            self.retried_422 = True
            self.cseq += 1
            self.headers = self.timer.invite_headers(self.headers)
            return True
        return False
