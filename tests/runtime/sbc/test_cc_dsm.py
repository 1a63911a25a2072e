"""cc_dsm (modules.md 19.1, engine.md E-163 … E-166): sessions per leg, events, StopProcessing.

The hooks of :class:`DsmCallControl` are driven through the harness's
simulated SBC legs and, for the parameter sets, called with parsed SIP
messages directly.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from dsm.runtime.harness import Harness, SbcTestCall
from dsm.runtime.sbc.cc_dsm import (
    CcDsmComponent,
    DsmCallControl,
    header_params,
    make_call_control,
    reply_params,
    request_params,
)
from dsm.runtime.sbc.leg import CONTINUE, STOP, CallStatus, StopReason
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.sip.message import Request, Response, parse_message


def sbc(tmp_path: Path, text: str, harness_args: dict[str, Any] | None = None, **kw: Any) -> SbcTestCall:
    (tmp_path / "ctl.dsm").write_text("import(mod_sbc);\nimport(mod_dlg);\n" + textwrap.dedent(text))
    h = Harness(scripts=str(tmp_path), **(harness_args or {}))
    return h.sbc_call("ctl", **kw)


def var(call: SbcTestCall, side: str, name: str) -> str | None:
    s = call.leg(side).session
    assert s is not None
    return s.vars.get(name)


INVITE = (
    b"INVITE sip:bob@example.net SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: \"Alice\" <sip:alice@example.org>;tag=a1\r\n"
    b"To: <sip:bob@example.net>;tag=b2\r\n"
    b"Call-ID: c1@x\r\n"
    b"CSeq: 3 INVITE\r\n"
    b"X-One: \t first\r\n"
    b"X-One: second\r\n"
    b"X-Empty:\r\n"
    b"Subject: hi: there\r\n"
    b"Content-Length: 0\r\n\r\n"
)


# -- E-164: parameter sets -------------------------------------------------------------------------


def test_request_parameter_set_E_164() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    p = request_params(req)
    assert p["method"] == "INVITE" and p["r_uri"] == "sip:bob@example.net"
    assert p["from"] == '"Alice" <sip:alice@example.org>;tag=a1' and p["from_tag"] == "a1"
    assert p["to"] == "<sip:bob@example.net>;tag=b2" and p["to_tag"] == "b2"
    assert p["callid"] == "c1@x"
    assert p["hdr.X-One"] == "second"  # the last of repeated headers wins
    assert p["hdr.Subject"] == "hi: there"
    assert "hdr.X-Empty" not in p  # nothing after the colon: skipped
    assert "hdr.From" not in p and "X-One: " in p["hdrs"]


def test_header_params_rules_E_164() -> None:
    assert header_params("A: \t x\r\nnocolon\r\nB:\r\nA: y\r\nC:z\r\n") == {"hdr.A": "y", "hdr.C": "z"}


def test_reply_parameter_set_E_164() -> None:
    rep = parse_message(
        b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\n"
        b"To: <sip:b@y>;tag=2\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(rep, Response)
    p = reply_params(rep)
    assert (p["sip_code"], p["sip_reason"]) == ("486", "Busy Here")
    assert (p["from_tag"], p["to_tag"], p["callid"]) == ("1", "2", "k")
    assert p["hdr.Retry-After"] == "60" and p["hdrs"] == "Retry-After: 60\r\n"


# -- E-163, M-ccdsm-1/2: sessions ---------------------------------------------------------------------


def test_one_session_per_leg_with_bundle_config_and_cc_values_E_163(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "route.dsm").write_text(
        'import(mod_sbc);\ninitial state S enter { set($seen_limit=$config.limit); set($mine=@local_tag); };\n'
        'transition "s" S - start / { if sbc.isALeg() { set($leg=a); } else { set($leg=b); } } -> S;\n'
    )
    (tmp_path / "sbcapps.conf").write_text("diag_path=apps\nload_diags=route\nlimit=3\nother=x\n")
    (tmp_path / "unused.dsm").write_text("initial state S;\n")
    h = Harness(scripts=str(tmp_path / "unused.dsm"))
    assert h.load_bundle(tmp_path / "sbcapps.conf") == "sbcapps"
    call = h.sbc_call("route", "sbcapps", values={"config.limit": "5", "tenant": "7"})
    a, b = call.leg("a"), call.leg("b")
    assert a.session is not b.session
    for side, leg in (("a", a), ("b", b)):
        v = leg.session.vars  # type: ignore[union-attr]
        assert v["config.limit"] == "5" and v["config.other"] == "x"  # cc value overrides the bundle
        assert v["tenant"] == "7" and v["app_bundle"] == "sbcapps" and v["start_diag"] == "route"
        assert v["seen_limit"] == "5" and v["leg"] == side and v["mine"] == leg.local_tag
    with pytest.raises(ValueError):
        h.sbc_call("", "sbcapps")
    with pytest.raises(ValueError):
        h.sbc_call("route", "nope")
    with pytest.raises(ValueError):
        h.sbc_call("nodiag", "sbcapps")


def test_start_runs_before_the_invite_is_relayed_M_ccdsm_2(tmp_path: Path) -> None:
    """The start transition runs in ``init``: a refuse_with set there refuses before any B leg."""
    call = sbc(
        tmp_path,
        'initial state S;\ntransition "s" S - start / sbc.profileSet(refuse_with, "488 No") -> S;\n',
        profile=CallProfile("p"),
    )
    assert call.refusal is not None and (call.refusal.code, call.refusal.reason) == (488, "No")
    assert call.b_invites == []


def test_make_call_control_gives_a_new_object_per_leg_M_ccdsm_6(tmp_path: Path) -> None:
    (tmp_path / "x.dsm").write_text("initial state S;\n")
    h = Harness(scripts=str(tmp_path))
    make = make_call_control(h.engine)
    one, two = make(), make()
    assert isinstance(one, DsmCallControl) and one is not two


# -- E-165/E-166, M-ccdsm-4: events ---------------------------------------------------------------------


def test_invite_event_quirks_M_ccdsm_4(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "inv" S - invite / {
          set($rp=#remote_party); set($ru=#remote_uri); set($fr=#from);
          set(#StopProcessing=true);
        } -> S;
        transition "later" S - event / sbc.setLastReq() -> S;
        """,
        callee="sip:bob@example.net",
    )
    assert var(call, "a", "rp") == var(call, "a", "ru") == var(call, "a", "fr") == "<sip:bob@example.net>"
    a_session = call.leg("a").session
    assert a_session is not None
    assert "request" in a_session.objects  # stays in the store after the event
    assert "__modified_invite" not in a_session.objects  # removed after the event
    assert call.b is not None  # QUIRK: StopProcessing is ignored for Invite


