"""mod_py (modules.md section 10): inline Python actions and conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fake import (
    FakeContext,
    compile_every_name,
    harness_call,
    run_action,
    run_condition,
    write_wav,
)

from dsm.modules import mod_py
from dsm.modules.mod_py import EVENT_TYPES, module


def act(ctx: FakeContext, code: str) -> None:
    run_action(module, ctx, "py", code)


def cond(ctx: FakeContext, expr: str) -> bool:
    return run_condition(module, ctx, "py", expr)


def test_declares_action_and_condition_py_with_raw_arguments() -> None:
    assert set(module.actions) == {"py"} and set(module.conditions) == {"py"}
    sig = module.action_signature("py")
    assert sig is not None and sig.style == "raw"
    assert "preload" in module.hooks and mod_py.preload() == 0


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


def test_M_py_1_split_reports_python_syntax_errors() -> None:
    sig = module.action_signature("py")
    assert sig is not None and sig.split is not None
    assert sig.split(" x = 1") != ((" x = 1",), [])  # leading blank: unexpected indent
    assert sig.split("x = 1") == (("x = 1",), [])
    parts, problems = sig.split("x = (")
    assert parts == ("x = (",) and "syntax error" in problems[0]
    csig = module.condition_signature("py")
    assert csig is not None and csig.split is not None
    assert csig.split("x = 1")[1]  # a statement is not an expression


def test_M_py_1_session_var_and_setvar() -> None:
    ctx = FakeContext({"a": "1"}, selects={"user": "alice"})
    act(ctx, "session.setvar('greet', 'hi ' + session.select('user') + session.var('a'))")
    assert ctx.vars["greet"] == "hi alice1"
    act(ctx, "session.var('created')")
    assert ctx.vars["created"] == ""


def test_M_py_1_locals_persist_per_session_and_type_params_are_temporary() -> None:
    ctx = FakeContext(params={"key": "5"}, event_type="Key")
    act(ctx, "n = 1\nseen = (type, dict(params))")
    act(ctx, "n += 1\nparams['x'] = 'y'")
    ns = ctx.objects["py_locals"].namespace
    assert ns["n"] == 2 and ns["seen"] == (19, {"key": "5"})
    assert "type" not in ns and "params" not in ns
    assert ctx.params == {"key": "5"}  # changes to params do not reach the event
    other = FakeContext()
    act(other, "m = 'n' in dir()")
    assert other.objects["py_locals"].namespace["m"] is False


def test_M_py_1_params_is_an_empty_dict_without_event_params() -> None:
    ctx = FakeContext(params=None)
    act(ctx, "session.setvar('p', repr(params))")
    assert ctx.vars["p"] == "{}"


def test_M_py_1_quirk_globals_are_shared_between_sessions() -> None:
    a, b = FakeContext(local_tag="a"), FakeContext(local_tag="b")
    act(a, "global shared_counter_for_test\nshared_counter_for_test = 7")
    act(b, "session.setvar('v', str(shared_counter_for_test))")
    assert b.vars["v"] == "7"
    mod_py.shared_globals.pop("shared_counter_for_test", None)


def test_M_py_1_python_errors_are_logged_and_raised() -> None:
    """Project rule (differs from the reference, which swallows): the error surfaces."""
    ctx = FakeContext({"errno": "keep"})
    with pytest.raises(mod_py.PythonScriptError, match="ValueError: boom"):
        act(ctx, "x = 1\nraise ValueError('boom')")
    assert ctx.vars["errno"] == "keep"
    level, message = ctx.logs[-1]
    assert level == 0 and "ValueError: boom" in message and "line 2" in message
    with pytest.raises(mod_py.PythonScriptError, match="SyntaxError"):
        act(ctx, "x = (")  # a syntax error at run time too
    with pytest.raises(mod_py.PythonScriptError, match="SystemExit"):
        act(ctx, "import sys\nsys.exit(3)")


def test_M_py_1_error_position_uses_the_sessions_current_loc() -> None:
    class Loc:
        path, line = "ivr.dsm", 10

    ctx = FakeContext()
    ctx.current_loc = Loc()  # type: ignore[attr-defined]
    with pytest.raises(mod_py.PythonScriptError):
        act(ctx, "#\na = 1\nundefined_name")
    assert ctx.logs[-1][1].startswith("ivr.dsm:12: ")


def test_M_py_1_dsm_module_constants_and_logging() -> None:
    ctx = FakeContext(event_type="DSMEvent")
    act(ctx, "dsm.INFO('hello')\ndsm.log(1, 'warned')\nok = type == dsm.DSMEvent")
    assert ctx.logs == [(2, "hello"), (1, "warned")]
    assert ctx.objects["py_locals"].namespace["ok"] is True
    assert EVENT_TYPES["Key"] == 19 and EVENT_TYPES["RelayOnB2BReply"] == 47


def test_M_py_1_quirk_setError_stores_one_character() -> None:
    ctx = FakeContext()
    act(ctx, "session.setError(65)")
    assert ctx.vars["errno"] == "A"
    act(ctx, "session.setError(0)")
    assert ctx.vars["errno"] == "\x00"


def test_M_py_1_select_restrictions() -> None:
    ctx = FakeContext(selects={"local_party": "x", "callid": "c1"})
    act(ctx, "session.setvar('a', session.select('callid') + '|' + session.select('local_party'))")
    assert ctx.vars["a"] == "c1|"
    sys_ctx = FakeContext(kind="system")
    with pytest.raises(mod_py.PythonScriptError):
        act(sys_ctx, "session.setvar('a', session.select('callid'))")
    assert "a" not in sys_ctx.vars and sys_ctx.logs


def test_M_py_1_setvar_needs_strings() -> None:
    ctx = FakeContext()
    with pytest.raises(mod_py.PythonScriptError):
        act(ctx, "session.setvar('a', 5)")
    assert "a" not in ctx.vars and "TypeError" in ctx.logs[-1][1]


def test_M_py_2_condition_true_only_for_boolean_True() -> None:
    ctx = FakeContext(params={"key": "5"}, event_type="Key")
    assert cond(ctx, "type == dsm.Key and params.get('key') == '5'")
    assert not cond(ctx, "1")  # REFERENCE QUIRK
    with pytest.raises(mod_py.PythonScriptError):
        cond(ctx, "params['missing']")
    with pytest.raises(mod_py.PythonScriptError):
        cond(ctx, "x = (")
    assert "type" not in ctx.objects["py_locals"].namespace


def test_M_py_1_sys_exit_in_a_script_is_the_calls_error_not_fatal() -> None:
    ctx = FakeContext()
    with pytest.raises(mod_py.PythonScriptError):
        act(ctx, "import sys\nsys.exit(3)")
    assert "SystemExit" in ctx.logs[-1][1]
    with pytest.raises(mod_py.PythonScriptError):
        cond(ctx, "exit(1)")


def test_M_py_harness_script(tmp_path: Path) -> None:
    script = """import(mod_py);
