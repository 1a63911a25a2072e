"""``$di``/``$dp`` (Readme.sbc replacement patterns; issue 21): the destination's host and port.

The first ``next_hop`` entry when the profile has one, else the R-URI's host and port.
"""

from __future__ import annotations

from sbc_invites import make_invite

from dsm.runtime.sbc.patterns import PatternContext, evaluate
from dsm.runtime.sbc.profile import CallProfile, LegPlan, plan_leg

SRC = ("192.0.2.10", 5062)
LOCAL = ("127.0.0.1", 5060)


def _eval(pattern: str, next_hop: str = "", ruri: str = "sip:bob@sbc.example:5070;user=phone") -> str:
    return evaluate(pattern, PatternContext(make_invite(ruri=ruri), SRC, LOCAL, next_hop=next_hop))


def test_without_next_hop_the_ruri() -> None:
    assert _eval("$di:$dp") == "sbc.example:5070"
    assert _eval("$di|$dp", ruri="sip:bob@gw.example") == "gw.example|"
    assert _eval("$di", ruri="tel:+123") == ""


def test_first_next_hop_entry() -> None:
    assert _eval("$di:$dp", next_hop="10.0.0.7:5080/TCP,10.0.0.8") == "10.0.0.7:5080"
    assert _eval("$di|$dp", next_hop="gw.example") == "gw.example|"
    assert _eval("$di:$dp", next_hop="sip:proxy.example:5090;lr") == "proxy.example:5090"
    assert _eval("[$di][$dp]", next_hop="no such:thing") == "[][]"
    assert _eval("$dx$d") == ""


def test_plan_leg_reads_the_evaluated_next_hop() -> None:
    profile = CallProfile("d", next_hop="$H(X-Hop)", append_headers="P-Dest: $di;$dp", ruri="sip:$rU@$di")
    plan = plan_leg(profile, make_invite(extra="X-Hop: 10.1.1.1:5099\r\n"), SRC, LOCAL)
    assert isinstance(plan, LegPlan), plan
    assert plan.destination == "10.1.1.1:5099"
    assert ("P-Dest", "10.1.1.1;5099") in plan.headers
    assert plan.ruri == "sip:bob@10.1.1.1"
