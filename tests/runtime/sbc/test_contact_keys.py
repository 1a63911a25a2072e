"""bleg_contact_* (Readme.sbc "Contact header rewriting"; issue 21): the B leg's INVITE Contact.

Parsed INVITEs in, the B leg's Contact (LegPlan.contact) or a Refusal out.
"""

from __future__ import annotations

import pytest
from sbc_invites import make_invite

from dsm.runtime.sbc.contact import rewrite_contact
from dsm.runtime.sbc.profile import CallProfile, LegPlan, Refusal, plan_leg
from dsm.runtime.sip.uri import NameAddress

SRC = ("192.0.2.10", 5062)
LOCAL = ("127.0.0.1", 5060)


def _contact(raw: dict[str, str], contact: str = "", ruri: str = "sip:bob@callee.example") -> str:
    plan = plan_leg(CallProfile("c", raw=raw, contact=contact), make_invite(ruri=ruri), SRC, LOCAL)
    assert isinstance(plan, LegPlan), plan
    return plan.contact


def test_no_contact_keys_keep_the_relays_own_contact() -> None:
    assert _contact({}) == ""  # the SIP core writes its own


def test_every_part_on_the_relays_own_contact() -> None:
    got = _contact(
        {
            "bleg_contact_user": "gw-$fU",
            "bleg_contact_displayname": "Border",
            "bleg_contact_uri_params": "x-leg=b;ob",
            "bleg_contact_params": "+sip.src=$si",
        }
    )
    address = NameAddress.parse(got)
    assert address.display_name == "Border"
    assert str(address.uri) == "sip:gw-alice@127.0.0.1:5060;x-leg=b;ob"
    assert address.params == {"+sip.src": "192.0.2.10"}


def test_host_and_port_and_transport_of_the_base() -> None:
    got = _contact({"bleg_contact_host": "sbc.example", "bleg_contact_port": "5090"}, ruri="sip:bob@x;transport=tcp")
    assert got == "<sip:sbc.example:5090;transport=tcp>"
    assert _contact({"bleg_contact_user": "u"}, contact="<sip:edge@10.0.0.1:5070>") == "<sip:u@10.0.0.1:5070>"


def test_empty_after_evaluation_leaves_the_part() -> None:
    assert _contact({"bleg_contact_user": "$H(X-None)", "bleg_contact_host": ""}) == ""


def test_aleg_keys_do_not_touch_the_b_leg() -> None:
    assert _contact({"aleg_contact_user": "x"}) == ""


@pytest.mark.parametrize(
    "raw",
    [{"bleg_contact_port": "99999"}, {"bleg_contact_port": "x"}, {"bleg_contact_uri_params": ";;"},
     {"bleg_contact_params": "a b=1"}, {"bleg_contact_user": "$H(X-Evil)"}, {"bleg_contact_user": "a@b"},
     {"bleg_contact_host": "a b"}],
)  # fmt: skip
def test_bad_parts_refuse_with_500(raw: dict[str, str]) -> None:
    """A value that makes no valid Contact refuses the call (as other unusable values do)."""
    invite = make_invite(extra="X-Evil: a>\r\n")
    assert plan_leg(CallProfile("c", raw=raw), invite, SRC, LOCAL) == Refusal(500, "Server Internal Error")


def test_rewrite_contact_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="contact_port"):
        rewrite_contact("<sip:h>", {"port": "0"})
    with pytest.raises(ValueError):
        rewrite_contact("<tel:+1>", {"user": "x"})
    with pytest.raises(ValueError):
        rewrite_contact("<sip:h>", {"user": "a\r\nX: y"})
