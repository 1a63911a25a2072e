"""Loading sbc.conf, *.sbcprofile.conf and regex maps (Readme.sbc "SBC Profiles"; issue 21).

Errors are one SbcConfigError naming file:line, never a traceback; unknown
keys are kept as call-control values.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.sbc.conf import load_config, load_profile
from dsm.runtime.sbc.profile import SbcConfigError


def write(d: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d / "sbc.conf"


def test_load_profiles_active_profile_and_regex_maps(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        {
            "sbc.conf": "load_profiles=a,b\nactive_profile=$M($si=>ipmap),a\nregex_maps=ipmap\n",
            "a.sbcprofile.conf": "RURI=sip:$rU@x\n",
            "b.sbcprofile.conf": "# nothing\n",
            "ipmap.conf": "# comment\n\n^10\\.=>b\n  # indented comment\n",
        },
    )
    cfg = load_config(str(conf))
    assert list(cfg.profiles) == ["a", "b"]
    assert cfg.active_profile == ("$M($si=>ipmap)", "a")
    assert cfg.regex_maps == {"ipmap": (("^10\\.", "b"),)}
    assert cfg.profiles["a"].ruri == "sip:$rU@x"
    assert len(cfg.profiles["a"].md5) == 32


def test_sample_key_profiles_and_profiles_path(tmp_path: Path) -> None:
    """The reference's sample uses ``profiles=``; ``profiles_path`` is relative to sbc.conf."""
    conf = write(
        tmp_path,
        {
            "sbc.conf": "profiles=transparent\nprofiles_path=prof\n",
            "prof/transparent.sbcprofile.conf": "\n",
        },
    )
    cfg = load_config(str(conf))
    assert cfg.active_profile == ("transparent",)  # the default
    assert cfg.profiles["transparent"].path.endswith("prof/transparent.sbcprofile.conf")


def test_profile_values_quoting_and_unknown_keys(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        {
            "sbc.conf": "load_profiles=p\nactive_profile=p\nsession_expires=300\nenable_session_timer=yes\n",
            "p.sbcprofile.conf": (
                'From="\\"Anonymous\\" <sip:anonymous@invalid>"   # comment\n'
                "header_filter=whitelist\nheader_list=P-A,P-B\n"
                "message_filter=blacklist\nmessage_list=INFO,MESSAGE\n"
                "sdp_filter=blacklist\nsdpfilter_list=g729,GSM\n"
                'reply_translations="603=>488 Not acceptable here|600=>406 Not Acceptable"\n'
                "enable_rtprelay=yes\nrtprelay_force_symmetric_rtp=true\nrtprelay_transparent_ssrc=no\n"
                "enable_call_timer=yes\ncall_timer=$H(P-Timer)\n"
                "call_control=ctl\nctl_module=cc_dsm\nctl_app_bundle=b\nctl_start_diag=sbc\n"
                "my_own_key=1\n"
            ),
        },
    )
    p = load_config(str(conf)).profiles["p"]
    assert p.from_ == '\\"Anonymous\\" <sip:anonymous@invalid>'  # backslashes stay (CF-2)
    assert (p.header_filter, p.header_list) == ("whitelist", ("P-A", "P-B"))
    assert (p.message_filter, p.message_list) == ("blacklist", ("INFO", "MESSAGE"))
    assert (p.sdp_filter, p.sdpfilter_list) == ("blacklist", ("g729", "GSM"))
    assert p.reply_translations == {603: (488, "Not acceptable here"), 600: (406, "Not Acceptable")}
    assert p.enable_rtp_relay and p.force_symmetric_rtp and not p.rtprelay_transparent_ssrc
    assert p.rtprelay_transparent_seqno  # default yes
    assert p.enable_call_timer and p.call_timer == "$H(P-Timer)"
    assert p.call_control == ("ctl",)
    assert p.call_control_values("ctl") == {"module": "cc_dsm", "app_bundle": "b", "start_diag": "sbc"}
    assert p.raw["my_own_key"] == "1"
    # CF-2: an unquoted value ends at the first blank
    assert load_profile("q", str(_profile(tmp_path, "sdpfilter_list=a, b\n"))).sdpfilter_list == ("a",)
    # session timer values from sbc.conf, A leg defaults to the B leg's
    assert p.enable_session_timer and p.enable_aleg_session_timer
    assert (p.session_expires, p.aleg_session_expires) == (300, 300)


def _profile(d: Path, text: str) -> Path:
    (d / "q.sbcprofile.conf").write_text(text)
    return d / "q.sbcprofile.conf"


