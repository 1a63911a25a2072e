"""The object store's ownership actions (``engine.md`` E-20, E-138; ``actions.md`` 15).

Besides string variables a session keeps opaque objects (database handles,
result sets, parsed documents …) in ``ctx.objects``.  Objects that can be
released implement :class:`Disposable`; the session *owns* some of them and
disposes of those when it ends.  Ownership is a list of objects compared by
identity (objects need not be hashable), kept on the session as
``owned_objects``; :func:`take_ownership` is what modules call when they hand
a new object to the session (``modules.md`` M-api-11), and
:func:`dispose_owned` is what the session calls at its end.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from dsm.runtime.actions.core import core
from dsm.runtime.context import ActionContext

__all__ = [
    "Disposable",
    "owned_objects",
    "take_ownership",
    "drop_ownership",
    "is_owned",
    "dispose_owned",
    "track_object",
    "release_object",
    "free_object",
]


@runtime_checkable
class Disposable(Protocol):
    """An object the session may own and dispose of (the reference's "DSMDisposable")."""

    def dispose(self) -> None:
        """Release the object's resources; called at most once by the session."""


def owned_objects(ctx: Any) -> list[Any]:
    """The session's list of owned objects, created on first use.

    The session is expected to offer an ``owned_objects`` list; a context
    without one gets it attached here.
    """
    owned: list[Any] | None = getattr(ctx, "owned_objects", None)
    if owned is None:
        owned = []
        ctx.owned_objects = owned
    return owned


def is_owned(ctx: Any, obj: object) -> bool:
    """Whether the session currently owns ``obj`` (identity, not equality)."""
    return any(o is obj for o in owned_objects(ctx))


def take_ownership(ctx: Any, obj: Disposable) -> None:
    """Make the session dispose of ``obj`` when it ends (owning twice is owning once)."""
    if not is_owned(ctx, obj):
        owned_objects(ctx).append(obj)


def drop_ownership(ctx: Any, obj: object) -> None:
    """The session no longer disposes of ``obj`` automatically."""
    owned = owned_objects(ctx)
    owned[:] = [o for o in owned if o is not obj]


def dispose_owned(ctx: Any) -> list[BaseException]:
    """Dispose of every owned object (session end) and return the errors raised.

    Every object is disposed of even if an earlier one fails; the caller
    logs the returned errors.  The ownership list is empty afterwards.
    """
    owned = owned_objects(ctx)
    pending = list(owned)
    owned.clear()
    errors: list[BaseException] = []
    for obj in pending:
        try:
            obj.dispose()
        except Exception as exc:  # one broken object must not keep others alive
            errors.append(exc)
    return errors


def _disposable(ctx: ActionContext, text: str) -> tuple[str, Disposable | None]:
    """Look up ``R(a)``; on failure set ``errno``/``strerror`` as E-138 says."""
    name = ctx.resolve(text)
    if name not in ctx.objects:
        ctx.set_error("arg", f"object '{name}' not found\n")
        return name, None
    obj = ctx.objects[name]
    if not isinstance(obj, Disposable):
        ctx.set_error("arg", f"object '{name}' is not a DSMDisposable\n")
        return name, None
    return name, obj


@core.action("trackObject", style="S")
def track_object(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``trackObject(a)`` (E-138, A-core-85): the session disposes of object ``R(a)`` at its end.

    Errors set ``errno = arg``; success leaves ``errno`` alone.
    """
    obj = _disposable(ctx, name)[1]
    if obj is not None:
        take_ownership(ctx, obj)


@core.action("releaseObject", style="S")
def release_object(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``releaseObject(a)`` (E-138, A-core-86): the session no longer disposes of ``R(a)``."""
    obj = _disposable(ctx, name)[1]
    if obj is not None:
        drop_ownership(ctx, obj)


@core.action("freeObject", style="S")
def free_object(ctx: ActionContext, name: str = "", *_: str) -> None:
    """``freeObject(a)`` (E-138, A-core-87): dispose of ``R(a)`` now and remove the entry.

    The reference disposes of a tracked object a second time at session end
    (REFERENCE QUIRK, use-after-free); as ``actions.md`` A-core-87 requires,
    ownership is dropped here so that cannot happen.
    """
    key, obj = _disposable(ctx, name)
    if obj is None:
        return
    del ctx.objects[key]
    drop_ownership(ctx, obj)
    obj.dispose()
