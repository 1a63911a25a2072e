"""The DSM tokenizer (``language.md`` L-20 … L-30), reproduced exactly.

A token is a punctuation character (``; { } [ ]``) or a *word*: a run of
other characters up to whitespace or punctuation *outside spans*, where a
quote opens a quoted span and ``(`` a parenthesised span (which nests and
contains its own quoted spans).  A register ``prev`` decides whether a quote
is escaped; it changes only inside spans (L-24, L-25).  Unterminated spans
end at the end of the text (L-26), which is how a stray apostrophe swallows
the rest of a script (L-27, REFERENCE QUIRK).  A word that starts with a
quote loses its first and last character (L-28); empty tokens vanish (L-29).

Tokens are returned as two parallel lists (values and start offsets in the
chart text) rather than objects: the compile path touches every token once
and this keeps it cheap.  Most words are *simple* (no backslash inside a
span, no nested parenthesis, no unterminated span).  When every word of a
text is simple, one ``re.split`` cuts the whole text into separators and
tokens without any per-token Python work (:func:`_split_simple`); otherwise
one regular expression, built once from the lexical classes in ``dsm.lark``,
consumes whitespace plus a punctuation character or a simple word, and only
other words fall back to the character-exact scanner (see :func:`_patterns`
for why this is exact).
REFERENCE QUIRKS reproduced here: L-24/L-25 escape rules, L-27 swallowing,
L-28 last character dropped, L-29 ``""`` vanishing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import accumulate

from dsm.lexclasses import lex_classes

__all__ = ["tokenize", "open_span", "Tokens"]

Tokens = tuple[list[str], list[int]]


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], frozenset[str], frozenset[str]]:
    """The scanning expressions, built from the lexical classes of ``dsm.lark``.

    ``token`` matches (group 1) whitespace and then one of: group 2 a
    punctuation character; group 3 a *simple* word that does not start with a
    quote; group 4 a simple word that does (its value loses the first and
    last character, L-28); group 5 the simple beginning of a word that goes
    on with a span the simple form cannot take (group 6, the span character,
    marks this case), which the exact scanner finishes.  A simple word consists of plain characters, quoted spans
    without backslashes and parenthesised spans without nested parentheses
    or backslashes (quoted spans allowed inside).  ``prev`` only matters when
    it is a backslash, and no simple span leaves one behind, so the simple
    form is exact and handing over in the middle of a word is too.
    """
    lc = lex_classes()
    ws = re.escape(lc.whitespace)
    punct = re.escape(lc.punctuation)
    span = re.escape(lc.quotes + lc.span_open)
    plain = f"[^{ws}{punct}{span}]++"
    quoted = "|".join(f"{re.escape(q)}[^{re.escape(q)}\\\\]*+{re.escape(q)}" for q in lc.quotes)
    inner = "|".join(
        [f"[^(){re.escape(lc.quotes)}\\\\]"]
        + [f"{re.escape(q)}[^{re.escape(q)}\\\\]*+{re.escape(q)}" for q in lc.quotes]
    )
    paren = f"\\((?:{inner})*+\\)"
    simple = f"(?:{plain}|{quoted}|{paren})*+"
    token = re.compile(
        f"([{ws}]*+)(?:([{punct}])"
        f"|(?=[^{ws}{re.escape(lc.quotes)}])({simple})(?![{span}])"
        f"|(?=[{re.escape(lc.quotes)}])({simple})(?![{span}])"
        f"|({simple})(?=([{span}])))"
    )
    rest = re.compile(f"[^{ws}{punct}{span}]*")
    return token, rest, frozenset(lc.whitespace + lc.punctuation), frozenset(lc.quotes)


def _quoted_end(text: str, i: int, prev: str) -> tuple[int, str]:
    """A quoted span outside parentheses opened at ``i`` (L-24).

    Returns the offset after the closing quote (or ``len(text)``) and the new
    ``prev``: the last character consumed inside the span, unchanged for an
    empty span (the quotes themselves never set it).
    """
    q = text[i]
    j = i + 1
    while True:
        k = text.find(q, j)
        if k < 0:
            n = len(text)
            return n, (text[n - 1] if n > i + 1 else prev)
        before = text[k - 1] if k > i + 1 else prev
        if before != "\\":
            return k + 1, (text[k - 1] if k > i + 1 else prev)
        j = k + 1


def _paren_end(text: str, i: int) -> int:
    """A parenthesised span opened at ``i`` (L-25); returns the offset after it.

    Inside the span ``prev`` is always the character just consumed, the
    closing quote after a nested quoted span, and, for the first character
    after a nested opening quote, the character before that quote; so the
    escape test reduces to looking one (or two) characters back.
    """
    n = len(text)
    depth = 0
    j = i + 1
    while j < n:
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return j + 1
            depth -= 1
        elif c == '"' or c == "'":
            start = j
            j += 1
            while True:
                k = text.find(c, j)
                if k < 0:
                    return n
                before = text[k - 1] if k > start + 1 else text[start - 1]
                if before != "\\":
                    j = k
                    break
                j = k + 1
        j += 1
    return n


def _word_end(text: str, i: int, plain: re.Pattern[str], stops: frozenset[str]) -> int:
    """Scan the rest of a word whose span character is at ``i`` (L-23)."""
    n = len(text)
    prev = " "
    while i < n:
        c = text[i]
        if c == "(":
            i = _paren_end(text, i)
            prev = ")"
        elif c == '"' or c == "'":
            i, prev = _quoted_end(text, i, prev)
        elif c in stops:
            return i
        i = plain.match(text, i).end()  # type: ignore[union-attr]
    return n


@lru_cache(maxsize=1)
def _splitter() -> tuple[re.Pattern[str], str, str]:
    """The expression of :func:`_split_simple`, with the whitespace and quote characters.

    Group 1 matches a punctuation character or a simple word: plain
    characters and simple spans (as in :func:`_patterns`), at least one
    character, not starting with whitespace.  ``re.split`` with it yields
    ``[sep, token, sep, token, …, sep]``.
    """
    lc = lex_classes()
    ws = re.escape(lc.whitespace)
    punct = re.escape(lc.punctuation)
    plain = f"[^{ws}{punct}{re.escape(lc.quotes + lc.span_open)}]*+"
    quoted = [f"{re.escape(q)}[^{re.escape(q)}\\\\]*+{re.escape(q)}" for q in lc.quotes]
    inner = "|".join([f"[^(){re.escape(lc.quotes)}\\\\]++"] + quoted)
    span = "|".join([f"\\((?:{inner})*+\\)"] + quoted)
    word = f"(?=[^{ws}]){plain}(?:(?:{span}){plain})*+"
    return re.compile(f"([{punct}]|{word})"), lc.whitespace, lc.quotes


def _split_simple(text: str) -> Tokens | None:
    """Tokens of a text whose words are all simple, or ``None`` if one is not.

    The fast path exists because a per-token Python loop costs as much as the
    scan itself on small charts.  Between the matches of :func:`_splitter`
    there must be nothing but whitespace: a word with a span the simple form
    cannot take leaves a span character in a separator (or, when the word
    starts with it, an empty match), and such texts take the exact path.  At
    a token start the expression consumes exactly the token (see
    :func:`_patterns`), so the split equals the exact scan.  Offsets are the
    running sums of the lengths of everything before each token.

    A text with a backslash goes straight to the exact path: escapes inside
    spans are the commonest reason for a word not to be simple, and the
    split would only be wasted work then.
    """
    if "\\" in text:
        return None
    split, whitespace, quotes = _splitter()
    parts = split.split(text)
    values = parts[1::2]
    if "".join(parts[0::2]).strip(whitespace) or "" in values:
        return None
    offsets = list(accumulate(map(len, parts)))[:-1:2]
    for q in quotes:
        if q in text:
            break
    else:
        return values, offsets
    # L-28: a word starting with a quote loses its first and last character; L-29.
    values = [v[1:-1] if v[0] in quotes else v for v in values]
    if "" in values:
        kept = [i for i, v in enumerate(values) if v]
        values = [values[i] for i in kept]
        offsets = [offsets[i] for i in kept]
    return values, offsets


def tokenize(text: str) -> Tokens:
    """Split chart text into token values and their start offsets.

    Texts made of simple words take :func:`_split_simple`; the others are
    scanned by :func:`_tokenize_scan`.
    """
    fast = _split_simple(text)
    return fast if fast is not None else _tokenize_scan(text)


def _tokenize_scan(text: str) -> Tokens:
    """Tokens of any text.

    ``findall`` does the scanning in C; offsets are recovered by adding up
    the lengths of what each match consumed.  Only a word with a span the
    simple form cannot take drops out to the exact scanner, after which
    scanning resumes behind that word.
    """
    token, plain, stops, quotes = _patterns()
    values: list[str] = []
    offsets: list[int] = []
    append_v = values.append
    append_o = offsets.append
    pos = 0
    while True:
        for ws, punct, simple, quoted, prefix, _span in token.findall(text, pos):
            pos += len(ws)
            if punct or simple:
                word = punct or simple
                append_v(word)
                append_o(pos)
                pos += len(word)
                continue
            if quoted:
                if len(quoted) > 2:  # L-28: first and last character dropped; L-29: empty vanishes
                    append_v(quoted[1:-1])
                    append_o(pos)
                pos += len(quoted)
                continue
            start = pos
            end = _word_end(text, pos + len(prefix), plain, stops)
            word = text[start:end]
            if word[0] in quotes:
                word = word[1:-1]  # L-28: first and last character dropped, whatever they are
            if word:  # L-29: empty tokens vanish
                append_v(word)
                append_o(start)
            pos = end
            break
        else:
            return values, offsets


def _quoted_closed(text: str, i: int, prev: str) -> bool:
    """Whether the quoted span opened at ``i`` (outside parentheses) is closed (L-24)."""
    q = text[i]
    j = i + 1
    while True:
        k = text.find(q, j)
        if k < 0:
            return False
        if (text[k - 1] if k > i + 1 else prev) != "\\":
            return True
        j = k + 1


def _paren_unclosed(text: str, i: int) -> tuple[int, str] | None:
    """What leaves the parenthesised span opened at ``i`` open at the end, if anything.

    The same walk as :func:`_paren_end`; an unterminated nested quote is the
    cause rather than the ``(`` (``log(1, "c:\\" x)``), so it is named instead.
    """
    n = len(text)
    depth = 0
    j = i + 1
    while j < n:
        c = text[j]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return None
            depth -= 1
        elif c == '"' or c == "'":
            start = j
            j += 1
            while True:
                k = text.find(c, j)
                if k < 0:
                    return start, c
                before = text[k - 1] if k > start + 1 else text[start - 1]
                if before != "\\":
                    j = k
                    break
                j = k + 1
        j += 1
    return i, "("


def open_span(text: str, offsets: list[int]) -> tuple[int, str] | None:
    """The span still open at the end of ``text``, as ``(offset, opening character)``.

    An unterminated quoted or parenthesised span runs to the end of the text
    (L-26) and so can only belong to the last token; that token is scanned
    again here with the rules of :func:`_word_end`.  ``None`` when every span
    is closed.  Used to make an argument list left open at end of input an
    error instead of the reference's silent swallowing of the rest (L-27).
    """
    if not offsets:
        return None
    i = offsets[-1]
    n = len(text)
    lc = lex_classes()
    stops = frozenset(lc.whitespace + lc.punctuation)
    prev = " "
    while i < n:
        c = text[i]
        if c == "(":
            unclosed = _paren_unclosed(text, i)
            if unclosed is not None:
                return unclosed
            i, prev = _paren_end(text, i), ")"
        elif c in lc.quotes:
            if not _quoted_closed(text, i, prev):
                return i, c
            i, prev = _quoted_end(text, i, prev)
        elif c in stops:
            return None
        else:
            i += 1
    return None
