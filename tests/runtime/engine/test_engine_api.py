"""Engine API: collections and reloads, session variables, selects, hooks (sections 2, 3, 18, 19, 21)."""

from __future__ import annotations

import pytest
from engine_rig import Rig

from dsm.runtime.context import ActionContext
from dsm.runtime.engine import app_params
from dsm.runtime.session import Session


def test_E14_reload_affects_only_new_sessions(rig: Rig) -> None:
    rig.load(d="initial state A enter { set($v=old) }; transition t A - key / set($k=old) -> A;")
    first = rig.call("d")
    old_digest = rig.engine.main.chartset.digest
    rig.load(d="initial state A enter { set($v=new) }; transition t A - key / set($k=new) -> A;")
    second = rig.call("d")
    assert rig.engine.main.chartset.digest != old_digest
    rig.key(first, "1")
    rig.key(second, "1")
    assert (first.vars["k"], second.vars["k"]) == ("old", "new")


def test_E6_first_diagram_with_a_name_wins() -> None:
    import dsm
    from dsm.runtime.clock import VirtualClock
    from dsm.runtime.engine import Engine

    e = Engine(VirtualClock())
    a = dsm.compile_source("initial state A1;", name="x")
    b = dsm.compile_source("initial state B1;", name="x")
    cs = e.load([a, b])
    got = cs.get("x")
    assert got is not None and got.initial is not None and got.initial.name == "A1"


def test_E10_config_variables_copied(rig: Rig) -> None:
    rig.engine.load({}, values={"greeting": "hi", "diag_path": "/x/"})
    rig.load(d="initial state A;")
    s = rig.call("d")
    assert s.vars["config.greeting"] == "hi" and s.vars["config.diag_path"] == "/x/"


def test_E169_AS7_p_app_param_variables(rig: Rig) -> None:
    assert app_params("lang=de;pin=1234;;x;a=b=c;lang=en") == {"lang": "de", "pin": "1234"}
    assert app_params("mode=fast; n=2") == {"mode": "fast", " n": "2"}
    rig.load(d="initial state A;")
    rig.engine.main.set_param_variables = True
    s = rig.call("d", headers="Via: x\r\nP-App-Param: connect_session=0;lang=de\r\n")
    assert s.vars["connect_session"] == "0" and s.vars["lang"] == "de"


def test_E170_outgoing_call_parameters(rig: Rig) -> None:
    rig.load(d="initial state A;")
    s = rig.call("d", params={"a": "1", "L": ["x", 2], "n": 5}, outgoing=True)
    assert s.vars["a"] == "1" and s.vars["L_size"] == "2" and s.vars["L_0"] == "x" and s.vars["L_1"] == "2"
    assert s.vars["n"] == "5"


def test_E12_outgoing_generic_dsm_app_fails_start(rig: Rig) -> None:
    """E-12 / K-9: with outbound_start_diag set, an outgoing `dsm` call gets an empty start diagram."""
    rig.load(d="initial state A;")
    rig.engine.inbound_start_diag = "d"
    rig.engine.outbound_start_diag = "d"
    incoming = rig.call("dsm")
    outgoing = rig.call("dsm", outgoing=True)
    assert rig.where(incoming) == "d/A" and outgoing.state is None


def test_K9_E9_generic_dsm_refused_with_488_when_start_diag_empty(rig: Rig) -> None:
    """K-9: empty outbound_start_diag refuses an outgoing `dsm` call (488); E-9: same for incoming."""
    from dsm.runtime.monitor import CallRefused

    rig.load(d="initial state A;")
    for outgoing in (True, False):
        with pytest.raises(CallRefused) as info:
            rig.call("dsm", outgoing=outgoing)
        assert (info.value.status, info.value.reason) == (488, "Not Acceptable Here")
    assert rig.engine.sessions == {}


