"""Suite-wide fixtures: token files of servers started by tests go to a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _dsm_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``$DSM_RUNTIME_DIR`` for every server and client of the run (and their subprocesses)."""
    old = os.environ.get("DSM_RUNTIME_DIR")
    os.environ["DSM_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("dsm-run"))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DSM_RUNTIME_DIR", None)
        else:
            os.environ["DSM_RUNTIME_DIR"] = old
