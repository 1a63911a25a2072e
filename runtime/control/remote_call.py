"""Calls started over the control endpoint, before SIP exists: a headless simulated call.

``dsm serve`` has no SIP listener yet, so operators (and tests) start calls
with the ``startCall`` method and drive them with ``callPress``,
``callEvent`` and ``callHangup``.  :class:`RemoteCall` is the harness's
:class:`~dsm.runtime.harness.simcall.SimCall` (same selects, replies, B2B
records and start sequence, :func:`dsm.runtime.incoming.answer_incoming`)
with a media side that needs no audio files, :class:`NominalMedia`:

* the playlist is a queue of items that "play" for a nominal time on the
  engine's clock (prompts and files ``item_seconds`` each, silence and
  ring tones their own length, loops forever); when it runs empty the
  session gets ``NoAudio``, a separator gives ``PlaylistSeparator`` — so
  scripts that wait for prompts to finish make progress in real time;
* recording is accepted and recorded, nothing more.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dsm.runtime.call import (
    AudioItem,
    FileItem,
    PromptItem,
    RingtoneItem,
    SeparatorItem,
    SilenceItem,
)
from dsm.runtime.harness.callee import SimCallee
from dsm.runtime.harness.simcall import SimCall
from dsm.runtime.incoming import InviteRequest, answer_incoming, header_block
from dsm.runtime.media.dtmf import KEY_CODES

if TYPE_CHECKING:
    from dsm.runtime.clock import TimerHandle
    from dsm.runtime.engine import Engine
    from dsm.runtime.session import Session

__all__ = ["NominalMedia", "RemoteCall", "start_remote_call"]


class NominalMedia:
    """A playlist without audio: every item lasts a nominal time on the engine's clock."""

    def __init__(self, engine: Engine, item_seconds: float) -> None:
        self.engine = engine
        self.item_seconds = item_seconds
        self.playlist: deque[AudioItem] = deque()
        self.played: list[str] = []
        self.recordings: list[str] = []
        self.sent_dtmf: list[tuple[int, int]] = []
        self.flags: dict[str, bool] = {"dtmf_detection": True}
        self.connected = False
        self.session: Session | None = None
        self._playing: TimerHandle | None = None
        self._had_audio = False

    def _deliver(self, event_type: str, params: dict[str, str]) -> None:
        s = self.session
        if s is not None and not s.ended:
            s.deliver(event_type, params)
            self.engine.run_pending(limit=100_000)

    def _duration(self, item: AudioItem) -> float | None:
        """Seconds an item plays; ``None`` for endless ones."""
        if isinstance(item, FileItem | PromptItem):
            return None if item.loop else self.item_seconds
        if isinstance(item, SilenceItem):
            return None if item.ms < 0 else item.ms / 1000.0
        if isinstance(item, RingtoneItem):
            return None if item.length <= 0 else item.length / 1000.0
        if getattr(item, "live", False):  # a conference room: until flushed
            return None
        return 0.0

    def _next(self) -> None:
        self._playing = None
        if not self.connected:
            return
        while self.playlist:
            item = self.playlist.popleft()
            if isinstance(item, SeparatorItem):
                self._deliver("PlaylistSeparator", {"id": str(item.id)})
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
            self._deliver("NoAudio", {"type": "noAudio"})

    def _kick(self) -> None:
        # Always through the clock: actions call this while the engine is
        # processing, and events must never be processed re-entrantly (E-147).
        if self._playing is None and self.connected:
            clock = self.engine.clock
            self._playing = clock.call_at(clock.now(), self._next)

    def _stop(self) -> None:
        if self._playing is not None:
            self._playing.cancel()
            self._playing = None

    # -- the media operations SimCall delegates ------------------------------------------
    def play(self, item: AudioItem, front: bool = False) -> None:
        if front:
            self.playlist.appendleft(item)
        else:
            self.playlist.append(item)
        self._kick()

    def flush_playlist(self) -> None:
        self.playlist.clear()
        self._stop()
        self._had_audio = False

    def attach_playlist(self, input: bool, output: bool) -> None:
        return None

    def set_prompts(self, name: str) -> None:
        return None

    def record_start(self, path: str) -> None:
        self.recordings.append(path)

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
        self.connected = False
        self._stop()

    def set_media_flag(self, flag: str, on: bool) -> None:
        self.flags[flag] = on

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.sent_dtmf.append((event, duration_ms))

    def close(self) -> None:
        self.media_disconnect()


class RemoteCall(SimCall):
    """A simulated caller without audio, driven over the control endpoint."""

    media: NominalMedia  # type: ignore[assignment]

    def __init__(
        self,
        engine: Engine,
        caller: str,
        callee: str,
        headers: Mapping[str, str] | None = None,
        item_seconds: float = 1.0,
        number: int = 1,
    ) -> None:
        super().__init__(
            NominalMedia(engine, item_seconds),  # type: ignore[arg-type]
            caller,
            callee,
            headers,
            new_callee=lambda sim, to, ruri: SimCallee(to, ruri, self._deliver),
            number=number,
        )
        self.engine = engine
        self.session: Session | None = None

    @property
    def played(self) -> list[str]:
        return self.media.played

    def _deliver(self, event_type: str, params: dict[str, str] | None) -> None:
        self.media._deliver(event_type, params or {})

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
            self._deliver("Key", {"key": str(code), "duration": "100"})
        return len(codes)

    def hangup(self) -> None:
        """BYE from the caller: answered 200, then the Hangup event (E-151)."""
        if self.session is None or self.session.ended:
            return
        self.dialog = "disconnected"
        self.reply(200, "OK", "BYE")
        self.media.media_disconnect()
        self._deliver("Hangup", {"headers": ""})

    def summary(self) -> dict[str, Any]:
        return {
            "dialog": self.dialog,
            "replies": [f"{r.code} {r.reason} ({r.request})" for r in self.replies],
            "requests": [r.method for r in self.requests] + [f"record {p}" for p in self.media.recordings],
            "played": self.played[-20:],
            "playlist": len(self.media.playlist),
        }


_numbers = itertools.count(1)


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
    number = next(_numbers)
    call = RemoteCall(engine, caller, callee, headers, item_seconds, number)
    session = engine.start_call(app, call, headers=header_block(call.headers))
    call.session = call.media.session = session
    engine.run_pending(limit=100_000)
    req = InviteRequest("INVITE", callee, caller, callee, call.callid, header_block(call.headers), headers=call.headers)
    answer_incoming(engine, session, call, req, lambda: engine.run_pending(limit=100_000))
    return call
