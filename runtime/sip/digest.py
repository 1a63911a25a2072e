"""HTTP digest authentication for requests we send (RFC 2617 / RFC 7616 with MD5), sans I/O.

Only the client side, and only what a SUBSCRIBE needs: read a
``WWW-Authenticate`` / ``Proxy-Authenticate`` challenge, compute the
``Authorization`` / ``Proxy-Authorization`` value with ``qop=auth`` when
offered (else the RFC 2069 form).  ``MD5-sess`` and ``auth-int`` are not
offered by the notifiers this serves and are refused (``None``).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["parse_challenge", "authorization"]

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenge(value: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` challenge (names lower case), or ``None`` for another scheme."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name] = raw
    return params if "nonce" in params else None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def authorization(
    challenge: dict[str, str], *, method: str, uri: str, user: str, password: str, cnonce: str
) -> str | None:
    """The credentials answering ``challenge`` (nonce count 1), or ``None`` when we cannot."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        return None
    realm, nonce = challenge.get("realm", ""), challenge["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    fields = [
        f'username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
    ]
    if qops:
        if "auth" not in qops:
            return None
        nc = "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += [
            f'response="{response}"',
            "algorithm=MD5",
            "qop=auth",
            f"nc={nc}",
            f'cnonce="{cnonce}"',
        ]
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
        fields += [f'response="{response}"', "algorithm=MD5"]
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(fields)
