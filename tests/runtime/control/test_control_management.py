"""The DSM component's management functions over JSON-RPC (config.md D-1 … D-14).

A server runs a ``dsm.conf`` with a main collection (``main``, ``sub``) and
one application bundle ``sales`` (``shop`` and the system diagram
``sysd``).  Every function is called with the reference's arguments and
must give the reference's result shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from control_rig import BROKEN, ServerThread, main_script, sub_script

from dsm.runtime.control.client import ControlClient, RpcFailure
from dsm.runtime.control.jsonrpc import FORBIDDEN, INVALID_PARAMS, METHOD_NOT_FOUND
from dsm.runtime.management import FUNCTIONS, bundle_name_of

SYSD = """
-- a system DSM that waits for events and counts them
initial state IDLE
  enter { registerEventQueue(salesq) };
transition "count" IDLE - event(#cmd == count) / inc($n) -> IDLE;
"""


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.diags = root / "diags"
        self.sales = root / "sales"
        self.bundles = root / "bundles"
        for d in (self.diags, self.sales, self.bundles):
            d.mkdir()
        (self.diags / "main.dsm").write_text(main_script(1))
        (self.diags / "sub.dsm").write_text(sub_script(1))
        (self.diags / "extra.dsm").write_text(sub_script(7).replace("SUB_", "EXTRA_"))
        (self.sales / "shop.dsm").write_text(main_script(5).replace("jumpFSM(sub)", "log(2, shop)"))
        (self.sales / "sysd.dsm").write_text(SYSD)
        self.conf = root / "dsm.conf"
        self.write_conf()
        (self.bundles / "sales.conf").write_text(
            f"diag_path={self.sales}/\nload_diags=shop,sysd\nregister_apps=shop\nrun_system_dsms=sysd\nlimit=5\n"
        )

    def write_conf(self, extra: str = "") -> None:
        self.conf.write_text(
            f"diag_path={self.diags}/\nload_diags=main,sub\nregister_apps=main\n"
            f"conf_dir={self.bundles}\nsupport_number=2000\n{extra}"
        )


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


@pytest.fixture
def server(setup: Setup) -> Iterator[ServerThread]:
    st = ServerThread(config=str(setup.conf))
    try:
        yield st
    finally:
        st.stop()


def rpc_error(client: ControlClient, method: str, params: Any) -> RpcFailure:
    with pytest.raises(RpcFailure) as err:
        client.call(method, params)
    return err.value


def test_D1_postDSMEvent_reaches_a_session_or_404(server: ServerThread) -> None:
    c = server.client
    system = [s for s in c.call("listCalls") if s["kind"] == "system"]
    assert len(system) == 1
    assert c.call("postDSMEvent", ["salesq", [["cmd", "count"]]]) == [200, "OK"]
    assert c.call("postDSMEvent", [system[0]["id"], [["cmd", "count"], ["x", "y"]]]) == [200, "OK"]
    info = c.call("callInfo", [system[0]["id"]])
    assert info["vars"]["n"] == "2"
    assert c.call("postDSMEvent", ["no-such-session", []]) == [404, "Session not found"]


def test_D1_D14_postDSMEvent_argument_checks(server: ServerThread) -> None:
    c = server.client
    assert rpc_error(c, "postDSMEvent", [5, []]).code == INVALID_PARAMS  # target not a string
    assert "out of bounds" in rpc_error(c, "postDSMEvent", ["x"]).message  # pairs missing
    assert "type mismatch" in rpc_error(c, "postDSMEvent", ["x", [["a", 1]]]).message


def test_D2_reloadDSMs_results(server: ServerThread, setup: Setup) -> None:
    c = server.client
    before = c.call("versions")["current"]
    (setup.diags / "main.dsm").write_text(main_script(2))
    assert c.call("reloadDSMs") == [200, "DSMs reloaded"]
    after = c.call("versions")["current"]
    assert after != before
    (setup.diags / "main.dsm").write_text(BROKEN)
    assert c.call("reloadDSMs", []) == [500, f"loading main from {setup.diags}/main.dsm"]
    assert c.call("versions")["current"] == after, "the old collection stays"
    setup.conf.rename(setup.root / "moved.conf")
    assert c.call("reloadDSMs") == [500, f"loading config file {setup.conf}"]


def test_D2_reload_keeps_startup_config_values(server: ServerThread, setup: Setup) -> None:
    c = server.client
    setup.write_conf("support_number=9999\n")
    assert c.call("reloadDSMs") == [200, "DSMs reloaded"]
    call = c.call("startCall", {"app": "main"})
    assert c.call("callInfo", [call["id"]])["vars"]["config.support_number"] == "2000"


def test_D3_loadDSM_results(server: ServerThread, setup: Setup) -> None:
    c = server.client
    assert c.call("loadDSM", ["extra"]) == [200, f"loaded extra from {setup.diags}/extra.dsm"]
    assert c.call("hasDSM", ["extra"]) == ["1"]
    assert c.call("loadDSM", ["extra"]) == [
        400,
        "DSM named 'extra' already loaded (use reloadDSMs to reload all)",
    ]
    assert c.call("loadDSM", ["nope"]) == [500, f"error loading nope from {setup.diags}/nope.dsm"]
    assert rpc_error(c, "loadDSM", []).code == INVALID_PARAMS


def test_D4_loadDSMWithPath_inserts_no_slash(server: ServerThread, setup: Setup) -> None:
    c = server.client
    d = str(setup.diags)
    (setup.diags / "more").mkdir()
    sub = f"{d}/more"  # without a slash the name is glued to the folder: diags/moreextra.dsm
    assert c.call("loadDSMWithPath", ["extra", sub, ""]) == [500, f"error loading extra from {sub}extra.dsm"]
    assert rpc_error(c, "loadDSMWithPath", ["extra", d, ""]).code == FORBIDDEN  # <root>extra.dsm is outside
    assert c.call("loadDSMWithPath", ["extra", d + "/", ""]) == [200, f"loaded extra from {d}/extra.dsm"]
    assert "out of bounds" in rpc_error(c, "loadDSMWithPath", ["extra", d]).message


def test_D4_D12_loadDSMWithPaths_is_advertised_but_not_accepted(server: ServerThread) -> None:
    c = server.client
    assert "loadDSMWithPaths" in c.call("_list")
    assert rpc_error(c, "loadDSMWithPaths", ["x", "y", "z"]).code == METHOD_NOT_FOUND
    assert rpc_error(c, "di", ["dsm", "loadDSMWithPaths", "x", "y", "z"]).code == METHOD_NOT_FOUND


def test_D5_preloadModules_results(server: ServerThread, setup: Setup) -> None:
    c = server.client
    assert c.call("preloadModules") == [200, "modules preloaded"]
    setup.write_conf("preload_mods=mod_nosuchthing\n")
    assert c.call("preloadModules") == [500, "importing module 'mod_nosuchthing' for preload\n"]


def test_D6_preloadModule_results(server: ServerThread, setup: Setup) -> None:
    c = server.client
    mods = setup.root / "mods"
    mods.mkdir()
    setup.write_conf(f"mod_path={mods}\n")  # preloadModule reads only from mod_path
    assert c.call("preloadModule", ["mod_nosuchthing", str(mods)]) == [
        500,
        "importing module 'mod_nosuchthing' for preload",
    ]
    (mods / "mod_fine.py").write_text(
        "from dsm.runtime.registry import Module\nmodule = Module('mod_fine')\n"
    )
    assert c.call("preloadModule", ["mod_fine", str(mods)]) == [200, "module preloaded."]
    assert rpc_error(c, "preloadModule", ["mod_fine"]).code == INVALID_PARAMS


def test_D7_hasDSM_returns_one_element_string_lists(server: ServerThread) -> None:
    c = server.client
    assert c.call("hasDSM", ["main"]) == ["1"]
    assert c.call("hasDSM", ["shop"]) == ["0"]  # not in main
    assert c.call("hasDSM", ["shop", "shop"]) == ["1"]  # application registered by bundle sales
    assert c.call("hasDSM", ["shop", "sales"]) == ["0"]  # QUIRK: bundle name is not an app name
    assert c.call("hasDSM", ["main", 5]) == ["1"]  # a non-string second argument means main
    assert c.call("hasDSM", ["main", None, "extra", "ignored"]) == ["1"]  # D-14
    assert rpc_error(c, "hasDSM", [1]).code == INVALID_PARAMS


def test_D8_listDSMs(server: ServerThread) -> None:
    c = server.client
    assert c.call("listDSMs") == ["main", "sub"]
    assert c.call("listDSMs", []) == ["main", "sub"]
    assert c.call("listDSMs", ["shop"]) == ["shop", "sysd"]
    assert c.call("listDSMs", ["unknown"]) == []


def test_D9_registerApplication(server: ServerThread) -> None:
    c = server.client
    assert c.call("registerApplication", ["sub"]) == [200, "registered DSM application"]
    assert c.call("registerApplication", ["sub"]) == [
        500,
        "Error registering DSM application (already registered?)",
    ]
    assert c.call("registerApplication", ["nope"]) == [400, "unknown application (DSM)"]
    assert c.call("registerApplication", ["sysd", "shop"]) == [200, "registered DSM application"]
    call = c.call("startCall", {"app": "sub"})
    assert call["diagram"] == "sub" and call["state"] == "SUB_V1"


def test_D10_loadConfig_live_bundle_with_Reload_system_dsms(server: ServerThread, setup: Setup) -> None:
    c = server.client
    extra = setup.root / "more"
    extra.mkdir()
    (extra / "helpdesk.dsm").write_text(main_script(9).replace("jumpFSM(sub)", "log(2, x)"))
    (extra / "watcher.dsm").write_text(SYSD.replace("salesq", "helpq"))
    conf = setup.bundles / "support.conf"  # loadConfig reads only from conf_dir
    conf.write_text(f"diag_path={extra}/\nload_diags=helpdesk,watcher\nregister_apps=helpdesk\nrun_system_dsms=watcher\n")
    assert c.call("loadConfig", [str(conf), "support.conf"]) == [200, "OK"]
    assert c.call("hasDSM", ["helpdesk", "helpdesk"]) == ["1"]
    started = [s for s in c.call("listCalls") if s["kind"] == "system" and s["diagram"] == "watcher"]
    assert len(started) == 1
    recent = c.call("callInfo", [started[0]["id"]])["recent"]
    assert {"kind": "event", "detail": "Reload"} in [{"kind": r["kind"], "detail": r["detail"]} for r in recent]
    call = c.call("startCall", {"app": "helpdesk"})
    assert call["config"] == "support" and call["state"] == "START_V9"
    assert c.call("loadConfig", [str(setup.bundles / "missing.conf"), "x.conf"]) == [500, "reload config failed"]
    assert "out of bounds" in rpc_error(c, "loadConfig", [str(conf)]).message


def test_D10_bundle_name_cuts_five_characters() -> None:
    assert bundle_name_of("sales.conf") == "sales"
    assert bundle_name_of("sales") == ""
    assert bundle_name_of("abc") == "abc"


def test_D11_createSystemDSM(server: ServerThread) -> None:
    c = server.client
    before = len(c.call("listCalls"))
    assert c.call("createSystemDSM", ["sales", "sysd"]) == [200, "OK"]
    assert len(c.call("listCalls")) == before + 1
    assert c.call("createSystemDSM", ["main", "no_such_diagram"]) == [200, "OK"]  # ends at once
    assert len(c.call("listCalls")) == before + 1
    assert c.call("createSystemDSM", ["nope", "sysd"]) == [
        500,
        "Error: Script config 'nope' not found, in [sales]",
    ]
    assert rpc_error(c, "createSystemDSM", ["main"]).code == INVALID_PARAMS


def test_D12_list_names_the_advertised_functions(server: ServerThread) -> None:
    assert server.client.call("_list") == list(FUNCTIONS)
    assert FUNCTIONS == (
        "postDSMEvent", "reloadDSMs", "loadDSM", "loadDSMWithPaths", "preloadModules",
        "preloadModule", "loadConfig", "hasDSM", "listDSMs", "registerApplication", "createSystemDSM",
    )


def test_D13_unknown_function_is_not_implemented(server: ServerThread) -> None:
    err = rpc_error(server.client, "di", ["dsm", "frobnicate"])
    assert err.code == METHOD_NOT_FOUND and "frobnicate" in err.message


def test_T3_di_and_calls_compatibility(server: ServerThread) -> None:
    c = server.client
    assert c.call("di", ["dsm", "hasDSM", "main"]) == ["1"]
    assert "could not get 'nope' factory" in rpc_error(c, "di", ["nope", "x"]).message
    assert c.call("calls") == 0
    c.call("startCall", {"app": "main"})
    assert c.call("calls") == 1
