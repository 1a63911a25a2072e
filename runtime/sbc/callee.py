"""``sbc.addCallee(var, name)``: the plan of the new B leg from the script's ``<name>.*`` variables.

M-sbc-9 names the variables; here is what each does to the new leg:

* ``remote_party``: the To, and as a URI the R-URI; ``local_party``: the
  From (else the last plan's, else the caller's); ``hdrs``: extra headers
  (``\\r\\n`` between them);
* ``next_hop``: where the INVITE goes (``host[:port][/transport]``, as the
  profile key); ``outbound_proxy``: a ``Route`` to it (loose routing) and,
  without ``next_hop``, the INVITE goes there;
* ``next_hop_patch_ruri`` (exactly ``true``): the R-URI's host and port
  become the next hop's;
* ``next_hop_1st_req`` (exactly ``true``): only the INVITE goes to the next
  hop, later requests of the new dialog follow the callee's Contact (else
  they all go to the next hop, as the profile key says); ``next_hop_fixed``:
  accepted, no effect;
* ``transparent_dlg_id`` (exactly ``true``; stored in the leg's profile as
  the reference does): the new leg's From tag is the caller's.  Its Call-ID
  stays a new one: the SIP core knows dialogs by Call-ID, and the caller's
  leg holds that one;
* ``outbound_interface``, ``rtp_interface``: ``default`` (or empty) is the
  only interface; another name raises :class:`ProfilePropertyError` with
  ``<key> '<name>' not present`` (``errno = arg`` in the script), and no
  callee is added.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsm.runtime.sbc.conf import MEDIA_INTERFACES
from dsm.runtime.sbc.profile import (
    CallProfile,
    LegPlan,
    ProfilePropertyError,
    _next_hop,
    _patch_host,
)
from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.sipcall import header_lines
from dsm.runtime.sip.uri import NameAddress

__all__ = ["callee_plan", "CalleeError", "check_interfaces"]


class CalleeError(ValueError):
    """The variables do not make a callee (a bad ``remote_party`` or ``next_hop``)."""


def check_interfaces(spec: Mapping[str, str]) -> None:
    """``outbound_interface``/``rtp_interface`` must name ``default``; else ProfilePropertyError."""
    for key in ("outbound_interface", "rtp_interface"):
        value = spec.get(key, "")
        if value not in MEDIA_INTERFACES:
            raise ProfilePropertyError(f"{key} '{value}' not present")


def callee_plan(
    spec: Mapping[str, str],
    profile: CallProfile,
    last: LegPlan | None,
    *,
    caller_from: str,
    body: bytes,
    content_type: str,
    call_id: str,
) -> LegPlan:
    """The new B leg's :class:`LegPlan` (see the module docstring); ``call_id`` is a fresh one."""
    check_interfaces(spec)
    if "next_hop_1st_req" in spec:
        profile.next_hop_1st_req = spec["next_hop_1st_req"] == "true"
    profile.raw["transparent_dlg_id"] = "true" if spec.get("transparent_dlg_id") == "true" else "false"
    remote = spec.get("remote_party", "")
    try:
        ruri = str(NameAddress.parse(remote).uri)
    except ParseError:
        raise CalleeError(f"sbc.addCallee: bad remote_party {remote!r}") from None
    headers = list(header_lines(spec.get("hdrs", "").replace("\\r\\n", "\r\n")))
    destination = ""
    if spec.get("next_hop", ""):
        hop = _next_hop(spec["next_hop"])
        if not hop:
            raise CalleeError(f"sbc.addCallee: bad next_hop {spec['next_hop']!r}")
        destination = hop
    proxy = spec.get("outbound_proxy", "").strip()
    if proxy:
        headers.insert(0, ("Route", proxy if proxy.startswith("<") else f"<{proxy};lr>"))
        if not destination:
            destination = _next_hop(proxy.strip("<>").split(";", 1)[0]) or ""
    if spec.get("next_hop_patch_ruri") == "true" and destination:
        ruri = _patch_host(ruri, destination)
    return LegPlan(
        ruri=ruri,
        from_=spec.get("local_party", "") or (last.from_ if last is not None else caller_from),
        to=remote,
        call_id=call_id,
        destination=destination,
        headers=tuple(headers),
        body=body,
        content_type=content_type if body else "",
        rtp_relay=last.rtp_relay if last is not None else profile.enable_rtp_relay,
        call_timer=last.call_timer if last is not None else 0,
    )
