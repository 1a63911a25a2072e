"""Prompts and prompt sets (``config.md`` CF-8, K-10 … K-13; ``actions.md`` A-core-21 … 24).

Prompts are named audio files loaded into memory once and shared by all
calls.  :class:`PromptLibrary` holds the *default collection* (``load_prompts``)
and the named *prompt sets* (``load_prompts_sets``); a call keeps a
:class:`PromptSelection` that knows its current set.  The engine reads the
``prompts.default_fallback`` variable (with its REFERENCE QUIRK of creating
it) and passes the result in; a missing prompt or set raises
:class:`PromptNotFound` / :class:`PromptSetNotFound` carrying the name, which
the engine turns into ``{type: prompt, name: <name>}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from dsm.runtime.media.audio import AudioFileError, Samples, load_audio
from dsm.runtime.media.items import PromptItem

__all__ = [
    "PromptCollection",
    "PromptConfigError",
    "PromptLibrary",
    "PromptNotFound",
    "PromptSelection",
    "PromptSetNotFound",
    "parse_prompt_list",
    "split_list",
]

log = logging.getLogger("dsm.runtime.media.prompts")

Loader: TypeAlias = Callable[[str], Samples]


class PromptNotFound(LookupError):
    """A prompt name is not defined (A-core-21: ``{type: prompt, name}``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"prompt '{name}' not found")


class PromptSetNotFound(LookupError):
    """A prompt set name is not defined (A-core-24: ``{type: prompt, name}``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"prompt set '{name}' not found")


class PromptConfigError(Exception):
    """The prompt configuration cannot be used (K-11: a required prompt is missing)."""


def split_list(value: str) -> list[str]:
    """A list-valued key (CF-5): split at ``,``, empty items dropped, no trimming."""
    return [item for item in value.split(",") if item]


def parse_prompt_list(text: str) -> list[tuple[str, str]]:
    """The ``name=path`` pairs of a prompt list file (CF-8), verbatim.

    Lines whose first visible character is ``#`` and blank lines are
    skipped; other lines are split at ``=`` with empty pieces dropped and
    used only when exactly two pieces remain.  Nothing is trimmed:
    ``hello = a.wav`` defines ``hello `` with path `` a.wav``.
    """
    pairs: list[tuple[str, str]] = []
    for raw in text.splitlines():
        visible = raw.strip()
        if not visible or visible.startswith("#"):
            continue
        pieces = [piece for piece in raw.split("=") if piece]
        if len(pieces) == 2:
            pairs.append((pieces[0], pieces[1]))
    return pairs


@dataclass
class PromptCollection:
    """Prompt name -> audio; names are exact and case-sensitive (A-core-21)."""

    prompts: dict[str, Samples] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.prompts

    def __len__(self) -> int:
        return len(self.prompts)

    def get(self, name: str) -> Samples | None:
        return self.prompts.get(name)

    def add(self, name: str, samples: Samples) -> None:
        """Define ``name``; a later definition replaces an earlier one (K-10)."""
        self.prompts[name] = samples

    def load_list_text(self, text: str, loader: Loader = load_audio) -> list[str]:
        """Load every pair of a prompt list; the errors, one message per failed prompt.

        A prompt whose file cannot be loaded is logged and left undefined
        (CF-8); the others are still loaded.
        """
        errors: list[str] = []
        for name, path in parse_prompt_list(text):
            try:
                self.add(name, loader(path))
            except AudioFileError as exc:
                message = f"prompt '{name}': cannot load audio file '{path}': {exc.reason}"
                log.error(message)
                errors.append(message)
        return errors

    def load_list_file(self, path: str, loader: Loader = load_audio) -> list[str]:
        """Read a prompt list file (CF-8); raises ``OSError`` if it cannot be read."""
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        return self.load_list_text(text, loader)


class PromptLibrary:
    """The shared default collection and prompt-set table of the server."""

    def __init__(self, loader: Loader = load_audio) -> None:
        self.loader = loader
        self.default = PromptCollection()
        self.sets: dict[str, PromptCollection] = {}
        self.messages: list[str] = []
        """Errors and warnings logged while loading, in order."""

    def configure(self, config: Mapping[str, str]) -> None:
        """Load the prompt keys of one configuration (CF-9 step 3, CF-10 step 3).

        ``load_prompts`` files go into the default collection (K-10); every
        ``required_prompts`` name must then be defined there, else
        :class:`PromptConfigError` (K-11); every ``load_prompts_sets`` item
        ``S`` is read from ``<prompts_sets_path>/S`` -- no suffix added,
        REFERENCE QUIRK of K-12 -- into the set ``S``, replacing an earlier
        set of that name; an unreadable set file is logged and gives an
        empty set (K-13).  An unreadable ``load_prompts`` file is an error
        of the configuration.
        """
        for list_file in split_list(config.get("load_prompts", "")):
            try:
                self.messages += self.default.load_list_file(list_file, self.loader)
            except OSError as exc:
                raise PromptConfigError(f"cannot read prompt list '{list_file}': {exc}") from exc
        for name in split_list(config.get("required_prompts", "")):
            if name not in self.default:
                message = f"required prompt '{name}' is not defined"
                log.error(message)
                raise PromptConfigError(message)
        base = config.get("prompts_sets_path", "")
        for set_name in split_list(config.get("load_prompts_sets", "")):
            path = f"{base}/{set_name}" if base else set_name
            collection = PromptCollection()
            try:
                self.messages += collection.load_list_file(path, self.loader)
            except OSError as exc:
                message = f"prompt set '{set_name}': cannot read '{path}': {exc}"
                log.warning(message)
                self.messages.append(message)
            self.sets[set_name] = collection

    def selection(self) -> PromptSelection:
        """A new call's view: the default collection is its current set."""
        return PromptSelection(self)


