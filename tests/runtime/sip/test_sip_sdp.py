"""SDP (RFC 4566) and the audio offer/answer (RFC 3264) the UAS gives."""

from __future__ import annotations

import pytest

from dsm.runtime.sip.errors import ParseError
from dsm.runtime.sip.sdp import (
    PCMA,
    PCMU,
    Negotiated,
    OfferAnswerError,
    answer_offer,
    make_offer,
    parse_sdp,
)

OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=call\r\n"
    "i=some info\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "b=AS:64\r\n"
    "t=0 0\r\n"
    "a=tool:x\r\n"
    "m=audio 49170 RTP/AVP 8 0 18 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
)


def answer(text: str = OFFER) -> Negotiated:
    return answer_offer(parse_sdp(text), address="10.0.0.1", port=40000, session_id="7")


def test_parse_and_serialise_round_trip() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.origin.username == "alice" and sdp.origin.address == "192.0.2.10"
    assert sdp.connection is not None and sdp.connection.address == "192.0.2.10"
    audio = sdp.media[0]
    assert audio.formats == ["8", "0", "18", "101"] and audio.port == 49170
    assert audio.rtpmap()[101] == ("telephone-event", 8000, 1)
    assert audio.fmtp() == {101: "0-16"}
    assert audio.direction == "sendrecv" and audio.ptime == 20
    assert str(sdp) == OFFER
    assert str(parse_sdp(str(sdp))) == OFFER


def test_bare_lf_and_blank_lines_accepted() -> None:
    assert parse_sdp(OFFER.replace("\r\n", "\n") + "\n\n").media[0].port == 49170


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "x=1\r\n",
        "v=0\r\ns=x\r\n",
        "v=0\r\no=a b\r\n",
        OFFER.replace("m=audio 49170", "m=audio port"),
        OFFER + "garbage\r\n",
        OFFER.replace("c=IN IP4 192.0.2.10", "c=IN"),
    ],
)
def test_malformed_sdp_raises_parse_error(bad: str) -> None:
    with pytest.raises(ParseError):
        parse_sdp(bad)


def test_answer_keeps_offer_codec_order() -> None:
    """The reference's auto-answer echoes the offer order: PCMA first here."""
    n = answer()
    audio = n.answer.media[0]
    assert audio.formats == ["8", "0", "101"]
    assert n.codec == PCMA and [c.payload_type for c in n.codecs] == [8, 0]
    assert n.telephone_event is not None and n.telephone_event.payload_type == 101
    assert n.remote_address == ("192.0.2.10", 49170)
    assert audio.port == 40000 and audio.direction == "sendrecv" and not n.hold
    assert ("fmtp", "101 0-15") in audio.attributes
    # the video stream is rejected with port 0, m-line count preserved
    assert [(m.media, m.port) for m in n.answer.media] == [("audio", 40000), ("video", 0)]
    assert n.answer.origin.session_id == "7" and n.answer.connection.address == "10.0.0.1"  # type: ignore[union-attr]
    reparsed = parse_sdp(bytes(n.answer))
    assert reparsed.media[0].formats == ["8", "0", "101"]


def test_pcmu_first_offer_answers_pcmu_first() -> None:
    n = answer(OFFER.replace("RTP/AVP 8 0 18 101", "RTP/AVP 0 8 101"))
    assert n.codec == PCMU and n.answer.media[0].formats == ["0", "8", "101"]


def test_pcma_only_offer_without_rtpmap_uses_static_type() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    n = answer(text)
    assert n.codecs == [PCMA] and n.telephone_event is None
    assert n.answer.media[0].formats == ["8"]


def test_dynamic_telephone_event_number_is_kept() -> None:
    n = answer(OFFER.replace(" 101", " 96").replace(":101", ":96"))
    assert n.telephone_event is not None and n.telephone_event.payload_type == 96


def test_no_common_codec_is_488() -> None:
    text = OFFER.replace("RTP/AVP 8 0 18 101", "RTP/AVP 18 101")
    with pytest.raises(OfferAnswerError) as info:
        answer(text)
    assert info.value.status == 488 and info.value.reason == "Not Acceptable Here"
    assert info.value.detail == "no common codec"


def test_no_audio_is_488() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 31\r\n"
    with pytest.raises(OfferAnswerError):
        answer(text)


@pytest.mark.parametrize(
    ("offered", "answered", "hold"),
    [
        ("sendonly", "recvonly", True),
        ("inactive", "inactive", True),
        ("recvonly", "sendonly", False),
        ("sendrecv", "sendrecv", False),
    ],
)
def test_hold_detection_and_answer_direction(offered: str, answered: str, hold: bool) -> None:
    n = answer(OFFER.replace("a=sendrecv", f"a={offered}"))
    assert n.direction == answered and n.hold is hold
    assert n.answer.media[0].direction == answered


def test_session_level_direction_applies_to_media() -> None:
    text = OFFER.replace("a=sendrecv\r\n", "").replace("a=tool:x", "a=sendonly")
    assert answer(text).hold


def test_legacy_hold_with_null_connection_address() -> None:
    n = answer(OFFER.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0"))
    assert n.hold and n.direction == "recvonly"


def test_make_offer() -> None:
    offer = make_offer(address="10.0.0.1", port=30000, direction="sendonly")
    audio = offer.media[0]
    assert audio.formats == ["0", "8", "101"] and audio.direction == "sendonly"
    n = answer_offer(offer, address="10.0.0.2", port=2000)
    assert n.hold and n.direction == "recvonly"
