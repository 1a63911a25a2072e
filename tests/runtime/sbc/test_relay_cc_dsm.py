"""The example cc_dsm bundle driving relayed calls on the wire (issue 21, M-ccdsm-1/2, E-163).

sipp caller -> ``dsm serve --config dsm.conf --sbc sbc.conf`` -> sipp callee, with the
profile handing each leg to ``examples/sbc/sbc_control.dsm``: a blacklisted
caller is refused with 403 by ``sbc.profileSet(refuse_with, …)`` in the start
transition (before anything is relayed); another caller is connected and the
call is ended by ``sbc.stopCall`` when the bundle's call-time limit (here
1 s, overridden by the profile's ``ctl_config.max_call_time``) is reached.
"""

from __future__ import annotations

from pathlib import Path

from relay_rig import SbcRig, caller_invite, recv_request, scenario
from test_relay_wire import callee, caller_gets_bye
from test_sip_serve import ACK_FAILURE, reply_to_last

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sbc"


def served_bundle(tmp: Path) -> Path:
    """A ``dsm.conf`` whose ``conf_dir`` holds the example bundle (its diagrams by absolute path)."""
    bundles = tmp / "bundles"
    bundles.mkdir()
    text = (EXAMPLE / "sbc_control.conf").read_text()
    text = text.replace("diag_path=examples/sbc/", f"diag_path={EXAMPLE}/")
    (bundles / "sbc_control.conf").write_text(text)
    conf = tmp / "dsm.conf"
    conf.write_text(f"diag_path={EXAMPLE}/\nconf_dir={bundles}/\nload_diags=sbc_control\n")
    return conf


def control_profile(port: int) -> str:
    return (
        f"next_hop=127.0.0.1:{port}\n"
        "call_control=ctl\nctl_module=cc_dsm\nctl_app_bundle=sbc_control\n"
        "ctl_start_diag=sbc_control\nctl_caller=$fU\nctl_config.max_call_time=1\n"
    )


def test_blacklisted_caller_is_refused_403_before_anything_is_relayed(rig: SbcRig) -> None:
    """``$fU`` = mallory is in the bundle's blacklist: 403 to the caller, no B leg."""
    rig.profile("ctl", control_profile(9))
    rig.start(["ctl"], "ctl", config=served_bundle(rig.tmp))
    invite = caller_invite("bob@127.0.0.1:9").replace("sip:alice@", "sip:mallory@")
    rig.call(scenario("caller", invite, '  <recv response="403" response_txn="invite"/>\n', ACK_FAILURE))
    (call,) = rig.ended_calls(1)
    assert call.codes == [403] and call.b is None


def test_call_time_limit_of_the_bundle_ends_a_relayed_call(rig: SbcRig) -> None:
    """An allowed caller is connected; one second after the answer the A leg's script calls
    ``sbc.stopCall`` and both legs get BYE."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())))
    rig.profile("ctl", control_profile(port))
    rig.start(["ctl"], "ctl", config=served_bundle(rig.tmp))
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.end_cause == "call time limit"
    assert rig.server is not None
    assert "call time limit reached" in rig.server.log_text.getvalue()
