"""Configuration rules (config.md CF-*, K-*, AS-*; engine.md E-7 … E-11) on small trees.

Every test writes a ``dsm.conf`` (and bundles) under ``tmp_path``, loads it
with :func:`dsm.runtime.config.load_config` and looks at the result or at the
sessions of an engine built from it.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_fake_call import FakeCall

from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.config import (
    ConfigError,
    DSMConfig,
    install,
    load_config,
    parse_app_mapping,
    parse_conf,
    select_application,
)
from dsm.runtime.engine import Engine, outgoing_variables
from dsm.runtime.harness import Harness

HERE = str(Path(__file__).parent)
HANGUP = "transition bye S - hangup / stop(false) -> S;\n"


def tree(tmp_path: Path, main: str = "", bundles: dict[str, str] | None = None, **diags: str) -> Path:
    """Diagrams in ``diags/``, bundles in ``apps/``, and ``dsm.conf`` with ``main`` appended."""
    (tmp_path / "diags").mkdir(exist_ok=True)
    for name, text in (diags or {"menu": "initial state S;\n" + HANGUP}).items():
        (tmp_path / "diags" / f"{name}.dsm").write_text(textwrap.dedent(text))
    (tmp_path / "apps").mkdir(exist_ok=True)
    for name, text in (bundles or {}).items():
        (tmp_path / "apps" / f"{name}.conf").write_text(textwrap.dedent(text).replace("@D", str(tmp_path / "diags")))
    conf = tmp_path / "dsm.conf"
    conf.write_text(f"diag_path={tmp_path}/diags\nconf_dir={tmp_path}/apps\n" + textwrap.dedent(main))
    return conf


def engine_for(conf: Path | DSMConfig) -> Engine:
    engine = build_engine(VirtualClock(), load_config(str(conf)) if isinstance(conf, Path) else conf)
    engine.run_pending()
    return engine


def start(engine: Engine, app: str, headers: str = "", **kw: Any) -> Any:
    s = engine.start_call(app, FakeCall(), headers=headers, **kw)
    engine.run_pending()
    return s


def where(s: Any) -> str:
    """`diagram/state` of a session, `-` before a successful start."""
    return "-" if s.state is None else f"{s.state.diagram.name}/{s.state.name}"


# -- engine.md section 2 ------------------------------------------------------------------


def test_E7_bundle_has_own_keys_and_collection(tmp_path: Path) -> None:
    """E-7: every X.conf in conf_dir is a bundle X with its own keys and its own collection."""
    conf = tree(
        tmp_path,
        "load_diags=menu\nregister_apps=menu\nwho=main\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=shop\nwho=sales\n"},
        menu="initial state S;\n" + HANGUP,
        shop="initial state T;\n",
    )
    cfg = load_config(str(conf))
    assert list(cfg.bundles) == ["sales"] and list(cfg.bundles["sales"].charts) == ["shop"]
    engine = engine_for(cfg)
    assert "shop" not in engine.main.chartset and "shop" in engine.configs["sales"].chartset
    assert start(engine, "shop").vars["config.who"] == "sales"
    assert start(engine, "menu").vars["config.who"] == "main"


def test_E8_register_apps_must_name_a_diagram_of_the_same_configuration(tmp_path: Path) -> None:
    """E-8: a bundle may not register a diagram that only the main configuration loaded."""
    conf = tree(
        tmp_path,
        "load_diags=menu\nregister_apps=menu\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=menu\n"},
        menu="initial state S;\n" + HANGUP,
        shop="initial state T;\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any(d.code == "K-3" and "menu" in d.message and "sales" in d.path for d in err.value.diagnostics)


def test_E9_start_diagram_and_configuration_selection(tmp_path: Path) -> None:
    """E-9: `dsm` → inbound_start_diag; other names → themselves; config = registering bundle."""
    conf = tree(
        tmp_path,
        "load_diags=menu\nregister_apps=menu\ninbound_start_diag=shop\nwho=main\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=shop\nwho=sales\n"},
        menu="initial state S;\n" + HANGUP,
        shop="initial state T;\n",
    )
    engine = engine_for(conf)
    via_dsm = start(engine, "dsm")
    assert where(via_dsm) == "shop/T" and via_dsm.vars["config.who"] == "sales"
    direct = start(engine, "menu")
    assert where(direct) == "menu/S" and direct.vars["config.who"] == "main"


def test_E11_K14_run_invite_event_has_no_effect(tmp_path: Path) -> None:
    """E-11/K-14 REFERENCE QUIRK: the invite event is raised even with run_invite_event=no."""
    conf = tree(
        tmp_path,
        "load_diags=app\nregister_apps=app\nrun_invite_event=no\n",
        app="initial state S;\ntransition inv S - invite / set($saw_invite=yes) -> S;\n" + HANGUP,
    )
    call = Harness(conf).call("app")
    assert call.vars["saw_invite"] == "yes" and call.vars["config.run_invite_event"] == "no"


# -- config.md section 1: files ------------------------------------------------------------


def test_CF4_K31_plugin_config_path_in_dsm_file_is_ignored_with_warning() -> None:
    """CF-4/K-31: plugin_config_path in a DSM file only logs a warning."""
    c = parse_conf("plugin_config_path=/etc/other\n", "dsm.conf")
    assert [(d.severity, d.code) for d in c.diagnostics] == [("warning", "CF-4")]
    assert c.values["plugin_config_path"] == "/etc/other"  # still a config.* variable


def test_CF6_booleans_true_only_for_exact_yes(tmp_path: Path) -> None:
    """CF-6: Yes, true and 1 are all false; only `yes` is true."""
    for value, expected in (("yes", True), ("Yes", False), ("true", False), ("1", False)):
        c = parse_conf(f"set_param_variables={value}\nenable_session_timer={value}\n", "t.conf")
        assert c.flag("set_param_variables") is expected
        assert c.flag("enable_session_timer") is expected


def test_CF7_every_key_becomes_a_config_variable(tmp_path: Path) -> None:
    """CF-7: DSM keys and unknown keys alike become $config.<key>."""
    conf = tree(tmp_path, "load_diags=menu\nregister_apps=menu\nmy_pin=1234\n")
    s = start(engine_for(conf), "menu")
    assert s.vars["config.my_pin"] == "1234"
    assert s.vars["config.load_diags"] == "menu" and s.vars["config.diag_path"] == f"{tmp_path}/diags"


def test_CF9_main_system_dsms_start_before_bundles_exist(tmp_path: Path) -> None:
    """CF-9 steps 6, 8, 10: `dsm` target set, main system DSMs started, then bundles."""
    conf = tree(
        tmp_path,
        "load_diags=menu,sys\nregister_apps=menu\nrun_system_dsms=sys\ninbound_start_diag=menu\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=shop\nrun_system_dsms=shop\n"},
        menu="initial state S;\n" + HANGUP,
        sys="initial state Y;\n",
        shop="initial state T;\n",
    )
    cfg = load_config(str(conf))
    engine = build_engine(VirtualClock())
    seen: list[tuple[str, str, list[str], str]] = []
    real = engine.start_system

    def spy(config: str, diagram: str, start_type: str = "Startup") -> Any:
        seen.append((config, diagram, engine.bundle_names(), engine.inbound_start_diag))
        return real(config, diagram, start_type)

    engine.start_system = spy  # type: ignore[method-assign]
    install(engine, cfg)
    assert seen == [("main", "sys", [], "menu"), ("sales", "shop", ["sales"], "menu")]


def test_CF10_bundle_ignores_main_only_keys_but_keeps_them_as_variables(tmp_path: Path) -> None:
    """CF-10: main-only keys (K-8, K-24 …) in a bundle have no effect but become config.*."""
    conf = tree(
        tmp_path,
        "load_diags=menu\nregister_apps=menu\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=shop\ninbound_start_diag=shop\nenable_session_timer=yes\n"},
        menu="initial state S;\n" + HANGUP,
        shop="initial state T;\n",
    )
    cfg = load_config(str(conf))
    assert cfg.inbound_start_diag == "" and cfg.session_timer["enabled"] is False
    engine = engine_for(cfg)
    assert engine.inbound_start_diag == ""
    assert start(engine, "shop").vars["config.enable_session_timer"] == "yes"


# -- config.md section 2: keys --------------------------------------------------------------


def test_K4_mod_path_finds_imported_modules(tmp_path: Path) -> None:
    """K-4: import(mod_x) is searched in the configuration's mod_path."""
    menu = "import(mod_enginetest);\ninitial state S enter { t.raise(Custom) };\n" + HANGUP
    with pytest.raises(ConfigError) as err:
        load_config(str(tree(tmp_path, "load_diags=menu\n", menu=menu)))
    assert any("mod_enginetest" in d.message for d in err.value.diagnostics)
    cfg = load_config(str(tree(tmp_path, f"load_diags=menu\nmod_path={HERE}\n", menu=menu)))
    assert cfg.main.charts["menu"].imports


