"""A script with the structure of the reference's ``sbc_test_app`` driving a simulated SBC call.

Timer in the A leg → ``sbc.disconnect`` → ``postEvent`` to the B leg (found
with ``dlg.getOtherId``) which disconnects and stops its leg; the A leg
plays a file on its own media and stops the call when it ends
(M-ccdsm-2/3, M-sbc-2/3/13, E-165).
"""

from __future__ import annotations

import wave
from pathlib import Path

from dsm.runtime.harness import Harness
from dsm.runtime.sbc.profile import CallProfile

SCRIPTS = Path(__file__).parent / "scripts"


def write_wav(path: Path, ms: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * (8 * ms))
    return path


def test_handover_script_drives_a_relayed_call(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "announce.wav", 1500)
    h = Harness(scripts=SCRIPTS / "leg_handover.dsm")
    call = h.sbc_call(
        "leg_handover",
        values={"handover_after": "10", "announcement": str(wav)},
        profile=CallProfile("relay", enable_rtp_relay=True),
    )
    a, b = call.leg("a"), call.leg("b")
    assert a.session is not None and b.session is not None
    assert (a.session.vars["role"], b.session.vars["role"]) == ("caller_side", "callee_side")
    call.ring()
    call.answer()
    assert a.session.vars["status_seen"] == b.session.vars["status_seen"] == "Connected"

    call.advance(9.9)
    assert a.session.state is not None and a.session.state.name == "RELAYING"
    call.advance(0.1)  # the hand-over at 10 s
    assert b.session.vars["told_by"] == a.local_tag
    assert b.did == [("disconnect", "no-hold", "keep-media"), ("stopCall", "normal-call-clearance")]
    assert b.destroyed and not a.destroyed  # B's stopCall ends only B: A had let go already
    assert a.peer is None and a.in_media_processor and a.receiving == (False, False)
    assert a.session.state.name == "ANNOUNCING"

    call.advance(1.4)
    assert not a.destroyed
    call.advance(0.2)  # the announcement (1.5 s) is over
    assert a.did[-1] == ("stopCall", "normal-call-clearance")
    assert call.ended
    assert [p.path for p in a.media.played()] == [str(wav)]
    assert [m.method for m in a.sent] == ["BYE"]  # type: ignore[union-attr]
