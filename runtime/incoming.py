"""The host's side of an incoming call's start: Invite, automatic 200 OK, SessionStart, media.

``engine.md`` E-151/E-152 describe what the host does around the first
INVITE, whatever carries the call: the modules' invite hooks run, the Invite
event is processed, and unless a module vetoed or the script answered
itself the host accepts the call with 200 OK; SessionStart follows, RTP
receiving is switched on and, unless ``$connect_session`` is ``0``, the
playlist is connected as the audio output (and input if none is set).

The simulated call of the harness, the control endpoint's calls and the SIP
call all run this one function, so scripts see the same sequence from each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from dsm.runtime.call import Call
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = ["InviteRequest", "SipReplyObject", "AnsweringCall", "accept_invite", "answer_incoming", "header_block"]


@dataclass(frozen=True, slots=True)
class InviteRequest:
    """The SIP request placed in the object store as ``request`` (E-20).

    ``wrapped`` marks the requests ``mod_dlg`` may reply to (those of the
    SipRequest event, modules.md section 6): the INVITE of the ``invite``
    event is the bare request and is not wrapped (REFERENCE QUIRK).
    ``handle`` is the carrying call's own reference to the request (its
    server transaction), opaque to everyone else.
    """

    method: str
    r_uri: str
    from_: str
    to: str
    callid: str
    hdrs: str = ""
    body: str = ""
    cseq: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    wrapped: bool = False
    handle: Any = field(default=None, compare=False)

    def __init__(
        self,
        method: str,
        r_uri: str,
        from_: str,
        to: str,
        callid: str,
        hdrs: str = "",
        body: str = "",
        cseq: int = 1,
        headers: dict[str, str] | None = None,
        wrapped: bool = False,
        handle: Any = None,
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "r_uri", r_uri)
        object.__setattr__(self, "from_", from_)
        object.__setattr__(self, "to", to)
        object.__setattr__(self, "callid", callid)
        object.__setattr__(self, "hdrs", hdrs)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "cseq", cseq)
        object.__setattr__(self, "headers", {} if headers is None else headers)
        object.__setattr__(self, "wrapped", wrapped)
        object.__setattr__(self, "handle", handle)


@dataclass(frozen=True, slots=True)
class SipReplyObject:
    """The SIP reply placed in the object store as ``reply`` (E-20; SipReply, RemoteDisappeared).

    ``modifiable`` is false: only the SBC's relayed replies may be edited
    (``dlg.addReplyBodyPart``, modules.md section 6).
    """

    code: int
    reason: str
    hdrs: str
    body: str
    cseq: int
    headers: dict[str, str] = field(default_factory=dict)
    modifiable: bool = False

    def __init__(
        self,
        code: int,
        reason: str,
        hdrs: str,
        body: str,
        cseq: int,
        headers: dict[str, str] | None = None,
        modifiable: bool = False,
    ) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "hdrs", hdrs)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "cseq", cseq)
        object.__setattr__(self, "headers", {} if headers is None else headers)
        object.__setattr__(self, "modifiable", modifiable)


class AnsweringCall(Protocol):
    """What :func:`answer_incoming` needs of the call beyond the Call interface."""

    dialog: str

    def reply(self, code: int, reason: str) -> None: ...

    def set_media_flag(self, flag: str, on: bool) -> None: ...

    def media_connect(self) -> None: ...


def header_block(headers: Mapping[str, str]) -> str:
    """Headers as the ``Name: value CRLF`` block that params like ``hdrs`` carry."""
    return "".join([f"{k}: {v}\r\n" for k, v in headers.items()])


def answer_incoming(
    engine: Engine,
    session: Session,
    call: AnsweringCall,
    request: InviteRequest,
    drain: Callable[[], object],
) -> None:
    """Run the host's part of E-151/E-152 after the Start event, processing each event at once.

    The host decides right after the Invite event, before a session the
    script stopped there ends: ``stop()`` with no reply sent still gets the
    automatic 200, and the session's end then sends BYE, as the reference does.
    """
    if session.ended:
        return
    flow = _InviteFlow(session, call, engine.run_invite_hooks(session, request))
    # The host decides in the Invite's on_done, before a session the script stopped there
    # ends.  A session parked on a blocking action (runtime/blocking.py) has not processed
    # the Invite when drain() returns: the answer and SessionStart then follow from on_done,
    # so a script replying itself is still seen and the events keep their order.
    session.deliver("Invite", None, objects={"request": request}, on_done=flow.invite_done)
    drain()
    if not flow.seen:
        flow.deferred = not session.ended
        return
    if session.ended or not flow.answered:
        return
    session.deliver("SessionStart", None)
    drain()
    if not session.ended:
        _connect(session, call, "connect_session")


class _InviteFlow:
    """The host's decision on the Invite event, kept for a SessionStart that follows later.

    Methods, not nested functions: compiled (native_modules), two closures
    naming each other share one environment that holds them both, a
    reference cycle that would keep each call until the collector ran.
    """

    def __init__(self, session: Session, call: AnsweringCall, accept: bool) -> None:
        self.session = session
        self.call = call
        self.accept = accept
        self.before = call.dialog
        self.answered = False
        self.seen = False
        self.deferred = False

    def invite_done(self, _params: object) -> None:
        self.seen = True
        if self.accept and self.call.dialog == self.before:  # no veto, the script did not reply
            self.call.reply(200, "OK")
            self.answered = True
        if self.deferred and self.answered and not self.session.ended:
            self.session.deliver("SessionStart", None, on_done=self.connect)

    def connect(self, _params: object) -> None:
        if not self.session.ended:
            _connect(self.session, self.call, "connect_session")


def _connect(session: Session, call: AnsweringCall, switch: str) -> None:
    call.set_media_flag("receiving", True)
    if session.vars.get(switch) != "0":
        call.media_connect()


def accept_invite(session: Session, call: Call, code: int, reason: str, headers: str = "") -> None:
    """Answer the INVITE with an SDP answer from inside an action (``dlg.acceptInvite``, M-dlg-3).

    The reply completes the offer/answer exchange, so the host raises the
    matching event at once, nested in the running action (E-51): a 18x
    starts an early session (EarlySession; unless ``$connect_early_session``
    is ``0`` the playlist is attached), a 2xx the call (SessionStart; unless
    ``$connect_session`` is ``0``).  :class:`~dsm.runtime.call.DialogError`
    from the call propagates to the action.
    """
    call.dialog_reply(code, reason, headers, sdp=True)
    answering = cast("AnsweringCall", call)
    if 180 <= code < 200:
        session.process("EarlySession", None)
        if not session.ended:
            _connect(session, answering, "connect_early_session")
    elif 200 <= code < 300:
        session.process("SessionStart", None)
        if not session.ended:
            _connect(session, answering, "connect_session")