def test_modified_invite_object_changes_what_is_sent(tmp_path: Path) -> None:
    """``__modified_invite`` is the INVITE about to be sent: a module changing it changes the B leg."""
    (tmp_path / "mod_touch.py").write_text(
        "from dsm.runtime.registry import Module\nmodule = Module('mod_touch')\n"
        "@module.action('touch.invite', 'N')\n"
        "def touch(ctx, *_):\n    ctx.objects['__modified_invite'].headers.add('X-Touched', 'yes')\n"
    )
    (tmp_path / "ctl.dsm").write_text(
        'import(mod_touch);\ninitial state S;\ntransition "i" S - invite / touch.invite() -> S;\n'
    )
    h = Harness(scripts=str(tmp_path / "ctl.dsm"), module_path=[str(tmp_path)])
    call = h.sbc_call("ctl")
    assert call.b_invites[0].headers.get("X-Touched") == "yes"


STOPPER = """\
initial state S;
transition "req" S - sipRequest / { set($m=#method); set($h=#hdr.X-Ask); set(#StopProcessing=$stop); } -> S;
transition "rep" S - sipReply / { set($c=#sip_code); set(#StopProcessing=$stop); } -> S;
transition "oreq" S - B2B.otherRequest / { set($fw=#forward); set($om=#method); set(#StopProcessing=$stop); } -> S;
transition "orep" S - B2B.otherReply / { set($tm=#trans_method); set($oc=#sip_code); set(#StopProcessing=$stop); } -> S;
transition "ev" S - event / { set($ev=#x); set(#StopProcessing=$stop); } -> S;
transition "key" S - key / { set($key=#key); set($dur=#duration); set(#StopProcessing=$stop); } -> S;
transition "tm" S - timer / { set($tid=#id); set(#StopProcessing=$stop); } -> S;
transition "ls" S - legStateChange / { set($ls=#SBCCallStatus); set(#StopProcessing=true); } -> S;
"""


