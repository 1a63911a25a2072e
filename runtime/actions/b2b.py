"""B2B call-control actions (``actions.md`` 9, ``engine.md`` E-129 … E-132).

The session's call is the A leg; the other leg, the header block for its
INVITE and the relay modes live in the :class:`dsm.runtime.call.Call`.
Header-block editing is done here, on the text the call hands out, so every
call implementation gets the reference's CRLF rules for free.
"""

from __future__ import annotations

from dsm.runtime.actions.core import core
from dsm.runtime.arrays import varlist_params
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException

__all__ = ["add_crlf", "remove_header", "B2B_SETTINGS"]

CRLF = "\r\n"
B2B_SETTINGS = (
    "b2b_local_party",
    "b2b_local_uri",
    "b2b_auth_user",
    "b2b_auth_pwd",
    "b2b_callid",
    "b2b_rtp_relay",
)
"""Variables read when the other leg is created (E-167); ``b2b_rtp_relay`` anchors the media over SIP."""


def add_crlf(block: str) -> str:
    """E-132: append CRLF if the block is longer than two characters and lacks one."""
    if len(block) > 2 and not block.endswith(CRLF):
        return block + CRLF
    return block


def remove_header(block: str, name: str) -> str:
    """Remove every header line named ``name`` (case-insensitive), line ending included (A-core-58)."""
    low = name.lower()
    out: list[str] = []
    for line in block.splitlines(keepends=True):
        key, sep, _ = line.partition(":")
        if sep and key.strip().lower() == low:
            continue
        out.append(line)
    return "".join(out)


@core.action("B2B.connectCallee", style="P,mand")
def connect_callee(ctx: ActionContext, to: str = "", ruri: str = "", *_: str) -> None:
    """A-core-53: start the other leg to ``R(p2)`` with To ``R(p1)``; relayed iff ``$b2b_relayed_invite == true``."""
    vars = ctx.vars
    settings = {k: vars[k] for k in B2B_SETTINGS if k in vars}
    ctx.call.b2b_connect_callee(
        ctx.resolve(to), ctx.resolve(ruri), vars.get("b2b_relayed_invite") == "true", settings
    )


@core.action("B2B.terminateOtherLeg", style="N")
def terminate_other_leg(ctx: ActionContext, *_: str) -> None:
    """A-core-54."""
    ctx.call.b2b_terminate_other_leg()


@core.action("B2B.sendReinvite", style="P,opt")
def send_reinvite(ctx: ActionContext, generate_sdp: str = "", headers: str = "", *_: str) -> None:
    """A-core-55 / E-131 REFERENCE QUIRK: neither argument is resolved."""
    ctx.call.b2b_send_reinvite(generate_sdp == "true", headers)


@core.action("B2B.enableEarlyMediaRelay", style="S")
def enable_early_media_relay(ctx: ActionContext, flag: str = "", *_: str) -> None:
    """A-core-56."""
    ctx.call.b2b_set_flag("early_media_relay", ctx.resolve(flag) == "true")


@core.action("B2B.addHeader", style="S")
def add_header(ctx: ActionContext, line: str = "", *_: str) -> None:
    """A-core-57: append ``R(a)`` then the CRLF rule of E-132."""
    ctx.call.set_b2b_headers(add_crlf(ctx.call.get_b2b_headers() + ctx.resolve(line)))


@core.action("B2B.removeHeader", style="S")
def remove_header_action(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-58."""
    ctx.call.set_b2b_headers(remove_header(ctx.call.get_b2b_headers(), ctx.resolve(name)))


@core.action("B2B.clearHeaders", style="N")
def clear_headers(ctx: ActionContext, *_: str) -> None:
    """A-core-59."""
    ctx.call.set_b2b_headers("")


@core.action("B2B.setHeaders", style="P,opt")
def set_headers(ctx: ActionContext, text: str = "", replace_crlf: str = "", *_: str) -> None:
    """A-core-60 / E-132 REFERENCE QUIRK: with ``true`` the text is *appended* after ``\\r\\n`` → CRLF."""
    t = ctx.resolve(text)
    if ctx.resolve(replace_crlf) == "true":
        block = ctx.call.get_b2b_headers() + t.replace("\\r\\n", CRLF)
    else:
        block = t
    ctx.call.set_b2b_headers(add_crlf(block))


@core.action("B2B.relayEvent", style="S")
def relay_event(ctx: ActionContext, spec: str = "", *_: str) -> None:
    """A-core-61: a B2BEvent with the E-130 map to the other leg; no B2B → ``script`` exception."""
    if not getattr(ctx.call, "b2b_capable", False):
        raise DSMException("script", {"cause": "relayEvent used without B2B call"})
    ctx.call.b2b_relay_event(varlist_params(ctx.vars, ctx.resolve(spec)))


@core.action("B2B.setRelayOnly", style="S")
def set_relay_only(ctx: ActionContext, flag: str = "", *_: str) -> None:
    """A-core-62: relay-only mode iff ``R(a)`` is ``true``; no B2B → ``script`` exception."""
    if not getattr(ctx.call, "b2b_capable", False):
        raise DSMException("script", {"cause": "B2B.setRelayOnly used without B2B call"})
    ctx.call.b2b_set_flag("relay_only", ctx.resolve(flag) == "true")
