"""The conference mixer (modules.md section 4): vectorised N-1 mixing, checked on the audio."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsm.runtime.clock import VirtualClock
from dsm.runtime.media.audio import FRAME_SAMPLES
from dsm.runtime.media.conference import ChannelItem, Conferences, TimerDriver
from dsm.runtime.media.items import SampleItem
from dsm.runtime.media.mixin import MixIn, MixInList
from dsm.runtime.media.playlist import Playlist


def tone(freq: float, frames: int = 1, amp: float = 8000, start: int = 0) -> npt.NDArray[np.int16]:
    n = np.arange(start, start + frames * FRAME_SAMPLES)
    return np.round(amp * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int16)


def level(x: npt.ArrayLike, freq: float) -> float:
    """Goertzel-style amplitude of ``freq`` in ``x`` (a sine of amplitude A gives about A)."""
    s = np.asarray(x, dtype=np.float64)
    if s.size == 0:
        return 0.0
    k = np.exp(-2j * np.pi * freq * np.arange(s.size) / 8000)
    return float(2 * abs(np.dot(s, k)) / s.size)


def events() -> tuple[Conferences, list[tuple[str, int]]]:
    got: list[tuple[str, int]] = []
    return Conferences(lambda s, i: got.append((s, i))), got


def test_each_hears_the_others_not_itself() -> None:
    conf, _ = events()
    freqs = {"a": 400.0, "b": 700.0, "c": 1100.0}
    slots = {s: conf.acquire("r", s, True, True) for s in freqs}
    for s, f in freqs.items():
        slots[s].write(tone(f, amp=6000))
    conf.step()
    for s, f in freqs.items():
        _, out = slots[s].mix()
        assert level(out, f) < 50, s
        for other, g in freqs.items():
            if other != s:
                assert abs(level(out, g) - 6000) < 300, (s, other)


def test_level_of_two_equal_talkers_and_clipping() -> None:
    conf, _ = events()
    a, b, c = (conf.acquire("r", s, True, True) for s in "abc")
    a.write(tone(400, amp=5000))
    b.write(tone(400, amp=5000))
    conf.step()
    _, out = c.mix()
    assert abs(level(out, 400) - 10000) < 300  # two equal talkers add up
    a.write(np.full(FRAME_SAMPLES, 30000, dtype=np.int16))
    b.write(np.full(FRAME_SAMPLES, 30000, dtype=np.int16))
    conf.step()
    assert int(c.mix()[1].max()) == 32767  # clipped to 16 bit, not wrapped
    a.write(np.full(FRAME_SAMPLES, -30000, dtype=np.int16))
    b.write(np.full(FRAME_SAMPLES, -30000, dtype=np.int16))
    conf.step()
    assert int(c.mix()[1].min()) == -32768


def test_silent_caller_contributes_silence_not_stale_audio() -> None:
    conf, _ = events()
    a, b = conf.acquire("r", "a", True, True), conf.acquire("r", "b", True, True)
    a.write(tone(400))
    conf.step()
    assert level(b.mix()[1], 400) > 7000
    conf.step()  # a sent nothing this period
    assert not b.mix()[1].any()


def test_listen_only_is_heard_by_nobody_and_speak_only_hears_nothing() -> None:
    conf, _ = events()
    talker = conf.acquire("r", "t", True, False)
    listener = conf.acquire("r", "l", False, True)
    both = conf.acquire("r", "b", True, True)
    talker.write(tone(400))
    listener.write(tone(700))
    both.write(tone(1100))
    conf.step()
    assert not talker.mix()[1].any()
    out_l = listener.mix()[1]
    assert level(out_l, 400) > 7000 and level(out_l, 1100) > 7000
    out_b = both.mix()[1]
    assert level(out_b, 400) > 7000 and level(out_b, 700) < 50


def test_rooms_are_mixed_separately_in_one_step() -> None:
    conf, _ = events()
    rooms = {f"room{i}": [conf.acquire(f"room{i}", f"s{i}{j}", True, True) for j in range(3)] for i in range(5)}
    for i, slots in enumerate(rooms.values()):
        slots[0].write(tone(300 + 100 * i))
    conf.step()
    for i, slots in enumerate(rooms.values()):
        for j in range(len(rooms)):
            heard = level(slots[1].mix()[1], 300 + 100 * j)
            assert (heard > 7000) if i == j else (heard < 50)


def test_join_and_leave_events_and_slot_reuse() -> None:
    conf, got = events()
    a = conf.acquire("r", "a", True, True)
    assert got == [("a", 1)]  # the first joiner is told itself
    b = conf.acquire("r", "b", True, True)
    assert got[1:] == [("a", 1)]
    again = conf.acquire("r", "b", True, False)  # same session, same room: same slot
    assert again is b and conf.size("r") == 2 and got[2:] == []
    conf.release(b)
    assert got[2:] == []  # still held once
    conf.release(b)
    assert got[2:] == [("a", 2)] and conf.size("r") == 1
    conf.release(a)
    assert conf.size("r") == 0 and "r" not in conf.rooms


def test_many_slots_grow_the_matrices() -> None:
    conf, _ = events()
    slots = [conf.acquire("big", str(i), True, True) for i in range(40)]
    slots[0].write(tone(400))
    conf.step()
    assert all(level(s.mix()[1], 400) > 7000 for s in slots[1:])
    for s in slots[:39]:
        conf.release(s)
    slots[39].write(tone(400))
    conf.step()
    assert not slots[39].mix()[1].any()


def test_channel_item_serves_any_read_length_and_goes_silent_when_released() -> None:
    conf, _ = events()
    a, b = conf.acquire("r", "a", True, True), conf.acquire("r", "b", True, True)
    item = ChannelItem(b)
    a.write(tone(400))
    conf.step()
    first = item.read(100)
    rest = item.read(160)
    assert np.array_equal(np.concatenate([first, rest[:60]]), tone(400))
    assert not rest[60:].any()  # no new mix: silence, not a repeat
    item.write(tone(700))
    conf.step()
    assert level(a.mix()[1], 700) > 7000
    item.release()
    a.write(tone(400))
    conf.step()
    assert not item.read(160).any() and not item.finished


def test_timer_driver_steps_every_20_ms_while_there_are_slots() -> None:
    clock = VirtualClock()
    conf, _ = events()
    conf.attach_driver(TimerDriver(clock, conf.step))
    s = conf.acquire("r", "a", True, True)
    clock.advance(0.1)
    assert conf.mixer.generation == 5
    conf.release(s)
    clock.advance(0.1)
    assert conf.mixer.generation == 5 and clock.pending() == 0


def test_mix_in_levels_pause_and_repeat() -> None:
    pl = Playlist()
    pl.append(SampleItem(tone(400, frames=100)))
    mix = MixIn(0.5, 0)
    mix.set_source(SampleItem(tone(1000, frames=2)))
    out, _ = mix.read_frame(pl)
    assert abs(level(out, 400) - 4000) < 200 and abs(level(out, 1000) - 4000) < 200
    mix.read_frame(pl)
    out, _ = mix.read_frame(pl)  # the source ended: the playlist alone
    assert abs(level(out, 400) - 8000) < 200 and level(out, 1000) < 50
    assert pl.position == 3 * FRAME_SAMPLES
    paused = MixIn(0.0, 0)
    paused.set_source(SampleItem(tone(1000, frames=2)))
    paused.read_frame(pl)
    paused.read_frame(pl)
    assert pl.position == 3 * FRAME_SAMPLES  # below 0.01 the playlist does not advance
    repeat = MixIn(1.0, 1)  # every second, after the source ends
    repeat.set_source(SampleItem(tone(1000, frames=1)))
    heard = [level(repeat.read_frame(pl)[0], 1000) > 1000 for _ in range(110)]
    assert [i for i, h in enumerate(heard) if h] == [50, 101]


def test_mix_in_list_plays_its_items() -> None:
    pl = Playlist()
    mix = MixIn(1.0, 0)
    lst = MixInList()
    mix.set_source(lst)
    assert not mix.read_frame(pl)[0].any()
    lst.append(SampleItem(tone(1000, frames=1)))
    assert level(mix.read_frame(pl)[0], 1000) > 7000
    assert not mix.read_frame(pl)[0].any()
