"""``xmlrpc2di``: the reference's XML-RPC client component, ``DI(xmlrpc2di, …)``.

Functions (names, argument types and results as in the reference):

* ``newConnection(app:str, server:str, port:int, uri:str)`` — add a server
  for the application name ``app`` (several per name are allowed; an empty
  ``uri`` means ``/RPC2``).  Returns nothing.
* ``sendRequest(app:str, method:str, params:list)`` — call ``method`` with
  the parameter list on one active server of ``app``: ``[0, "OK", result]``.
* ``sendRequestList(app:str, method:str, p1, p2, …)`` — the same with the
  parameters given one by one; an array result is *appended* to ``[0,
  "OK"]`` (so ``DIgetResult`` gives ``$DI_res0`` = 0, ``$DI_res1`` = OK,
  ``$DI_res2`` … the elements, as ``pin/main.dsm`` reads them).  REFERENCE
  QUIRK: a scalar result *replaces* the whole answer, so ``$DI_res`` is the
  value alone; a struct result is a type mismatch.

A server that fails (no connection, timeout, HTTP error, XML-RPC fault) is
marked failed and skipped for ``server_retry_after`` seconds (default 10)
and the next active server of the name is tried; with none left the answer
is ``[-1, "no active connections"]``.

Settings come from ``xmlrpc2di.conf`` in the plug-in configuration directory
(``config.md`` K-42): ``server_retry_after`` and ``server_timeout``
(milliseconds).  Difference: without ``server_timeout`` a request gives up
after 10 s (the reference waits forever).

Blocking: the request runs in :meth:`XmlRpc2Di.execute`, the one place to
move off the engine's thread.  Today it runs in place, bounded by the
timeout, so a slow XML-RPC server delays the event processing of other calls
by at most that long; the action completes before the next one starts
(M-api-15).
"""

from __future__ import annotations

import os
import random
import threading
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsm.runtime.engine import DIComponent

__all__ = ["XmlRpc2Di", "ServerEntry", "read_settings", "DEFAULT_TIMEOUT"]

FUNCTIONS = ("newConnection", "sendRequest", "sendRequestList")
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_AFTER = 10.0


@dataclass
class ServerEntry:
    """One server of an application name; ``failed_at`` is when it last failed."""

    server: str
    port: int
    uri: str
    failed_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self.server}:{self.port}{self.uri or '/RPC2'}"


def read_settings(conf_dir: str | None) -> dict[str, float]:
    """``server_timeout`` (ms → s) and ``server_retry_after`` of ``xmlrpc2di.conf``, if readable."""
    out: dict[str, float] = {}
    if not conf_dir:
        return out
    path = os.path.join(conf_dir, "xmlrpc2di.conf")
    if not os.path.isfile(path):
        return out
    from dsm.runtime.config import read_conf

    conf = read_conf(path)
    timeout = conf.values.get("server_timeout", "")
    if timeout.isdigit() and int(timeout) > 0:
        out["timeout"] = int(timeout) / 1000.0
    retry = conf.values.get("server_retry_after", "")
    if retry.isdigit():
        out["retry_after"] = float(retry)
    return out


class _Transport(xmlrpc.client.Transport):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: Any) -> Any:
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def _to_xmlrpc(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_xmlrpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_xmlrpc(v) for v in value]
    return value


def _from_xmlrpc(value: Any) -> Any:
    if isinstance(value, xmlrpc.client.Binary):
        return bytes(value.data)
    if isinstance(value, xmlrpc.client.DateTime):
        return str(value)
    if isinstance(value, list | tuple):
        return [_from_xmlrpc(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_xmlrpc(v) for k, v in value.items()}
    return value


def _args(args: list[Any], fmt: str) -> None:
    """``assertArrayFmt``: at least ``len(fmt)`` arguments of the types s(tring), i(nt), a(rray)."""
    if len(args) < len(fmt):
        raise IndexError(len(args))
    for value, kind in zip(args, fmt):
        ok = (
            isinstance(value, str)
            if kind == "s"
            else (isinstance(value, int) and not isinstance(value, bool))
            if kind == "i"
            else isinstance(value, list | tuple)
        )
        if not ok:
            raise TypeError(f"argument {value!r} is not of type {kind}")


class XmlRpc2Di(DIComponent):
    """XML-RPC servers per application name, shared by all sessions (thread-safe).

    A request waits on the network, so ``DI`` runs it on the worker pool of a server
    while the calling session waits (``blocking``); other calls carry on.
    """

    blocking = True

    def __init__(
        self,
        now: Callable[[], float],
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = DEFAULT_RETRY_AFTER,
    ) -> None:
        self.now = now
        self.timeout = timeout
        self.retry_after = retry_after
        self.servers: dict[str, list[ServerEntry]] = {}
        self._lock = threading.Lock()

    def invoke(self, function: str, args: list[Any]) -> Any:
        if function == "newConnection":
            _args(args, "ssis")
            entry = ServerEntry(args[1], args[2], args[3])
            with self._lock:
                self.servers.setdefault(args[0], []).append(entry)
            return None
        if function == "sendRequest":
            _args(args, "ssa")
            found = self._send(args[0], args[1], list(args[2]))
            return found if found[0] == -1 else [0, "OK", found[1]]
        if function == "sendRequestList":
            _args(args, "ss")
            found = self._send(args[0], args[1], list(args[2:]))
            if found[0] == -1:
                return found
            result = found[1]
            if isinstance(result, list):
                return [0, "OK", *result]
            if isinstance(result, dict):
                raise TypeError("struct result into an array")  # REFERENCE QUIRK
            return result  # REFERENCE QUIRK: a scalar replaces [0, "OK"]
        if function == "_list":
            return list(FUNCTIONS)
        raise NotImplementedError(function)

    def _active(self, app: str) -> ServerEntry | None:
        now = self.now()
        with self._lock:
            active = []
            for s in self.servers.get(app, ()):
                if s.failed_at is not None and now - s.failed_at > self.retry_after:
                    s.failed_at = None
                if s.failed_at is None:
                    active.append(s)
        return random.choice(active) if active else None

    def _send(self, app: str, method: str, params: list[Any]) -> list[Any]:
        """``[0, result]`` from the first server that answers, or ``[-1, "no active connections"]``."""
        while True:
            server = self._active(app)
            if server is None:
                return [-1, "no active connections"]
            try:
                result = self.execute(server.url, method, params)
            except (OSError, xmlrpc.client.Error, ValueError):
                with self._lock:
                    server.failed_at = self.now()
                continue
            return [0, _from_xmlrpc(result)]

    def execute(self, url: str, method: str, params: list[Any]) -> Any:
        """One XML-RPC call; raises on transport errors and faults."""
        proxy = xmlrpc.client.ServerProxy(url, transport=_Transport(self.timeout), allow_none=True)
        with proxy:
            return getattr(proxy, method)(*(_to_xmlrpc(p) for p in params))
