"""The module API: how a ``mod_*`` library declares its actions and conditions.

A module is one Python file that creates a :class:`Module` and decorates plain
functions (``modules.md`` M-api-3 … M-api-15)::

    from dsm.runtime.registry import Module

    module = Module("mod_example")

    @module.action("ex.greet", style="P,opt")
    def greet(ctx, name: str, greeting: str) -> None:
        ctx.vars["greeting"] = f"{ctx.resolve(greeting) or 'hello'} {ctx.resolve(name)}"

    @module.condition("ex.isEmpty", style="S")
    def is_empty(ctx, name: str) -> bool:
        return not ctx.vars.get(name.lstrip("$"))

    @module.action("ex.fetch", style="S", blocking=True)
    def fetch(ctx, url: str) -> None:  # may wait: runs on the server's worker pool
        ctx.vars["page"] = urllib.request.urlopen(ctx.resolve(url), timeout=5).read().decode()

An action function is called as ``fn(ctx, *args)`` where ``args`` are the
parts its style produced at compile time (style N: none; S: one; P: two; L:
the pieces; raw: the verbatim text; T: ``op, left, right``).  A condition
function returns a bool; the engine applies ``not`` afterwards.  ``ctx`` is
the running session (see :mod:`dsm.runtime.context` for what it offers).

The compiler reads these declarations from the file without running it
(:func:`dsm.vocabulary.read_module`), so declaring an action is enough for
``dsm check`` and ``compile_file`` to know it; the names, styles, events and
``check`` names must therefore be literal strings.  The runtime imports the
module when it loads a chart that imports it.  Built-in
modules live in ``dsm.modules``; third-party ones register the module object
(or the Python module containing a ``module`` attribute) in the entry-point
group ``dsm.modules``; files ``<name>.py`` on ``mod_path`` are found too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from dsm.styles import CHECKS
from dsm.vocabulary import Signature, SplitFn

__all__ = ["Module", "ActionDef", "ConditionDef", "plugin_config_dir"]


def _checked(split: SplitFn | None, check: str | None) -> SplitFn | None:
    if check is None:
        return split
    if check not in CHECKS:
        raise ValueError(f"unknown argument check {check!r}")
    return CHECKS[check]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ActionDef:
    signature: Signature
    fn: Callable[..., None]
    blocking: bool = False
    """May wait on I/O or run long: a server runs it on its worker pool (docs/modules.md)."""


@dataclass(frozen=True, slots=True)
class ConditionDef:
    signature: Signature
    fn: Callable[..., bool] | None  # None: the engine's generic test expression (style T)
    blocking: bool = False


class Module:
    """A DSM module: named actions and conditions plus optional life-cycle hooks.

    Hooks (M-api-6 … M-api-9) are set with the decorators :meth:`preload`,
    :meth:`on_invite`, :meth:`on_before_destroy`, :meth:`process_sdp_offer`
    and :meth:`process_sdp_answer`.
    """

    def __init__(self, name: str, doc: str = "") -> None:
        self.name = name
        self.doc = doc
        self.actions: dict[str, ActionDef] = {}
        self.conditions: dict[str, ConditionDef] = {}
        self.hooks: dict[str, Callable[..., Any]] = {}

    # -- declaration -------------------------------------------------------
    def action(
        self,
        name: str,
        style: str = "S",
        *,
        split: SplitFn | None = None,
        check: str | None = None,
        blocking: bool = False,
    ) -> Callable[[F], F]:
        """Declare an action; ``check`` names an argument check of :data:`dsm.styles.CHECKS`.

        The compiler reads these declarations without running the module, so
        ``name``, ``style``, ``event`` and ``check`` must be literal strings;
        a ``split`` function is never run by the compiler (the argument is
        split by ``style``).  ``blocking=True`` for an action that may wait
        (network, disk, processes): a server runs it on its worker pool while
        the session waits (its later events queue); every other action runs on
        the event loop and must return quickly.
        """
        split = _checked(split, check)

        def deco(fn: F) -> F:
            self.actions[name] = ActionDef(Signature(name, style, split=split), fn, blocking)
            return fn

        return deco

    def condition(
        self,
        name: str,
        style: str = "S",
        *,
        event: str | None = None,
        split: SplitFn | None = None,
        check: str | None = None,
        blocking: bool = False,
    ) -> Callable[[F], F]:
        """Declare a condition; ``check`` and ``blocking`` as for :meth:`action`."""
        split = _checked(split, check)

        def deco(fn: F) -> F:
            self.conditions[name] = ConditionDef(Signature(name, style, event, split), fn, blocking)
            return fn

        return deco

    def _hook(self, hook: str) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            self.hooks[hook] = fn
            return fn

        return deco

    def preload(self, fn: F) -> F:
        return self._hook("preload")(fn)

    def on_invite(self, fn: F) -> F:
        return self._hook("on_invite")(fn)

    def on_before_destroy(self, fn: F) -> F:
        return self._hook("on_before_destroy")(fn)

    def process_sdp_offer(self, fn: F) -> F:
        return self._hook("process_sdp_offer")(fn)

    def process_sdp_answer(self, fn: F) -> F:
        return self._hook("process_sdp_answer")(fn)

    # -- the Vocabulary protocol (asked by the compiler) -------------------
    def action_signature(self, name: str) -> Signature | None:
        d = self.actions.get(name)
        return None if d is None else d.signature

    def condition_signature(self, name: str) -> Signature | None:
        d = self.conditions.get(name)
        return None if d is None else d.signature

    def __repr__(self) -> str:
        return f"<DSM module {self.name}: {len(self.actions)} actions, {len(self.conditions)} conditions>"


def plugin_config_dir(config: Any) -> str | None:
    """The plug-in configuration directory (K-40 … K-42) from what a module's preload receives.

    A directory path, a mapping or object with ``plugin_config_path``, or a
    parsed configuration file object with a ``path`` (its directory); ``None``
    when none is given or it is empty.
    """
    if config is None:
        return None
    if isinstance(config, str | os.PathLike):
        value: Any = config
    elif isinstance(config, Mapping):
        value = config.get("plugin_config_path")
    else:
        value = getattr(config, "plugin_config_path", None)
        if value is None and isinstance(getattr(config, "path", None), str):
            value = os.path.dirname(config.path)
    return os.fspath(value) if value else None
