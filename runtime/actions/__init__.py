"""dsm.runtime.actions."""
