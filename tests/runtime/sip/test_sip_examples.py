"""The example scripts over real SIP: the flows their harness tests walk, driven by sipp (issue 9).

``menu`` and ``pin`` are in ``test_sip_serve.py``; here ``survey`` (keys
answer three questions), ``voicemail`` (the caller's PCMA audio from sipp's
``g711a.pcap`` is recorded, ``#`` stops, ``1`` keeps) and ``transfer``
(``callFSM`` into ``support.dsm`` and back).  Keys go as INFO
``application/dtmf-relay``; each script ends the call itself with
``stop(true)``, so sipp waits for the server's BYE and answers it.
"""

from __future__ import annotations

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

PCAP = Path("/usr/share/sip-tester/g711a.pcap")



def keys(first_cseq: int, *presses: tuple[str, int]) -> list[str]:
    """INFO dtmf-relay for each (key, pause before it in ms), each answered 200."""
    steps = []
    cseq = first_cseq
    for key, wait in presses:
        steps.append(pause(wait))
        steps.append(in_dialog("INFO", cseq, f"Signal={key}\nDuration=160", "application/dtmf-relay"))
        steps.append(recv(200, f"t{cseq}"))
        cseq += 1
    return steps


def test_E151_survey_answers_three_questions_over_sip(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """Intro, then keys 3, 4, 5 answer the questions; "thanks" plays and the script sends BYE."""
    xml = scenario(
        "survey",
        INVITE,
        ANSWERED,
        ACK_2XX,
        *keys(2, ("3", 1600), ("4", 300), ("5", 300)),
        answer_request("BYE"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "survey")
    (call,) = served.wait_ended(1)
    assert {k: v for k, v in call["vars"].items() if k.startswith("answer.")} == {
        "answer.1": "3",
        "answer.2": "4",
        "answer.3": "5",
    }
    assert call["state"] == "END"
    assert call["dialog"] == "disconnected"


def test_E152_transfer_calls_support_fsm_and_returns_over_sip(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """``main``: 1 enters ``support`` (callFSM), 1 asks for a ticket, returnFSM, 9 says goodbye."""
    xml = scenario(
        "transfer",
        INVITE,
        ANSWERED,
        ACK_2XX,
        *keys(2, ("1", 400), ("1", 600), ("9", 3200)),
        answer_request("BYE"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "main")
    (call,) = served.wait_ended(1)
    assert call["vars"]["ticket_requested"] == "1"
    assert call["state"] == "END"


PCMA_INVITE = INVITE.replace("RTP/AVP 0 101", "RTP/AVP 8 101").replace(
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"
)


def test_A_core_36_voicemail_records_the_callers_pcma_audio_over_sip(
    sipp: str, served: SipServer, tmp_path: Path
) -> None:
    """The caller's RTP (sipp plays ``g711a.pcap``) is decoded and recorded; # stops, 1 keeps."""
    message = tmp_path / "message.wav"
    engine = served.server.engine
    assert engine is not None
    served.on_loop(lambda: engine.configs["main"].values.__setitem__("voicemail_file", str(message)))
    play = f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>\n'
    xml = scenario(
        "voicemail",
        PCMA_INVITE,
        ANSWERED,
        ACK_2XX,
        pause(1500),  # leave_message and the beep
        play,
        pause(2500),
        *keys(2, ("#", 0), ("1", 300)),
        answer_request("BYE"),
    )
    run_sipp(sipp, tmp_path, served.port, xml, "voicemail")
    (call,) = served.wait_ended(1)
    assert call["codec"] == "PCMA"
    assert call["state"] == "END"
    assert call["received"] > 50
    audio, rate = soundfile.read(str(message), dtype="int16")
    assert rate == 8000
    assert len(audio) > 8000  # more than a second of the caller
    assert float(np.abs(audio.astype(np.int32)).mean()) > 50  # speech, not silence


def test_E151_caller_bye_mid_prompt_ends_the_survey(sipp: str, served: SipServer, tmp_path: Path) -> None:
    """BYE 0.3 s into the 1.1 s intro: 200 to sipp, Hangup in INTRO, the script stops; RTP stops."""
    xml = scenario("bye-mid-prompt", INVITE, ANSWERED, ACK_2XX, pause(300), in_dialog("BYE", 2), recv(200, "t2"))
    run_sipp(sipp, tmp_path, served.port, xml, "survey")
    (call,) = served.wait_ended(1)
    assert call["state"] == "END"
    assert call["vars"]["q"] == "0"  # still in the intro: no question was reached
    assert call["dialog"] == "disconnected"
    assert 5 <= call["sent"] < 45  # some of the intro went out, not all of its 56 frames
    transitions = served.transitions()
    assert "caller hung up" in transitions[-1]
