"""The engine gets its module library from the composition root (issue 14, M-api-1).

``Engine.load`` binds charts through the library it was handed and never
searches a module path of its own; importing the engine alone must not pull
in the management layer (no engine <-> management cycle).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dsm
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.engine import Engine
from dsm.runtime.executable import ModuleLoadFailed
from dsm.runtime.modlib import ModuleLibrary

HERE = str(Path(__file__).parent)

CHART = "import(mod_enginetest)\ninitial state S;\n"


def test_m_api_1_engine_binds_through_the_library_it_was_handed() -> None:
    """A module found only on the library's path loads; without that library it is refused."""
    chart = dsm.compile_source(CHART, name="c", module_path=[HERE])
    with_lib = Engine(VirtualClock(), modules=ModuleLibrary([HERE]))
    assert "c" in with_lib.load({"c": chart})
    assert with_lib.modules.path == (HERE,)
    without = Engine(VirtualClock())
    with pytest.raises(ModuleLoadFailed):
        without.load({"c": chart})


def test_m_api_1_build_engine_composes_the_library_from_mod_path() -> None:
    engine = build_engine(VirtualClock(), mod_path=[HERE])
    assert isinstance(engine.modules, ModuleLibrary)
    assert engine.modules.path == (HERE,)
    assert engine.modules.at([HERE]) is engine.modules
    assert engine.modules.at([]).path == ()


def test_importing_the_engine_does_not_import_management() -> None:
    code = (
        "import sys, dsm.runtime.engine\n"
        "bad = [m for m in sys.modules if m.startswith(('dsm.runtime.management', "
        "'dsm.runtime.compose', 'dsm.runtime.versions'))]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, errors="replace", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
