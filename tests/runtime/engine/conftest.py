"""Fixtures for engine tests: a virtual-clock rig that runs ``.dsm`` text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_rig import Rig  # noqa: E402


@pytest.fixture
def rig() -> Rig:
    return Rig()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "slow: long-running engine tests")
