"""The ``mod_*`` action libraries, one file per module."""
