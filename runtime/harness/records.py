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

    ``path`` is the file path, or the prompt name for prompts (``kind`` tells
    which: ``file``, ``prompt``, ``silence``, ``ringtone``); ``start`` and
    ``end`` are virtual seconds.  ``end`` is ``None`` while it still plays;
    ``complete`` is false when the item was flushed or interrupted for good.
    """

    kind: str
    path: str
    start: float
    end: float | None
    complete: bool = True

    @property
    def name(self) -> str:
        return self.path


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
