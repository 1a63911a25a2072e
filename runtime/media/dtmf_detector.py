"""In-band DTMF detection: Goertzel analysis and key tracking, batched over calls.

**Analysis.**  Every 10 ms the detector looks at the last 20 ms (160
samples; two windows per frame, hop 80).  For each window it computes the
Goertzel power at the eight DTMF frequencies and their second harmonics,
over the window tapered with a Hann window (its wider main lobe keeps the
loss small for tones off by the 1.5 % Q.24 allows, its low side lobes keep
far components out of the bins).
The Goertzel recurrence ends in the power of a single DFT bin at an
arbitrary frequency; computing that power directly as a product with a
fixed cosine/sine basis gives the same numbers and turns the analysis of a
whole batch of windows -- from one call or from thousands -- into one
matrix product.  A window holds a key when all of these hold (the usual
ITU-T Q.24-style checks):

* the signal is above :data:`MIN_LEVEL_DBM0`;
* the strongest row tone and the strongest column tone together hold at
  least :data:`MIN_TONE_SHARE` of the window's energy (rejects speech,
  music and noise, and frequencies off by more than a few percent);
* twist: the high tone is at most :data:`NORMAL_TWIST_DB` above and at
  most :data:`REVERSE_TWIST_DB` below the low tone;
* each chosen tone beats the other tones of its group by
  :data:`GROUP_MARGIN_DB`;
* the second harmonic of each tone is at least :data:`HARMONIC_MARGIN_DB`
  below it (real DTMF has none; voices and instruments do);
* the two halves of the window carry about the same energy
  (:data:`STEADY_DB`), so a window that straddles a tone edge does not
  count -- this is what makes the duration measurable at 10 ms resolution.

**Tracking.**  A key starts after :data:`MIN_WINDOWS` consecutive windows
agree (an estimated tone duration of at least 30 ms, so every tone of 40 ms
or more is accepted and tones shorter than about 25 ms never are).  Gaps
of up to :data:`END_GAP_STEPS` - 1 windows (a dropout of 10 ms) are
bridged; a longer gap (an inter-digit pause of 40 ms is always long enough)
ends the key and reports it once, with its duration.  A different key
ends the current one at once.

:class:`DtmfDetectorBank` holds the state of many calls in arrays and
processes one frame of each per call to :meth:`DtmfDetectorBank.process`;
:class:`DtmfDetector` is the one-call form, and :class:`DetectionBatch`
analyses the frames of many one-call detectors together (the RTP sessions
served at one media clock tick): the analysis of a single frame is a dozen
small array operations whose fixed cost dwarfs the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from dsm.runtime.media.audio import FRAME_SAMPLES, SAMPLE_RATE
from dsm.runtime.media.dtmf import HIGH_GROUP_HZ, LOW_GROUP_HZ, KeyPress, dbm0_to_power

__all__ = [
    "END_GAP_STEPS",
    "GROUP_MARGIN_DB",
    "HARMONIC_MARGIN_DB",
    "MIN_LEVEL_DBM0",
    "MIN_TONE_SHARE",
    "MIN_WINDOWS",
    "NORMAL_TWIST_DB",
    "REVERSE_TWIST_DB",
    "STEADY_DB",
    "STEP_MS",
    "DetectionBatch",
    "DtmfDetector",
    "DtmfDetectorBank",
    "classify_windows",
]

WINDOW: Final = FRAME_SAMPLES
"""Analysis window: 160 samples (20 ms)."""
HOP: Final = FRAME_SAMPLES // 2
"""Hop between windows: 80 samples."""
STEP_MS: Final = HOP * 1000 // SAMPLE_RATE
"""Time between windows (10 ms)."""

MIN_LEVEL_DBM0: Final = -36.0
"""Weakest total signal level analysed."""
MIN_TONE_SHARE: Final = 0.75
"""Share of the window energy the two tones must hold."""
NORMAL_TWIST_DB: Final = 8.0
"""Largest level of the high tone above the low tone."""
REVERSE_TWIST_DB: Final = 4.0
"""Largest level of the low tone above the high tone."""
GROUP_MARGIN_DB: Final = 8.0
"""How far each tone must beat the other tones of its group."""
HARMONIC_MARGIN_DB: Final = 10.0
"""How far the second harmonic must lie below its tone."""
STEADY_DB: Final = 1.0
"""Largest energy difference between the two halves of a window."""
MIN_WINDOWS: Final = 2
"""Consecutive agreeing windows that start a key."""
END_GAP_STEPS: Final = 4
"""Steps since the last agreeing window after which a key has ended."""

_TONES: Final = np.array(LOW_GROUP_HZ + HIGH_GROUP_HZ)
_FREQUENCIES: Final = np.concatenate([_TONES, 2.0 * _TONES])


_TAPER: Final = np.hanning(WINDOW)
_SHARE_SCALE: Final = float(2.0 * np.sum(_TAPER**2) / np.sum(_TAPER) ** 2)


def _plain_basis() -> npt.NDArray[np.float64]:
    n = np.arange(WINDOW, dtype=np.float64)[:, None]
    omega = 2.0 * np.pi * _FREQUENCIES[None, :] / SAMPLE_RATE
    return np.concatenate([np.cos(omega * n), np.sin(omega * n)], axis=1)


def _basis() -> npt.NDArray[np.float32]:
    """Cosine/sine columns with the Hann taper folded in (projection = tapered DFT bin)."""
    return (_TAPER[:, None] * _plain_basis()).astype(np.float32)


def _leakage() -> npt.NDArray[np.float64]:
    """Per (row, column): how the two fitted tones project onto their harmonics.

    A strong column tone leaks into the bin of the row tone's second
    harmonic when they lie close (2 x 697 Hz is 58 Hz from 1336 Hz).  The
    harmonic check therefore looks at what is left after a least-squares
    fit of the two tones: ``Hw'x - Hw'T (Tw'T)^-1 Tw'x`` with ``T`` the
    tones' cosine/sine columns and ``Tw``/``Hw`` the tapered tone/harmonic
    columns -- exactly zero for any pure pair of the two tones.  This table
    holds ``Hw'T (Tw'T)^-1`` for all 16 keys.
    """
    plain = _plain_basis()
    tapered = _TAPER[:, None] * plain
    half = _FREQUENCIES.size
    table = np.empty((4, 4, 4, 4))
    for row in range(4):
        for col in range(4):
            tones = [row, 4 + col, half + row, half + 4 + col]
            harmonics = [8 + row, 12 + col, half + 8 + row, half + 12 + col]
            t = plain[:, tones]
            tw = tapered[:, tones]
            hw = tapered[:, harmonics]
            table[row, col] = hw.T @ t @ np.linalg.inv(tw.T @ t)
    return table


_BASIS: Final = _basis()
_HALF: Final = _FREQUENCIES.size
_TONE_COLUMNS: Final = np.array(
    [[r, 4 + c, _HALF + r, _HALF + 4 + c] for r in range(4) for c in range(4)]
)
_HARMONIC_COLUMNS: Final = np.array(
    [[8 + r, 12 + c, _HALF + 8 + r, _HALF + 12 + c] for r in range(4) for c in range(4)]
)
_FUNDAMENTALS: Final = np.ascontiguousarray(
    np.concatenate([_BASIS[:, 0:8], _BASIS[:, 16:24]], axis=1)
)
_ENERGY: Final = np.stack(
    [
        (np.arange(WINDOW) < HOP).astype(np.float32),
        (np.arange(WINDOW) >= HOP).astype(np.float32),
        (_TAPER**2).astype(np.float32),
    ],
    axis=1,
)
_LEAKAGE: Final = _leakage()
_LEAKAGE_FLAT: Final = _LEAKAGE.reshape(16, 4, 4)
_KEY_OF: Final = np.array([[1, 2, 3, 12], [4, 5, 6, 13], [7, 8, 9, 14], [10, 0, 11, 15]], np.int8)
_MIN_POWER: Final = dbm0_to_power(MIN_LEVEL_DBM0)


def _db(value: float) -> float:
    return float(10.0 ** (value / 10.0))


def classify_windows(windows: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Key code held in each 160-sample window, or -1 (see module docstring).

    ``windows`` has shape ``(..., 160)``; the result has the leading shape.
    A cheap first pass (level and tone share, two matrix products for all
    windows) leaves only the rare candidate windows for the other checks.
    """
    x = np.asarray(windows, dtype=np.float32)
    if x.shape[-1] != WINDOW:
        raise ValueError(f"windows must have {WINDOW} samples, got shape {x.shape}")
    lead = x.shape[:-1]
    x = x.reshape(-1, WINDOW)
    keys = np.full(x.shape[0], -1, dtype=np.int8)

    energies = (x * x) @ _ENERGY  # first half, second half, tapered
    tapered_total = np.maximum(energies[:, 2].astype(np.float64), 1e-9)
    fundamentals = x @ _FUNDAMENTALS
    power = fundamentals[:, :8] ** 2 + fundamentals[:, 8:] ** 2
    best = power[:, 0:4].max(axis=1) + power[:, 4:8].max(axis=1)
    loud = energies[:, 0] + energies[:, 1] >= _MIN_POWER * WINDOW
    candidates = np.flatnonzero(loud & (best * _SHARE_SCALE >= MIN_TONE_SHARE * tapered_total))
    if candidates.size == 0:
        return keys.reshape(lead)

    x = x[candidates]
    first = energies[candidates, 0].astype(np.float64)
    second = energies[candidates, 1].astype(np.float64)
    projections = (x @ _BASIS).astype(np.float64)
    half = _FREQUENCIES.size
    power64 = projections[:, :half] ** 2 + projections[:, half:] ** 2
    share = power64 * _SHARE_SCALE / tapered_total[candidates, None]

    rows = share[:, 0:4]
    cols = share[:, 4:8]
    row = rows.argmax(axis=1)
    col = cols.argmax(axis=1)
    idx = np.arange(x.shape[0])
    low = rows[idx, row]
    high = cols[idx, col]
    pair = row * 4 + col
    tones = projections[idx[:, None], _TONE_COLUMNS[pair]]
    harmonics = projections[idx[:, None], _HARMONIC_COLUMNS[pair]]
    residual = harmonics - np.matmul(_LEAKAGE_FLAT[pair], tones[:, :, None])[:, :, 0]
    scale = _SHARE_SCALE / tapered_total[candidates]
    low_h = (residual[:, 0] ** 2 + residual[:, 2] ** 2) * scale
    high_h = (residual[:, 1] ** 2 + residual[:, 3] ** 2) * scale
    rows_other = np.where(np.arange(4)[None, :] == row[:, None], 0.0, rows).max(axis=1)
    cols_other = np.where(np.arange(4)[None, :] == col[:, None], 0.0, cols).max(axis=1)

    ok = low + high >= MIN_TONE_SHARE
    ok &= high <= low * _db(NORMAL_TWIST_DB)
    ok &= low <= high * _db(REVERSE_TWIST_DB)
    ok &= rows_other * _db(GROUP_MARGIN_DB) <= low
    ok &= cols_other * _db(GROUP_MARGIN_DB) <= high
    ok &= low_h * _db(HARMONIC_MARGIN_DB) <= low
    ok &= high_h * _db(HARMONIC_MARGIN_DB) <= high
    steady = _db(STEADY_DB)
    ok &= (first <= second * steady) & (second <= first * steady)
    keys[candidates] = np.where(ok, _KEY_OF[row, col], np.int8(-1))
    return keys.reshape(lead)


