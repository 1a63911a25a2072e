"""A relayed leg's own media on the wire: announcement, relayed DTMF, filtering, in-band keys.

sipp caller -> ``dsm serve --sbc`` with a cc_dsm bundle -> sipp callee echoing RTP
(``-rtp_echo``).  The caller's SDP names a socket of this test (the "phone"):
it captures what the caller hears and sends the caller's RTP (audio frames,
then the key ``#`` as RFC 4733 events or as in-band tones) to the SBC's port.

* M-ccdsm-3: ``examples/sbc/announce.dsm`` plays a file to the caller once
  the callee answers (``setInputPlaylist``, ``connectMedia``, ``playFile``):
  the caller gets the file's exact µ-law codes, frame-aligned, in one stream
  of its own, and only then the callee's (echoed) audio;
* M-sbc-10, M-ccdsm-4: the caller's ``#`` raises the Key event in the A
  leg's session, whose ``sbc.stopCall`` ends both legs;
* ``rtprelay_dtmf_detection``/``rtprelay_dtmf_filtering``: keys reported
  without ``sbc.enableRelayDTMFReceiving``; the telephone-events never reach
  the callee (nothing of them is echoed back).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import soundfile
from relay_rig import SbcRig, caller_invite, recv_request, scenario
from sip_rig import LIMIT
from test_relay_wire import ANSWERED, callee, recv_reply
from test_sip_b2b import EchoUas
from test_sip_serve import ACK_2XX, reply_to_last

from dsm.runtime.media.dtmf import dtmf_tone
from dsm.runtime.media.g711 import ulaw_encode
from dsm.runtime.media.rfc4733 import telephone_event_packets
from dsm.runtime.sbc.relay import RelayedCall
from dsm.runtime.sip.rtp import RtpPacket

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sbc"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
PHONE_SSRC = 0x5151
VOICE = b"\x55" * 160


def bundle(rig: SbcRig, name: str, diag_path: Path, extra: str = "") -> Path:
    """A ``dsm.conf`` serving one bundle ``name`` (its diagram ``name.dsm`` in ``diag_path``)."""
    bundles = rig.tmp / "bundles"
    bundles.mkdir()
    (bundles / f"{name}.conf").write_text(f"diag_path={diag_path}/\nload_diags={name}\n{extra}")
    conf = rig.tmp / "dsm.conf"
    conf.write_text(f"diag_path={diag_path}/\nconf_dir={bundles}/\nload_diags={name}\n")
    return conf


def announcement(tmp: Path, frames: int = 25) -> tuple[Path, bytes]:
    rng = np.random.default_rng(21)
    samples = (rng.standard_normal(160 * frames) * 3000).clip(-32768, 32767).astype(np.int16)
    path = tmp / "announcement.wav"
    soundfile.write(path, samples, 8000, subtype="PCM_16")
    return path, ulaw_encode(samples).tobytes()


def packet(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts, PHONE_SSRC) + payload


class Phone(threading.Thread):
    """The caller's media: waits for the answered call, talks, presses #, records what it hears."""

    def __init__(self, rig: SbcRig, key: str, talk_frames: int = 60) -> None:
        super().__init__(daemon=True)
        self.rig = rig
        self.key = key  # "rfc4733" or "inband"
        self.talk_frames = talk_frames
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.heard: list[RtpPacket] = []
        self.events_sent = 0
        self.error: BaseException | None = None

    def _sbc_port(self) -> int | None:
        def look() -> int | None:
            for call in self.rig.relay.calls.values():
                media = call.media
                if media is not None and media.a.confirmed and media.running:
                    return media.a.port
            return None

        assert self.rig.server is not None
        return self.rig.server.on_loop(look)

    def _listen(self) -> None:
        for _ in range(100):
            try:
                self.heard.append(RtpPacket.parse(self.sock.recv(2048)))
            except BlockingIOError:
                return

    def _frames(self) -> list[tuple[int, bytes, bool]]:
        """(payload type, payload, marker) of every 20 ms the phone sends after answering."""
        talk = [(0, VOICE, False)] * self.talk_frames
        if self.key == "rfc4733":
            keys = [(101, p.payload.encode(), p.marker) for p in telephone_event_packets(11, 160)]
            self.events_sent = len(keys)
        else:
            tone = np.concatenate([dtmf_tone(11, 200), np.zeros(800, np.int16)])
            codes = ulaw_encode(tone).tobytes()
            keys = [(0, codes[i : i + 160], False) for i in range(0, len(codes), 160)]
        return talk + keys + [(0, VOICE, False)] * 50

    def run(self) -> None:
        try:
            deadline = time.monotonic() + LIMIT
            port = None
            while port is None and time.monotonic() < deadline:
                port = self._sbc_port()
                time.sleep(0.02)
            if port is None:
                return
            start = time.monotonic()
            event_ts = 0
            for seq, (pt, payload, marker) in enumerate(self._frames(), 1):
                ts = seq * 160
                if pt == 101:
                    event_ts = event_ts or ts
                    ts = event_ts
                self.sock.sendto(packet(pt, seq, ts, payload, marker), ("127.0.0.1", port))
                self._listen()
                time.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))
            self._listen()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def close(self) -> None:
        self.join(LIMIT)
        self._listen()
        self.sock.close()


