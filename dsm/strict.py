"""``dsm check --strict``: where does a script leave the well-formed subset?

The compiler follows the reference's token loop (``language.md`` section 4),
which accepts much more than the informative grammar of section 5: missing
``;`` and braces, stray words, interleaved constructs.  Those leniencies make
scripts fragile (the next edit can silently change what a block belongs to),
so ``--strict`` parses each script's token stream with the section-5 grammar
of the well-formed subset (``grammar/wellformed.lark``, LALR) and reports a warning (W013) at every token the
grammar does not expect, then resynchronises and goes on.

The Lark parser is built once per process, lazily, on first use: the normal
compile path never needs it (what DSM accepts is ``grammar/dsm.lark``, read by
:mod:`dsm.reader`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

from dsm.diagnostics import Diagnostic
from dsm.source import SourceText

__all__ = ["strict_diagnostics", "classify"]

_FIXED = {
    ";": "SEMI",
    "{": "LBRACE",
    "}": "RBRACE",
    "[": "LBRACK",
    "]": "RBRACK",
    "state": "KW_STATE",
    "initial": "KW_INITIAL",
    "transition": "KW_TRANSITION",
    "function": "KW_FUNCTION",
    "enter": "KW_ENTER",
    "exit": "KW_EXIT",
    "if": "KW_IF",
    "else": "KW_ELSE",
    "not": "KW_NOT",
    "exception": "KW_EXCEPTION",
    "for": "KW_FOR",
    "-": "DASH",
    "->": "ARROW",
    "-->": "LONG_ARROW",
    "/": "SLASH",
    "-/": "DASH_SLASH",
}

_READABLE = {
    "SEMI": "`;`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LBRACK": "`[`",
    "RBRACK": "`]`",
    "ARROW": "`->`",
    "LONG_ARROW": "`-->`",
    "DASH": "`-`",
    "SLASH": "`/`",
    "DASH_SLASH": "`-/`",
    "WORD": "a name",
    "FNAME": "a name",
    "FOR_GLUED": "a name",
    "$END": "end of input",
}


def classify(token: str) -> str:
    """The grammar terminal of one token (section 5's token classes)."""
    fixed = _FIXED.get(token)
    if fixed is not None:
        return fixed
    if len(token) > 6 and token.startswith("import"):
        return "IMPORT"
    if token.startswith("for") and token[3:4] == "(":
        return "FOR_GLUED"
    if "(" in token:
        return "FNAME"
    return "WORD"


@lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark, Token
    from lark.lexer import Lexer

    class TokenLexer(Lexer):
        """Hands over the tokens the DSM tokenizer already produced, classified."""

        def __init__(self, lexer_conf: Any) -> None:
            pass

        def lex(self, data: Any) -> Iterator[Any]:  # type: ignore[override]
            values, offsets, src = data
            for value, offset in zip(values, offsets):
                _, line, column, _ = src.locate(offset)
                yield Token(classify(value), value, start_pos=offset, line=line, column=column)

    text = resources.files("dsm.grammar").joinpath("wellformed.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer=TokenLexer, start="start")


def _expected(names: set[str] | frozenset[str]) -> str:
    readable = sorted({_READABLE.get(n, "`" + n.removeprefix("KW_").lower() + "`") for n in names})
    if len(readable) > 6:
        readable = readable[:6] + ["…"]
    return ", ".join(readable)


def strict_diagnostics(
    src: SourceText, values: list[str], offsets: list[int], limit: int = 50
) -> list[Diagnostic]:
    """W013 warnings where the token stream leaves the grammar of section 5."""
    from lark import Token
    from lark.exceptions import LarkError, UnexpectedToken

    out: list[Diagnostic] = []

    def warn(offset: int, message: str, token: str) -> None:
        if offset >= len(src.text) and src.origins:
            offset = max(0, len(src.text) - 1)
        path, line, column, text = src.locate(offset)
        out.append(
            Diagnostic(
                path,
                line,
                column,
                "warning",
                "W013",
                message,
                "accepted only through a leniency of the reference reader (language.md section 8)",
                text,
                max(1, len(token)),
            )
        )

    parser = _parser()
    try:
        ip = parser.parse_interactive(None)
    except LarkError:  # pragma: no cover - the grammar is package data
        return out
    recovering = False
    for value, offset in zip(values, offsets):
        _, line, column, _ = src.locate(offset)
        tok = Token(classify(value), value, start_pos=offset, line=line, column=column)
        trial = ip.copy()
        try:
            trial.feed_token(tok)
        except UnexpectedToken as e:
            if not recovering:
                warn(offset, f"unexpected `{value}` here (expected {_expected(e.expected)})", value)
                if len(out) >= limit:
                    return out
            recovering = True  # skip tokens until the grammar accepts one again
            continue
        except LarkError:
            return out
        ip = trial
        recovering = False
    try:
        ip.feed_eof()
    except UnexpectedToken:
        if not recovering:
            warn(len(src.text), "script ends inside an unfinished statement", "")
    except LarkError:
        pass
    return out
