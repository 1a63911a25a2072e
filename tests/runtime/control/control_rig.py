"""Helpers for control tests: script versions on disk, a server in a thread, ``dsm serve`` as a process."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dsm.runtime.control.client import ControlClient
from dsm.runtime.server import Server, StructuredLog


def main_script(v: int) -> str:
    """Version ``v`` of ``main``: every state name carries the version, ``sub`` is jumped to."""
    return f"""
-- main, version {v}
initial state START_V{v}
  enter {{ set($version={v}) setTimer(1, 3600) }};
state WAIT_V{v};
state END_V{v}
  enter {{ stop(false) }};
transition "first key v{v}" START_V{v} - key(#key == 1) -> WAIT_V{v};
transition "to sub v{v}" WAIT_V{v} - key(#key == 2) / jumpFSM(sub) -> WAIT_V{v};
transition "bye v{v}" (START_V{v}, WAIT_V{v}) - hangup -> END_V{v};
"""


def sub_script(v: int) -> str:
    return f"""
-- sub, version {v}
initial state SUB_V{v}
  enter {{ set($sub={v}) }};
state SUB_END_V{v}
  enter {{ stop(false) }};
transition "sub bye v{v}" SUB_V{v} - hangup -> SUB_END_V{v};
"""


BROKEN = """
-- broken: an action that no module provides (a compile error)
initial state BROKEN
  enter { noSuchActionAnywhere(1) };
"""


def write_version(folder: Path, v: int) -> None:
    (folder / "main.dsm").write_text(main_script(v))
    (folder / "sub.dsm").write_text(sub_script(v))


def write_broken(folder: Path) -> None:
    (folder / "main.dsm").write_text(BROKEN)


class ServerThread:
    """A :class:`Server` on its own event loop in a thread, with a client for it."""

    def __init__(self, token: str | None = None, **kw: object) -> None:
        self.log_text = io.StringIO()
        self.server = Server(control="127.0.0.1:0", token=token, log=StructuredLog(self.log_text), **kw)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("server did not start")
        if self._error is not None:
            raise self._error
        assert self.server.address is not None
        self.address = f"127.0.0.1:{self.server.address[1]}"
        self.token = self.server.token
        self.client = ControlClient(self.address, self.token)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            try:
                await self.server.start()
            except BaseException as exc:  # reported to the test thread
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self.server.stopping.wait()
            await self.server.shutdown()

        self.loop.run_until_complete(main())
        self.loop.close()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
            self.thread.join(20)

    @property
    def log(self) -> str:
        return self.log_text.getvalue()


LIMIT = 20.0
"""Seconds any wait on a child process may take."""


class Proc:
    """A ``dsm`` command (``serve`` mostly) as a child process; its stderr lines are collected."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "dsm.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True, errors="replace",
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, *needles: str, after: int = 0) -> str:
        deadline = time.monotonic() + LIMIT
        with self._cond:
            while True:
                for line in self.lines[after:]:
                    if all(n in line for n in needles):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"no log line with {needles}; got:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    @property
    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def field(self, line: str, key: str) -> str:
        for part in line.split(" "):
            if part.startswith(key + "="):
                return part[len(key) + 1 :]
        raise KeyError(key)

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(LIMIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
