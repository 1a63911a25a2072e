"""A recording fake :class:`~dsm.runtime.call.Call` for engine tests.

Every host operation is appended to ``ops`` as a tuple, so tests can assert
what a chart asked the host to do.  Files whose path contains ``missing``
cannot be opened; prompts are those in ``prompts`` (current set) and
``default_prompts`` (default set); prompt sets are those in ``prompt_sets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsm.runtime.call import AudioItem, AudioOpenError, Call, PromptItem, UnknownPrompt


class FakeCall(Call):
    def __init__(self, local_tag: str = "", selects: Mapping[str, str] | None = None) -> None:
        self.local_tag = local_tag
        self.selects = dict(selects or {})
        self.ops: list[tuple[Any, ...]] = []
        self.playlist: list[AudioItem] = []
        self.prompts = {"hello", "bye"}
        self.default_prompts = {"hello", "bye", "fallback_only"}
        self.prompt_sets = {"de", "en"}
        self.recording: str | None = None
        self.headers = ""
        self.flags: dict[str, bool] = {}
        self.ended = False

    def select(self, name: str) -> str:
        return self.selects.get(name, "")

    def play(self, item: AudioItem, front: bool = False) -> None:
        if isinstance(item, PromptItem):
            known = self.prompts | (self.default_prompts if item.fallback else set())
            if item.name not in known:
                raise UnknownPrompt(item.name)
        path = getattr(item, "path", "")
        if "missing" in path:
            raise AudioOpenError(path)
        self.ops.append(("play", item, front))
        if front:
            self.playlist.insert(0, item)
        else:
            self.playlist.append(item)

    def flush_playlist(self) -> None:
        self.ops.append(("flush",))
        self.playlist.clear()

    def attach_playlist(self, input: bool, output: bool) -> None:
        self.ops.append(("attach", input, output))

    def set_prompts(self, name: str) -> None:
        if name not in self.prompt_sets:
            raise UnknownPrompt(name)
        self.ops.append(("prompts", name))

    def record_start(self, path: str) -> None:
        if "missing" in path:
            raise AudioOpenError(path)
        self.recording = path
        self.ops.append(("record", path))

    def record_stop(self) -> bool:
        was = self.recording is not None
        self.recording = None
        self.ops.append(("record_stop", was))
        return was

    def record_length(self) -> int | None:
        return None if self.recording is None else 1500

    def record_data_size(self) -> int | None:
        return None if self.recording is None else 24000

    def media_connect(self) -> None:
        self.ops.append(("connect",))

    def media_disconnect(self) -> None:
        self.ops.append(("disconnect",))

    def set_media_flag(self, flag: str, on: bool) -> None:
        self.flags[flag] = on
        self.ops.append(("flag", flag, on))

    def send_dtmf(self, event: int, duration_ms: int) -> None:
        self.ops.append(("dtmf", event, duration_ms))

    def bye(self) -> None:
        self.ops.append(("bye",))

    def on_session_end(self) -> None:
        self.ended = True

    def b2b_connect_callee(
        self, to: str, request_uri: str, relayed: bool, settings: Mapping[str, str]
    ) -> None:
        self.ops.append(("connect_callee", to, request_uri, relayed, dict(settings)))

    def b2b_terminate_other_leg(self) -> None:
        self.ops.append(("terminate_other",))

    def b2b_send_reinvite(self, generate_sdp: bool, extra_headers: str) -> None:
        self.ops.append(("reinvite", generate_sdp, extra_headers))

    def b2b_set_flag(self, flag: str, on: bool) -> None:
        self.ops.append(("b2b_flag", flag, on))

    def b2b_relay_event(self, params: dict[str, str]) -> None:
        self.ops.append(("relay", params))

    def get_b2b_headers(self) -> str:
        return self.headers

    def set_b2b_headers(self, block: str) -> None:
        self.headers = block
