"""dsm.runtime.sip: SIP, SDP and RTP for real calls.

The protocol core is sans-I/O: state machines that are fed bytes and time
and return bytes to send and events; no sockets, no tasks, no clock reads
(``docs/sip.md``).  Core modules: ``message`` (parser/serialiser), ``uri``,
``headers``, ``responses``, ``transaction`` (RFC 3261 section 17),
``dialog``, ``useragent`` (the UA core), ``sdp`` (offer/answer), ``rtp`` and
``rtcp``.  Every parser raises only
:class:`dsm.runtime.sip.errors.ParseError`.

The thin asyncio shell around it: ``transport`` (UDP), ``rtp_session`` (one
RTP socket per call, 20 ms pacing) and ``sipcall`` (the Call interface of a
real dialog, the counterpart of the harness's simulated call).
"""
