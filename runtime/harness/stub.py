"""A stand-alone :class:`~dsm.runtime.context.ActionContext` for testing one action at a time.

Module authors (and the project's own unit tests) call an action or a
condition function directly, without an engine or a call::

    from dsm.runtime.harness.stub import StubContext
    from dsm.modules.mod_utils import module

    ctx = StubContext(vars={"n": "41"})
    ctx.run(module, "utils.add", "$r", "$n")     # hypothetical action name

Values go through the real resolution and interpolation of
:mod:`dsm.runtime.values`, so ``$x``, ``#x`` and ``@x`` behave as in a
running session; logs are collected in :attr:`StubContext.logs`.  Scripts
are better tested through :class:`~dsm.runtime.harness.Harness`; this is
for the table-driven tests of a single function.
"""

from __future__ import annotations

from typing import Any

from dsm.runtime import values
from dsm.runtime.context import ErrorVars
from dsm.runtime.registry import Module

__all__ = ["StubContext"]


class StubContext(ErrorVars):
    """Variables, params, selects and an object store in plain dicts; errors and logs recorded."""

    def __init__(
        self,
        vars: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        selects: dict[str, str] | None = None,
        *,
        event_type: str = "Start",
        kind: str = "call",
        call: Any = None,
        engine: Any = None,
    ) -> None:
        self.vars: dict[str, str] = {} if vars is None else vars
        self.params = params
        self.selects: dict[str, str] = dict(selects or {})
        self.event_type = event_type
        self.kind = kind
        self.call = call
        self.engine = engine
        self.objects: dict[str, Any] = {}
        self.owned_objects: list[Any] | None = None
        self.logs: list[tuple[int, str]] = []

    # -- ActionContext ---------------------------------------------------------------
    def resolve(self, text: str) -> str:
        return values.resolve(text, self.vars, self.params, self.select)

    def interpolate(self, text: str) -> str:
        return values.interpolate(text, self.vars, self.params, self.select)

    def select(self, name: str) -> str:
        """Selects from :attr:`selects`; a system session has only ``local_tag`` (E-172)."""
        if self.kind == "system" and name != "local_tag":
            return ""
        return self.selects.get(name, "")

    def log(self, level: int, message: str) -> None:
        self.logs.append((level, message))

    # -- running one function -------------------------------------------------------------
    def run(self, module: Module, name: str, *args: str) -> None:
        """Run action ``name`` of ``module`` with already split argument parts."""
        module.actions[name].fn(self, *args)

    def test(self, module: Module, name: str, *args: str) -> bool:
        """Evaluate condition ``name`` of ``module`` (without ``not``)."""
        fn = module.conditions[name].fn
        if fn is None:
            raise TypeError(f"{name} is a generic test-expression condition; use the harness")
        return bool(fn(self, *args))

    __test__ = False
