"""Which files the control methods may open: only those under the configured folders.

``load``, ``loadDSM``, ``loadDSMWithPath``, ``preloadModule`` and
``loadConfig`` take paths from the request.  Without a limit they would
compile any file (and echo its first line in a diagnostic) or import and
run any Python file in the server process.  :class:`PathPolicy` allows

* scripts (``*.dsm``) under the script folders (``--scripts``) or the
  configuration's ``diag_path``;
* module folders and module files under ``mod_path``;
* bundle configurations (``*.conf``) under ``conf_dir``;

compared as resolved real paths, so neither ``..`` nor a symbolic link
leads out.  A refusal is an :class:`~dsm.runtime.control.jsonrpc.RpcError`
(``-32003``) that names the allowed folders and is raised before the file
is opened, so nothing of it can be quoted.  The folders are read from the
source at every check: a reload that changes ``diag_path`` moves them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dsm.runtime.control.jsonrpc import FORBIDDEN, RpcError
from dsm.runtime.versions import ConfigSource, DirectorySource, ReloadFailed, ScriptSource

__all__ = ["Roots", "PathPolicy", "roots_of"]

_WHAT = {"scripts": "scripts", "modules": "modules", "configs": "bundle configurations"}
_KEYS = {"scripts": "script folders / diag_path", "modules": "mod_path", "configs": "conf_dir"}
_SUFFIX = {"scripts": ".dsm", "modules": ".py", "configs": ".conf"}


@dataclass
class Roots:
    """The allowed folders by kind, as given (resolved when checked)."""

    scripts: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[str]:
        return list(getattr(self, kind))


def roots_of(source: ScriptSource) -> Roots:
    """The folders a source configures; none for a source that names none."""
    if isinstance(source, DirectorySource):
        scripts = [str(f.parent if f.is_file() else f) for f in source.folders]
        return Roots(scripts, list(source.mod_path), [])
    if isinstance(source, ConfigSource):
        from dsm.runtime.config import read_conf

        conf = read_conf(source.path)
        if any(d.is_error for d in conf.diagnostics):
            return Roots()
        return Roots(
            [p for p in [conf.get("diag_path")] if p],
            [p for p in [conf.get("mod_path")] if p],
            [p for p in [conf.get("conf_dir")] if p],
        )
    return Roots()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class PathPolicy:
    """Checks the path arguments of the control methods against a source's folders."""

    def __init__(self, source: Any) -> None:
        self._source = source  # a ChartLibrary-like object with .source, or a callable

    def roots(self) -> Roots:
        source = self._source() if callable(self._source) else self._source.source
        try:
            return roots_of(source)
        except (OSError, ReloadFailed):
            return Roots()

    def refuse(self, kind: str, shown: str, reason: str, roots: Sequence[str]) -> RpcError:
        listed = ", ".join(roots) if roots else "none configured"
        return RpcError(
            FORBIDDEN,
            f"refused: {shown} {reason}; {_WHAT[kind]} are only read from the {_KEYS[kind]} folders ({listed})",
            {"allowed": list(roots)},
        )

    def check_file(self, kind: str, path: str) -> str:
        """``path`` resolved, if it is a ``*.dsm``/``*.py``/``*.conf`` file under the ``kind`` folders."""
        roots = self.roots().of(kind)
        if not path.endswith(_SUFFIX[kind]):
            raise self.refuse(kind, repr(path), f"is not a {_SUFFIX[kind]} file", roots)
        real = os.path.realpath(path)
        if not any(_inside(real, os.path.realpath(r)) for r in roots):
            raise self.refuse(kind, repr(path), "is outside the allowed folders", roots)
        return real

    def check_folder(self, kind: str, folder: str) -> str:
        """``folder`` resolved, if it is one of the ``kind`` folders or under one."""
        roots = self.roots().of(kind)
        real = os.path.realpath(folder)
        if not any(_inside(real, os.path.realpath(r)) for r in roots):
            raise self.refuse(kind, repr(folder), "is outside the allowed folders", roots)
        return real

    # -- the management functions (D-3, D-4, D-6, D-10) -----------------------------------
    def check_function(self, function: str, args: list[Any], diag_path: str | None = None) -> None:
        """Refuse a DSM management call whose paths leave the allowed folders.

        Arguments of the wrong type are left to the function (its D-14
        errors); only strings are paths.
        """
        s = [a if isinstance(a, str) else None for a in args]
        if function == "loadDSM" and s[:1] and s[0] is not None and diag_path is not None:
            self.check_file("scripts", f"{diag_path}{s[0]}.dsm")
        elif function == "loadDSMWithPath" and len(s) >= 3 and None not in s[:3]:
            name, folder, mods = s[0], s[1], s[2]
            assert name is not None and folder is not None and mods is not None
            self.check_file("scripts", f"{folder}{name}.dsm")
            if mods:
                self.check_folder("modules", mods)
        elif function == "preloadModule" and len(s) >= 2 and s[0] is not None and s[1]:
            folder = self.check_folder("modules", s[1])
            candidate = os.path.join(folder, f"{s[0]}.py")
            if os.path.lexists(candidate):
                self.check_file("modules", candidate)
        elif function == "loadConfig" and s[:1] and s[0] is not None:
            self.check_file("configs", s[0])
