"""A leg-handover script (the structure of the reference's ``sbc_test_app``) driving a relayed call.

sipp caller -> ``dsm serve --sbc`` (``cc_dsm``, one session per leg) -> sipp callee.  One second
after the answer the A leg's session finds the B leg's session with
``dlg.getOtherId``, lets go of it (``sbc.disconnect``) and posts it an event;
the B leg's session ends the call with ``sbc.stopCall``: both parties get
BYE (M-ccdsm-2, M-sbc-2, M-sbc-3, M-dlg-9, E-165).  The harness runs the
same structure with the announcement (test_cc_dsm_handover.py).
"""

from __future__ import annotations

from pathlib import Path

from relay_rig import SbcRig, recv_request
from test_relay_wire import callee, caller_gets_bye
from test_sip_serve import reply_to_last

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_a_leg_hands_over_and_the_b_legs_script_ends_the_call(rig: SbcRig) -> None:
    bundles = rig.tmp / "bundles"
    bundles.mkdir()
    (bundles / "handover.conf").write_text(f"diag_path={SCRIPTS}/\nload_diags=leg_handover_wire\n")
    conf = rig.tmp / "dsm.conf"
    conf.write_text(f"diag_path={SCRIPTS}/\nconf_dir={bundles}/\nload_diags=leg_handover_wire\n")
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile(
        "ctl",
        f"next_hop=127.0.0.1:{port}\ncall_control=cc\ncc_module=cc_dsm\ncc_app_bundle=handover\n"
        "cc_start_diag=leg_handover_wire\ncc_handover_after=1\n",
    )
    rig.start(["ctl"], "ctl", config=conf)
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "normal-call-clearance"
    assert call.b is not None
    log = rig.server.log_text.getvalue() if rig.server is not None else ""
    a_session = f"session={call.a.local_tag} msg=\"FSM: $peer_tag '{call.b.local_tag}'\""
    b_session = f"session={call.b.local_tag} msg=\"FSM: #from_tag '{call.a.local_tag}'\""
    assert a_session in log and b_session in log, log  # each found the other's session
    assert "level=warn" not in log, log
