"""Compiling or checking a script runs no module code: names and styles are read from the module's source."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dsm.modules
from dsm.compiler import check_paths, compile_file, compile_source
from dsm.vocabulary import ModuleNotFound, find_module, read_module

BUILTIN = sorted(
    m.name for m in pkgutil.iter_modules(dsm.modules.__path__) if m.name.startswith("mod_")
)


@pytest.mark.parametrize("how", ["check_paths", "compile_file"])
def test_compiling_import_mod_mysql_imports_neither_pymysql_nor_the_runtime(
    tmp_path: Path, how: str
) -> None:
    """L-73: `dsm check` and `compile_file` learn mod_mysql's names without importing it."""
    script = tmp_path / "db.dsm"
    script.write_text(
        "import(mod_mysql)\ninitial state A enter { mysql.connect(x); mysql.query(select 1) };\n"
        'transition "h" A - hangup / stop(false) -> A;\n'
    )
    if how == "check_paths":
        call = (
            "from dsm.compiler import check_paths\n"
            f"d = check_paths([{str(script)!r}])\n"
            "assert not [x for x in d if x.is_error], d\n"
        )
    else:
        call = (
            "import dsm\n"
            f"c = dsm.compile_file({str(script)!r})\n"
            "assert c.imports == ('mod_mysql',), c.imports\n"
        )
    code = (
        "import sys\n" + call + "bad = [m for m in ('pymysql', 'dsm.runtime', "
        "'dsm.modules.mod_mysql') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, errors="replace", timeout=60)
    assert run.returncode == 0, run.stderr


SIDE_EFFECT = """from dsm.runtime.registry import Module
open({marker!r}, 'w').close()
raise RuntimeError('never imported by the compiler')
module = Module('mod_side')
@module.action('side.do', 'P,mand')
def do(ctx, *a): pass
module.action('side.raw', style='raw')(do)
@module.condition('side.when', event='Key')
def when(ctx, *a): return True
"""

SIDE_SCRIPT = (
    "import(mod_side)\ninitial state A enter { side.do(a, b); side.raw(a, b) };\n"
    "transition t A - side.when(x) -> A;\n"
)


def test_a_module_file_on_mod_path_is_read_not_run(tmp_path: Path) -> None:
    """L-73: compile_file, compile_source and check_paths never execute a file on mod_path."""
    mods = tmp_path / "mods"
    mods.mkdir()
    marker = tmp_path / "ran"
    (mods / "mod_side.py").write_text(SIDE_EFFECT.format(marker=str(marker)))
    script = tmp_path / "t.dsm"
    script.write_text(SIDE_SCRIPT)
    chart = compile_file(script, module_path=[str(mods)], consistency_check=False)
    enter = chart.states[0].enter
    assert [(a.module, a.args) for a in enter] == [  # type: ignore[union-attr]
        ("mod_side", ("a", "b")),
        ("mod_side", ("a, b",)),
    ]
    assert compile_source(SIDE_SCRIPT, "t", module_path=[str(mods)], consistency_check=False)
    assert not [d for d in check_paths([script], module_path=[str(mods)]) if d.is_error]
    assert not marker.exists()


def test_a_name_that_is_not_a_literal_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "mod_dyn.py").write_text(
        "from dsm.runtime.registry import Module\nmodule = Module('mod_dyn')\n"
        "NAME = 'dyn.x'\nmodule.action(NAME)(print)\n"
    )
    with pytest.raises(ModuleNotFound, match="literal string"):
        read_module("mod_dyn", [str(tmp_path)])
    p = tmp_path / "t.dsm"
    p.write_text("import(mod_dyn)\ninitial state A;\n")
    (d,) = [x for x in check_paths([p], module_path=[str(tmp_path)]) if x.is_error]
    assert d.code == "E005" and "mod_dyn.py:4" in d.message


@pytest.mark.parametrize("name", BUILTIN)
def test_read_names_equal_the_imported_module(name: str) -> None:
    """M-api-3: the source read gives every name, style and event the module declares."""
    try:
        importlib.import_module(f"dsm.modules.{name}")
    except ImportError as exc:  # pragma: no cover - optional dependency missing
        pytest.skip(str(exc))
    real = find_module(name)
    read = read_module(name)
    assert set(read.actions) == set(real.actions)  # type: ignore[attr-defined]
    assert set(read.conditions) == set(real.conditions)  # type: ignore[attr-defined]
    for n, sig in real.actions.items():  # type: ignore[attr-defined]
        assert read.action_signature(n).style == sig.signature.style  # type: ignore[union-attr]
    for n, sig in real.conditions.items():  # type: ignore[attr-defined]
        got = read.condition_signature(n)
        assert got is not None
        assert (got.style, got.event) == (sig.signature.style, sig.signature.event)


def test_mod_py_syntax_warning_W015_without_importing_mod_py(tmp_path: Path) -> None:
    """L-82: mod_py's `check="python-exec"` gives W015 at compile from the text alone.

    The check compiles the Python text to byte code and runs nothing;
    mod_py itself is not imported.
    """
    script = tmp_path / "py.dsm"
    script.write_text(
        "import(mod_py)\ninitial state A enter { py(x = 1) py(if) };\n"
        "transition t A - py(x = 1) -> A;\n"
    )
    code = (
        "import sys, dsm\n"
        f"c = dsm.compile_file({str(script)!r}, consistency_check=False)\n"
        "print(sorted((w.code, w.line, w.column) for w in c.warnings))\n"
        "assert 'dsm.modules.mod_py' not in sys.modules and 'dsm.runtime' not in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, errors="replace", timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[('W015', 2, 35), ('W015', 3, 18)]"


def test_an_unknown_check_name_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "mod_chk.py").write_text(
        "from dsm.runtime.registry import Module\nmodule = Module('mod_chk')\n"
        "module.action('chk.x', 'raw', check='lua')(print)\n"
    )
    with pytest.raises(ModuleNotFound, match="unknown argument check 'lua'"):
        read_module("mod_chk", [str(tmp_path)])
