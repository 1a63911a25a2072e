"""The SBC's simple relay: non-INVITE requests outside a call, relayed through a call profile.

In SBC mode the SIP core hands this relay every non-INVITE request that
belongs to no call (``UserAgentServer.outside_requests``): SUBSCRIBE, REFER,
MESSAGE, NOTIFY, PUBLISH, REGISTER (there is no registration cache: the
registrar sees the UA's own Contact), and OPTIONS unless ``sbc.conf`` says
``core_options_handling=yes``.  As the reference's SBC does, each becomes a
:class:`RelayedDialog` shaped by the profile its request selects (the same
``active_profile`` rule as calls):

1. an unknown profile is ``500``, ``refuse_with`` answers its code, a
   method the ``message_filter`` refuses ``405``, ``Max-Forwards: 0`` ``483``;
2. :func:`~dsm.runtime.sbc.profile.plan_leg` gives the R-URI, From, To,
   Call-ID, filtered and appended headers and next hop of the copy we send
   (our Via, our own From tag, our Contact when the request had one);
3. its replies come back translated (``reply_translations``) and filtered;
4. SUBSCRIBE and REFER make a dialog: requests in it (NOTIFY, re-SUBSCRIBE,
   both directions) are relayed with the other side's identifiers until the
   subscription ends (a NOTIFY with ``Subscription-State: terminated``, a
   final error to the first request, or its expiry — after ``Expires: 0``
   only the grace period is left for the final NOTIFY), then the dialog is
   forgotten.  Other methods end with
   their final response.

Bounds (``docs/security.md``): at most ``max_dialogs`` relayed dialogs
(``503`` beyond), none lives longer than ``max_lifetime`` seconds, and
:meth:`SimpleRelay.sweep` forgets expired ones.

With a ``cc_dsm`` entry in the profile the relay gets one DSM session that
sees the Relay* events (M-ccdsm-4, M-sbc-24 … 31) with ``__call_profile``
the relay's own profile copy: ``RelayInit`` and ``RelayInitUAS`` come before
the request is planned, so ``sbc.profileSet`` there changes what is sent.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsm.runtime.errors import DSMException
from dsm.runtime.sbc.leg import CallControl
from dsm.runtime.sbc.legs import SbcCallLeg
from dsm.runtime.sbc.patterns import without_tag
from dsm.runtime.sbc.profile import (
    CallProfile,
    Refusal,
    call_control_entries,
    filter_headers,
    message_allowed,
    plan_leg,
    select_profile,
    translate_reply,
)
from dsm.runtime.sbc.simple_relay_dialog import (
    RelaySide,
    expires_of,
    first_request,
    max_forwards,
    subscription_terminated,
)
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.transaction import TransactionKey
from dsm.runtime.sip.ua_common import DIALOG_ONLY
from dsm.runtime.sip.uri import SipUri, parse_uri
from dsm.runtime.sip.useragent import (
    OutsideRequest,
    RequestFailed,
    ResponseToRequest,
    UserAgentError,
)

if TYPE_CHECKING:
    from dsm.runtime.sbc.relay_store import ProfileStore
    from dsm.runtime.sip.sipcall import SipCalls

__all__ = ["SimpleRelay", "RelayedDialog", "RelayLimits", "DIALOG_METHODS"]

DIALOG_METHODS = frozenset({"SUBSCRIBE", "REFER"})
"""Methods whose 2xx makes a dialog that the relay keeps (RFC 6665, RFC 3515)."""

_NEVER = frozenset({"INVITE", "ACK", "CANCEL"}) | DIALOG_ONLY
"""Methods the simple relay never takes outside a dialog (calls, or the core's 481)."""


@dataclass(frozen=True)
class RelayLimits:
    """How many relayed dialogs may exist and how long one may live (``sbc.conf`` keys of the same names)."""

    max_dialogs: int = 1000
    max_lifetime: float = 3600.0
    grace: float = 32.0
    """Kept after a subscription's ``Expires`` (a late refresh or final NOTIFY still finds it)."""
    transaction_lifetime: float = 64.0
    """Longest life of a relay without a dialog (MESSAGE, OPTIONS …): Timer F plus a margin."""

    @classmethod
    def from_config(cls, raw: Mapping[str, str]) -> RelayLimits:
        def number(key: str, default: float) -> float:
            text = (raw.get(key) or "").strip()
            try:
                value = float(text) if text else default
            except ValueError:
                raise ValueError(f"sbc.conf: {key}={text!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"sbc.conf: {key} must be positive")
            return value

        return cls(
            max_dialogs=int(number("max_relayed_dialogs", cls.max_dialogs)),
            max_lifetime=number("relayed_dialog_lifetime", cls.max_lifetime),
        )


@dataclass
class _Pending:
    """A request relayed from ``origin``; its answer goes back on the server transaction."""

    dialog: RelayedDialog
    origin: RelaySide
    transaction: TransactionKey
    request: Request
    first: bool


class _RelayHost:
    """The :class:`~dsm.runtime.sbc.legs.LegHost` of a relay's DSM session: no call to act on."""

    def __init__(self, dialog: RelayedDialog) -> None:
        self.dialog = dialog

    def _no(self, *_: Any) -> Any:
        raise DSMException("script", {"cause": "not in a relayed call (simple relay)"})

    stop_call = disconnect_leg = hold = relay_reliable_event = add_callee = _no
    streams_set_receiving = dtmf_receiving = reconnect_leg = leg_media = _no

    def relay_event(self, *_: Any) -> bool | None:
        return None

    def end_leg(self, leg: SbcCallLeg) -> None:
        self.dialog.relay.end(self.dialog, "stopped by its call control")

    def other_leg(self, leg: SbcCallLeg) -> SbcCallLeg | None:
        return None


class RelayedDialog:
    """One relayed request or subscription: the caller's side ``a``, the target's side ``b``."""

    def __init__(self, relay: SimpleRelay, ident: str, profile: CallProfile, request: Request, now: float) -> None:
        self.relay = relay
        self.id = ident
        self.profile = profile
        self.method = request.method
        self.request = request
        self.a = RelaySide(
            call_id=request.call_id,
            local_tag=relay.new_tag(),
            remote_tag=request.from_tag or "",
            local_uri=without_tag(request.headers.get("To") or ""),
            remote_uri=without_tag(request.headers.get("From") or ""),
            remote_target=_contact_or(request, ""),
        )
        self.b: RelaySide | None = None
        self.established = False
        self.ending = False
        """The dialog ends once the transaction under way is answered (unsubscribe, final NOTIFY)."""
        self.ended = False
        self.started_at = now
        self.deadline = now + relay.limits.transaction_lifetime
        self.controls: list[Any] = []
        self.leg: SbcCallLeg | None = None
        self.codes: list[int] = []
        """Final status codes the caller got, in order (for operators and tests)."""

    def other(self, side: RelaySide) -> RelaySide | None:
        return self.b if side is self.a else self.a

    def hook(self, kind: str, request: Request | None = None, reply: Response | None = None) -> None:
        """A Relay* event to the dialog's call controls (not evaluated, M-ccdsm-4)."""
        for cc in self.controls:
            fn = getattr(cc, "on_relay_event", None)
            if fn is None:
                continue
            old = "Connected" if self.established else "Trying"
            try:
                fn(kind, self.profile, request, reply, old if kind == "onSipReply" else "")
            except Exception as exc:  # noqa: BLE001 - a script's fault stays with this relay
                self.relay.log("warn", self.id, f"call control {kind}: {type(exc).__name__}: {exc}")

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "call_id": self.a.call_id,
            "b_call_id": self.b.call_id if self.b is not None else "",
            "profile": self.profile.name,
            "established": self.established,
        }


def _contact_or(message: Request | Response, default: str) -> str:
    try:
        contact = message.contact
    except ParseError:
        return default
    return str(contact.uri) if contact is not None else default


class SimpleRelay:
    """Relays non-INVITE requests outside calls; see the module docstring.

    ``sip`` is the SIP core's transaction user (for ``core``, ``run``,
    ``now``, ``log``, ``rng``); ``parse_destination`` turns a plan's
    ``destination`` into ``((host, port), transport)``; ``next_hop_flags``
    says whether later requests follow the next hop and where answers go
    (the same rule as for calls).
    """

    def __init__(
        self,
        sip: SipCalls,
        store: ProfileStore,
        *,
        call_control: Mapping[str, Callable[[], CallControl]],
        parse_destination: Callable[[str], tuple[tuple[str, int] | None, str]],
        next_hop_flags: Callable[[CallProfile, tuple[str, int] | None], tuple[bool, tuple[str, int] | None]],
        limits: RelayLimits | None = None,
    ) -> None:
        self.sip = sip
        self.store = store
        self.call_control = call_control
        self.parse_destination = parse_destination
        self.next_hop_flags = next_hop_flags
        self.limits = limits if limits is not None else RelayLimits.from_config(store.config.raw)
        self.dialogs: dict[str, RelayedDialog] = {}
        self.sides: dict[tuple[str, str], tuple[RelayedDialog, RelaySide]] = {}
        """Each side of a dialog by (Call-ID, our tag): how an in-dialog request finds it."""
        self.pending: dict[str, _Pending] = {}
        """Requests we relayed, by the owner name their client transaction answers to."""
        self.relayed = 0
        self.refused = 0
        self.expired = 0
        self._ids = itertools.count(1)

    # -- the core's hook -------------------------------------------------------------------
    def takes(self, request: Request) -> bool:
        """``outside_requests``: requests of relayed dialogs, and new ones we relay."""
        tag = request.to_tag
        if tag:
            return (request.call_id, tag) in self.sides
        method = request.method
        if method in _NEVER:
            return False
        if method == "OPTIONS":
            return (self.store.config.raw.get("core_options_handling") or "").strip().lower() not in ("yes", "true", "1")
        return True

    def handles(self, event: object) -> bool:
        """Take ``event`` if it is ours (a request the core gave us, an answer to a relayed one)."""
        if isinstance(event, OutsideRequest):
            self._guard(lambda: self.on_request(event), event.transaction)
            return True
        if isinstance(event, (ResponseToRequest, RequestFailed)) and event.call_id in self.pending:
            pending = self.pending[event.call_id]
            if isinstance(event, ResponseToRequest):
                self._guard(lambda: self.on_response(event.call_id, event.response), pending.transaction)
            else:
                self._guard(lambda: self.on_failed(event.call_id), pending.transaction)
            return True
        return False

    def _guard(self, step: Callable[[], None], transaction: TransactionKey) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - one relay's fault answers that request only
            self.log("error", "-", f"{type(exc).__name__}: {exc}")
            self._answer(transaction, 500, "Server Internal Error")

    # -- requests ---------------------------------------------------------------------------
    def on_request(self, event: OutsideRequest) -> None:
        now = self.sip.now()
        self.sweep(now)
        request = event.request
        if request.to_tag:
            entry = self.sides.get((request.call_id, request.to_tag))
            if entry is None:  # forgotten since the core asked
                self._answer(event.transaction, 481, "Call/Transaction Does Not Exist")
                return
            self._in_dialog(entry[0], entry[1], event, now)
            return
        self._new(event, now)

    def _new(self, event: OutsideRequest, now: float) -> None:
        request = event.request
        if len(self.dialogs) >= self.limits.max_dialogs:
            self.refused += 1
            self._answer(event.transaction, 503, "Service Unavailable", headers=[("Retry-After", "5")])
            return
        sip = self.sip
        local = (sip.host, sip.core.port)
        try:
            name = select_profile(self.store.config, request, event.source, local)
        except Exception as exc:  # noqa: BLE001
            self._refuse(event, 500, "Server Internal Error", f"profile selection: {exc}")
            return
        profile = self.store.profile_for_call(name)
        if profile is None:
            self._refuse(event, 500, "Server Internal Error", f"no profile {name!r} loaded")
            return
        if not message_allowed(profile, request.method):
            self._refuse(event, 405, "Method Not Allowed", f"{request.method} filtered by profile {name}")
            return
        forwards = max_forwards(request)
        if forwards <= 0:
            self._refuse(event, 483, "Too Many Hops", "Max-Forwards 0")
            return
        dialog = RelayedDialog(self, f"sr{next(self._ids)}", profile, request, now)
        dialog.a.transport = event.transport
        if not dialog.a.remote_target:
            dialog.a.remote_target = f"sip:{event.source[0]}:{event.source[1]}"
        self.dialogs[dialog.id] = dialog
        self.sides[dialog.a.keys()] = (dialog, dialog.a)
        self.relayed += 1
        try:
            self._init_controls(dialog, request, event.source, local)
        except Exception as exc:  # noqa: BLE001 - a failing call control refuses this request
            self._refuse(event, 500, "Server Internal Error", f"call control: {exc}")
            self.end(dialog, "call control failed")
            return
        dialog.hook("init", request)
        dialog.hook("initUAS", request)
        if dialog.ended:  # its call control stopped it (stop(true))
            self._refuse(event, 500, "Server Internal Error", "stopped by its call control", dialog=dialog)
            return
        new_id = f"{sip.rng.getrandbits(64):016x}@{sip.host}"
        plan = plan_leg(dialog.profile, request, event.source, local, config=self.store.config, new_call_id=new_id)
        if isinstance(plan, Refusal):
            self._refuse(event, plan.code, plan.reason, f"refused by profile {profile.name}", list(plan.headers), dialog)
            self.end(dialog, f"refused {plan.code}")
            return
        destination, transport = self.parse_destination(plan.destination)
        if transport and transport not in ("udp", "tcp"):
            self._refuse(event, 500, "Server Internal Error", f"next hop transport {transport!r}", dialog=dialog)
            self.end(dialog, "bad next hop")
            return
        transport = transport or "udp"
        if destination is None:
            try:
                uri = parse_uri(plan.ruri)
            except (ParseError, ValueError):
                uri = None
            if not isinstance(uri, SipUri):
                self._refuse(event, 416, "Unsupported URI Scheme", f"R-URI {plan.ruri!r}", dialog=dialog)
                self.end(dialog, "bad R-URI")
                return
            destination = uri.address()
        if self._to_ourselves(destination):
            self._refuse(event, 482, "Loop Detected", f"loop: {request.method} would go to ourselves", dialog=dialog)
            self.end(dialog, "loop detected")
            return
        route_hop, reply_hop = self.next_hop_flags(dialog.profile, destination)
        b = RelaySide(
            call_id=plan.call_id,
            local_tag=self.new_tag(),
            remote_tag="",
            local_uri=plan.from_,
            remote_uri=plan.to,
            remote_target=plan.ruri,
            destination=destination if route_hop else None,
            transport=transport,
            cseq=request.cseq.number,
            reply_hop=reply_hop,
        )
        dialog.b = b
        self.sides[b.keys()] = (dialog, b)
        relayed = first_request(
            request.method, plan.ruri, from_=plan.from_, local_tag=b.local_tag, to=plan.to,
            call_id=b.call_id, cseq=b.cseq, forwards=forwards - 1,
            contact=self._contact(request, transport), headers=list(plan.headers),
            body=plan.body, content_type=plan.content_type,
        )  # fmt: skip
        dialog.hook("initUAC", relayed)
        if dialog.ended:
            self._refuse(event, 500, "Server Internal Error", "stopped by its call control", dialog=dialog)
            return
        self._send(dialog, dialog.a, event.transaction, request, relayed, destination, transport, first=True)
        self.log("info", dialog.id, f"{request.method} relayed to {plan.ruri} (profile {profile.name})")

    def _in_dialog(self, dialog: RelayedDialog, origin: RelaySide, event: OutsideRequest, now: float) -> None:
        request = event.request
        other = dialog.other(origin)
        if other is None or dialog.ended:
            self._answer(event.transaction, 481, "Call/Transaction Does Not Exist")
            return
        tag = request.from_tag or ""
        if origin.remote_tag and tag != origin.remote_tag:
            self._answer(event.transaction, 481, "Call/Transaction Does Not Exist")
            return
        origin.learn(request)
        dialog.hook("onSipRequest", request)
        if not message_allowed(dialog.profile, request.method):
            self._answer(event.transaction, 405, "Method Not Allowed")
            return
        forwards = max_forwards(request)
        if forwards <= 0:
            self._answer(event.transaction, 483, "Too Many Hops")
            return
        if not other.remote_tag and other is dialog.b:
            self._answer(event.transaction, 491, "Request Pending")  # the target has not answered yet
            return
        if subscription_terminated(request):
            dialog.ending = True
        relayed = other.request(
            request.method, headers=filter_headers(dialog.profile, request.headers.items()),
            body=request.body, content_type=request.headers.get("Content-Type") or "",
            forwards=forwards - 1, contact=self._contact(request, other.transport),
        )  # fmt: skip
        destination = other.target_address()
        if destination is None:
            self._answer(event.transaction, 500, "Server Internal Error")
            return
        dialog.hook("onB2BRequest", relayed)
        self._send(dialog, origin, event.transaction, request, relayed, destination, other.transport, first=False)

    def _send(
        self,
        dialog: RelayedDialog,
        origin: RelaySide,
        transaction: TransactionKey,
        request: Request,
        relayed: Request,
        destination: tuple[str, int],
        transport: str,
        *,
        first: bool,
    ) -> None:
        owner = f"{dialog.id}.{next(self._ids)}"
        self.pending[owner] = _Pending(dialog, origin, transaction, request, first)
        sip = self.sip
        try:
            sip.run(
                lambda now: sip.core.send_outside_call(owner, relayed, destination, now=now, transport=transport)
            )
        except (UserAgentError, ParseError, ValueError) as exc:
            self.pending.pop(owner, None)
            self.log("warn", dialog.id, f"{relayed.method} not sent: {exc}")
            self._answer(transaction, 500, "Server Internal Error")
            if first:
                self.end(dialog, "not sent")

    # -- answers ---------------------------------------------------------------------------
    def on_response(self, owner: str, response: Response) -> None:
        pending = self.pending[owner]
        dialog = pending.dialog
        status = response.status
        if status < 200:
            if status > 100:
                self._reply(pending, response)
            return
        del self.pending[owner]
        now = self.sip.now()
        receiver = dialog.other(pending.origin)
        if receiver is not None and 200 <= status < 300:
            receiver.learn(response)
        dialog.hook("onSipReply", pending.request, response)
        dialog.hook("onB2BReply", None, response)
        self._reply(pending, response)
        dialog.codes.append(status)
        method = pending.request.method
        if pending.first:
            if method in DIALOG_METHODS and 200 <= status < 300 and not dialog.ending:
                dialog.established = True
                self._extend(dialog, response, pending.request, now)
            else:
                self.end(dialog, f"answered {status}")
            return
        if dialog.ending or status in (404, 408, 410, 416, 480, 481, 482, 483, 484, 485, 489, 502, 604):
            self.end(dialog, f"ended ({method} {status})")
        elif method == "SUBSCRIBE" and 200 <= status < 300:
            self._extend(dialog, response, pending.request, now)

    def on_failed(self, owner: str) -> None:
        pending = self.pending.pop(owner)
        self._answer(pending.transaction, 408, "Request Timeout", to_tag=pending.origin.local_tag)
        if pending.first or pending.dialog.ending:
            self.end(pending.dialog, "timeout")

    def _extend(self, dialog: RelayedDialog, response: Response, request: Request, now: float) -> None:
        """A subscription lives until its ``Expires`` (reply's, else request's) plus a grace period.

        ``Expires: 0`` (a fetch, an unsubscribe) leaves the grace period for
        the final NOTIFY, which ends the dialog when it comes.
        """
        expires = expires_of(response)
        if expires is None:
            expires = expires_of(request)
        limits = self.limits
        life = limits.max_lifetime if expires is None else min(expires + limits.grace, limits.max_lifetime)
        dialog.deadline = min(now + life, dialog.started_at + limits.max_lifetime)

    def _reply(self, pending: _Pending, response: Response) -> None:
        dialog = pending.dialog
        code, reason = translate_reply(dialog.profile, response.status, response.reason)
        headers = filter_headers(dialog.profile, response.headers.items())
        request = pending.request
        if 300 <= response.status < 400 or request.method == "REGISTER":
            headers += [("Contact", c) for c in response.headers.get_all("Contact")]
        elif 101 <= code < 300 and request.method in DIALOG_METHODS:
            headers.append(("Contact", self.sip.core.contact_for(pending.origin.transport)))
        body = response.body
        content_type = response.headers.get("Content-Type") or "" if body else None
        self._answer(
            pending.transaction, code, reason, to_tag=pending.origin.local_tag,
            headers=headers, body=body, content_type=content_type,
            destination=pending.origin.reply_hop,
        )  # fmt: skip

    def _answer(
        self,
        transaction: TransactionKey,
        code: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        destination: tuple[str, int] | None = None,
    ) -> None:
        sip = self.sip
        tag = to_tag or self.new_tag()
        with contextlib.suppress(UserAgentError):
            sip.run(
                lambda now: sip.core.reply_outside(
                    transaction, code, reason, now=now, to_tag=tag, headers=headers or [],
                    body=body, content_type=content_type, destination=destination,
                )
            )  # fmt: skip

    def _refuse(
        self,
        event: OutsideRequest,
        code: int,
        reason: str,
        why: str,
        headers: list[tuple[str, str]] | None = None,
        dialog: RelayedDialog | None = None,
    ) -> None:
        self.refused += 1
        self.log("info", dialog.id if dialog is not None else "-", f"{event.request.method} answered {code}: {why}")
        if dialog is not None:
            dialog.codes.append(code)
        self._answer(
            event.transaction, code, reason, to_tag=dialog.a.local_tag if dialog is not None else None,
            headers=headers,
        )  # fmt: skip

    # -- life ------------------------------------------------------------------------------
    def end(self, dialog: RelayedDialog, cause: str) -> None:
        """Forget ``dialog``: its sides no longer route requests; its call control finalizes."""
        if dialog.ended:
            return
        dialog.ended = True
        self.dialogs.pop(dialog.id, None)
        for side in (dialog.a, dialog.b):
            if side is not None and self.sides.get(side.keys(), (None,))[0] is dialog:
                del self.sides[side.keys()]
        dialog.hook("finalize")
        for cc in dialog.controls:
            with contextlib.suppress(Exception):
                cc.on_destroy_leg()
        self.log("debug", dialog.id, f"forgotten: {cause}")

    def sweep(self, now: float) -> int:
        """Forget dialogs past their deadline; how many were forgotten."""
        due = [d for d in self.dialogs.values() if d.deadline <= now]
        for dialog in due:
            self.expired += 1
            self.end(dialog, "expired")
        return len(due)

    def next_deadline(self) -> float | None:
        return min((d.deadline for d in self.dialogs.values()), default=None)

    # -- helpers ---------------------------------------------------------------------------
    def _init_controls(self, dialog: RelayedDialog, request: Request, source: tuple[str, int], local: tuple[str, int]) -> None:
        entries = call_control_entries(dialog.profile, request, source, local, config=self.store.config)
        if not entries:
            return
        leg = SbcCallLeg(
            _RelayHost(dialog),
            call_id=request.call_id,
            is_a_leg=True,
            profile=dialog.profile,
            local_tag=dialog.a.local_tag,
            selects={
                "callid": request.call_id,
                "local_uri": request.uri,
                "local_party": request.headers.get("To") or "",
                "remote_uri": str(request.from_.uri),
                "remote_party": request.headers.get("From") or "",
                "remote_tag": request.from_tag or "",
            },
        )
        dialog.leg = leg
        for entry, module, values in entries:
            factory = self.call_control.get(module)
            if factory is None:
                raise ValueError(f"call control {entry!r}: no module {module!r}")
            cc = factory()
            if not hasattr(cc, "on_relay_event"):
                continue  # a plug-in without the simple relay's hooks
            cc.init(leg, values)
            dialog.controls.append(cc)

    def _contact(self, request: Request, transport: str) -> str | None:
        """Our Contact where the request had one (REGISTER keeps the UA's: no registration cache)."""
        if request.headers.get("Contact") is None:
            return None
        if request.method == "REGISTER":
            return ", ".join(request.headers.get_all("Contact"))
        return self.sip.core.contact_for(transport)

    def _to_ourselves(self, destination: tuple[str, int]) -> bool:
        host, port = destination
        ours = self.sip.host
        local = {ours, "localhost", "127.0.0.1", "::1"} if ours in ("127.0.0.1", "::1", "0.0.0.0") else {ours}
        return port == self.sip.core.port and host.strip("[]") in local

    def new_tag(self) -> str:
        return f"{self.sip.rng.getrandbits(64):016x}"

    def log(self, level: str, ident: str, msg: str) -> None:
        self.sip.log("sbc_relay", level, relay=ident, msg=msg)

    def describe(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.dialogs.values()]
