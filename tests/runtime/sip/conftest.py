"""Fixtures shared by the SIP tests: ``sipp`` (the binary, or skip/fail) and ``served`` (the examples over SIP)."""

from test_sip_serve import served, sipp  # noqa: F401 - fixtures for every test file of this folder
