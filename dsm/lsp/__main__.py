"""``python -m dsm.lsp``: the language server over stdio."""

import sys

from dsm.lsp.server import main

sys.exit(main())
