"""mod_dlg ``dlg.dialout`` (M-dlg-6): independent outgoing calls started from a script.

The harness offers the host's outgoing-call service: the new call is a
:class:`TestCall` with ``outgoing`` set, and the test plays the called
party (``ring``, ``answer``, ``reject``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsm.modules.mod_dlg import module
from dsm.runtime.harness import Harness, TestCall
from dsm.runtime.harness.stub import StubContext

CALLER = """
import(mod_dlg);
initial state S;
transition "k" S - key / set($o_caller=alice); set($o_callee=bob); set($o_domain=example.net); set($o_app=callee);
  set($o_var.greeting=hello); set($o_var.lang=en); set($o_hdrs="X-A: 1\\r\\nX-B: 2"); set($errno=before); dlg.dialout(o) -> S;
transition "bye" S - hangup / stop(false) -> S;
"""

CALLEE = """
initial state S enter { set($started_as=@local_tag) };
transition "ringing" S - ringing / set($rang=#code) -> S;
transition "up" S - sessionStart / set($up=yes); playPrompt(hello) -> UP;
state UP;
transition "failed" S - failed / set($failed=#code) -> S;
transition "bye" (S, UP) - hangup / stop(false) -> UP;
"""


def harness(tmp_path: Path, caller: str = CALLER) -> Harness:
    (tmp_path / "caller.dsm").write_text(textwrap.dedent(caller))
    (tmp_path / "callee.dsm").write_text(textwrap.dedent(CALLEE))
    return Harness(scripts=str(tmp_path), prompts={"hello": 0.5})


def dial(tmp_path: Path, caller: str = CALLER) -> tuple[TestCall, TestCall]:
    h = harness(tmp_path, caller)
    a = h.call("caller")
    a.press("1")
    assert len(h.calls) == 2, a.transcript()
    return a, h.calls[1]


def test_M_dlg_6_dialout_starts_an_outgoing_call_running_the_app(tmp_path: Path) -> None:
    a, out = dial(tmp_path)
    assert out.outgoing and out.diagram == "callee"
    assert a.vars["o_ltag"] == out.id
    assert out.vars["started_as"] == out.id
    assert a.vars["errno"] == "before"  # QUIRK: success does not clear errno


def test_M_dlg_6_E170_var_entries_become_variables_of_the_new_call(tmp_path: Path) -> None:
    _, out = dial(tmp_path)
    assert out.vars["greeting"] == "hello"
    assert out.vars["lang"] == "en"


def test_M_dlg_6_defaults_for_uris(tmp_path: Path) -> None:
    _, out = dial(tmp_path)
    assert out.sim.callee_uri == "sip:bob@example.net"
    assert out.sim.caller == "sip:alice@example.net"
    assert "outgoing from <sip:alice@example.net> to <sip:bob@example.net>" in out.transcript()


def test_M_dlg_6_explicit_uris_and_local_tag(tmp_path: Path) -> None:
    caller = CALLER.replace(
        "dlg.dialout(o)",
        "set($o_r_uri=sip:bob@10.0.0.1); set($o_from_uri=sip:a@x); set($o_ltag=my-tag); dlg.dialout(o)",
    )
    a, out = dial(tmp_path, caller)
    assert out.id == "my-tag" and a.vars["o_ltag"] == "my-tag"
    assert out.sim.callee_uri == "sip:bob@10.0.0.1"
    assert out.sim.caller == "sip:a@x"


def test_M_dlg_6_E152_called_party_rings_answers_and_hears_media(tmp_path: Path) -> None:
    _, out = dial(tmp_path)
    out.ring()
    assert out.vars["rang"] == "180"
    out.answer()
    assert out.vars["up"] == "yes" and out.state == "UP"
    out.advance(1.0)
    assert [p.name for p in out.played] == ["hello"]


def test_M_dlg_6_E151_rejected_outgoing_call_fails_and_stops(tmp_path: Path) -> None:
    _, out = dial(tmp_path)
    out.reject(486, "Busy Here")
    assert out.vars["failed"] == "486"
    assert out.terminated


@pytest.mark.parametrize("missing", ["caller", "callee", "domain", "app"])
def test_M_dlg_6_missing_required_variable_is_errno_arg_only(tmp_path: Path, missing: str) -> None:
    caller = CALLER.replace(f"set($o_{missing}=", f"set($o_x{missing}=")
    h = harness(tmp_path, caller)
    a = h.call("caller")
    a.vars["strerror"] = "untouched"
    a.press("1")
    assert a.vars["errno"] == "arg"
    assert a.vars["strerror"] == "untouched"
    assert "o_ltag" not in a.vars
    assert len(h.calls) == 1


def test_M_dlg_6_unknown_application_is_errno_general_and_empty_ltag(tmp_path: Path) -> None:
    h = harness(tmp_path, CALLER.replace("set($o_app=callee)", "set($o_app=nosuchapp)"))
    a = h.call("caller")
    a.press("1")
    assert a.vars["errno"] == "general"
    assert "nosuchapp" in a.vars["strerror"]
    assert a.vars["o_ltag"] == ""
    assert len(h.calls) == 1


def test_M_dlg_6_a_local_tag_in_use_fails(tmp_path: Path) -> None:
    h = harness(tmp_path, CALLER.replace("dlg.dialout(o)", "set($o_ltag=@local_tag); dlg.dialout(o)"))
    a = h.call("caller")
    a.press("1")
    assert a.vars["errno"] == "general"
    assert a.vars["o_ltag"] == ""


def test_M_dlg_6_works_from_a_system_session(tmp_path: Path) -> None:
    """Sessions: all — a system DSM can start calls too."""
    (tmp_path / "sys.dsm").write_text(
        "import(mod_dlg);\n"
        "initial state S enter { set($d_caller=sys); set($d_callee=bob); set($d_domain=h); set($d_app=callee);"
        " dlg.dialout(d) };\n"
    )
    (tmp_path / "callee.dsm").write_text(textwrap.dedent(CALLEE))
    h = Harness(scripts=str(tmp_path), prompts={"hello": 0.5})
    s = h.call_system("sys")
    assert s.vars["d_ltag"] == h.calls[0].id
    assert h.calls[0].outgoing


def test_M_dlg_6_host_without_outgoing_calls_is_errno_general() -> None:
    ctx = StubContext(
        {"p_caller": "a", "p_callee": "b", "p_domain": "c", "p_app": "x"}, engine=object()
    )
    ctx.run(module, "dlg.dialout", "p")
    assert ctx.vars["errno"] == "general"
    assert ctx.vars["p_ltag"] == ""
    assert "cannot start outgoing calls" in ctx.vars["strerror"]


def test_M_dlg_6_prefix_is_resolved_and_hdrs_converted() -> None:
    seen: dict[str, object] = {}

    class Engine:
        def dialout(self, app: str, **kw: object) -> str:
            seen.update(kw, app=app)
            return "new-1"

    ctx = StubContext(
        {
            "pre": "q",
            "q_caller": "a",
            "q_callee": "b",
            "q_domain": "c",
            "q_app": "x",
            "q_hdrs": "X-A: 1\\r\\nX-B: 2",
            "q_auth_user": "u",
            "q_auth_pwd": "p",
        },
        engine=Engine(),
    )
    ctx.run(module, "dlg.dialout", "$pre")
    assert ctx.vars["q_ltag"] == "new-1"
    assert seen["app"] == "x"
    assert seen["headers"] == "X-A: 1\r\nX-B: 2"
    assert (seen["auth_user"], seen["auth_pwd"]) == ("u", "p")
    assert (seen["r_uri"], seen["to"], seen["from_"]) == ("sip:b@c", "<sip:b@c>", "<sip:a@c>")


def test_outgoing_helpers_refuse_incoming_calls(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = h.call("caller")
    with pytest.raises(RuntimeError):
        a.answer()
