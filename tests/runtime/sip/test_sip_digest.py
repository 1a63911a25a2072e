"""Digest credentials for our outgoing requests (RFC 2617, RFC 7616, RFC 8760), sans-I/O."""

from __future__ import annotations

from dsm.runtime.sip.digest import authorization, choose, parse_challenges
from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.invite_retry import MAX_REDIRECTS, OutgoingInvite
from dsm.runtime.sip.message import Response

RFC7616 = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def _answer(alg: str) -> str:
    (challenge,) = parse_challenges([RFC7616.format(alg=alg)])
    return authorization(
        challenge, method="GET", uri="/dir/index.html", user="Mufasa",
        password="Circle of Life", cnonce=CNONCE,
    )  # fmt: skip


def test_rfc7616_example_md5_and_sha256_responses() -> None:
    """The worked examples of RFC 7616 3.9.1 (qop=auth, nc=00000001)."""
    assert 'response="8ca523f5e9506fed4657c9700eebdbec"' in _answer("MD5")
    sha = _answer("SHA-256")
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in sha
    assert "qop=auth," in sha and "nc=00000001" in sha and "algorithm=SHA-256" in sha
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in sha


def test_choose_prefers_sha256_and_skips_unknown_schemes() -> None:
    got = choose(
        parse_challenges(
            [
                'Basic realm="x"',
                'Digest realm="a", nonce="1", algorithm=MD5',
                'Digest realm="a", nonce="2", algorithm=SHA-256',
                'Digest realm="a", nonce="3", algorithm=SHA-512-256',
            ]
        )
    )
    assert got is not None and got.nonce == "2"
    assert choose(parse_challenges(['Digest realm="a", nonce="3", algorithm=SHA-512-256'])) is None


def _response(status: int, *headers: tuple[str, str]) -> Response:
    h = Headers()
    for name, value in (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"),
        ("From", "<sip:a@127.0.0.1>;tag=1"),
        ("To", "<sip:b@127.0.0.1>;tag=2"),
        ("Call-ID", "c"),
        ("CSeq", "1 INVITE"),
        *headers,
    ):
        h.add(name, value)
    return Response(headers=h, status=status, reason="x")


def _invite(user: str = "alice", pwd: str = "secret") -> OutgoingInvite:
    return OutgoingInvite(
        ruri="sip:b@127.0.0.1:5070", from_="<sip:a@127.0.0.1>", to=None, body=b"",
        content_type=None, headers=[], call_id="c", auth_user=user, auth_pwd=pwd,
    )  # fmt: skip


def test_401_answered_once_then_refused_credentials_are_final() -> None:
    challenge = ("WWW-Authenticate", 'Digest realm="r", nonce="n1", qop="auth"')
    invite = _invite()
    assert invite.retry(_response(401, challenge))
    assert invite.cseq == 2 and invite.credentials[0][0] == "Authorization"
    assert not invite.retry(_response(401, challenge))  # the same credentials again: final
    stale = ("WWW-Authenticate", 'Digest realm="r", nonce="n2", qop="auth", stale=true')
    invite = _invite()
    assert invite.retry(_response(401, challenge)) and invite.retry(_response(401, stale))


def test_407_uses_proxy_authorization_and_no_credentials_is_final() -> None:
    challenge = ("Proxy-Authenticate", 'Digest realm="r", nonce="n1"')
    invite = _invite()
    assert invite.retry(_response(407, challenge))
    assert invite.credentials[0][0] == "Proxy-Authorization"
    assert not _invite("", "").retry(_response(407, challenge))


def test_3xx_followed_a_bounded_number_of_times_never_twice_to_one_uri() -> None:
    invite = _invite()
    for n in range(MAX_REDIRECTS):
        assert invite.retry(_response(302, ("Contact", f"<sip:b@127.0.0.1:{6000 + n}>")))
    assert not invite.retry(_response(302, ("Contact", "<sip:b@127.0.0.1:7000>")))
    invite = _invite()
    assert not invite.retry(_response(302, ("Contact", "<sip:b@127.0.0.1:5070>")))  # itself
    assert not invite.retry(_response(302, ("Contact", "<tel:+1234>")))
    assert not invite.retry(None)