def place_call(rig: SbcRig, phone: Phone, port: int) -> RelayedCall:
    invite = caller_invite(f"bob@127.0.0.1:{port}").replace("[media_port]", str(phone.port))
    phone.start()
    try:
        rig.call(
            scenario(
                "caller", invite, recv_reply(180), ANSWERED, ACK_2XX, recv_request("BYE"), reply_to_last(),
                refs="x,totag",
            )  # fmt: skip
        )
        rig.finish_callee()
    finally:
        phone.close()
    assert phone.error is None, phone.error
    (call,) = rig.ended_calls(1)
    return call


def echoed(packets: list[RtpPacket], pt: int) -> list[int]:
    """Indices of the phone's own packets of type ``pt`` that came back (the callee's echo)."""
    return [i for i, p in enumerate(packets) if p.ssrc == PHONE_SSRC and p.payload_type == pt]


def test_M_ccdsm_3_the_caller_hears_the_announcement_then_the_callee_and_hash_ends_the_call(
    rig: SbcRig,
) -> None:
    path, codes = announcement(rig.tmp)
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())), uas=EchoUas)
    rig.profile(
        "ann",
        f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\ncall_control=ann\nann_module=cc_dsm\n"
        f"ann_app_bundle=announce\nann_start_diag=announce\nann_config.announcement={path}\n",
    )
    rig.start(["ann"], "ann", config=bundle(rig, "announce", EXAMPLE, f"announcement={path}\n"))
    phone = Phone(rig, "rfc4733")
    call = place_call(rig, phone, port)

    heard = phone.heard
    own = [i for i, p in enumerate(heard) if p.ssrc != PHONE_SSRC]
    assert own, f"nothing of the announcement reached the caller: {len(heard)} packets"
    stream = [heard[i] for i in own]
    assert {p.payload_type for p in stream} == {0} and len({p.ssrc for p in stream}) == 1
    assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in zip(stream, stream[1:], strict=False))
    played = b"".join(p.payload for p in stream)
    at = played.find(codes)
    assert at >= 0 and at % 160 == 0, "the announcement's codes are not what the caller heard"
    voice = echoed(heard, 0)
    assert voice and min(voice) > max(own), "the callee was heard during the announcement"
    assert all(heard[i].payload == VOICE for i in voice)
    assert echoed(heard, 101), "the caller's telephone-events did not reach the callee"
    media = call.media
    assert media is not None and media.a.replaced > 0 and media.a.played == len(stream)
    assert call.end_cause == "caller pressed #"
    assert rig.server is not None and "Traceback" not in rig.server.log_text.getvalue()


def rtp_key_profile(rig: SbcRig, port: int, options: str) -> None:
    rig.profile(
        "keys",
        f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\n{options}call_control=k\nk_module=cc_dsm\n"
        "k_app_bundle=keys_wire\nk_start_diag=keys_wire\n",
    )
    rig.start(["keys"], "keys", config=bundle(rig, "keys_wire", SCRIPTS))


