"""mod_dlg — direct SIP dialog control from scripts (``modules.md`` section 6).

A script replies to the initial INVITE itself (``dlg.reply``,
``dlg.acceptInvite``) or to requests it received (``dlg.replyRequest``),
sends BYE, INFO and REFER, starts independent outgoing calls
(``dlg.dialout``) and reads or edits message bodies.  Everything that goes
on the wire goes through the host call's dialog methods
(:meth:`dsm.runtime.call.Call.dialog_reply`, ``reply_request``,
``send_request``), so the simulated call of the harness and the SIP call
behave alike; a host that cannot do something raises
:class:`~dsm.runtime.call.DialogError`, which the actions turn into the
``$errno`` of their rule.

The invite hook keeps the incoming INVITE as the session's *last request*
(:func:`set_last_request` is also the way an SBC layer's ``sbc.setLastReq``
sets it).  It is kept outside the session, keyed weakly by the session, so
nothing of it is visible to scripts or outlives the call.

Reference quirks reproduced:

* only a *wrapped* request qualifies for the ``request`` object: the bare
  INVITE of the ``invite`` event does not (use ``dlg.reply`` there);
* ``dlg.acceptInvite``'s code error text has a literal ``%s`` and a
  newline, and its success does not clear ``$errno`` (M-dlg-3);
* ``dlg.dialout`` joins prefix and names with ``_`` and its success does
  not clear ``$errno`` (M-dlg-6);
* ``dlg.getRequestBody``/``dlg.getReplyBody`` resolve the destination
  name (write it without ``$``) (M-dlg-7, M-dlg-8);
* ``dlg.deleteReplyBodyPart``'s argument is not resolved, and the two
  content-type conditions take their argument raw (M-dlg-15 … 17).
"""

from __future__ import annotations

import weakref
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsm.runtime.actions.b2b import B2B_SETTINGS
from dsm.runtime.call import DialogError
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.incoming import accept_invite
from dsm.runtime.registry import Module
from dsm.runtime.values import parse_int, parse_uint, strip_dollar

__all__ = [
    "module",
    "BodyPart",
    "set_last_request",
    "last_request",
    "convert_line_ends",
    "parse_body",
    "find_body_part",
    "add_body_part",
    "delete_body_part",
]

module = Module("mod_dlg", doc="direct SIP dialog control (modules.md section 6)")

LEVEL_ERROR = 0
LEVEL_DEBUG = 3
CRLF = "\r\n"
LITERAL_CRLF = "\\r\\n"
RELAY_MODES = frozenset({"RTP_Direct", "RTP_Relay", "RTP_Transcoding"})


# -- the last request ---------------------------------------------------------------

_last_requests: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def set_last_request(session: Any, request: Any) -> None:
    """Make ``request`` the request ``dlg.reply``/``dlg.acceptInvite`` answer in ``session``."""
    _last_requests[session] = request


def last_request(session: Any) -> Any | None:
    """The session's last request, or ``None`` (system sessions, SBC before ``sbc.setLastReq``)."""
    return _last_requests.get(session)


@module.on_invite
def on_invite(request: Any, session: Any) -> bool:
    """M-api-7: keep the incoming INVITE as the session's last request; never vetoes."""
    set_last_request(session, request)
    return True


# -- text helpers ---------------------------------------------------------------------


def convert_line_ends(text: str) -> str:
    """The reply-header line-end conversion of section 6.

    Every literal four-character ``\\r\\n`` becomes CRLF; text after the
    last one is appended followed by CRLF (``"P-A: 1\\r\\nP-B: 2"`` gives two
    CRLF-terminated lines, ``""`` stays empty).
    """
    pieces = text.split(LITERAL_CRLF)
    out = CRLF.join(pieces[:-1])
    if len(pieces) > 1:
        out += CRLF
    if pieces[-1]:
        out += pieces[-1] + CRLF
    return out


def _reply_headers(ctx: ActionContext) -> str:
    return convert_line_ends(ctx.vars.get("dlg.reply.hdrs", ""))


