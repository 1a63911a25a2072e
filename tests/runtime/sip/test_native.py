"""The compiled media path: which modules run compiled, and the guard against a stale build.

Not a spec rule: a build property (docs/sip.md, "Compiled media path").  The
guard's decision is tested on a temporary tree (no build needed); the
process-level behaviour (``DSM_NATIVE=0``, a stale record) in a fresh
interpreter, and only where this checkout has the extensions built.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsm.runtime import native
from dsm.runtime.native_modules import MODULES

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
NAME = "dsm.runtime.sip.fake"


def _tree(tmp_path: Path, built: bool = True) -> Path:
    (tmp_path / "sip").mkdir()
    (tmp_path / "sip" / "fake.py").write_text("VALUE = 1\n")
    if built:
        (tmp_path / "sip" / f"fake{SUFFIX}").write_bytes(b"")
    return tmp_path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_nothing_built_needs_no_guard(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=False)
    assert native.source_reason({}, None, [NAME], root) is None


def test_matching_record_runs_compiled(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    assert native.source_reason({}, record, [NAME], root) is None


def test_edited_source_is_stale(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    (root / "sip" / "fake.py").write_text("VALUE = 2\n")
    reason = native.source_reason({}, record, [NAME], root)
    assert reason is not None and "stale" in reason and "fake.py" in reason


def test_missing_record_is_stale(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert native.stale_sources(None, [NAME], root) == [root / "sip" / "fake.py"]


def test_environment_forces_source(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    assert native.source_reason({"DSM_NATIVE": "0"}, record, [NAME], root) == "DSM_NATIVE=0"


def test_source_finder_loads_the_py_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    finder = native.SourceFinder([NAME], root)
    spec = finder.find_spec(NAME)
    assert spec is not None and spec.origin == str(root / "sip" / "fake.py")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("dsm.runtime.sip.other") is None


BUILT = all(native.built_extension(name) is not None for name in MODULES)
needs_build = pytest.mark.skipif(not BUILT, reason="the media path is not compiled in this checkout")

PROBE = """
import sys, types
if {fake_record}:
    record = types.ModuleType("dsm.runtime._native_build")
    record.SOURCES = {{}}
    sys.modules["dsm.runtime._native_build"] = record
from dsm.runtime import native
import dsm.runtime.sip.rtp_session as session
import dsm.runtime.media.call_media as media
print(native.compiled(), session.__file__.endswith(".py"), media.__file__.endswith(".py"))
print(native.describe())
"""


def _probe(fake_record: bool, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(fake_record=fake_record)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_build
def test_built_checkout_runs_compiled() -> None:
    proc = _probe(False, {"DSM_NATIVE": "1"})
    assert proc.stdout.splitlines() == ["True False False", "compiled"], proc.stderr
    assert "stale" not in proc.stderr


@needs_build
def test_native_off_runs_every_module_from_source() -> None:
    proc = _probe(False, {"DSM_NATIVE": "0"})
    assert proc.stdout.splitlines() == ["False True True", "source (DSM_NATIVE=0)"], proc.stderr
    assert "stale" not in proc.stderr


@needs_build
def test_stale_record_runs_from_source_with_one_warning() -> None:
    proc = _probe(True, {"DSM_NATIVE": "1"})
    lines = proc.stdout.splitlines()
    assert lines[0] == "False True True", proc.stderr
    assert lines[1].startswith("source (stale build:")
    warnings = [line for line in proc.stderr.splitlines() if "compiled media path not used" in line]
    assert len(warnings) == 1 and "Rebuild: pip install -e" in warnings[0]
