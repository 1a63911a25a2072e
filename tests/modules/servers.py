"""Throwaway database servers for the module tests and the module benchmark.

``mod_mysql`` and ``mod_redis`` are tested against real servers, not mocks:
the quirks they reproduce (driver messages, reply types, pipelining) live in
the servers and client libraries.  This file starts a private ``mariadbd``
and a private ``redis-server`` on free loopback ports inside a temporary
directory, waits until they answer and removes everything afterwards.

Nothing here is a pytest fixture; ``conftest.py`` wraps these helpers, and
``benchmarks/modules.py`` uses them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dsm.runtime.harness.stub import StubContext

__all__ = [
    "ServerUnavailable",
    "MariaDB",
    "RedisServer",
    "free_port",
    "refused_port",
    "find_binary",
    "mariadb",
    "redis_server",
    "FakeCall",
    "HttpTestServer",
    "http_test_server",
    "FakeContext",
    "AwsServer",
    "aws_server",
]

STARTUP_TIMEOUT = 60.0
"""Seconds a server may take to answer; generous because the machine is shared."""


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused_port() -> int:
    """A loopback port where nothing listens, so connecting is refused at once."""
    return free_port()


def find_binary(*names: str) -> str:
    """The first of ``names`` found on ``PATH`` or in ``/usr/sbin``; else ServerUnavailable."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    raise ServerUnavailable(f"none of {', '.join(names)} is installed")


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(f"server exited with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerUnavailable(f"server did not answer on port {port} within {STARTUP_TIMEOUT} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass(frozen=True)
class MariaDB:
    """A running private MariaDB server with a test user and database."""

    host: str
    port: int
    user: str
    password: str
    database: str
    socket_path: str
    directory: str
    pid: int = 0
    """The server process, for tests that pause it (SIGSTOP/SIGCONT)."""

    @property
    def url(self) -> str:
        """The ``mysql://user:pwd@host:port/db`` URL ``mysql.connect`` understands (M-mysql-1)."""
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class RedisServer:
    """A running private redis-server."""

    host: str
    port: int
    socket_path: str
    directory: str
    pid: int = 0
    """The server process, for tests that pause it (SIGSTOP/SIGCONT)."""

    @property
    def url(self) -> str:
        """The ``redis://tcp:host;port=N`` URL ``redis.connect`` understands (M-redis-1)."""
        return f"redis://tcp:{self.host};port={self.port}"


@contextlib.contextmanager
def mariadb(
    user: str = "dsm", password: str = "dsm-pw", database: str = "dsmtest"
) -> Iterator[MariaDB]:
    """Start a throwaway ``mariadbd``; yield its coordinates; stop it and delete its data."""
    mariadbd = find_binary("mariadbd", "mysqld")
    install = find_binary("mariadb-install-db", "mysql_install_db")
    directory = tempfile.mkdtemp(prefix="dsm-mariadb-")
    datadir = os.path.join(directory, "data")
    sock = os.path.join(directory, "mysqld.sock")
    log = os.path.join(directory, "error.log")
    run_as = ["--user=root"] if os.geteuid() == 0 else []
    proc: subprocess.Popen[bytes] | None = None
    try:
        res = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={datadir}",
                *run_as,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if res.returncode != 0:
            raise ServerUnavailable(
                f"{install} failed ({res.returncode}): {res.stderr.decode(errors='replace')[-500:]}"
            )
        port = free_port()
        proc = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={datadir}",
                *run_as,
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={sock}",
                f"--pid-file={os.path.join(directory, 'mysqld.pid')}",
                f"--log-error={log}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                # throwaway data: no durability, so DDL in test fixtures is cheap
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-fast-shutdown=2",
                "--innodb-doublewrite=0",
                "--innodb-flush-method=nosync",
                "--max-connections=400",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port, proc, log)
        _provision_mariadb(sock, user, password, database)
        yield MariaDB("127.0.0.1", port, user, password, database, sock, directory, proc.pid)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


