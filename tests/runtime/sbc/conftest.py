"""Fixtures of the SBC relay tests: the SIP tests' helpers (sipp, its scenarios) are shared."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))

from test_sip_serve import sipp  # noqa: E402, F401 - the sipp fixture for every test of this folder
