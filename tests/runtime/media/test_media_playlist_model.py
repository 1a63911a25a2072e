"""The playlist against a sample-by-sample model of ``actions.md`` §0.5.

The model keeps the queue as a Python list and plays one sample at a time:
the head item plays; a front insertion puts the new item before the head
(which keeps its position); a separator reports its id when it becomes the
head and is gone; when an item ends and the queue is empty, NoAudio; a
flush empties the queue silently.  Random operation sequences must give the
same samples and the same events, at the same sample offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsm.runtime.media.events import NoAudio, PlaylistSeparatorReached
from dsm.runtime.media.items import PlaylistItem, SampleItem, SeparatorItem
from dsm.runtime.media.playlist import Playlist


@dataclass
class ModelItem:
    samples: list[int]
    loop: bool = False
    separator: int | None = None
    position: int = 0


class Model:
    def __init__(self) -> None:
        self.queue: list[ModelItem] = []
        self.position = 0

    def read(self, n: int) -> tuple[list[int], list[object]]:
        out: list[int] = []
        events: list[object] = []
        while len(out) < n:
            # retire finished heads (separators report first)
            while self.queue:
                head = self.queue[0]
                if head.separator is not None:
                    events.append(PlaylistSeparatorReached(head.separator, self.position))
                elif head.loop or head.position < len(head.samples):
                    break
                self.queue.pop(0)
                if not self.queue:
                    events.append(NoAudio("noAudio", self.position))
            if not self.queue:
                out.append(0)
            else:
                head = self.queue[0]
                if head.loop and not head.samples:
                    out.append(0)
                else:
                    out.append(head.samples[head.position % len(head.samples)])
                head.position += 1
                if not head.loop and head.position == len(head.samples):
                    self.queue.pop(0)
                    if not self.queue:
                        events.append(NoAudio("noAudio", self.position + 1))
            self.position += 1
        return out, events


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 400), st.booleans(), st.booleans()),
        st.tuples(st.just("front"), st.integers(0, 400), st.booleans(), st.booleans()),
        st.tuples(st.just("separator"), st.integers(0, 9), st.booleans(), st.just(False)),
        st.tuples(st.just("read"), st.integers(1, 4), st.just(False), st.just(False)),
        st.tuples(st.just("flush"), st.just(0), st.just(False), st.just(False)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_playlist_matches_the_model(ops: list[tuple[str, int, bool, bool]]) -> None:
    playlist = Playlist()
    model = Model()
    counter = 0
    for op, value, flag, loop in ops:
        if op in ("append", "front"):
            counter += 1
            samples = [counter * 100 + (i % 50) + 1 for i in range(value)]
            loop = loop and flag  # some loops, not too many
            item: PlaylistItem = SampleItem(np.array(samples, dtype=np.int16), loop=loop)
            entry = ModelItem(samples, loop)
        elif op == "separator":
            item = SeparatorItem(value)
            entry = ModelItem([], separator=value)
        if op in ("append", "front", "separator"):
            if op == "front" or (op == "separator" and flag):
                playlist.insert_front(item)
                model.queue.insert(0, entry)
            else:
                playlist.append(item)
                model.queue.append(entry)
        elif op == "flush":
            playlist.flush()
            model.queue.clear()
        else:
            for _ in range(value):
                frame, events = playlist.read_frame()
                expected, expected_events = model.read(160)
                assert frame.tolist() == expected
                assert events == expected_events
    assert playlist.position == model.position
