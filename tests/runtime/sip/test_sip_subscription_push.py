"""The reference's ``mobile_push`` flow over SIP, with a script of our own of the same structure.

An incoming call (sipp UAC) is answered ``183`` with early media, the script
subscribes to the callee's ``reg`` event at a notifier (a second sipp, UAS),
sends a push request over HTTP (a loopback ``http.server`` records it) and
waits: a NOTIFY whose reginfo body shows an active contact makes it reply
``300 Multiple Choices`` and unsubscribe (M-subscription-1, -3, C-core-25,
M-xml-2 on ``SipSubscriptionBody``); a ``terminated`` NOTIFY without body a
``480``.  Both sipp instances must end with exit status 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_sip_dialout import Uas
from test_sip_serve import ACK_FAILURE, INVITE, SipServer, recv, run_sipp, scenario
from test_sip_subscription import REGINFO, answer, notify, recv_subscribe
from test_sip_subscription import scenario as notifier_scenario

PUSH = """\
import(mod_dlg);
import(mod_subscription);
import(mod_xml);
import(mod_curl);

initial state START;

transition "refused" START - exception / {{ dlg.reply(500, "Server Internal Error"); stop(false) }} -> END;

transition "invite" START - invite / {{
  dlg.acceptInvite(183, "Session Progress");
  throwOnError();
  set($connect_session=0);
  connectMedia();
  disableReceiving();
  set($r.domain=127.0.0.1:{notifier}); set($r.user=@user); set($r.from_user=pushwatch);
  set($r.event=reg); set($r.expires=30);
  subscription.create(r);
  if test($r.handle == "") {{ throw(subscription) }};
  set($callee=@user); set($caller=sipp);
  curl.getForm({push_url}, $caller;$callee);
  setTimer(1, $r.expires);
}} -> WAITING;

state WAITING;

transition "failed" WAITING - subscription(#status == "failed") / {{
  dlg.reply(500, "Server Internal Error"); stop(false)
}} -> END;

function countActive() {{
  xml.parseSIPMsgBody("SipSubscriptionBody", "reg");
  set($reg.ns="r=urn:ietf:params:xml:ns:reginfo");
  xml.evalXPath("/r:reginfo/r:registration/r:contact[@state='active']", "reg");
  xml.XPathResultCount($active="reg.xpath");
  freeObject("reg"); freeObject("reg.xpath");
}};

function redirect() {{
  set($dlg.reply.hdrs="Contact: ");
  append($dlg.reply.hdrs, @local_uri);
  dlg.reply(300, "Multiple Choices");
  set($replied=300);
  stop(false);
}};

transition "notify with body" WAITING - subscription(#status != "terminated"); test(#has_body == "true") / {{
  countActive();
  if test($active != 0) {{ redirect(); subscription.remove($r.handle) }}
}} -> WAITING;

transition "notify without body" WAITING - subscription(#status != "terminated") / append($seen, #status) -> WAITING;

transition "terminated" WAITING - subscription(#status == "terminated") / {{
  dlg.reply(480, "Not Found"); set($replied=480); stop(false)
}} -> END;

transition "waited too long" WAITING - timer(#id == 1) / {{
  subscription.remove($r.handle); dlg.reply(480, "Not Found"); stop(false)
}} -> END;

transition "caller gave up" WAITING - hangup / {{ subscription.remove($r.handle); stop(false) }} -> END;

state END;
"""

CALLER_GETS = """\
  <recv response="183" response_txn="invite"/>
  <recv response="{code}" response_txn="invite">
    <action>
      <ereg regexp="{expect}" search_in="msg" check_it="true" assign_to="seen"/>
    </action>
  </recv>
  <Reference variables="seen"/>
"""


class _Push(BaseHTTPRequestHandler):
    seen: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def push_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Push", (_Push,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/push", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _flow(
    sipp: str,
    tmp_path: Path,
    push: tuple[str, list[str]],
    notifier_xml: str,
    code: int,
    expect: str,
) -> dict[str, str]:
    url, seen = push
    notifier = Uas(sipp, tmp_path, notifier_xml)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "push.dsm").write_text(PUSH.format(notifier=notifier.port, push_url=url))
    server = SipServer(scripts)
    try:
        caller = scenario(
            "caller", INVITE, CALLER_GETS.format(code=code, expect=expect), ACK_FAILURE
        )
        (tmp_path / "caller").mkdir()
        run_sipp(sipp, tmp_path / "caller", server.port, caller, "push")
        (call,) = server.wait_ended(1)
        notifier.finish()
    finally:
        notifier.close()
        server.stop()
    assert seen == ["/push?caller=sipp&callee=push"]
    return call["vars"]


def test_mobile_push_flow_active_contact_redirects_300(
    sipp: str, tmp_path: Path, push_server: tuple[str, list[str]]
) -> None:
    """NOTIFY active with an active contact in the reginfo body: 300 with our Contact, then Expires 0."""
    notifier_xml = notifier_scenario(
        recv_subscribe("Event: reg"),
        answer(expires=30),
        notify(1, "active;expires=30", REGINFO.format(state="active")),
        recv(200),
        recv_subscribe("Expires: 0"),
        answer(expires=0),
    )
    v = _flow(sipp, tmp_path, push_server, notifier_xml, 300, "Contact: sip:push@")
    assert v["replied"] == "300" and v["active"] == "1"


def test_mobile_push_flow_no_active_contact_then_terminated_480(
    sipp: str, tmp_path: Path, push_server: tuple[str, list[str]]
) -> None:
    """A pending NOTIFY without body, then an inactive-contact body, then terminated: 480."""
    notifier_xml = notifier_scenario(
        recv_subscribe("Event: reg"),
        answer(expires=30),
        notify(1, "pending;expires=30"),
        recv(200),
        notify(2, "active;expires=30", REGINFO.format(state="terminated")),
        recv(200),
        notify(3, "terminated;reason=timeout"),
        recv(200),
    )
    v = _flow(sipp, tmp_path, push_server, notifier_xml, 480, "480 Not Found")
    assert v["replied"] == "480" and v["seen"] == "pending" and v["active"] == "0"