@pytest.mark.parametrize(
    ("files", "where", "text"),
    [
        ({"sbc.conf": "load_profiles=a\nactive_profile=b\n"}, "sbc.conf:1", "cannot read call profile 'a'"),
        (
            {"sbc.conf": "load_profiles=a\n\nactive_profile=a,zzz\n", "a.sbcprofile.conf": ""},
            "sbc.conf:3",
            "active_profile names profile 'zzz', which is not loaded",
        ),
        ({"sbc.conf": "load_profiles=\n"}, "sbc.conf:1", "'transparent', which is not loaded"),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "x\n"},
            "a.sbcprofile.conf:1",
            "syntax error",
        ),
        (
            {
                "sbc.conf": "load_profiles=a\nactive_profile=a\n",
                "a.sbcprofile.conf": '\nreply_translations="603=488 x"\n',
            },
            "a.sbcprofile.conf:2",
            "expected 'code=>newcode reason'",
        ),
        (
            {
                "sbc.conf": "load_profiles=a\nactive_profile=a\n",
                "a.sbcprofile.conf": 'reply_translations="6033=>488 x"\n',
            },
            "a.sbcprofile.conf:1",
            "is not a reply code",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "refuse_with=Forbidden\n"},
            "a.sbcprofile.conf:1",
            "is not '<code> <reason>'",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "refuse_with=403\n"},
            "a.sbcprofile.conf:1",
            "refuse_with",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "enable_rtprelay=maybe\n"},
            "a.sbcprofile.conf:1",
            "is not yes or no",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "header_filter=greylist\n"},
            "a.sbcprofile.conf:1",
            "not transparent, whitelist or blacklist",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "session_expires=soon\n"},
            "a.sbcprofile.conf:1",
            "not a number",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "call_timer=1m\n"},
            "a.sbcprofile.conf:1",
            "call_timer",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\nregex_maps=m\n", "a.sbcprofile.conf": ""},
            "m.conf:1",
            "cannot read regex map",
        ),
        (
            {
                "sbc.conf": "load_profiles=a\nactive_profile=a\nregex_maps=m\n",
                "a.sbcprofile.conf": "",
                "m.conf": "^a=>b\nno arrow here\n",
            },
            "m.conf:2",
            "expected 'regex=>value'",
        ),
        (
            {
                "sbc.conf": "load_profiles=a\nactive_profile=a\nregex_maps=m\n",
                "a.sbcprofile.conf": "",
                "m.conf": "(unclosed=>b\n",
            },
            "m.conf:1",
            "bad regular expression",
        ),
        ({"sbc.conf": "load_profiles=../x\n"}, "sbc.conf:1", "bad profile name"),
        ({"sbc.conf": "@inc\x00\n"}, "sbc.conf:1", "cannot read SBC configuration"),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=$M($si=>nomap),a\n", "a.sbcprofile.conf": ""},
            "sbc.conf:2",
            "active_profile uses regex map 'nomap', which regex_maps does not load",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "#\nRURI=sip:$M($H(X)=>m2)@x\n"},
            "a.sbcprofile.conf:2",
            "RURI uses regex map 'm2'",
        ),
        ({"sbc.conf": 'active_profile="a\n'}, "sbc.conf:1", "missing closing quote"),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "#\nrtprelay_interface=extern\n"},
            "a.sbcprofile.conf:2",
            "rtprelay_interface: 'extern' is not a media interface",
        ),
        (
            {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "aleg_rtprelay_interface=$H(X)\n"},
            "a.sbcprofile.conf:1",
            "aleg_rtprelay_interface: '$H(X)' is not a media interface",
        ),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, files: dict[str, str], where: str, text: str) -> None:
    """Each configuration problem is one SbcConfigError with file:line and a clear message."""
    conf = write(tmp_path, files)
    with pytest.raises(SbcConfigError) as info:
        load_config(str(conf))
    message = str(info.value)
    assert where in message and text in message, message


def test_missing_sbc_conf(tmp_path: Path) -> None:
    with pytest.raises(SbcConfigError, match="sbc.conf:1: cannot read SBC configuration"):
        load_config(str(tmp_path / "sbc.conf"))


def test_reload_one_profile_sees_the_new_file(tmp_path: Path) -> None:
    """``reload profile``: load_profile reads the file again; other copies are unchanged."""
    conf = write(tmp_path, {"sbc.conf": "load_profiles=a\nactive_profile=a\n", "a.sbcprofile.conf": "RURI=sip:x@1\n"})
    cfg = load_config(str(conf))
    old = cfg.profiles["a"]
    (tmp_path / "a.sbcprofile.conf").write_text("RURI=sip:y@2\n")
    new = load_profile("a", old.path, cfg)
    assert (old.ruri, new.ruri) == ("sip:x@1", "sip:y@2")
    assert old.md5 != new.md5


_CHUNKS = st.sampled_from(
    ["load_profiles=a", "profiles=a", "active_profile=", "a", ",", "$M(", "=>", "m)", "regex_maps=m", "\n", "#",
     '"', "\\", " ", "=", "profiles_path=..", "@inc", "$(paramhdr)", "\x00", "é"]
)
_PROFILE = st.sampled_from(
    ["RURI=", "$rU", "refuse_with=", "403 x", "reply_translations=", "603=>4", "|", "enable_rtprelay=", "yes", "x",
     "header_filter=", "whitelist", "call_timer=", "12", "\n", '"', "session_expires=", "#", " ", "=>", "$M(", "m)"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CHUNKS, max_size=25).map("".join), st.lists(_PROFILE, max_size=25).map("".join),
       st.lists(st.sampled_from(["^a", "=>", "b", "(", "\n", "#", "\\1", " "]), max_size=12).map("".join))
def test_any_configuration_loads_or_fails_with_sbc_config_error(sbc: str, profile: str, regex_map: str) -> None:
    """Whatever the files say, loading gives an SbcConfig or one SbcConfigError (no traceback)."""
    with tempfile.TemporaryDirectory() as d:
        conf = write(Path(d), {"sbc.conf": sbc, "a.sbcprofile.conf": profile, "m.conf": regex_map})
        try:
            load_config(str(conf))
        except SbcConfigError as exc:
            assert str(exc)
