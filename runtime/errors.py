"""Errors raised while a session runs.

:class:`DSMException` is a DSM-level exception (``engine.md`` section 8): it
carries a parameter map that always contains ``type`` and is handled by
exception transitions.  Anything else raised inside an action is a fault of
that action; the engine turns it into a DSM exception of that call only.
"""

from __future__ import annotations

__all__ = ["DSMException"]


class DSMException(Exception):
    """A DSM exception with its parameter map (``type`` always present, E-71)."""

    def __init__(self, type: str, params: dict[str, str] | None = None) -> None:
        self.params: dict[str, str] = dict(params or {})
        self.params["type"] = type
        super().__init__(f"DSM exception {self.params!r}")

    @property
    def type(self) -> str:
        return self.params["type"]

    @property
    def detail(self) -> str:
        """``prompt name=hello``: the type and the other params, as the trace shows them."""
        params = " ".join(f"{k}={v}" for k, v in self.params.items() if k != "type")
        return f"{self.type} {params}" if params else self.type
