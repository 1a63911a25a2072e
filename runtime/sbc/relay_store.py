"""The SBC's profiles at run time: the loaded :class:`SbcConfig`, replaced whole on a (re)load.

A call takes its profile's :meth:`CallProfile.for_call` copy when its INVITE
arrives, so a reload or ``load profile`` reaches the next call only; calls
in progress keep their copy.  A load that fails (a missing or broken file)
raises :class:`SbcConfigError` and leaves the working configuration as it
was -- the store swaps in a new :class:`SbcConfig` only once it is complete.

Loading is :func:`dsm.runtime.sbc.conf.load_config`'s and
:func:`~dsm.runtime.sbc.conf.load_profile`'s work; the store only decides
when the result replaces what runs.
"""

from __future__ import annotations

import copy
from pathlib import Path

from dsm.runtime.sbc.conf import load_config, load_profile
from dsm.runtime.sbc.profile import CallProfile, SbcConfigError, parse_active_profile

__all__ = ["ProfileStore"]


class ProfileStore:
    """The working :class:`SbcConfig`; reloads replace it only when they succeed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.config = load_config(path)
        self.reloads = 0

    def profile_for_call(self, name: str) -> CallProfile | None:
        """The call's own copy of profile ``name`` (``None``: no such profile)."""
        profile = self.config.profiles.get(name)
        return profile.for_call() if profile is not None else None

    def names(self) -> list[dict[str, str]]:
        return [{"name": p.name, "path": p.path} for p in self.config.profiles.values()]

    def reload_profile(self, name: str) -> None:
        """Read profile ``name`` again from its file (``reload profile``)."""
        current = self.config.profiles.get(name)
        if current is None:
            raise SbcConfigError(f"no profile {name!r} loaded")
        self.load_profile(name, current.path)

    def load_profile(self, name: str, path: str) -> None:
        """Load (or replace) profile ``name`` from ``path`` (``load profile``)."""
        if not name:
            raise SbcConfigError("a profile needs a name")
        profile = self._read_profile(name, path)
        config = copy.copy(self.config)
        config.profiles = {**self.config.profiles, name: profile}
        self.config = config
        self.reloads += 1

    def reload_all(self) -> None:
        """``sbc.conf`` and every profile again."""
        self.config = load_config(self.path)
        self.reloads += 1

    def set_active_profile(self, value: str) -> None:
        active = parse_active_profile(value, self.config)
        config = copy.copy(self.config)
        config.active_profile = active
        self.config = config

    def profile_folders(self) -> list[str]:
        """Where ``load profile`` may read from: ``sbc.conf``'s folder, ``profiles_path``, the loaded profiles' folders."""
        conf = Path(self.path).resolve().parent
        folders = {str(conf)}
        extra = self.config.raw.get("profiles_path", "")
        if extra:
            folders.add(str((conf / extra).resolve()))
        for profile in self.config.profiles.values():
            if profile.path:
                folders.add(str(Path(profile.path).resolve().parent))
        return sorted(folders)

    def path_allowed(self, path: str) -> bool:
        """A ``*.sbcprofile.conf`` in one of :meth:`profile_folders` (resolved: no way out by ``..`` or links)."""
        resolved = Path(path).resolve()
        if not resolved.name.endswith(".sbcprofile.conf"):
            return False
        return any(resolved.is_relative_to(folder) for folder in self.profile_folders())

    def _read_profile(self, name: str, path: str) -> CallProfile:
        """One profile file, with ``sbc.conf``'s defaults (session timers)."""
        if not Path(path).is_file():
            raise SbcConfigError(f"{path}: no such profile file")
        profile = load_profile(name, path, self.config)
        profile.path = str(path)
        return profile
