"""mod_subscription over SIP (M-subscription-1 … 3, C-core-25): sipp plays the notifier.

A system DSM (``subscriber.dsm``) fills ``$r.*`` and calls
``subscription.create(r)`` towards a sipp UAS on a free loopback port; every
``SIPSubscription`` event is appended to ``$log`` as ``status/code/has_body``
and the script stops on ``terminated``, ``failed`` or ``timeout``.  The test
waits (bounded polling) for the session's end and sipp's exit, then reads
the variables; sipp checks what we send (Event, Accept, Expires) with
``ereg check_it``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sip_rig import LIMIT, ThreadedServer
from test_sip_dialout import Uas

SUBSCRIBER = """\
import(mod_subscription);
import(mod_xml);
initial state S enter {{ if test($created == "") {{ set($created=1);
  set($r.domain=127.0.0.1:{port}); set($r.user=alice); set($r.from_user=watcher);
  set($r.event=reg); set($r.accept=application/reginfo+xml); {extra}
  subscription.create(r);
  set($create_errno=$errno);
  if test($r.handle == "") {{ stop(false) }}
}} }};
transition "record" S - subscription / {{
  append($log, #status); append($log, "/"); append($log, #code); append($log, "/");
  append($log, #has_body); append($log, ",");
  set($expires=#expires); set($reason=#reason);
  if test(#has_body == "true") {{
    xml.parseSIPMsgBody("SipSubscriptionBody", "doc");
    set($doc.ns="a=urn:ietf:params:xml:ns:reginfo");
    xml.evalXPath("/a:reginfo/a:registration/a:contact[@state='active']", "doc");
    xml.XPathResultCount($active="doc.xpath");
  }};
  {on_event};
  if test(#status == "terminated") {{ stop(false) }};
  if test(#status == "failed") {{ stop(false) }};
  if test(#status == "timeout") {{ stop(false) }};
}} -> S;
state END;
"""

NOTIFIER_200 = """\
  <send>
    <![CDATA[
      SIP/2.0 {code} {reason}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:alice@[local_ip]:[local_port]>
      {extra}Content-Length: 0
    ]]>
  </send>
"""

REGINFO = (
    '<?xml version="1.0"?>\n'
    '      <reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">\n'
    '      <registration aor="sip:alice@example.org" id="a1" state="active">\n'
    '      <contact id="c1" state="{state}" event="registered">'
    "<uri>sip:alice@192.0.2.1</uri></contact>\n"
    "      </registration></reginfo>"
)


def answer(code: int = 200, reason: str = "OK", expires: int | None = 60) -> str:
    extra = f"Expires: {expires}\n      " if expires is not None else ""
    return NOTIFIER_200.format(code=code, reason=reason, extra=extra)


def notify(cseq: int, state: str, body: str = "", to_tag: str = "") -> str:
    """A NOTIFY in the subscription's dialog (``to_tag``: a wrong one instead of the watcher's)."""
    to = f"<sip:watcher@127.0.0.1>;tag={to_tag}" if to_tag else "[$watcher]"
    content = (
        f"Content-Type: application/reginfo+xml\n      Content-Length: [len]\n\n      {body}"
        if body
        else "Content-Length: 0"
    )
    return f"""\
  <send retrans="500">
    <![CDATA[
      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: {to}
      Call-ID: [call_id]
      CSeq: {cseq} NOTIFY
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      Event: reg
      Subscription-State: {state}
      {content}
    ]]>
  </send>
"""


def recv_subscribe(expect: str = "Event: reg") -> str:
    return f"""\
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp="{expect}" search_in="msg" check_it="true" assign_to="hdr"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="watcher"/>
    </action>
  </recv>
"""


def recv(code: int) -> str:
    return f'  <recv response="{code}"/>\n'


def scenario(*steps: str) -> str:
    refs = '  <Reference variables="hdr,watcher"/>\n'
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="notifier">\n{"".join(steps)}{refs}</scenario>\n'


class SubscriberServer(ThreadedServer):
    def run_subscriber(self) -> dict[str, str]:
        """Start the subscriber system DSM and wait (bounded) for its end; its variables."""
        engine = self.server.engine
        assert engine is not None
        session = self.on_loop(lambda: engine.start_system("main", "subscriber"))
        deadline = time.monotonic() + LIMIT
        while not self.on_loop(lambda: session.ended):
            if time.monotonic() > deadline:
                vars = self.on_loop(lambda: dict(session.vars))
                raise AssertionError(
                    f"subscriber did not end: {vars}\n{self.log_text.getvalue()[-3000:]}"
                )
            time.sleep(0.02)
        return self.on_loop(lambda: dict(session.vars))

    def live(self) -> int:
        subs = self.server.engine.subscriptions if self.server.engine else None
        return self.on_loop(lambda: len(subs.by_call_id)) if subs is not None else -1

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
            self.thread.join(LIMIT)


Rig = Callable[..., tuple[SubscriberServer, Uas]]


@pytest.fixture
def rig(sipp: str, tmp_path: Path) -> Iterator[Rig]:
    made: list[Any] = []

    def make(xml: str, extra: str = "", on_event: str = "") -> tuple[SubscriberServer, Uas]:
        uas = Uas(sipp, tmp_path, xml)
        made.append(uas)
        scripts = tmp_path / "scripts"
        scripts.mkdir()
        (scripts / "subscriber.dsm").write_text(
            SUBSCRIBER.format(port=uas.port, extra=extra, on_event=on_event)
        )
        server = SubscriberServer([str(scripts)])
        made.append(server)
        return server, uas

    yield make
    for item in reversed(made):
        if isinstance(item, Uas):
            item.close()
        else:
            item.stop()


def run(
    rig: Rig, xml: str, extra: str = "", on_event: str = ""
) -> tuple[dict[str, str], SubscriberServer]:
    server, uas = rig(xml, extra, on_event)
    got = server.run_subscriber()
    uas.finish()
    return got, server


# -- the tests ---------------------------------------------------------------------------------------------
def test_M_subscription_1_C_core_25_active_pending_terminated(rig: Rig) -> None:
    """200 to SUBSCRIBE, NOTIFY pending, active (with a body), terminated: one event each, in order."""
    xml = scenario(
        recv_subscribe("Accept: application/reginfo\\+xml"),
        answer(expires=60),
        notify(1, "pending;expires=60"),
        recv(200),
        notify(2, "active;expires=60", REGINFO.format(state="active")),
        recv(200),
        notify(3, "terminated;reason=noresource"),
        recv(200),
    )
    v, server = run(rig, xml, extra="set($r.expires=60);")
    assert v["create_errno"] == "" and v["r.handle"]
    assert v["log"] == "pending/0/false,active/0/true,terminated/0/false,"
    assert v["active"] == "1"  # the NOTIFY body reached xml.parseSIPMsgBody as SipSubscriptionBody
    assert (
        v["expires"] == "0" and v["r.pwd"] == "" and v["r.proxy"] == ""
    )  # missing ones created empty
    assert server.live() == 0


def test_C_core_25_expires_is_a_unix_time(rig: Rig) -> None:
    """``#expires`` of an active subscription: now + the NOTIFY's expires, as a Unix time stamp."""
    xml = scenario(
        recv_subscribe("Expires: 300"),
        answer(expires=300),
        notify(1, "active;expires=300"),
        recv(200),
        notify(2, "terminated"),
        recv(200),
    )
    before = time.time()
    v, _ = run(
        rig,
        xml,
        extra="set($r.expires=300);",
        on_event='if test($first == "") { set($first=$expires) }',
    )
    assert before + 290 <= int(v["first"]) <= time.time() + 310


def test_M_subscription_1_failure_reply_gives_failed(rig: Rig) -> None:
    """A 404 to the first SUBSCRIBE: ``failed`` with code and reason; the subscription is gone."""
    xml = scenario(recv_subscribe(), answer(404, "Not Found", expires=None))
    v, server = run(rig, xml)
    assert v["log"] == "failed/404/false," and v["reason"] == "Not Found"
    assert server.live() == 0


def test_M_subscription_1_2xx_without_expires_fails(rig: Rig) -> None:
    """A 2xx to SUBSCRIBE without Expires ends the subscription (``failed``, code 200), as the reference."""
    xml = scenario(recv_subscribe(), answer(expires=None))
    v, _ = run(rig, xml)
    assert v["log"] == "failed/200/false,"


def test_notify_for_an_unknown_dialog_gets_481(rig: Rig) -> None:
    """A NOTIFY whose To tag is no subscription of ours: 481; the real one still works."""
    xml = scenario(
        recv_subscribe(),
        answer(),
        notify(1, "active;expires=60", to_tag="nosuchtag"),
        recv(481),
        notify(2, "terminated"),
        recv(200),
    )
    v, _ = run(rig, xml)
    assert v["log"] == "terminated/0/false,"


def test_M_subscription_2_refresh_and_481_to_it(rig: Rig) -> None:
    """``subscription.refresh(h, 120)`` sends SUBSCRIBE in the dialog with Expires 120; 481 to it → failed."""
    xml = scenario(
        recv_subscribe(),
        answer(),
        notify(1, "active;expires=60"),
        recv(200),
        recv_subscribe("Expires: 120"),
        answer(481, "Call/Transaction Does Not Exist", expires=None),
    )
    on_event = (
        'if test($refreshed == "") { set($refreshed=1); subscription.refresh($r.handle, 120);'
        " set($refresh_errno=$errno) }"
    )
    v, _ = run(rig, xml, on_event=on_event)
    assert v["refresh_errno"] == ""
    assert v["log"] == "active/0/false,failed/481/false,"


def test_M_subscription_2_refresh_before_expiry_keeps_it_alive(rig: Rig) -> None:
    """Expiry 2 s; the script refreshes at once (Expires 3600): no timeout, the notifier ends it later."""
    xml = scenario(
        recv_subscribe("Expires: 2"),
        answer(expires=2),
        notify(1, "active;expires=2"),
        recv(200),
        recv_subscribe("Expires: 3600"),
        answer(expires=3600),
        notify(2, "active;expires=3600"),
        recv(200),
        '  <pause milliseconds="3000"/>\n',
        notify(3, "terminated;reason=timeout"),
        recv(200),
    )
    on_event = (
        'if test($refreshed == "") { set($refreshed=1); subscription.refresh($r.handle, 3600) }'
    )
    v, _ = run(rig, xml, extra="set($r.expires=2);", on_event=on_event)
    assert v["log"] == "active/0/false,active/0/false,terminated/0/false,"


def test_subscription_expiry_gives_timeout(rig: Rig) -> None:
    """No refresh: when the NOTIFY's expiry (1 s) passes, ``timeout``."""
    xml = scenario(
        recv_subscribe("Expires: 1"),
        answer(expires=1),
        notify(1, "active;expires=1"),
        recv(200),
    )
    v, server = run(rig, xml, extra="set($r.expires=1);")
    assert v["log"] == "active/0/false,timeout/0/false,"
    assert server.live() == 0


def test_M_subscription_3_remove_sends_expires_0(rig: Rig) -> None:
    """``subscription.remove`` after the first NOTIFY: SUBSCRIBE with Expires 0, later NOTIFYs get 481."""
    xml = scenario(
        recv_subscribe(),
        answer(),
        notify(1, "active;expires=60"),
        recv(200),
        recv_subscribe("Expires: 0"),
        answer(expires=0),
        notify(2, "terminated"),
        recv(481),
    )
    on_event = (
        "set($errno=before); subscription.remove($r.handle); set($remove_errno=$errno); stop(false)"
    )
    server, uas = rig(xml, "", on_event)
    v = server.run_subscriber()
    uas.finish()
    assert v["log"] == "active/0/false," and v["remove_errno"] == "before"
    assert server.live() == 0


def test_M_subscription_2_unknown_handle(rig: Rig) -> None:
    """Refreshing an unknown handle: errno general, ``could not refresh subscription``."""
    xml = scenario(recv_subscribe(), answer(404, "Not Found", expires=None))
    on_event = "subscription.refresh(nosuchhandle); set($refresh_errno=$errno); set($refresh_str=$strerror)"
    v, _ = run(rig, xml, on_event=on_event)
    assert v["refresh_errno"] == "general"
    assert v["refresh_str"] == "could not refresh subscription\n"


def test_M_subscription_1_digest_credentials_from_user_and_pwd(rig: Rig) -> None:
    """401 with a digest challenge: the SUBSCRIBE is sent again with credentials of ``from_user``/``pwd``.

    sipp checks them with ``verifyauth`` (a wrong answer would get 403 and ``failed/403``).
    """
    challenge = (
        'WWW-Authenticate: Digest realm="test.example", nonce="4f2c1e", qop="auth", '
        'opaque="op1", algorithm=MD5\n      '
    )
    xml = scenario(
        recv_subscribe(),
        NOTIFIER_200.format(code=401, reason="Unauthorized", extra=challenge),
        """\
  <recv request="SUBSCRIBE">
    <action>
      <verifyauth assign_to="authvalid" username="watcher" password="s3cret"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="watcher"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="1"/>
""",
        answer(403, "Forbidden", expires=None),
        '  <nop hide="true" next="2"/>\n  <label id="1"/>\n',
        answer(expires=60),
        notify(1, "terminated"),
        recv(200),
        '  <label id="2"/>\n',
    )
    v, _ = run(rig, xml, extra="set($r.pwd=s3cret);")
    assert v["log"] == "terminated/0/false,"


def test_M_subscription_1_refused_credentials_give_failed_401(rig: Rig) -> None:
    """Credentials refused a second time: no loop, ``failed`` with 401."""
    challenge = 'WWW-Authenticate: Digest realm="test.example", nonce="4f2c1e"\n      '
    xml = scenario(
        recv_subscribe(),
        NOTIFIER_200.format(code=401, reason="Unauthorized", extra=challenge),
        recv_subscribe("Authorization: Digest"),
        NOTIFIER_200.format(code=401, reason="Unauthorized", extra=challenge),
    )
    v, _ = run(rig, xml, extra="set($r.pwd=wrong);")
    assert v["log"] == "failed/401/false,"
