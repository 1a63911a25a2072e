"""The SBC's profiles at run time: the loaded :class:`SbcConfig`, replaced whole on a (re)load.

A call takes its profile's :meth:`CallProfile.for_call` copy when its INVITE
arrives, so a reload or ``load profile`` reaches the next call only; calls
in progress keep their copy.  A load that fails (a missing or broken file)
raises :class:`SbcConfigError` and leaves the working configuration as it
was -- the store swaps in a new :class:`SbcConfig` only once it is complete.

Loading is :func:`dsm.runtime.sbc.profile.load_config`'s work.  Until that
function exists (it raises ``NotImplementedError`` in the contract's
stand-in), :func:`read_literal_config` reads ``sbc.conf`` and its profiles
with literal values only, so the relay can be run and tested on its own.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path
from typing import Any

from dsm.runtime.sbc.profile import CallProfile, SbcConfig, SbcConfigError, load_config

__all__ = ["ProfileStore", "read_literal_config", "read_literal_profile"]

_KEY_FIELDS = {"RURI": "ruri", "From": "from_", "To": "to", "Contact": "contact", "Call-ID": "call_id"}


def _conf_lines(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SbcConfigError(f"{path}: {exc}") from None
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not eq or not key.strip():
            raise SbcConfigError(f"{path}:{number}: not a key=value line: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[key.strip()] = value
    return out


def read_literal_profile(name: str, path: str) -> CallProfile:
    """One ``*.sbcprofile.conf`` with its values taken literally (no patterns evaluated here)."""
    raw = _conf_lines(Path(path))
    profile = CallProfile(name=name, path=path, raw=dict(raw))
    kinds = {f.name: f.type for f in fields(CallProfile)}
    for key, value in raw.items():
        attr = _KEY_FIELDS.get(key, key)
        if attr not in kinds or attr in ("name", "path", "raw"):
            continue
        kind = str(kinds[attr])
        parsed: Any = value
        if kind == "bool":
            parsed = value.lower() in ("yes", "true", "1", "on")
        elif kind == "int":
            try:
                parsed = int(value)
            except ValueError:
                raise SbcConfigError(f"{path}: {key}={value!r} is not a number") from None
        elif kind.startswith("tuple"):
            parsed = tuple(v.strip() for v in value.split(",") if v.strip())
        elif kind.startswith("dict"):
            continue  # reply_translations: the profiles loader's work
        setattr(profile, attr, parsed)
    return profile


def read_literal_config(path: str) -> SbcConfig:
    """``sbc.conf`` (``load_profiles``, ``profiles_path``, ``active_profile``) and its profiles."""
    conf = Path(path)
    raw = _conf_lines(conf)
    folder = Path(raw.get("profiles_path", "") or conf.parent)
    if not folder.is_absolute():
        folder = conf.parent / folder
    profiles: dict[str, CallProfile] = {}
    for name in (n.strip() for n in raw.get("load_profiles", "").split(",")):
        if name:
            profiles[name] = read_literal_profile(name, str(folder / f"{name}.sbcprofile.conf"))
    active = tuple(a.strip() for a in raw.get("active_profile", "transparent").split(","))
    return SbcConfig(path=path, profiles=profiles, active_profile=active, raw=raw)


def _load(path: str) -> SbcConfig:
    try:
        return load_config(path)
    except NotImplementedError:
        return read_literal_config(path)


class ProfileStore:
    """The working :class:`SbcConfig`; reloads replace it only when they succeed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.config = _load(path)
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
        self.config = _load(self.path)
        self.reloads += 1

    def set_active_profile(self, value: str) -> None:
        active = tuple(a.strip() for a in value.split(","))
        if not any(active):
            raise SbcConfigError("active_profile must name at least one profile")
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
        """One profile file through the full loader (a one-profile ``sbc.conf`` beside it)."""
        if not Path(path).is_file():
            raise SbcConfigError(f"{path}: no such profile file")
        try:
            return _load_one(name, path)
        except NotImplementedError:
            return read_literal_profile(name, path)


def _load_one(name: str, path: str) -> CallProfile:
    """The profile ``name`` in ``path`` as :func:`load_config` reads it, through a temporary ``sbc.conf``."""
    import tempfile

    file = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="dsm-sbc-") as folder:
        target = Path(folder) / f"{name}.sbcprofile.conf"
        target.symlink_to(file)
        conf = Path(folder) / "sbc.conf"
        conf.write_text(f"profiles_path={folder}\nload_profiles={name}\nactive_profile={name}\n")
        loaded = load_config(str(conf))
    profile = loaded.profiles[name]
    profile.path = str(path)
    return profile
