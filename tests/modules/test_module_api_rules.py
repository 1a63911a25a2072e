"""The module API contract (``modules.md`` section 1, M-api-1 … M-api-15).

Most tests write a small user module (a Python file on ``mod_path``) and a
script that imports it, and run the script in the harness: the contract is
what a module author relies on, so it is shown from the module author's
side.  The bundled modules are used where a rule is about them.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _fake import harness_call

from dsm.diagnostics import CompileError
from dsm.runtime.errors import DSMException
from dsm.runtime.harness import Harness
from dsm.runtime.registry import Module
from dsm.vocabulary import find_module

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"

HOOK_NAMES = {
    "preload",
    "on_invite",
    "on_before_destroy",
    "process_sdp_offer",
    "process_sdp_answer",
}
"""The only module-level lifecycle points besides creation at import (M-api-10)."""


def _write_module(directory: Path, name: str, body: str) -> Path:
    """A user module file ``<directory>/<name>.py`` declaring ``module = Module(name)``."""
    head = f"""from __future__ import annotations
from typing import Any
from dsm.runtime.registry import Module
module = Module({name!r})
"""
    path = directory / f"{name}.py"
    path.write_text(head + textwrap.dedent(body))
    return path


def _harness(tmp_path: Path, script: str, modules: dict[str, str], name: str = "t") -> Harness:
    """A harness over ``<tmp_path>/<name>.dsm`` whose module path holds ``modules``."""
    mods = tmp_path / "mods"
    mods.mkdir(exist_ok=True)
    for mod_name, body in modules.items():
        _write_module(mods, mod_name, body)
    (tmp_path / f"{name}.dsm").write_text(script)
    return Harness(scripts=str(tmp_path / f"{name}.dsm"), module_path=[str(mods)])


def _loaded(name: str) -> Any:
    """The Python module object of a user module loaded from ``mod_path``."""
    return sys.modules[f"dsm_user_modules.{name}"]


# --------------------------------------------------------------------------- M-api-1


GREET = """
@module.action("greet.hello", "P,opt")
def hello(ctx: Any, p1: str = "", p2: str = "", *_: str) -> None:
    ctx.vars["greeting"] = f"{ctx.resolve(p2) or 'hello'} {ctx.resolve(p1)}"
