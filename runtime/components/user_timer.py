"""``user_timer``: the reference's timer component, ``DI(user_timer, setTimer, …)``.

Functions (names and argument types as in the reference):

* ``setTimer(id:int, timeout:int|float, session_id:str)`` — (re)start timer
  ``id`` of the session with that address (usually ``@local_tag``);
* ``removeTimer(id:int, session_id:str)``;
* ``removeUserTimers(session_id:str)`` — every timer of that session.

They return nothing.  The timers are the session's own timers, the ones of
``setTimer``/``removeTimer`` (actions.md section 13): the reference keeps
both in one per-session queue, so a timer set one way is removed the other
way, and it fires as the ``timer`` event with ``#id``.  An address without a
session is ignored, as a posted event to nobody is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsm.runtime.engine import DIComponent

if TYPE_CHECKING:
    from dsm.runtime.engine import Engine

__all__ = ["UserTimer"]

FUNCTIONS = ("setTimer", "removeTimer", "removeUserTimers")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an int is needed")  # AmArg::asInt on anything else
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a string is needed")
    return value


def _arg(args: list[Any], i: int) -> Any:
    if i >= len(args):
        raise IndexError(i)
    return args[i]


class UserTimer(DIComponent):
    """Timers of any session, addressed by its id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def invoke(self, function: str, args: list[Any]) -> Any:
        if function == "setTimer":
            timer_id = _int(_arg(args, 0))
            timeout = _arg(args, 1)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float):
                raise TypeError("timeout must be int or double")
            session = self.engine.session(_str(_arg(args, 2)))
            if session is not None and not session.ended:
                session.set_timer(timer_id & 0xFFFFFFFF, timeout)
            return None
        if function == "removeTimer":
            timer_id = _int(_arg(args, 0))
            session = self.engine.session(_str(_arg(args, 1)))
            if session is not None:
                session.remove_timer(timer_id & 0xFFFFFFFF)
            return None
        if function == "removeUserTimers":
            session = self.engine.session(_str(_arg(args, 0)))
            if session is not None:
                session.remove_timers()
            return None
        if function == "_list":
            return list(FUNCTIONS)
        raise NotImplementedError(function)
