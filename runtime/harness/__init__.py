"""dsm.runtime.harness."""
