"""dsm.runtime.sip."""
