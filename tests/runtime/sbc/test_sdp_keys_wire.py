"""The SDP and Contact keys on the wire (issue 21): sipp caller -> ``dsm serve --sbc`` -> sipp callee.

One profile with ``sdp_filter`` (towards the callee), ``aleg_sdp_filter``
(towards the caller), ``sdp_alines_filter`` and ``sdp_anonymize``; sipp's
``ereg`` checks (and inverse checks) what each side receives.  Then
``bleg_contact_*`` with the callee's BYE routed by the rewritten Contact.
"""

from __future__ import annotations

from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLEE_BYE, CALLER_BYE, callee, caller_gets_bye, recv_reply
from test_sip_dialout import recv, reply
from test_sip_serve import ACK_2XX, pause, reply_to_last

from dsm.runtime.sbc.leg import CallStatus


def absent(regexp: str, name: str) -> str:
    """A sipp check that fails the scenario when ``regexp`` is found in the message."""
    return f'<ereg regexp="{regexp}" search_in="msg" check_it_inverse="true" assign_to="{name}"/>'


PROFILE = """\
next_hop=127.0.0.1:{port}
sdp_filter=whitelist
sdpfilter_list=pcmu,telephone-event
aleg_sdp_filter=blacklist
aleg_sdpfilter_list=telephone-event
sdp_alines_filter=blacklist
sdp_alinesfilter_list=x-secret,tool
sdp_anonymize=yes
"""


def test_sdp_filters_and_anonymize_on_both_legs(rig: SbcRig) -> None:
    """Callee: the caller's codecs (sdp_filter), no a=X-secret, o=/s= anonymized.
    Caller: the answer without telephone-event (aleg_sdp_filter), o= anonymized."""
    port = rig.callee(
        callee(
            check("m=audio [0-9]+ RTP/AVP 0 101", "a"),
            check("o=- 53655765 2353687637 IN IP4 127.0.0.1", "b"),
            check("s=-", "c"),
            absent("X-secret|Alice|tool:", "d"),
            absent("o=sipp", "e"),
            answer=(reply(180, "Ringing"), reply(200, "OK", sdp=True), recv("ACK")),
            then=(recv_request("BYE"), reply_to_last()),
        )
    )
    rig.profile("sdp", PROFILE.format(port=port))
    rig.start(["sdp"], "sdp")
    invite = caller_invite(f"bob@127.0.0.1:{port}").replace(
        "      s=-\n", "      s=Alice phone\n      a=tool:softphone 9\n"
    ).replace("      a=fmtp:101 0-15\n", "      a=fmtp:101 0-15\n      a=X-secret:42\n")
    answered = ANSWERED.replace(
        "<action>",
        "<action>"
        + check("o=- 1 1 IN IP4 127.0.0.1", "f")
        + check("m=audio [0-9]+ RTP/AVP 0[\\r\\n]", "g")
        + absent("telephone-event", "h"),
    )
    rig.call(
        scenario("caller", invite, recv_reply(180), answered, ACK_2XX, pause(200), CALLER_BYE, refs="x,totag,f,g,h")
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.a.status == CallStatus.DISCONNECTED


def test_bleg_contact_parts_reach_the_callee_and_its_bye_still_crosses(rig: SbcRig) -> None:
    """bleg_contact_*: the callee sees the rewritten Contact, sends its BYE to it (in-dialog
    routing), and the BYE crosses to the caller.  No display name here: sipp's ``[next_url]``
    cannot take a Contact with one (the unit tests cover ``bleg_contact_displayname``)."""
    port = rig.callee(
        callee(
            check("^ *&lt;sip:gw-alice@127.0.0.1:[0-9]+;x-leg=b&gt;;x-p=1", "a", 'search_in="hdr" header="Contact:"'),
            then=(pause(300), CALLEE_BYE),
        )
    )
    rig.profile(
        "c",
        f"next_hop=127.0.0.1:{port}\nbleg_contact_user=gw-$fU\n"
        "bleg_contact_uri_params=x-leg=b\nbleg_contact_params=x-p=1\n",
    )
    rig.start(["c"], "c")
    rig.call(caller_gets_bye(port))
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.end_cause == "SipRequest"