class DtmfDetectorBank:
    """In-band DTMF detection for ``calls`` calls, one frame each per step.

    All state lives in arrays indexed by call; :meth:`process` takes a
    ``(calls, 160)`` block of int16 frames and returns the key presses that
    ended during it as ``(call index, KeyPress)`` pairs.  A call slot is
    reused for a new call after :meth:`reset`.
    """

    def __init__(self, calls: int) -> None:
        if calls < 1:
            raise ValueError("a detector bank needs at least one call")
        self.calls = calls
        self._tail = np.zeros((calls, HOP), dtype=np.float32)
        self._step = np.zeros(calls, dtype=np.int64)
        self._key = np.full(calls, -1, dtype=np.int8)
        self._first = np.zeros(calls, dtype=np.int64)
        self._last = np.zeros(calls, dtype=np.int64)
        self._run = np.zeros(calls, dtype=np.int64)
        self._pressed = np.zeros(calls, dtype=bool)

    def reset(self, call: int) -> None:
        """Forget everything about the call in slot ``call`` (no event)."""
        self._tail[call] = 0.0
        self._step[call] = 0
        self._key[call] = -1
        self._run[call] = 0
        self._pressed[call] = False

    def flush(self, call: int) -> KeyPress | None:
        """End of input for ``call``: report a key still held, then reset."""
        press = None
        if self._pressed[call]:
            press = self._press(call)
        self.reset(call)
        return press

    def process(
        self, frames: npt.ArrayLike, active: npt.ArrayLike | None = None
    ) -> list[tuple[int, KeyPress]]:
        """Analyse one 20 ms frame per call; ``active`` masks calls without a frame."""
        block = np.asarray(frames)
        if block.shape != (self.calls, FRAME_SAMPLES):
            raise ValueError(
                f"expected frames of shape {(self.calls, FRAME_SAMPLES)}, got {block.shape}"
            )
        mask = np.ones(self.calls, dtype=bool) if active is None else np.asarray(active, bool)
        current = block.astype(np.float32)
        windows = np.empty((self.calls, 2, WINDOW), dtype=np.float32)
        windows[:, 0, :HOP] = self._tail
        windows[:, 0, HOP:] = current[:, :HOP]
        windows[:, 1] = current
        keys = classify_windows(windows)
        self._tail = np.where(mask[:, None], current[:, HOP:], self._tail)
        out: list[tuple[int, KeyPress]] = []
        for column in (0, 1):
            out.extend(self._advance(keys[:, column], mask))
        return out

    def _press(self, call: int) -> KeyPress:
        span = int(self._last[call] - self._first[call])
        return KeyPress(int(self._key[call]), span * STEP_MS + WINDOW * 1000 // SAMPLE_RATE)

    def _advance(
        self, found: npt.NDArray[np.int8], mask: npt.NDArray[np.bool_]
    ) -> list[tuple[int, KeyPress]]:
        step = self._step
        key = self._key
        valid = (found >= 0) & mask
        if not valid.any() and not (key >= 0).any():  # the usual case: nothing going on
            self._step = step + mask
            return []
        same = valid & (found == key)
        other = valid & (found != key)
        gap = ~valid & mask & (key >= 0)
        ended = (gap & self._pressed & (step - self._last >= END_GAP_STEPS)) | (
            other & self._pressed
        )
        out = [(int(i), self._press(int(i))) for i in np.flatnonzero(ended)]

        # continuing key
        self._last = np.where(same, step, self._last)
        self._run = np.where(same, self._run + 1, self._run)
        # a new candidate key
        self._key = np.where(other, found, key)
        self._first = np.where(other, step, self._first)
        self._last = np.where(other, step, self._last)
        self._run = np.where(other, 1, self._run)
        self._pressed = np.where(other, False, self._pressed)
        # a candidate that never became a key dies at its first gap; a key at its end
        drop = (gap & ~self._pressed) | (ended & ~other)
        self._key = np.where(drop, np.int8(-1), self._key)
        self._run = np.where(drop, 0, self._run)
        self._pressed = (self._pressed | (self._run >= MIN_WINDOWS)) & (self._key >= 0)
        self._step = np.where(mask, step + 1, step)
        return out


class DtmfDetector:
    """In-band DTMF detection for one call: feed frames, get key presses.

    The same analysis and the same tracking rules as
    :class:`DtmfDetectorBank`, with the tracker kept in plain integers
    because per-call array operations would cost more than the analysis.
    """

    def __init__(self) -> None:
        self._windows = np.empty((2, WINDOW), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget the current state (no event)."""
        self._tails = np.zeros((1, HOP), dtype=np.float32)
        self._row = 0
        """This detector's tail (the last frame's second half) is row ``_row`` of ``_tails``.

        Alone the detector owns a one-row block; a :class:`DetectionBatch`
        leaves the tails of all its detectors in one block, each its row, so
        that the next batch gathers them with one indexing operation.
        """
        self._step = 0
        self._key = -1
        self._first = 0
        self._last = 0
        self._run = 0
        self._pressed = False

    def process(self, frame: npt.ArrayLike) -> list[KeyPress]:
        """Analyse one 20 ms frame; key presses that ended in it."""
        first, second = classify_windows(self.windows(frame, self._windows)).tolist()
        return self.advance(first, second)

    def windows(
        self, frame: npt.ArrayLike, out: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """The frame's two analysis windows, written into ``out`` (shape ``(2, 160)``).

        The first half of :meth:`process`, for a caller that classifies the
        windows of many calls at once (:class:`DetectionBatch`); the
        classifications then go to :meth:`advance`, in frame order.
        """
        current = np.asarray(frame).reshape(FRAME_SAMPLES)
        out[0, :HOP] = self._tails[self._row]
        out[0, HOP:] = current[:HOP]
        out[1] = current
        self._tails[self._row] = current[HOP:]
        return out

    def advance(self, first: int, second: int) -> list[KeyPress]:
        """Track the key codes of one frame's two windows; key presses that ended."""
        out: list[KeyPress] = []
        for found in (first, second):
            press = self._advance(found)
            if press is not None:
                out.append(press)
        return out

    def process_samples(self, samples: npt.ArrayLike) -> list[KeyPress]:
        """Analyse a whole signal (padded with silence to whole frames)."""
        data = np.asarray(samples)
        pad = (-data.size) % FRAME_SAMPLES
        data = np.concatenate([data, np.zeros(pad, dtype=data.dtype)])
        out: list[KeyPress] = []
        for frame in data.reshape(-1, FRAME_SAMPLES):
            out.extend(self.process(frame))
        return out

    def flush(self) -> list[KeyPress]:
        """End of input: report a key still held, then start afresh."""
        out = [self._press()] if self._pressed else []
        self.reset()
        return out

    def _press(self) -> KeyPress:
        span = self._last - self._first
        return KeyPress(self._key, span * STEP_MS + WINDOW * 1000 // SAMPLE_RATE)

    def _advance(self, found: int) -> KeyPress | None:
        step = self._step
        self._step = step + 1
        press = None
        if found >= 0 and found == self._key:
            self._last = step
            self._run += 1
        elif found >= 0:
            if self._pressed:
                press = self._press()
            self._key, self._first, self._last, self._run = found, step, step, 1
            self._pressed = False
        elif self._key >= 0:
            if not self._pressed:
                self._key, self._run = -1, 0
            elif step - self._last >= END_GAP_STEPS:
                press = self._press()
                self._key, self._run, self._pressed = -1, 0, False
        if self._key >= 0 and self._run >= MIN_WINDOWS:
            self._pressed = True
        return press


def _gather_tails(detectors: list[DtmfDetector], windows: npt.NDArray[np.float32]) -> None:
    """The detectors' tails into the first halves of their first windows.

    Those whose tails the last batch of the first detector left (in a
    steady tick: all of them) are gathered with one indexing operation,
    the others (calls that joined since) one by one.
    """
    common = detectors[0]._tails
    rows: list[int] = []
    others: list[int] = []
    for index, detector in enumerate(detectors):
        if detector._tails is common:
            rows.append(detector._row)
        else:
            others.append(index)
    if not others:
        windows[:, 0, :HOP] = common[rows]
        return
    for index in others:
        detector = detectors[index]
        windows[index, 0, :HOP] = detector._tails[detector._row]
    gathered = np.ones(len(detectors), dtype=bool)
    gathered[others] = False
    windows[gathered, 0, :HOP] = common[rows]


_Queued = tuple[DtmfDetector, npt.NDArray[np.int16], Callable[[list[KeyPress]], None]]


class DetectionBatch:
    """Frames of many :class:`DtmfDetector` s, classified in one :func:`classify_windows` call.

    :meth:`add` queues a detector's frame with the callback that gets the
    key presses it ends; :meth:`run` analyses everything queued and calls
    the callbacks.  Each detector tracks its frames in the order they were
    added, and the results are those of calling
    :meth:`DtmfDetector.process` on each frame in turn.
    """

    def __init__(self) -> None:
        self._queued: list[_Queued] = []

    def __len__(self) -> int:
        return len(self._queued)

    def add(
        self,
        detector: DtmfDetector,
        frame: npt.NDArray[np.int16],
        on_keys: Callable[[list[KeyPress]], None],
    ) -> None:
        """Queue ``frame`` for ``detector``; ``on_keys`` is called only when a key ended in it."""
        self._queued.append((detector, frame, on_keys))

    def run(self) -> None:
        """Classify every queued frame, track each detector, report the ended keys.

        A batch holding several frames of one detector (sessions catching
        up after a stall) is classified in rounds, the first frame of every
        detector, then the second…, each round with whole-batch operations:
        a loop that is behind must not pay array operations per frame (the
        windows of the whole batch used to be built frame by frame then).
        """
        queued, self._queued = self._queued, []
        count = len(queued)
        if not count:
            return
        detectors = [entry[0] for entry in queued]
        if len(set(map(id, detectors))) == count:
            self._classify(queued, detectors)
            return
        rounds: list[list[_Queued]] = []
        seen: dict[int, int] = {}
        for entry in queued:
            key = id(entry[0])
            index = seen.get(key, 0)
            seen[key] = index + 1
            if index == len(rounds):
                rounds.append([])
            rounds[index].append(entry)
        for group in rounds:
            self._classify(group, [entry[0] for entry in group])

    def _classify(self, queued: list[_Queued], detectors: list[DtmfDetector]) -> None:
        """One frame of each detector (``detectors``: theirs, in order), windows built at once.

        A detector that found no tone and tracks no key only counts its
        steps: in a tick of hundreds of calls almost every frame is speech
        or silence.  Frames of another shape go frame by frame, in order.
        """
        count = len(queued)
        windows = np.empty((count, 2, WINDOW), dtype=np.float32)
        try:
            # np.array, not np.stack (a view per frame): ragged frames raise ValueError too
            windows[:, 1] = np.array([entry[1] for entry in queued])
        except ValueError:
            for block, (detector, frame, _on_keys) in zip(windows, queued, strict=True):
                detector.windows(frame, block)
        else:
            _gather_tails(detectors, windows)
            windows[:, 0, HOP:] = windows[:, 1, :HOP]
            tails = windows[:, 1, HOP:].copy()  # the detectors' next tails, a row each
            for row, detector in enumerate(detectors):
                detector._tails = tails
                detector._row = row
        codes = classify_windows(windows).tolist()
        for (detector, _frame, on_keys), (first, second) in zip(queued, codes, strict=True):
            if first < 0 and second < 0 and detector._key < 0:
                detector._step += 2  # nothing heard, nothing tracked: advance() would do only this
                continue
            presses = detector.advance(first, second)
            if presses:
                on_keys(presses)
