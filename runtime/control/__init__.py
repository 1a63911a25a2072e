"""dsm.runtime.control."""
