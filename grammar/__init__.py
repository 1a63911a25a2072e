"""Package data: the DSM grammar (``dsm.lark``)."""
