"""Playlist, prompt, audio, recording, media-control and DTMF actions (``actions.md`` 5–8).

Every action here reaches the outside world through the session's
:class:`dsm.runtime.call.Call` (``play``, ``flush_playlist``,
``attach_playlist``, ``record_*``, ``media_*``, ``set_media_flag``,
``send_dtmf``).  In system DSMs the stand-in call raises the ``core``
exception or does nothing, as ``actions.md`` 0.3 lists per action.

``$errno`` is cleared on success by the playlist, prompt, recording and
separator actions (E-141); media switches and DTMF leave it alone.
"""

from __future__ import annotations

from dsm.runtime.actions.core import core
from dsm.runtime.call import (
    AudioItem,
    AudioOpenError,
    FileItem,
    PromptItem,
    RingtoneItem,
    SeparatorItem,
    SilenceItem,
    UnknownPrompt,
)
from dsm.runtime.context import ActionContext
from dsm.runtime.errors import DSMException
from dsm.runtime.values import parse_int, parse_uint, strip_dollar

_ERROR = 0
"""The log level ``error`` (section 20)."""

__all__ = ["DTMF_EVENTS"]

DTMF_EVENTS: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    **{c: 12 + i for i, c in enumerate("ABCDEF")},
}
"""``sendDTMFSequence`` characters → RFC 4733 event numbers (A-core-52)."""

_NUMBER = "cannot parse number"


def _core_error(cause: str) -> DSMException:
    return DSMException("core", {"cause": cause})


# -- prompts (A-core-21 … 24) ---------------------------------------------------


def _play_prompt(ctx: ActionContext, name_text: str, front: bool, loop: bool) -> None:
    name = ctx.resolve(name_text)
    try:
        ctx.call.play(PromptItem(name, loop=loop), front)
    except UnknownPrompt as exc:
        # E-120 REFERENCE QUIRK: looking the flag up creates it (empty) when missing.
        fallback = ctx.vars.setdefault("prompts.default_fallback", "")
        if fallback != "yes":
            raise _unknown_prompt(ctx, exc) from None
        try:
            ctx.call.play(PromptItem(name, loop=loop, fallback=True), front)
        except UnknownPrompt as again:
            raise _unknown_prompt(ctx, again) from None
    ctx.clear_error()


def _unknown_prompt(ctx: ActionContext, exc: UnknownPrompt) -> DSMException:
    """``{type: prompt, name}``; the log says which audio file failed to load, if one did."""
    why = f": {exc.detail}" if exc.detail else " (no prompt of that name is configured)"
    ctx.log(_ERROR, f"prompt '{exc.name}' cannot be played{why}")
    return DSMException("prompt", {"name": exc.name})


