"""The DSM language server (``dsm lsp``): editor support built on the compiler.

``analysis`` runs the compiler and its reader once per text; ``features``
turns that into LSP answers; ``server`` is the pygls shell over stdio.
"""
