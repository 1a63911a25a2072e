"""The host side of a session: what actions need from the call they run in.

:class:`Call` is the interface between the engine (and every action) and the
thing that actually carries the call — the simulated call of the harness or
the real SIP call.  The engine never knows which one it has.  Everything the
core actions of ``actions.md`` sections 5–9 do to the outside world goes
through these methods; the media side is concentrated in a handful of them
(:meth:`Call.play`, :meth:`Call.flush_playlist`, :meth:`Call.attach_playlist`,
:meth:`Call.record_start` …) so that a sans-I/O playlist can sit behind it.

Failures are reported the way the actions need them: opening an audio file
raises :class:`AudioOpenError`, an unknown prompt or prompt set raises
:class:`UnknownPrompt`; an operation that the session kind cannot do raises
the DSM exception of ``actions.md`` 0.3 directly (see :class:`SystemCall`).

:class:`SystemCall` is the stand-in used by system DSMs (``engine.md``
section 16): no dialog, no media; "core-ex" operations raise
``{type: core, cause: not implemented in SystemDSM}``, "no-op" operations do
nothing, and the selects are empty except ``local_tag``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsm.runtime.errors import DSMException

__all__ = [
    "AudioItem",
    "FileItem",
    "PromptItem",
    "SilenceItem",
    "RingtoneItem",
    "SeparatorItem",
    "AudioOpenError",
    "UnknownPrompt",
    "DialogError",
    "Call",
    "MediaDelegation",
    "SystemCall",
    "SELECT_NAMES",
]

SELECT_NAMES: tuple[str, ...] = (
    "local_tag",
    "user",
    "domain",
    "remote_tag",
    "callid",
    "local_uri",
    "local_party",
    "remote_uri",
    "remote_party",
)
"""The selects of E-172, in the order ``logSelects`` prints them (E-109)."""


# -- playlist items ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileItem:
    """An audio file (``playFile``, A-core-25); ``loop`` repeats it endlessly."""

    path: str
    loop: bool = False


@dataclass(frozen=True, slots=True)
class PromptItem:
    """A prompt of the session's current set (A-core-21).

    ``fallback`` allows the default set when the current set lacks it
    (``$prompts.default_fallback == yes``).
    """

    name: str
    loop: bool = False
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class SilenceItem:
    """``ms`` milliseconds of silence; a negative length is endless (A-core-27 QUIRK)."""

    ms: int


@dataclass(frozen=True, slots=True)
class RingtoneItem:
    """A ring-tone generator (A-core-29); all values as read with ``INT``."""

    length: int
    on: int
    off: int
    f: int
    f2: int


@dataclass(frozen=True, slots=True)
class SeparatorItem:
    """A zero-length marker raising PlaylistSeparator with ``#id`` (A-core-35)."""

    id: int


AudioItem = FileItem | PromptItem | SilenceItem | RingtoneItem | SeparatorItem


class AudioOpenError(Exception):
    """An audio file could not be opened for reading or writing."""

    def __init__(self, path: str, reason: str = "") -> None:
        self.path = path
        super().__init__(f"cannot open audio file {path!r}{': ' + reason if reason else ''}")


