"""Loading ``sbc.conf``, ``<name>.sbcprofile.conf`` and regex maps into the profile model.

Files use the server's ``key=value`` syntax (``config.md`` CF-2, read by
:func:`dsm.runtime.config.read_conf`: ``#`` comments, quoted values keep
their backslashes, which the pattern evaluator then resolves).  Every
problem becomes one :class:`SbcConfigError` naming ``file:line``; nothing
here lets a Python traceback out for bad input.  Keys the model does not
know stay in ``CallProfile.raw`` (call-control values and the like).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

from dsm.runtime.config import ConfFile, read_conf
from dsm.runtime.sbc.bleg_timer import check_timer_keys
from dsm.runtime.sbc.filters import FILTER_TYPES, parse_reply_translations
from dsm.runtime.sbc.leg_auth import check_auth_keys
from dsm.runtime.sbc.profile import CallProfile, SbcConfig, SbcConfigError, parse_bool

__all__ = ["load_config", "load_profile", "load_regex_map", "TEXT_KEYS", "BOOL_KEYS"]

TEXT_KEYS: dict[str, str] = {
    "RURI": "ruri",
    "RURI_host": "ruri_host",
    "From": "from_",
    "To": "to",
    "Contact": "contact",
    "Call-ID": "call_id",
    "next_hop": "next_hop",
    "outbound_proxy": "outbound_proxy",
    "aleg_outbound_proxy": "aleg_outbound_proxy",
    "aleg_next_hop": "aleg_next_hop",
    "refuse_with": "refuse_with",
    "append_headers": "append_headers",
    "append_headers_req": "append_headers_req",
    "aleg_append_headers_req": "aleg_append_headers_req",
    "rtprelay_interface": "rtprelay_interface",
    "aleg_rtprelay_interface": "aleg_rtprelay_interface",
    "call_timer": "call_timer",
}
"""Profile file key -> :class:`CallProfile` field, for text (pattern) values."""

BOOL_KEYS: dict[str, str] = {
    "next_hop_1st_req": "next_hop_1st_req",
    "patch_ruri_next_hop": "patch_ruri_next_hop",
    "force_outbound_proxy": "force_outbound_proxy",
    "aleg_force_outbound_proxy": "aleg_force_outbound_proxy",
    "rtprelay_force_symmetric_rtp": "force_symmetric_rtp",
    "aleg_rtprelay_force_symmetric_rtp": "aleg_force_symmetric_rtp",
    "rtprelay_msgflags_symmetric_rtp": "msgflags_symmetric_rtp",
    "rtprelay_transparent_seqno": "rtprelay_transparent_seqno",
    "rtprelay_transparent_ssrc": "rtprelay_transparent_ssrc",
    "rtprelay_dtmf_filtering": "rtprelay_dtmf_filtering",
    "rtprelay_dtmf_detection": "rtprelay_dtmf_detection",
    "enable_session_timer": "enable_session_timer",
    "enable_aleg_session_timer": "enable_aleg_session_timer",
    "enable_call_timer": "enable_call_timer",
    "sdp_anonymize": "sdp_anonymize",
}
"""Profile file key -> boolean field (``yes``/``true``/``1`` or ``no``/``false``/``0``)."""

_INT_KEYS = {
    "session_expires": "session_expires",
    "minimum_timer": "minimum_timer",
    "aleg_session_expires": "aleg_session_expires",
}
_FILTER_KEYS = {"header_filter", "message_filter", "sdp_filter", "aleg_sdp_filter", "sdp_alines_filter"}
_LIST_KEYS = {
    "header_list": "header_list",
    "message_list": "message_list",
    "sdpfilter_list": "sdpfilter_list",
    "aleg_sdpfilter_list": "aleg_sdpfilter_list",
    "sdp_alinesfilter_list": "sdp_alinesfilter_list",
}
_SST_DEFAULT_KEYS = ("enable_session_timer", "session_expires", "minimum_timer")
_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")
"""Profile and regex map names: they become file names, so no paths, no control characters."""
_REFUSE = re.compile(r"^[1-6][0-9][0-9] \S.*$")


MEDIA_INTERFACES = ("", "default")
"""The relay's media interfaces by name: only ``default`` (the ``--sip`` address); empty means it."""


def _error(path: str, line: int, message: str) -> Exception:
    return SbcConfigError(f"{path}:{line}: {message}")


