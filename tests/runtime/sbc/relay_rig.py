"""``dsm serve --sip … --sbc sbc.conf`` in a thread between a sipp caller and a sipp callee.

The test writes ``sbc.conf`` and its profiles (literal values), starts the
callee (sipp UAS on a free port, see ``test_sip_dialout.Uas``), then the SBC
whose profile sends the B leg there (``next_hop``), then runs the caller.
The caller's INVITE names the callee in its R-URI, so a transparent
profile relays it there too.  Scenario helpers are the SIP tests' own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sip_rig import LIMIT, ThreadedServer
from test_sip_dialout import Uas
from test_sip_serve import run_sipp

from dsm.runtime.sbc.relay import RelayedCall, SbcRelay

SCRIPT = "initial state S;\n"
"""The served scripts folder needs one script; SBC calls run none."""


def caller_invite(target: str, extra: str = "") -> str:
    """The caller's INVITE with R-URI ``target`` (``bob@127.0.0.1:PORT``), sent to the SBC."""
    return f"""\
  <send retrans="500" start_txn="invite">
    <![CDATA[
      INVITE sip:{target} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{target}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Caller-Note: hello
{extra}      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true" response_txn="invite"/>
"""


def scenario(name: str, *steps: str, refs: str = "") -> str:
    ref = f'  <Reference variables="{refs}"/>\n' if refs else ""
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{"".join(steps)}{ref}</scenario>\n'


def check(regexp: str, name: str, where: str = 'search_in="msg"') -> str:
    return f'<ereg regexp="{regexp}" {where} check_it="true" assign_to="{name}"/>'


def recv_request(method: str, *checks: str) -> str:
    """Receive ``method`` (its Contact kept for ``[next_url]``), fail unless every check matches."""
    body = "".join(f"      {c}\n" for c in checks)
    action = f"    <action>\n{body}    </action>\n" if checks else ""
    rrs = ' rrs="true"' if method == "INVITE" else ""
    return f'  <recv request="{method}"{rrs}>\n{action}  </recv>\n'


class SbcRig:
    """The callee, the SBC and the caller of one test."""

    def __init__(self, sipp: str, tmp_path: Path) -> None:
        self.sipp = sipp
        self.tmp = tmp_path
        self.uas: Uas | None = None
        self.server: ThreadedServer | None = None
        self.conf = tmp_path / "sbc" / "sbc.conf"
        self.conf.parent.mkdir()

    def callee(self, xml: str, uas: type[Uas] = Uas) -> int:
        folder = self.tmp / "uas"
        folder.mkdir(exist_ok=True)
        self.uas = uas(self.sipp, folder, xml)
        return self.uas.port

    def profile(self, name: str, text: str) -> Path:
        path = self.conf.parent / f"{name}.sbcprofile.conf"
        path.write_text(text)
        return path

    def start(self, profiles: list[str], active: str, config: Path | None = None, **kw: Any) -> ThreadedServer:
        """The SBC with these profiles; ``config``: a ``dsm.conf`` to serve (bundles for ``cc_dsm``)."""
        self.conf.write_text(f"load_profiles={','.join(profiles)}\nactive_profile={active}\n")
        if config is not None:
            self.server = ThreadedServer([], config=str(config), sbc=str(self.conf), **kw)
            return self.server
        scripts = self.tmp / "scripts"
        scripts.mkdir(exist_ok=True)
        (scripts / "idle.dsm").write_text(SCRIPT)
        self.server = ThreadedServer([str(scripts)], sbc=str(self.conf), **kw)
        return self.server

    @property
    def relay(self) -> SbcRelay:
        assert self.server is not None
        relay = self.server.server.sbc_relay
        assert isinstance(relay, SbcRelay)
        return relay

    def call(self, xml: str, name: str = "caller", service: str = "bob") -> None:
        assert self.server is not None
        folder = self.tmp / name
        folder.mkdir()
        run_sipp(self.sipp, folder, self.server.port, xml, service)

    def finish_callee(self) -> None:
        assert self.uas is not None
        self.uas.finish()

    def ended_calls(self, count: int) -> list[RelayedCall]:
        """Wait until ``count`` relayed calls exist and all of them ended."""
        assert self.server is not None
        server = self.server
        deadline = time.monotonic() + LIMIT
        while True:
            calls = server.on_loop(lambda: list(self.relay.recent))
            if len(calls) >= count and all(c.ended for c in calls[:count]):
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"calls did not end: {calls}\n{server.log_text.getvalue()[-3000:]}")
            time.sleep(0.05)

    def close(self) -> None:
        if self.uas is not None:
            self.uas.close()
        server = self.server
        if server is not None and server.thread.is_alive():
            server.loop.call_soon_threadsafe(server.server.stop)
            server.thread.join(LIMIT)
