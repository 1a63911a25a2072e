"""mod_subscription — outgoing SIP subscriptions (``modules.md`` section 13).

``subscription.create(p)`` reads ``$<p>.*`` and asks the host's subscription
service (``engine.subscriptions``; a SIP server provides
:class:`dsm.runtime.sip.subscriber.SipSubscriptions`, the test harness a
simulated notifier) to SUBSCRIBE; status changes arrive at the creating
session as ``SIPSubscription`` events (C-core-25).  ``refresh`` sends a new
SUBSCRIBE in the dialog and ``remove`` unsubscribes (``Expires: 0``).

REFERENCE QUIRKS kept: every ``$<p>.<name>`` that ``create`` reads and that
is missing is created empty; an unreadable ``expires`` counts as 0 (the
notifier's default expiry, no Expires header); ``remove`` never touches
``$errno``.
"""

from __future__ import annotations

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module
from dsm.runtime.sip.subscription import SubscriptionTarget
from dsm.runtime.values import parse_uint

__all__ = ["module"]

module = Module("mod_subscription", "outgoing SIP subscriptions (SUBSCRIBE/NOTIFY)")

_CREATE_FIELDS = ("domain", "user", "from_user", "pwd", "proxy", "event", "accept", "id")


def _expires(text: str) -> int:
    value = parse_uint(text.strip()) if text else None
    return value if value is not None else 0


@module.action("subscription.create", "P,opt")
def subscription_create(ctx: ActionContext, p1: str = "", *_: str) -> None:
    """M-subscription-1: subscribe as ``$<p>.*`` says; ``$<p>.handle`` names the subscription."""
    prefix = ctx.resolve(p1)
    vars = ctx.vars
    values = {name: vars.setdefault(f"{prefix}.{name}", "") for name in _CREATE_FIELDS}
    expires_text = vars.get(f"{prefix}.expires")
    expires = _expires(expires_text) if expires_text is not None else 0
    service = getattr(ctx.engine, "subscriptions", None)
    handle = ""
    if service is not None:
        try:
            handle = service.create(ctx, SubscriptionTarget(**values), expires)
        except (ValueError, OSError) as exc:
            ctx.log(2, f"subscription.create: {exc}")
    else:
        ctx.log(2, "subscription.create: this host has no SIP subscription service")
    vars[f"{prefix}.handle"] = handle
    if handle:
        ctx.clear_error()
    else:
        ctx.set_error("arg", "could not create subscription\n")


@module.action("subscription.refresh", "P,opt")
def subscription_refresh(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-subscription-2: a new SUBSCRIBE (``expires`` 0 or unreadable: the notifier's default)."""
    handle = ctx.resolve(p1)
    expires = _expires(ctx.resolve(p2)) if p2 else 0
    service = getattr(ctx.engine, "subscriptions", None)
    if service is not None and handle and service.refresh(handle, expires):
        ctx.clear_error()
    else:
        ctx.set_error("general", "could not refresh subscription\n")


@module.action("subscription.remove", "S")
def subscription_remove(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-subscription-3: unsubscribe (SUBSCRIBE with ``Expires: 0``) and forget; errno unchanged."""
    service = getattr(ctx.engine, "subscriptions", None)
    if service is not None:
        service.remove(ctx.resolve(a))