class UnknownPrompt(LookupError):
    """A prompt or prompt set name that the host does not know."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        self.detail = detail
        """Why a configured prompt is missing (its audio file and the reason), else ``""``."""
        super().__init__(f"unknown prompt {name!r}" + (f" ({detail})" if detail else ""))


class DialogError(Exception):
    """A dialog operation (``mod_dlg``) that could not be carried out.

    ``code``/``reason`` are what the failure amounts to as a SIP reply: the
    negotiation's refusal (``488 Not Acceptable Here`` …) or ``500 could not
    send response``; ``dlg.acceptInvite`` answers the INVITE with them.
    """

    def __init__(self, message: str, code: int = 500, reason: str = "Server Internal Error") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


# -- the interface -------------------------------------------------------------


class Call(ABC):
    """Everything a session needs from its host call.

    ``local_tag`` is the session's primary address (E-146).  ``b2b_capable``
    tells the B2B actions whether there can be another leg (E-119, E-131).
    """

    local_tag: str = ""
    b2b_capable: bool = True

    # selects (E-172) ---------------------------------------------------------
    @abstractmethod
    def select(self, name: str) -> str:
        """The select ``name`` (``user``, ``domain`` …); unknown names give ``""``."""

    # playlist and prompts (A-core-21 … A-core-35) ---------------------------
    @abstractmethod
    def play(self, item: AudioItem, front: bool = False) -> None:
        """Append ``item`` to the playlist, or make it the current item when ``front``.

        Raises :class:`AudioOpenError` for files that cannot be opened and
        :class:`UnknownPrompt` for prompts that do not exist.
        """

    @abstractmethod
    def flush_playlist(self) -> None:
        """Remove every item, the current one included; raises no event."""

    @abstractmethod
    def attach_playlist(self, input: bool, output: bool) -> None:
        """Make the playlist the audio input and/or output (A-core-32 … 34)."""

    @abstractmethod
    def set_prompts(self, name: str) -> None:
        """Select the prompt set ``name``; :class:`UnknownPrompt` if there is none."""

    # recording (A-core-36 … 39) ---------------------------------------------
    @abstractmethod
    def record_start(self, path: str) -> None:
        """Stop a running recording, then record the input into ``path``."""

    @abstractmethod
    def record_stop(self) -> bool:
        """Stop recording; ``False`` when nothing was being recorded."""

    @abstractmethod
    def record_length(self) -> int | None:
        """Milliseconds recorded so far, ``None`` when not recording."""

    @abstractmethod
    def record_data_size(self) -> int | None:
        """Audio bytes written so far, ``None`` when not recording."""

    # media control and DTMF (A-core-40 … 52) -----------------------------
    @abstractmethod
    def media_connect(self) -> None:
        """Playlist as output (and input if none) and start media processing."""

    @abstractmethod
    def media_disconnect(self) -> None:
        """Stop media processing for the session."""

    @abstractmethod
    def set_media_flag(self, flag: str, on: bool) -> None:
        """Switch one media flag.

        ``flag`` is one of ``receiving``, ``force_dtmf_receiving``,
        ``rtp_timeout``, ``mute``, ``dtmf_detection``.
        """

    @abstractmethod
    def send_dtmf(self, event: int, duration_ms: int) -> None:
        """Send one RFC 4733 event."""

    # dialog ---------------------------------------------------------------
    @abstractmethod
    def bye(self) -> None:
        """End the dialog with BYE (``stop(true)``, A-core-6)."""

    def on_session_end(self) -> None:  # noqa: B027 - optional hook
        """The session has ended; a SIP call sends BYE for a still connected dialog."""

    # direct dialog control (mod_dlg, modules.md section 6) ----------------------
    def dialog_reply(self, code: int, reason: str, headers: str = "", sdp: bool = False) -> None:
        """Reply to the dialog's initial INVITE (``dlg.reply``, ``dlg.acceptInvite``).

        ``headers`` is a block of extra header lines, each ending in CRLF.
        With ``sdp`` the reply carries the SDP answer negotiated from the
        INVITE's offer and sets up media as the host's own answer does (the
        caller of this method raises EarlySession/SessionStart, see
        :func:`dsm.runtime.incoming.accept_invite`).  Raises
        :class:`DialogError` when negotiation fails or nothing can be sent.
        """
        raise DialogError("no dialog to reply in")

    def reply_request(self, request: Any, code: int, reason: str, headers: str = "") -> None:
        """Reply to an in-dialog request the script received (``dlg.replyRequest``).

        ``request`` is the wrapped request object of the SipRequest event
        (:class:`dsm.runtime.incoming.InviteRequest` with ``wrapped`` set).
        Raises :class:`DialogError` when the reply cannot be sent.
        """
        raise DialogError("no dialog to reply in")

    def send_request(self, method: str, headers: str = "", content_type: str = "", body: str = "") -> None:
        """Send a request inside the dialog: BYE (``dlg.bye``), INFO, REFER.

        Sending BYE does not stop the session.  Raises :class:`DialogError`
        when there is no dialog or the request cannot be sent.
        """
        raise DialogError("no dialog to send in")

    # B2B (A-core-53 … 62) ------------------------------------------------------
    @abstractmethod
    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None:
        """Start the other leg; ``settings`` are the ``b2b_*`` variables (E-167)."""

    @abstractmethod
    def b2b_terminate_other_leg(self) -> None: ...

    @abstractmethod
    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None: ...

    @abstractmethod
    def b2b_set_flag(self, flag: str, on: bool) -> None:
        """``early_media_relay`` or ``relay_only``."""

    @abstractmethod
    def b2b_relay_event(self, params: dict[str, str]) -> None:
        """Send a B2BEvent with ``params`` to the other leg (E-149)."""

    @abstractmethod
    def get_b2b_headers(self) -> str:
        """The header block for the other leg's INVITE (E-132)."""

    @abstractmethod
    def set_b2b_headers(self, block: str) -> None: ...


