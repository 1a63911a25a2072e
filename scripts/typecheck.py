"""Type-check the whole ``dsm`` namespace with mypy, as it is installed.

``runtime/`` and ``modules/`` ship as ``dsm.runtime`` and ``dsm.modules``
(``[tool.setuptools.package-dir]``).  An editable install maps them with an
import hook that mypy cannot follow, so checking the folders directly would
see every ``from dsm.runtime…`` import as ``Any`` and miss errors across
packages.  This script builds the installed layout as a tree of symbolic
links under ``build/typecheck`` (the package itself, nothing copied), runs
``mypy -p dsm`` on it and prints paths relative to the repository again.

Run: ``.venv/bin/python scripts/typecheck.py`` (extra arguments go to mypy).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"


def _layout() -> ModuleType:
    """runtime/native_modules.py (the installed layout), read without importing the package."""
    spec = importlib.util.spec_from_file_location("_dsm_layout", ROOT / "runtime" / "native_modules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAYOUT = _layout()


def build_tree() -> Path:
    return LAYOUT.installed_layout(ROOT, TREE)  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    tree = build_tree()
    cmd = [
        sys.executable, "-m", "mypy",
        "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(ROOT / ".mypy_cache"),
        "-p", "dsm", *argv,
    ]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    out = proc.stdout
    for name, folder in LAYOUT.MAPPED.items():
        out = out.replace(f"dsm/{name}/", f"{folder}/")
    sys.stdout.write(out)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))
