"""HTTP digest authentication for our outgoing requests (RFC 2617, RFC 7616, RFC 8760).

Sans-I/O: :func:`parse_challenges` reads the ``WWW-Authenticate`` /
``Proxy-Authenticate`` values of a 401/407, :func:`choose` takes the one we
answer (SHA-256 before MD5, ``-sess`` variants accepted), and
:func:`authorization` computes the ``Authorization`` /
``Proxy-Authorization`` value for a request.  The client nonce comes from
the caller, so the whole computation is deterministic under test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_challenges", "choose", "authorization", "ALGORITHMS", "AUTH_HEADERS"]

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}
"""The digest algorithms we answer (each also as ``<name>-sess``), by their RFC names."""

_PREFERENCE = ("SHA-256", "SHA-256-SESS", "MD5", "MD5-SESS")


AUTH_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}
"""The challenge header of each status and the header that answers it (RFC 3261 22.2, 22.3)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``Digest`` challenge: its parameters, names lower-cased."""

    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def nonce(self) -> str:
        return self.params.get("nonce", "")

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper()

    @property
    def qops(self) -> list[str]:
        return [q.strip().lower() for q in self.params.get("qop", "").split(",") if q.strip()]

    @property
    def stale(self) -> bool:
        return self.params.get("stale", "").lower() == "true"


def _auth_params(text: str) -> list[tuple[str, str]]:
    """``a=b, c="d, e"`` -> pairs; quoted strings may hold commas and escaped quotes."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in "=, \t":
            i += 1
        name = text[start:i].strip().lower()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            if name:
                out.append((name, ""))
            continue
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            i += 1
            value = "".join(chars)
        else:
            start = i
            while i < n and text[i] != ",":
                i += 1
            value = text[start:i].strip()
        if name:
            out.append((name, value))
    return out


def parse_challenges(values: list[str]) -> list[Challenge]:
    """The ``Digest`` challenges among header values (other schemes are skipped)."""
    out: list[Challenge] = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            continue
        params = dict(_auth_params(rest))
        if params.get("nonce") is not None:
            out.append(Challenge(params))
    return out


def choose(challenges: list[Challenge]) -> Challenge | None:
    """The challenge we answer: the strongest algorithm we know, ``qop=auth`` or none offered."""
    usable = [
        c
        for c in challenges
        if c.algorithm in _PREFERENCE and (not c.qops or "auth" in c.qops or "auth-int" in c.qops)
    ]
    usable.sort(key=lambda c: _PREFERENCE.index(c.algorithm))
    return usable[0] if usable else None


def _hash(algorithm: str, text: str | bytes) -> str:
    name = ALGORITHMS[algorithm.removesuffix("-SESS")]
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.new(name, data).hexdigest()


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    user: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The credentials answering ``challenge`` for ``method uri`` (RFC 7616 3.4.1)."""
    algorithm = challenge.algorithm
    realm, nonce = challenge.realm, challenge.nonce
    ha1 = _hash(algorithm, f"{user}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    qops = challenge.qops
    qop = "auth" if "auth" in qops else ("auth-int" if "auth-int" in qops else "")
    if qop == "auth-int":
        body_hash = _hash(algorithm, body)
        ha2 = _hash(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    count = f"{nc:08x}"
    if qop:
        response = _hash(algorithm, f"{ha1}:{nonce}:{count}:{cnonce}:{qop}:{ha2}")
    else:
        response = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    parts = [
        f"username={_quote(user)}",
        f"realm={_quote(realm)}",
        f"nonce={_quote(nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.params.get('algorithm', 'MD5')}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={count}", f"cnonce={_quote(cnonce)}"]
    if "opaque" in challenge.params:
        parts.append(f"opaque={_quote(challenge.params['opaque'])}")
    return "Digest " + ", ".join(parts)
