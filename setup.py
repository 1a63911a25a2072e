"""Build hook: compile the per-packet media modules with mypyc when it can.

All metadata lives in ``pyproject.toml``; this file only adds C extension
modules.  The modules in ``runtime/native_modules.py`` are compiled by
mypyc from the same typed Python source (no hand-written C).  When mypyc, a
C compiler or the Python headers are missing, on Windows, or with
``DSM_NATIVE_BUILD=0``, nothing is compiled: the install still succeeds and
the package runs as plain Python (a warning says why).

The build also writes ``runtime/_native_build.py``: a SHA-256 of every
compiled source, so that ``dsm.runtime.native`` can tell at import time
when an edited ``.py`` would be shadowed by a stale ``.so`` (see
docs/sip.md, "Compiled media path").
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import warnings
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import CCompilerError, ExecError, PlatformError
except ImportError:  # older setuptools
    from distutils.errors import CCompilerError
    from distutils.errors import DistutilsExecError as ExecError
    from distutils.errors import DistutilsPlatformError as PlatformError

ROOT = Path(__file__).resolve().parent
TREE = Path("build") / "native"
"""The installed layout (``dsm/runtime`` …) as symbolic links, so mypyc names modules right."""
RECORD = ROOT / "runtime" / "_native_build.py"


def _native_modules() -> ModuleType:
    """runtime/native_modules.py, read without importing the package."""
    spec = importlib.util.spec_from_file_location(
        "_dsm_native_modules", ROOT / "runtime" / "native_modules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_module_list() -> list[str]:
    """``MODULES`` of runtime/native_modules.py."""
    return list(_native_modules().MODULES)


def _source_path(name: str) -> Path:
    """``dsm.runtime.sip.rtp`` → ``runtime/sip/rtp.py`` (relative to the repository)."""
    parts = name.split(".")
    assert parts[:2] == ["dsm", "runtime"], name
    return Path("runtime", *parts[2:]).with_suffix(".py")


def _why_not_native() -> str | None:
    """A reason not to compile, or None when mypyc, a compiler and the headers are all there."""
    if os.environ.get("DSM_NATIVE_BUILD", "1") == "0":
        return "DSM_NATIVE_BUILD=0"
    if sys.platform == "win32":
        return "Windows (not supported by this build)"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None and shutil.which("cc") is None:
        return f"no C compiler ({compiler})"
    include = sysconfig.get_paths().get("include", "")
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers (Python.h not in {include}; Debian: python3-dev)"
    return None


def _build_tree() -> Path:
    """The installed layout as symbolic links, so mypyc names modules right."""
    tree = _native_modules().installed_layout(ROOT, TREE)
    (tree / "mypy.ini").write_text("[mypy]\npython_version = 3.11\nignore_missing_imports = True\n")
    return tree


def _write_record(modules: list[str], record: Path = RECORD) -> None:
    lines = [
        '"""Written by setup.py when it compiled these modules: their sources\' SHA-256."""',
        "",
        "SOURCES: dict[str, str] = {",
    ]
    for name in modules:
        digest = hashlib.sha256((ROOT / _source_path(name)).read_bytes()).hexdigest()
        lines.append(f"    {name!r}: {digest!r},")
    lines.append("}")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("\n".join(lines) + "\n")


def _remove_old_build(modules: list[str]) -> None:
    """Drop extensions an earlier in-place build left next to the sources (they would shadow them)."""
    stems = [ROOT / _source_path(name) for name in modules]
    stems.append(ROOT / "runtime" / "_native__mypyc.py")
    for stem in stems:
        for old in stem.parent.glob(stem.stem + ".*.so"):
            old.unlink()
    if RECORD.exists():
        RECORD.unlink()


def native_extensions() -> list:  # type: ignore[type-arg]
    reason = _why_not_native()
    if reason is not None:
        warnings.warn(f"dsm-runtime: media path not compiled ({reason}); pure Python", stacklevel=1)
        _remove_old_build(_load_module_list())
        return []
    try:
        from mypyc.build import mypycify

        modules = _load_module_list()
        tree = _build_tree()
        paths = [str(tree / "dsm" / _source_path(name)) for name in modules]
        extensions = mypycify(
            ["--config-file", str(tree / "mypy.ini"), *paths],
            group_name="dsm.runtime._native",
            opt_level="3",
        )
    except (Exception, SystemExit) as exc:  # a failed mypyc run must not fail the install
        warnings.warn(f"dsm-runtime: mypyc failed ({exc}); pure Python", stacklevel=1)
        _remove_old_build(_load_module_list())
        return []
    return list(extensions)


class BuildExt(build_ext):
    """Compile the extensions; on a compiler failure warn and stay pure Python."""

    def run(self) -> None:
        if self.inplace and RECORD.exists():
            RECORD.unlink()
        if not self.extensions:
            return
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError, OSError) as exc:
            warnings.warn(f"dsm-runtime: C build failed ({exc}); pure Python", stacklevel=1)
            if self.inplace:
                _remove_old_build(_load_module_list())
            return
        # in place (editable): next to the sources; else into the tree the wheel is made of
        target = RECORD if self.inplace else Path(self.build_lib, "dsm", "runtime", RECORD.name)
        _write_record(_load_module_list(), target)


BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}
"""setup.py commands that compile; metadata-only ones (egg_info, dist_info, sdist) skip mypyc."""

setup(
    ext_modules=native_extensions() if BUILD_COMMANDS & set(sys.argv[1:]) else [],
    cmdclass={"build_ext": BuildExt},
)
