"""The SBC: a B2BUA configured by call profiles, optionally driven by DSM (``cc_dsm``).

Layout: :mod:`.profile` (the profile model, loading, selection and what a
profile does to a call -- pure functions of the incoming INVITE), :mod:`.leg`
(the protocols between the relay, its call-control plug-ins and ``mod_sbc``),
the relay itself (the SIP side) and :mod:`.cc_dsm` (the DSM call control).
"""
