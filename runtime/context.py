"""What an action or condition sees when it runs (``modules.md`` M-api-4).

The running session implements this protocol; core actions and module
actions are written against it only.  Argument parts arrive pre-split; an
action resolves them itself with :meth:`resolve` (``engine.md`` R, E-22),
:meth:`interpolate` (I, E-27) or uses them literally, as its rule says.
"""

from __future__ import annotations

from typing import Any, NoReturn, Protocol

from dsm.runtime.errors import DSMException

__all__ = ["ActionContext", "ErrorVars", "config_seconds"]


def config_seconds(ctx: ActionContext, key: str, default: float) -> float:
    """The dsm.conf key ``key`` (``$config.<key>``, E-10) as positive seconds, else ``default``.

    Modules read their timeouts this way (``mysql_read_timeout``, ``redis_timeout``,
    ``curl_timeout`` …); an empty, malformed or non-positive value keeps the default.
    """
    text = ctx.vars.get("config." + key, "")
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value > 0 else default


class ActionContext(Protocol):
    vars: dict[str, str]
    """The session's variables (E-15); names without ``$``."""

    params: dict[str, str] | None
    """Parameters of the event being processed, or ``None`` when absent (E-4, E-18)."""

    event_type: str
    """Type name of the event being processed (``Key``, ``Timer``, … section 15)."""

    objects: dict[str, Any]
    """The object store (E-20)."""

    call: Any
    """The host call (:class:`dsm.runtime.call.Call`); a stand-in for system DSMs."""

    engine: Any
    """The engine that runs the session (events between sessions, DI, system DSMs)."""

    owned_objects: list[Any] | None
    """Objects the session owns and disposes of when it ends (M-api-11, E-138)."""

    kind: str
    """Session kind: ``call``, ``system`` or ``sbc`` (actions.md 0.3)."""

    def resolve(self, text: str) -> str:
        """Plain resolution R (E-22)."""

    def interpolate(self, text: str) -> str:
        """Interpolation I (E-27)."""

    def select(self, name: str) -> str:
        """A select ``@name`` (section 19)."""

    def set_error(self, errno: str, strerror: str | None = None) -> None:
        """Set ``$errno`` (and ``$strerror`` when given), section 12."""

    def clear_error(self) -> None:
        """``$errno`` = empty; ``$strerror`` untouched (E-140)."""

    def raise_dsm(self, type: str, **params: str) -> NoReturn:
        """Raise a DSM exception with this parameter map (E-71)."""

    def log(self, level: int, message: str) -> None:
        """Write to the session's log (section 20)."""


class ErrorVars:
    """The error part of :class:`ActionContext` for anything with ``vars`` (section 12, E-71, E-140).

    Shared by the running session and the harness's single-action stand-in,
    so both set ``$errno``/``$strerror`` and raise DSM exceptions alike.
    """

    __slots__ = ()
    vars: dict[str, str]

    def set_error(self, errno: str, strerror: str | None = None) -> None:
        self.vars["errno"] = errno
        if strerror is not None:
            self.vars["strerror"] = strerror

    def clear_error(self) -> None:
        self.vars["errno"] = ""

    def raise_dsm(self, type: str, **params: str) -> NoReturn:
        raise DSMException(type, params)
