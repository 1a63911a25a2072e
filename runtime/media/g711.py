"""G.711 µ-law and A-law, vectorised with lookup tables.

Both laws are computed once, at import, for every possible input: 65,536
linear samples for encoding, 256 codes for decoding.  Coding a frame is
then a single ``numpy`` indexing operation, which is what makes thousands of
concurrent calls per core possible.

Conventions are those of the ITU-T G.191 reference software: the encoder
takes 16-bit linear samples (µ-law uses the upper 14 bits, A-law the upper
13); negative samples use the one's complement magnitude, so ``-1`` codes
like ``0`` with a minus sign; the decoder returns the segment mid-points as
16-bit values (µ-law ±32124 at most, A-law ±32256).  The tests compare the
tables against scalar re-statements of those algorithms over all inputs.
"""

from __future__ import annotations

import weakref
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt

from dsm.runtime.media.audio import Samples

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "CODECS",
    "Codes",
    "EncodedArrays",
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]

Codes: TypeAlias = npt.NDArray[np.uint8]
"""A block of G.711 code bytes."""


def _segment(magnitude: npt.NDArray[np.int64], first_boundary: int) -> npt.NDArray[np.int64]:
    """Segment number 0..7: how many doublings of ``first_boundary`` lie below."""
    boundaries = first_boundary << np.arange(7, dtype=np.int64)
    return np.searchsorted(boundaries, magnitude, side="right").astype(np.int64)


def _build_ulaw_encode() -> Codes:
    linear = np.arange(-32768, 32768, dtype=np.int64)
    negative = linear < 0
    magnitude = np.where(negative, ~linear, linear) >> 2  # 14-bit magnitude
    biased = np.minimum(magnitude + 33, 0x1FFF)
    seg = _segment(biased, 64)
    mantissa = (biased >> (seg + 1)) & 0x0F
    code = ((7 - seg) << 4) | (0x0F - mantissa)
    code = np.where(negative, code, code | 0x80)
    table = np.empty(65536, dtype=np.uint8)
    table[linear.astype(np.uint16)] = code.astype(np.uint8)
    return table


def _build_ulaw_decode() -> Samples:
    code = np.arange(256, dtype=np.int64)
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def _build_alaw_encode() -> Codes:
    linear = np.arange(-32768, 32768, dtype=np.int64)
    negative = linear < 0
    magnitude = np.where(negative, ~linear, linear) >> 4  # 13-bit magnitude, 0..2047
    seg = _segment(magnitude, 16)
    shift = np.maximum(seg, 1) - 1
    mantissa = (magnitude >> shift) & 0x0F
    code = (seg << 4) | mantissa
    code = np.where(negative, code, code | 0x80) ^ 0x55
    table = np.empty(65536, dtype=np.uint8)
    table[linear.astype(np.uint16)] = code.astype(np.uint8)
    return table


def _build_alaw_decode() -> Samples:
    code = np.arange(256, dtype=np.int64)
    toggled = code ^ 0x55
    seg = (toggled >> 4) & 0x07
    mantissa = toggled & 0x0F
    step_base = np.where(seg > 0, mantissa + 16, mantissa)
    magnitude = ((step_base << 4) + 8) << np.maximum(seg - 1, 0)
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


ULAW_ENCODE: Final[Codes] = _build_ulaw_encode()
"""µ-law code for every int16 sample, indexed by the sample viewed as uint16."""
ULAW_DECODE: Final[Samples] = _build_ulaw_decode()
"""Linear value of every µ-law code."""
ALAW_ENCODE: Final[Codes] = _build_alaw_encode()
"""A-law code for every int16 sample, indexed by the sample viewed as uint16."""
ALAW_DECODE: Final[Samples] = _build_alaw_decode()
"""Linear value of every A-law code."""

for _table in (ULAW_ENCODE, ULAW_DECODE, ALAW_ENCODE, ALAW_DECODE):
    _table.flags.writeable = False


def _index(samples: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    array = np.asarray(samples)
    if array.dtype != np.int16:
        raise TypeError(f"G.711 encoders take int16 samples, got {array.dtype}")
    return array.view(np.uint16)


def _codes(data: bytes | bytearray | memoryview | npt.ArrayLike) -> Codes:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    array = np.asarray(data)
    if array.dtype != np.uint8:
        raise TypeError(f"G.711 decoders take uint8 codes or bytes, got {array.dtype}")
    return array


def ulaw_encode(samples: npt.ArrayLike) -> Codes:
    """µ-law codes of int16 samples (any shape)."""
    return ULAW_ENCODE[_index(samples)]


def ulaw_decode(codes: bytes | bytearray | memoryview | npt.ArrayLike) -> Samples:
    """int16 samples of µ-law codes (bytes or a uint8 array of any shape)."""
    return ULAW_DECODE[_codes(codes)]


def alaw_encode(samples: npt.ArrayLike) -> Codes:
    """A-law codes of int16 samples (any shape)."""
    return ALAW_ENCODE[_index(samples)]


def alaw_decode(codes: bytes | bytearray | memoryview | npt.ArrayLike) -> Samples:
    """int16 samples of A-law codes (bytes or a uint8 array of any shape)."""
    return ALAW_DECODE[_codes(codes)]


CODECS: Final = {
    "PCMU": (ulaw_encode, ulaw_decode),
    "PCMA": (alaw_encode, alaw_decode),
}
"""SDP encoding name -> (encode, decode), for the RTP side (payload types 0 and 8)."""


class EncodedArrays:
    """The codes of whole sample arrays (prompts, files), encoded once per array.

    A call playing a prompt sends slices of one shared array; encoding each
    20 ms frame again costs a table lookup per frame and call.  Instead the
    whole array is encoded the first time a frame of it is sent, and every
    frame after that is a slice of the cached bytes.  Entries live as long
    as their array (weak references); arrays longer than ``max_samples`` are
    not cached, so that the first frame of a long recording does not stall
    the loop while it is encoded.
    """

    def __init__(self, table: Codes, max_samples: int = 8000 * 60) -> None:
        self.table = table
        self.max_samples = max_samples
        self._codes: dict[int, tuple[weakref.ref[np.ndarray], bytes]] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def codes(self, samples: Samples) -> bytes | None:
        """The codes of all of ``samples`` (1-D int16), or ``None`` if not cacheable."""
        key = id(samples)
        hit = self._codes.get(key)
        if hit is not None and hit[0]() is samples:
            return hit[1]
        if samples.ndim != 1 or samples.dtype != np.int16 or samples.size > self.max_samples:
            return None
        codes = self.table[samples.view(np.uint16)].tobytes()
        self._codes[key] = (weakref.ref(samples, lambda _ref: self._codes.pop(key, None)), codes)
        return codes
