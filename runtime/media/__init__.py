"""dsm.runtime.media."""
