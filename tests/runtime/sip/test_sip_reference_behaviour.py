"""Behaviour the reference server shows for the same script and sipp scenario (issue 17).

* E-151 / M-dlg-1: ``dlg.reply(100, trytry)`` in ``invite`` is sent, and since
  the script replied, the host sends no 200 of its own (the script answers
  later, as the reference's ``late_reply`` example does);
* E-151 / A-core-6: ``stop(false)`` in ``invite`` with no reply: 200, then BYE;
* A-core-36: ``recordFile`` writes only the frames received (2 s of caller
  audio make a 2.00 s file), no silence for the time nothing arrived.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile
from test_sip_serve import (
    ACK_2XX,
    ANSWERED,
    INVITE,
    SipServer,
    answer_request,
    in_dialog,
    pause,
    recv,
    run_sipp,
    scenario,
)

from dsm.runtime.media.g711 import ulaw_encode


def _serve(tmp_path: Path, name: str, script: str) -> SipServer:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / f"{name}.dsm").write_text(script)
    return SipServer(scripts=scripts)


TRYTRY = """\
  <recv response="100" response_txn="invite">
    <action><ereg regexp="SIP/2.0 100 trytry" search_in="msg" check_it="true" assign_to="r"/></action>
  </recv>
  <Reference variables="r"/>
"""


def test_M_dlg_1_E151_script_reply_100_is_sent_and_no_automatic_200(sipp: str, tmp_path: Path) -> None:
    """Only the script's ``100 trytry`` (no 100 of the core's, as in the reference); the 200 comes from ``dlg.acceptInvite`` later."""
    server = _serve(
        tmp_path,
        "late",
        "import(mod_dlg);\n"
        "initial state S;\n"
        'transition "inv" S - invite / dlg.reply(100, trytry); set($after_100=$errno); setTimer(1, 1) -> WAIT;\n'
        "state WAIT;\n"
        'transition "late" WAIT - timer(#id == 1) / dlg.acceptInvite(200, OK); set($accepted=$errno) -> UP;\n'
        "state UP;\n"
        'transition "bye" UP - hangup / stop(false) -> END;\n'
        "state END;\n",
    )
    invite = INVITE.replace('  <recv response="100" optional="true" response_txn="invite"/>\n', "")
    xml = scenario(
        "late-reply",
        invite,
        TRYTRY,  # the script's 100 comes first: the core sends no 100 of its own once the TU has replied
        ANSWERED,
        ACK_2XX,
        pause(200),
        in_dialog("BYE", 2),
        recv(200, "t2"),
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "late")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["vars"]["after_100"] == ""
    assert call["vars"]["accepted"] == ""  # the INVITE was still unanswered: no automatic 200
    assert call["state"] == "END"


def test_E151_stop_in_invite_without_reply_gets_200_then_bye(sipp: str, tmp_path: Path) -> None:
    """``stop(false)`` in ``invite`` and no reply: the host's 200 OK goes out, then BYE (not 487)."""
    server = _serve(
        tmp_path,
        "quit",
        'initial state S;\ntransition "inv" S - invite / stop(false) -> S;\n',
    )
    xml = scenario("stop-in-invite", INVITE, ANSWERED, ACK_2XX, answer_request("BYE"))
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "quit")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    assert call["dialog"] == "disconnected"
    (end,) = [line for line in server.log_text.getvalue().splitlines() if "event=call_end" in line]
    assert 'reason="script stopped"' in end


def _pcmu_pcap(path: Path, seconds: float) -> int:
    """A pcap of ``seconds`` of PCMU RTP, 20 ms per packet (what sipp's play_pcap_audio replays).

    Returns the number of samples in it.
    """
    frames = round(seconds / 0.02)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # Ethernet link type
    tone = ulaw_encode(
        np.array([8000 if (i // 8) % 2 else -8000 for i in range(160)], dtype=np.int16)  # 500 Hz
    )
    for n in range(frames):
        rtp = struct.pack("!BBHII", 0x80, 0, n, n * 160, 0x1234) + tone.tobytes()
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = n * 20000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return frames * 160


def test_A_core_36_record_file_holds_only_the_audio_received(sipp: str, tmp_path: Path) -> None:
    """2 s of caller audio, sent 0.5 s after the answer and followed by 1.5 s of nothing: a 2.00 s file."""
    pcap = tmp_path / "two_seconds.pcap"
    samples = _pcmu_pcap(pcap, 2.0)
    wav = tmp_path / "rec.wav"
    server = _serve(
        tmp_path,
        "rec",
        f"initial state REC enter {{ recordFile({wav}) }};\n"
        'transition "bye" REC - hangup / stopRecord(); stop(false) -> END;\n'
        "state END;\n",
    )
    play = f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    xml = scenario(
        "record", INVITE, ANSWERED, ACK_2XX, pause(500), play, pause(3500), in_dialog("BYE", 2), recv(200, "t2")
    )
    try:
        run_sipp(sipp, tmp_path, server.port, xml, "rec")
        (call,) = server.wait_ended(1)
    finally:
        server.stop()
    ends = [line for line in server.log_text.getvalue().splitlines() if "event=call_end" in line]
    assert len(ends) == 1  # one end line per call, to go with its start line (issue 17 item 11)
    assert 'state=END' in ends[0] and 'reason="caller BYE"' in ends[0] and "seconds=" in ends[0]
    assert call["received"] == 100
    info = soundfile.info(str(wav))
    assert info.samplerate == 8000
    assert info.frames == samples  # 2.00 s: no silence for the 0.5 s before and 1.5 s after
