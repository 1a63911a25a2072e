"""Plain records of what happened on a simulated call: prompts played, SIP replies, transcript lines.

They are what a test asserts on, so they are small frozen dataclasses with
readable ``repr``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Played", "Reply", "Request", "Line"]


@dataclass(frozen=True, slots=True)
class Played:
    """One playlist item as the caller heard it.

    ``kind`` is ``file``, ``prompt``, ``silence`` or ``ringtone``.  ``name``
    is the prompt name for prompts, the file path for files (and a label for
    the others); ``path`` is the audio file (for a prompt, the file it was
    loaded from; ``""`` when generated).  ``start`` and ``end`` are virtual
    seconds, in exact milliseconds.  While the item still plays ``end`` is
    ``None`` and ``playing`` is true; ``complete`` is true only once it
    played to its end (false while playing and when flushed or interrupted).
    """

    kind: str
    name: str
    path: str
    start: float
    end: float | None
    complete: bool = True

    @property
    def playing(self) -> bool:
        return self.end is None


@dataclass(frozen=True, slots=True)
class Reply:
    """A SIP reply sent towards the caller (``request`` is the method it answers).

    ``headers`` maps the extra header names to their values (the last line
    wins for a repeated name); ``hdrs`` is the extra header block exactly as
    it was handed to the call (CRLF-terminated lines), for tests of line-end
    handling.  A reply carrying the SDP answer has ``Content-Type:
    application/sdp`` in ``headers`` and the answer in ``body``.
    """

    code: int
    reason: str
    request: str = "INVITE"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    hdrs: str = ""

    @property
    def has_sdp(self) -> bool:
        """The reply carries an SDP answer (``dlg.acceptInvite``, M-dlg-3)."""
        return self.headers.get("Content-Type", "").lower() == "application/sdp" and bool(self.body)


@dataclass(frozen=True, slots=True)
class Request:
    """A SIP request sent by the script's side (BYE, re-INVITE, INFO, REFER …).

    ``headers`` as for :class:`Reply` (``Content-Type`` included when the
    request has a body type); ``hdrs`` is the extra header block as given.
    """

    method: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    hdrs: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """One transcript line: virtual time, what kind of thing happened, and the detail."""

    time: float
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.time:9.3f}  {self.kind:<10} {self.detail}"
