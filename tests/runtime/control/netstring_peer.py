"""A real netstring JSON-RPC 2.0 TCP peer on a loopback port from bind(0), for ``execRpc`` tests."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from typing import Any

from dsm.runtime.components.jsonrpc_client import NetstringDecoder, netstring


class NetstringPeer:
    """Answers ``add`` (sum of the params), ``fail`` (an error), ``silent`` (nothing); records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        peer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(20)
                decoder = NetstringDecoder()
                for _ in range(100):  # bounded: one connection carries a handful of messages
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    for payload in decoder.feed(data):
                        msg = json.loads(payload)
                        peer.requests.append(msg)
                        answer = peer.answer(msg)
                        if answer is not None:
                            sock.sendall(netstring(json.dumps(answer).encode()))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        base = {"jsonrpc": "2.0", "id": msg.get("id")}
        method = msg.get("method")
        if method == "add":
            return {**base, "result": sum(msg.get("params") or [])}
        if method == "fail":
            return {**base, "error": {"code": -32000, "message": "it failed"}}
        if method == "noise":
            return {"jsonrpc": "2.0", "id": "999", "result": 0}
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
