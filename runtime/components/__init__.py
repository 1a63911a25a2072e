"""DI components beyond ``dsm``: what scripts reach with ``DI(<name>, …)`` (A-core-76).

:func:`install` registers the built-in components (``user_timer``,
``xmlrpc2di``, ``jsonrpc``, ``cc_dsm``) in ``engine.di`` and then every component a Python package
declares in the entry-point group ``dsm.di``::

    [project.entry-points."dsm.di"]
    my_component = "my_package.di:make"

The entry point is the component's DI name; it loads either a
:class:`~dsm.runtime.engine.DIComponent` instance or a callable taking the
engine and returning one.  A component that cannot be loaded is logged and
left out; it never stops the engine.
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import TYPE_CHECKING, Any

from dsm.runtime.components.jsonrpc import JsonRpc
from dsm.runtime.components.user_timer import UserTimer
from dsm.runtime.components.xmlrpc2di import XmlRpc2Di, read_settings

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine

__all__ = ["install", "ENTRY_POINT_GROUP", "UserTimer", "XmlRpc2Di", "JsonRpc"]

ENTRY_POINT_GROUP = "dsm.di"


def install(engine: Engine) -> None:
    """Register the built-in components, then the entry-point ones (a built-in name is kept)."""
    from dsm.runtime.engine import DIComponent
    from dsm.runtime.session import LEVEL_ERROR

    engine.di.setdefault("user_timer", UserTimer(engine))
    engine.di.setdefault("jsonrpc", JsonRpc(engine))
    from dsm.runtime.sbc.cc_dsm import CcDsmComponent  # imports the SIP message model: only here

    engine.di.setdefault("cc_dsm", CcDsmComponent(engine))
    conf_dir = _plugin_config_path(engine)
    engine.di.setdefault("xmlrpc2di", XmlRpc2Di(engine.clock.now, **read_settings(conf_dir)))
    for ep in entry_points():
        if ep.name in engine.di:
            engine.log(None, LEVEL_ERROR, f"DI component '{ep.name}' from {ep.value}: name taken, ignored")
            continue
        try:
            target = ep.load()
            component = target if isinstance(target, DIComponent) else target(engine)
            if not isinstance(component, DIComponent):
                raise TypeError(f"{ep.value} gave {type(component).__name__}, not a DIComponent")
        except Exception as exc:
            engine.log(None, LEVEL_ERROR, f"DI component '{ep.name}' not loaded: {exc}")
            continue
        engine.di[ep.name] = component


@functools.lru_cache(maxsize=1)
def entry_points() -> tuple[importlib.metadata.EntryPoint, ...]:
    """The entry points of the group ``dsm.di``, read once per process (none if the metadata is broken)."""
    try:
        return tuple(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:
        return ()


def _plugin_config_path(engine: Any) -> str | None:
    config = getattr(engine, "config", None)
    main = getattr(config, "main", None)
    conf = getattr(main, "conf", None)
    get = getattr(conf, "get", None)
    value = get("plugin_config_path") if callable(get) else None
    return value or None
