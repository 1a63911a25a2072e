"""Authentication by the SBC (``enable_auth``, ``enable_aleg_auth``), on the wire and in parts.

sipp caller -> ``dsm serve --sbc`` -> sipp callee on loopback, as in
``test_relay_wire``; sipp's ``verifyauth`` checks the digest credentials
the SBC computes (RFC 2617 MD5 with ``qop=auth``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from relay_rig import SbcRig, caller_invite, check, recv_request, scenario
from test_relay_wire import ANSWERED, CALLEE_BYE, CALLER_BYE, KEEP_DIALOG
from test_sip_dialout import RESPONSE_HEAD, recv, reply
from test_sip_serve import ACK_2XX, ACK_FAILURE, pause, reply_to_last

from dsm.runtime.sbc.bleg_timer import BLegTimer, bleg_timer_config
from dsm.runtime.sbc.conf import load_profile
from dsm.runtime.sbc.leg_auth import (
    BLegInvite,
    Credentials,
    LegAuthError,
    check_auth_keys,
    leg_credentials,
)
from dsm.runtime.sbc.patterns import PatternContext
from dsm.runtime.sbc.profile import CallProfile, SbcConfigError
from dsm.runtime.sip.message import Request, Response, parse_message

CHALLENGE = 'WWW-Authenticate: Digest realm="sipp.test", nonce="4f2a9c1e", qop="auth", algorithm=MD5'


def challenge(status: str = "401 Unauthorized", header: str = CHALLENGE) -> str:
    """The callee's challenge to the INVITE it just received."""
    return f"  <send>\n    <![CDATA[\n      SIP/2.0 {status}\n{RESPONSE_HEAD}      {header}\n      Content-Length: 0\n    ]]>\n  </send>\n"


def verified(method: str, *checks: str) -> str:
    """Receive ``method`` again, now with credentials that sipp's verifyauth must accept."""
    return recv_request(
        method,
        check("Authorization: Digest username=.alice.", f"creds_{method.lower()}"),
        *checks,
        f'<verifyauth assign_to="ok_{method.lower()}" username="alice" password="secret"/>',
    ) + f'  <nop hide="true" test="ok_{method.lower()}" next="ok_{method.lower()}"/>\n  <nop hide="true" next="bad"/>\n  <label id="ok_{method.lower()}"/>\n'


APP_PARAM = "      P-App-Param: u=alice;p=secret\n"


def test_enable_auth_answers_the_callees_401_to_invite_and_bye_verified_by_sipp(rig: SbcRig) -> None:
    """``enable_auth=yes``, ``auth_user=$P(u)``, ``auth_pwd=$P(p)`` (from the caller's P-App-Param):
    the callee's 401 to the B leg's INVITE is answered once (same Call-ID, CSeq 2) with credentials
    sipp's verifyauth accepts; the caller sees only the 200; the callee's 401 to the relayed BYE is
    answered too.  The password appears in no log line."""
    port = rig.callee(
        scenario(
            "callee",
            recv_request("INVITE"), challenge(), recv("ACK"),
            verified("INVITE", check("CSeq: 2 INVITE", "cseq2")),
            reply(200, "OK", sdp=True), recv("ACK"),
            recv_request("BYE"), reply_to_last("401 Unauthorized", f"      {CHALLENGE}\n"),
            verified("BYE"), reply_to_last(),
            '  <nop hide="true" next="end"/>\n  <label id="bad"/>\n',
            reply_to_last("403 Forbidden"), '  <label id="end"/>\n',
            refs="creds_invite,creds_bye,cseq2",
        )  # fmt: skip
    )
    rig.profile("auth", f"next_hop=127.0.0.1:{port}\nenable_auth=yes\nauth_user=$P(u)\nauth_pwd=$P(p)\n")
    server = rig.start(["auth"], "auth")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}", APP_PARAM), ANSWERED, ACK_2XX, pause(200),
            CALLER_BYE, refs="x,totag",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [200]
    assert call.b_invite is not None and call.b_invite.auth_tries == 1
    log = server.log_text.getvalue()
    assert "secret" not in log.replace("u=alice;p=secret", "")  # the password in no log line
    assert "Secret" not in repr(Credentials("alice", "Secret"))