initial state S enter { py(session.setvar('greet', 'hi ' + session.select('user'))) };
transition t S - py(type == dsm.Key and params.get('key') == '5') / set($got=five) -> S;
"""
    call = harness_call(tmp_path, script, callee="sip:alice@example.org")
    assert call.vars["greet"] == "hi alice"
    call.press("5")
    assert call.vars["got"] == "five"


def test_M_py_session_functions_in_a_script(tmp_path: Path) -> None:
    """M-py-1: locals persist between actions; media functions reach the playlist."""
    write_wav(tmp_path / "hello.wav")
    script = r"""import(mod_py);
initial state S enter {
  py(count = 1);
  py(count += 1);
  py(session.setvar('count', str(count)));
  py(session.playFile('TMP/hello.wav'));
  py(session.setError(65));
  py(session.playFile('TMP/missing.wav'));
  py(session.setvar('after', 'not reached'));
};
transition "script error" S - exception / set($etype=#type) set($eloc=#loc) -> E;
transition "not an int" S - py(1) / set($one=true) -> T;
state T;
state E;
"""
    call = harness_call(tmp_path, script.replace("TMP", str(tmp_path)))
    call.advance(1.0)
    v = call.vars
    assert v["count"] == "2"
    assert v["errno"] == "A"
    # the failed playFile is the call's exception, with the script position
    assert "after" not in v
    assert v["etype"] == "internal" and v["eloc"].endswith("t.dsm:8:3")
    assert "one" not in v
    assert [Path(p.path).name for p in call.played] == ["hello.wav"]
    assert call.state == "E"
