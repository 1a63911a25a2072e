"""Calls started over the control endpoint, before SIP exists: a headless simulated call.

``dsm serve`` has no SIP listener yet, so operators (and tests) start calls
with the ``startCall`` method and drive them with ``callPress``,
``callEvent`` and ``callHangup``.  :class:`RemoteCall` is the host side of
such a call.  It implements :class:`dsm.runtime.call.Call` without audio:

* the playlist is a queue of items that "play" for a nominal time on the
  engine's clock (prompts and files ``item_seconds`` each, silence and
  ring tones their own length, loops forever); when it runs empty the
  session gets ``NoAudio``, a separator gives ``PlaylistSeparator`` — so
  scripts that wait for prompts to finish make progress in real time;
* replies, requests and DTMF sent are recorded for ``callInfo``;
* recording and B2B are accepted and recorded, nothing more.

The start sequence is the one of E-152 as the harness runs it: Start, the
modules' invite hooks and ``Invite``, then the automatic 200 OK (unless the
script replied itself), ``SessionStart`` and media connected unless
``$connect_session`` is ``0``.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dsm.runtime.call import (
    AudioItem,
    Call,
    FileItem,
    PromptItem,
    RingtoneItem,
    SeparatorItem,
    SilenceItem,
)

if TYPE_CHECKING:
    from dsm.runtime.clock import TimerHandle
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = ["RemoteCall", "RemoteRequest", "start_remote_call", "KEY_CODES"]

KEY_CODES: dict[str, int] = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class RemoteRequest:
    """The INVITE placed in the object store as ``request`` (E-20)."""

    method: str
    r_uri: str
    from_: str
    to: str
    callid: str
    hdrs: str = ""
    body: str = ""
    cseq: int = 1
    headers: dict[str, str] = field(default_factory=dict)


class RemoteCall(Call):
    """A simulated caller without audio; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        caller: str,
        callee: str,
        headers: Mapping[str, str] | None = None,
        item_seconds: float = 1.0,
    ) -> None:
        n = next(_ids)
        self.engine = engine
        self.caller = caller
        self.callee_uri = callee
        self.headers = dict(headers or {})
        self.item_seconds = item_seconds
        self.callid = f"ctl-{n}@dsm.invalid"
        self.remote_tag = f"caller-{n}"
        user, _, host = callee.split(":", 1)[-1].partition("@")
        self._selects = {
            "user": user,
            "domain": host.split(";", 1)[0],
            "remote_tag": self.remote_tag,
            "callid": self.callid,
            "local_uri": callee,
            "local_party": f"<{callee}>",
            "remote_uri": caller,
            "remote_party": f"<{caller}>;tag={self.remote_tag}",
        }
        self.session: Session | None = None
        self.dialog = "trying"
        self.replies: list[tuple[int, str, str]] = []
        self.requests: list[str] = []
        self.dtmf_sent: list[tuple[int, int]] = []
        self.playlist: deque[AudioItem] = deque()
        self.played: list[str] = []
        self.connected = False
        self._playing: TimerHandle | None = None
        self._had_audio = False
        self.local_tag = ""

    # -- host side --------------------------------------------------------------
    def deliver(self, event_type: str, params: dict[str, str] | None = None, **kw: Any) -> None:
        s = self.session
        if s is not None and not s.ended:
            s.deliver(event_type, params, **kw)
            self.engine.run_pending(limit=100_000)

    def reply(self, code: int, reason: str, request: str = "INVITE") -> None:
        self.replies.append((code, reason, request))
        if request == "INVITE":
            if 200 <= code < 300:
                self.dialog = "connected"
            elif code >= 300:
                self.dialog = "disconnected"
            elif code > 100:
                self.dialog = "early"

    def press(self, keys: str) -> int:
        """One Key event per key (``0``–``9``, ``*``, ``#``, ``A``–``D``); returns how many."""
        codes = []
        for k in keys:
            if k in " ,":
                continue
            code = KEY_CODES.get(k.upper())
            if code is None:
                raise ValueError(f"not a DTMF key: {k!r} (use 0-9, *, #, A-D)")
            codes.append(code)
        for code in codes:
            self.deliver("Key", {"key": str(code), "duration": "100"})
        return len(codes)

    def hangup(self) -> None:
        """BYE from the caller: answered 200, then the Hangup event (E-151)."""
        if self.session is None or self.session.ended:
            return
        self.dialog = "disconnected"
        self.reply(200, "OK", "BYE")
        self._stop_media()
        self.deliver("Hangup", {"headers": ""})

    def summary(self) -> dict[str, Any]:
        return {
            "dialog": self.dialog,
            "replies": [f"{c} {r} ({m})" for c, r, m in self.replies],
            "requests": list(self.requests),
            "played": self.played[-20:],
            "playlist": len(self.playlist),
        }

    # -- media simulation ------------------------------------------------------------
    def _duration(self, item: AudioItem) -> float | None:
        """Seconds an item plays; ``None`` for endless ones."""
        if isinstance(item, FileItem | PromptItem):
            return None if item.loop else self.item_seconds
        if isinstance(item, SilenceItem):
            return None if item.ms < 0 else item.ms / 1000.0
        if isinstance(item, RingtoneItem):
            return None if item.length <= 0 else item.length / 1000.0
        return 0.0

    def _next(self) -> None:
        self._playing = None
        if not self.connected:
            return
        while self.playlist:
            item = self.playlist.popleft()
            if isinstance(item, SeparatorItem):
                self.deliver("PlaylistSeparator", {"id": str(item.id)})
                continue
            self._had_audio = True
            self.played.append(getattr(item, "name", "") or getattr(item, "path", "") or type(item).__name__)
            seconds = self._duration(item)
            if seconds is None:
                return  # endless: plays until flushed
            clock = self.engine.clock
            self._playing = clock.call_at(clock.now() + seconds, self._next)
            return
        if self._had_audio:
            self._had_audio = False
            self.deliver("NoAudio", {})

    def _kick(self) -> None:
        # Always through the clock: actions call this while the engine is
        # processing, and events must never be processed re-entrantly (E-147).
        if self._playing is None and self.connected:
            clock = self.engine.clock
            self._playing = clock.call_at(clock.now(), self._next)

    def _stop_media(self) -> None:
        self.connected = False
        if self._playing is not None:
            self._playing.cancel()
            self._playing = None

    # -- Call interface -------------------------------------------------------------
    def select(self, name: str) -> str:
        if name == "local_tag":
            return self.local_tag
        return self._selects.get(name, "")

    def play(self, item: AudioItem, front: bool = False) -> None:
        if front:
            self.playlist.appendleft(item)
        else:
            self.playlist.append(item)
        self._kick()

    def flush_playlist(self) -> None:
        self.playlist.clear()
        if self._playing is not None:
            self._playing.cancel()
            self._playing = None
        self._had_audio = False

    def attach_playlist(self, input: bool, output: bool) -> None:
        pass

    def set_prompts(self, name: str) -> None:
        pass

    def record_start(self, path: str) -> None:
        self.requests.append(f"record {path}")

    def record_stop(self) -> bool:
        return False

    def record_length(self) -> int | None:
        return None

    def record_data_size(self) -> int | None:
        return None

    def media_connect(self) -> None:
        self.connected = True
        self._kick()

    def media_disconnect(self) -> None:
        self._stop_media()

    def set_media_flag(self, flag: str, on: bool) -> None:
        pass

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.dtmf_sent.append((event, duration_ms))

    def bye(self) -> None:
        if self.dialog in ("connected", "early"):
            self.requests.append("BYE")
        self.dialog = "disconnected"

    def on_session_end(self) -> None:
        self._stop_media()
        if self.dialog == "connected":
            self.bye()

    def b2b_connect_callee(self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]) -> None:
        self.requests.append(f"B2B connectCallee {to} {request_uri}")

    def b2b_terminate_other_leg(self) -> None:
        self.requests.append("B2B terminateOtherLeg")

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        self.requests.append("INVITE (re-INVITE)")

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        pass

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        pass

    def get_b2b_headers(self) -> str:
        return ""

    def set_b2b_headers(self, block: str) -> None:
        pass


def _header_block(headers: Mapping[str, str]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items())


def start_remote_call(
    engine: Engine,
    app: str,
    caller: str = "sip:operator@127.0.0.1",
    callee: str | None = None,
    headers: Mapping[str, str] | None = None,
    item_seconds: float = 1.0,
) -> RemoteCall:
    """Start an incoming simulated call to ``app`` and run its start sequence (E-152)."""
    callee = callee or f"sip:{app}@127.0.0.1"
    call = RemoteCall(engine, caller, callee, headers, item_seconds)
    session = engine.start_call(app, call, headers=_header_block(call.headers))
    call.session = session
    engine.run_pending(limit=100_000)
    if session.ended:
        return call
    req = RemoteRequest("INVITE", callee, caller, callee, call.callid, _header_block(call.headers), headers=call.headers)
    accept = engine.run_invite_hooks(session, req)
    before = call.dialog
    call.deliver("Invite", None, objects={"request": req})
    if session.ended or not accept or call.dialog != before:
        return call
    call.reply(200, "OK")
    call.deliver("SessionStart", None)
    if not session.ended and session.vars.get("connect_session") != "0":
        call.media_connect()
    return call