@core.action("playPrompt", style="S")
def play_prompt(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-21: append a prompt of the current set; unknown → ``{type: prompt, name}``."""
    _play_prompt(ctx, name, front=False, loop=False)


@core.action("playPromptFront", style="S")
def play_prompt_front(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-22: as ``playPrompt`` but becomes the current item at once."""
    _play_prompt(ctx, name, front=True, loop=False)


@core.action("playPromptLooped", style="S")
def play_prompt_looped(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-23: as ``playPrompt`` but repeats until the playlist is flushed."""
    _play_prompt(ctx, name, front=False, loop=True)


@core.action("setPrompts", style="S")
def set_prompts(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-24: select a prompt set; unknown → ``{type: prompt, name}``."""
    set_name = ctx.resolve(name)
    try:
        ctx.call.set_prompts(set_name)
    except UnknownPrompt:
        raise DSMException("prompt", {"name": set_name}) from None
    ctx.clear_error()


# -- files, silence, ring tones (A-core-25 … 29) --------------------------------


def _play(ctx: ActionContext, item: AudioItem, front: bool) -> None:
    try:
        ctx.call.play(item, front)
    except AudioOpenError as exc:
        raise DSMException("file", {"path": exc.path}) from None
    ctx.clear_error()


@core.action("playFile", style="P,opt")
def play_file(ctx: ActionContext, path: str = "", loop: str = "", *_: str) -> None:
    """A-core-25: append ``R(p1)``; looped iff ``R(p2)`` is ``true``; open failure → ``{type: file, path}``."""
    _play(ctx, FileItem(ctx.resolve(path), ctx.resolve(loop) == "true"), front=False)


@core.action("playFileFront", style="P,opt")
def play_file_front(ctx: ActionContext, path: str = "", loop: str = "", *_: str) -> None:
    """A-core-26: as ``playFile`` at the front of the playlist."""
    _play(ctx, FileItem(ctx.resolve(path), ctx.resolve(loop) == "true"), front=True)


def _silence(ctx: ActionContext, text: str, front: bool) -> None:
    ms = parse_int(ctx.resolve(text))
    if ms is None:
        raise _core_error(_NUMBER)
    _play(ctx, SilenceItem(ms), front)


@core.action("playSilence", style="S")
def play_silence(ctx: ActionContext, ms: str = "", *_: str) -> None:
    """A-core-27: ``INT(R(a))`` ms of silence; a negative length is endless (QUIRK)."""
    _silence(ctx, ms, front=False)


@core.action("playSilenceFront", style="S")
def play_silence_front(ctx: ActionContext, ms: str = "", *_: str) -> None:
    """A-core-28: as ``playSilence`` at the front."""
    _silence(ctx, ms, front=True)


@core.action("playRingtone", style="P,mand")
def play_ringtone(ctx: ActionContext, prefix: str = "", front: str = "", *_: str) -> None:
    """A-core-29 / E-124: settings from ``<prefix>.length/.on/.off/.f/.f2`` (``INT``, missing → 0).

    ``prefix`` is ``strip$(p1)``, not resolved.  Both ``on`` and ``off`` 0
    means ``on`` = 1 ms.
    """
    p = strip_dollar(prefix)
    nums: list[int] = []
    for key in ("length", "on", "off", "f", "f2"):
        raw = ctx.vars.get(f"{p}.{key}")
        if raw is None:
            nums.append(0)
            continue
        v = parse_int(raw)
        if v is None:
            raise _core_error(_NUMBER)
        nums.append(v)
    length, on, off, f, f2 = nums
    if on == 0 and off == 0:
        on = 1
    _play(ctx, RingtoneItem(length, on, off, f, f2), ctx.resolve(front) == "true")


# -- playlist control (A-core-30 … 35) ------------------------------------------


@core.action("flushPlaylist", style="N")
def flush_playlist(ctx: ActionContext, *_: str) -> None:
    """A-core-30: empty the playlist; no NoAudio event; errno unchanged."""
    ctx.call.flush_playlist()


@core.action("closePlaylist", style="N")
def close_playlist(ctx: ActionContext, *_: str) -> None:
    """A-core-31: deprecated alias of ``flushPlaylist`` that warns."""
    ctx.log(1, "closePlaylist is deprecated, use flushPlaylist")
    ctx.call.flush_playlist()


@core.action("setInOutPlaylist", style="N")
def set_in_out_playlist(ctx: ActionContext, *_: str) -> None:
    """A-core-32: the playlist becomes input and output."""
    ctx.call.attach_playlist(True, True)


@core.action("setInputPlaylist", style="N")
def set_input_playlist(ctx: ActionContext, *_: str) -> None:
    """A-core-33: the playlist becomes the input."""
    ctx.call.attach_playlist(True, False)


@core.action("setOutputPlaylist", style="N")
def set_output_playlist(ctx: ActionContext, *_: str) -> None:
    """A-core-34: the playlist becomes the output."""
    ctx.call.attach_playlist(False, True)


@core.action("addSeparator", style="P,opt")
def add_separator(ctx: ActionContext, id_text: str = "", front: str = "", *_: str) -> None:
    """A-core-35: a separator raising PlaylistSeparator ``#id``; bad id → ``errno = arg``."""
    rid = ctx.resolve(id_text)
    sid = parse_uint(rid)
    if sid is None:
        ctx.set_error("arg", f"separator id '{rid}' not a number")
        return
    ctx.call.play(SeparatorItem(sid), ctx.resolve(front) == "true")
    ctx.clear_error()


# -- recording (A-core-36 … 39) ------------------------------------------------


@core.action("recordFile", style="S")
def record_file(ctx: ActionContext, path: str = "", *_: str) -> None:
    """A-core-36: (re)start recording the input into ``R(a)``; failure → ``{type: file, path}``."""
    p = ctx.resolve(path)
    try:
        ctx.call.record_start(p)
    except AudioOpenError as exc:
        raise DSMException("file", {"path": exc.path}) from None
    ctx.clear_error()


@core.action("stopRecord", style="N")
def stop_record(ctx: ActionContext, *_: str) -> None:
    """A-core-37: not recording → ``errno = script`` with a warning."""
    if ctx.call.record_stop():
        ctx.clear_error()
        return
    ctx.log(1, "stopRecord used while not recording.")
    ctx.set_error("script", "stopRecord used while not recording.")


def _record_number(ctx: ActionContext, name_text: str, default: str, what: str, value: int | None) -> None:
    name = ctx.resolve(name_text) or default
    if value is None:
        ctx.vars[name] = "0"
        ctx.set_error("script", f"{what} used while not recording.")
        return
    ctx.vars[name] = str(value)
    ctx.clear_error()


@core.action("getRecordLength", style="S")
def get_record_length(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-38: ms recorded into the variable ``R(a)`` or ``record_length``."""
    _record_number(ctx, name, "record_length", "getRecordLength", ctx.call.record_length())


@core.action("getRecordDataSize", style="S")
def get_record_data_size(ctx: ActionContext, name: str = "", *_: str) -> None:
    """A-core-39: bytes recorded into the variable ``R(a)`` or ``record_data_size``."""
    _record_number(ctx, name, "record_data_size", "getRecordDataSize", ctx.call.record_data_size())


# -- media control (A-core-40 … 50) --------------------------------------------


@core.action("connectMedia", style="N")
def connect_media(ctx: ActionContext, *_: str) -> None:
    """A-core-40."""
    ctx.call.media_connect()


@core.action("disconnectMedia", style="N")
def disconnect_media(ctx: ActionContext, *_: str) -> None:
    """A-core-41."""
    ctx.call.media_disconnect()


def _flag_action(name: str, flag: str, on: bool) -> None:
    def run(ctx: ActionContext, *_: str) -> None:
        ctx.call.set_media_flag(flag, on)

    run.__name__ = name
    run.__doc__ = f"``{name}()``: media flag ``{flag}`` {'on' if on else 'off'} (actions.md 7/8)."
    core.action(name, style="N")(run)


_flag_action("enableReceiving", "receiving", True)
_flag_action("disableReceiving", "receiving", False)
_flag_action("enableForceDTMFReceiving", "force_dtmf_receiving", True)
_flag_action("disableForceDTMFReceiving", "force_dtmf_receiving", False)
_flag_action("mute", "mute", True)
_flag_action("unmute", "mute", False)
_flag_action("enableDTMFDetection", "dtmf_detection", True)
_flag_action("disableDTMFDetection", "dtmf_detection", False)


@core.action("monitorRTPTimeout", style="S")
def monitor_rtp_timeout(ctx: ActionContext, flag: str = "", *_: str) -> None:
    """A-core-46: RTP-timeout supervision iff ``R(a)`` is exactly ``true``."""
    ctx.call.set_media_flag("rtp_timeout", ctx.resolve(flag) == "true")


# -- DTMF (A-core-51, 52) ---------------------------------------------------------


def _duration(ctx: ActionContext, text: str) -> int:
    r = ctx.resolve(text)
    if r == "":
        return 500
    d = parse_uint(r)
    if d is None:
        raise _core_error(f"invalid DTMF duration:{r}")
    return d


@core.action("sendDTMF", style="P,opt")
def send_dtmf(ctx: ActionContext, event: str = "", duration: str = "", *_: str) -> None:
    """A-core-51: one RFC 4733 event ``UINT(R(p1))``, duration 500 ms unless given."""
    r = ctx.resolve(event)
    ev = parse_uint(r)
    if ev is None:
        raise _core_error(f"invalid DTMF:{r}")
    ctx.call.send_dtmf(ev, _duration(ctx, duration))


@core.action("sendDTMFSequence", style="P,opt")
def send_dtmf_sequence(ctx: ActionContext, digits: str = "", duration: str = "", *_: str) -> None:
    """A-core-52: ``0-9 * # A-F`` of ``R(p1)``; other characters skipped; duration checked first."""
    d = _duration(ctx, duration)
    for ch in ctx.resolve(digits):
        ev = DTMF_EVENTS.get(ch)
        if ev is not None:
            ctx.call.send_dtmf(ev, d)
