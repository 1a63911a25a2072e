"""The SBC's simple relay on the wire (issue 21): non-INVITE requests outside calls.

sipp subscriber/sender -> ``dsm serve --sbc`` -> sipp notifier/receiver.  Every
profile sends the request on with ``next_hop=127.0.0.1:PORT`` while the R-URI
names an unroutable host, so each test also shows the next hop with its port.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from relay_rig import SbcRig, check, scenario
from sip_rig import LIMIT
from test_sip_serve import reply_to_last

CALLER_SUBSCRIBE = """\
  <send retrans="500">
    <![CDATA[
      SUBSCRIBE sip:bob@bob.invalid SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bob@bob.invalid>
      Call-ID: [call_id]
      CSeq: 1 SUBSCRIBE
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Event: presence
      Expires: 60
      Content-Length: 0
    ]]>
  </send>
"""


def caller_message(extra: str = "") -> str:
    return f"""\
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:bob@bob.invalid SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:bob@bob.invalid>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      X-Secret: do-not-pass
      X-Public: may-pass
{extra}      Content-Type: text/plain
      Content-Length: [len]

      hello bob
    ]]>
  </send>
"""


def recv_with(kind: str, *checks: str, rrs: bool = False) -> str:
    """Receive a request (``kind`` = ``request="X"``) or response, failing unless every check matches."""
    body = "".join(f"      {c}\n" for c in checks)
    action = f"    <action>\n{body}    </action>\n" if checks else ""
    flag = ' rrs="true"' if rrs else ""
    return f"  <recv {kind}{flag}>\n{action}  </recv>\n"


def reply_tagged(status: str, extra: str = "") -> str:
    """The callee's answer to the request just received, with its own To tag."""
    return f"""\
  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:bob@[local_ip]:[local_port]>
{extra}      Content-Length: 0
    ]]>
  </send>
"""


def notify(cseq: int, state: str, text: str) -> str:
    """The notifier's NOTIFY in the subscription it accepted (From/To of the SUBSCRIBE swapped)."""
    return f"""\
  <send retrans="500">
    <![CDATA[
      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to_hdr];tag=[pid]SIPpTag01[call_number]
      To: [$from_hdr]
      Call-ID: [$cid]
      CSeq: {cseq} NOTIFY
      Contact: <sip:bob@[local_ip]:[local_port]>
      Max-Forwards: 70
      Event: presence
      Subscription-State: {state}
      Content-Type: text/plain
      Content-Length: [len]

      {text}
    ]]>
  </send>
  <recv response="200"/>
"""


KEEP = (
    check("^ *(.*)", "from_hdr", 'search_in="hdr" header="From:"'),
    check("^ *(.*)", "to_hdr", 'search_in="hdr" header="To:"'),
    check("^ *(.*)", "cid", 'search_in="hdr" header="Call-ID:"'),
)


def absent(regexp: str, name: str) -> str:
    return f'<ereg regexp="{regexp}" search_in="msg" check_it_inverse="true" assign_to="{name}"/>'


def wait_for(rig: SbcRig, what: str, predicate: object) -> None:
    """Until ``predicate(simple_relay)`` holds on the server's loop (bounded)."""
    assert rig.server is not None and callable(predicate)
    server = rig.server
    deadline = time.monotonic() + LIMIT
    while not server.on_loop(lambda: predicate(rig.relay.simple)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}\n{server.log_text.getvalue()[-3000:]}")
        time.sleep(0.05)


