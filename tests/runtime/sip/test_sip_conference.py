"""mod_conference over SIP (modules.md section 4): three sipp callers streaming tones into one room.

Each sipp caller streams its own tone (``rtp_stream`` of a µ-law WAV) from
its media port; the server mixes and sends each caller the others' audio.
What each caller received is taken where the packets arrive: a packet
socket on the loopback interface sees every UDP datagram delivered to the
callers' media ports (needs CAP_NET_RAW; without it the keys are checked and
the audio part is skipped).  Goertzel on
the decoded stream: each caller hears the two other tones and not its own.
The third caller then plays RFC 4733 key 1 (sipp's ``dtmf_2833_1.pcap``) and
the second one the tones of key 5 (in-band): both reach the callers'
scripts while they are in the room.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from test_sip_serve import (
    ACK_2XX,
    ANSWERED,
    INVITE,
    SipServer,
    free_media_ports,
    free_sip_port,
    in_dialog,
    pause,
    recv,
    scenario,
)

from dsm.runtime.media.dtmf import dtmf_tone
from dsm.runtime.media.g711 import ulaw_decode

ROOM = """import(mod_conference);
initial state S;
transition "start" S - sessionStart / conference.join(room1) -> S;
transition "key" S - key / set($key=#key) -> S;
transition "bye" S - hangup / stop(false) -> E;
state E;
"""

DTMF_PCAP = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
FREQS = (440.0, 700.0, 1100.0)
ETH_P_ALL = 0x0003
PACKET_HOST = 0


def level(x: npt.ArrayLike, freq: float) -> float:
    """Goertzel amplitude of ``freq`` in ``x`` (a sine of amplitude A gives about A)."""
    s = np.asarray(x, dtype=np.float64)
    if s.size == 0:
        return 0.0
    k = np.exp(-2j * np.pi * freq * np.arange(s.size) / 8000)
    return float(2 * abs(np.dot(s, k)) / s.size)


class LoopbackCapture:
    """UDP payloads arriving on ``lo`` for a set of destination ports, in a thread."""

    def __init__(self, ports: set[int]) -> None:
        self.ports = ports
        self.packets: dict[int, list[bytes]] = {p: [] for p in ports}
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                frame, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[2] != PACKET_HOST or len(frame) < 14 + 20 + 8:
                continue
            ip = frame[14:]
            if ip[0] >> 4 != 4 or ip[9] != 17:  # IPv4 UDP only
                continue
            ihl = (ip[0] & 0x0F) * 4
            dport = struct.unpack("!H", ip[ihl + 2 : ihl + 4])[0]
            if dport in self.ports:
                self.packets[dport].append(bytes(ip[ihl + 8 :]))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()

    def audio(self, port: int) -> npt.NDArray[np.int16]:
        """The PCMU payloads received on ``port``, decoded, in arrival order."""
        chunks = []
        for data in self.packets[port]:
            if len(data) > 12 and data[1] & 0x7F == 0:
                cc = data[0] & 0x0F
                chunks.append(ulaw_decode(np.frombuffer(data[12 + 4 * cc :], dtype=np.uint8)))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def caller_xml(wav: Path, dtmf: bool, inband: Path | None = None) -> str:
    steps = [
        INVITE,
        ANSWERED,
        ACK_2XX,
        f'  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>\n',
        pause(5000),
    ]
    if inband is not None:  # a new stream replaces the tone (sipp starts none after "pause")
        steps += [f'  <nop><action><exec rtp_stream="{inband},1,0"/></action></nop>\n', pause(1500)]
    else:
        steps.append('  <nop><action><exec rtp_stream="pause"/></action></nop>\n')
    if dtmf:
        steps += [f'  <nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n', pause(1500)]
    steps += [in_dialog("BYE", 2), recv(200, "t2")]
    return scenario("conference", *steps)


def test_M_conference_1_three_sipp_callers_hear_each_other_mixed(sipp: str, tmp_path: Path) -> None:
    if not DTMF_PCAP.exists():
        pytest.skip(f"{DTMF_PCAP} not shipped with this sipp")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "confroom.dsm").write_text(ROOM)
    keys_wav = tmp_path / "key5.wav"  # in-band key 5: 200 ms of tones, then silence
    key5 = np.concatenate([dtmf_tone("5", 200), np.zeros(4000, dtype=np.int16)])
    soundfile.write(str(keys_wav), key5, 8000, subtype="ULAW", format="WAV")
    runs = []
    for i, freq in enumerate(FREQS):
        t = np.arange(8000 * 6) / 8000
        wav = tmp_path / f"tone{i}.wav"
        soundfile.write(str(wav), 0.2 * np.sin(2 * np.pi * freq * t), 8000, subtype="ULAW", format="WAV")
        xml = tmp_path / f"caller{i}.xml"
        xml.write_text(caller_xml(wav, dtmf=i == 2, inband=keys_wav if i == 1 else None))
        runs.append((xml, free_media_ports()))
    try:
        capture: LoopbackCapture | None = LoopbackCapture({mp for _, mp in runs})
    except (OSError, AttributeError) as exc:  # the keys are still checked
        capture, no_capture = None, f"no packet capture on loopback (needs CAP_NET_RAW): {exc}"
    server = SipServer(scripts)
    procs: list[subprocess.Popen[str]] = []
    try:
        for i, (xml, mp) in enumerate(runs):
            cmd = [
                sipp, f"127.0.0.1:{server.port}", "-t", "u1",
                "-sf", str(xml), "-s", "confroom", "-m", "1", "-l", "1",
                "-i", "127.0.0.1", "-mi", "127.0.0.1",
                "-p", str(free_sip_port()), "-mp", str(mp),
                "-timeout", "60s", "-timeout_error", "-recv_timeout", "30000",
                "-nostdin", "-error_file", str(tmp_path / f"errors{i}.log"),
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", cwd=tmp_path)
            )
        outputs = [p.communicate(timeout=90) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, f"sipp exited {p.returncode}\n{out[-2000:]}\n{err[-2000:]}"
        calls = server.wait_ended(3)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                with contextlib.suppress(Exception):
                    p.communicate(timeout=10)
        if capture is not None:
            capture.stop()
        server.stop()
    keys = [c["vars"].get("key") for c in calls]
    assert "1" in keys  # RFC 4733 key from the third caller reached its script in the room
    assert "5" in keys  # in-band key from the second caller too
    if capture is None:
        pytest.skip(no_capture)
    for i, (_, mp) in enumerate(runs):
        audio = capture.audio(mp)
        assert audio.size > 8000, f"caller {i} received {audio.size} samples"
        others = [f for j, f in enumerate(FREQS) if j != i]
        # some half second while all three streamed: the two others loud, the own tone absent
        window = 4000
        best = 0.0
        for start in range(0, audio.size - window, 800):
            part = audio[start : start + window]
            if level(part, FREQS[i]) < 200:
                best = max(best, min(level(part, f) for f in others))
        assert best > 3000, f"caller {i} did not hear both others without itself"