def test_without_enable_auth_the_callees_challenge_goes_back_to_the_caller(rig: SbcRig) -> None:
    """No ``enable_auth``: the 401 and its WWW-Authenticate reach the caller, who may answer it."""
    port = rig.callee(scenario("callee", recv_request("INVITE"), challenge(), recv("ACK")))
    rig.profile("plain", f"next_hop=127.0.0.1:{port}\n")
    rig.start(["plain"], "plain")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"),
            '  <recv response="401" response_txn="invite">\n    <action>'
            + check('Digest realm="sipp.test"', "www", 'search_in="hdr" header="WWW-Authenticate:"')
            + "</action>\n  </recv>\n",
            ACK_FAILURE, refs="www",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [401]


def test_enable_aleg_auth_answers_the_callers_407_to_the_relayed_bye(rig: SbcRig) -> None:
    """``enable_aleg_auth=yes``: the callee hangs up; the caller challenges the SBC's BYE with 407,
    which is answered once with Proxy-Authorization that the caller's verifyauth accepts."""
    port = rig.callee(
        scenario(
            "callee", recv_request("INVITE", *KEEP_DIALOG), reply(200, "OK", sdp=True), recv("ACK"),
            pause(200), CALLEE_BYE, refs="from_hdr,to_hdr,cid",
        )  # fmt: skip
    )
    rig.profile(
        "aauth", f"next_hop=127.0.0.1:{port}\nenable_aleg_auth=yes\nauth_aleg_user=alice\nauth_aleg_pwd=secret\n"
    )
    rig.start(["aauth"], "aauth")
    proxy_challenge = CHALLENGE.replace("WWW-Authenticate", "Proxy-Authenticate")
    rig.call(
        scenario(
            "caller", caller_invite(f"bob@127.0.0.1:{port}"), ANSWERED, ACK_2XX,
            recv_request("BYE"), reply_to_last("407 Proxy Authentication Required", f"      {proxy_challenge}\n"),
            recv_request(
                "BYE", check("Proxy-Authorization: Digest username=.alice.", "creds"),
                '<verifyauth assign_to="ok" username="alice" password="secret"/>',
            ),
            '  <nop hide="true" test="ok" next="good"/>\n', reply_to_last("403 Forbidden"),
            '  <nop hide="true" next="end"/>\n  <label id="good"/>\n', reply_to_last(), '  <label id="end"/>\n',
            refs="x,totag,creds",
        )  # fmt: skip
    )
    rig.finish_callee()
    (call,) = rig.ended_calls(1)
    assert call.codes == [200]