def test_subscribe_200_and_notify_cross_the_sbc_and_the_subscription_is_forgotten(rig: SbcRig) -> None:
    """SUBSCRIBE goes on under a new Call-ID with our own From tag; the notifier's 200 comes back
    with our To tag; its NOTIFYs (in its dialog with us) reach the subscriber in the subscriber's
    dialog (its Call-ID and tag); ``Subscription-State: terminated`` ends the relayed dialog."""
    port = rig.callee(
        scenario(
            "notifier",
            recv_with(
                'request="SUBSCRIBE"',
                check("^SUBSCRIBE sip:bob@bob.invalid SIP/2.0", "a"),
                check("^ *[0-9a-f]{16}@127.0.0.1", "b", 'search_in="hdr" header="Call-ID:"'),
                check("presence", "c", 'search_in="hdr" header="Event:"'),
                *KEEP,
                rrs=True,
            ),
            reply_tagged("200 OK", "      Expires: 60\n"),
            notify(1, "active;expires=60", "bob-is-here"),
            notify(2, "terminated;reason=timeout", "bob-is-gone"),
            refs="a,b,c,from_hdr,to_hdr,cid",
        )
    )
    rig.profile("relay", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["relay"], "relay")
    rig.call(
        scenario(
            "subscriber",
            CALLER_SUBSCRIBE,
            recv_with('response="200"', check(";tag=[0-9a-f]{16}", "t", 'search_in="hdr" header="To:"')),
            recv_with(
                'request="NOTIFY"',
                check("bob-is-here", "n1"),
                check("SIPpTag00", "n2", 'search_in="hdr" header="To:"'),
                check("sip:[^@]*@?127.0.0.1", "n3", 'search_in="hdr" header="Contact:"'),
            ),
            reply_to_last(),
            recv_with('request="NOTIFY"', check("bob-is-gone", "n4")),
            reply_to_last(),
            refs="t,n1,n2,n3,n4",
        )
    )
    rig.finish_callee()
    wait_for(rig, "the relayed subscription was not forgotten", lambda simple: not simple.dialogs and not simple.sides)
    assert rig.server is not None
    assert rig.server.on_loop(lambda: rig.relay.simple.relayed) == 1


def test_message_is_relayed_with_the_profile_from_to_and_header_filter(rig: SbcRig) -> None:
    """MESSAGE: the receiver sees the profile's From and To, the blacklisted header is gone,
    the others and the body pass; the sender gets the 200."""
    port = rig.callee(
        scenario(
            "receiver",
            recv_with(
                'request="MESSAGE"',
                check("anonymous@anonymous.invalid", "a", 'search_in="hdr" header="From:"'),
                check("sip:carol@example.net", "b", 'search_in="hdr" header="To:"'),
                check("X-Public: may-pass", "c"),
                check("X-Relayed: yes", "f"),
                check("hello bob", "d"),
                absent("X-Secret", "e"),
            ),
            reply_tagged("202 Accepted"),
            refs="a,b,c,d,e,f",
        )
    )
    rig.profile(
        "msg",
        f"next_hop=127.0.0.1:{port}\n"
        "From=<sip:anonymous@anonymous.invalid>\nTo=<sip:carol@example.net>\n"
        "header_filter=blacklist\nheader_list=X-Secret\n"
        "append_headers=\"X-Relayed: yes\"\n",
    )
    rig.start(["msg"], "msg")
    rig.call(scenario("sender", caller_message(), recv_with('response="202"')))
    rig.finish_callee()
    wait_for(rig, "the MESSAGE relay was not forgotten", lambda simple: not simple.dialogs)


def test_refuse_profile_answers_a_message_with_its_code(rig: SbcRig) -> None:
    """``refuse_with=403 Forbidden``: the sender gets 403 and nothing is relayed."""
    rig.profile("no", "refuse_with=\"403 Forbidden\"\n")
    rig.start(["no"], "no")
    rig.call(scenario("sender", caller_message(), recv_with('response="403"')))
    wait_for(rig, "refused MESSAGE", lambda simple: simple.refused == 1 and not simple.dialogs)


def test_reply_translation_applies_to_relayed_replies(rig: SbcRig) -> None:
    """``reply_translations=404=>480 Gone Away``: the receiver's 404 reaches the sender as 480."""
    port = rig.callee(scenario("receiver", recv_with('request="MESSAGE"'), reply_tagged("404 Not Found")))
    rig.profile("tr", f"next_hop=127.0.0.1:{port}\nreply_translations=\"404=>480 Gone Away\"\n")
    rig.start(["tr"], "tr")
    rig.call(scenario("sender", caller_message(), recv_with('response="480"')))
    rig.finish_callee()


RELAY_SCRIPT = """\
import(mod_sbc);
initial state START;
transition "relay init" START - RelayInit(#relay_event == init) / {
  sbc.profileSet(append_headers, "X-Relay-Script: seen");
} -> START;
transition "relay request" START - RelayOnSipRequest / {
  sets($line="relay saw in-dialog request #method");
  log(1, $line);
} -> START;
transition "relay b2b request" START - RelayOnB2BRequest / {
  sets($line="relay passed #method on to #callid");
  log(1, $line);
} -> START;
transition "relay reply" START - RelayOnSipReply(#sip_code == 200) / {
  sets($line="relay got 200 to #method, was #old_dlg_status");
  log(1, $line);
} -> START;
transition "relay finalize" START - RelayFinalize / {
  log(1, "relay finalized");
} -> START;
"""


