"""Contact rewriting of a leg (``bleg_contact_*``, Readme.sbc "Contact header rewriting"), sans-I/O.

The relay's own Contact (or the profile's ``Contact``) is the base; each
evaluated ``<leg>_contact_<part>`` that is not empty replaces that part:
``host``, ``port``, ``user``, ``displayname``, ``uri_params`` (added to
the URI, ``;``-separated) and ``params`` (header parameters, likewise).
Empty or unset parts leave the base as it is, as the reference does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.uri import NameAddress, SipUri, parse_params

__all__ = ["CONTACT_PARTS", "contact_parts", "rewrite_contact"]

CONTACT_PARTS = ("host", "port", "user", "displayname", "uri_params", "params")


def contact_parts(raw: Mapping[str, str], leg: str, evaluate: Callable[[str], str]) -> dict[str, str]:
    """The non-empty evaluated ``<leg>_contact_<part>`` values of a profile's ``raw`` keys."""
    out: dict[str, str] = {}
    for part in CONTACT_PARTS:
        text = raw.get(f"{leg}_contact_{part}", "")
        value = evaluate(text).strip() if text else ""
        if value:
            out[part] = value
    return out


def rewrite_contact(base: str, parts: Mapping[str, str]) -> str:
    """``base`` (a Contact value) with ``parts`` replaced; :class:`ValueError` if the result is not valid.

    The message names the part at fault, so a bad profile value gives a
    clear refusal and log line, never a malformed INVITE.
    """
    try:
        address = NameAddress.parse(base)
    except ParseError as exc:
        raise ValueError(f"Contact '{base}': {exc}") from None
    uri = address.uri
    if not isinstance(uri, SipUri):
        raise ValueError(f"Contact '{base}' is not a SIP URI")
    if "port" in parts:
        port = parts["port"]
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"contact_port '{port}' is not a port number")
        uri.port = int(port)
    if "host" in parts:
        uri.host = parts["host"].strip("[]")
    if "user" in parts:
        uri.user = parts["user"]
    if "displayname" in parts:
        address.display_name = parts["displayname"]
    try:
        if "uri_params" in parts:
            uri.params.update(parse_params(parts["uri_params"]))
        if "params" in parts:
            address.params.update(parse_params(parts["params"]))
        text = str(address)
        NameAddress.parse(text)
    except ParseError as exc:
        raise ValueError(f"Contact parts {dict(parts)}: {exc}") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("Contact with control characters")
    return text