class PromptSelection:
    """One call's current prompt set (A-core-21 … A-core-24)."""

    def __init__(self, library: PromptLibrary) -> None:
        self.library = library
        self.current: PromptCollection = library.default
        self.current_name: str | None = None
        """Name of the current set; ``None`` for the default collection."""

    def select(self, set_name: str) -> None:
        """``setPrompts``: make the named set current, or :class:`PromptSetNotFound`.

        The default collection is not a named set, so there is no name to
        switch back to it (A-core-24).
        """
        collection = self.library.sets.get(set_name)
        if collection is None:
            raise PromptSetNotFound(set_name)
        self.current = collection
        self.current_name = set_name

    def lookup(self, name: str, default_fallback: bool = False) -> Samples:
        """The audio of prompt ``name`` in the current set.

        With ``default_fallback`` (the variable ``prompts.default_fallback``
        is exactly ``yes``) the default collection is tried when the current
        set lacks the name.  Raises :class:`PromptNotFound`.
        """
        samples = self.current.get(name)
        if samples is None and default_fallback:
            samples = self.library.default.get(name)
        if samples is None:
            raise PromptNotFound(name)
        return samples

    def item(self, name: str, loop: bool = False, default_fallback: bool = False) -> PromptItem:
        """A playlist item for prompt ``name`` (``playPrompt``/``…Front``/``…Looped``)."""
        return PromptItem(name, self.lookup(name, default_fallback), loop)


def configured_prompt_names(conf_path: str) -> set[str]:
    """Every prompt name a ``dsm.conf`` provides through ``load_prompts`` and its prompt sets.

    Used by ``dsm check --config`` to flag ``playPrompt`` names nobody
    provides (W017); list files that cannot be read simply provide nothing.
    The audio files themselves are not opened.
    """
    from dsm.runtime.config import read_conf

    conf = read_conf(conf_path)
    names: set[str] = set()
    lists = list(conf.items("load_prompts"))
    base = conf.get("prompts_sets_path")
    lists += [f"{base}/{s}" if base else s for s in conf.items("load_prompts_sets")]
    for list_file in lists:
        try:
            text = Path(list_file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        names.update(name for name, _ in parse_prompt_list(text))
    return names
