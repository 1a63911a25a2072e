"""Whether the media path runs compiled (mypyc) or from source, and the guard against stale builds.

``setup.py`` compiles the modules of :mod:`dsm.runtime.native_modules` to
C extensions placed next to their ``.py`` files (an editable install too)
and records each source's SHA-256 in ``_native_build.py``.  Python prefers
an extension module to a ``.py`` of the same name, so after an edit the old
``.so`` would silently run instead of the new source.  :func:`install` runs
from the package ``__init__`` before any of those modules is imported: when
a source differs from its recorded hash (or a built module has no record),
or ``DSM_NATIVE=0`` is set, it puts a finder first on ``sys.meta_path`` that
loads ALL of the group from source, and logs one warning naming the stale
file and the command that rebuilds.  Plain Python only: never compiled.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from dsm.runtime.native_modules import MODULES

__all__ = ["REBUILD", "SourceFinder", "compiled", "describe", "install", "source_reason", "stale_sources"]

log = logging.getLogger("dsm.runtime.native")

PACKAGE_DIR = Path(__file__).resolve().parent
"""The folder of ``dsm.runtime`` (``runtime/`` in a checkout)."""
REBUILD = "pip install -e '.[test,bench]' (or: python setup.py build_ext --inplace)"
"""What rebuilds the compiled modules in a checkout."""


def source_path(name: str, root: Path = PACKAGE_DIR) -> Path:
    """``dsm.runtime.sip.rtp`` → ``<root>/sip/rtp.py``."""
    parts = name.split(".")
    return root.joinpath(*parts[2:]).with_suffix(".py")


def built_extension(name: str, root: Path = PACKAGE_DIR) -> Path | None:
    """The compiled module next to ``name``'s source, if there is one."""
    source = source_path(name, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def stale_sources(
    record: Mapping[str, str] | None, modules: Sequence[str] = MODULES, root: Path = PACKAGE_DIR
) -> list[Path]:
    """Sources of built modules whose text is not what was compiled (or was not recorded)."""
    stale = []
    for name in modules:
        if built_extension(name, root) is None:
            continue
        source = source_path(name, root)
        try:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
        except OSError:
            digest = ""
        if record is None or record.get(name) != digest:
            stale.append(source)
    return stale


def _load_record() -> Mapping[str, str] | None:
    try:
        _native_build = importlib.import_module("dsm.runtime._native_build")
    except ImportError:
        return None
    sources = getattr(_native_build, "SOURCES", None)
    return sources if isinstance(sources, dict) else None


def source_reason(
    environ: Mapping[str, str],
    record: Mapping[str, str] | None,
    modules: Sequence[str] = MODULES,
    root: Path = PACKAGE_DIR,
) -> str | None:
    """Why the group must load from source although it is built; None when it may run compiled."""
    if not any(built_extension(name, root) for name in modules):
        return None  # nothing built: the ordinary import finds the sources
    if environ.get("DSM_NATIVE", "1") == "0":
        return "DSM_NATIVE=0"
    stale = stale_sources(record, modules, root)
    if stale:
        return f"stale build: {stale[0]} changed since it was compiled"
    return None


class SourceFinder:
    """A meta-path finder that loads the compiled group's modules from their ``.py`` files."""

    def __init__(self, modules: Sequence[str] = MODULES, root: Path = PACKAGE_DIR) -> None:
        self.modules = frozenset(modules)
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.modules:
            return None
        source = str(source_path(fullname, self.root))
        loader = importlib.machinery.SourceFileLoader(fullname, source)
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


_reason: str | None = None
_installed = False


def install(environ: Mapping[str, str] | None = None) -> None:
    """Load the group from source when the build is stale or ``DSM_NATIVE=0`` (once per process)."""
    global _reason, _installed
    if _installed:
        return
    _installed = True
    _reason = source_reason(os.environ if environ is None else environ, _load_record())
    if _reason is None:
        return
    sys.meta_path.insert(0, SourceFinder())  # type: ignore[arg-type]
    if _reason.startswith("stale"):
        log.warning(
            "compiled media path not used (%s); running it from source, slower. Rebuild: %s",
            _reason,
            REBUILD,
        )


def compiled() -> bool:
    """True when every module of the group is (or will be) imported from its compiled extension."""
    for name in MODULES:
        module = sys.modules.get(name)
        spec = module.__spec__ if module is not None else importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or origin.endswith(".py"):
            return False
    return True


def describe() -> str:
    """One word and why, for the start log line: ``compiled`` or ``source (…)``."""
    if compiled():
        return "compiled"
    return f"source ({_reason or 'not built'})"