@pytest.mark.parametrize(("stop", "expected"), [("true", STOP), ("TRUE", CONTINUE), ("yes", CONTINUE)])
def test_stop_processing_exactly_true_E_166(tmp_path: Path, stop: str, expected: bool) -> None:
    call = sbc(tmp_path, STOPPER, values={"stop": stop})
    call.answer()
    relayed = call.request("a", "INFO", {"X-Ask": "q"})
    assert (var(call, "a", "m"), var(call, "a", "h")) == ("INFO", "q")
    if expected == STOP:
        assert not relayed and var(call, "b", "om") is None  # not relayed to the peer
    else:
        assert (var(call, "b", "om"), var(call, "b", "fw")) == ("INFO", "true")
        assert relayed is True and [m.method for m in call.leg("b").sent] == ["INFO"]  # type: ignore[union-attr]
    assert call.reply("b", 200, "OK", method="INFO") is (expected == CONTINUE)
    assert var(call, "b", "c") == "200"
    if expected == CONTINUE:
        assert (var(call, "a", "tm"), var(call, "a", "oc")) == ("INFO", "200")
    a = call.leg("a")
    assert a.cc.on_event({"x": "1"}) is expected and var(call, "a", "ev") == "1"
    assert a.cc.on_dtmf(5, 160) is expected and (var(call, "a", "key"), var(call, "a", "dur")) == ("5", "160")
    assert a.cc.on_timer(9) is expected and var(call, "a", "tid") == "9"
    # legStateChange: StopProcessing is not evaluated
    assert a.cc.on_state_change(CallStatus.CONNECTED, StopReason.OTHER, None) is None
    assert var(call, "a", "ls") == "Connected"


def test_b_leg_refused_stop_skips_default_handling_M_ccdsm_4(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "ref" S - bLegRefused / { set($code=#sip_code); set(#StopProcessing=true); } -> S;
        transition "chk" S - event / { set($dangling=no); } -> S;
        """,
    )
    call.refuse(503, "Service Unavailable")
    assert var(call, "a", "code") == "503"
    assert call.replies == [] and not call.leg("a").destroyed  # the script handles it
    a_session = call.leg("a").session
    assert a_session is not None and a_session.objects["reply"].code == 503  # QUIRK: left behind


def test_b_leg_refused_default_translates_the_reply(tmp_path: Path) -> None:
    profile = CallProfile("p", reply_translations={503: (480, "Try Later")})
    call = sbc(tmp_path, 'initial state S;\ntransition "r" S - bLegRefused / set($r=1) -> S;\n', profile=profile)
    call.refuse(503, "Service Unavailable")
    assert [(r.code, r.reason) for r in call.replies] == [(480, "Try Later")]
    assert call.ended


def test_other_reply_object_is_modifiable_and_left_behind_M_ccdsm_4(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "o" S - B2B.otherReply / set($x=1) -> S;\n')
    call.answer()
    call.reply("b", 200, "OK", method="INFO")
    s = call.leg("a").session
    assert s is not None and s.objects["reply"].modifiable


def test_leg_state_change_params_per_reason_E_165(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "ls" S - legStateChange / {
          set($st=#SBCCallStatus); set($r=#reason); set($code=#sip_code); set($meth=#method); set($d=#desc);
        } -> S;
        """,
    )
    call.ring()
    assert (var(call, "a", "st"), var(call, "a", "r"), var(call, "a", "code")) == ("Ringing", "SipReply", "180")
    call.answer()
    call.hangup("b")
    assert (var(call, "b", "st"), var(call, "b", "r"), var(call, "b", "meth")) == ("Disconnected", "SipRequest", "BYE")
    assert (var(call, "a", "st"), var(call, "a", "r"), var(call, "a", "code")) == ("Disconnected", "SipReply", "200")
    assert call.ended


# -- M-ccdsm-3: the session environment ------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    ["playPrompt(hello)", "setPrompts(x)", "recordFile(/tmp/x.wav)", "stopRecord()", "setInOutPlaylist()",
     "setOutputPlaylist()", "mute()", "B2B.connectCallee(a, b)", "B2B.terminateOtherLeg()",
     "B2B.addHeader(\"X: y\")", "B2B.clearHeaders()", "B2B.enableEarlyMediaRelay(true)"],
)
def test_core_actions_not_implemented_in_sbc_M_ccdsm_3(tmp_path: Path, action: str) -> None:
    call = sbc(
        tmp_path,
        f"""\
        initial state S;
        transition "go" S - event / {action} -> S;
        transition "x" S - exception / {{ set($t=#type); set($c=#cause); }} -> S;
        """,
    )
    call.post_event("a", {})
    assert (var(call, "a", "t"), var(call, "a", "c")) == ("core", "not implemented in DSM SBC")


