"""mod_conference — conference rooms, tee conferences and mix-in (``modules.md`` section 4).

Rooms and the N-1 mixer live in :mod:`dsm.runtime.media.conference`: one
:class:`~dsm.runtime.media.conference.Conferences` per engine (the
process-wide room table of the reference for ``dsm serve``, private to each
harness in tests), driven by the loop's media clock for SIP calls and by a
20 ms timer on the virtual clock in the harness.  A session joins a room
through a playlist item (:class:`~dsm.runtime.media.conference.ChannelItem`)
whose play side is the room's mix and whose record side is the room input;
``conf.chan`` holds it.  Room events reach scripts as DSMEvents with
``#type == "conference_event"`` and ``#id`` (1 join, 2 leave, any other for
``conference.postEvent``).

Reference quirks reproduced: ``join`` does not release a previous channel
(M-conference-1); a mode other than empty/``speakonly``/``listenonly``
joins without either direction; the event id error text ends in a literal
``%s``; ``playMixInList`` stores the list before checking for the mixer.
Differences (the runtime has no per-object audio chain): a tee is a tap on
the call's received frames rather than a splitter object; ``connectMedia``
and the automatic connect after SessionStart keep the mix-in mixer (here
connecting is what starts media processing, so dropping it would make
mix-in unusable); ``setPlayoutType`` is recorded but the transport's jitter
buffer stays as it is.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from typing import Any

from dsm.runtime.actions.objects import take_ownership
from dsm.runtime.clock import AsyncioClock
from dsm.runtime.context import ActionContext
from dsm.runtime.media.audio import AudioFileError
from dsm.runtime.media.call_media import CallMedia
from dsm.runtime.media.conference import (
    ChannelItem,
    Conferences,
    MediaClockDriver,
    Slot,
    TimerDriver,
)
from dsm.runtime.media.items import FileItem
from dsm.runtime.media.mixin import MixIn, MixInList
from dsm.runtime.registry import Module
from dsm.runtime.values import parse_uint, strip_dollar

__all__ = ["module", "conferences_for", "ChannelHolder", "TeeChannel"]

module = Module("mod_conference", doc="conference rooms, tee conferences, mix-in (modules.md section 4)")

EVENT_TYPE = "conference_event"
CHAN = "conf.chan"
TEECHAN = "conf.teechan"
MIXER = "conf.mixer"
MIXLIST = "conf.mixlist"
_LOG_WARN = 1

_by_engine: weakref.WeakKeyDictionary[Any, Conferences] = weakref.WeakKeyDictionary()
_fallback: dict[int, Conferences] = {}


def _driver_for(engine: Any, conferences: Conferences) -> Any:
    clock = getattr(engine, "clock", None)
    if isinstance(clock, AsyncioClock):
        from dsm.runtime.sip.media_clock import MediaClock

        return MediaClockDriver(MediaClock.for_loop(clock.loop), conferences.step)
    if clock is not None and hasattr(clock, "call_at"):
        return TimerDriver(clock, conferences.step)
    return None


def conferences_for(engine: Any) -> Conferences:
    """The rooms of ``engine`` (created with their mixer on first use)."""
    try:
        found = _by_engine.get(engine)
    except TypeError:  # not weak-referenceable: keyed by identity
        found = _fallback.get(id(engine))
    if found is not None:
        return found
    ref = weakref.ref(engine) if _weakrefable(engine) else (lambda: engine)

    def notify(session: str, event_id: int) -> None:
        eng = ref()
        if eng is None:
            return
        with contextlib.suppress(Exception):  # a finished receiver must not break the sender
            eng.post_event(session, {"type": EVENT_TYPE, "id": str(event_id)})

    conferences = Conferences(notify)
    driver = _driver_for(engine, conferences)
    if driver is not None:
        conferences.attach_driver(driver)
    if _weakrefable(engine):
        _by_engine[engine] = conferences
    else:
        _fallback[id(engine)] = conferences
    return conferences


def _weakrefable(obj: Any) -> bool:
    try:
        weakref.ref(obj)
    except TypeError:
        return False
    return True


class ChannelHolder:
    """``conf.chan``: the session's main channel (empty after ``conference.leave``)."""

    def __init__(self, conferences: Conferences) -> None:
        self.conferences = conferences
        self.item: ChannelItem | None = None
        self.slot: Slot | None = None
        self.released: list[tuple[Slot, ChannelItem]] = []
        """Channels joined before with ``conference.join`` and never released (M-conference-1 QUIRK)."""

    def set(self, slot: Slot, item: ChannelItem) -> None:
        if self.slot is not None and self.item is not None:
            self.released.append((self.slot, self.item))
        self.slot, self.item = slot, item

    def release(self) -> bool:
        """Release the current channel; ``False`` if there was none."""
        slot, item = self.slot, self.item
        self.slot = self.item = None
        if slot is None or item is None:
            return False
        item.release()
        self.conferences.release(slot)
        return True

    def dispose(self) -> None:
        self.release()
        while self.released:
            slot, item = self.released.pop()
            item.release()
            self.conferences.release(slot)


