"""``dsm check --strict``: where does a script rely on a leniency of the reference reader?

The grammar (``grammar/dsm.lark``) accepts everything the reference's token
loop accepts; the alternatives that exist only for that leniency carry an
alias ``-> lenient_…`` (a word a construct ignores, a statement opened
inside another one, a name that is not a word, …).  ``--strict`` reads the
script once more with the same grammar and reports a warning (W013) where
such an alternative is used; the order of a transition's parts (conditions,
actions, arrow, target) and the place of ``import(…)`` tokens are checked by
the reader's actions in strict mode.  One finding per statement: whatever
follows a first leniency inside the same statement is usually its
consequence.
"""

from __future__ import annotations

from dsm.diagnostics import Diagnostic
from dsm.reader import strict_findings
from dsm.source import SourceText

__all__ = ["strict_diagnostics"]


def strict_diagnostics(
    src: SourceText, values: list[str], offsets: list[int], limit: int = 50
) -> list[Diagnostic]:
    """W013 warnings where the token stream uses a leniency (at most ``limit``)."""
    return strict_findings(src, values, offsets)[:limit]
