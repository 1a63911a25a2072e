"""The addCallee test scripts in the harness (M-sbc-9): what each asks of its leg, without SIP."""

from __future__ import annotations

from pathlib import Path

from dsm.runtime.harness import Harness

SCRIPTS = Path(__file__).parent / "scripts"


def test_add_callee_script_skips_an_unknown_interface_and_adds_the_second_callee() -> None:
    h = Harness(scripts=SCRIPTS / "add_callee_wire.dsm")
    call = h.sbc_call("add_callee_wire", values={"second": "127.0.0.1:5999"})
    call.refuse(486)
    a = call.leg("a")
    assert a.session is not None
    assert a.session.vars["errno"] == "arg"
    assert a.session.vars["strerror"] == "outbound_interface 'lan2' not present"
    (added,) = [d for d in a.did if d[0] == "addCallee"]  # the bad one added nothing
    assert "next_hop=127.0.0.1:5999" in added and "transparent_dlg_id=true" in added
    assert "next_hop_patch_ruri=true" in added and "hdrs=X-Added: yes" in added
    assert call.b is not None and call.b.invite.headers.get("X-Added") == "yes"


def test_reconnect_script_names_the_leg_to_pick_up_in_its_start_transition() -> None:
    h = Harness(scripts=SCRIPTS / "reconnect_wire.dsm")
    call = h.sbc_call("reconnect_wire", values={"pickup": "leg-tag-1"})
    assert ("reconnectLeg", "leg-tag-1", "X-Reconnected: yes") in call.leg("a").did
    plain = h.sbc_call("reconnect_wire", values={"pickup": ""})
    assert not [d for d in plain.leg("a").did if d[0] == "reconnectLeg"]
