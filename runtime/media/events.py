"""Events the media layer reports to its caller (``engine.md`` E-151).

Media objects never post into a session's queue themselves: they return
these values from ``read_frame``/``process`` and the caller (the simulated
or the SIP call) turns them into session events.  Each carries the event
type name and the params map exactly as the engine delivers them, plus the
stream sample at which it happened (``at``), so a caller on a virtual
clock can time-stamp it precisely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["NoAudio", "PlaylistSeparatorReached"]


@dataclass(frozen=True, slots=True)
class NoAudio:
    """NoAudio (C-core-5): ``type`` is ``noAudio`` (playlist ran empty) or ``cleared``."""

    type: str = "noAudio"
    at: int = 0
    """Stream sample of the output at which the last item ended."""
    time: float | None = None
    """The same moment on the caller's clock, when it passed one (seconds)."""

    event_type: ClassVar[str] = "NoAudio"

    @property
    def params(self) -> dict[str, str]:
        return {"type": self.type}


@dataclass(frozen=True, slots=True)
class PlaylistSeparatorReached:
    """PlaylistSeparator (C-core-6): a separator item was reached; ``#id`` in decimal."""

    id: int
    at: int = 0
    """Stream sample of the output at which the separator was reached."""
    time: float | None = None
    """The same moment on the caller's clock, when it passed one (seconds)."""

    event_type: ClassVar[str] = "PlaylistSeparator"

    @property
    def params(self) -> dict[str, str]:
        return {"id": str(self.id)}
