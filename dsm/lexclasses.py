"""The lexical classes of DSM, read from ``grammar/dsm.lark`` once per process.

``dsm.lark`` is the single place that says which characters are whitespace,
punctuation, quotes and span openers (``language.md`` L-21 … L-25).  The
tokenizer needs them as plain character sets to build its regular
expressions; reading four terminal lines from the file is enough for that
(the grammar part of the file is loaded by Lark in :mod:`dsm.reader`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["LexClasses", "grammar_text", "lex_classes"]

_TERMINAL = re.compile(r"^(LEX_[A-Z_]+)\s*:\s*/\[(.*)\]/\s*$", re.MULTILINE)
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", "[": "[", "]": "]", "/": "/"}


@dataclass(frozen=True, slots=True)
class LexClasses:
    whitespace: str
    punctuation: str
    quotes: str
    span_open: str


@lru_cache(maxsize=1)
def grammar_text() -> str:
    """The text of ``dsm.lark`` from the package ``dsm.grammar``."""
    return resources.files("dsm.grammar").joinpath("dsm.lark").read_text(encoding="utf-8")


def _chars(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1)
def lex_classes() -> LexClasses:
    """Parse the ``LEX_*`` terminals (single character classes) of ``dsm.lark``."""
    found = {name: _chars(body) for name, body in _TERMINAL.findall(grammar_text())}
    try:
        return LexClasses(
            whitespace=found["LEX_WHITESPACE"],
            punctuation=found["LEX_PUNCTUATION"],
            quotes=found["LEX_QUOTE"],
            span_open=found["LEX_SPAN_OPEN"],
        )
    except KeyError as exc:  # pragma: no cover - a broken package, not bad input
        raise RuntimeError(f"dsm.lark lacks the lexical class {exc.args[0]}") from None
