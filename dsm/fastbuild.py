"""Fast positional constructors for the frozen, slotted chart classes.

A frozen dataclass's ``__init__`` assigns every field through
``object.__setattr__`` to get past its own write guard; on the compile path
(a ``Loc`` and an ``Action`` or ``Condition`` per token) that guard costs
more than the rest of the work for the token.  For a slotted class the slot
descriptors can fill the fields directly, which produces an identical object
(equality, hashing and ``repr`` only look at the fields).

:func:`constructor` generates such a function from the class's own field
list, so it follows any change to :mod:`dsm.chart`.  Classes it cannot handle
safely (not slotted, fields with defaults, ``__post_init__``) get their normal
constructor back, so callers may use the result unconditionally with the
fields in declaration order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["constructor"]

T = TypeVar("T")


def constructor(cls: type[T]) -> Callable[..., T]:
    """A function ``make(field1, field2, …)`` equivalent to ``cls(field1, field2, …)``."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return cls
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    if any(
        not f.init
        or f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
        for f in fields
    ):
        return cls
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for i, name in enumerate(names):
        descriptor = cls.__dict__.get(name)
        setter = getattr(descriptor, "__set__", None)
        if setter is None or not name.isidentifier():
            return cls  # not a slot: keep the regular constructor
        namespace[f"_set{i}"] = setter
    params = ", ".join(names)
    body = "".join(f"    _set{i}(obj, {name})\n" for i, name in enumerate(names))
    source = f"def make({params}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, namespace)  # the generated text only uses the class's own field names
    make: Callable[..., T] = namespace["make"]
    make.__doc__ = f"Build a {cls.__name__} from its fields in declaration order."
    return make
