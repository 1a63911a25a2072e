"""Fixtures of the SBC relay tests: the SIP tests' helpers (sipp, its scenarios) are shared."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_rig import SbcRig  # noqa: E402
from test_sip_serve import sipp  # noqa: E402, F401 - the sipp fixture for every test of this folder


@pytest.fixture
def rig(sipp: str, tmp_path: Path) -> Iterator[SbcRig]:  # noqa: F811 - sipp is the fixture above
    """The callee, the SBC and the caller of one wire test (:class:`relay_rig.SbcRig`), closed after."""
    r = SbcRig(sipp, tmp_path)
    try:
        yield r
    finally:
        r.close()