def test_core_actions_that_work_in_sbc_M_ccdsm_3(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "go" S - event(#go == 1) / {
          playSilence(100); flushPlaylist(); setInputPlaylist(); connectMedia(); disconnectMedia();
          enableDTMFDetection(); sendDTMF(3); B2B.setRelayOnly(true); B2B.sendReinvite(true);
          set($v=hello); B2B.relayEvent(v); setTimer(4, 2);
        } -> S;
        transition "b2b" S - B2Bevent / set($got=#v) -> S;
        transition "t" S - timer(#id == 4) / set($fired=1) -> S;
        transition "x" S - exception / set($err=#cause) -> S;
        """,
    )
    call.answer()
    call.post_event("a", {"go": "1"})
    a = call.leg("a")
    assert var(call, "a", "err") is None
    assert var(call, "b", "got") == "hello"
    assert a.relay_only and ("sendDTMF", "3", "500") in a.did
    assert [d[0] for d in a.did] == ["connectMedia", "disconnectMedia", "sendDTMF", "setRelayOnly",
                                     "sendReinvite", "relayEvent"]
    call.advance(2.5)
    assert var(call, "a", "fired") == "1"


def test_destroyed_leg_ends_its_session_without_before_destroy_M_ccdsm_3(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "bd" S - beforeDestroy / set($bd=1) -> S;\n')
    call.answer()
    call.hangup("a")
    a = call.leg("a")
    assert a.session is not None and a.session.ended and a.session.vars.get("bd") is None


# -- answers that cannot wait ----------------------------------------------------------------------------


def test_parked_event_answers_continue(tmp_path: Path) -> None:
    """An event parked at a blocking condition: the hook does not wait and answers CONTINUE."""
    call = sbc(
        tmp_path,
        """\
        import(mod_sys);
        initial state S;
        transition "ev" S - event / { if sys.system("true") { set(#StopProcessing=true); set($done=1); } } -> S;
        """,
        harness_args={"blocking_delay": 1.0},
    )
    assert call.leg("a").cc.on_event({}) is CONTINUE
    call.advance(2)
    assert var(call, "a", "done") == "1"


def test_hook_while_engine_runs_queues_and_continues(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "ev" S - event / { set($x=#x); set(#StopProcessing=true); } -> S;\n')
    engine = call.harness.engine
    engine._busy += 1
    try:
        assert call.leg("a").cc.on_event({"x": "1"}) is CONTINUE
        assert var(call, "a", "x") is None
    finally:
        engine._busy -= 1
    engine.run_pending()
    assert var(call, "a", "x") == "1"


# -- M-ccdsm-5: the DI component ---------------------------------------------------------------------------


def test_di_component_M_ccdsm_5(tmp_path: Path) -> None:
    (tmp_path / "d.dsm").write_text(
        'initial state S enter { DI(cc_dsm, start); set($e1=$errno); DIgetResult(cc_dsm, _list); set($f0=$DI_res0);'
        ' set($f2=$DI_res2); DI(cc_dsm, nope); set($e2=$errno); };\n'
    )
    h = Harness(scripts=str(tmp_path))
    call = h.call("d")
    assert call.vars["e1"] == "" and (call.vars["f0"], call.vars["f2"]) == ("start", "end")
    assert call.vars["e2"] == "arg"
    comp = h.engine.di["cc_dsm"]
    assert isinstance(comp, CcDsmComponent)
    assert comp.invoke("connect", []) is None and comp.invoke("end", []) is None
    assert isinstance(comp.invoke("getExtendedInterfaceHandler", [])(), DsmCallControl)


def test_no_system_events_for_sbc_sessions_M_ccdsm_4(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "sys" S - system / set($sys=#type) -> S;\n')
    engine = call.harness.engine
    engine.system_event("User1")
    call.harness._pump()
    assert var(call, "a", "sys") is None and var(call, "b", "sys") is None