def _items(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _read(path: str, what: str) -> ConfFile:
    if "\x00" in path or not os.path.isfile(path):
        raise _error(path, 1, f"cannot read {what}: no such file")
    try:
        conf = read_conf(path)
    except ValueError as exc:  # e.g. a NUL byte in an @include name (the shared reader lets it out)
        raise _error(path, 1, f"cannot read {what}: {exc}") from None
    for d in conf.diagnostics:
        if d.severity == "error":
            raise _error(d.path or path, d.line, d.message)
    return conf


def _md5(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
    except OSError:
        return ""


def load_profile(name: str, path: str, defaults: Mapping[str, str] | SbcConfig | None = None) -> CallProfile:
    """One ``<name>.sbcprofile.conf``; ``defaults`` (``sbc.conf`` or its values) give session-timer keys.

    Also ``reload profile``/``load profile``; raises :class:`SbcConfigError` on a problem.
    """
    if isinstance(defaults, SbcConfig):
        defaults = defaults.raw
    conf = _read(path, f"call profile '{name}'")
    values = dict(conf.values)
    lines = conf.lines
    for key in _SST_DEFAULT_KEYS:
        if key not in values and defaults and key in defaults:
            values[key] = defaults[key]
    p = CallProfile(name=name, path=path, raw=dict(conf.values))
    p.md5 = _md5(path)

    def line(key: str) -> int:
        return lines.get(key, 1)

    for key, attr in TEXT_KEYS.items():
        if key in values:
            setattr(p, attr, values[key])
    for key in ("rtprelay_interface", "aleg_rtprelay_interface"):
        if values.get(key, "") not in MEDIA_INTERFACES:
            raise _error(
                path, line(key), f"{key}: '{values[key]}' is not a media interface (the only one is 'default', the --sip address)"
            )
    for key in ("enable_rtprelay", "enable_rtp_relay"):
        if key in values:
            text = values[key]
            p.rtprelay_enabled = text
            flag = parse_bool(text)
            if flag is None and "$" not in text and text:
                raise _error(path, line(key), f"{key}: '{text}' is not yes or no")
            p.enable_rtp_relay = bool(flag)
    for key, attr in BOOL_KEYS.items():
        if key in values and values[key] != "":
            flag = parse_bool(values[key])
            if flag is None:
                raise _error(path, line(key), f"{key}: '{values[key]}' is not yes or no")
            setattr(p, attr, flag)
    if "enable_aleg_session_timer" not in values:
        p.enable_aleg_session_timer = p.enable_session_timer
    for key, attr in _INT_KEYS.items():
        if key in values and values[key] != "":
            v = values[key]
            if not (v.isascii() and v.isdigit()):
                raise _error(path, line(key), f"{key}: '{v}' is not a number of seconds")
            setattr(p, attr, int(v))
    if "aleg_session_expires" not in values:
        p.aleg_session_expires = p.session_expires
    for key in _FILTER_KEYS:
        if key in values:
            v = values[key]
            if v and v not in FILTER_TYPES:
                raise _error(path, line(key), f"{key}: '{v}' is not transparent, whitelist or blacklist")
            setattr(p, key, v or "transparent")
    for key, attr in _LIST_KEYS.items():
        if key in values:
            setattr(p, attr, _items(values[key]))
    if "call_control" in values:
        p.call_control = _items(values["call_control"])
    if "reply_translations" in values:
        try:
            p.reply_translations = parse_reply_translations(values["reply_translations"])
        except ValueError as exc:
            raise _error(path, line("reply_translations"), str(exc)) from None
    if p.refuse_with and "$" not in p.refuse_with and not _REFUSE.match(_unescape(p.refuse_with)):
        raise _error(
            path, line("refuse_with"), f"refuse_with: '{p.refuse_with}' is not '<code> <reason>' (code 100-699)"
        )
    if p.call_timer and "$" not in p.call_timer and not (p.call_timer.isascii() and p.call_timer.isdigit()):
        raise _error(path, line("call_timer"), f"call_timer: '{p.call_timer}' is not a number of seconds")
    problem = next_hop_problem(p.next_hop)
    if problem:
        raise _error(path, line("next_hop"), problem)
    if values.get("next_hop_for_replies") and parse_bool(values["next_hop_for_replies"]) is None:
        raise _error(path, line("next_hop_for_replies"), f"next_hop_for_replies: '{values['next_hop_for_replies']}' is not yes or no")
    for key, message in [*check_auth_keys(values), *check_timer_keys(values)]:
        raise _error(path, line(key), message)
    return p


def next_hop_problem(text: str) -> str:
    """Why a literal ``next_hop`` (``host[:port][/transport]``, comma list) cannot be used, or ``""``.

    The SIP core sends over UDP and TCP; another transport (TLS, SCTP …) is
    refused at load rather than when the first call tries it.  Values with
    replacement patterns are checked per call.
    """
    if "$" in text:
        return ""
    for hop in text.split(","):
        _, slash, transport = hop.strip().partition("/")
        if slash and transport.strip().lower() not in ("udp", "tcp"):
            return f"next_hop: transport '{transport.strip()}' of '{hop.strip()}' is not supported (UDP or TCP)"
    return ""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def load_regex_map(path: str) -> tuple[tuple[str, str], ...]:
    """A ``regex=>value`` file: one pair a line, ``#`` comment lines and empty lines skipped."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "bad file name"
        raise _error(path, 1, f"cannot read regex map: {reason}") from None
    out: list[tuple[str, str]] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        entry = raw.replace("\r", "")
        if not entry.strip() or entry.lstrip(" \t").startswith("#"):
            continue
        parts = [p for p in entry.split("=>") if p]
        if len(parts) != 2:
            raise _error(path, lineno, f"expected 'regex=>value', got '{entry}'")
        try:
            re.compile(parts[0])
        except re.error as exc:
            raise _error(path, lineno, f"bad regular expression '{parts[0]}': {exc}") from None
        out.append((parts[0], parts[1]))
    return tuple(out)


def load_config(path: str) -> SbcConfig:
    """Load ``sbc.conf`` and the profiles it names; :class:`SbcConfigError` on a problem.

    Keys: ``load_profiles`` (or the sample's ``profiles``), ``profiles_path``
    (relative to ``sbc.conf``'s folder, which is the default), ``active_profile``
    (static names in it must be loaded), ``regex_maps`` (``<name>.conf`` next
    to ``sbc.conf``), session-timer defaults for the profiles.
    """
    conf = _read(path, "SBC configuration")
    base = os.path.dirname(os.path.abspath(path))
    cfg = SbcConfig(path=path, raw=dict(conf.values))

    for key, message in check_timer_keys(conf.values):
        raise _error(path, conf.lines.get(key, 1), message)
    profiles_key = "load_profiles" if "load_profiles" in conf.values else "profiles"
    names = _items(conf.get(profiles_key))
    ppath = conf.get("profiles_path")
    profile_dir = os.path.join(base, ppath) if ppath else base
    for name in names:
        if not _NAME.match(name):
            raise _error(path, conf.lines.get(profiles_key, 1), f"bad profile name {name!r}")
        ppath_name = os.path.join(profile_dir, f"{name}.sbcprofile.conf")
        if not os.path.isfile(ppath_name):
            raise _error(
                path, conf.lines.get(profiles_key, 1), f"cannot read call profile '{name}': no file {ppath_name}"
            )
        cfg.profiles[name] = load_profile(name, ppath_name, conf.values)
    for name in _items(conf.get("regex_maps")):
        if not _NAME.match(name):
            raise _error(path, conf.lines.get("regex_maps", 1), f"bad regex map name {name!r}")
        cfg.regex_maps[name] = load_regex_map(os.path.join(base, f"{name}.conf"))
    if "active_profile" in conf.values:
        active = _items(conf.get("active_profile"))
        line = conf.lines.get("active_profile", 1)
    else:
        active = ("transparent",)
        line = 1
    if not active:
        raise _error(path, line, "active_profile is empty")
    for entry in active:
        if "$" not in entry and entry not in cfg.profiles:
            loaded = ", ".join(cfg.profiles) or "none"
            raise _error(path, line, f"active_profile names profile '{entry}', which is not loaded (loaded: {loaded})")
    cfg.active_profile = tuple(active)
    _check_maps(path, line, "active_profile", ",".join(active), cfg.regex_maps)
    for profile in cfg.profiles.values():
        for key, value in profile.raw.items():
            _check_maps(profile.path, _line_of(profile.path, key), key, value, cfg.regex_maps)
    return cfg


_MAP_USE = re.compile(r"=>\s*([^()\s]+)\s*\)")


def _check_maps(path: str, line: int, key: str, value: str, maps: Mapping[str, object]) -> None:
    """A ``$M(value=>map)`` naming a map that ``regex_maps`` does not load is a load error."""
    if "$M(" not in value:
        return
    for name in _MAP_USE.findall(value):
        if name not in maps:
            raise _error(path, line, f"{key} uses regex map '{name}', which regex_maps does not load")


def _line_of(path: str, key: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for number, text in enumerate(f, 1):
                head = text.lstrip(" \t")
                if head.startswith(key) and head[len(key) :].lstrip(" \t").startswith("="):
                    return number
    except OSError:
        pass
    return 1
