"""Tests of the announcement bundle (announce.conf + announce.dsm) on simulated SBC legs.

M-ccdsm-3 (the leg's playlist, ``setInputPlaylist``/``connectMedia``), M-ccdsm-4 (Key event),
M-sbc-10 (``sbc.enableRelayDTMFReceiving``).  The wire version of the same script runs in
``tests/runtime/sbc/test_relay_leg_media_wire.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsm.runtime.harness import Harness, SbcTestCall
from dsm.runtime.sbc.profile import CallProfile

HERE = Path(__file__).parent


@pytest.fixture
def harness() -> Harness:
    h = Harness(scripts=HERE / "announce.dsm")
    h.load_bundle(HERE / "announce.conf")
    return h


def place(h: Harness, announcement: Path = HERE / "announce.wav") -> SbcTestCall:
    profile = CallProfile("announce")
    profile.enable_rtp_relay = True
    return h.sbc_call("announce", "announce", values={"config.announcement": str(announcement)}, profile=profile)


def state(call: SbcTestCall, side: str) -> str:
    session = call.leg(side).session
    assert session is not None
    return session.state.name


def test_the_caller_hears_the_announcement_after_the_answer_then_the_call_is_relayed(harness: Harness) -> None:
    call = place(harness)
    call.answer()
    a = call.leg("a")
    assert [d[0] for d in a.did] == ["enableRelayDTMFReceiving", "connectMedia"]
    assert state(call, "a") == "ANNOUNCING" and state(call, "b") == "B_LEG"
    call.advance(1)
    assert [(p.path, p.complete) for p in a.media.played()] == [(str(HERE / "announce.wav"), True)]
    assert state(call, "a") == "TALKING" and not call.ended


def test_hash_during_or_after_the_announcement_stops_the_call(harness: Harness) -> None:
    call = place(harness)
    call.answer()
    call.dtmf("a", 5)
    assert not call.ended
    call.dtmf("a", 11)
    assert call.leg("a").did[-1] == ("stopCall", "caller pressed #") and call.ended
    call = place(harness)
    call.answer()
    call.advance(1)
    call.dtmf("a", 11)
    assert call.ended


def test_a_missing_announcement_leaves_the_call_relayed(harness: Harness, tmp_path: Path) -> None:
    call = place(harness, tmp_path / "missing.wav")
    call.answer()
    assert state(call, "a") == "TALKING" and not call.ended
    assert "announcement not played" in call.transcript("a")



def test_set_input_playlist_and_add_to_media_processor_play_as_connect_media_does(tmp_path: Path) -> None:
    """The announcement started with ``sbc.addToMediaProcessor`` instead of ``connectMedia`` plays
    the same (as on the relay: the source playlist plays while the leg is in media processing)."""
    source = (HERE / "announce.dsm").read_text()
    assert "  connectMedia();\n" in source
    (tmp_path / "announce.dsm").write_text(source.replace("  connectMedia();\n", "  sbc.addToMediaProcessor();\n"))
    (tmp_path / "announce.conf").write_text(f"diag_path={tmp_path}/\nload_diags=announce\n")
    h = Harness(scripts=tmp_path / "announce.dsm")
    h.load_bundle(tmp_path / "announce.conf")
    call = place(h)
    call.answer()
    assert [d[0] for d in call.leg("a").did] == ["enableRelayDTMFReceiving", "addToMediaProcessor"]
    call.advance(1)
    assert [(p.path, p.complete) for p in call.leg("a").media.played()] == [(str(HERE / "announce.wav"), True)]
    assert state(call, "a") == "TALKING"


def test_an_in_band_hash_of_the_caller_stops_the_call(harness: Harness) -> None:
    """The A leg stays in media processing after the announcement: the caller's in-band # is heard."""
    call = place(harness)
    call.answer()
    call.advance(1)
    call.leg("a").media.say_dtmf("#", 0.2, 0.2)
    call.advance(1)
    assert call.leg("a").did[-1] == ("stopCall", "caller pressed #") and call.ended
