"""Composition: an engine with its configuration, module and chart libraries and DI components.

The engine receives its collaborators (clock, configuration, module
library, blocking runner); it builds none of them.  This is the
one place that wires them for the hosts that want the usual set — the
harness, ``dsm run`` and tests — while ``dsm serve`` (:mod:`dsm.runtime.server`)
composes its own from the same parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dsm.runtime.blocking import BlockingRunner
from dsm.runtime.clock import Clock
from dsm.runtime.components import install as install_components
from dsm.runtime.config import DSMConfig, install, load_config
from dsm.runtime.engine import Engine
from dsm.runtime.management import install_component
from dsm.runtime.modlib import ModuleLibrary
from dsm.runtime.versions import ChartLibrary, ConfigSource, NoSource, ScriptSource

__all__ = ["build_engine"]


def build_engine(
    clock: Clock,
    config: str | DSMConfig | None = None,
    *,
    mod_path: Sequence[str] = (),
    max_rounds: int = 1000,
    runner: BlockingRunner | None = None,
    source: ScriptSource | None = None,
) -> Engine:
    """An engine on ``clock``; ``config`` (a ``dsm.conf`` path or a loaded one) is installed.

    The module library searches ``mod_path`` (then the installed modules).

    The ``dsm`` DI component (D-1 … D-14) manages the collection of
    ``source``, by default the configuration's scripts or nothing.
    """
    cfg: Any = load_config(config) if isinstance(config, str) else config
    modules = ModuleLibrary(mod_path)
    engine = Engine(clock, modules=modules, max_rounds=max_rounds, runner=runner, config=cfg)
    if cfg is not None:
        install(engine, cfg)
    if source is None:
        source = ConfigSource(cfg.path) if cfg is not None else NoSource()
    install_component(engine, ChartLibrary(engine, source))
    install_components(engine)  # user_timer, xmlrpc2di, jsonrpc and the dsm.di entry points
    return engine
