"""``cc_dsm``: SBC call control by a DSM session per call leg (``modules.md`` 19.1, E-163 … E-166).

The relay calls one :class:`DsmCallControl` per leg through the
:class:`~dsm.runtime.sbc.leg.CallControl` protocol.  ``init`` starts the
leg's session with :meth:`Engine.start_sbc` and runs its start at once, so
that ``sbc.profileSet`` in the start transition changes the INVITE about to
be relayed; every later hook raises the E-165 event with the E-164
parameter sets and objects and answers :data:`~dsm.runtime.sbc.leg.STOP`
iff the script set ``#StopProcessing`` to exactly ``true`` where M-ccdsm-4
says the SBC looks at it.

A hook knows the script's answer when it returns because it processes the
event there and then (:meth:`Engine.run_pending` right after queueing it,
events queued before it first).  Two cases give :data:`CONTINUE` instead:
a hook called while the engine is already running events (it only queues
the event, which runs next), and an event that parks at a blocking action
(``runtime/resumable.py``): the SBC does not wait for a worker thread.

What an SBC session may do through its call (M-ccdsm-3) is
:class:`~dsm.runtime.sbc.session_call.SbcSessionCall`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dsm.runtime.call import Call
from dsm.runtime.engine import DIComponent
from dsm.runtime.incoming import InviteRequest, SipReplyObject
from dsm.runtime.sbc.leg import CONTINUE, STOP, CallControl, CallStatus, StopReason
from dsm.runtime.sip.message import Request, Response

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = [
    "DsmCallControl",
    "CcDsmComponent",
    "make_call_control",
    "request_params",
    "reply_params",
    "request_object",
    "reply_object",
    "header_params",
    "RELAY_EVENTS",
    "MODIFIED_INVITE",
    "CALL_PROFILE",
]

RUN_LIMIT = 10_000
"""Most events one hook runs before it answers (queued events of any session included)."""

MODIFIED_INVITE = "__modified_invite"
CALL_PROFILE = "__call_profile"

RELAY_EVENTS: dict[str, str] = {
    "init": "RelayInit",
    "initUAC": "RelayInitUAC",
    "initUAS": "RelayInitUAS",
    "finalize": "RelayFinalize",
    "onSipRequest": "RelayOnSipRequest",
    "onSipReply": "RelayOnSipReply",
    "onB2BRequest": "RelayOnB2BRequest",
    "onB2BReply": "RelayOnB2BReply",
}
"""``#relay_event`` value → event type of the simple relay's hooks (M-ccdsm-4)."""

# Header fields the reference keeps in fields of their own, not in a message's ``hdrs``.
_OWN_FIELDS = frozenset(
    name.lower()
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Type",
        "Content-Length",
        "Max-Forwards",
        "Route",
        "Record-Route",
    )
)


# -- parameter sets and objects (E-164) ---------------------------------------------------------


def hdrs_of(message: Request | Response) -> str:
    """The ``hdrs`` block: every header line but the ones with fields of their own, CRLF-ended."""
    return "".join(
        f"{name}: {value}\r\n" for name, value in message.headers if name.lower() not in _OWN_FIELDS
    )


def header_params(hdrs: str) -> dict[str, str]:
    """``hdr.<Name>`` for every ``Name: value`` line of ``hdrs`` (E-164).

    Blanks and tabs after the colon removed; lines without a colon or with
    nothing after it skipped; the last of repeated headers wins.
    """
    out: dict[str, str] = {}
    for line in hdrs.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        value = value.lstrip(" \t")
        if not colon or not value:
            continue
        out["hdr." + name] = value
    return out


def _tag(header: str) -> str:
    for piece in header.split(";")[1:]:
        key, _, val = piece.strip().partition("=")
        if key.strip().lower() == "tag":
            return val.strip()
    return ""


def _common(message: Request | Response) -> dict[str, str]:
    from_ = message.headers.get("From") or ""
    to = message.headers.get("To") or ""
    return {
        "from": from_,
        "to": to,
        "from_tag": _tag(from_),
        "to_tag": _tag(to),
        "callid": message.call_id,
    }


def request_params(request: Request, hdrs: str | None = None) -> dict[str, str]:
    """The request parameter set: ``method r_uri from to hdrs from_tag to_tag callid hdr.*``."""
    hdrs = hdrs_of(request) if hdrs is None else hdrs
    params = {"method": request.method, "r_uri": request.uri, **_common(request), "hdrs": hdrs}
    params.update(header_params(hdrs))
    return params


def reply_params(reply: Response, hdrs: str | None = None) -> dict[str, str]:
    """The reply parameter set: ``sip_reason sip_code from from_tag to to_tag callid hdrs hdr.*``."""
    hdrs = hdrs_of(reply) if hdrs is None else hdrs
    params = {"sip_reason": reply.reason, "sip_code": str(reply.status), **_common(reply), "hdrs": hdrs}
    params.update(header_params(hdrs))
    return params


