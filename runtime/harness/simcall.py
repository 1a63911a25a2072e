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
from typing import TYPE_CHECKING

from dsm.runtime.call import Call, MediaDelegation
from dsm.runtime.harness.records import Reply, Request

if TYPE_CHECKING:
    from dsm.runtime.harness.callee import SimCallee
    from dsm.runtime.harness.media import VirtualMedia

__all__ = ["SimCall", "parse_uri"]


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
        self.dialog = "trying"  # trying -> connected -> disconnected
        self._note = note or (lambda kind, detail: None)
        self._new_callee = new_callee

    # -- SIP dialog side (used by the harness and by modules) ------------------------
    def reply(self, code: int, reason: str, request: str = "INVITE", headers: Mapping[str, str] | None = None, body: str = "") -> None:
        """Send a reply towards the caller and move the dialog state as SIP would."""
        self.replies.append(Reply(code, reason, request, dict(headers or {}), body))
        self._note("reply", f"{code} {reason} ({request})")
        if request == "INVITE":
            if 200 <= code < 300:
                self.dialog = "connected"
            elif code >= 300:
                self.dialog = "disconnected"
            elif code > 100:
                self.dialog = "early"

    def request(self, method: str, headers: Mapping[str, str] | None = None, body: str = "") -> None:
        self.requests.append(Request(method, dict(headers or {}), body))
        self._note("request", method)

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
        self._note("b2b", f"connectCallee to={to} ruri={request_uri}")

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