def test_rtprelay_dtmf_detection_and_filtering_report_the_key_and_drop_the_events(rig: SbcRig) -> None:
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())), uas=EchoUas)
    rtp_key_profile(rig, port, "rtprelay_dtmf_detection=yes\nrtprelay_dtmf_filtering=yes\n")
    phone = Phone(rig, "rfc4733", talk_frames=10)
    call = place_call(rig, phone, port)
    assert call.end_cause == "caller pressed #"
    assert echoed(phone.heard, 0), "the callee's audio did not come back"
    assert not echoed(phone.heard, 101), "telephone-events reached the callee despite the filter"
    media = call.media
    # every packet the caller sent was relayed or filtered, but the last event packet: its key ended the call
    assert media is not None and media.a.filtered >= 1 and media.b.sent + media.a.filtered + 1 == media.a.received


def in_band_script(rig: SbcRig) -> Path:
    folder = rig.tmp / "diags"
    folder.mkdir()
    (folder / "inband.dsm").write_text(
        "import(mod_sbc);\n"
        "initial state S;\n"
        'transition "answered" S - legStateChange(#SBCCallStatus == Connected); sbc.isALeg() / '
        "sbc.addToMediaProcessor() -> S;\n"
        'transition "hash" S - key(#key == 11); sbc.isALeg() / sbc.stopCall("caller pressed #") -> END;\n'
        "state END;\n"
    )
    return folder


def test_in_band_hash_of_the_caller_in_media_processing_ends_the_call(rig: SbcRig) -> None:
    """M-sbc-11: the A leg in media processing hears the caller's in-band # (no RFC 4733)."""
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())), uas=EchoUas)
    rig.profile(
        "inband",
        f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\ncall_control=k\nk_module=cc_dsm\n"
        "k_app_bundle=inband\nk_start_diag=inband\n",
    )
    rig.start(["inband"], "inband", config=bundle(rig, "inband", in_band_script(rig)))
    phone = Phone(rig, "inband", talk_frames=10)
    call = place_call(rig, phone, port)
    assert call.end_cause == "caller pressed #"
    assert echoed(phone.heard, 0), "the caller's audio was not relayed while in media processing"




def announcement_script(rig: SbcRig) -> Path:
    """The announcement part of the reference's ``test_sbc.dsm``: input playlist, connectMedia,
    playFile, both streams' receiving off; noAudio ends the call with ``sbc.stopCall``."""
    folder = rig.tmp / "diags"
    folder.mkdir()
    (folder / "announce_part.dsm").write_text(
        "import(mod_sbc);\n"
        "initial state RUN;\n"
        'transition "answered" RUN - legStateChange(#SBCCallStatus == Connected); sbc.isALeg() / {\n'
        "  setInputPlaylist();\n  connectMedia();\n  playFile($config.announcement);\n"
        "  sbc.streamsSetReceiving(false, false);\n} -> PLAYING_FILE;\n"
        "state PLAYING_FILE;\n"
        'transition "file ended" PLAYING_FILE - noAudio / sbc.stopCall("normal-call-clearance") -> END;\n'
        "state END;\n"
    )
    return folder


def test_M_sbc_13_announcement_with_both_streams_paused_then_stop_call(rig: SbcRig) -> None:
    """``sbc.streamsSetReceiving(false, false)`` drops what either side sends (nothing relayed either
    way) while the caller still hears the whole announcement; its noAudio ends the call."""
    path, codes = announcement(rig.tmp, frames=15)
    port = rig.callee(callee(then=(recv_request("BYE"), reply_to_last())), uas=EchoUas)
    rig.profile(
        "part",
        f"next_hop=127.0.0.1:{port}\nenable_rtp_relay=yes\ncall_control=p\np_module=cc_dsm\n"
        "p_app_bundle=announce_part\np_start_diag=announce_part\n",
    )
    rig.start(["part"], "part", config=bundle(rig, "announce_part", announcement_script(rig), f"announcement={path}\n"))
    phone = Phone(rig, "inband", talk_frames=10)
    call = place_call(rig, phone, port)
    assert call.end_cause == "normal-call-clearance"
    played = b"".join(p.payload for p in phone.heard if p.ssrc != PHONE_SSRC)
    assert played.find(codes) >= 0
    assert not echoed(phone.heard, 0)
    media = call.media
    assert media is not None and media.a.received > 0 and media.b.sent == 0 and media.a.sent == 0
