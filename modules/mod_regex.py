"""mod_regex — named POSIX extended regular expressions (``modules.md`` section 12).

The reference compiles with POSIX ``regcomp`` (extended syntax) and matches
with ``regexec`` (unanchored search, leftmost-longest).  Python's ``re`` is a
backtracking, leftmost-*first* engine with Perl syntax, so every pattern is
translated (:func:`translate`) and matches are made leftmost-longest
(:class:`PosixRegex`).  The differences and how each is handled:

* **Leftmost-longest.** ``re`` takes the first alternative that succeeds
  (``a|ab`` on ``ab`` matches ``a``); POSIX takes the longest match at the
  leftmost position (``ab``).  After ``re`` finds the leftmost start, every
  possible end is tried from the longest down (see :class:`PosixRegex`),
  so the *overall* match is the POSIX one.
  Sub-expression captures inside that match follow ``re``'s first-match
  order, which can differ from POSIX's sub-expression rule in rare cases
  such as ``(a|ab)(c|bcd)`` (POSIX would prefer the longer first group).
* **Bracket expressions.** ``[[:alpha:]]`` and the other eleven classes,
  ``[=c=]`` and single-character ``[.c.]`` are expanded (C locale); a
  backslash inside brackets is an ordinary character; ``]`` first in the
  list is literal.  Unknown classes and multi-character collating elements
  are rejected (compile failure, ``errno = arg``).
* **Backslash outside brackets.** ``\\1`` … ``\\9`` are back-references
  (a glibc extension to ERE, kept); ``\\w \\W \\s \\S \\b \\B`` keep their
  GNU meanings, ``\\<`` / ``\\>`` become word-start / word-end, `````\\```` ``
  / ``\\'`` buffer start / end; any other escaped character is that
  character literally (``\\d`` is the letter ``d`` as in glibc, not a
  digit).
* **Anchors and dot.** ``^`` and ``$`` are anchors anywhere and ``$`` only
  matches at the very end (never before a final newline, unlike ``re``);
  ``.`` and negated lists also match a newline.
* **Repetition.** Stacked operators (``a**``, ``a+?``) repeat the repeated
  expression (``?`` after a repetition is *not* a lazy modifier);
  ``{m}``, ``{m,}``, ``{m,n}``, ``{,n}`` are intervals, and a malformed
  interval or a repetition operator with nothing before it is a compile
  failure as with ``REG_BADRPT`` / ``REG_BADBR``.
* **Parentheses.** An unmatched ``)`` is an ordinary character (glibc's
  ``RE_UNMATCHED_RIGHT_PAREN_ORD``); an unmatched ``(`` is a compile failure.

The registry is process-global (M-api-2) and guarded by a lock.  Preload
(M-api-6) reads ``mod_regex.conf`` (``config.md`` K-40) from the plug-in
configuration directory.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import Any

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module, plugin_config_dir

__all__ = [
    "module",
    "PosixRegex",
    "RegexError",
    "translate",
    "compile_posix",
    "registry",
    "preload",
]

module = Module("mod_regex", doc="named POSIX extended regular expressions (modules.md section 12)")

_LOG_ERROR = 0
_LOG_INFO = 2


class RegexError(ValueError):
    """A pattern that POSIX ``regcomp`` would reject (or that cannot be translated)."""


_CLASSES: dict[str, str] = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9a-zA-Z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
}

_INTERVAL = re.compile(r"\{([0-9]*)(,([0-9]*))?\}")
_DUP_MAX = 0x7FFF


def _class_char(c: str) -> str:
    """One literal character as a member of a Python character class."""
    return "\\" + c if c in "\\]^-[" else c


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at ``pattern[i] == '['``; returns (text, next index)."""
    n = len(pattern)
    i += 1
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while True:
        if i >= n:
            raise RegexError("unmatched [ or [^")
        c = pattern[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "[" and i + 1 < n and pattern[i + 1] in ":=.":
            kind = pattern[i + 1]
            end = pattern.find(kind + "]", i + 2)
            if end < 0:
                raise RegexError(f"unterminated [{kind} in bracket expression")
            name = pattern[i + 2 : end]
            i = end + 2
            if kind == ":":
                if name not in _CLASSES:
                    raise RegexError(f"invalid character class [:{name}:]")
                items.append(_CLASSES[name])
                continue
            if len(name) != 1:
                raise RegexError(f"invalid collating element [{kind}{name}{kind}]")
            low = name
        else:
            low = c
            i += 1
        # a range low-high (a '-' right before the closing ']' is literal)
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            if pattern[i + 1] == "[" and i + 2 < n and pattern[i + 2] == ".":
                end = pattern.find(".]", i + 3)
                if end < 0 or end - (i + 3) != 1:
                    raise RegexError("invalid range end")
                high = pattern[i + 3]
                i = end + 2
            else:
                high = pattern[i + 1]
                i += 2
            if ord(high) < ord(low):
                raise RegexError(f"invalid range {low}-{high}")
            items.append(f"{_class_char(low)}-{_class_char(high)}")
        else:
            items.append(_class_char(low))
    return ("[^" if negate else "[") + "".join(items) + "]", i


_ESCAPES = {
    "w": r"\w",
    "W": r"\W",
    "s": r"\s",
    "S": r"\S",
    "b": r"\b",
    "B": r"\B",
    "<": r"\b(?=\w)",
    ">": r"\b(?<=\w)",
    "`": r"\A",
    "'": r"\Z",
}


def translate(pattern: str) -> tuple[str, int]:
    """Translate a POSIX ERE into ``re`` syntax; returns the text and the number of groups.

    Raises :class:`RegexError` for what ``regcomp`` would reject.
    """
    text, groups, _ = _translate(pattern, r"\Z")
    return text, groups


_NEVER = "(?!)"


def _translate(pattern: str, end_anchor: str) -> tuple[str, int, bool]:
    """The translation with ``end_anchor`` for ``$``; also whether word-boundary escapes occur."""
    boundaries = False
    out: list[str] = []
    # start index (in ``out``) of the last complete atom, for repetition operators
    atom_start: int | None = None
    repeated = False
    group_starts: list[tuple[int, int]] = []  # (index in out, group number) of open groups
    groups = 0
    closed_groups: set[int] = set()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c in "*+?{":
            if c == "{":
                m = _INTERVAL.match(pattern, i)
                if m is None:
                    raise RegexError("invalid interval")
                low = int(m.group(1)) if m.group(1) else 0
                high_text = m.group(3) if m.group(2) else m.group(1)
                if not m.group(1) and not m.group(2):
                    raise RegexError("invalid interval")
                if high_text and int(high_text) < low or low > _DUP_MAX:
                    raise RegexError("invalid interval bounds")
                op = f"{{{low},{high_text or ''}}}" if m.group(2) else f"{{{low}}}"
                i = m.end()
            else:
                op = c
                i += 1
            if atom_start is None:
                raise RegexError(f"repetition operator {c!r} without operand")
            if repeated:
                out.insert(atom_start, "(?:")
                out.append(")")
            out.append(op)
            repeated = True
            continue
        repeated = False
        if c == "\\":
            if i + 1 >= n:
                raise RegexError("trailing backslash")
            e = pattern[i + 1]
            i += 2
            atom_start = len(out)
            if e in "123456789":
                ref = int(e)
                if ref > groups or ref not in closed_groups:
                    raise RegexError(f"invalid back reference \\{e}")
                out.append(f"(?:\\{ref})")
            elif e in _ESCAPES:
                out.append(end_anchor if e == "'" else _ESCAPES[e])
                boundaries = boundaries or e in "bB<>"
                if e in "bB<>`'":
                    atom_start = None
            else:
                out.append(re.escape(e))
            continue
        if c == "[":
            text, i = _bracket(pattern, i)
            atom_start = len(out)
            out.append(text)
            continue
        i += 1
        if c == "(":
            groups += 1
            group_starts.append((len(out), groups))
            out.append(f"(?P<g{groups}>")
            closed_groups.discard(groups)
            atom_start = None
        elif c == ")":
            if not group_starts:
                atom_start = len(out)
                out.append(r"\)")
                continue
            start, number = group_starts.pop()
            out.append(")")
            closed_groups.add(number)
            atom_start = start
        elif c == "|":
            out.append("|")
            atom_start = None
        elif c == "^":
            out.append(r"\A")
            atom_start = None
        elif c == "$":
            out.append(end_anchor)
            atom_start = None
        elif c == ".":
            atom_start = len(out)
            out.append("(?s:.)")
        else:
            atom_start = len(out)
            out.append(re.escape(c))
    if group_starts:
        raise RegexError("unmatched ( or \\(")
    return "".join(out), groups, boundaries


@functools.lru_cache(maxsize=2048)
def _pinned(translated: str, remaining: int) -> re.Pattern[str]:
    """The pattern forced to end exactly ``remaining`` characters before the end of the subject."""
    return re.compile(f"(?:{translated})(?=(?s:.){{{remaining}}}\\Z)")


class PosixRegex:
    """A compiled POSIX ERE with leftmost-longest search semantics.

    ``re`` finds the leftmost start (the set of positions where *some*
    match starts does not depend on alternative order).  From there the
    end positions are tried from the longest down; the first that admits a
    match is the POSIX match.  A candidate that ends before the end of the
    subject is tested with ``fullmatch`` on the truncated subject, using a
    variant of the pattern whose end anchors never match (an anchored match
    cannot end early).  Word-boundary escapes look past the end, so patterns
    with them pin the end with a look-ahead instead.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.translated, self.groups, self._boundaries = _translate(pattern, r"\Z")
        try:
            self._re = re.compile(self.translated)
            self._inner = re.compile(_translate(pattern, _NEVER)[0])
        except (re.error, RecursionError, OverflowError) as exc:
            raise RegexError(str(exc)) from exc

    def _longest(self, subject: str, start: int, shortest_end: int) -> re.Match[str] | None:
        n = len(subject)
        whole = self._re.fullmatch(subject, start)
        if whole is not None:
            return whole
        for end in range(n - 1, shortest_end - 1, -1):
            if self._boundaries:
                m = _pinned(self.translated, n - end).match(subject, start)
            else:
                m = self._inner.fullmatch(subject, start, end)
            if m is not None:
                return m
        return None

    def search(self, subject: str) -> list[str | None] | None:
        """Leftmost-longest search; returns ``[match, group1, …]`` (``None`` for groups not taking part)."""
        first = self._re.search(subject)
        if first is None:
            return None
        best = self._longest(subject, first.start(), first.end()) or first
        groups: list[str | None] = [best.group(f"g{k}") for k in range(1, self.groups + 1)]
        return [best.group(0), *groups]


def compile_posix(pattern: str) -> PosixRegex:
    """Compile a POSIX ERE; raises :class:`RegexError` on a bad pattern."""
    return PosixRegex(pattern)


class _Registry:
    """The process-global ``name → regex`` table shared by all sessions (M-api-2)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, PosixRegex] = {}

    def set(self, name: str, regex: PosixRegex) -> None:
        with self._lock:
            self._entries[name] = regex

    def get(self, name: str) -> PosixRegex | None:
        with self._lock:
            return self._entries.get(name)

    def remove(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


registry = _Registry()


@module.action("regex.compile", "P,mand")
def regex_compile(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-regex-1: compile the *literal* ``p2`` under the name ``R(p1)``.

    A bad pattern sets ``errno = arg`` (no strerror) and removes the name;
    success leaves errno unchanged.
    """
    name = ctx.resolve(p1)
    try:
        registry.set(name, compile_posix(p2))
    except RegexError as exc:
        ctx.log(_LOG_ERROR, f"regex.compile({name}): invalid regex {p2!r}: {exc}")
        registry.remove(name)
        ctx.set_error("arg")


def _store_groups(ctx: ActionContext, result: list[str | None]) -> None:
    for i, text in enumerate(result[1:], start=1):
        if text is not None:
            ctx.vars[f"regex.match[{i}]"] = text


@module.action("regex.match", "P,mand")
def regex_match_action(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-regex-2: ``$regex.match`` = ``1``/``0`` and ``$regex.match[i]`` for groups that took part."""
    name, subject = ctx.resolve(p1), ctx.resolve(p2)
    regex = registry.get(name)
    if regex is None:
        ctx.log(_LOG_ERROR, f"regex.match: regex '{name}' not found")
        return
    result = regex.search(subject)
    if result is None:
        ctx.vars["regex.match"] = "0"
        return
    ctx.vars["regex.match"] = "1"
    _store_groups(ctx, result)


@module.condition("regex.match", "P,mand")
def regex_match_condition(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> bool:
    """M-regex-4: true iff the subject matches; sets the group variables but not ``$regex.match``.

    The reference stores an undefined value for the last group (one result
    slot too few); here every group is stored as by the action.
    """
    regex = registry.get(ctx.resolve(p1))
    if regex is None:
        return False
    result = regex.search(ctx.resolve(p2))
    if result is None:
        return False
    _store_groups(ctx, result)
    return True


@module.action("regex.clear", "S")
def regex_clear(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-regex-3: remove the entry ``R(a)``."""
    registry.remove(ctx.resolve(a))


# -- preload: mod_regex.conf ----------------------------------------------------


@module.preload
def preload(config: Any = None, log: Any = None) -> int:
    """M-api-6 / K-40: compile every ``name=regex`` of ``mod_regex.conf``.

    ``config`` is the plug-in configuration directory, or an object / mapping
    with ``plugin_config_path``.  A missing file is only a note; an invalid
    regex or a syntax error fails the preload (non-zero result).
    """
    directory = plugin_config_dir(config)
    emit = log if callable(log) else (lambda level, msg: None)
    if directory is None:
        emit(_LOG_INFO, "mod_regex: no configuration directory, no regexes preloaded")
        return 0
    path = os.path.join(directory, "mod_regex.conf")
    if not os.path.exists(path):
        emit(_LOG_INFO, f"mod_regex: {path} not found, no regexes preloaded")
        return 0
    from dsm.runtime.config import read_conf  # the CF-2 reader of the DSM configuration

    conf = read_conf(path)
    errors = [d for d in conf.diagnostics if d.severity == "error"]
    if errors:
        for d in errors:
            emit(_LOG_ERROR, f"mod_regex: {d.path}:{d.line}: {d.message}")
        return 1
    compiled: dict[str, PosixRegex] = {}
    for name, pattern in conf.values.items():
        try:
            compiled[name] = compile_posix(pattern)
        except RegexError as exc:
            emit(_LOG_ERROR, f"mod_regex: {path}: invalid regex for {name}: {exc}")
            return 1
    for name, regex in compiled.items():
        registry.set(name, regex)
    return 0
