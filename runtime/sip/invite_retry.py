"""An outgoing INVITE that real networks answer with 401/407 or 3xx: the B leg and ``dlg.dialout``.

:class:`OutgoingInvite` holds what the INVITE is made of and sends it
through the SIP core; when the INVITE fails, :meth:`OutgoingInvite.retry`
decides whether the failure is final for the caller:

* ``401``/``407`` with a ``Digest`` challenge we can answer (MD5 or
  SHA-256, RFC 2617/7616/8760) and credentials given: the INVITE is sent
  again with ``Authorization``/``Proxy-Authorization`` -- same Call-ID and
  From tag, next CSeq (RFC 3261 22.2).  A second challenge is answered only
  when it says ``stale=true``, so wrong credentials end with the 401/407;
* ``3xx`` with a SIP ``Contact``: the INVITE goes to that URI, at most
  :data:`MAX_REDIRECTS` times and never twice to the same URI.

A request URI with ``;transport=tcp`` goes over TCP (the core picks the
transport from the URI).  Nothing here does I/O except through
``calls.run``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

from dsm.runtime.sip.digest import AUTH_HEADERS, authorization, choose, parse_challenges
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.message import Response
from dsm.runtime.sip.ua_common import Outputs
from dsm.runtime.sip.uri import NameAddress, SipUri

__all__ = ["OutgoingInvite", "MAX_REDIRECTS"]

MAX_REDIRECTS = 5
"""How many 3xx replies one INVITE follows before the last one is final."""


class OutgoingInvite:
    """One outgoing call's INVITE, re-sent for authentication and redirects."""

    def __init__(
        self,
        *,
        ruri: str,
        from_: str,
        to: str | None,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]],
        call_id: str,
        auth_user: str = "",
        auth_pwd: str = "",
        rng: random.Random | None = None,
        ack_later: bool = False,
    ) -> None:
        self.ruri = ruri
        self.from_ = from_
        self.to = to
        self.body = body
        self.content_type = content_type
        self.headers = headers
        self.call_id = call_id
        self.auth_user = auth_user
        self.auth_pwd = auth_pwd
        self.rng = rng or random.Random()
        self.ack_later = ack_later
        """No offer in the INVITE: the 2xx's ACK waits for the answer (``UserAgentServer.ack``)."""
        self.cseq = 1
        self.local_tag: str | None = None
        self.credentials: list[tuple[str, str]] = []
        self.auth_tries = 0
        self.visited = [ruri]
        self.redirects = 0

    def send(self, run: Callable[[Callable[[float], Outputs]], None], core: Any) -> None:
        """Send (or re-send) the INVITE; raises ``UserAgentError`` when it cannot be built."""

        def step(now: float) -> Outputs:
            _, outputs = core.invite(
                self.ruri,
                from_uri=self.from_,
                to=self.to,
                now=now,
                body=self.body,
                content_type=self.content_type,
                headers=[*self.headers, *self.credentials],
                call_id=self.call_id,
                local_tag=self.local_tag,
                cseq=self.cseq,
                ack_later=self.ack_later,
                credentials=(self.auth_user, self.auth_pwd) if self.auth_user and self.auth_pwd else None,
            )
            result: Outputs = outputs
            return result

        run(step)
        self.local_tag = core.calls[self.call_id].local_tag

    def retry(self, response: Response | None) -> bool:
        """Whether the failed INVITE is to be sent again (state updated for :meth:`send`)."""
        if response is None:
            return False
        status = response.status
        if status in AUTH_HEADERS:
            return self._authenticate(response)
        if 300 <= status < 400:
            return self._redirect(response)
        return False

    def _authenticate(self, response: Response) -> bool:
        if not (self.auth_user and self.auth_pwd):
            return False
        challenge_header, answer_header = AUTH_HEADERS[response.status]
        challenge = choose(parse_challenges(response.headers.get_all(challenge_header)))
        if challenge is None:
            return False
        if self.auth_tries >= 1 and not challenge.stale:
            return False  # the credentials were refused
        if self.auth_tries >= 3:
            return False
        self.auth_tries += 1
        self.cseq += 1
        value = authorization(
            challenge,
            method="INVITE",
            uri=self.ruri,
            user=self.auth_user,
            password=self.auth_pwd,
            cnonce=f"{self.rng.getrandbits(64):016x}",
            body=self.body,
        )
        self.credentials = [(h, v) for h, v in self.credentials if h != answer_header]
        self.credentials.append((answer_header, value))
        return True

    def _redirect(self, response: Response) -> bool:
        if self.redirects >= MAX_REDIRECTS:
            return False
        target: SipUri | None = None
        with contextlib.suppress(ParseError):
            for value in response.headers.get_all("Contact"):
                uri = NameAddress.parse(value).uri
                if isinstance(uri, SipUri) and str(uri) not in self.visited:
                    target = uri
                    break
        if target is None:
            return False
        self.redirects += 1
        self.ruri = str(target)
        self.visited.append(self.ruri)
        self.cseq += 1
        self.credentials = []
        self.auth_tries = 0
        return True