# -- message bodies ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One leaf of a message body: its Content-Type value (with parameters) and payload."""

    content_type: str
    payload: str

    @property
    def media_type(self) -> str:
        return media_type(self.content_type)


def media_type(content_type: str) -> str:
    """``Application/SDP; x=1`` -> ``application/sdp``."""
    return content_type.split(";", 1)[0].strip().lower()


def _ct_param(content_type: str, name: str) -> str | None:
    for piece in content_type.split(";")[1:]:
        key, eq, value = piece.partition("=")
        if eq and key.strip().lower() == name:
            return value.strip().strip('"')
    return None


def _valid_type(content_type: str) -> bool:
    main, slash, sub = media_type(content_type).partition("/")
    token = set("abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-")
    return bool(slash and main and sub and set(main) <= token and set(sub) <= token)


def _split_part(segment: str) -> BodyPart:
    """A multipart segment (after its delimiter line) -> its Content-Type and payload."""
    for sep in ("\r\n\r\n", "\n\n"):
        head, found, payload = segment.partition(sep)
        if found:
            break
    else:
        head, payload = segment, ""
    ctype = "text/plain"
    for line in head.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in ("content-type", "c"):
            ctype = value.strip()
    if payload.endswith("\r\n"):
        payload = payload[:-2]
    elif payload.endswith("\n"):
        payload = payload[:-1]
    return BodyPart(ctype, payload)


def parse_body(content_type: str, body: str) -> list[BodyPart] | None:
    """The leaf parts of a body: itself, or the parts of a (nested) multipart body.

    ``None`` when the body cannot be parsed for that type: a content type
    that is not ``type/subtype``, or a multipart body without a boundary or
    without a single delimiter line.  An empty content type means no body.
    """
    if not content_type.strip():
        return []
    if not _valid_type(content_type):
        return None
    if not media_type(content_type).startswith("multipart/"):
        return [BodyPart(content_type.strip(), body)]
    boundary = _ct_param(content_type, "boundary")
    if not boundary:
        return None
    delimiter = "--" + boundary
    segments = body.split(delimiter)
    if len(segments) < 2:
        return None
    parts: list[BodyPart] = []
    for segment in segments[1:]:
        if segment.startswith("--"):
            break  # the closing delimiter
        if segment.startswith("\r\n"):
            segment = segment[2:]
        elif segment.startswith("\n"):
            segment = segment[1:]
        part = _split_part(segment)
        if media_type(part.content_type).startswith("multipart/"):
            inner = parse_body(part.content_type, part.payload)
            if inner is None:
                return None
            parts.append(part)
            parts.extend(inner)
        else:
            parts.append(part)
    return parts


def find_body_part(content_type: str, body: str, wanted: str) -> str | None:
    """Payload of the part with media type ``wanted`` (the whole body if it is of that type).

    ``wanted`` is compared as given, case-insensitively: ``" application/sdp"``
    with its space matches nothing (the raw argument of M-dlg-16/17).
    """
    want = wanted.lower()
    if not want:
        return None
    if media_type(content_type) == want:
        return body
    for part in parse_body(content_type, body) or ():
        if part.media_type == want:
            return part.payload
    return None


def _boundary_for(parts: list[BodyPart]) -> str:
    seed = "".join(p.content_type + p.payload for p in parts).encode("utf-8", "surrogateescape")
    return f"dsm-{zlib.crc32(seed):08x}"


def _serialize(parts: list[BodyPart], boundary: str) -> str:
    out = [f"--{boundary}{CRLF}Content-Type: {p.content_type}{CRLF}{CRLF}{p.payload}{CRLF}" for p in parts]
    out.append(f"--{boundary}--{CRLF}")
    return "".join(out)


def _top_parts(content_type: str, body: str) -> tuple[list[BodyPart], str | None]:
    """Top-level parts of a body and its boundary (``None`` for a single-part body)."""
    if not content_type.strip():
        return [], None
    if media_type(content_type).startswith("multipart/"):
        boundary = _ct_param(content_type, "boundary")
        if boundary:
            leaves = parse_body(content_type, body) or []
            return leaves, boundary
    return [BodyPart(content_type.strip(), body)], None


