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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from dsm.diagnostics import Diagnostic, Severity
from dsm.runtime.media.audio import AudioFileError, Samples, audio_problem, load_audio
from dsm.runtime.media.items import PromptItem

__all__ = [
    "ConfiguredPrompts",
    "PromptCollection",
    "PromptConfigError",
    "PromptLibrary",
    "PromptNotFound",
    "PromptSelection",
    "PromptSetNotFound",
    "parse_prompt_list",
    "prompt_file_problems",
    "split_list",
]

Loader: TypeAlias = Callable[[str], Samples]


class PromptNotFound(LookupError):
    """A prompt name is not defined (A-core-21: ``{type: prompt, name}``).

    ``detail`` says why when the configuration named the prompt but its
    audio file could not be loaded (the file and the reason), else ``""``.
    """

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        self.detail = detail
        super().__init__(f"prompt '{name}' not found" + (f" ({detail})" if detail else ""))


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
    files: dict[str, str] = field(default_factory=dict)
    """Prompt name -> the audio file it was loaded from."""
    failed: dict[str, str] = field(default_factory=dict)
    """Prompt name -> ``"audio file 'x.wav': reason"`` for prompts whose file did not load."""

    def __contains__(self, name: object) -> bool:
        return name in self.prompts

    def __len__(self) -> int:
        return len(self.prompts)

    def get(self, name: str) -> Samples | None:
        return self.prompts.get(name)

    def add(self, name: str, samples: Samples, file: str = "") -> None:
        """Define ``name``; a later definition replaces an earlier one (K-10)."""
        self.prompts[name] = samples
        self.files[name] = file
        self.failed.pop(name, None)

    def load_list_text(self, text: str, loader: Loader = load_audio) -> list[str]:
        """Load every pair of a prompt list; the errors, one message per failed prompt.

        A prompt whose file cannot be loaded is left undefined and described
        in the returned messages, for the caller to log (CF-8); the others
        are still loaded.
        """
        errors: list[str] = []
        for name, path in parse_prompt_list(text):
            try:
                self.add(name, loader(path), path)
            except AudioFileError as exc:
                message = f"prompt '{name}': cannot load audio file '{path}': {exc.reason}"
                errors.append(message)
                self.failed[name] = f"audio file '{path}': {exc.reason}"
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
                raise PromptConfigError(f"required prompt '{name}' is not defined")
        base = config.get("prompts_sets_path", "")
        for set_name in split_list(config.get("load_prompts_sets", "")):
            path = f"{base}/{set_name}" if base else set_name
            collection = PromptCollection()
            try:
                self.messages += collection.load_list_file(path, self.loader)
            except OSError as exc:
                self.messages.append(f"prompt set '{set_name}': cannot read '{path}': {exc}")
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
            detail = self.current.failed.get(name, "")
            if not detail and default_fallback:
                detail = self.library.default.failed.get(name, "")
            raise PromptNotFound(name, detail)
        return samples

    def item(self, name: str, loop: bool = False, default_fallback: bool = False) -> PromptItem:
        """A playlist item for prompt ``name`` (``playPrompt``/``…Front``/``…Looped``)."""
        samples = self.lookup(name, default_fallback)
        file = self.current.files.get(name) if name in self.current else self.library.default.files.get(name)
        return PromptItem(name, samples, loop, file or "")


def prompt_file_problems(config: Mapping[str, str]) -> list[str]:
    """What :meth:`PromptLibrary.configure` would complain about, from file headers only.

    For re-checking prompt files after a reload without decoding them: an
    unreadable ``load_prompts`` or prompt-set list, or an audio file that is
    missing or not audio, one message each.
    """
    problems: list[str] = []
    lists = [(f, "prompt list") for f in split_list(config.get("load_prompts", ""))]
    base = config.get("prompts_sets_path", "")
    lists += [
        (f"{base}/{name}" if base else name, f"prompt set '{name}'")
        for name in split_list(config.get("load_prompts_sets", ""))
    ]
    for list_file, what in lists:
        try:
            text = Path(list_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            problems.append(f"{what}: cannot read '{list_file}': {exc.strerror or exc}")
            continue
        for name, path in parse_prompt_list(text):
            why = audio_problem(path)
            if why is not None:
                problems.append(f"prompt '{name}': cannot load audio file '{path}': {why}")
    return problems


class ConfiguredPrompts(set[str]):
    """Prompt names a configuration provides, with ``diagnostics`` about the configuration.

    A ``set`` so that ``dsm check --config`` (entry point ``dsm.prompts``)
    can use it as the known names; ``diagnostics`` lists what ``dsm serve``
    would refuse or could not load, located in the files that say so.
    """

    def __init__(self) -> None:
        super().__init__()
        self.diagnostics: list[Diagnostic] = []


def configured_prompt_names(conf_path: str) -> ConfiguredPrompts:
    """Every prompt name a ``dsm.conf`` provides, and what is wrong with its prompts.

    The configuration is read as ``dsm serve`` reads it: a configuration it
    would reject gives the same errors here.  Then every prompt list is read
    and every audio file in it decoded: a missing ``load_prompts`` list, a
    missing or undecodable audio file and an undefined ``required_prompts``
    name are errors; an unreadable prompt-set file is a warning (K-13: the
    set is then empty).  Scripts are reported by ``dsm check`` itself.
    """
    from dsm.runtime.config import ConfigError, load_config, read_conf

    out = ConfiguredPrompts()
    try:
        cfg = load_config(conf_path)
        confs = [b.conf for b in [cfg.main, *cfg.bundles.values()]]
    except ConfigError as exc:
        out.diagnostics += [d for d in exc.diagnostics if not d.path.endswith(".dsm")]
        if out.diagnostics:
            return out
        confs = [read_conf(conf_path)]  # only scripts failed: dsm check reports those
    for conf in confs:
        line = conf.lines.get
        defined: set[str] = set()
        for list_file in conf.items("load_prompts"):
            defined |= _check_list(out, list_file, conf.path, line("load_prompts", 1), "error")
        for name in conf.items("required_prompts"):
            if name not in defined:
                out.diagnostics.append(Diagnostic(
                    conf.path, line("required_prompts", 1), 1, "error", "K-11",
                    f"required prompt '{name}' is not defined by any load_prompts file",
                ))  # fmt: skip
        base = conf.get("prompts_sets_path")
        for set_name in conf.items("load_prompts_sets"):
            path = f"{base}/{set_name}" if base else set_name
            _check_list(out, path, conf.path, line("load_prompts_sets", 1), "warning")
        out |= defined
    return out


def _check_list(
    out: ConfiguredPrompts, list_file: str, conf_path: str, conf_line: int, severity: Severity
) -> set[str]:
    """The names one prompt list defines; a diagnostic for each audio file that does not load."""
    try:
        text = Path(list_file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        out.diagnostics.append(Diagnostic(
            conf_path, conf_line, 1, severity, "CF-8",
            f"cannot read prompt list '{list_file}': {exc.strerror or exc}",
        ))  # fmt: skip
        return set()
    names: set[str] = set()
    lines = text.splitlines()
    for name, path in parse_prompt_list(text):
        number = next((n for n, raw in enumerate(lines, 1) if raw.startswith(name) and path in raw), 1)
        try:
            load_audio(path)
        except AudioFileError as exc:  # reported here, so not once more as an unknown name
            out.diagnostics.append(Diagnostic(
                list_file, number, 1, "error", "CF-8",
                f"prompt '{name}': audio file '{path}': {exc.reason}",
            ))  # fmt: skip
        out.add(name)
        names.add(name)
    return names
