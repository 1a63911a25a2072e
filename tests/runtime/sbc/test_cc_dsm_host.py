"""cc_dsm on a host whose engine runs events later (as ``dsm serve`` does): answers are still synchronous.

The server's engine does not process a delivered event at once (its
``on_pending`` schedules a run on the event loop); a call-control hook must
nevertheless know ``#StopProcessing`` when it returns (M-ccdsm-4, E-166).
The leg's Call here is a bare :class:`SbcSessionCall`, as a relay would
build it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from dsm.compiler import compile_source
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.errors import DSMException
from dsm.runtime.sbc.cc_dsm import make_call_control
from dsm.runtime.sbc.leg import STOP
from dsm.runtime.sbc.session_call import SbcSessionCall
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.message import Request

SCRIPT = """\
import(mod_sbc);
initial state S;
transition "s" S - start / set($started=1) -> S;
transition "req" S - sipRequest / { set($m=#method); set(#StopProcessing=true); } -> S;
transition "play" S - event(#do == prompt) / playPrompt(hello) -> S;
transition "x" S - exception / set($err=#cause) -> S;
"""


class BareLegCall(SbcSessionCall):
    """The least a relay's leg must provide; everything else comes from SbcSessionCall."""

    def select(self, name: str) -> str:
        return self.local_tag if name == "local_tag" else ""

    def flush_playlist(self) -> None: ...

    def media_connect(self) -> None: ...

    def media_disconnect(self) -> None: ...

    def send_dtmf(self, event: int, duration_ms: int) -> None: ...

    def bye(self) -> None: ...

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None: ...

    def b2b_relay_event(self, params: dict[str, str]) -> None: ...


def test_answers_are_known_when_the_engine_defers_its_runs() -> None:
    engine = build_engine(VirtualClock())
    engine.load({"ctl": compile_source(SCRIPT, "ctl.dsm")}, "bundle", values={"k": "v"})
    deferred: list[int] = []
    engine.on_pending = lambda: deferred.append(1)  # a server runs the engine later, on its loop
    cc = make_call_control(engine)()
    values: Mapping[str, str] = {"app_bundle": "bundle", "start_diag": "ctl"}
    call = BareLegCall()
    cc.init(call, values)
    session = engine.session(call.local_tag)
    assert session is not None and session.vars["started"] == "1" and session.vars["config.k"] == "v"
    req = Request(
        headers=Headers([("From", "<sip:a@x>;tag=1"), ("To", "<sip:b@y>;tag=2"), ("Call-ID", "c"), ("CSeq", "2 INFO")]),
        method="INFO",
        uri="sip:b@y",
    )
    assert cc.on_in_dialog_request(req) is STOP
    assert session.vars["m"] == "INFO"
    assert cc.on_event({"do": "prompt"}) is not STOP
    assert session.vars["err"] == "not implemented in DSM SBC"
    cc.on_destroy_leg()
    assert session.ended


def test_prompts_are_refused_by_the_session_call() -> None:
    from dsm.runtime.call import PromptItem

    with pytest.raises(DSMException) as info:
        BareLegCall().play(PromptItem("hello"))
    assert info.value.params["cause"] == "not implemented in DSM SBC"