class TeeChannel:
    """``conf.teechan`` (or another key): a speak-only slot fed from the call's received frames."""

    def __init__(self, conferences: Conferences, media: CallMedia, key: str) -> None:
        self.conferences = conferences
        self.media = media
        self.key = key
        self.slot: Slot | None = None

    def release(self) -> None:
        slot, self.slot = self.slot, None
        tap = self.media.taps.get(self.key)
        if tap is not None and tap is slot:
            del self.media.taps[self.key]
        if slot is not None:
            self.conferences.release(slot)

    def dispose(self) -> None:
        self.release()


def _media(ctx: ActionContext) -> CallMedia | None:
    media = getattr(ctx.call, "media", None)
    return media if isinstance(media, CallMedia) else None


def _wake(ctx: ActionContext) -> None:
    media = _media(ctx)
    if media is not None:
        media.wake()


def _modes(mode: str) -> tuple[bool, bool]:
    """``(speak, listen)`` of a join mode (M-conference-1)."""
    if mode == "":
        return True, True
    if mode == "speakonly":
        return True, False
    if mode == "listenonly":
        return False, True
    return False, False  # REFERENCE QUIRK: any other value joins with neither direction


def _join(ctx: ActionContext, room: str, mode: str, holder: ChannelHolder | None) -> None:
    conferences = conferences_for(ctx.engine)
    speak, listen = _modes(mode)
    slot = conferences.acquire(room, ctx.select("local_tag"))
    item = ChannelItem(slot, speak, listen)
    if holder is None:
        holder = ChannelHolder(conferences)
        ctx.objects[CHAN] = holder
        take_ownership(ctx, holder)
    holder.set(slot, item)
    ctx.call.play(item)  # raises {type: core} in a system DSM, after the channel exists
    ctx.clear_error()