class MediaDelegation:
    """The media operations of :class:`Call`, handed to ``self.media``.

    For a call whose media side is a :class:`dsm.runtime.media.call_media.CallMedia`
    (or an object with the same methods): the simulated call and the SIP call
    both put this mixin before :class:`Call` in their bases.
    """

    media: Any

    def play(self, item: AudioItem, front: bool = False) -> None:
        self.media.play(item, front)

    def flush_playlist(self) -> None:
        self.media.flush_playlist()

    def attach_playlist(self, input: bool, output: bool) -> None:
        self.media.attach_playlist(input, output)

    def set_prompts(self, name: str) -> None:
        self.media.set_prompts(name)

    def record_start(self, path: str) -> None:
        self.media.record_start(path)

    def record_stop(self) -> bool:
        return bool(self.media.record_stop())

    def record_length(self) -> int | None:
        result: int | None = self.media.record_length()
        return result

    def record_data_size(self) -> int | None:
        result: int | None = self.media.record_data_size()
        return result

    def media_connect(self) -> None:
        self.media.media_connect()

    def media_disconnect(self) -> None:
        self.media.media_disconnect()

    def set_media_flag(self, flag: str, on: bool) -> None:
        self.media.set_media_flag(flag, on)

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.media.send_dtmf(event, duration_ms)


def _not_in_system() -> DSMException:
    return DSMException("core", {"cause": "not implemented in SystemDSM"})


class SystemCall(Call):
    """The call stand-in of a system DSM (``actions.md`` 0.3, ``engine.md`` E-162).

    Playlist, prompt, recording, ``connectMedia``/``disconnectMedia``,
    ``mute``/``unmute`` and the B2B callee/header operations raise
    ``{type: core, cause: not implemented in SystemDSM}``; receiving, DTMF
    and RTP-timeout switches, ``sendDTMF``, ``B2B.sendReinvite`` and BYE are
    no-ops.  There is no other leg (``b2b_capable`` is false), so
    ``B2B.relayEvent``/``B2B.setRelayOnly`` raise their ``script`` exception
    in the actions.
    """

    b2b_capable = False

    def __init__(self, local_tag: str = "") -> None:
        self.local_tag = local_tag

    def select(self, name: str) -> str:
        return self.local_tag if name == "local_tag" else ""

    def play(self, item: AudioItem, front: bool = False) -> None:
        raise _not_in_system()

    def flush_playlist(self) -> None:
        raise _not_in_system()

    def attach_playlist(self, input: bool, output: bool) -> None:
        raise _not_in_system()

    def set_prompts(self, name: str) -> None:
        raise _not_in_system()

    def record_start(self, path: str) -> None:
        raise _not_in_system()

    def record_stop(self) -> bool:
        raise _not_in_system()

    def record_length(self) -> int | None:
        raise _not_in_system()

    def record_data_size(self) -> int | None:
        raise _not_in_system()

    def media_connect(self) -> None:
        raise _not_in_system()

    def media_disconnect(self) -> None:
        raise _not_in_system()

    def set_media_flag(self, flag: str, on: bool) -> None:
        if flag == "mute":
            raise _not_in_system()

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        return None

    def bye(self) -> None:
        return None

    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None:
        raise _not_in_system()

    def b2b_terminate_other_leg(self) -> None:
        raise _not_in_system()

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        return None

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        raise _not_in_system()

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        raise DSMException("script", {"cause": "relayEvent used without B2B call"})

    def get_b2b_headers(self) -> str:
        raise _not_in_system()

    def set_b2b_headers(self, block: str) -> None:
        raise _not_in_system()
