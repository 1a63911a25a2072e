"""Fast positional constructors for the frozen, slotted chart classes.

A frozen dataclass's ``__init__`` assigns every field through
``object.__setattr__`` to get past its own write guard; on the compile path
(an ``Action`` or ``Condition`` per token) that guard costs more than the
rest of the work for the token.  (``Loc``, made as often, is a tuple and
needs no help: ``tuple.__new__(Loc, (path, line, column))``.)

For a slotted class the fields can be filled without the guard, which
produces an identical object (equality, hashing and ``repr`` only look at
the fields): preferably on a *twin* (a plain class with the same slots, so
plain attribute stores apply) that then takes the real class (same memory
layout, so ``__class__`` may be assigned), else through the slot descriptors.

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
    twin = _twin(cls, names)
    if twin is not None:
        namespace["_twin"] = twin
        body = "".join(f"    obj.{name} = {name}\n" for name in names)
        source = f"def make({params}):\n    obj = _new(_twin)\n{body}    obj.__class__ = _cls\n    return obj\n"
    else:
        body = "".join(f"    _set{i}(obj, {name})\n" for i, name in enumerate(names))
        source = f"def make({params}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, namespace)  # the generated text only uses the class's own field names
    make: Callable[..., T] = namespace["make"]
    make.__doc__ = f"Build a {cls.__name__} from its fields in declaration order."
    return make


def _twin(cls: type, names: list[str]) -> type | None:
    """A plain class with ``cls``'s slots, whose instances may become ``cls`` instances.

    Filling a plain slotted object attribute by attribute is the fastest way
    Python has to fill slots; assigning ``__class__`` afterwards is allowed
    because the memory layout is the same, and gives a genuine ``cls``
    instance.  ``None`` (use the slot setters instead) if the layouts differ
    or the probe object does not come out equal to a normally built one.
    """
    if tuple(getattr(cls, "__slots__", ())) != tuple(names) or cls.__bases__ != (object,):
        return None
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(names)})
    probe: Any = object.__new__(twin)
    for i, name in enumerate(names):
        setattr(probe, name, i)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    if type(probe) is not cls or probe != cls(*range(len(names))):
        return None
    return twin
