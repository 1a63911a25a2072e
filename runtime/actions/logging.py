"""Core logging actions (``engine.md`` 11.2, ``actions.md`` 11) and the DSM log levels.

DSM levels are the reference's numbers: 0 error, 1 warning, 2 info, 3 debug,
anything higher logs as debug (E-106).  :func:`python_level` maps them onto
the standard :mod:`logging` levels so that the session's log, the engine and
modules agree on one mapping.  Every action writes through ``ctx.log`` with
the level already clamped to 0…3; message texts follow E-107 … E-109 so that
log-based tests can match them.
"""

from __future__ import annotations

import logging

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext
from dsm.runtime.values import SELECT_NAMES, byte_key, parse_uint

__all__ = [
    "ERROR",
    "WARNING",
    "INFO",
    "DEBUG",
    "python_level",
    "dsm_level",
    "log",
    "logs",
    "dbg",
    "info",
    "warn",
    "error",
    "log_vars",
    "log_params",
    "log_selects",
    "log_all",
]

ERROR = 0
WARNING = 1
INFO = 2
DEBUG = 3

_TO_PYTHON: tuple[int, ...] = (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)


def python_level(level: int) -> int:
    """The :mod:`logging` level for a DSM level (E-106): above 3 is debug, below 0 error."""
    if level <= ERROR:
        return logging.ERROR
    if level >= DEBUG:
        return logging.DEBUG
    return _TO_PYTHON[level]


def dsm_level(level: int) -> int:
    """A DSM level clamped into 0…3 (E-106: higher numbers log as debug)."""
    return ERROR if level < ERROR else DEBUG if level > DEBUG else level


def _level(ctx: ActionContext, text: str) -> int | None:
    """``UINT(R(text))`` clamped, or ``None`` after logging the bad level (E-107, E-109)."""
    value = ctx.resolve(text)
    level = parse_uint(value)
    if level is None:
        ctx.log(ERROR, f"unknown log level '{value}'")
        return None
    return DEBUG if level > DEBUG else level


@core.action("log", style="P,mand")
def log(ctx: ActionContext, level: str = "", value: str = "", *_: str) -> None:
    """``log(p1, p2)`` (E-107, A-core-66): ``FSM: <raw> '<R(p2)>'``.

    ``<raw>`` is ``p2`` as written when it differs from its value (so
    ``log(2, $pin)`` shows ``FSM: $pin '12'``), else empty.
    """
    lvl = _level(ctx, level)
    if lvl is None:
        return
    resolved = ctx.resolve(value)
    raw = value if value != resolved else ""
    ctx.log(lvl, f"FSM: {raw} '{resolved}'")


@core.action("logs", style="P,mand")
def logs(ctx: ActionContext, level: str = "", text: str = "", *_: str) -> None:
    """``logs(p1, p2)`` (E-108, A-core-67): ``FSM: '<I(p2)>'`` at level ``UINT(R(p1))``."""
    lvl = _level(ctx, level)
    if lvl is None:
        return
    ctx.log(lvl, f"FSM: '{ctx.interpolate(text)}'")


@core.action("dbg", style="S")
def dbg(ctx: ActionContext, text: str = "", *_: str) -> None:
    """``dbg(a)`` (E-108, A-core-68): ``FSM: '<I(a)>'`` at debug level."""
    ctx.log(DEBUG, f"FSM: '{ctx.interpolate(text)}'")


@core.action("info", style="S")
def info(ctx: ActionContext, text: str = "", *_: str) -> None:
    """``info(a)`` (E-108, A-core-69): ``FSM: '<I(a)>'`` at info level."""
    ctx.log(INFO, f"FSM: '{ctx.interpolate(text)}'")


@core.action("warn", style="S")
def warn(ctx: ActionContext, text: str = "", *_: str) -> None:
    """``warn(a)`` (E-108, A-core-70): ``FSM: '<I(a)>'`` at warning level."""
    ctx.log(WARNING, f"FSM: '{ctx.interpolate(text)}'")


@core.action("error", style="S")
def error(ctx: ActionContext, text: str = "", *_: str) -> None:
    """``error(a)`` (E-108, A-core-71): ``FSM: '<I(a)>'`` at error level."""
    ctx.log(ERROR, f"FSM: '{ctx.interpolate(text)}'")


def _write_vars(ctx: ActionContext, lvl: int) -> None:
    vars = ctx.vars
    ctx.log(lvl, "FSM: variables set ---")
    for name in sorted(vars, key=byte_key):
        ctx.log(lvl, f"FSM:  ${name}='{vars[name]}'")
    ctx.log(lvl, "FSM: variables end ---")


def _write_params(ctx: ActionContext, lvl: int) -> None:
    params = ctx.params
    if params is None:
        ctx.log(lvl, "FSM: no event params ---")
        return
    ctx.log(lvl, "FSM: params set ---")
    for name in sorted(params, key=byte_key):
        ctx.log(lvl, f"FSM:  #{name}='{params[name]}'")
    ctx.log(lvl, "FSM: params end ---")


def _write_selects(ctx: ActionContext, lvl: int) -> None:
    ctx.log(lvl, "FSM: selects set ---")
    for name in SELECT_NAMES:
        ctx.log(lvl, f"FSM:  @{name}='{ctx.select(name)}'")
    ctx.log(lvl, "FSM: selects end ---")


@core.action("logVars", style="S")
def log_vars(ctx: ActionContext, level: str = "", *_: str) -> None:
    """``logVars(a)`` (E-109, A-core-72): every variable in byte order of the names."""
    lvl = _level(ctx, level)
    if lvl is not None:
        _write_vars(ctx, lvl)


@core.action("logParams", style="S")
def log_params(ctx: ActionContext, level: str = "", *_: str) -> None:
    """``logParams(a)`` (E-109, A-core-73): the active event parameters, or "no event params"."""
    lvl = _level(ctx, level)
    if lvl is not None:
        _write_params(ctx, lvl)


@core.action("logSelects", style="S")
def log_selects(ctx: ActionContext, level: str = "", *_: str) -> None:
    """``logSelects(a)`` (E-109, A-core-74): the nine selects of E-172 in their fixed order."""
    lvl = _level(ctx, level)
    if lvl is not None:
        _write_selects(ctx, lvl)


@core.action("logAll", style="S")
def log_all(ctx: ActionContext, level: str = "", *_: str) -> None:
    """``logAll(a)`` (E-109, A-core-75): ``logVars``, ``logParams``, ``logSelects``.

    Each part parses the level itself, so a bad level is reported three
    times, as in the reference.
    """
    log_vars(ctx, level)
    log_params(ctx, level)
    log_selects(ctx, level)
