"""Running compiled DSM charts: engine, sessions, clock, media, SIP, control, harness."""

from dsm.runtime import native as _native

_native.install()  # before any compiled media module is imported: a stale build runs from source
