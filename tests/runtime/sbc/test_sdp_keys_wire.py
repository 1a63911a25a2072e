"""The SDP keys on the wire (issue 21): sipp caller -> ``dsm serve --sbc`` -> sipp callee.

One profile with ``sdp_filter`` (towards the callee), ``aleg_sdp_filter``
(towards the caller), ``sdp_alines_filter`` and ``sdp_anonymize``; sipp's
``ereg`` checks (and inverse checks) what each side receives.
"""

from __future__ import annotations

from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLER_BYE, callee, recv_reply
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
