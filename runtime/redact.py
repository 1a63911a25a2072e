"""Secrets out of operator views: one rule for names, one function each for maps and text.

A variable (or event parameter, or ``key=value`` field) is secret when its
name contains ``pwd``, ``pass``, ``secret``, ``token`` or ``auth`` in any
case: ``$o_auth_pwd``, ``$b2b_auth_pwd``, ``#password``, ``api_token``.
Whatever the server shows to operators — ``callInfo`` (so ``dsm
call-info``), the per-call trace, the log lines of ``dsm serve`` and the
metrics — goes through :func:`redact_vars` or :func:`redact_text`, which
show such values as ``***``.

Text is masked twice over: by shape (``$name='v'``, ``$name 'v'``,
``#name='v'``, ``name=v`` with a secret name, as the logging actions and
structured fields write them) and by value (the current values of the
session's secret variables, at least :data:`MIN_VALUE` characters long,
wherever they appear — e.g. interpolated into ``logs()``).

The simulated call harness does not use this module: it runs on the
script author's machine, for the script author, and shows everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["MASK", "SECRET_WORDS", "MIN_VALUE", "is_secret", "redact_vars", "secret_values", "redact_text"]

MASK = "***"
SECRET_WORDS: tuple[str, ...] = ("pwd", "pass", "secret", "token", "auth")
MIN_VALUE = 4
"""Shorter values are not searched for in free text: masking every ``1`` would hide everything."""

_QUOTED = re.compile(r"(?P<name>[$#]?[A-Za-z_][\w.\-]*)(?P<sep>=| )'(?P<value>[^'\n]*)'")
_PAIR = re.compile(r"(?P<name>[A-Za-z_][\w.\-]*)=(?P<value>\"[^\"\n]*\"|[^\s;&,'\"]+)")


def is_secret(name: str) -> bool:
    """Whether a variable, parameter or field of this name holds a secret."""
    low = name.lower()
    return any(word in low for word in SECRET_WORDS)


def redact_vars(values: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``values`` with every secret entry shown as ``***``."""
    return {k: (MASK if is_secret(k) else v) for k, v in values.items()}


def secret_values(*maps: Mapping[str, str] | None) -> list[str]:
    """The values of the secret entries of ``maps`` long enough to search for, longest first."""
    found = {
        v
        for m in maps
        if m
        for k, v in m.items()
        if isinstance(v, str) and len(v) >= MIN_VALUE and is_secret(k)
    }
    return sorted(found, key=len, reverse=True)


def _quoted(m: re.Match[str]) -> str:
    if not is_secret(m.group("name")):
        return m.group(0)
    return f"{m.group('name')}{m.group('sep')}'{MASK}'"


def _pair(m: re.Match[str]) -> str:
    if not is_secret(m.group("name")):
        return m.group(0)
    return f"{m.group('name')}={MASK}"


def redact_text(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with secret values (``values``, see :func:`secret_values`) and secret pairs masked."""
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    if "'" in text:
        text = _QUOTED.sub(_quoted, text)
    if "=" in text:
        text = _PAIR.sub(_pair, text)
    return text