def _provision_mariadb(sock: str, user: str, password: str, database: str) -> None:
    import pymysql

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            con = pymysql.connect(unix_socket=sock, user="root", password="")
            break
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'")
                cur.execute(f"GRANT ALL ON *.* TO '{user}'@'{host}'")
        con.commit()
    finally:
        con.close()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a throwaway ``redis-server`` without persistence; stop it and delete its directory."""
    binary = find_binary("redis-server")
    directory = tempfile.mkdtemp(prefix="dsm-redis-")
    sock = os.path.join(directory, "redis.sock")
    log = os.path.join(directory, "redis.log")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
            "--unixsocket",
            sock,
            "--unixsocketperm",
            "700",
            "--logfile",
            log,
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc, log)
        yield RedisServer("127.0.0.1", port, sock, directory, proc.pid)
    finally:
        _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- HTTP
class _Handler(BaseHTTPRequestHandler):
    """Endpoints for the mod_curl tests.

    ``/hello`` text, ``/echo`` the request line, ``/status/N`` status N,
    ``/redirect`` a 302 to ``/hello``, ``/binary`` non-UTF-8 bytes, ``/slow``
    answers only when the test session ends (for timeouts), ``POST /form``
    echoes the content type and body.
    """

    protocol_version = "HTTP/1.1"
    release: threading.Event

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "text/plain",
        extra: dict[str, str] | None = None,
    ) -> None:
        with contextlib.suppress(OSError):  # the client may have given up (timeouts)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/hello":
            self._send(200, b"hello world")
        elif path.startswith("/echo"):
            self._send(200, ("GET " + path).encode())
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode())
        elif path == "/redirect":
            self._send(302, b"moved", extra={"Location": "/hello"})
        elif path == "/binary":
            self._send(200, b"\x00\xff\xfeRIFF\x01", "application/octet-stream")
        elif path == "/slow":
            type(self).release.wait(60)
            self._send(200, b"late")
        else:
            self._send(404, b"no such page")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        self._send(200, b"POST " + self.path.encode() + b"\n" + ctype.encode() + b"\n" + body)


class HttpTestServer:
    """Coordinates of the loopback HTTP server and a port where connections are refused."""

    def __init__(self, port: int, refused: int) -> None:
        self.port = port
        self.refused = refused
        self.base = f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def http_test_server() -> Iterator[HttpTestServer]:
    """A threaded HTTP server on a free loopback port; ``/slow`` is released when it stops."""
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http-test-server", daemon=True)
    thread.start()
    try:
        yield HttpTestServer(int(server.server_address[1]), refused_port())
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# --------------------------------------------------------------------------- a context without engine
class FakeCall:
    """A stand-in host call that records what is handed to its playlist."""

    def __init__(self) -> None:
        self.played: list[tuple[Any, bool]] = []

    def play(self, item: Any, front: bool = False) -> None:
        from dsm.runtime.call import AudioOpenError

        path = getattr(item, "path", None)
        if path is not None and not os.path.isfile(path):
            raise AudioOpenError(path, "no such file")
        self.played.append((item, front))


class FakeContext(StubContext):
    """A :class:`~dsm.runtime.harness.stub.StubContext` with a recording call and ownership.

    ``owned_objects`` is what the session would dispose of at its end
    (:meth:`dispose_all`); ``logged`` is the log.
    """

    def __init__(
        self,
        variables: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        kind: str = "call",
    ) -> None:
        super().__init__(dict(variables or {}), params, kind=kind, call=FakeCall())
        self.owned_objects = []

    @property
    def logged(self) -> list[tuple[int, str]]:
        return self.logs

    @property
    def owned(self) -> list[Any]:
        return self.owned_objects or []

    def dispose_all(self) -> None:
        """What the session does at its end: dispose of everything it owns."""
        from dsm.runtime.actions.objects import dispose_owned

        errors = dispose_owned(self)
        assert not errors, errors


# --------------------------------------------------------------------------- S3/SQS (moto)
@dataclass(frozen=True)
class AwsServer:
    """A running moto server (S3 and SQS) that checks request signatures.

    ``access_key``/``secret_key`` belong to an IAM user allowed everything;
    any other key pair is refused by the server (bad-credential tests).
    """

    endpoint: str
    access_key: str
    secret_key: str
    port: int


_MOTO_AUTH_SETUP_REQUESTS = 3
"""Requests the fixture makes before moto starts checking signatures (user, policy, key)."""


@contextlib.contextmanager
def aws_server(attempts: int = 3) -> Iterator[AwsServer]:
    """Start ``moto.server`` on a free loopback port (retried if the port was taken meanwhile)."""
    import sys

    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServerUnavailable(f"moto[server] / boto3 not installed: {exc}") from exc
    directory = tempfile.mkdtemp(prefix="dsm-moto-")
    log = os.path.join(directory, "moto.log")
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_MOTO_AUTH_SETUP_REQUESTS))
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = 0
        for _ in range(attempts):
            port = free_port()
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            try:
                _wait_for_port(port, proc, log)
                break
            except ServerUnavailable:
                _stop(proc)
                proc = None
        if proc is None:
            raise ServerUnavailable(f"moto server did not start in {attempts} attempts; see {log}")
        endpoint = f"http://127.0.0.1:{port}"
        access, secret = _provision_moto(endpoint)
        yield AwsServer(endpoint, access, secret, port)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


def _provision_moto(endpoint: str) -> tuple[str, str]:
    """An IAM user with an allow-all policy and its key; after this, signatures are checked."""
    import json

    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="dsm")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="dsm", PolicyName="all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="dsm")["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def stop_process(pid: int, limit: float = 5.0) -> None:
    """SIGSTOP ``pid`` and wait until every one of its threads is stopped.

    ``kill`` returns before a multi-threaded server's threads on the other
    core have stopped; a query sent at once could still be answered.
    """
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        states = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
        if states and all(s in ("T", "t") for s in states):
            return
        time.sleep(0.005)


def spin(loop: asyncio.AbstractEventLoop, done: Callable[[], bool], turns: int = 3000) -> bool:
    """Run ``loop`` in 10 ms turns until ``done()``; bounded (at most ~30 s on a loaded machine)."""
    for _ in range(turns):
        if done():
            return True
        loop.run_until_complete(asyncio.sleep(0.01))
    return done()