def add_body_part(content_type: str, body: str, new_type: str, payload: str) -> tuple[str, str]:
    """M-dlg-14: the body with one more part; it becomes ``multipart/mixed`` if it was not."""
    parts, boundary = _top_parts(content_type, body)
    parts.append(BodyPart(new_type, payload))
    if boundary is None:
        boundary = _boundary_for(parts)
        content_type = f"multipart/mixed;boundary={boundary}"
    return content_type, _serialize(parts, boundary)


def delete_body_part(content_type: str, body: str, wanted: str) -> tuple[str, str] | None:
    """M-dlg-15: the body without the parts of media type ``wanted``; ``None`` if there is none.

    A multipart body left with one part becomes that single part.
    """
    want = media_type(wanted)
    parts, boundary = _top_parts(content_type, body)
    kept = [p for p in parts if p.media_type != want]
    if len(kept) == len(parts):
        return None
    if not kept:
        return "", ""
    if len(kept) == 1:
        return kept[0].content_type, kept[0].payload
    return content_type, _serialize(kept, boundary or _boundary_for(kept))


def message_content(message: Any) -> tuple[str, str]:
    """Content-Type and body of a request/reply object, whatever shape the host gives them in."""
    ctype = getattr(message, "content_type", None)
    if not isinstance(ctype, str):
        ctype = ""
        headers = getattr(message, "headers", None)
        if isinstance(headers, Mapping):
            for name, value in headers.items():
                if str(name).lower() in ("content-type", "c"):
                    ctype = str(value)
                    break
        if not ctype:
            block = getattr(message, "hdrs", "")
            if isinstance(block, str):
                for line in block.replace("\r\n", "\n").split("\n"):
                    name, colon, value = line.partition(":")
                    if colon and name.strip().lower() in ("content-type", "c"):
                        ctype = value.strip()
                        break
    body = getattr(message, "body", "")
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "surrogateescape")
    return ctype.strip(), body if isinstance(body, str) else ""


def _until_nul(text: str) -> str:
    return text.split("\0", 1)[0]


# -- objects of the current event ---------------------------------------------------------


def _wrapped_request(ctx: ActionContext) -> Any | None:
    request = ctx.objects.get("request")
    return request if getattr(request, "wrapped", False) else None


def _require_request(ctx: ActionContext) -> Any:
    request = _wrapped_request(ctx)
    if request is None:
        raise DSMException("dlg", {"cause": "no request"})
    return request


def _modifiable_reply(ctx: ActionContext) -> Any:
    reply = ctx.objects.get("reply")
    if reply is None or not getattr(reply, "modifiable", False):
        raise DSMException("dlg", {"cause": "no reply"})
    return reply


# -- replies (M-dlg-1 … 3) ---------------------------------------------------------------


