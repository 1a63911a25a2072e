"""dsm.conf and application bundles (config.md sections 1–3: CF-*, K-*, AS-*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.config import (
    ConfigError,
    load_config,
    parse_app_mapping,
    parse_conf,
    select_application,
    split_list,
)


def test_CF2_line_syntax() -> None:
    c = parse_conf(
        'a = 1\n  # comment\n\nb=x y\nwelcome_text = "Hello # world"   # c\nempty=\nlist=a, b\nq="a\\"b"\r\n',
        "t.conf",
    )
    assert c.values == {
        "a": "1", "b": "x", "welcome_text": "Hello # world", "empty": "", "list": "a,", "q": 'a\\"b',
    }  # fmt: skip
    assert c.lines["b"] == 4


def test_CF2_errors_have_file_and_line() -> None:
    c = parse_conf("ok=1\nnovalue\nq=\"open\n", "t.conf")
    errs = [(d.line, d.code) for d in c.diagnostics if d.is_error]
    assert errs == [(2, "CF-2"), (3, "CF-2")]


def test_CF2_repeated_key_warns_later_wins() -> None:
    c = parse_conf("a=1\na=2\n", "t.conf")
    assert c.values["a"] == "2" and c.diagnostics[0].severity == "warning"


def test_CF3_include(tmp_path: Path) -> None:
    (tmp_path / "common.conf").write_text("shared=yes\n")
    c = parse_conf("@ common.conf\nown=1\n", str(tmp_path / "dsm.conf"), str(tmp_path))
    assert c.values == {"shared": "yes", "own": "1"}
    bad = parse_conf("@ nope.conf\n", "x.conf", str(tmp_path))
    assert bad.diagnostics[0].is_error


def test_CF5_lists_not_trimmed() -> None:
    assert split_list("a,,b, c") == ["a", "b", " c"]


def _write(tmp_path: Path) -> Path:
    (tmp_path / "diags").mkdir()
    (tmp_path / "diags" / "menu.dsm").write_text("initial state M; transition t M - key / set($x=$config.greeting) -> M;\n")
    (tmp_path / "diags" / "sys.dsm").write_text("initial state S enter { set($started=1) };\n")
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "b.dsm").write_text("initial state B;\n")
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles" / "sales.conf").write_text(
        f"diag_path={tmp_path}/apps\nload_diags=b\nregister_apps=b\nwho=sales\n"
    )
    conf = tmp_path / "dsm.conf"
    conf.write_text(
        f"diag_path={tmp_path}/diags\nload_diags=menu,sys\nregister_apps=menu\n"
        f"run_system_dsms=sys\nconf_dir={tmp_path}/bundles\ngreeting=hi\nwho=main\n"
        "inbound_start_diag=menu\nload_prompts=/p/prompts.conf\nsession_expires=60\n"
    )
    return conf


def test_K1_K2_K3_K16_K23_full_configuration(tmp_path: Path) -> None:
    cfg = load_config(str(_write(tmp_path)))
    assert sorted(cfg.main.charts) == ["menu", "sys"] and list(cfg.bundles) == ["sales"]
    assert cfg.prompts["main"]["load_prompts"] == ["/p/prompts.conf"]
    assert cfg.session_timer["session_expires"] == 60
    assert any(d.code == "K-30" and "greeting" in d.message for d in cfg.diagnostics)
    engine = build_engine(VirtualClock(), cfg)
    engine.run_pending()
    systems = [s for s in engine.sessions.values() if s.kind == "system"]
    assert len(systems) == 1 and systems[0].vars["started"] == "1"
    from engine_fake_call import FakeCall

    menu = engine.start_call("menu", FakeCall("m1"))
    sales = engine.start_call("b", FakeCall("b1"))
    via_dsm = engine.start_call("dsm", FakeCall("d1"))
    engine.run_pending()
    assert menu.vars["config.greeting"] == "hi" and sales.vars["config.who"] == "sales"
    assert via_dsm.state is not None and via_dsm.state.name == "M"
    assert engine.bundle_names() == ["sales"]


def test_K2_compile_failure_fails_configuration(tmp_path: Path) -> None:
    conf = _write(tmp_path)
    (tmp_path / "diags" / "menu.dsm").write_text("initial state M; transition t X - key -> M;\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any("menu" in d.message or "menu.dsm" in d.path for d in err.value.diagnostics)


def test_K3_register_unknown_app_fails(tmp_path: Path) -> None:
    conf = _write(tmp_path)
    conf.write_text(conf.read_text() + "register_apps=nope\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any(d.code == "K-3" for d in err.value.diagnostics)


def test_K25_bad_number_is_error_with_line(tmp_path: Path) -> None:
    conf = _write(tmp_path)
    conf.write_text(conf.read_text() + "minimum_timer=soon\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    bad = [d for d in err.value.diagnostics if d.code == "K-25"]
    assert bad and bad[0].line == 11


def test_CF1_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "nope.conf"))


def test_AS1_application_selection() -> None:
    assert select_application("menu", "sip:1@h") == "menu"
    assert select_application("$(ruri.user)", "sip:menu@host") == "menu"
    assert select_application("$(ruri.param)", "sip:4711@host;app=menu") == "menu"
    assert select_application("$(apphdr)", "sip:x@h", {"P-App-Name": " menu"}) == "menu"
    mapping = parse_app_mapping("# c\n^sip:(1[0-9]+)@=>ivr_\\1\n^sip:=>fallback\n")
    assert select_application("$(mapping)", "sip:1234@h", mapping=mapping) == "ivr_1234"
    assert select_application("$(mapping)", "sip:x@h", mapping=mapping) == "fallback"
    with pytest.raises(ConfigError):
        parse_app_mapping("no arrow here\n")


def test_K5_E13_preload_runs_hook_without_importing(tmp_path: Path) -> None:
    import sys

    here = str(Path(__file__).parent)
    conf = _write(tmp_path)
    conf.write_text(conf.read_text() + f"preload_mods=mod_enginetest\nmod_path={here}\n")
    cfg = load_config(str(conf))
    calls = sys.modules["dsm_user_modules.mod_enginetest"].hook_calls
    assert ("preload", "") in calls
    assert [m.name for m in cfg.main.preloaded] == ["mod_enginetest"]
    assert cfg.main.charts["menu"].imports == ()  # E-13: scripts still need import()
    conf.write_text(conf.read_text() + "fail_preload=yes\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any(d.code == "K-5" for d in err.value.diagnostics)


def test_E5_CF5_load_diags_items_not_trimmed(tmp_path: Path) -> None:
    conf = _write(tmp_path)
    conf.write_text(conf.read_text().replace("load_diags=menu,sys", 'load_diags="menu, sys"'))
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any(" sys.dsm" in d.message for d in err.value.diagnostics)