def _headers_dict(message: Request | Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in message.headers:
        out.setdefault(name, value)
    return out


def request_object(request: Request, *, wrapped: bool, hdrs: str | None = None) -> InviteRequest:
    """The ``request`` object: bare for the Invite event, ``wrapped`` (repliable) for the others."""
    cseq = request.headers.get("CSeq") or "1"
    number = cseq.split(None, 1)[0] if cseq.strip() else "1"
    return InviteRequest(
        request.method,
        request.uri,
        request.headers.get("From") or "",
        request.headers.get("To") or "",
        request.call_id,
        hdrs_of(request) if hdrs is None else hdrs,
        request.body.decode("utf-8", "replace"),
        int(number) if number.isdigit() else 1,
        _headers_dict(request),
        wrapped=wrapped,
        handle=request,
    )


def reply_object(reply: Response, *, modifiable: bool = False, hdrs: str | None = None) -> SipReplyObject:
    """The ``reply`` object; ``modifiable`` for the relayed replies of ``B2B.otherReply``."""
    cseq = reply.headers.get("CSeq") or "1"
    number = cseq.split(None, 1)[0] if cseq.strip() else "1"
    return SipReplyObject(
        reply.status,
        reply.reason,
        hdrs_of(reply) if hdrs is None else hdrs,
        reply.body.decode("utf-8", "replace"),
        int(number) if number.isdigit() else 1,
        _headers_dict(reply),
        modifiable=modifiable,
    )


# -- the call control ------------------------------------------------------------------------------


class DsmCallControl:
    """:class:`CallControl` by one DSM session per leg (M-ccdsm-2 … 6)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session: Session | None = None

    # -- running events --------------------------------------------------------------------
    def _run(self) -> None:
        # Bounded: sessions posting to each other forever must not hold the SBC here;
        # what is left stays queued for the host's own run of the engine.
        if not getattr(self.engine, "_busy", 0):
            self.engine.run_pending(limit=RUN_LIMIT)

    def _raise(
        self,
        event_type: str,
        params: dict[str, str],
        objects: Mapping[str, Any] | None = None,
        keep: Mapping[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """Process one event now; its params after processing, ``None`` if it did not finish.

        ``objects`` are in the store for this event only; ``keep`` entries are
        put into the store and stay there (the reference's dangling objects).
        """
        s = self.session
        if s is None or s.ended:
            return None
        if keep:
            s.objects.update(keep)
        done: list[dict[str, str] | None] = []
        s.deliver(event_type, params, objects, on_done=done.append)
        self._run()
        return done[0] if done else None

    def _stop(self, event_type: str, params: dict[str, str], objects: Mapping[str, Any] | None = None,
              keep: Mapping[str, Any] | None = None) -> bool:
        after = self._raise(event_type, params, objects, keep)
        return STOP if after is not None and after.get("StopProcessing") == "true" else CONTINUE

    # -- CallControl ------------------------------------------------------------------------
    def init(self, call: Call, values: Mapping[str, str]) -> None:
        """M-ccdsm-2, E-163: start the leg's session now; a bad bundle or diagram raises ValueError."""
        cc_vars = dict(values)
        self.session = self.engine.start_sbc(
            cc_vars.get("app_bundle", ""), cc_vars.get("start_diag", ""), call, cc_vars
        )
        self._run()

    def on_initial_invite(self, original: Request, modified: Request) -> None:
        """Invite: QUIRK all three params carry the B leg's To; ``request`` stays in the store."""
        to = modified.headers.get("To") or ""
        params = {"remote_party": to, "remote_uri": to, "from": to}
        self._raise(
            "Invite",
            params,
            {MODIFIED_INVITE: modified},
            keep={"request": request_object(original, wrapped=False)},
        )

    def on_state_change(
        self, status: CallStatus, reason: StopReason, detail: Request | Response | str | None
    ) -> None:
        """LegStateChange; ``StopProcessing`` is not evaluated."""
        params = {"SBCCallStatus": str(status), "reason": str(reason)}
        objects: dict[str, Any] = {}
        if isinstance(detail, Response) and reason == StopReason.SIP_REPLY:
            params.update(reply_params(detail))
            objects["reply"] = reply_object(detail)
        elif isinstance(detail, Request) and reason == StopReason.SIP_REQUEST:
            params.update(request_params(detail))
            objects["request"] = request_object(detail, wrapped=True)
        elif isinstance(detail, str) and detail and reason == StopReason.OTHER:
            params["desc"] = detail
        self._raise("LegStateChange", params, objects)

    def on_in_dialog_request(self, request: Request) -> bool:
        hdrs = hdrs_of(request)
        return self._stop(
            "SipRequest", request_params(request, hdrs), {"request": request_object(request, wrapped=True, hdrs=hdrs)}
        )

    def on_in_dialog_reply(self, reply: Response) -> bool:
        hdrs = hdrs_of(reply)
        return self._stop("SipReply", reply_params(reply, hdrs), {"reply": reply_object(reply, hdrs=hdrs)})

    def on_b_leg_refused(self, reply: Response) -> bool:
        """BLegRefused; QUIRK: the ``reply`` object is left in the store."""
        return self._stop("BLegRefused", reply_params(reply), keep={"reply": reply_object(reply)})

    def on_other_request(self, request: Request, forward: bool) -> bool:
        params = request_params(request)
        params["forward"] = "true" if forward else "false"
        return self._stop("B2BOtherRequest", params, {"request": request_object(request, wrapped=True)})

    def on_other_reply(self, reply: Response, forward: bool, trans_method: str) -> bool:
        """B2BOtherReply; QUIRK: the modifiable ``reply`` object is left in the store."""
        params = reply_params(reply)
        params["forward"] = "true" if forward else "false"
        params["trans_method"] = trans_method
        return self._stop("B2BOtherReply", params, keep={"reply": reply_object(reply, modifiable=True)})

    def on_event(self, params: Mapping[str, str]) -> bool:
        return self._stop("DSMEvent", dict(params))

    def on_b2b_event(self, params: Mapping[str, str], reliable: bool) -> bool:
        """B2BEvent; for a reliable event the answer is whether the script set ``#processed=true``."""
        after = self._raise("B2BEvent", dict(params))
        if after is None:
            return False
        key = "processed" if reliable else "StopProcessing"
        return after.get(key) == "true"

    def on_dtmf(self, key: int, duration_ms: int) -> bool:
        return self._stop("Key", {"key": str(key), "duration": str(duration_ms)})

    def on_timer(self, timer_id: int) -> bool:
        return self._stop("Timer", {"id": str(timer_id)})

    def on_separator(self, separator_id: int) -> bool:
        """PlaylistSeparator of the leg's playlist."""
        return self._stop("PlaylistSeparator", {"id": str(separator_id)})

    def on_no_audio(self, kind: str) -> bool:
        """NoAudio of the leg's playlist (``#type``)."""
        return self._stop("NoAudio", {"type": kind})

    def on_relay_event(
        self,
        kind: str,
        profile: Any,
        request: Request | None = None,
        reply: Response | None = None,
        old_dlg_status: str = "",
    ) -> None:
        """The simple relay's hooks (``kind`` = ``init`` … ``onB2BReply``); not evaluated.

        Not in the :class:`CallControl` protocol: the relay calls it only for
        a relayed profile that already carries this plug-in's session.
        ``__call_profile`` is ``profile`` for the event (``sbc.profileSet``
        acts on it).
        """
        event_type = RELAY_EVENTS[kind]
        params: dict[str, str] = {"relay_event": kind}
        objects: dict[str, Any] = {CALL_PROFILE: profile}
        if request is not None:
            params.update(request_params(request))
            objects["request"] = request_object(request, wrapped=True)
        if reply is not None:
            params.update(reply_params(reply))
            objects["reply"] = reply_object(reply)
        if kind == "onSipReply":
            params["old_dlg_status"] = old_dlg_status
        self._raise(event_type, params, objects)

    def on_destroy_leg(self) -> None:
        """The leg is gone: its session ends (no BeforeDestroy, M-ccdsm-3)."""
        s = self.session
        if s is None or s.ended:
            return
        if getattr(self.engine, "_busy", 0):
            s.stop()
        else:
            self.engine.end_session(s)


def make_call_control(engine: Engine) -> Callable[[], CallControl]:
    """The relay's factory for ``<entry>_module=cc_dsm``: a new :class:`DsmCallControl` per leg."""

    def make() -> CallControl:
        return DsmCallControl(engine)

    return make


# -- the DI component (M-ccdsm-5) -----------------------------------------------------------------


class CcDsmComponent(DIComponent):
    """``cc_dsm`` as a DI component: ``start``/``connect``/``end`` do nothing, ``_list`` names them.

    ``getExtendedInterfaceHandler`` gives the factory of the call-control
    objects (what the reference's SBC asks for to reach the event interface).
    """

    FUNCTIONS = ("start", "connect", "end")

    def __init__(self, engine: Engine) -> None:
        self.factory = make_call_control(engine)

    def invoke(self, function: str, args: list[Any]) -> Any:
        if function in self.FUNCTIONS:
            return None
        if function == "_list":
            return list(self.FUNCTIONS)
        if function == "getExtendedInterfaceHandler":
            return self.factory
        raise NotImplementedError(function)