"""


def test_M_api_1_import_finds_a_python_module_on_mod_path(tmp_path: Path) -> None:
    """M-api-1: ``import(mod_x)`` loads the module with import name ``mod_x``; ``mod_path`` is searched."""
    h = _harness(
        tmp_path,
        "import(mod_greet);\ninitial state S enter { set($who=bob); greet.hello($who, hi); };\n",
        {"mod_greet": GREET},
    )
    assert h.call("t").vars["greeting"] == "hi bob"


def test_M_api_1_builtin_modules_are_found_by_import_name() -> None:
    """M-api-1: the registry maps import name → module; built-ins live in ``modules/mod_<x>.py``."""
    from dsm.modules import mod_sys, mod_utils

    assert find_module("mod_utils") is mod_utils.module
    assert find_module("mod_sys") is mod_sys.module


def test_M_api_1_a_missing_module_fails_the_diagram(tmp_path: Path) -> None:
    """M-api-1: a module that cannot be found makes the diagram fail to load, with the import named."""
    (tmp_path / "t.dsm").write_text("import(mod_nowhere);\ninitial state S;\n")
    with pytest.raises(CompileError) as err:
        Harness(scripts=str(tmp_path / "t.dsm"))
    assert "mod_nowhere" in str(err.value)


def test_M_api_1_a_module_failing_to_initialise_fails_the_diagram(tmp_path: Path) -> None:
    """M-api-1: a module that cannot be *initialised* (its file raises) fails the diagram too.

    The compiler only reads the module's declarations, so the failure comes
    from the load step (binding the chart to the implementations): one
    located line at the ``import(...)``, with the source line and a caret.
    """
    from dsm.runtime.executable import ModuleLoadFailed

    with pytest.raises(ModuleLoadFailed) as err:
        _harness(
            tmp_path,
            "initial state S;\n  import(mod_broken);\n",
            {"mod_broken": "raise RuntimeError('no\\nlicence')\n"},
        )
    (d,) = err.value.diagnostics
    assert (d.path, d.line, d.column, d.code) == (str(tmp_path / "t.dsm"), 2, 3, "E005")
    assert "mod_broken" in d.message and "RuntimeError: no licence" in d.message
    assert "\n" not in d.message and "Traceback" not in str(err.value)
    caret = "      ^" + "~" * (len("import(mod_broken)") - 1)
    assert str(err.value).splitlines()[1:3] == ["      import(mod_broken);", caret]


def test_M_api_1_a_reload_with_a_broken_module_keeps_the_running_collection(
    tmp_path: Path,
) -> None:
    """M-api-1 / D-2: a module failing at load refuses the reload; the running set stays."""
    from dsm.runtime.clock import VirtualClock
    from dsm.runtime.engine import Engine
    from dsm.runtime.versions import ChartLibrary, DirectorySource, ReloadFailed

    diags, mods = tmp_path / "diags", tmp_path / "mods"
    diags.mkdir()
    mods.mkdir()
    _write_module(mods, "mod_greetreload", GREET)
    _write_module(mods, "mod_breaks", "raise ImportError('no driver')\n")
    (diags / "good.dsm").write_text("import(mod_greetreload);\ninitial state S;\n")
    engine = Engine(VirtualClock())
    library = ChartLibrary(engine, DirectorySource([diags], [str(mods)]))
    first = library.reload()
    (diags / "bad.dsm").write_text("import(mod_breaks);\ninitial state S;\n")
    with pytest.raises(ReloadFailed) as err:
        library.reload()
    assert any(d.code == "E005" and "no driver" in d.message for d in err.value.diagnostics)
    assert engine.main.chartset.digest == first.digest
    assert "bad" not in engine.main.chartset
    _write_module(mods, "mod_breaks", "")  # fixed: the next reload imports it afresh
    library.reload()
    assert "bad" in engine.main.chartset


def test_M_api_1_a_missing_module_fails_the_whole_configuration(tmp_path: Path) -> None:
    """M-api-1 / K-4: one diagram with a bad import fails the configuration; ``mod_path`` is the conf's."""
    from dsm.runtime.config import ConfigError, load_config

    diags, mods = tmp_path / "diags", tmp_path / "mods"
    diags.mkdir()
    mods.mkdir()
    _write_module(mods, "mod_greetconf", GREET)
    (diags / "good.dsm").write_text(
        "import(mod_greetconf);\ninitial state S enter { greet.hello(x); };\n"
    )
    (diags / "bad.dsm").write_text("import(mod_nowhere);\ninitial state S;\n")
    conf = tmp_path / "dsm.conf"
    conf.write_text(f"diag_path={diags}/\nmod_path={mods}/\nload_diags=good\nregister_apps=good\n")
    assert "good" in load_config(str(conf)).main.charts
    conf.write_text(
        f"diag_path={diags}/\nmod_path={mods}/\nload_diags=good,bad\nregister_apps=good\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(conf))
    assert any("mod_nowhere" in d.message for d in err.value.diagnostics)


# --------------------------------------------------------------------------- M-api-5


SEEN = """
@module.condition("seen.match", "S")
def match(ctx: Any, a: str = "", *_: str) -> bool:
    ctx.vars["asked_on"] = ctx.vars.get("asked_on", "") + ctx.event_type + ";"
    return ctx.resolve(a) == "yes"
"""


def test_M_api_5_module_conditions_ignore_the_event_type(tmp_path: Path) -> None:
    """M-api-5: a plain module condition matches on any event (Key, Timer, DSMEvent alike)."""
    script = """import(mod_seen);
initial state S enter { setTimer(1, 1); };
transition "on anything" S - seen.match(yes) / inc($hits) -> S;
"""
    h = _harness(tmp_path, script, {"mod_seen": SEEN})
    call = h.call("t")
    start_hits = int(call.vars.get("hits", "0"))
    call.press("5")
    call.advance(1.5)
    call.post_event({"x": "1"})
    types = call.vars["asked_on"].split(";")
    assert {"Key", "Timer", "DSMEvent"} <= set(types)
    assert int(call.vars["hits"]) - start_hits >= 3


def test_M_api_5_the_engine_applies_not_afterwards(tmp_path: Path) -> None:
    """M-api-5: ``not`` inverts the returned boolean; the condition ran (its side effect stays)."""
    script = """import(mod_seen);
initial state S;
transition "neg" S - event; not seen.match(no) / set($neg=taken) -> T;
state T;
transition "plain" T - event; seen.match(no) / set($plain=taken) -> S;
"""
    h = _harness(tmp_path, script, {"mod_seen": SEEN})
    call = h.call("t")
    call.post_event({})
    assert call.state == "T" and call.vars["neg"] == "taken"
    call.post_event({})
    assert call.state == "T" and "plain" not in call.vars
    assert call.vars["asked_on"] == "DSMEvent;DSMEvent;"  # side effects of both evaluations


def test_M_api_5_conditions_on_the_test_expression_filter_their_event_type(tmp_path: Path) -> None:
    """M-api-5: a module condition built on the core test expression filters on its event type."""
    body = """
from dsm.runtime.actions.conditions import test_predicate
module.condition("sbcish.keyEvent", "T", event="Key")(test_predicate)
"""
    script = """import(mod_sbcish);
initial state S;
transition "key 7" S - sbcish.keyEvent(#key == 7) / set($got=#key) -> S;
transition "any key event" S - sbcish.keyEvent / inc($keys) -> S;
"""
    call = _harness(tmp_path, script, {"mod_sbcish": body}).call("t")
    call.post_event({"key": "7"})  # a DSMEvent with #key == 7: wrong event type
    assert "got" not in call.vars and "keys" not in call.vars
    call.press("3")
    assert call.vars["keys"] == "1" and "got" not in call.vars
    call.press("7")
    assert call.vars["got"] == "7"


def test_M_api_5_bundled_condition_matches_on_any_event(tmp_path: Path) -> None:
    """M-api-5: the bundled module conditions (here ``utils.startsWith``) ignore the event type."""
    script = """import(mod_utils);
initial state S;
transition "sip" S - utils.startsWith(sip:x, sip:) / inc($n) -> S;
"""
    call = harness_call(tmp_path, script)
    before = int(call.vars.get("n", "0"))
    call.press("1")
    call.post_event({})
    assert int(call.vars["n"]) == before + 2


# --------------------------------------------------------------------------- M-api-9


SDP_HOOKS = """
CALLS: list[tuple[str, str]] = []

@module.process_sdp_offer
def offer(sdp: str) -> str:
    CALLS.append(("offer", sdp))
    return sdp + "a=TAG\\r\\n"

@module.process_sdp_answer
def answer(offer: str, answer: str) -> None:
    CALLS.append(("answer", answer))  # None: the answer stays as it is
"""


def test_M_api_9_modules_declare_sdp_hooks_and_the_registry_keeps_them() -> None:
    """M-api-9: ``process_sdp_offer(sdp)`` and ``process_sdp_answer(offer, answer)`` are hooks."""
    mod = Module("mod_sdp_decl")

    @mod.process_sdp_offer
    def offer(sdp: str) -> str:
        return sdp

    @mod.process_sdp_answer
    def answer(offer: str, answer: str) -> str:
        return answer

    assert mod.hooks == {"process_sdp_offer": offer, "process_sdp_answer": answer}
    assert offer("v=0\r\n") == "v=0\r\n"  # the decorators return the function unchanged


def test_M_api_9_every_attached_module_may_edit_local_sdp(tmp_path: Path) -> None:
    """M-api-9: for a call, each attached instance (one per diagram importing it) edits the local SDP.

    The SIP call that generates SDP is not part of these tests; the engine
    entry points it will use are called directly.
    """
    mods = tmp_path / "mods"
    mods.mkdir()
    _write_module(mods, "mod_sdpedit", SDP_HOOKS)
    (tmp_path / "a.dsm").write_text("import(mod_sdpedit);\ninitial state S;\n")
    (tmp_path / "b.dsm").write_text("import(mod_sdpedit);\ninitial state S;\n")
    h = Harness(scripts=str(tmp_path), module_path=[str(mods)])
    call = h.call("a")
    mod = find_module("mod_sdpedit", [str(mods)])
    assert isinstance(mod, Module) and set(mod.hooks) == {"process_sdp_offer", "process_sdp_answer"}
    calls = _loaded("mod_sdpedit").CALLS
    assert h.engine.process_sdp_offer(call.session, "v=0\r\n") == "v=0\r\na=TAG\r\na=TAG\r\n"
    assert h.engine.process_sdp_answer(call.session, "offer", "v=0\r\n") == "v=0\r\n"
    assert calls == [
        ("offer", "v=0\r\n"),
        ("offer", "v=0\r\na=TAG\r\n"),
        ("answer", "v=0\r\n"),
        ("answer", "v=0\r\n"),
    ]


def test_M_api_9_two_imports_in_one_file_are_two_attached_instances(tmp_path: Path) -> None:
    """M-api-9 with M-api-2: ``import`` twice in one file attaches the module twice."""
    script = "import(mod_sdptwice);\nimport(mod_sdptwice);\ninitial state S;\n"
    h = _harness(tmp_path, script, {"mod_sdptwice": SDP_HOOKS})
    call = h.call("t")
    assert h.engine.process_sdp_offer(call.session, "v=0\r\n") == "v=0\r\na=TAG\r\na=TAG\r\n"


# --------------------------------------------------------------------------- M-api-10


def test_M_api_10_the_registry_offers_exactly_the_five_hooks() -> None:
    """M-api-10: creation at import, preload and the invite/destroy/SDP hooks — nothing else."""
    decorators = {name for name in HOOK_NAMES if callable(getattr(Module, name, None))}
    assert decorators == HOOK_NAMES
    for absent in ("on_load", "onLoad", "on_start", "on_session_start", "start"):
        assert not hasattr(Module, absent)


def test_M_api_10_bundled_modules_use_only_those_hooks() -> None:
    """M-api-10: no bundled module declares any other lifecycle hook."""
    for path in sorted(MODULES_DIR.glob("mod_*.py")):
        mod = importlib.import_module(f"dsm.modules.{path.stem}").module
        assert set(mod.hooks) <= HOOK_NAMES, path.stem


LIFECYCLE = """
EVENTS: list[str] = ["created"]

module.hooks["on_session_start"] = lambda *a: EVENTS.append("session start")
module.hooks["on_load"] = lambda *a: EVENTS.append("load")

@module.action("life.use", "N")
def use(ctx: Any, *_: str) -> None:
    EVENTS.append("first use")
"""


def test_M_api_10_no_start_hook_modules_initialise_at_import_or_lazily(tmp_path: Path) -> None:
    """M-api-10: the module is created when the diagram loads; a session start calls no hook.

    Hooks under other names are never called (only first use does work).
    """
    script = "import(mod_life);\ninitial state S;\ntransition t S - event / life.use() -> S;\n"
    h = _harness(tmp_path, script, {"mod_life": LIFECYCLE})
    events = _loaded("mod_life").EVENTS
    assert events == ["created"]  # at diagram load, before any call
    call = h.call("t")
    h.call("t")
    assert events == ["created"]
    call.post_event({})
    call.hangup()
    assert events == ["created", "first use"]


# --------------------------------------------------------------------------- M-api-12


def test_M_api_12_errno_words_and_who_clears_them(tmp_path: Path) -> None:
    """M-api-12: core words (``arg``, ``file``), a module's own word (``connection``),
    clearing on success for some actions only, ``$errno`` without ``$strerror`` for some.
    """
    script = f"""import(mod_utils);
import(mod_sys);
import(mod_mysql);
initial state S enter {{
  utils.getCountRight(lots);
  set($e_arg=$errno);
  set($s_arg=$strerror);
  set($strerror=keep);
  sys.mkdir({tmp_path});
  set($e_file=$errno);
  set($s_file=$strerror);
  mysql.execute(SELECT 1);
  set($e_conn=$errno);
  sys.popen($out=true);
  set($e_after_popen=$errno);
  utils.getCountRight(5);
  set($e_after_count=$errno);
}};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["e_arg"], v["s_arg"]) == ("arg", "could not parse count 'lots'\n")
    assert (v["e_file"], v["s_file"]) == ("file", "keep")  # errno set, strerror untouched
    assert v["e_conn"] == "connection"  # mod_mysql's own word
    assert v["e_after_popen"] == "connection"  # sys.popen leaves errno alone
    assert v["e_after_count"] == ""  # utils.getCountRight clears it on success


# --------------------------------------------------------------------------- M-api-13


RAISER = """
@module.action("raiser.fail", "P,opt")
def fail(ctx: Any, p1: str = "", p2: str = "", *_: str) -> None:
    ctx.raise_dsm(ctx.resolve(p1), cause=ctx.resolve(p2))
"""


def test_M_api_13_module_exceptions_carry_type_and_cause(tmp_path: Path) -> None:
    """M-api-13: a module raises a DSM exception whose map has ``type`` (and ``cause``)."""
    script = """import(mod_raiser);
initial state S;
transition "go" S - event / raiser.fail(quota, "limit reached"); set($not_reached=1) -> S;
transition "caught" S - exception; test(#type == quota) / set($t=#type); set($c=#cause) -> E;
state E;
"""
    call = _harness(tmp_path, script, {"mod_raiser": RAISER}).call("t")
    call.post_event({})
    assert call.state == "E"
    assert (call.vars["t"], call.vars["c"]) == ("quota", "limit reached")
    assert "not_reached" not in call.vars


def test_M_api_13_bundled_module_exception_reaches_the_script(tmp_path: Path) -> None:
    """M-api-13: ``utils.spell`` with a missing file raises ``{type: file, path: …}``."""
    script = f"""import(mod_utils);
initial state S;
transition "go" S - event / utils.spell(7, {tmp_path}/none/) -> S;
transition "caught" S - exception; test(#type == file) / set($p=#path) -> E;
state E;
"""
    call = harness_call(tmp_path, script)
    call.post_event({})
    assert call.state == "E" and call.vars["p"] == f"{tmp_path}/none/7.wav"


def test_M_api_13_a_later_type_wins_in_the_effective_map() -> None:
    """M-api-13: a map built as ``type=sbc`` then ``type=param, cause=…`` is ``{type: param, cause}``."""
    built = {"type": "sbc"}
    built.update({"type": "param", "cause": "missing"})
    exc = DSMException(built["type"], built)
    assert exc.params == {"type": "param", "cause": "missing"}
    assert DSMException("param", {"type": "sbc", "cause": "x"}).params["type"] == "param"


# --------------------------------------------------------------------------- M-api-14


def test_M_api_14_playlist_of_a_module_in_a_system_dsm_is_not_implemented(tmp_path: Path) -> None:
    """M-api-14: module playlist functions go through the session, so a system DSM raises
    ``{type: core, cause: not implemented in SystemDSM}``; non-media actions still work.
    """
    (tmp_path / "sys.dsm").write_text(
        """import(mod_utils);
initial state S;
transition "go" S - event / utils.getCountRight(7); utils.playCountRight(7) -> S;
transition "caught" S - exception / set($t=#type); set($c=#cause) -> E;
state E;
"""
    )
    h = Harness(scripts=str(tmp_path / "sys.dsm"))
    system = h.call_system("sys")
    system.post_event({})
    assert system.state == "E"
    assert (system.vars["t"], system.vars["c"]) == ("core", "not implemented in SystemDSM")
    assert system.vars["count_file[0]"] == "7.wav"


# --------------------------------------------------------------------------- M-api-15


def test_M_api_15_one_python_module_per_dsm_module() -> None:
    """M-api-15: ``modules/mod_<x>.py`` holds the module object named ``mod_<x>``, found by that name."""
    files = sorted(MODULES_DIR.glob("mod_*.py"))
    assert files
    for path in files:
        mod = find_module(path.stem)
        assert isinstance(mod, Module) and mod.name == path.stem
        assert mod is importlib.import_module(f"dsm.modules.{path.stem}").module


def test_M_api_15_factories_answer_by_exact_name_or_not_mine() -> None:
    """M-api-15: the realisation of ``get_action``/``get_condition``: a signature, or ``None`` (not mine)."""
    from dsm.modules import mod_utils

    sig = mod_utils.module.action_signature("utils.add")
    assert sig is not None and sig.style == "P,mand"
    assert mod_utils.module.action_signature("utils.ADD") is None
    assert mod_utils.module.condition_signature("utils.add") is None
    cond = mod_utils.module.condition_signature("utils.isInList")
    assert cond is not None and cond.event is None


def test_M_api_15_blocking_calls_complete_before_the_next_action(tmp_path: Path) -> None:
    """M-api-15: a blocking call (``sys.popen``) finishes before the next action starts."""
    script = """import(mod_sys);
initial state S enter {
  sys.popen($out="sleep 0.05; echo done");
  set($copy=$out);
  set($status=$out.status);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["copy"], v["status"]) == ("done\n", "0")


def test_M_api_15_process_wide_state_is_shared_by_all_imports(tmp_path: Path) -> None:
    """M-api-15 (with M-api-2): process-wide state lives in module-level objects behind a lock."""
    import threading

    from dsm.modules import mod_monitoring

    store = mod_monitoring.MonitoringStore()

    def bump() -> None:
        for _ in range(2000):
            store.inc("api15", "threads")

    workers = [threading.Thread(target=bump) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert store.counter("api15", "threads") == 8000
    script = """import(mod_monitoring);
import(mod_monitoring);
initial state S enter { monitoring.inc(api15, shared); };
"""
    before = mod_monitoring.store.counter("api15", "shared")
    harness_call(tmp_path, script)
    harness_call(tmp_path, script, name="u")
    assert mod_monitoring.store.counter("api15", "shared") == before + 2


def test_M_api_9_a_failing_sdp_hook_keeps_the_sdp_and_is_logged(tmp_path: Path) -> None:
    """M-api-9: a module whose SDP hook raises cannot break SDP generation."""
    broken = '''
@module.process_sdp_offer
def offer(sdp: str) -> str:
    raise RuntimeError("broken hook")

@module.process_sdp_answer
def answer(offer: str, answer: str) -> str:
    raise RuntimeError("broken hook")
'''
    h = _harness(tmp_path, "import(mod_sdpbroken);\ninitial state S;\n", {"mod_sdpbroken": broken})
    call = h.call("t")
    assert h.engine.process_sdp_offer(call.session, "v=0\r\n") == "v=0\r\n"
    assert h.engine.process_sdp_answer(call.session, "o", "a") == "a"
    assert "SDP offer hook failed" in call.transcript()
