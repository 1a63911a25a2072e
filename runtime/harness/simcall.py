"""The simulated call: the host side of a session, without SIP or a sound card.

:class:`SimCall` implements :class:`dsm.runtime.call.Call`, exactly like the
real SIP call does, so a script cannot tell the two apart.  Instead of
sending packets it keeps records: the replies and requests it "sent", the
DTMF it generated, the B2B leg it was asked to create; the media side is a
:class:`~dsm.runtime.harness.media.VirtualMedia` (the call media the SIP
call uses too) driven frame by frame on the virtual clock, so what the caller heard is real audio on a real timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsm.runtime.call import Call, DialogError, MediaDelegation
from dsm.runtime.harness.records import Reply, Request

if TYPE_CHECKING:
    from dsm.runtime.harness.callee import SimCallee
    from dsm.runtime.harness.media import VirtualMedia

__all__ = ["SimCall", "RequestHandle", "SDP_ANSWER", "parse_uri", "header_dict"]

SDP_ANSWER = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 127.0.0.1\r\n"
    "s=dsm simulated call\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)
"""The body a simulated reply with an SDP answer carries (``dlg.acceptInvite``)."""

_CANNOT_SEND = (500, "could not send response")


@dataclass(slots=True)
class RequestHandle:
    """The simulated server transaction of a request the caller sent inside the dialog.

    The harness puts it into the wrapped request of the SipRequest event
    (``InviteRequest.handle``) so that :meth:`SimCall.reply_request` knows
    which request a script's ``dlg.replyRequest`` answers; ``final`` is the
    code of the final reply once one was sent (a second one is refused, as
    a real transaction would).
    """

    method: str
    cseq: int
    final: int | None = None


def header_dict(block: str) -> dict[str, str]:
    """``Name: value`` lines of a CRLF header block as a dict (later lines win)."""
    out: dict[str, str] = {}
    for line in block.replace("\r\n", "\n").split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip():
            out[name.strip()] = value.strip()
    return out


def _check_code(code: int) -> None:
    if not 100 <= code <= 699:
        raise DialogError(f"invalid reply code {code}", *_CANNOT_SEND)


def parse_uri(uri: str) -> tuple[str, str]:
    """``sip:alice@example.org;x=y`` -> (``alice``, ``example.org``)."""
    text = uri.strip()
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.index(">")]
    if ":" in text.split("@", 1)[0]:
        text = text.split(":", 1)[1]
    user, _, host = text.rpartition("@")
    host = host.split(";", 1)[0].split("?", 1)[0]
    return user, host.split(":", 1)[0] if host.count(":") == 1 else host


class SimCall(MediaDelegation, Call):
    """A caller on the other end of a simulated SIP dialog.

    ``caller``/``callee`` are the From and request URIs of the INVITE; the
    selects of ``engine.md`` E-172 are derived from them as for a real
    incoming call.
    """

    def __init__(
        self,
        media: VirtualMedia,
        caller: str,
        callee: str,
        headers: Mapping[str, str] | None = None,
        *,
        note: Callable[[str, str], None] | None = None,
        new_callee: Callable[[SimCall, str, str], SimCallee] | None = None,
        number: int = 1,
    ) -> None:
        self.media = media
        self.caller = caller
        self.callee_uri = callee
        self.headers: dict[str, str] = dict(headers or {})
        self.callid = f"sim-{number}@dsm.invalid"
        self.remote_tag = f"caller-{number}"
        user, domain = parse_uri(callee)
        self._selects = {
            "user": user,
            "domain": domain,
            "remote_tag": self.remote_tag,
            "callid": self.callid,
            "local_uri": callee,
            "local_party": f"<{callee}>",
            "remote_uri": caller,
            "remote_party": f"<{caller}>;tag={self.remote_tag}",
        }
        self.replies: list[Reply] = []
        self.requests: list[Request] = []
        self.b2b_flags: dict[str, bool] = {}
        self.b2b_headers = ""
        self.relayed: list[dict[str, str]] = []
        self.callee: SimCallee | None = None
        self.dialog = "trying"  # trying -> (proceeding) -> early -> connected -> disconnected
        self.sdp_refusal: tuple[int, str] | None = None
        """Set to ``(code, reason)`` to make SDP negotiation fail (e.g. ``(488, "Not Acceptable Here")``)."""
        self.b2b_relayed_invite = False
        """Whether the other leg was created in relayed-INVITE mode (A-core-53, M-dlg-5)."""
        self.rtp_relay_mode = "RTP_Direct"
        """The B2B RTP relay mode ``dlg.getRtpRelayMode`` reports (M-dlg-10)."""
        self._note = note or (lambda kind, detail: None)
        self._new_callee = new_callee
        self._number = number

    # -- SIP dialog side (used by the harness and by modules) ------------------------
    def reply(
        self,
        code: int,
        reason: str,
        request: str = "INVITE",
        headers: Mapping[str, str] | None = None,
        body: str = "",
        *,
        hdrs: str = "",
    ) -> None:
        """Send a reply towards the caller and move the dialog state as SIP would."""
        self.replies.append(Reply(code, reason, request, dict(headers or {}), body, hdrs))
        self._note("reply", f"{code} {reason} ({request})")
        if request == "INVITE":
            if 200 <= code < 300:
                self.dialog = "connected"
            elif code >= 300:
                self.dialog = "disconnected"
            elif code > 100:
                self.dialog = "early"
            elif self.dialog == "trying":
                self.dialog = "proceeding"

    def request(
        self, method: str, headers: Mapping[str, str] | None = None, body: str = "", *, hdrs: str = ""
    ) -> None:
        self.requests.append(Request(method, dict(headers or {}), body, hdrs))
        self._note("request", method)

    # -- direct dialog control (mod_dlg) ---------------------------------------------
    def dialog_reply(self, code: int, reason: str, headers: str = "", sdp: bool = False) -> None:
        """Reply to the initial INVITE as the script asks (``dlg.reply``, ``dlg.acceptInvite``).

        Once a final reply was sent (or the caller gave up) the INVITE
        transaction is over and nothing more can be sent, as in SIP.  With
        ``sdp`` the reply carries :data:`SDP_ANSWER`, unless
        :attr:`sdp_refusal` makes the negotiation fail.
        """
        _check_code(code)
        if self.dialog in ("connected", "disconnected"):
            raise DialogError("the INVITE has already been answered", *_CANNOT_SEND)
        fields = header_dict(headers)
        body = ""
        if sdp:
            if self.sdp_refusal is not None:
                refused_code, refused_reason = self.sdp_refusal
                raise DialogError("SDP offer not acceptable", refused_code, refused_reason)
            fields["Content-Type"] = "application/sdp"
            body = SDP_ANSWER
        self.reply(code, reason, "INVITE", fields, body, hdrs=headers)

    def reply_request(self, request: Any, code: int, reason: str, headers: str = "") -> None:
        """Reply to a request of a SipRequest event (``dlg.replyRequest``).

        Only the wrapped requests the harness created carry a
        :class:`RequestHandle`; anything else cannot be answered.
        """
        handle = getattr(request, "handle", None)
        if not getattr(request, "wrapped", False) or not isinstance(handle, RequestHandle):
            raise DialogError("not a request received in this dialog", *_CANNOT_SEND)
        _check_code(code)
        if handle.final is not None:
            raise DialogError(
                f"{handle.method} already answered with {handle.final}", *_CANNOT_SEND
            )
        if code >= 200:
            handle.final = code
        self.reply(code, reason, handle.method, header_dict(headers), hdrs=headers)

    def send_request(
        self, method: str, headers: str = "", content_type: str = "", body: str = ""
    ) -> None:
        """Send BYE, INFO, REFER … inside an early or established dialog.

        A BYE ends the dialog (so no second BYE follows when the session
        ends) but, as in the reference, not the session.
        """
        if self.dialog not in ("early", "connected"):
            raise DialogError(f"no dialog to send {method} in (dialog is {self.dialog})")
        fields = header_dict(headers)
        if content_type:
            fields["Content-Type"] = content_type
        self.request(method, fields, body, hdrs=headers)
        if method == "BYE":
            self.dialog = "disconnected"

    @property
    def other_id(self) -> str:
        """The other leg's identifier for ``dlg.getOtherId`` (M-dlg-9); empty without one."""
        return "" if self.callee is None else f"callee-{self._number}"

    # -- Call interface ----------------------------------------------------------------
    def select(self, name: str) -> str:
        if name == "local_tag":
            return self.local_tag
        return self._selects.get(name, "")

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.media.send_dtmf(event, duration_ms)
        self._note("dtmf-out", f"event {event} for {duration_ms} ms")

    def bye(self) -> None:
        if self.dialog in ("connected", "early"):
            self.request("BYE")
        self.dialog = "disconnected"

    def on_session_end(self) -> None:
        self.media.close()
        if self.dialog == "connected":
            self.bye()

    # -- B2B -------------------------------------------------------------------------
    def b2b_connect_callee(self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]) -> None:
        if self._new_callee is None:
            raise RuntimeError("this simulated call cannot create another leg")
        self.callee = self._new_callee(self, to, request_uri)
        self.b2b_relayed_invite = relayed
        self._note("b2b", f"connectCallee to={to} ruri={request_uri}{' (relayed INVITE)' if relayed else ''}")

    def b2b_terminate_other_leg(self) -> None:
        if self.callee is not None:
            self.callee.terminated_by_a()
        self._note("b2b", "terminateOtherLeg")

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        self.request("INVITE", {"X-Generate-SDP": "yes" if generate_sdp else "no"}, extra_headers)

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        self.b2b_flags[flag] = on

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        self.relayed.append(dict(params))
        if self.callee is not None:
            self.callee.relay_event(params)

    def get_b2b_headers(self) -> str:
        return self.b2b_headers

    def set_b2b_headers(self, block: str) -> None:
        self.b2b_headers = block
