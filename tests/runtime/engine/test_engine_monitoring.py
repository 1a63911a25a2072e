"""Monitoring of state changes (E-174, K-17, K-18) and ``$(mon_select)`` (E-177, AS-9, K-19 … K-22)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fake_call import FakeCall

from dsm.modules.mod_monitoring import store
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.config import load_config
from dsm.runtime.engine import Engine
from dsm.runtime.monitor import CallRefused, MonSelect, header_keyvalue

MENU = """\
initial state S enter { callFSM(sub); };
state T;
state U;
transition go S - keyTest(#key == 1) -> T;
transition back T - keyTest(#key == 2) / jumpFSM(other) -> U;
"""
SUB = """\
initial state A enter { returnFSM(); };
"""
OTHER = "initial state O;\n"


@pytest.fixture(autouse=True)
def clean_store() -> Iterator[None]:
    store.clear()
    yield
    store.clear()


def engine(tmp_path: Path, conf: str, **diags: str) -> Engine:
    (tmp_path / "d").mkdir(exist_ok=True)
    for name, text in (diags or {"menu": MENU, "sub": SUB, "other": OTHER}).items():
        (tmp_path / "d" / f"{name}.dsm").write_text(text)
    names = ",".join(diags or ("menu", "sub", "other"))
    (tmp_path / "dsm.conf").write_text(
        f"diag_path={tmp_path}/d\nload_diags={names}\nregister_apps={names}\n" + textwrap.dedent(conf)
    )
    e = build_engine(VirtualClock(), load_config(str(tmp_path / "dsm.conf")))
    e.run_pending()
    return e


def call(e: Engine, app: str = "menu", tag: str = "tag1", **selects: str) -> Any:
    s = e.start_call(app, FakeCall(tag, selects))
    e.run_pending()
    return s


def key(e: Engine, s: Any, k: int) -> None:
    s.deliver("Key", {"key": str(k), "duration": "100"})
    e.run_pending()


# --------------------------------------------------------------------------- E-174, K-17, K-18
class TestStateMonitoring:
    def test_E174_off_without_the_monitoring_component(self, tmp_path: Path) -> None:
        e = engine(tmp_path, "")
        call(e)
        assert e.monitor is None and store.record("tag1") is None

    def test_E174_dsm_diag_and_state(self, tmp_path: Path) -> None:
        e = engine(tmp_path, "preload_mods=mod_monitoring\n")
        s = call(e)
        assert store.record("tag1") == {"dsm_diag": "menu", "dsm_state": "S"}
        key(e, s, 1)
        assert store.record("tag1") == {"dsm_diag": "menu", "dsm_state": "T"}
        key(e, s, 2)
        assert store.record("tag1") == {"dsm_diag": "other", "dsm_state": "O"}

    def test_K17_full_stategraph(self, tmp_path: Path) -> None:
        e = engine(tmp_path, "preload_mods=mod_monitoring\nmonitoring_full_stategraph=yes\n")
        s = call(e)
        key(e, s, 1)
        key(e, s, 2)
        assert store.get("tag1", "dsm_stategraph") == [
            "menu/S",
            "sub/A",  # callFSM target
            "menu/S",  # return point
            "menu/T",
            "other/O",  # jumpFSM target; the jump ends the transition (U is not entered)
        ]

    def test_K18_full_transitions(self, tmp_path: Path) -> None:
        e = engine(
            tmp_path,
            "preload_mods=mod_monitoring\nmonitoring_full_stategraph=yes\nmonitoring_full_transitions=yes\n",
            menu="initial state S;\nstate T;\ntransition go S - keyTest(#key == 1) -> T;\n",
        )
        s = call(e)
        key(e, s, 1)
        assert store.get("tag1", "dsm_stategraph") == ["menu/S", "> go >", "menu/T"]

    def test_K18_transitions_without_states(self, tmp_path: Path) -> None:
        e = engine(
            tmp_path,
            "preload_mods=mod_monitoring\nmonitoring_full_transitions=yes\n",
            menu="initial state S;\nstate T;\ntransition go S - keyTest(#key == 1) -> T;\n",
        )
        s = call(e)
        key(e, s, 1)
        assert store.get("tag1", "dsm_stategraph") == ["> go >"]
        assert store.get("tag1", "dsm_state") == "T"

    def test_E174_call_info_shows_the_record(self, tmp_path: Path) -> None:
        from dsm.runtime.management import Operations
        from dsm.runtime.versions import ChartLibrary, NoSource

        e = engine(tmp_path, "preload_mods=mod_monitoring\nmonitoring_full_stategraph=yes\n")
        s = call(e)
        store.set("tag1", "secret_pin", "1234")
        info = Operations(e, ChartLibrary(e, NoSource())).call_info(s.id)
        assert info is not None
        assert info["monitoring"]["dsm_state"] == "S"
        assert info["monitoring"]["dsm_stategraph"] == ["menu/S", "sub/A", "menu/S"]
        assert info["monitoring"]["secret_pin"] == "***"


# --------------------------------------------------------------------------- E-177, AS-9
SEL = "preload_mods=mod_monitoring\ninbound_start_diag=$(mon_select)\n"


def incoming(e: Engine, from_: str = "<sip:alice@x.org>", ruri_user: str = "100", to: str = "<sip:100@y.org>", headers: str = "", tag: str = "in1") -> Any:
    s = e.start_call("dsm", FakeCall(tag, {"remote_party": from_, "user": ruri_user, "local_party": to}), headers=headers)
    e.run_pending()
    return s


class TestMonSelect:
    def test_E177_selects_app_and_sets_variables(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL)
        store.set("rec-1", "caller", "alice")
        store.set("rec-1", "callee", "100")
        store.set("rec-1", "app", "other")
        store.set("rec-1", "appParams", {"lang": "de", "L": ["a", "b"]})  # type: ignore[arg-type]
        s = incoming(e)
        assert s.state.diagram.name == "other"
        assert (s.vars["mon_session_record"], s.vars["lang"], s.vars["L_size"], s.vars["L_1"]) == ("rec-1", "de", "2", "b")

    def test_E177_no_match_refused_with_500(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL)
        store.set("rec-1", "caller", "bob")
        store.set("rec-1", "app", "other")
        with pytest.raises(CallRefused) as info:
            incoming(e)
        assert info.value.status == 500

    def test_K22_fallback(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL + "monitor_select_fallback=other\n")
        s = incoming(e)
        assert s.state.diagram.name == "other" and "mon_session_record" not in s.vars

    def test_AS9_record_without_app_falls_back(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL + "monitor_select_fallback=menu\n")
        store.set("r", "caller", "alice")
        store.set("r", "callee", "100")
        assert incoming(e).state.diagram.name == "menu"

    def test_AS9_monitoring_not_loaded(self, tmp_path: Path) -> None:
        e = engine(tmp_path, "inbound_start_diag=$(mon_select)\n")
        with pytest.raises(CallRefused, match="monitoring not enabled"):
            incoming(e)

    def test_K19_K20_caller_pai_and_callee_to(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL + "monitor_select_use_caller=pai\nmonitor_select_use_callee=from\n")
        store.set("r", "caller", "carol")
        store.set("r", "callee", "sales")
        store.set("r", "app", "other")
        s = incoming(e, to="Sales <sip:sales@y.org>", headers="P-Asserted-Identity: <sip:carol@pbx>\r\n")
        assert s.vars["mon_session_record"] == "r"
        with pytest.raises(CallRefused):  # no P-Asserted-Identity: not parsable → 500
            incoming(e, tag="in2")

    def test_K19_no_filters_first_record_wins(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL + "monitor_select_use_caller=no\nmonitor_select_use_callee=no\n")
        store.set("b", "app", "menu")
        store.set("a", "app", "other")
        assert incoming(e).vars["mon_session_record"] == "a"

    def test_K21_app_param_filters(self, tmp_path: Path) -> None:
        e = engine(tmp_path, SEL + "monitor_select_use_caller=no\nmonitor_select_use_callee=no\nmonitor_select_filters=room,pin\n")
        store.set("r1", "room", "7")
        store.set("r1", "pin", "11")
        store.set("r1", "app", "menu")
        store.set("r2", "room", "7")
        store.set("r2", "pin", "12")
        store.set("r2", "app", "other")
        s = incoming(e, headers='P-App-Param: Room=7;pin="12"\r\n')
        assert s.vars["mon_session_record"] == "r2"

    def test_header_keyvalue(self) -> None:
        assert header_keyvalue('a=1; B = "x;y" ;c', "b") == "x;y"
        assert header_keyvalue("a=1;c", "c") == ""
        assert header_keyvalue("", "a") == ""

    def test_K19_K20_settings(self) -> None:
        assert MonSelect.from_values({}, []) == MonSelect("from", "ruri", (), "")
        assert MonSelect.from_values({"monitor_select_use_caller": "to", "monitor_select_use_callee": "to"}, []).caller == "none"
