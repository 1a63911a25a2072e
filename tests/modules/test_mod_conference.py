"""mod_conference (modules.md section 4) through .dsm scripts in the harness, checked on the audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from _fake import compile_every_name

from dsm.modules.mod_conference import module
from dsm.runtime.harness import Harness
from dsm.runtime.media.audio import write_wav

CTL = r"""import(mod_conference);
initial state S;
transition "join" S - event(#do == join) / conference.join(#room, #mode); set($e=$errno) -> S;
transition "leave" S - event(#do == leave) / set($errno=x); conference.leave(); set($e=$errno); set($s=$strerror) -> S;
transition "rejoin" S - event(#do == rejoin) / set($errno=x); conference.rejoin(#room, #mode); set($e=$errno) -> S;
transition "post" S - event(#do == post) / set($errno=x); conference.postEvent(#room, #id); set($e=$errno); set($s=$strerror) -> S;
transition "size" S - event(#do == size) / conference.size(#room, $n) -> S;
transition "flush" S - event(#do == flush) / flushPlaylist() -> S;
transition "play" S - event(#do == play) / playFile(#file) -> S;
transition "playout" S - event(#do == playout) / set($errno=x); conference.setPlayoutType(#t); set($e=$errno) -> S;
transition "tee" S - event(#do == tee) / set($errno=x); conference.teejoin(#room, #key); set($e=$errno) -> S;
transition "teeleave" S - event(#do == teeleave) / set($errno=x); conference.teeleave(#key); set($e=$errno); set($s=$strerror) -> S;
transition "mix" S - event(#do == mix) / set($errno=x); conference.setupMixIn(#level, #sec); set($e=$errno) -> S;
transition "mixfile" S - event(#do == mixfile) / conference.playMixIn(#file) -> S;
transition "mixlist" S - event(#do == mixlist) / conference.playMixInList(#file, #loop) -> S;
transition "mixflush" S - event(#do == mixflush) / conference.flushMixInList() -> S;
transition "conf" S - event(#type == conference_event) / append($ids, #id) -> S;
transition "ex" S - exception / set($ex=#type); set($cause=#cause); set($path=#path) -> S;
transition "bye" S - hangup / stop(false) -> E;
state E;
"""


def tone(freq: float, seconds: float, amp: float = 6000) -> npt.NDArray[np.int16]:
    t = np.arange(round(seconds * 8000)) / 8000
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level(x: npt.ArrayLike, freq: float) -> float:
    """Goertzel amplitude of ``freq`` in ``x`` (a sine of amplitude A gives about A)."""
    s = np.asarray(x, dtype=np.float64)
    if s.size == 0:
        return 0.0
    k = np.exp(-2j * np.pi * freq * np.arange(s.size) / 8000)
    return float(2 * abs(np.dot(s, k)) / s.size)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    (tmp_path / "ctl.dsm").write_text(CTL)
    for f in (440, 700, 1000):
        write_wav(tmp_path / f"tone{f}.wav", tone(f, 1.0))
    return Harness(scripts=str(tmp_path))


def do(call: Any, what: str, **params: str) -> None:
    call.post_event({"do": what, **params})


def recent(call: Any, seconds: float = 0.5) -> npt.NDArray[np.int16]:
    heard = call.heard()
    return heard[-round(seconds * 8000) :]  # type: ignore[no-any-return]


def test_M_api_3_every_name_compiles() -> None:
    assert len(module.actions) == 12
    compile_every_name(module)


def test_M_conference_1_two_calls_hear_each_other_not_themselves(h: Harness, tmp_path: Path) -> None:
    a, b = h.call("ctl"), h.call("ctl")
    for c in (a, b):
        do(c, "join", room="r")
    assert a.vars["e"] == "" and "conf.chan" in a.session.objects
    a.say(str(tmp_path / "tone440.wav"))
    assert level(recent(b), 440) > 5000
    assert level(recent(a), 440) < 50
    b.say(str(tmp_path / "tone700.wav"))
    assert level(recent(a), 700) > 5000 and level(recent(b), 700) < 50


def test_M_conference_1_three_callers_each_hear_the_other_two(h: Harness) -> None:
    calls = [h.call("ctl") for _ in range(3)]
    freqs = (440.0, 700.0, 1000.0)
    for c in calls:
        do(c, "join", room="r")
    for c, f in zip(calls, freqs, strict=True):
        c.sim.media.say(tone(f, 1.0))
    h.advance(1.0)
    for c, f in zip(calls, freqs, strict=True):
        got = recent(c)
        assert level(got, f) < 50
        assert all(level(got, g) > 5000 for g in freqs if g != f)


def test_M_conference_1_modes(h: Harness) -> None:
    talker, listener, speaker, neither = (h.call("ctl") for _ in range(4))
    do(talker, "join", room="r")
    do(listener, "join", room="r", mode="listenonly")
    do(speaker, "join", room="r", mode="speakonly")
    do(neither, "join", room="r", mode="bogus")  # QUIRK: joins, neither direction
    do(talker, "size", room="r")
    assert talker.vars["n"] == "4"
    listener.sim.media.say(tone(440, 1.0))
    speaker.sim.media.say(tone(700, 1.0))
    neither.sim.media.say(tone(1000, 1.0))
    h.advance(1.0)
    heard = recent(talker)
    assert level(heard, 440) < 50 and level(heard, 1000) < 50  # nobody hears listen-only/neither
    assert level(heard, 700) > 5000
    assert level(recent(listener), 700) > 5000
    assert not recent(speaker).any() and not recent(neither).any()


def test_M_conference_1_item_is_appended_and_events(h: Harness, tmp_path: Path) -> None:
    a, b = h.call("ctl"), h.call("ctl")
    do(a, "join", room="r")
    assert a.vars["ids"] == "1"  # the first joiner is told itself
    do(b, "play", file=str(tmp_path / "tone1000.wav"))
    do(b, "join", room="r")
    assert a.vars["ids"] == "11" and "ids" not in b.vars
    a.sim.media.say(tone(440, 1.5))
    h.advance(1.5)
    heard = b.heard()
    assert level(heard[800:7000], 1000) > 5000 and level(heard[800:7000], 440) < 100  # the file first
    assert level(heard[-4000:], 440) > 5000  # then the room


def test_M_conference_1_previous_channel_is_kept_and_system_dsm_raises(h: Harness) -> None:
    a = h.call("ctl")
    do(a, "join", room="r1")
    do(a, "join", room="r2")  # QUIRK: still in r1
    do(a, "size", room="r1")
    assert a.vars["n"] == "1"
    do(a, "size", room="r2")
    assert a.vars["n"] == "1"
    a.hangup()  # the session end releases both
    b = h.call("ctl")
    do(b, "size", room="r1")
    assert b.vars["n"] == "0"


def test_M_conference_1_in_a_system_dsm_core_exception_after_the_channel(tmp_path: Path) -> None:
    (tmp_path / "sys.dsm").write_text(
        "import(mod_conference);\n"
        "initial state S enter { conference.join(r); };\n"
        'transition "ex" S - exception / set($ex=#type); set($cause=#cause); conference.size(r, $n) -> S;\n'
    )
    sys_h = Harness(scripts=str(tmp_path / "sys.dsm"))
    s = sys_h.call_system("sys")
    assert (s.vars["ex"], s.vars["cause"]) == ("core", "not implemented in SystemDSM")
    assert s.vars["n"] == "1"


def test_M_conference_2_leave(h: Harness) -> None:
    a, b = h.call("ctl"), h.call("ctl")
    do(a, "leave")
    assert (a.vars["e"], a.vars["s"]) == ("script", "trying to leave conference, but channel not found")
    do(a, "join", room="r")
    do(b, "join", room="r")
    do(b, "leave")
    assert b.vars["e"] == "" and a.vars["ids"] == "112"
    a.sim.media.say(tone(440, 1.0))
    h.advance(1.0)
    assert not recent(b).any()  # the item stays, silent
    do(b, "leave")  # the holder is empty: still no error
    assert b.vars["e"] == ""


def test_M_conference_3_rejoin_moves_the_channel(h: Harness) -> None:
    a, b, c = h.call("ctl"), h.call("ctl"), h.call("ctl")
    do(a, "join", room="r1")
    do(b, "join", room="r1")
    do(c, "join", room="r2")
    do(b, "flush")  # the new item is appended: the old one, silent, would stay in front
    do(b, "rejoin", room="r2", mode="")
    assert b.vars["e"] == ""
    assert a.vars["ids"] == "112" and c.vars["ids"] == "11"
    do(a, "size", room="r1")
    assert a.vars["n"] == "1"
    c.sim.media.say(tone(700, 1.0))
    h.advance(1.0)
    assert level(recent(b), 700) > 5000 and level(recent(a), 700) < 50
    d = h.call("ctl")
    do(d, "rejoin", room="r3")  # nothing to release: a warning, then a join
    assert d.vars["e"] == "" and d.vars["ids"] == "1"


def test_M_conference_4_postEvent(h: Harness) -> None:
    a, b, outsider = h.call("ctl"), h.call("ctl"), h.call("ctl")
    do(a, "join", room="r")
    do(b, "join", room="r")
    do(a, "post", room="r", id="42")
    assert a.vars["e"] == "" and a.vars["ids"] == "1142" and b.vars["ids"] == "42"
    do(outsider, "post", room="r", id="")  # empty: 0
    assert b.vars["ids"] == "420" and "ids" not in outsider.vars
    do(outsider, "post", room="r", id="x7")
    assert (outsider.vars["e"], outsider.vars["s"]) == ("arg", "decoding conference event id 'x7%s'\n")
    do(outsider, "post", room="nowhere", id="3")
    assert outsider.vars["e"] == ""


def test_M_conference_5_setPlayoutType(h: Harness) -> None:
    a = h.call("ctl")
    for given, kept in (("adaptive", "adaptive"), ("jb", "jb"), ("other", "simple")):
        do(a, "playout", t=given)
        assert a.sim.media.playout_type == kept
        assert a.vars["e"] == "x"  # errno unchanged


def test_M_conference_6_7_tee(h: Harness, tmp_path: Path) -> None:
    """M-conference-6 (teejoin, moved by a second teejoin) and M-conference-7 (teeleave, not found)."""
    a, b = h.call("ctl"), h.call("ctl")
    do(b, "join", room="r")
    do(a, "play", file=str(tmp_path / "tone1000.wav"))
    do(a, "tee", room="r")
    assert a.vars["e"] == "x"  # errno unchanged
    a.sim.media.say(tone(440, 1.0))
    h.advance(1.0)
    assert level(recent(b), 440) > 5000  # a speaks into r
    assert level(recent(a), 1000) > 5000  # and still hears its own playlist
    do(b, "size", room="r")
    assert b.vars["n"] == "2" and b.vars["ids"] == "11"
    do(a, "tee", room="other")  # same key: the tee moves
    assert b.vars["ids"] == "112"
    do(a, "teeleave")
    assert a.vars["e"] == ""
    do(a, "teeleave")
    assert (a.vars["e"], a.vars["s"]) == ("script", "trying to leave tee conference, but channel not found")
    do(a, "teeleave", key="nokey")
    assert a.vars["e"] == "script"


def test_M_conference_6_tee_with_key_and_before_an_input(tmp_path: Path) -> None:
    (tmp_path / "early.dsm").write_text(
        "import(mod_conference);\n"
        "initial state S;\n"
        'transition "inv" S - invite / conference.teejoin(r) -> S;\n'
        'transition "ex" S - exception / set($ex=#type) -> S;\n'
    )
    early = Harness(scripts=str(tmp_path / "early.dsm")).call("early")
    assert early.vars["ex"] == "conference"


def test_M_conference_6_named_tee_key(h: Harness) -> None:
    a, b = h.call("ctl"), h.call("ctl")
    do(b, "join", room="r")
    do(a, "tee", room="r", key="my.tee")
    assert "my.tee" in a.session.objects
    a.sim.media.say(tone(440, 1.0))
    h.advance(1.0)
    assert level(recent(b), 440) > 5000
    do(a, "teeleave", key="my.tee")
    assert a.vars["e"] == ""
    a.sim.media.say(tone(440, 0.5))
    h.advance(0.5)
    assert level(recent(b, 0.4), 440) < 50


def test_M_conference_8_size(h: Harness) -> None:
    a = h.call("ctl")
    do(a, "size", room="nowhere")
    assert a.vars["n"] == "0"
    do(a, "join", room="r")
    do(a, "size", room="r")
    assert a.vars["n"] == "1"


def test_M_conference_9_10_mix_in(h: Harness, tmp_path: Path) -> None:
    """M-conference-9 (setupMixIn level and seconds) and M-conference-10 (playMixIn errors, mixing)."""
    a = h.call("ctl")
    do(a, "mixfile", file=str(tmp_path / "tone700.wav"))
    assert (a.vars["ex"], a.vars["cause"]) == ("conference", "mixer not setup!\n")
    do(a, "mix", level="0.5", sec="")
    assert a.vars["e"] == "x" and "conf.mixer" in a.session.objects
    do(a, "play", file=str(tmp_path / "tone440.wav"))
    do(a, "mixfile", file=str(tmp_path / "tone700.wav"))
    h.advance(1.0)
    heard = recent(a)
    assert abs(level(heard, 440) - 3000) < 300 and abs(level(heard, 700) - 3000) < 300
    do(a, "mixfile", file=str(tmp_path / "missing.wav"))
    assert (a.vars["ex"], a.vars["path"]) == ("file", str(tmp_path / "missing.wav"))
    do(a, "mix", level="0.3", sec="x")
    assert (a.vars["ex"], a.vars["cause"]) == ("conference", "could not interpret seconds value")


def test_M_conference_9_level_below_001_pauses_the_playlist(h: Harness, tmp_path: Path) -> None:
    a = h.call("ctl")
    do(a, "mix", level="0.001abc", sec="")  # atof prefix
    do(a, "play", file=str(tmp_path / "tone440.wav"))
    do(a, "mixfile", file=str(tmp_path / "tone700.wav"))
    h.advance(2.2)
    heard = a.heard()
    assert level(heard[1000:7000], 700) > 5000 and level(heard[1000:7000], 440) < 100
    assert level(heard[9000:15000], 440) > 5000  # the playlist resumed after the mix-in


def test_M_conference_11_12_mix_in_list(h: Harness, tmp_path: Path) -> None:
    """M-conference-11 (playMixInList, looped, no NoAudio) and M-conference-12 (flushMixInList)."""
    a = h.call("ctl")
    do(a, "mixlist", file=str(tmp_path / "tone700.wav"))
    assert a.vars["cause"] == "mixer not setup!\n"
    assert "conf.mixlist" in a.session.objects  # QUIRK: stored before the check
    b = h.call("ctl")
    do(b, "mix", level="1.0", sec="")
    do(b, "mixlist", file=str(tmp_path / "tone700.wav"), loop="true")
    h.advance(2.5)
    assert level(recent(b), 700) > 5000  # looped
    do(b, "mixflush")
    h.advance(0.5)
    assert not recent(b, 0.4).any()
    do(b, "mixlist", file=str(tmp_path / "missing.wav"))
    assert b.vars["ex"] == "file"
    assert not any(line.kind == "event" and "NoAudio" in line.detail for line in h.lines[b.id])


def test_session_end_releases_its_channel(h: Harness) -> None:
    a, b = h.call("ctl"), h.call("ctl")
    do(a, "join", room="r")
    do(b, "join", room="r")
    b.hangup()
    assert a.vars["ids"] == "112"
    do(a, "size", room="r")
    assert a.vars["n"] == "1"


def test_in_band_dtmf_still_reaches_the_script_in_a_room(tmp_path: Path) -> None:
    (tmp_path / "keys.dsm").write_text(
        "import(mod_conference);\n"
        "initial state S enter { conference.join(r); };\n"
        'transition "k" S - key / append($keys, #key) -> S;\n'
    )
    kh = Harness(scripts=str(tmp_path / "keys.dsm"))
    a, b = kh.call("keys"), kh.call("keys")
    a.press("12", inband=True)
    b.press("3")
    assert a.vars["keys"] == "12" and b.vars["keys"] == "3"


def test_docs_testing_example(tmp_path: Path) -> None:
    """The example of docs/testing.md ("Several calls in one conference room") as written there."""
    (tmp_path / "room.dsm").write_text(
        "import(mod_conference);\n"
        "initial state LOBBY enter { conference.join(room1) };\n"
        "state ROOM;\n"
        'transition "left" (LOBBY, ROOM) - event(#type == conference_event) test(#id == 2) / set($left=1) -> ROOM;\n'
        'transition "bye" (LOBBY, ROOM) - hangup / stop(false) -> ROOM;\n'
    )
    write_wav(tmp_path / "tone440.wav", tone(440, 1.0))
    dh = Harness(scripts=str(tmp_path))
    a, b = dh.call("room"), dh.call("room")
    a.say(str(tmp_path / "tone440.wav"))
    assert level(b.heard()[-4000:], 440) > 1000
    assert level(a.heard()[-4000:], 440) < 50
    b.hangup()
    assert a.vars["left"] == "1"


def test_M_conference_6_tee_into_the_room_one_is_in_keeps_the_mode_of_the_main_channel(h: Harness) -> None:
    """One slot per session and room: the tee reuses it, and the main channel still listens."""
    a, b = h.call("ctl"), h.call("ctl")
    do(a, "join", room="r")
    do(b, "join", room="r")
    do(a, "tee", room="r")
    do(a, "size", room="r")
    assert a.vars["n"] == "2"
    b.sim.media.say(tone(700, 1.0))
    h.advance(1.0)
    assert level(recent(a), 700) > 5000
    do(a, "teeleave")  # the main channel still holds the slot
    do(a, "size", room="r")
    assert a.vars["n"] == "2" and "2" not in b.vars.get("ids", "")


def test_control_endpoint_calls_stay_in_the_room(tmp_path: Path) -> None:
    """Calls started over the control endpoint (no audio): the room item is endless, events arrive."""
    from dsm.runtime.clock import VirtualClock
    from dsm.runtime.control.remote_call import start_remote_call
    from dsm.runtime.engine import Engine
    from dsm.runtime.versions import ChartLibrary, DirectorySource

    (tmp_path / "ctl.dsm").write_text(CTL.replace("transition \"conf\"", 'transition "noaudio" S - noAudio / set($noaudio=1) -> S;\ntransition "conf"'))
    clock = VirtualClock()
    engine = Engine(clock)
    ChartLibrary(engine, DirectorySource([tmp_path])).reload()
    a, b = start_remote_call(engine, "ctl"), start_remote_call(engine, "ctl")
    for c in (a, b):
        assert c.session is not None
        engine.post_event(c.session.id, {"do": "join", "room": "r"})
    engine.run_pending()
    clock.advance(5)
    engine.run_pending()
    assert a.session is not None and b.session is not None
    assert a.session.vars["ids"] == "11" and "noaudio" not in a.session.vars
