"""G.711 tables against scalar re-statements of the ITU-T G.191 reference algorithms.

The functions below are deliberately written the slow, literal way (loops,
one sample at a time) so that they share nothing with the table builders.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsm.runtime.media import g711


def ref_ulaw_compress(x: int) -> int:
    absno = ((~x) >> 2) if x < 0 else (x >> 2)
    absno += 33
    if absno > 0x1FFF:
        absno = 0x1FFF
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high_nibble = 0x08 - segno
    low_nibble = 0x0F - ((absno >> segno) & 0x0F)
    out = (high_nibble << 4) | low_nibble
    return out | 0x80 if x >= 0 else out


def ref_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = (~code) & 0xFF
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def ref_alaw_compress(x: int) -> int:
    ix = ((~x) >> 4) if x < 0 else (x >> 4)
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_alaw_expand(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x08
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int64)


def test_ulaw_encode_exact_over_all_65536_inputs() -> None:
    expected = np.array([ref_ulaw_compress(int(x)) for x in ALL_SAMPLES], dtype=np.uint8)
    assert np.array_equal(g711.ulaw_encode(ALL_SAMPLES.astype(np.int16)), expected)


def test_alaw_encode_exact_over_all_65536_inputs() -> None:
    expected = np.array([ref_alaw_compress(int(x)) for x in ALL_SAMPLES], dtype=np.uint8)
    assert np.array_equal(g711.alaw_encode(ALL_SAMPLES.astype(np.int16)), expected)


def test_ulaw_decode_exact_over_all_256_codes() -> None:
    expected = [ref_ulaw_expand(c) for c in range(256)]
    assert g711.ulaw_decode(bytes(range(256))).tolist() == expected


def test_alaw_decode_exact_over_all_256_codes() -> None:
    expected = [ref_alaw_expand(c) for c in range(256)]
    assert g711.alaw_decode(bytes(range(256))).tolist() == expected


def test_known_reference_values() -> None:
    """Values every G.711 table agrees on: zero codes, full scale, idle patterns."""
    assert g711.ULAW_DECODE[0xFF] == 0 and g711.ULAW_DECODE[0x7F] == 0
    assert g711.ULAW_DECODE[0x80] == 32124 and g711.ULAW_DECODE[0x00] == -32124
    assert g711.ALAW_DECODE[0xD5] == 8 and g711.ALAW_DECODE[0x55] == -8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x2A] == -32256
    zero = np.zeros(1, np.int16)
    assert g711.ulaw_encode(zero)[0] == 0xFF and g711.alaw_encode(zero)[0] == 0xD5


@pytest.mark.parametrize(("encode", "decode"), [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)])
def test_decoded_codes_encode_back_to_themselves(encode, decode) -> None:  # type: ignore[no-untyped-def]
    """Every decoded value is a fixed point: decode(encode(decode(c))) == decode(c)."""
    values = decode(bytes(range(256)))
    assert np.array_equal(decode(encode(values)), values)


def test_frames_of_any_shape_and_bad_types() -> None:
    frames = np.arange(-800, 800, 5, dtype=np.int16).reshape(2, 160)
    assert g711.ulaw_encode(frames).shape == (2, 160)
    assert g711.alaw_decode(g711.alaw_encode(frames)).shape == (2, 160)
    with pytest.raises(TypeError):
        g711.ulaw_encode(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError):
        g711.ulaw_decode(np.zeros(4, dtype=np.int16))


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.ULAW_ENCODE[0] = 1


def test_codec_table_by_sdp_name() -> None:
    encode, decode = g711.CODECS["PCMU"]
    assert decode(encode(np.zeros(3, np.int16))).tolist() == [0, 0, 0]
    assert g711.CODECS["PCMA"][0] is g711.alaw_encode
