"""Assertions with messages a voice engineer understands.

``assert call.state == "MENU"`` fails with two strings; :func:`assert_state`
fails with "expected state MENU, call is in ADDKEY after keys 1,2,3" — the
call's story, not Python's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsm.runtime.harness.harness import TestCall

__all__ = [
    "DSMAssertionError",
    "assert_state",
    "assert_var",
    "assert_played",
    "assert_terminated",
    "assert_replied",
]


class DSMAssertionError(AssertionError):
    """An expectation about a simulated call did not hold."""


def _story(call: TestCall) -> str:
    keys = ",".join(call.keys_pressed)
    parts = [f"after keys {keys}" if keys else "with no keys pressed"]
    parts.append(f"at {call.harness.now:.3f} s")
    if call.terminated:
        parts.append("(call ended)")
    return " ".join(parts)


def assert_state(call: TestCall, expected: str) -> None:
    """The call is in state ``expected``."""
    if call.state != expected:
        where = "has no current state" if call.state is None else f"is in {call.state}"
        raise DSMAssertionError(f"expected state {expected}, call {where} {_story(call)}")


def assert_var(call: TestCall, name: str, expected: object) -> None:
    """Variable ``$name`` (``$`` optional) has the value ``expected``.

    DSM variables are strings, so the comparison is as DSM makes it: a
    number or other value is compared as its text (``1`` as ``'1'``).
    """
    key = name[1:] if name.startswith("$") else name
    text = expected if isinstance(expected, str) else str(expected)
    if key not in call.vars:
        raise DSMAssertionError(f"expected ${key} == {text!r}, but ${key} is not set {_story(call)}")
    if call.vars[key] != text:
        raise DSMAssertionError(
            f"expected ${key} == {text!r}, but it is {call.vars[key]!r} {_story(call)}"
            " (DSM variables are strings; compared as text)"
        )


def assert_played(call: TestCall, expected: Sequence[str]) -> None:
    """The caller heard exactly these prompts (by name) or files (by path), in this order."""
    got = [p.name for p in call.played]
    if got != list(expected):
        raise DSMAssertionError(
            f"expected the caller to hear {', '.join(expected) or 'nothing'}; "
            f"they heard {', '.join(got) or 'nothing'} {_story(call)}"
        )


def assert_terminated(call: TestCall) -> None:
    """The script ended the call."""
    if not call.terminated:
        raise DSMAssertionError(f"expected the call to have ended; it is still in {call.state} {_story(call)}")


def assert_replied(call: TestCall, code: int, request: str = "INVITE") -> None:
    """The call answered ``request`` with ``code``."""
    codes = [r.code for r in call.sent_replies if r.request == request]
    if code not in codes:
        raise DSMAssertionError(
            f"expected a {code} reply to {request}; replies sent: "
            f"{', '.join(map(str, codes)) or 'none'} {_story(call)}"
        )
