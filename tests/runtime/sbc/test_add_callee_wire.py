"""``sbc.addCallee`` from a cc_dsm script on the wire (M-sbc-9): the ``var`` flags and the ``ltag``
mode that reconnects another call's leg.

sipp callers -> ``dsm serve --sbc`` with a cc_dsm bundle -> sipp callees on loopback.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from sip_rig import LIMIT, ThreadedServer
from test_relay_wire import ANSWERED, CALLER_BYE, callee, recv_reply
from test_sip_b2b import DTMF_PCAP, EchoUas
from test_sip_dialout import Uas, recv, reply
from test_sip_serve import ACK_2XX, pause, reply_to_last

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def bundle(rig: SbcRig, diag: str) -> Path:
    """A ``dsm.conf`` serving the test script ``diag`` as the bundle ``b``."""
    bundles = rig.tmp / "bundles"
    bundles.mkdir()
    (bundles / "b.conf").write_text(f"diag_path={SCRIPTS}/\nload_diags={diag}\n")
    conf = rig.tmp / "dsm.conf"
    conf.write_text(f"diag_path={SCRIPTS}/\nconf_dir={bundles}/\nload_diags={diag}\n")
    return conf


def cc_dsm(diag: str) -> str:
    return f"call_control=cc\ncc_module=cc_dsm\ncc_app_bundle=b\ncc_start_diag={diag}\n"


def reconnect(rig: SbcRig, server: ThreadedServer, port: int, *media: str) -> str:
    """Caller 1 calls the callee at ``port`` (in a thread: it waits for its BYE); once call 1 is
    connected, caller 2 names call 1's B leg by its local tag (``X-Pickup``), sends ``media``
    after the answer and hangs up.  Returns the tag; both callers' sipp runs must have passed."""
    failures: list[BaseException] = []

    def first_caller() -> None:
        try:
            rig.call(
                scenario(
                    "caller1", caller_invite(f"bob@127.0.0.1:{port}"), ANSWERED, ACK_2XX,
                    recv_request("BYE"), reply_to_last(), refs="x,totag",
                ),  # fmt: skip
                name="c1",
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    thread = threading.Thread(target=first_caller)
    thread.start()
    try:
        deadline = time.monotonic() + LIMIT
        tag = ""
        while not tag:
            calls = server.on_loop(lambda: list(rig.relay.recent))
            if calls and calls[0].b is not None and calls[0].b_state == "connected" and calls[0].a_state == "connected":
                tag = calls[0].b.local_tag
            elif time.monotonic() > deadline or failures:
                raise AssertionError(f"call 1 not connected: {calls} {failures}")
            else:
                time.sleep(0.05)
        rig.call(
            scenario(
                "caller2", caller_invite(f"bob@127.0.0.1:{port}", f"      X-Pickup: {tag}\n"), ANSWERED, ACK_2XX,
                pause(300), *media, CALLER_BYE, refs="x,totag",
            ),  # fmt: skip
            name="c2",
        )
    finally:
        thread.join(LIMIT)
    assert not failures, failures
    return tag


def test_script_adds_a_callee_with_next_hop_patched_ruri_kept_from_tag_and_header(
    rig: SbcRig, sipp: str, tmp_path: Path
) -> None:
    """The first callee is busy; the A leg's script (``bLegRefused``, ``#StopProcessing``) first asks
    for an interface that does not exist (``errno`` arg, ``outbound_interface 'lan2' not present``,
    nothing sent), then adds the second callee: R-URI host:port patched to its ``next_hop``, the
    From of ``local_party`` with the caller's From tag (``transparent_dlg_id``), ``X-Added``."""
    first = rig.callee(callee(answer=(reply(486, "Busy Here"), recv("ACK"))))
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = Uas(
        sipp,
        second_dir,
        callee(
            check("^INVITE sip:carol@127.0.0.1:[0-9]+ SIP/2.0", "ruri"),
            check("sip:sbc@127.0.0.1.;tag=[0-9]+SIPpTag00", "from", 'search_in="hdr" header="From:"'),
            check("X-Added: yes", "hdr"),
            then=(recv_request("BYE"), reply_to_last()),
        ),
    )
    try:
        rig.profile("cc", f"next_hop=127.0.0.1:{first}\n{cc_dsm('add_callee_wire')}cc_second=127.0.0.1:{second.port}\n")
        rig.start(["cc"], "cc", config=bundle(rig, "add_callee_wire"))
        rig.call(
            scenario(
                "caller", caller_invite(f"bob@127.0.0.1:{first}"), recv_reply(180), ANSWERED, ACK_2XX,
                CALLER_BYE, refs="x,totag",
            )  # fmt: skip
        )
        rig.finish_callee()
        second.finish()
    finally:
        second.close()
    (call,) = rig.ended_calls(1)
    assert call.codes == [180, 200]
    assert call.plan is not None and call.plan.ruri == f"sip:carol@127.0.0.1:{second.port}"
    assert call.profile.raw["transparent_dlg_id"] == "true"
    log = rig.server.log_text.getvalue() if rig.server is not None else ""
    assert "outbound_interface 'lan2' not present" in log, log


def test_a_caller_is_reconnected_to_another_calls_callee(rig: SbcRig) -> None:
    """Call 1 is connected (caller 1 - callee); caller 2 names call 1's B leg by its local tag
    (``X-Pickup``), so its script's ``sbc.addCallee(ltag, …)`` takes that leg: caller 1 gets BYE,
    the callee a re-INVITE with caller 2's SDP and ``X-Reconnected``, its 200 answers caller 2;
    caller 2's BYE then reaches the callee."""
    port = rig.callee(
        scenario(
            "callee", recv_request("INVITE"), reply(200, "OK", sdp=True), recv("ACK"),
            recv_request("INVITE", check("X-Reconnected: yes", "re"), check("o=sipp 53655765", "sdp")),
            reply(200, "OK", sdp=True), recv("ACK"), recv_request("BYE"), reply_to_last(),
            refs="re,sdp",
        )  # fmt: skip
    )
    rig.profile("cc", f"next_hop=127.0.0.1:{port}\n{cc_dsm('reconnect_wire')}cc_pickup=$H(X-Pickup)\n")
    server = rig.start(["cc"], "cc", config=bundle(rig, "reconnect_wire"))
    tag = reconnect(rig, server, port)
    rig.finish_callee()
    one, two = rig.ended_calls(2)
    assert one.end_cause == "reconnected"
    assert two.codes == [200] and two.b is not None and two.b.local_tag == tag
    assert two.end_cause == "SipRequest"


def test_a_reconnected_callee_joins_this_calls_rtp_relay(rig: SbcRig) -> None:
    """As above with ``enable_rtp_relay=yes`` on both calls: the callee's re-INVITE offers call 2's
    relay port (not call 1's), caller 2 gets call 2's A-side port, call 1's relay is closed, and
    caller 2's RTP reaches the (echoing) callee through call 2's relay and comes back (counted
    both ways)."""
    if not DTMF_PCAP.exists():
        pytest.skip("sipp's dtmf_2833_1.pcap is not installed")
    port = rig.callee(
        scenario(
            "callee", recv_request("INVITE"), reply(200, "OK", sdp=True), recv("ACK"),
            recv_request(
                "INVITE", check("X-Reconnected: yes", "re"), check("c=IN IP4 127.0.0.1", "c"),
                check("m=audio [0-9]+ RTP/AVP 0 101", "m"),
            ),
            reply(200, "OK", sdp=True), recv("ACK"), recv_request("BYE"), reply_to_last(),
            refs="re,c,m",
        ),  # fmt: skip
        uas=EchoUas,
    )
    relay = "enable_rtp_relay=yes\n"
    rig.profile("cc", f"next_hop=127.0.0.1:{port}\n{relay}{cc_dsm('reconnect_wire')}cc_pickup=$H(X-Pickup)\n")
    server = rig.start(["cc"], "cc", config=bundle(rig, "reconnect_wire"))
    play = f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
    tag = reconnect(rig, server, port, play, pause(1500))
    rig.finish_callee()
    one, two = rig.ended_calls(2)
    assert one.end_cause == "reconnected"
    assert one.media is not None and one.media.closed
    assert two.codes == [200] and two.b is not None and two.b.local_tag == tag
    media = two.media
    assert media is not None and media.closed
    assert media.b.port not in (one.media.a.port, one.media.b.port)
    offered = two.last_sdp_to[id(two.b)]
    assert f"m=audio {media.b.port} ".encode() in offered, offered
    assert f"m=audio {media.a.port} ".encode() in two.last_sdp_to[id(two.a)]
    assert media.a.received > 0 and media.b.sent == media.a.received, (media.a, media.b)
    assert media.b.received > 0 and media.a.sent > 0, (media.a, media.b)
