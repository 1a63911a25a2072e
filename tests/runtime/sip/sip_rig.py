"""A ``dsm serve`` ``Server`` with SIP on free loopback ports, on its own event loop in a thread.

Shared by the serving tests and the fuzz test: the server is started on a
loop in a daemon thread; :meth:`ThreadedServer.on_loop` runs a function on
that loop (nothing of the server is thread-safe) and returns its result;
exceptions that reach the loop are collected in ``loop_errors``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import random
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dsm.runtime.server import Server, StructuredLog

LIMIT = 30.0
T = TypeVar("T")


class ThreadedServer:
    """``Server(..., control="127.0.0.1:0", sip="127.0.0.1:0", **kw)`` running in a thread."""

    def __init__(
        self,
        scripts: list[str],
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        **kw: Any,
    ) -> None:
        self.log_text = io.StringIO()
        self.loop_errors: list[dict[str, Any]] = []
        self.server = Server(
            scripts=scripts,
            control="127.0.0.1:0",
            sip="127.0.0.1:0",
            log=StructuredLog(self.log_text, level="debug"),
            **kw,
        )
        self.loop = loop_factory()
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(LIMIT):
            raise RuntimeError("server did not start")
        if self._error is not None:
            raise self._error
        assert self.server.sip_address is not None
        self.port = self.server.sip_address[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            try:
                await self.server.start()
            except BaseException as exc:  # handed to the test thread
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self.server.stopping.wait()
            await self.server.shutdown()

        self.loop.run_until_complete(main())
        self.loop.close()

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop and return its result (or raise its exception)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the test thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(LIMIT)


def free_port_run(width: int) -> int:
    """A random even base port whose next ``width`` UDP ports on loopback are free now.

    Tests of the RTP port pool need a small range of their own: any fixed range may be
    held by another run on the same machine.  The ports are free when probed; a test
    that loses one to another process before binding should try another run.
    """
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(40000, 60000, 2)
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + width):
                probes.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                probes[-1].bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in probes:
                sock.close()
    raise RuntimeError("no free run of loopback UDP ports")