# -- the parts --------------------------------------------------------------------------------------------
def _invite(extra: str = "") -> Request:
    text = (
        "INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.net>\r\nCall-ID: c1\r\n"
        f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def _response(status: int, reason: str, extra: str = "") -> Response:
    text = (
        f"SIP/2.0 {status} {reason}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.net>;tag=2\r\nCall-ID: c1\r\n"
        f"CSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Response)
    return message


def test_leg_credentials_evaluate_patterns_per_leg_and_refuse_an_empty_user() -> None:
    ctx = PatternContext(_invite("P-App-Param: u=carol;p=pw\r\n"))
    profile = CallProfile("p", raw={"enable_auth": "yes", "auth_user": "$P(u)", "auth_pwd": "$P(p)"})
    assert leg_credentials(profile, ctx, "b") == Credentials("carol", "pw")
    assert leg_credentials(profile, ctx, "a") is None
    aleg = CallProfile("p", raw={"enable_aleg_auth": "yes", "auth_aleg_user": "$P(x)"})
    with pytest.raises(LegAuthError, match="auth_aleg_user is empty"):
        leg_credentials(aleg, ctx, "a")
    assert leg_credentials(CallProfile("p", raw={"enable_auth": "no", "auth_user": "u"}), ctx, "b") is None


def test_profile_loader_refuses_bad_auth_and_timer_keys(tmp_path: Path) -> None:
    assert check_auth_keys({"enable_auth": "yes", "auth_user": "u"}) == []
    path = tmp_path / "p.sbcprofile.conf"
    for text, message in (
        ("enable_auth=maybe\n", "enable_auth: 'maybe' is not yes or no"),
        ("enable_aleg_auth=yes\n", "enable_aleg_auth=yes needs auth_aleg_user"),
        ("session_refresh_method=OPTIONS\n", "session_refresh_method: 'OPTIONS' is not one of"),
        ("maximum_timer=soon\n", "maximum_timer: 'soon' is not a number of seconds"),
    ):
        path.write_text(text)
        with pytest.raises(SbcConfigError, match=message):
            load_profile("p", str(path))


def _b_invite(timer: BLegTimer | None, credentials: Credentials | None = None) -> BLegInvite:
    return BLegInvite(
        ruri="sip:bob@example.net", from_="<sip:alice@example.com>", to=None, body=b"", content_type=None,
        headers=timer.invite_headers([]) if timer is not None else [], call_id="c1", local_tag="t",
        credentials=credentials, timer=timer,
    )  # fmt: skip


def test_b_invite_answers_one_challenge_and_does_not_follow_redirects() -> None:
    invite = _b_invite(None, Credentials("alice", "secret"))
    assert invite.ack_later  # no offer in the INVITE: a late offer
    challenged = _response(401, "Unauthorized", CHALLENGE + "\r\n")
    assert invite.retry(challenged) and invite.cseq == 2
    assert invite.credentials[0][0] == "Authorization"
    assert not invite.retry(challenged)  # refused credentials: the 401 is final
    moved = _response(302, "Moved", "Contact: <sip:carol@example.org>\r\n")
    assert not invite.retry(moved)  # the caller follows redirects, not the SBC
    assert not _b_invite(None).retry(challenged)  # no credentials: back to the caller


def test_b_invite_retries_422_once_with_the_callees_min_se_within_maximum_timer() -> None:
    profile = CallProfile("p", enable_session_timer=True, session_expires=120, minimum_timer=90,
                          raw={"maximum_timer": "1800", "session_refresh_method": "UPDATE"})  # fmt: skip
    config = bleg_timer_config(profile)
    assert config is not None and config.max_se == 1800 and config.refresh_method == "UPDATE"
    timer = BLegTimer(config)
    invite = _b_invite(timer)
    too_small = _response(422, "Session Interval Too Small", "Min-SE: 600\r\n")
    assert invite.retry(too_small) and invite.cseq == 2
    assert ("Session-Expires", "600") in invite.headers and ("Min-SE", "600") in invite.headers
    assert timer.interval == 600 and timer.refresh_method() == "UPDATE"
    assert not invite.retry(_response(422, "Session Interval Too Small", "Min-SE: 900\r\n"))  # once only
    over = _b_invite(BLegTimer(config))
    assert not over.retry(_response(422, "Session Interval Too Small", "Min-SE: 3600\r\n"))  # > maximum_timer
    assert not _b_invite(None).retry(too_small)  # no B leg timer: the caller's to handle


def test_sbc_conf_gives_maximum_timer_and_refresh_method_unless_the_profile_does() -> None:
    profile = CallProfile("p", enable_session_timer=True, session_expires=300, raw={"session_refresh_method": "INVITE"})
    config = bleg_timer_config(profile, {"maximum_timer": "200", "session_refresh_method": "UPDATE"})
    assert config is not None
    assert (config.session_expires, config.max_se, config.refresh_method) == (200, 200, "INVITE")


def test_sbc_conf_with_a_bad_refresh_method_does_not_load(tmp_path: Path) -> None:
    from dsm.runtime.sbc.conf import load_config

    (tmp_path / "p.sbcprofile.conf").write_text("")
    conf = tmp_path / "sbc.conf"
    conf.write_text("load_profiles=p\nactive_profile=p\nsession_refresh_method=NOTIFY\n")
    with pytest.raises(SbcConfigError, match="session_refresh_method: 'NOTIFY'"):
        load_config(str(conf))
