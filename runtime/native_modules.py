"""The modules compiled by mypyc (setup.py) when a C compiler is available.

Plain Python, read by setup.py without importing the package and by
:mod:`dsm.runtime.native` at import time.  They are the per-frame media
path (what runs for every RTP packet sent or received) and the SIP message
parser and serialiser with its URIs, headers and SDP, and the sans-I/O SIP
core's transactions, dialogs and user agent (what runs for every SIP
message), and the call layer above it (a SIP call, the transport shell,
the host's answer).  The source stays the truth; the compiled ``.so``
files are a build product.

A class whose base is interpreted (``SipCall``, the asyncio protocols) is
marked ``mypyc_attr(native_class=False)``: compiled as a native class it
would not clear its weak references when freed (docs/sip.md, "The call
layer compiled").  Its methods are compiled all the same, and may hold no
nested function.

A dataclass in these modules writes its own ``__init__``: the one
``@dataclass`` generates is made by ``exec`` when the module loads, so it
stays interpreted code even in a compiled class (about 400 ns a message
part instead of 30-60 ns).  ``tests/runtime/sip/test_native.py`` checks
each against its fields.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
    "dsm.runtime.sip.headers",
    "dsm.runtime.sip.message",
    "dsm.runtime.sip.responses",
    "dsm.runtime.sip.sdp",
    "dsm.runtime.sip.uri",
    "dsm.runtime.sip.timer_heap",
    "dsm.runtime.sip.dialog",
    "dsm.runtime.sip.transaction",
    "dsm.runtime.sip.ua_common",
    "dsm.runtime.sip.ua_server",
    "dsm.runtime.sip.useragent",
    "dsm.runtime.sip.transport",
    "dsm.runtime.sip.sipcall",
    "dsm.runtime.sip.outgoing",
    "dsm.runtime.incoming",
)
GROUP = "dsm.runtime._native__mypyc"
"""The shared library mypyc builds for the group (setup.py: ``group_name`` + ``__mypyc``)."""

MAPPED = {"runtime": "runtime", "modules": "modules", "grammar": "grammar"}
"""Subpackages of ``dsm`` that live in their own top-level folders (pyproject's package-dir)."""


def installed_layout(root: Path, tree: Path) -> Path:
    """``tree``/dsm laid out as the installed package, by symbolic links into ``root``.

    mypy and mypyc name modules by their place in the tree; an editable
    install maps the folders with an import hook neither can follow.  The
    links copy nothing.  Used by setup.py (mypyc) and scripts/typecheck.py.
    """
    if tree.exists():
        shutil.rmtree(tree)
    package = tree / "dsm"
    package.mkdir(parents=True)
    for entry in (root / "dsm").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MAPPED.items():
        (package / name).symlink_to(root / folder, target_is_directory=True)
    return tree
