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

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"
MAPPED = {"runtime": "runtime", "modules": "modules", "grammar": "grammar"}
"""Subpackages of ``dsm`` that live in their own top-level folders."""


def build_tree() -> Path:
    if TREE.exists():
        shutil.rmtree(TREE)
    package = TREE / "dsm"
    package.mkdir(parents=True)
    for entry in (ROOT / "dsm").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    return TREE


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
    for name, folder in MAPPED.items():
        out = out.replace(f"dsm/{name}/", f"{folder}/")
    sys.stdout.write(out)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))