@module.action("conference.join", "P,opt")
def join(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-1: a channel in room ``R(p1)`` with mode ``R(p2)``, appended to the playlist.

    REFERENCE QUIRK: an existing ``conf.chan`` channel is not released.
    """
    _join(ctx, ctx.resolve(p1), ctx.resolve(p2), None)


@module.action("conference.leave", "N")
def leave(ctx: ActionContext, *_: str) -> None:
    """M-conference-2: release ``conf.chan``; the playlist item stays, silent."""
    holder = ctx.objects.get(CHAN)
    if not isinstance(holder, ChannelHolder):
        ctx.set_error("script", "trying to leave conference, but channel not found")
        return
    holder.release()
    ctx.clear_error()


@module.action("conference.rejoin", "P,opt")
def rejoin(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-3: release the current channel, then join like M-conference-1 (same holder)."""
    holder = ctx.objects.get(CHAN)
    if isinstance(holder, ChannelHolder):
        if not holder.release():
            ctx.log(_LOG_WARN, "conference.rejoin: no channel to release")
    else:
        ctx.log(_LOG_WARN, "conference.rejoin: no channel to release")
        holder = None
    _join(ctx, ctx.resolve(p1), ctx.resolve(p2), holder)


@module.action("conference.postEvent", "P,opt")
def post_event(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-4: event ``#id`` = UINT(R(p2)) (empty: 0) to every participant of R(p1)."""
    room, text = ctx.resolve(p1), ctx.resolve(p2)
    event_id = 0 if text == "" else parse_uint(text)
    if event_id is None:
        # REFERENCE QUIRK: the literal %s and the newline are part of the text
        ctx.set_error("arg", f"decoding conference event id '{text}%s'\n")
        return
    conferences_for(ctx.engine).post(room, event_id)
    ctx.clear_error()


@module.action("conference.setPlayoutType", "S")
def set_playout_type(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-conference-5: ``adaptive``, ``jb`` or simple playout (recorded on the call's media)."""
    value = ctx.resolve(a)
    media = _media(ctx)
    if media is not None:
        media.playout_type = value if value in ("adaptive", "jb") else "simple"


def _require_tee_media(ctx: ActionContext) -> CallMedia:
    media = _media(ctx)
    if media is None:
        # what the stand-in call of a system DSM raises for media operations
        ctx.raise_dsm("core", cause="not implemented in SystemDSM" if ctx.kind == "system"
                      else "not implemented in DSM SBC")
    return media


@module.action("conference.teejoin", "P,opt")
def teejoin(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-6: the caller's audio also goes into room R(p1), speak-only."""
    room = ctx.resolve(p1)
    key = ctx.resolve(p2) if p2 else TEECHAN
    key = key or TEECHAN
    media = _require_tee_media(ctx)
    conferences = conferences_for(ctx.engine)
    tee = ctx.objects.get(key)
    if isinstance(tee, TeeChannel):
        tee.release()
        media.attach_playlist(True, False)  # the input is reset to the playlist first
    elif media.input is None:
        ctx.raise_dsm("conference", cause="tee conference needs an input (before SessionStart?)")
    else:
        tee = TeeChannel(conferences, media, key)
        ctx.objects[key] = tee
        take_ownership(ctx, tee)
    tee.slot = conferences.acquire(room, ctx.select("local_tag"))  # only written: speak-only
    media.taps[key] = tee.slot


@module.action("conference.teeleave", "S")
def teeleave(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-conference-7: release the tee channel; the playlist is input and output again."""
    key = ctx.resolve(a) if a else TEECHAN
    key = key or TEECHAN
    tee = ctx.objects.get(key)
    if not isinstance(tee, TeeChannel) or tee.slot is None:
        ctx.set_error("script", "trying to leave tee conference, but channel not found")
        return
    media = _require_tee_media(ctx)
    ctx.call.attach_playlist(True, True)
    tee.release()
    del media  # only checked: the stand-in calls raise before anything changes
    ctx.clear_error()


@module.action("conference.size", "P,opt")
def size(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-8: ``$var`` (not resolved) = participants of R(p1); 0 for an unknown room."""
    ctx.vars[strip_dollar(p2)] = str(conferences_for(ctx.engine).size(ctx.resolve(p1)))


_FLOAT_PREFIX = re.compile(r"[ \t\n\r\f\v]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def _atof(text: str) -> float:
    """C ``atof`` for decimal numbers: the longest float prefix after blanks; garbage is 0.0."""
    m = _FLOAT_PREFIX.match(text)
    return float(m.group(1)) if m else 0.0


@module.action("conference.setupMixIn", "P,opt")
def setup_mix_in(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-9: a mix-in mixer over the call's output at ``level`` (``conf.mixer``)."""
    level = _atof(ctx.resolve(p1))
    text = ctx.resolve(p2) if p2 else ""
    seconds = 0 if text == "" else parse_uint(text)
    if seconds is None:
        ctx.raise_dsm("conference", cause="could not interpret seconds value")
    mixer = MixIn(level, seconds)
    media = _media(ctx)
    if media is None:
        ctx.raise_dsm("core", cause="not implemented in SystemDSM")
    media.mix_in = mixer
    ctx.objects[MIXER] = mixer
    take_ownership(ctx, mixer)


def _mixer(ctx: ActionContext) -> MixIn:
    mixer = ctx.objects.get(MIXER)
    if not isinstance(mixer, MixIn):
        ctx.raise_dsm("conference", cause="mixer not setup!\n")
    return mixer


def _file(ctx: ActionContext, path: str) -> FileItem:
    try:
        return FileItem(path)
    except AudioFileError:
        ctx.raise_dsm("file", path=path)


@module.action("conference.playMixIn", "S")
def play_mix_in(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-conference-10: the file R(a) becomes the mixer's source."""
    path = ctx.resolve(a)
    mixer = _mixer(ctx)
    mixer.set_source(_file(ctx, path))
    _wake(ctx)


@module.action("conference.playMixInList", "P,opt")
def play_mix_in_list(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-conference-11: append a file to the mix-in playlist (created and attached on first use)."""
    path, loop = ctx.resolve(p1), ctx.resolve(p2) == "true"
    mixlist = ctx.objects.get(MIXLIST)
    if not isinstance(mixlist, MixInList):
        mixlist = MixInList()
        ctx.objects[MIXLIST] = mixlist  # REFERENCE QUIRK: stored before the mixer check
        take_ownership(ctx, mixlist)
        _mixer(ctx).set_source(mixlist)
    try:
        item = FileItem(path, loop)
    except AudioFileError:
        ctx.raise_dsm("file", path=path)
    mixlist.append(item)
    _wake(ctx)


@module.action("conference.flushMixInList", "N")
def flush_mix_in_list(ctx: ActionContext, *_: str) -> None:
    """M-conference-12: empty the mix-in playlist if there is one."""
    mixlist = ctx.objects.get(MIXLIST)
    if isinstance(mixlist, MixInList):
        mixlist.flush()
