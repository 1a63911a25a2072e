"""mod_sbc (modules.md 19.2/19.3): every condition and action on simulated SBC legs.

Scripts run as cc_dsm sessions of the harness's simulated SBC calls
(:meth:`Harness.sbc_call`); the "without call leg" errors are checked with a
stand-in context whose call is not a leg, and in a normal call session.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from _fake import compile_every_name

from dsm.modules.mod_sbc import module, session_connection_address
from dsm.runtime.errors import DSMException
from dsm.runtime.harness import Harness, SbcTestCall
from dsm.runtime.harness.stub import StubContext
from dsm.runtime.sbc.leg import CallStatus, StopReason
from dsm.runtime.sbc.profile import CallProfile

TEXT = ("To", "RURI", "From", "Call-ID", "next_hop", "refuse_with", "append_headers")
BOOL = ("force_outbound_proxy", "force_symmetric_rtp", "rtprelay_dtmf_detection")


def sbc(tmp_path: Path, text: str, **kw: Any) -> SbcTestCall:
    """Run ``text`` as the cc_dsm script ``ctl`` of a new simulated SBC call."""
    (tmp_path / "ctl.dsm").write_text("import(mod_sbc);\nimport(mod_dlg);\n" + textwrap.dedent(text))
    h = Harness(scripts=str(tmp_path))
    kw.setdefault("profile", CallProfile("p"))
    return h.sbc_call("ctl", **kw)


def var(call: SbcTestCall, side: str, name: str) -> str | None:
    s = call.leg(side).session
    assert s is not None
    return s.vars.get(name)


# -- declarations ---------------------------------------------------------------------------


def test_counts_and_names_M_sbc_1_to_38() -> None:
    """17 actions (M-sbc-1 … 17) and 21 conditions (M-sbc-18 … 38), all compilable."""
    assert len(module.actions) == 17
    assert len(module.conditions) == 21
    assert "bLegRefused" in module.conditions and "BLegRefused" not in module.conditions
    assert "sbc.getCallStatus" in module.actions and "sbc.getSBCCallStatus" not in module.actions
    compile_every_name(module)


def test_import_without_sbc_in_a_normal_call(tmp_path: Path) -> None:
    """import(mod_sbc) works in any script; state conditions are false outside a leg (M-sbc-32 …)."""
    (tmp_path / "n.dsm").write_text(
        textwrap.dedent(
            """\
            import(mod_sbc);
            initial state S enter {
              set($a=no);
              if sbc.isALeg() { set($a=yes); }
              if sbc.isConnected() { set($a=yes); }
              if sbc.isOnHold() { set($a=yes); }
            };
            transition "x" S - test($x == 1) / sbc.stopCall(bye) -> S;
            transition "err" S - exception / { set($cause=#cause); set($type=#type); } -> S;
            """
        )
    )
    h = Harness(scripts=str(tmp_path))
    call = h.call("n")
    assert call.vars["a"] == "no"
    call.session.vars["x"] = "1"
    call.post_event({})
    assert call.vars["type"] == "param"
    assert call.vars["cause"] == "script writer error: DSM action StopCall used without call leg"


NO_LEG = [
    ("sbc.stopCall", ("x",), "StopCall used without call leg"),
    ("sbc.disconnect", ("false", "true"), "Disconnect used without call leg"),
    ("sbc.sendDisconnectEvent", ("false",), "SendDisconnectEvent used without call leg"),
    ("sbc.putOnHold", (), "PutOnHold used without call leg"),
    ("sbc.resumeHeld", (), "ResumeHeld used without call leg"),
    ("sbc.getCallStatus", ("st",), "GetCallStatus used without call leg"),
    ("sbc.relayReliableEvent", ("a", "b, c"), "B2BRelayReliable used without call leg"),
    ("sbc.addCallee", ("var", "c"), "sbc.addCallee used without sbc call leg"),
    ("sbc.enableRelayDTMFReceiving", ("true",), "AddCallee used without sbc call leg"),
    ("sbc.addToMediaProcessor", (), "AddToMediaProcessor used without call leg"),
    ("sbc.removeFromMediaProcessor", (), "RemoveFromMediaProcessor used without call leg"),
    ("sbc.streamsSetReceiving", ("true", "true"), "RtpStreamsSetReceiving used without sbc call leg"),
]


@pytest.mark.parametrize(("name", "args", "cause"), NO_LEG, ids=[n for n, _, _ in NO_LEG])
def test_without_call_leg_errors_M_sbc(name: str, args: tuple[str, ...], cause: str) -> None:
    """The reference's ``param`` exception names each action's internal name (QUIRK: AddCallee)."""
    ctx = StubContext(call=object())
    with pytest.raises(DSMException) as info:
        ctx.run(module, name, *args)
    assert info.value.params == {"type": "param", "cause": "script writer error: DSM action " + cause}


def test_harmless_actions_without_leg() -> None:
    """profileSet logs, ext-tag actions do nothing, setLastReq/testSDP log without their objects."""
    ctx = StubContext(call=object())
    ctx.run(module, "sbc.profileSet", "RURI", "sip:x@y")
    ctx.run(module, "sbc.setExtLocalTag", "t")
    ctx.run(module, "sbc.clearExtLocalTag")
    ctx.run(module, "sbc.setLastReq")
    ctx.run(module, "sbc.testSDPConnectionAddress", "1.2.3.4")
    assert "errno" not in ctx.vars and "match_connection_addr" not in ctx.vars
    assert any("Call profile object not found" in m for _, m in ctx.logs)
    assert not module.conditions["sbc.isALeg"].fn(ctx)  # type: ignore[misc]


# -- event conditions (M-sbc-18 … 31) -----------------------------------------------------------


def test_legStateChange_with_expression_M_sbc_18(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "conn" S - legStateChange(#SBCCallStatus == Connected) / set($conn=#reason) -> S;
        transition "any" S - legStateChange / set($seen=#SBCCallStatus) -> S;
        """,
    )
    call.ring()
    assert var(call, "a", "seen") == "Ringing"
    call.answer()
    assert var(call, "a", "conn") == "SipReply" and var(call, "b", "conn") == "SipReply"
    assert var(call, "a", "seen") == "Ringing"  # the Connected one took the first transition


def test_bLegRefused_M_sbc_19(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "busy" S - bLegRefused(#sip_code == 486) / { set($why=#sip_reason); set($code=#sip_code); } -> S;
        """,
    )
    call.refuse(486, "Busy Here")
    assert var(call, "a", "why") == "Busy Here"
    assert [r.code for r in call.replies] == [486]


def test_hold_and_relay_conditions_never_match_in_a_call_M_sbc_20_to_31(tmp_path: Path) -> None:
    """PutOnHold … HandleHoldReply are never raised (M-ccdsm-4); Relay* only by the simple relay."""
    names = ["PutOnHold", "ResumeHeld", "CreateHoldRequest", "HandleHoldReply", "RelayInit",
             "RelayInitUAC", "RelayInitUAS", "RelayFinalize", "RelayOnSipRequest", "RelayOnSipReply",
             "RelayOnB2BRequest", "RelayOnB2BReply"]
    body = "initial state S;\n" + "".join(
        f'transition "t{i}" S - {n} / set($hit={n}) -> S;\n' for i, n in enumerate(names)
    ) + 'transition "h" S - test($h == 1) / sbc.putOnHold() -> S;\n'
    call = sbc(tmp_path, body)
    call.answer()
    call.leg("a").session.vars["h"] = "1"  # type: ignore[union-attr]
    call.post_event("a", {})
    call.request("a", "INFO")
    call.reply("b", 200, "OK")
    call.hangup("a")
    assert var(call, "a", "hit") is None and var(call, "b", "hit") is None


def test_relay_conditions_match_their_relay_events_M_sbc_24_to_31(tmp_path: Path) -> None:
    from dsm.runtime.sbc.cc_dsm import RELAY_EVENTS

    body = "initial state S;\n" + "".join(
        f'transition "t{i}" S - {ev}(#relay_event == {kind}) / set($hit_{kind}=#relay_event) -> S;\n'
        for i, (kind, ev) in enumerate(RELAY_EVENTS.items())
    )
    call = sbc(tmp_path, body)
    for kind in RELAY_EVENTS:
        call.leg("a").cc.on_relay_event(kind, CallProfile("relay"))
    for kind in RELAY_EVENTS:
        assert var(call, "a", f"hit_{kind}") == kind


# -- state conditions (M-sbc-32 … 38) -------------------------------------------------------------


STATUS_SCRIPT = """\
initial state S;
transition "st" S - legStateChange / {
  set($st=none);
  if sbc.isDisconnected() { set($st=Disconnected); }
  if sbc.isNoReply() { set($st=NoReply); }
  if sbc.isRinging() { set($st=Ringing); }
  if sbc.isConnected() { set($st=Connected); }
  if sbc.isDisconnecting() { set($st=Disconnecting); }
  sbc.getCallStatus($gs);
} -> S;
transition "start" S - start / { set($a=no); if sbc.isALeg() { set($a=yes); } } -> S;
transition "q" S - event(#q == hold) / sbc.putOnHold() -> S;
transition "r" S - event(#q == resume) / sbc.resumeHeld() -> S;
transition "chk" S - event(#q == check) / { set($held=no); if sbc.isOnHold() { set($held=yes); } } -> S;
"""


def test_state_conditions_and_getCallStatus_M_sbc_7_32_to_38(tmp_path: Path) -> None:
    call = sbc(tmp_path, STATUS_SCRIPT)
    assert var(call, "a", "a") == "yes" and var(call, "b", "a") == "no"
    call.ring()
    assert var(call, "a", "st") == "Ringing" and var(call, "a", "gs") == "Ringing"
    call.answer()
    assert var(call, "b", "st") == "Connected" and var(call, "b", "gs") == "Connected"
    a = call.leg("a")
    for status in CallStatus:
        a.status = status
        a.cc.on_state_change(status, StopReason.OTHER, None)
        assert var(call, "a", "gs") == status.value
        assert var(call, "a", "st") == (status.value if status != CallStatus.UNKNOWN else "none")


def test_putOnHold_resumeHeld_isOnHold_M_sbc_5_6_33(tmp_path: Path) -> None:
    call = sbc(tmp_path, STATUS_SCRIPT)
    call.answer()
    call.post_event("a", {"q": "hold"})
    call.post_event("a", {"q": "check"})
    assert var(call, "a", "held") == "yes"
    call.post_event("a", {"q": "resume"})
    call.post_event("a", {"q": "check"})
    assert var(call, "a", "held") == "no"
    a = call.leg("a")
    assert [d[0] for d in a.did] == ["putOnHold", "resumeHeld"]
    assert [m.body for m in a.sent] == [b"a=sendonly", b"a=sendrecv"]  # type: ignore[union-attr]


# -- profile (M-sbc-1) ---------------------------------------------------------------------------------


def test_profileSet_in_start_changes_the_leg_profile_and_errors_M_sbc_1(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "start" S - start / {
          sbc.profileSet(RURI, "sip:carol@example.com");
          sbc.profileSet(force_symmetric_rtp, yes);
          sbc.profileSet(force_outbound_proxy, true);
          set($e0=$errno);
          sbc.profileSet(FROM, x);
          set($e1=$errno); set($s1=$strerror);
          sbc.profileSet(rtprelay_interface, nope);
          set($e2=$errno); set($s2=$strerror);
        } -> S;
        """,
    )
    a = call.leg("a")
    assert a.profile.ruri == "sip:carol@example.com"
    assert a.profile.force_symmetric_rtp is False  # QUIRK: only `true` is true
    assert a.profile.force_outbound_proxy is True
    assert var(call, "a", "e0") in (None, "")
    assert (var(call, "a", "e1"), var(call, "a", "s1")) == ("arg", "Call profile property 'FROM' not known")
    assert (var(call, "a", "e2"), var(call, "a", "s2")) == ("arg", "rtprelay_interface 'nope' not present")
    assert call.base_profile.ruri == ""  # the call's own copy changed, not the profile
    assert [d for d in a.did if d[0] == "profileSet"] == [
        ("profileSet", "RURI", "sip:carol@example.com"),
        ("profileSet", "force_symmetric_rtp", "yes"),
        ("profileSet", "force_outbound_proxy", "true"),
    ]


def test_profileSet_refuse_with_refuses_the_call(tmp_path: Path) -> None:
    """A refuse_with set in the start transition: the relay answers it and relays nothing."""
    call = sbc(
        tmp_path,
        'initial state S;\ntransition "s" S - start / sbc.profileSet(refuse_with, "403 Forbidden") -> S;\n',
    )
    assert [(r.code, r.reason) for r in call.replies] == [(403, "Forbidden")]
    assert call.b is None and call.b_invites == [] and call.ended


def test_profileSet_prefers_call_profile_object_M_sbc_1(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        'initial state S;\ntransition "r" S - RelayInit / sbc.profileSet(To, "sip:relay@x") -> S;\n',
    )
    relay_profile = CallProfile("relay")
    call.leg("a").cc.on_relay_event("init", relay_profile)
    assert relay_profile.to == "sip:relay@x"
    assert call.leg("a").profile.to == ""


# -- call control (M-sbc-2 … 4) ---------------------------------------------------------------------------


def test_stopCall_ends_every_leg_with_reason_other_M_sbc_2(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "stop" S - event(#do == stop) / sbc.stopCall("too long") -> S;
        transition "ls" S - legStateChange / { set($r=#reason); set($d=#desc); set($st=#SBCCallStatus); } -> S;
        """,
    )
    call.answer()
    call.post_event("b", {"do": "stop"})
    for side in ("a", "b"):
        assert (var(call, side, "st"), var(call, side, "r"), var(call, side, "d")) == (
            "Disconnected", "other", "too long")
    assert call.ended
    assert call.leg("b").did == [("stopCall", "too long")]
    assert [m.method for m in call.leg("a").sent] == ["BYE"]  # type: ignore[union-attr]


def test_disconnect_and_sendDisconnectEvent_M_sbc_3_4(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "d" S - event(#do == d) / { sbc.disconnect(true, true); dlg.getOtherId($other); } -> S;
        transition "e" S - event(#do == e) / { sbc.sendDisconnectEvent(false); dlg.getOtherId($before); } -> S;
        transition "o" S - event(#do == o) / dlg.getOtherId($after) -> S;
        """,
    )
    call.answer()
    b_tag = call.leg("b").local_tag
    call.post_event("a", {"do": "e"})
    assert var(call, "a", "before") == b_tag  # queued: still connected during the event
    call.post_event("a", {"do": "o"})
    assert var(call, "a", "after") == ""
    assert call.leg("a").did == [("sendDisconnectEvent", "no-hold"), ("disconnect", "no-hold", "drop-media")]
    # an explicit disconnect with hold on a connected pair
    call2 = sbc(tmp_path, (tmp_path / "ctl.dsm").read_text().split("\n", 2)[2])
    call2.answer()
    call2.post_event("b", {"do": "d"})
    assert var(call2, "b", "other") == ""
    assert call2.leg("b").is_on_hold() and call2.leg("a").peer is None
    assert not call2.ended  # the dialogs stay


def test_disconnect_terminates_an_unconnected_b_leg_M_sbc_3(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "d" S - event(#do == d) / sbc.disconnect(false) -> S;\n')
    call.ring()
    call.post_event("a", {"do": "d"})
    assert call.leg("b").destroyed and [m.method for m in call.leg("b").sent] == ["CANCEL"]  # type: ignore[union-attr]


# -- reliable events and callees (M-sbc-8, 9) ----------------------------------------------------------------


RELIABLE = """\
initial state S;
transition "ask" S - event(#do == ask) / {
  set($q=question); set($p.x=1); set($p.y=2); set($ok=yes); set($no=none);
  sbc.relayReliableEvent(q;p.;missing, ok, no);
  set($ok=changed);
} -> S;
transition "got" S - B2Bevent(#q == question) / {
  set($got=#q); set($gx=#p.x);
  if test($answer == yes) { set(#processed=true); }
} -> S;
transition "reply" S - B2Bevent / { set($reply=#ok); set($noreply=#no); } -> S;
"""


def test_relayReliableEvent_processed_round_trip_M_sbc_8(tmp_path: Path) -> None:
    call = sbc(tmp_path, RELIABLE, values={"answer": "yes"})
    call.answer()
    call.post_event("a", {"do": "ask"})
    assert (var(call, "b", "got"), var(call, "b", "gx")) == ("question", "1")
    assert var(call, "a", "reply") == "yes"  # the value when the action ran
    assert var(call, "a", "noreply") == ""


def test_relayReliableEvent_unprocessed_and_undeliverable_M_sbc_8(tmp_path: Path) -> None:
    call = sbc(tmp_path, RELIABLE, values={"answer": "no"})
    call.answer()
    call.post_event("a", {"do": "ask"})
    assert (var(call, "a", "reply"), var(call, "a", "noreply")) == ("", "none")
    call2 = sbc(tmp_path, RELIABLE, values={"answer": "yes"})
    call2.leg("a").peer = None
    call2.post_event("a", {"do": "ask"})
    assert var(call2, "a", "noreply") == "none"


def test_addCallee_var_and_ltag_modes_M_sbc_9(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "add" S - event(#do == add) / {
          set($c.remote_party="<sip:dave@example.com>");
          set($c.local_party="<sip:sbc@example.org>");
          set($c.hdrs="X-Why: test");
          set($c.transparent_dlg_id=true);
          sbc.addCallee(var, c);
        } -> S;
        transition "other" S - event(#do == other) / sbc.addCallee(foo, c) -> S;
        transition "re" S - event(#do == re) / { set($l.ltag=#tag); sbc.addCallee(ltag, l); } -> S;
        """,
    )
    first_b = call.leg("b")
    call.post_event("a", {"do": "other"})
    assert len(call.legs) == 2
    call.post_event("a", {"do": "add"})
    assert len(call.legs) == 3 and call.b is not first_b
    invite = call.b_invites[-1]
    assert invite.uri == "sip:dave@example.com"
    assert invite.headers.get("From") == "<sip:sbc@example.org>"
    assert invite.headers.get("X-Why") == "test"
    assert call.leg("a").did[0] == ("addCallee", "transparent_dlg_id=true", "local_party=<sip:sbc@example.org>",
            "remote_party=<sip:dave@example.com>", "hdrs=X-Why: test")
    call.post_event("a", {"do": "re", "tag": first_b.local_tag})
    assert call.leg("a").peer is first_b


# -- media (M-sbc-10 … 13) ------------------------------------------------------------------------------------


MEDIA = """\
initial state S;
transition "m" S - event(#do == m) / {
  sbc.enableRelayDTMFReceiving(true); set($e1=$errno); set($s1=$strerror);
  sbc.streamsSetReceiving(false, true); set($e2=$errno);
  sbc.addToMediaProcessor();
  sbc.removeFromMediaProcessor();
} -> S;
"""


def test_media_actions_without_media_session_M_sbc_10_13(tmp_path: Path) -> None:
    call = sbc(tmp_path, MEDIA)
    call.post_event("a", {"do": "m"})
    assert var(call, "a", "e1") == "arg"
    assert var(call, "a", "s1") == "No B2BMedia in current SBC call leg, sorry"
    assert var(call, "a", "e2") == "arg"
    assert call.leg("a").did == [("addToMediaProcessor",), ("removeFromMediaProcessor",)]


def test_media_actions_with_rtp_relay_M_sbc_10_to_13(tmp_path: Path) -> None:
    profile = CallProfile("p", enable_rtp_relay=True)
    call = sbc(tmp_path, MEDIA, profile=profile)
    call.post_event("a", {"do": "m"})
    a = call.leg("a")
    assert var(call, "a", "e1") in (None, "")
    assert a.relay_dtmf and a.receiving == (False, True)
    assert [d[0] for d in a.did] == ["enableRelayDTMFReceiving", "streamsSetReceiving",
                                     "addToMediaProcessor", "removeFromMediaProcessor"]


# -- dialog (M-sbc-14 … 17) --------------------------------------------------------------------------------------


def test_ext_local_tag_M_sbc_14_15(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S enter { sbc.setExtLocalTag("ext-1"); };\n'
                         'state T;\ntransition "c" S - event / sbc.clearExtLocalTag() -> T;\n')
    assert call.leg("a").ext_local_tag == "ext-1"
    call.post_event("a", {})
    assert call.leg("a").ext_local_tag == ""


def test_setLastReq_in_invite_lets_dlg_reply_answer_M_sbc_16(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "inv" S - invite / { sbc.setLastReq(); dlg.reply(480, "Not Now"); } -> S;
        transition "req" S - sipRequest / { sbc.setLastReq(); set(#StopProcessing=true); } -> S;
        """,
    )
    assert [(r.code, r.reason) for r in call.replies] == [(480, "Not Now")]
    assert call.b is None and call.ended


def test_setLastReq_with_a_wrapped_request_fails_M_sbc_16(tmp_path: Path) -> None:
    call = sbc(tmp_path, 'initial state S;\ntransition "req" S - sipRequest / sbc.setLastReq() -> S;\n')
    call.answer()
    call.request("a", "INFO")
    assert "Could not find request avar as request" in call.transcript("a")


SDP_B = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.1.1.1\r\n"


def test_testSDPConnectionAddress_M_sbc_17(tmp_path: Path) -> None:
    call = sbc(
        tmp_path,
        """\
        initial state S;
        transition "rep" S - sipReply / { sbc.testSDPConnectionAddress($addrs); set($m=$match_connection_addr); } -> S;
        transition "set" S - event / set($addrs=#a) -> S;
        """,
    )
    call.answer()
    call.post_event("b", {"a": "1.2.3.4,10.0.0.9"})
    call.reply("b", 200, "OK", body=SDP_B)
    assert var(call, "b", "m") == "true"
    call.post_event("b", {"a": "1.2.3.4, 10.0.0.9"})  # not trimmed
    call.reply("b", 200, "OK", body=SDP_B)
    assert var(call, "b", "m") == "false"
    call.post_event("b", {"a": "10.1.1.1"})  # the media-level c= does not count
    call.reply("b", 200, "OK", body=SDP_B)
    assert var(call, "b", "m") == "false"
    call.leg("b").session.vars.pop("match_connection_addr")  # type: ignore[union-attr]
    call.reply("b", 200, "OK")
    assert var(call, "b", "m") == ""
    assert "No SDP in reply" in call.transcript("b")


def test_session_connection_address_parser() -> None:
    assert session_connection_address(SDP_B) == "10.0.0.9"
    assert session_connection_address("v=0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 1.1.1.1\r\n") is None
    assert session_connection_address("v=0\nc=IN IP4 224.2.1.1/127\n") == "224.2.1.1"
