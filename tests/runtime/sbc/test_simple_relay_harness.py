"""Relay hooks in the harness (M-sbc-24…31): an SBC script's Relay* transitions unit tested.

:meth:`SbcTestCall.relay_hook` raises one hook on the A leg's session the way
the simple relay does, with ``__call_profile`` the relay's own profile.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from dsm.runtime.harness import Harness
from dsm.runtime.sbc.profile import CallProfile

SCRIPT = """\
import(mod_sbc);
initial state S;
transition "init" S - RelayInit(#relay_event == init) / {
  set($init_method=#method);
  sbc.profileSet(append_headers, "X-From-Relay: 1");
} -> S;
transition "req" S - RelayOnSipRequest(#method == NOTIFY) / set($notify_from=#hdr.Event) -> S;
transition "reply" S - RelayOnSipReply(#sip_code == 481) / {
  set($old=#old_dlg_status);
  sbc.profileSet(next_hop_1st_req, "true");
} -> S;
transition "b2b reply" S - RelayOnB2BReply / set($b2b_code=#sip_code) -> S;
transition "fin" S - RelayFinalize / set($finalized=yes) -> S;
"""


def test_relay_hooks_reach_the_script_with_their_params_and_call_profile(tmp_path: Path) -> None:
    """RelayInit sees the request set and changes the relay's profile, not the leg's; the
    in-dialog request, reply (with ``#old_dlg_status``), B2B reply and finalize hooks follow."""
    (tmp_path / "ctl.dsm").write_text(textwrap.dedent(SCRIPT))
    call = Harness(scripts=str(tmp_path)).sbc_call("ctl", profile=CallProfile("p"))
    relay_profile = call.relay_hook("init", "SUBSCRIBE")
    assert relay_profile.append_headers == "X-From-Relay: 1"
    assert call.leg("a").profile.append_headers == ""  # the leg's own profile is untouched
    call.relay_hook("onSipRequest", "NOTIFY", headers={"Event": "presence"}, profile=relay_profile)
    call.relay_hook("onSipReply", "NOTIFY", code=481, profile=relay_profile)
    assert relay_profile.next_hop_1st_req is True
    call.relay_hook("onB2BReply", "NOTIFY", code=200, profile=relay_profile)
    call.relay_hook("finalize", profile=relay_profile)
    session = call.leg("a").session
    assert session is not None
    v = session.vars
    assert v["init_method"] == "SUBSCRIBE" and v["notify_from"] == "presence"
    assert v["old"] == "Connected" and v["b2b_code"] == "200" and v["finalized"] == "yes"
