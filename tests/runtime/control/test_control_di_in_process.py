"""The ``dsm`` component from a script: ``DI(dsm, …)`` (A-core-76 … 78, config.md section 4).

The same :class:`DSMComponent` answers scripts and the control endpoint; a
script sees results as ``$DI_res…`` and failures as ``$errno = arg`` with
the reference's ``strerror`` (D-13).
"""

from __future__ import annotations

from pathlib import Path

from dsm.runtime.clock import VirtualClock
from dsm.runtime.control.remote_call import start_remote_call
from dsm.runtime.engine import Engine
from dsm.runtime.management import DSMComponent, install_component
from dsm.runtime.versions import ChartLibrary, DirectorySource

SCRIPT = """
initial state ASK
  enter {
    DIgetResult(dsm, hasDSM, ask)
    set($has=$DI_res0)
    DIgetResult(dsm, hasDSM, nothere)
    set($hasnot=$DI_res0)
    DIgetResultArray(dsm, listDSMs)
    set($count=$DI_res_size)
    DIgetResult(dsm, postDSMEvent, @local_tag)
    set($bounds=$errno)
    DI(dsm, frobnicate)
    set($e=$errno)
    set($s=$strerror)
  };
"""


def _engine(tmp_path: Path) -> tuple[Engine, DSMComponent]:
    (tmp_path / "ask.dsm").write_text(SCRIPT)
    (tmp_path / "other.dsm").write_text("initial state X;\n")
    engine = Engine(VirtualClock())
    library = ChartLibrary(engine, DirectorySource([tmp_path]))
    library.reload()
    return engine, install_component(engine, library)


def test_component_is_registered_as_dsm(tmp_path: Path) -> None:
    engine, component = _engine(tmp_path)
    assert engine.di["dsm"] is component


def test_A_core_77_D7_D8_D13_results_seen_by_a_script(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    call = start_remote_call(engine, "ask")
    assert call.session is not None
    v = call.session.vars
    assert v["has"] == "1" and v["hasnot"] == "0"
    assert v["count"] == "2"
    assert v["bounds"] == "arg"  # postDSMEvent without its pairs: out of bounds (D-14)
    assert v["e"] == "arg"
    assert v["s"] == "not implemented DI function 'frobnicate'\n"


def test_D2_reloadDSMs_in_process(tmp_path: Path) -> None:
    engine, component = _engine(tmp_path)
    assert component.invoke("reloadDSMs", []) == [200, "DSMs reloaded"]
    (tmp_path / "other.dsm").write_text("initial state X enter { notAnAction(1) };\n")
    code, text = component.invoke("reloadDSMs", [])
    assert code == 500 and text.startswith("loading other from")
    assert component.last_diagnostics and component.last_diagnostics[0].is_error
