"""The modules compiled by mypyc (setup.py) when a C compiler is available.

Plain Python, read by setup.py without importing the package and by
:mod:`dsm.runtime.native` at import time.  They are the per-frame media
path: what runs for every RTP packet sent or received.  The source stays
the truth; the compiled ``.so`` files are a build product.
"""

from __future__ import annotations

MODULES: tuple[str, ...] = (
    "dsm.runtime.sip.media_clock",
    "dsm.runtime.sip.rtcp",
    "dsm.runtime.sip.rtp",
    "dsm.runtime.sip.rtp_latch",
    "dsm.runtime.sip.rtp_session",
    "dsm.runtime.media.call_media",
    "dsm.runtime.media.dtmf_detector",
    "dsm.runtime.media.items",
    "dsm.runtime.media.playlist",
)
GROUP = "dsm.runtime._native__mypyc"
"""The shared library mypyc builds for the group (setup.py: ``group_name`` + ``__mypyc``)."""
