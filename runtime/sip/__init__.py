"""dsm.runtime.sip: sans-I/O SIP, SDP and RTP for real calls.

State machines that are fed bytes and time and return bytes to send and
events; no sockets, no tasks, no clock reads (``docs/sip.md``).  Modules:
``message`` (parser/serialiser), ``uri``, ``headers``, ``responses``,
``transaction`` (RFC 3261 section 17), ``dialog``, ``useragent`` (the UAS
core), ``sdp`` (offer/answer), ``rtp`` and ``rtcp``.  Every parser raises
only :class:`dsm.runtime.sip.errors.ParseError`.
"""
