"""Fixtures for the control tests: a scripts folder and a server in a thread."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from control_rig import ServerThread, write_version  # noqa: E402


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "scripts"
    folder.mkdir()
    write_version(folder, 1)
    return folder


@pytest.fixture
def served(scripts: Path) -> Iterator[ServerThread]:
    st = ServerThread(scripts=[str(scripts)])
    try:
        yield st
    finally:
        st.stop()