def test_K6_debug_raw_dsm_logs_preprocessed_text(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """K-6: with debug_raw_dsm=yes the text after comment removal is written to the debug log."""
    menu = "-- a comment\ninitial state S;\n  # another\n" + HANGUP
    with caplog.at_level(logging.DEBUG, logger="dsm.config"):
        load_config(str(tree(tmp_path, "load_diags=menu\n", menu=menu)))
        assert not [r for r in caplog.records if r.name == "dsm.config"]
        load_config(str(tree(tmp_path, "load_diags=menu\ndebug_raw_dsm=yes\n", menu=menu)))
    raw = [r.getMessage() for r in caplog.records if r.name == "dsm.config"]
    assert len(raw) == 1 and "initial state S;" in raw[0]
    assert "a comment" not in raw[0] and "another" not in raw[0]


def test_K7_consistency_check_default_yes_other_value_disables(tmp_path: Path) -> None:
    """K-7: the load-time checks (no hangup transition) only warn, and `no` turns them off."""
    menu = "initial state S;\n"
    on = load_config(str(tree(tmp_path, "load_diags=menu\n", menu=menu)))
    assert any("hangup" in str(getattr(w, "message", w)) for w in on.main.charts["menu"].warnings)
    off = load_config(str(tree(tmp_path, "load_diags=menu\ndsm_consistency_check=no\n", menu=menu)))
    assert not off.main.charts["menu"].warnings


def test_K8_inbound_start_diag_with_registering_bundle_configuration(tmp_path: Path) -> None:
    """K-8: `dsm` starts inbound_start_diag with the configuration of the bundle that registered it."""
    conf = tree(
        tmp_path,
        "load_diags=menu\nregister_apps=menu\ninbound_start_diag=menu\nwho=main\n",
    )
    engine = engine_for(conf)
    assert engine.inbound_start_diag == "menu"
    s = start(engine, "dsm")
    assert where(s) == "menu/S" and s.vars["config.who"] == "main"


def test_K8_empty_inbound_start_diag_gives_no_dsm_target(tmp_path: Path) -> None:
    """K-8: without inbound_start_diag `dsm` is no application; the component itself refuses 488."""
    from dsm.runtime.monitor import CallRefused

    engine = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\n"))
    assert engine.inbound_start_diag == "" and "dsm" not in engine.apps
    with pytest.raises(CallRefused, match="488 Not Acceptable Here"):
        start(engine, "dsm")


def test_K9_outbound_start_diag_read_from_dsm_conf(tmp_path: Path) -> None:
    """K-9: an empty key refuses outgoing `dsm` calls with 488."""
    from dsm.runtime.monitor import CallRefused

    engine = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\n"))
    assert engine.outbound_start_diag == ""
    with pytest.raises(CallRefused, match="no outbound calls allowed"):
        start(engine, "dsm", outgoing=True)


def test_K9_E12_outbound_start_diag_is_ignored(tmp_path: Path) -> None:
    """K-9 / E-12 QUIRK: an outgoing `dsm` call gets an empty start diagram; named apps work."""
    engine = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\noutbound_start_diag=menu\n"))
    assert start(engine, "dsm", outgoing=True).state is None
    assert where(start(engine, "menu", outgoing=True)) == "menu/S"


def test_K15_set_param_variables(tmp_path: Path) -> None:
    """K-15: only with set_param_variables=yes does P-App-Param become variables."""
    hdrs = "P-App-Param: pin=1234;lang=de\r\n"
    off = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\n"))
    assert "pin" not in start(off, "menu", hdrs).vars
    on = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\nset_param_variables=yes\n"))
    s = start(on, "menu", hdrs)
    assert (s.vars["pin"], s.vars["lang"]) == ("1234", "de")


def test_K19_K20_monitor_select_values_checked(tmp_path: Path) -> None:
    """K-19/K-20: unknown values are reported; callee `from` is accepted (QUIRK) but `to` is not."""
    good = load_config(str(tree(tmp_path, "monitor_select_use_caller=pai\nmonitor_select_use_callee=from\n")))
    assert not [d for d in good.diagnostics if d.code == "K-19"]
    bad = load_config(str(tree(tmp_path, "monitor_select_use_caller=to\nmonitor_select_use_callee=to\n")))
    warned = [d for d in bad.diagnostics if d.code == "K-19"]
    assert len(warned) == 2 and not any(d.is_error for d in warned)  # logged, not fatal


def test_K24_session_timer_only_for_exact_yes(tmp_path: Path) -> None:
    """K-24: enable_session_timer is on only for exactly `yes`."""
    assert load_config(str(tree(tmp_path, "enable_session_timer=yes\n"))).session_timer["enabled"] is True
    assert load_config(str(tree(tmp_path, "enable_session_timer=on\n"))).session_timer["enabled"] is False


def test_K26_K27_K28_K29_session_timer_defaults(tmp_path: Path) -> None:
    """K-26 minimum_timer 90, K-27 maximum_timer 900, K-28 UPDATE_FALLBACK_INVITE, K-29 accept_501_reply yes."""
    st = load_config(str(tree(tmp_path))).session_timer
    assert (st["session_expires"], st["minimum_timer"], st["maximum_timer"]) == (120, 90, 900)
    assert st["session_refresh_method"] == "UPDATE_FALLBACK_INVITE" and st["accept_501_reply"] is True
    st2 = load_config(
        str(tree(tmp_path, "minimum_timer=30\nmaximum_timer=600\nsession_refresh_method=INVITE\naccept_501_reply=no\n"))
    ).session_timer
    assert (st2["minimum_timer"], st2["maximum_timer"], st2["session_refresh_method"]) == (30, 600, "INVITE")
    assert st2["accept_501_reply"] is False


def test_K27_maximum_timer_must_be_positive_integer(tmp_path: Path) -> None:
    """K-27: maximum_timer must be a positive integer."""
    with pytest.raises(ConfigError) as err:
        load_config(str(tree(tmp_path, "maximum_timer=0\n")))
    assert any("maximum_timer" in d.message for d in err.value.diagnostics)


def test_K28_bad_refresh_method_is_error(tmp_path: Path) -> None:
    """K-28: session_refresh_method is INVITE, UPDATE or UPDATE_FALLBACK_INVITE."""
    with pytest.raises(ConfigError) as err:
        load_config(str(tree(tmp_path, "session_refresh_method=OPTIONS\n")))
    assert any(d.code == "K-28" for d in err.value.diagnostics)


def test_K32_db_url_is_config_variable(tmp_path: Path) -> None:
    """K-32: db_url becomes $config.db_url (the default URL of mysql.connect)."""
    url = "mysql://user:pw@127.0.0.1/db"
    s = start(engine_for(tree(tmp_path, f"load_diags=menu\nregister_apps=menu\ndb_url={url}\n")), "menu")
    assert s.vars["config.db_url"] == url


def test_K35_sbc_call_control_variables_override_config(tmp_path: Path) -> None:
    """K-35: <entry>_<name> values become $<name>, overriding config.<name> for `config.` names."""
    conf = tree(
        tmp_path,
        "load_diags=menu\n",
        {"cc": "diag_path=@D\nload_diags=shop\nregister_apps=shop\nlang=en\n"},
        menu="initial state S;\n" + HANGUP,
        shop="initial state T;\n",
    )
    engine = engine_for(conf)
    s = engine.start_sbc("cc", "shop", FakeCall(), {"config.lang": "de", "tenant": "7"})
    engine.run_pending()
    assert (s.vars["config.lang"], s.vars["tenant"]) == ("de", "7") and where(s) == "shop/T"
    with pytest.raises(ValueError):
        engine.start_sbc("nope", "shop", FakeCall())


def test_K36_K39_application_setting_and_app_mapping() -> None:
    """K-36/K-39: `application` picks the app; $(mapping) uses app_mapping.conf regex=>app lines."""
    assert select_application("dsm", "sip:1@h") == "dsm"
    mapping = parse_app_mapping("^sip:800=>support\n^sip:(.*)@=>user_\\1\n")
    assert select_application("$(mapping)", "sip:800@h", mapping=mapping) == "support"
    assert select_application("$(mapping)", "sip:bob@h", mapping=mapping) == "user_bob"
    assert select_application("$(mapping)", "tel:1", mapping=mapping) == ""


# -- config.md section 3: application selection and variables ----------------------------------


def test_AS2_dsm_application_names(tmp_path: Path) -> None:
    """AS-2: register_apps of main and bundles, plus names from registerApplication (D-9)."""
    conf = tree(
        tmp_path,
        "load_diags=menu,other\nregister_apps=menu\n",
        {"sales": "diag_path=@D\nload_diags=shop\nregister_apps=shop\n"},
        menu="initial state S;\n" + HANGUP,
        other="initial state O;\n",
        shop="initial state T;\n",
    )
    engine = engine_for(conf)
    assert sorted(engine.apps) == ["menu", "shop"]
    engine.di["dsm"].invoke("registerApplication", ["other"])
    assert "other" in engine.apps and where(start(engine, "other")) == "other/O"


def test_AS4_variable_sources_and_override_order(tmp_path: Path) -> None:
    """AS-4: config.*, then P-App-Param (incoming) / creator vars then P-App-Param (outgoing)."""
    conf = tree(
        tmp_path,
        "load_diags=menu,sys\nregister_apps=menu\nset_param_variables=yes\nx=cfg\n",
        menu="initial state S;\n" + HANGUP,
        sys="initial state Y;\n",
    )
    engine = engine_for(conf)
    inc = start(engine, "menu", "P-App-Param: config.x=pap\r\n")
    assert inc.vars["config.x"] == "pap"
    out = start(engine, "menu", "P-App-Param: v=pap\r\n", params={"v": "creator", "w": "c"}, outgoing=True)
    assert (out.vars["v"], out.vars["w"], out.vars["config.x"]) == ("pap", "c", "cfg")
    system = engine.start_system("main", "sys")
    engine.run_pending()
    assert {k for k in system.vars if not k.startswith("config.")} <= {"errno", "strerror"}


def test_AS5_outgoing_call_parameters() -> None:
    """AS-5: strings as they are; a list L → L_size, L_0 …; other values printed."""
    got = outgoing_variables({"a": "x", "L": ["p", 2], "n": 5})
    assert got == {"a": "x", "L_size": "2", "L_0": "p", "L_1": "2", "n": "5"}


def test_AS6_request_object_during_invite(tmp_path: Path) -> None:
    """AS-6: the initial INVITE is the object `request` during the invite event."""
    (tmp_path / "mod_as6probe.py").write_text(
        textwrap.dedent(
            '''
            from typing import Any
            from dsm.runtime.registry import Module

            module = Module("mod_as6probe")


            @module.action("probe.request", style="S")
            def probe(ctx: Any, *_: str) -> None:
                req = ctx.objects.get("request")
                ctx.vars["req_method"] = getattr(req, "method", "none")
            '''
        )
    )
    (tmp_path / "app.dsm").write_text(
        "import(mod_as6probe);\ninitial state S;\n"
        "transition inv S - invite / probe.request() -> S;\n"
        "transition k S - key / probe.request(); set($later=$req_method) -> S;\n" + HANGUP
    )
    call = Harness(tmp_path / "app.dsm", module_path=[str(tmp_path)]).call("app")
    assert call.vars["req_method"] == "INVITE"


def test_AS8_P_App_Param_pieces_without_value_are_not_variables(tmp_path: Path) -> None:
    """AS-8: the server's key-only pieces do not reach scripts (only name=value pieces, AS-7)."""
    engine = engine_for(tree(tmp_path, "load_diags=menu\nregister_apps=menu\nset_param_variables=yes\n"))
    s = start(engine, "menu", "P-App-Param: flag;a=1\r\n")
    assert s.vars["a"] == "1" and "flag" not in s.vars
