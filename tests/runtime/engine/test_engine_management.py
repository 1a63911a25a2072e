"""The DSM component's management functions through DI (config.md section 4, E-176)."""

from __future__ import annotations

from pathlib import Path

from engine_rig import Rig

import dsm


def test_D1_post_dsm_event_from_a_script(rig: Rig) -> None:
    rig.load(
        rx="initial state A enter { registerEventQueue(peer) }; transition t A - event(#cmd == go) / set($ok=1) -> A;",
        tx="""initial state A enter { set($ev='[["cmd","go"]]'); DIgetResult(dsm, postDSMEvent, peer, (json)$ev);
              DIgetResult(dsm, postDSMEvent, nobody, (json)$ev); set($code=$DI_res0) };""",
    )
    rx = rig.call("rx")
    tx = rig.call("tx")
    assert rx.vars["ok"] == "1" and tx.vars["code"] == "404"


def test_D7_D8_has_and_list(rig: Rig) -> None:
    rig.engine.load({"b": dsm.compile_source("initial state B;", name="b")}, "bundle")
    s = rig.run("d", "initial state A enter { DIgetResult(dsm, hasDSM, d); set($has=$DI_res0); DIgetResult(dsm, hasDSM, b, b); set($hasb=$DI_res0); DIgetResultArray(dsm, listDSMs) };")
    assert s.vars["has"] == "1" and s.vars["hasb"] == "1"
    assert s.vars["DI_res[0]"] == "d" and s.vars["DI_res_size"] == "1"


def test_D9_register_application(rig: Rig) -> None:
    rig.load(d="initial state A;", other="initial state O;")
    m = rig.engine.di["dsm"]
    assert m.invoke("registerApplication", ["nope"]) == [400, "unknown application (DSM)"]
    assert m.invoke("registerApplication", ["d"])[0] == 500
    assert m.invoke("_list", [])[3] == "loadDSMWithPaths"


def test_D11_create_system_dsm(rig: Rig) -> None:
    rig.load(sys="initial state S;")
    m = rig.engine.di["dsm"]
    assert m.invoke("createSystemDSM", ["main", "sys"]) == [200, "OK"]
    assert m.invoke("createSystemDSM", ["x", "sys"]) == [500, "Error: Script config 'x' not found, in []"]


def test_D4_load_dsm_with_path_no_slash_and_D13_unknown(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "xnew.dsm").write_text("initial state N;\n")
    m = rig.engine.di["dsm"]
    assert m.invoke("loadDSMWithPath", ["new", str(tmp_path) + "/x", ""])[0] == 200
    assert "new" in rig.engine.main.chartset
    assert m.invoke("loadDSMWithPath", ["new", str(tmp_path) + "/x", ""])[0] == 400
    s = rig.run("d", "initial state A enter { DI(dsm, loadDSMWithPaths, a, b, c) };")
    assert s.vars["strerror"] == "not implemented DI function 'loadDSMWithPaths'\n"
