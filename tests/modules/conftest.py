"""Server fixtures shared by the module tests: MariaDB, Redis and a loopback HTTP server.

The database servers are real and private to the test session (see
``servers.py``).  A missing server binary fails the tests when the
environment variable ``CI`` is set and skips them with the reason otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import (  # noqa: E402
    AwsServer,
    HttpTestServer,
    MariaDB,
    RedisServer,
    ServerUnavailable,
    aws_server,
    http_test_server,
    mariadb,
    redis_server,
)


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} unavailable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """A private MariaDB (user ``dsm``, database ``dsmtest``) for the whole test session."""
    try:
        cm = mariadb()
        server = cm.__enter__()
    except ServerUnavailable as exc:
        _unavailable("MariaDB", exc)
        raise
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def redis_info() -> Iterator[RedisServer]:
    """A private redis-server for the whole test session."""
    try:
        cm = redis_server()
        server = cm.__enter__()
    except ServerUnavailable as exc:
        _unavailable("Redis", exc)
        raise
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpTestServer]:
    """A threaded HTTP server on a free loopback port (stopped at session end)."""
    with http_test_server() as server:
        yield server


@pytest.fixture(scope="session")
def harness_class() -> type:
    """The test harness class (``dsm.runtime.harness.Harness``) for script-level module tests.

    Script-level tests need the engine; while the harness is not importable
    they fail under ``CI`` and skip locally with the import error as reason.
    """
    try:
        from dsm.runtime.harness import Harness
    except ImportError as exc:
        _unavailable("dsm.runtime.harness.Harness", exc)
        raise
    return Harness  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def aws_info() -> Iterator[AwsServer]:
    """A private moto server (S3 + SQS, signatures checked) for the whole test session."""
    try:
        cm = aws_server()
        server = cm.__enter__()
    except ServerUnavailable as exc:
        _unavailable("moto server", exc)
        raise
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture
def paused() -> Iterator[list[int]]:
    """Processes a test paused with SIGSTOP: always continued afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
