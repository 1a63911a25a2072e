"""What a caller hears of a prompt is bit for bit its G.711 encoding (A-core-1 playPrompt).

sipp places one call whose SDP names a capture socket of this test as its
audio address; ``dsm serve`` answers with a script that plays a prompt once.
The payloads captured, in sequence order, must contain the prompt's µ-law
codes exactly, frame-aligned -- so no change to the send path (prompt codes
cached once per prompt, header packed in place, RTP read at the frame) can
alter the audio a phone hears.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from test_sip_serve import (
    ACK_2XX,
    ANSWERED,
    INVITE,
    SipServer,
    in_dialog,
    pause,
    recv,
    run_sipp,
    scenario,
)

from dsm.runtime.media.g711 import ulaw_encode
from dsm.runtime.server import event_loop_factory
from dsm.runtime.sip.rtp import RtpPacket

SCRIPT = """\
-- play the prompt once, then wait for the caller's BYE
initial state PLAY enter { playPrompt(hello) setTimer(1, 20) };
state END;
transition "hangup" PLAY - hangup / stop(false) -> END;
transition "gone" PLAY - timer(#id == 1) / stop(true) -> END;
"""


def capture(sock: socket.socket, until: float) -> list[RtpPacket]:
    """Every RTP packet arriving on ``sock`` until ``until`` (monotonic), bounded in count."""
    packets: list[RtpPacket] = []
    for _ in range(2000):
        left = until - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        packets.append(RtpPacket.parse(data))
    return packets


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_A_core_1_the_prompt_arrives_as_its_exact_ulaw_codes(
    sipp: str, tmp_path: Path, loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the standard loop and on uvloop (what ``dsm serve`` runs on when installed)."""
    if loop == "asyncio":
        monkeypatch.setenv("DSM_EVENT_LOOP", "asyncio")
    else:
        pytest.importorskip("uvloop")
        monkeypatch.delenv("DSM_EVENT_LOOP", raising=False)
    factory = event_loop_factory() or asyncio.new_event_loop
    scripts = tmp_path / "scripts"
    (scripts / "prompts").mkdir(parents=True)
    (scripts / "bits.dsm").write_text(SCRIPT)
    rng = np.random.default_rng(19)
    prompt = (
        (rng.standard_normal(8000 * 3 // 5) * 3000).clip(-32768, 32767).astype(np.int16)
    )  # 30 frames
    soundfile.write(scripts / "prompts" / "hello.wav", prompt, 8000, subtype="PCM_16")
    expected = ulaw_encode(prompt).tobytes()

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    served = SipServer(scripts, loop_factory=factory)
    try:
        invite = INVITE.replace("[media_port]", str(sink.getsockname()[1]))
        xml = scenario(
            "bits", invite, ANSWERED, ACK_2XX, pause(1200), in_dialog("BYE", 2), recv(200, "t2")
        )
        run_sipp(sipp, tmp_path, served.port, xml, "bits")
        packets = capture(sink, time.monotonic() + 1.0)  # what is still queued, and stragglers
    finally:
        served.stop()
        sink.close()

    audio = [p for p in packets if p.payload_type == 0]  # loopback keeps the sending order
    assert audio, "no PCMU packet reached the caller"
    assert all(len(p.payload) == 160 for p in audio)
    assert len({p.ssrc for p in audio}) == 1
    assert all(
        (b.sequence - a.sequence) % 65536 == 1 for a, b in zip(audio, audio[1:], strict=False)
    )
    heard = b"".join(p.payload for p in audio)
    at = heard.find(expected)
    assert at >= 0, "the prompt's codes are not in what the caller heard"
    assert at % 160 == 0
