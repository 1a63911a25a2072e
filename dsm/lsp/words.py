"""What the editor shows about a name: argument shapes and event parameters.

Argument shapes follow the argument styles of ``docs/language.md``; core
names have a call with argument names and a line of text
(:mod:`dsm.lsp.catalogue`); the event parameters are those the core events
carry (``#key`` of a key press …).
"""

from __future__ import annotations

from dsm.lsp.catalogue import CORE_DOCS
from dsm.vocabulary import Signature

__all__ = ["SHAPES", "EVENT_PARAMS", "ERRNO_WORDS", "shape", "call", "describe"]

ERRNO_WORDS = ("file", "arg", "script", "config", "internal", "general")

SHAPES: dict[str, str] = {
    "N": "no argument",
    "S": "one argument: (value)",
    "P,opt": "(first[, second])",
    "P,mand": "(first, second)",
    "P=opt": "(name[=value])",
    "P=mand": "(name=value)",
    "L": "a comma-separated list: (a, b, …)",
    "T": "a test: (left OP right), or none for any event of its type",
    "K": "a key: (digit), or none for any key",
    "raw": "argument text as written",
}

# Event type -> parameters (without the leading #).
EVENT_PARAMS: dict[str, tuple[str, ...]] = {
    "Key": ("key", "duration"),
    "Timer": ("id",),
    "NoAudio": ("type",),
    "PlaylistSeparator": ("id",),
    "Hangup": ("headers",),
    "SipRequest": (
        "method",
        "r_uri",
        "from",
        "to",
        "hdrs",
        "cseq",
        "callid",
        "body",
        "content_type",
        "from_tag",
        "to_tag",
    ),
    "SipReply": (
        "code",
        "reason",
        "hdrs",
        "cseq",
        "trans_method",
        "sip_code",
        "sip_reason",
        "dlg_status",
        "old_dlg_status",
    ),
    "DSMEvent": ("type", "id"),
    "Invite": ("headers",),
    "JsonRpcRequest": ("method", "id", "params"),
    "JsonRpcResponse": ("id", "result", "error", "is_error", "udata"),
    "SIPSubscription": ("status", "expires", "has_body", "is_notify"),
    "System": ("type",),
}
ALL_PARAMS: tuple[str, ...] = tuple(
    sorted({p for ps in EVENT_PARAMS.values() for p in ps} | {"processed"})
)


def shape(sig: Signature) -> str:
    return "custom arguments" if sig.split is not None else SHAPES.get(sig.style, sig.style)


def call(sig: Signature) -> str:
    """The call with argument names when the catalogue knows it, else the argument shape."""
    doc = CORE_DOCS.get(sig.name)
    return doc[0] if doc is not None else f"{sig.name}: {shape(sig)}"


def describe(sig: Signature, module: str, condition: bool) -> str:
    """A short Markdown text: what it does, from where, which arguments and event."""
    what = "condition" if condition else "action"
    origin = f"module `{module}`" if module else "the core"
    doc = CORE_DOCS.get(sig.name) if not module else None
    lines = [f"`{doc[0]}`" if doc else f"**{sig.name}**", ""]
    if doc:
        lines += [doc[1], ""]
    lines.append(f"{what} of {origin}; arguments: {shape(sig)}")
    if condition and sig.event:
        params = EVENT_PARAMS.get(sig.event)
        lines.append(f"\nmatches `{sig.event}` events")
        if params:
            lines.append("event parameters: " + ", ".join(f"`#{p}`" for p in params))
    return "\n".join(lines)
