"""CallProfile.set_property: sbc.profileSet's semantics (modules.md M-sbc-1)."""

from __future__ import annotations

import pytest
from sbc_invites import make_invite

from dsm.runtime.sbc.profile import (
    CallProfile,
    LegPlan,
    ProfilePropertyError,
    message_allowed,
    plan_leg,
)

TEXT = {
    "To": "to",
    "RURI": "ruri",
    "From": "from_",
    "Call-ID": "call_id",
    "next_hop": "next_hop",
    "RURI_host": "ruri_host",
    "refuse_with": "refuse_with",
    "outbound_proxy": "outbound_proxy",
    "aleg_outbound_proxy": "aleg_outbound_proxy",
    "aleg_next_hop": "aleg_next_hop",
    "append_headers": "append_headers",
    "append_headers_req": "append_headers_req",
    "aleg_append_headers_req": "aleg_append_headers_req",
    "rtprelay_enabled": "rtprelay_enabled",
}
BOOLS = [
    "force_outbound_proxy",
    "aleg_force_outbound_proxy",
    "next_hop_1st_req",
    "patch_ruri_next_hop",
    "force_symmetric_rtp",
    "aleg_force_symmetric_rtp",
    "msgflags_symmetric_rtp",
    "rtprelay_transparent_seqno",
    "rtprelay_transparent_ssrc",
    "rtprelay_dtmf_filtering",
    "rtprelay_dtmf_detection",
]


@pytest.mark.parametrize(("prop", "attr"), sorted(TEXT.items()))
def test_M_sbc_1_text_properties(prop: str, attr: str) -> None:
    """M-sbc-1: text properties take the value as written (a pattern)."""
    p = CallProfile("p")
    p.set_property(prop, "sip:$rU@x")
    assert getattr(p, attr) == "sip:$rU@x"


@pytest.mark.parametrize("prop", BOOLS)
def test_M_sbc_1_boolean_quirk_only_exact_true(prop: str) -> None:
    """M-sbc-1 QUIRK: true only for exactly ``true``; ``yes`` (the documented value) sets false."""
    p = CallProfile("p")
    p.set_property(prop, "true")
    assert getattr(p, prop) is True
    for value in ("yes", "TRUE", "1", ""):
        p.set_property(prop, value)
        assert getattr(p, prop) is False


def test_M_sbc_1_names_are_exact() -> None:
    """``FROM`` is not ``From``: unknown property -> errno arg, the spec's strerror."""
    p = CallProfile("p")
    with pytest.raises(ProfilePropertyError) as info:
        p.set_property("FROM", "x")
    assert str(info.value) == "Call profile property 'FROM' not known"
    assert info.value.strerror == "Call profile property 'FROM' not known"
    assert info.value.errno == "arg"
    assert isinstance(info.value, KeyError)


def test_M_sbc_1_rtprelay_interfaces() -> None:
    p = CallProfile("p")
    p.set_property("rtprelay_interface", "default")
    p.set_property("aleg_rtprelay_interface", "intern", interfaces=("default", "intern"))
    assert (p.rtprelay_interface, p.aleg_rtprelay_interface) == ("default", "intern")
    with pytest.raises(ProfilePropertyError, match="^rtprelay_interface 'extern' not present$"):
        p.set_property("rtprelay_interface", "extern")
    with pytest.raises(ProfilePropertyError, match="^aleg_rtprelay_interface 'x' not present$"):
        p.set_property("aleg_rtprelay_interface", "x", interfaces=("default",))


def test_M_sbc_1_message_list_and_message_filter_quirks() -> None:
    """``message_list`` adds an entry without filter type (no effect); ``message_filter`` is a no-op."""
    p = CallProfile("p", message_filter="whitelist", message_list=("BYE",))
    p.set_property("message_list", "INFO,MESSAGE")
    p.set_property("message_filter", "blacklist")
    assert p.message_filter == "whitelist"
    assert p.message_filter_entries == [("undefined", ("INFO", "MESSAGE"))]
    assert message_allowed(p, "BYE") and not message_allowed(p, "INFO")


def test_M_sbc_1_profile_set_in_start_changes_the_relayed_invite() -> None:
    """Set on the call's copy before plan_leg: the relayed INVITE follows it."""
    p = CallProfile("p").for_call()
    p.set_property("RURI", "sip:alice@10.0.0.5")
    p.set_property("rtprelay_enabled", "yes")
    plan = plan_leg(p, make_invite(), ("192.0.2.10", 5062), ("127.0.0.1", 5060))
    assert isinstance(plan, LegPlan)
    assert plan.ruri == "sip:alice@10.0.0.5" and plan.rtp_relay
    p.set_property("refuse_with", "486 Busy Here")
    assert plan_leg(p, make_invite(), ("192.0.2.10", 5062), ("127.0.0.1", 5060)).code == 486  # type: ignore[union-attr]
