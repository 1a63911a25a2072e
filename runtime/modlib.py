"""The module library: where a runtime finds the modules its charts import (M-api-1).

The composition root (:func:`dsm.runtime.compose.build_engine`, ``dsm
serve``) builds it from the configuration's ``mod_path`` and hands it to the
engine; :meth:`Engine.load` binds charts through it and never searches
itself.  Lookup order and caching are those of
:func:`dsm.vocabulary.find_module`: ``<dir>/<name>.py`` on the path, the
``dsm.modules`` entry points, then ``dsm.modules.<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsm.vocabulary import Vocabulary, find_module

__all__ = ["ModuleLibrary"]


class ModuleLibrary:
    """Finds modules by import name on ``path`` and among the installed ones."""

    __slots__ = ("path",)

    def __init__(self, path: Sequence[str] = ()) -> None:
        self.path: tuple[str, ...] = tuple(path)

    def find(self, name: str) -> Vocabulary:
        """The module ``name``; raises :class:`dsm.vocabulary.ModuleNotFound` with a reason."""
        return find_module(name, self.path)

    def at(self, path: Sequence[str]) -> ModuleLibrary:
        """The same library searching ``path`` instead (a reload read a new ``mod_path``)."""
        path = tuple(path)
        return self if path == self.path else ModuleLibrary(path)

    def __repr__(self) -> str:
        return f"ModuleLibrary({list(self.path)!r})"
