"""Literal profile values the contract's stand-in ``plan_leg`` does not apply yet.

The relay sends what :func:`~dsm.runtime.sbc.profile.plan_leg` plans.  Its
stand-in (until the profiles work lands) plans a transparent call whatever
the profile says; :func:`complete_plan` fills in the profile's *literal*
values (no ``$`` pattern in them) for ``RURI``, ``From``, ``To``,
``Call-ID``, ``next_hop``, the caller's headers (filtered), ``enable_rtp_relay`` and ``call_timer`` where the
plan left the transparent value.  With the full ``plan_leg`` every one of
them is already in the plan and this function changes nothing.
"""

from __future__ import annotations

import dataclasses

from dsm.runtime.sbc.profile import CallProfile, LegPlan, filter_headers
from dsm.runtime.sip.b2b import relayed_headers
from dsm.runtime.sip.message import Request

__all__ = ["complete_plan"]


def _literal(value: str) -> bool:
    return bool(value) and "$" not in value


def complete_plan(plan: LegPlan, profile: CallProfile, invite: Request) -> LegPlan:
    changes: dict[str, object] = {}
    if _literal(profile.ruri) and plan.ruri == invite.uri:
        changes["ruri"] = profile.ruri
    if _literal(profile.from_) and plan.from_ == (invite.headers.get("From") or ""):
        changes["from_"] = profile.from_
    if _literal(profile.to) and plan.to == (invite.headers.get("To") or ""):
        changes["to"] = profile.to
    if _literal(profile.call_id) and plan.call_id != profile.call_id:
        changes["call_id"] = profile.call_id
    if _literal(profile.next_hop) and not plan.destination:
        changes["destination"] = profile.next_hop
    if not plan.headers:
        changes["headers"] = tuple(filter_headers(profile, relayed_headers(invite)))
    if profile.enable_rtp_relay and not plan.rtp_relay:
        changes["rtp_relay"] = True
    if profile.enable_call_timer and not plan.call_timer and profile.call_timer.strip().isdigit():
        changes["call_timer"] = int(profile.call_timer)
    return dataclasses.replace(plan, **changes) if changes else plan  # type: ignore[arg-type]