def relay_bundle(tmp: Path) -> Path:
    folder = tmp / "diags"
    folder.mkdir()
    (folder / "relay_ctl.dsm").write_text(RELAY_SCRIPT)
    bundles = tmp / "bundles"
    bundles.mkdir()
    (bundles / "relay_ctl.conf").write_text(f"diag_path={folder}/\nload_diags=relay_ctl\n")
    conf = tmp / "dsm.conf"
    conf.write_text(f"diag_path={folder}/\nconf_dir={bundles}/\nload_diags=relay_ctl\n")
    return conf


def test_cc_dsm_relay_init_sets_a_header_through_the_relays_profile(rig: SbcRig) -> None:
    """M-sbc-24/27 with ``__call_profile``: ``RelayInit`` runs before the request is planned, so
    its ``sbc.profileSet(append_headers, …)`` reaches the receiver; ``RelayFinalize`` follows."""
    port = rig.callee(
        scenario(
            "receiver",
            recv_with('request="MESSAGE"', check("X-Relay-Script: seen", "a")),
            reply_tagged("200 OK"),
            refs="a",
        )
    )
    rig.profile(
        "ctl",
        f"next_hop=127.0.0.1:{port}\n"
        "call_control=ctl\nctl_module=cc_dsm\nctl_app_bundle=relay_ctl\nctl_start_diag=relay_ctl\n",
    )
    rig.start(["ctl"], "ctl", config=relay_bundle(rig.tmp))
    rig.call(scenario("sender", caller_message(), recv_with('response="200"')))
    rig.finish_callee()
    wait_for(rig, "the relay was not finalized", lambda simple: not simple.dialogs)
    assert rig.server is not None
    deadline = time.monotonic() + LIMIT
    while "relay finalized" not in rig.server.log_text.getvalue():
        assert time.monotonic() < deadline, rig.server.log_text.getvalue()[-3000:]
        time.sleep(0.05)


def test_cc_dsm_sees_the_in_dialog_hooks_of_a_relayed_subscription(
    rig: SbcRig, caplog: pytest.LogCaptureFixture
) -> None:
    """M-sbc-28…30: the NOTIFYs in the relayed subscription raise ``RelayOnSipRequest`` (with the
    request set) and ``RelayOnB2BRequest`` (the copy sent on, the subscriber's Call-ID);
    the replies ``RelayOnSipReply`` with ``#old_dlg_status``."""
    port = rig.callee(
        scenario(
            "notifier",
            recv_with('request="SUBSCRIBE"', *KEEP, rrs=True),
            reply_tagged("200 OK", "      Expires: 60\n"),
            notify(1, "active;expires=60", "bob-is-here"),
            notify(2, "terminated", "bob-is-gone"),
            refs="from_hdr,to_hdr,cid",
        )
    )
    rig.profile(
        "ctl",
        f"next_hop=127.0.0.1:{port}\n"
        "call_control=ctl\nctl_module=cc_dsm\nctl_app_bundle=relay_ctl\nctl_start_diag=relay_ctl\n",
    )
    rig.start(["ctl"], "ctl", config=relay_bundle(rig.tmp))
    rig.call(
        scenario(
            "subscriber", CALLER_SUBSCRIBE, recv_with('response="200"'),
            recv_with('request="NOTIFY"'), reply_to_last(), recv_with('request="NOTIFY"'), reply_to_last(),
        )  # fmt: skip
    )
    rig.finish_callee()
    wait_for(rig, "the relayed subscription was not forgotten", lambda simple: not simple.dialogs)
    assert rig.server is not None
    deadline = time.monotonic() + LIMIT
    while "relay finalized" not in rig.server.log_text.getvalue():
        assert time.monotonic() < deadline, rig.server.log_text.getvalue()[-3000:]
        time.sleep(0.05)
    log = caplog.text
    assert log.count("relay saw in-dialog request NOTIFY") == 2
    assert re.search(r"relay passed NOTIFY on to \d+-\d+@127\.0\.0\.1", log)  # the subscriber's Call-ID
    assert "relay got 200 to SUBSCRIBE, was Trying" in log
    assert log.count("relay got 200 to NOTIFY, was Connected") == 2
