"""A small synchronous client of the control endpoint (used by the CLI and tests).

Plain ``http.client``: the CLI makes one or two requests and exits, so an
event loop would only add start-up time.

The token is, in this order: the ``token`` argument (``--control-token``;
``""`` sends none), ``$DSM_CONTROL_TOKEN``, the token file the server wrote
for this port (``token_file`` / ``$DSM_CONTROL_TOKEN_FILE``, else
``<runtime dir>/control-<port>.token``, see :mod:`dsm.runtime.control.token`).
The default token file is read only for a loopback address: it belongs to
this machine's server, and is never sent to another host.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
from pathlib import Path
from typing import Any

from dsm.runtime.control.http_server import DEFAULT_CONTROL, is_loopback, parse_hostport
from dsm.runtime.control.token import read_token, token_path

__all__ = ["ControlClient", "ServerUnavailable", "RpcFailure", "default_control"]


class ServerUnavailable(ConnectionError):
    """Nothing answered at the control address."""


class RpcFailure(Exception):
    """The server answered with a JSON-RPC error (or an HTTP error)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


def default_control() -> str:
    """``$DSM_CONTROL`` if set, else the server's default ``127.0.0.1:5040``."""
    return os.environ.get("DSM_CONTROL") or DEFAULT_CONTROL


class ControlClient:
    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        token_file: str | None = None,
    ) -> None:
        self.address = address or default_control()
        self.host, self.port = parse_hostport(self.address)
        explicit_file = token_file or os.environ.get("DSM_CONTROL_TOKEN_FILE")
        self.token_file: Path | None = token_path(self.port, explicit_file)
        if not explicit_file and not is_loopback(self.host):
            # the default file is this machine's server's: never send it to another host
            self.token_file = None
        if token is None:
            token = os.environ.get("DSM_CONTROL_TOKEN")
            if not token and self.token_file is not None:
                token = read_token(self.token_file)
        self.token = token
        self.timeout = timeout
        self._ids = itertools.count(1)

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (ConnectionRefusedError, TimeoutError, OSError, http.client.HTTPException) as exc:
            raise ServerUnavailable(f"no DSM server answers at {self.address} ({exc})") from exc
        finally:
            conn.close()

    def call(self, method: str, params: Any = None) -> Any:
        """One JSON-RPC call; returns ``result`` or raises :class:`RpcFailure`."""
        req: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params is not None:
            req["params"] = params
        status, data = self._request("POST", "/", json.dumps(req).encode())
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise RpcFailure(status, f"HTTP {status}: not a JSON-RPC reply") from exc
        if not isinstance(reply, dict):
            raise RpcFailure(status, "unexpected reply")
        if "error" in reply:
            err = reply["error"] or {}
            message = str(err.get("message", "error"))
            if status == 401:
                message += self._token_hint()
            raise RpcFailure(int(err.get("code", status)), message, err.get("data"))
        return reply.get("result")

    def get(self, path: str) -> str:
        status, data = self._request("GET", path)
        if status != 200:
            hint = self._token_hint() if status == 401 else ""
            raise RpcFailure(status, f"HTTP {status}: {data.decode(errors='replace').strip()}{hint}")
        return data.decode()

    def _token_hint(self) -> str:
        if self.token:
            return " (the token sent does not match the server's)"
        where = (
            f"none in {self.token_file}"
            if self.token_file is not None
            else "token files are only read for loopback addresses"
        )
        return f" (no token: {where}; give --control-token, $DSM_CONTROL_TOKEN or --control-token-file)"