def test_AS3_bundle_registered_app_uses_bundle_configuration(rig: Rig) -> None:
    rig.engine.load({}, values={"who": "main"})
    rig.load(d="initial state A;")
    import dsm

    rig.engine.load({"b": dsm.compile_source("initial state B;", name="b")}, "bundle", values={"who": "bundle"})
    s = rig.call("b")
    assert s.vars["config.who"] == "bundle" and rig.where(s) == "b/B"
    assert rig.call("d").vars["config.who"] == "main"


def test_E172_selects(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { set($u=@user); set($t=@local_tag); set($x=@nothing); sets($s=@user@@@domain) };")
    assert s.vars["u"] == "alice" and s.vars["t"] == s.id and s.vars["x"] == ""
    assert s.vars["s"] == "alice@example.com"


def test_E20_objects_placed_for_one_event_only(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - invite / set($x=1) -> A;")
    seen: list[object] = []
    s.deliver("Invite", None, objects={"request": "REQ"}, on_done=lambda p: seen.append(s.objects.get("request")))
    rig.engine.run_pending()
    assert seen == [None] and "request" not in s.objects and s.vars["x"] == "1"


def test_E157_on_done_sees_processed_flag(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - sipRequest / set(#processed=true) -> A;")
    got: list[object] = []
    s.deliver("SipRequest", {"method": "INFO"}, on_done=got.append)
    rig.engine.run_pending()
    assert got == [{"method": "INFO", "processed": "true"}]


def test_M_api_7_invite_hooks_anded_and_M_api_8_destroy_hook(rig: Rig) -> None:
    s = rig.run("d", "import(mod_enginetest); initial state A; transition t A - key / stop(false) -> A;")
    import sys

    calls = sys.modules["dsm_user_modules.mod_enginetest"].hook_calls  # as loaded from mod_path
    calls.clear()
    assert rig.engine.run_invite_hooks(s, "req") is True
    assert rig.engine.run_invite_hooks(s, "veto") is False
    rig.key(s, "1")
    assert calls == [("invite", "req"), ("invite", "veto"), ("destroy", s.id)]


def test_E156_before_destroy_on_host_initiated_end(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition d A - beforeDestroy / set($gone=#x) -> A;")
    rig.engine.end_session(s)
    assert s.ended and s.vars["gone"] == "" and s.id not in rig.engine.sessions


def test_deliver_to_ended_session_reports_false(rig: Rig) -> None:
    s = rig.run("d", "initial state A;")
    rig.engine.end_session(s)
    assert s.deliver("Key", {"key": "1"}) is False
    assert s.process("Key", {"key": "1"}) == {"key": "1"}


def test_missing_implementation_raises_internal_at_run_time(rig: Rig) -> None:
    from dsm.runtime.actions.core import core

    saved = core.actions.pop("inc")
    try:
        s = rig.run("d", "initial state A; state E; transition t A - key / inc($x) -> A; transition e A - exception / set($c=#cause) -> E;")
        rig.key(s, "1")
        assert "no implementation" in s.vars["c"]
    finally:
        core.actions["inc"] = saved


def test_idle_session_is_small(rig: Rig) -> None:
    import tracemalloc

    rig.load(d="initial state A; transition t A - key -> A;")
    rig.call("d")
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sessions = [rig.call("d") for _ in range(200)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert len(sessions) == 200 and size / 200 < 10_000


def _session_is_an_action_context(s: Session) -> ActionContext:
    """Static check (mypy): a session satisfies the ActionContext protocol (M-api-4)."""
    return s


def test_E163_sbc_session_variables_and_validation(rig: Rig) -> None:
    import pytest
    from engine_fake_call import FakeCall

    import dsm

    rig.engine.load({"cc": dsm.compile_source("initial state C; transition s C - start / set($began=1) -> C;", name="cc")}, "b1", values={"x": "b"})
    s = rig.engine.start_sbc("b1", "cc", FakeCall("leg1"), {"config.x": "cc", "mode": "m"})
    rig.engine.run_pending()
    assert s.kind == "sbc" and s.vars["config.x"] == "cc" and s.vars["mode"] == "m" and s.vars["began"] == "1"
    with pytest.raises(ValueError):
        rig.engine.start_sbc("b1", "nope", FakeCall("leg2"))