@module.action("dlg.reply", "P,opt")
def dlg_reply(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-1: a reply without body to the last request (the INVITE).

    In the ``invite`` event a provisional or final reply changes the dialog
    status, so the host does not send its own 200 OK (E-151).
    """
    if last_request(ctx) is None:
        ctx.set_error("general", "no last request to reply")
        return
    code = parse_uint(ctx.resolve(p1))
    if code is None:
        ctx.set_error("arg")
        return
    try:
        ctx.call.dialog_reply(code, ctx.resolve(p2), _reply_headers(ctx))
    except DialogError as exc:
        ctx.log(LEVEL_ERROR, f"dlg.reply: {exc}")
        ctx.set_error("general", "error sending reply")
        return
    ctx.clear_error()


@module.action("dlg.replyRequest", "P,opt")
def dlg_reply_request(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-2: as ``dlg.reply`` for the wrapped ``request`` of a SipRequest event.

    Set ``#processed=true`` as well, or the host answers the request too.
    """
    request = _require_request(ctx)
    code = parse_uint(ctx.resolve(p1))
    if code is None:
        ctx.set_error("arg")
        return
    try:
        ctx.call.reply_request(request, code, ctx.resolve(p2), _reply_headers(ctx))
    except DialogError as exc:
        ctx.log(LEVEL_ERROR, f"dlg.replyRequest: {exc}")
        ctx.set_error("general", "error sending reply")
        return
    ctx.clear_error()


@module.action("dlg.acceptInvite", "P,opt")
def dlg_accept_invite(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-3: answer the INVITE with an SDP answer (default ``200 OK``).

    A 18x starts an early session and a 2xx the call: EarlySession or
    SessionStart is processed at once, nested in this action (E-51), and
    media is connected unless ``$connect_early_session`` /
    ``$connect_session`` is ``0`` (:func:`dsm.runtime.incoming.accept_invite`).
    If the answer cannot be made or sent, the session is stopped, the INVITE
    is refused with the failure's code and reason, and ``$errno`` is ``dlg``.
    REFERENCE QUIRKS: the code error text contains a literal ``%s`` and a
    newline; success leaves ``$errno`` as it was.
    """
    code, reason = 200, "OK"
    code_text = ctx.resolve(p1)
    if code_text:
        reason = ctx.resolve(p2)
        parsed = parse_uint(code_text)
        if parsed is None:
            ctx.set_error("arg", f"decoding reply code '{code_text}%s'\n")
            return
        code = parsed
    if last_request(ctx) is None:
        ctx.set_error("general", "no last request to reply")
        return
    session: Any = ctx
    try:
        accept_invite(session, ctx.call, code, reason, _reply_headers(ctx))
    except DialogError as exc:
        ctx.log(LEVEL_ERROR, f"dlg.acceptInvite: {exc}")
        session.stop()
        try:
            ctx.call.dialog_reply(exc.code, exc.reason)
        except DialogError as again:
            ctx.log(LEVEL_DEBUG, f"dlg.acceptInvite: refusing the INVITE failed too: {again}")
        ctx.set_error("dlg", f"Error accepting call: {exc.code} {exc.reason}")


# -- requests (M-dlg-4, 11, 12) -----------------------------------------------------------


def _send(
    ctx: ActionContext, action: str, failure: tuple[str, str], method: str, *request: str
) -> None:
    """Send a request in the dialog: errno cleared on success, ``failure`` (errno, strerror) if not."""
    try:
        ctx.call.send_request(method, *request)
    except DialogError as exc:
        ctx.log(LEVEL_ERROR, f"{action}: {exc}")
        ctx.set_error(*failure)
        return
    ctx.clear_error()


@module.action("dlg.bye", "S")
def dlg_bye(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-dlg-4: send BYE with the extra headers ``R(a)`` (line ends converted); the session goes on."""
    _send(ctx, "dlg.bye", ("general", "Error sending bye"), "BYE", convert_line_ends(ctx.resolve(a)))


@module.action("dlg.refer", "P,opt")
def dlg_refer(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-11: REFER with ``Refer-To: R(p1)`` and, if ``R(p2)`` is not empty, ``Expires`` (INT)."""
    target = ctx.resolve(p1)
    expires_text = ctx.resolve(p2)
    headers = f"Refer-To: {target}{CRLF}"
    if expires_text:
        expires = parse_int(expires_text)
        if expires is None:
            raise DSMException("param", {"cause": f"expires {expires_text} not valid"})
        headers += f"Expires: {expires}{CRLF}"
    _send(ctx, "dlg.refer", ("dlg", "sending REFER failed"), "REFER", headers)


@module.action("dlg.info", "P,opt")
def dlg_info(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-12: INFO with body ``R(p2)`` of type ``R(p1)`` (literal ``\\r\\n`` → CRLF); no type, no body."""
    ctype = ctx.resolve(p1)
    body = ctx.resolve(p2).replace(LITERAL_CRLF, CRLF) if ctype else ""
    if ctype and parse_body(ctype, body) is None:
        raise DSMException("param", {"cause": "parsing of INFO body failed"})
    _send(ctx, "dlg.info", ("dlg", "sending INFO failed"), "INFO", "", ctype, body)


# -- other legs and other calls (M-dlg-5, 6, 9, 10, 13) --------------------------------------


@module.action("dlg.connectCalleeRelayed", "P,mand")
def dlg_connect_callee_relayed(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-5: ``B2B.connectCallee`` always in relayed-INVITE mode (``$b2b_relayed_invite`` ignored)."""
    vars = ctx.vars
    settings = {k: vars[k] for k in B2B_SETTINGS if k in vars}
    ctx.call.b2b_connect_callee(ctx.resolve(p1), ctx.resolve(p2), True, settings)


_DIALOUT_REQUIRED = ("caller", "callee", "domain", "app")


@module.action("dlg.dialout", "S")
def dlg_dialout(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-dlg-6: start an independent outgoing call running ``$<p>_app``.

    The host offers the service as ``engine.dialout(app, *, r_uri, from_,
    from_uri, to, local_tag, headers, auth_user, auth_pwd, variables) ->
    local tag``; a host without it makes the action fail with ``general``.
    REFERENCE QUIRKS: names are joined with ``_``; a missing required
    variable sets only ``$errno = arg``; success leaves ``$errno`` alone.
    """
    p = ctx.resolve(a)
    vars = ctx.vars
    values: dict[str, str] = {}
    for name in _DIALOUT_REQUIRED:
        value = vars.get(f"{p}_{name}")
        if value is None:
            ctx.log(LEVEL_ERROR, f"dlg.dialout: variable ${p}_{name} is required")
            ctx.set_error("arg")
            return
        values[name] = value
    caller, callee, domain = values["caller"], values["callee"], values["domain"]
    prefix = f"{p}_var."
    variables = {k[len(prefix) :]: v for k, v in vars.items() if k.startswith(prefix)}
    start = getattr(ctx.engine, "dialout", None)
    ltag_var = f"{p}_ltag"
    if start is None:
        vars[ltag_var] = ""
        ctx.set_error("general", "dlg.dialout: this host cannot start outgoing calls")
        return
    try:
        ltag = start(
            values["app"],
            r_uri=vars.get(f"{p}_r_uri") or f"sip:{callee}@{domain}",
            from_=vars.get(f"{p}_from") or f"<sip:{caller}@{domain}>",
            from_uri=vars.get(f"{p}_from_uri") or f"sip:{caller}@{domain}",
            to=vars.get(f"{p}_to") or f"<sip:{callee}@{domain}>",
            local_tag=vars.get(ltag_var, ""),
            headers=vars.get(f"{p}_hdrs", "").replace(LITERAL_CRLF, CRLF),
            auth_user=vars.get(f"{p}_auth_user", ""),
            auth_pwd=vars.get(f"{p}_auth_pwd", ""),
            variables=variables,
        )
    except Exception as exc:  # whatever the host refuses, the script sees errno general
        ctx.log(LEVEL_ERROR, f"dlg.dialout: {exc}")
        vars[ltag_var] = ""
        ctx.set_error("general", f"dlg.dialout failed: {exc}")
        return
    vars[ltag_var] = str(ltag)


@module.action("dlg.getOtherId", "S")
def dlg_get_other_id(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-dlg-9: ``$var`` = the other leg's identifier (empty without one); nothing outside B2B sessions."""
    if not getattr(ctx.call, "b2b_capable", False):
        return
    ctx.vars[strip_dollar(a)] = str(getattr(ctx.call, "other_id", "") or "")


@module.action("dlg.getRtpRelayMode", "S")
def dlg_get_rtp_relay_mode(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-dlg-10: ``$var`` = ``RTP_Direct``, ``RTP_Relay``, ``RTP_Transcoding`` or ``Unknown``."""
    if not getattr(ctx.call, "b2b_capable", False):
        return
    mode = getattr(ctx.call, "rtp_relay_mode", "")
    ctx.vars[strip_dollar(a)] = mode if mode in RELAY_MODES else "Unknown"


def _relay_error(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-13: answer the wrapped request locally with a final reply instead of relaying it.

    The host's B2B layer does the answering (``Call.reply_request`` on the
    request the other leg relayed to us).
    """
    request = _require_request(ctx)
    if not getattr(ctx.call, "b2b_capable", False):
        raise DSMException("param", {"cause": "dlg.relayError used on non-b2b-session"})
    code = parse_uint(ctx.resolve(p1))
    if code is None:
        ctx.set_error("arg")
        return
    try:
        ctx.call.reply_request(request, code, ctx.resolve(p2))
    except DialogError as exc:
        ctx.log(LEVEL_ERROR, f"dlg.relayError: {exc}")
        ctx.set_error("general", "error sending reply")


module.action("dlg.relayError", "P,mand")(_relay_error)
module.action("dlg.relayReply", "P,mand")(_relay_error)


# -- bodies (M-dlg-7, 8, 14 … 17) -----------------------------------------------------------


def _store_body(ctx: ActionContext, message: Any, p1: str, p2: str) -> None:
    wanted, var = ctx.resolve(p1), ctx.resolve(p2)
    ctype, body = message_content(message)
    payload = find_body_part(ctype, body, wanted)
    if payload is None:
        ctx.vars.pop(var, None)
    else:
        ctx.vars[var] = _until_nul(payload)


@module.action("dlg.getRequestBody", "P,mand")
def dlg_get_request_body(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-7: the part of the wrapped request's body with that content type into ``$var``.

    REFERENCE QUIRK: the destination is resolved, so it is written without
    ``$``.  Not found: the variable is deleted.  errno unchanged.
    """
    _store_body(ctx, _require_request(ctx), p1, p2)


@module.action("dlg.getReplyBody", "P,mand")
def dlg_get_reply_body(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-8: as ``dlg.getRequestBody`` for the ``reply`` object."""
    reply = ctx.objects.get("reply")
    if reply is None:
        raise DSMException("dlg", {"cause": "no reply"})
    _store_body(ctx, reply, p1, p2)


@module.action("dlg.addReplyBodyPart", "P,mand")
def dlg_add_reply_body_part(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-dlg-14: add a part to the modifiable reply of ``B2B.otherReply`` (SBC)."""
    reply = _modifiable_reply(ctx)
    ctype, body = message_content(reply)
    reply.content_type, reply.body = add_body_part(ctype, body, ctx.resolve(p1), ctx.resolve(p2))


@module.action("dlg.deleteReplyBodyPart", "S")
def dlg_delete_reply_body_part(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-dlg-15: remove a part of the modifiable reply; REFERENCE QUIRK: the argument is not resolved."""
    reply = _modifiable_reply(ctx)
    ctype, body = message_content(reply)
    result = delete_body_part(ctype, body, a)
    if result is None:
        ctx.log(LEVEL_DEBUG, f"dlg.deleteReplyBodyPart: no part of type {a}")
        return
    reply.content_type, reply.body = result


def _has_content_type(message: Any, wanted: str) -> bool:
    ctype, body = message_content(message)
    return find_body_part(ctype, body, wanted) is not None


@module.condition("dlg.replyHasContentType", "raw")
def dlg_reply_has_content_type(ctx: ActionContext, text: str = "") -> bool:
    """M-dlg-16: the ``reply`` object's body (or a part) has that type; argument raw, any event."""
    reply = ctx.objects.get("reply")
    if reply is None:
        ctx.log(LEVEL_ERROR, "dlg.replyHasContentType: no reply")
        return False
    return _has_content_type(reply, text)


@module.condition("dlg.requestHasContentType", "raw")
def dlg_request_has_content_type(ctx: ActionContext, text: str = "") -> bool:
    """M-dlg-17: as ``dlg.replyHasContentType`` for the wrapped ``request``."""
    request = _wrapped_request(ctx)
    if request is None:
        ctx.log(LEVEL_ERROR, "dlg.requestHasContentType: no request")
        return False
    return _has_content_type(request, text)
