"""The control token: made at start, kept in a file only the server's user can read.

``dsm serve`` always protects its control endpoint with a token, also on
loopback: any local process (and any web page, through the operator's
browser) could otherwise drive it.  The token is ``--control-token`` /
``$DSM_CONTROL_TOKEN`` when given, else 32 random bytes.  It is written to
a token file (mode 0600, in a folder of mode 0700 when this module creates
it) so that the ``dsm`` client commands of the same user find it without
the operator typing it:

* ``--control-token-file PATH`` or ``$DSM_CONTROL_TOKEN_FILE``, else
* ``<runtime dir>/control-<port>.token``, where the runtime dir is
  ``$DSM_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/dsm``, else ``~/.dsm``.

The file is named after the port only, so a client that says
``localhost:5040`` finds the token of a server bound to ``127.0.0.1:5040``.
The server removes the file when it stops (if it still holds its token).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = [
    "new_token",
    "runtime_dir",
    "token_path",
    "write_token",
    "read_token",
    "remove_token",
]


def new_token() -> str:
    """A fresh random token (URL-safe text, 256 bits)."""
    return secrets.token_urlsafe(32)


def runtime_dir() -> Path:
    """Where token files live by default (see the module docstring)."""
    explicit = os.environ.get("DSM_RUNTIME_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "dsm"
    return Path.home() / ".dsm"


def token_path(port: int, explicit: str | None = None) -> Path:
    """The token file of the server on ``port``: ``explicit``, ``$DSM_CONTROL_TOKEN_FILE`` or the default."""
    given = explicit or os.environ.get("DSM_CONTROL_TOKEN_FILE")
    if given:
        return Path(given)
    return runtime_dir() / f"control-{port}.token"


def write_token(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` readable by this user only (0600), atomically.

    Raises :class:`OSError` with the reason when the folder cannot be made
    or written: the server then refuses to start rather than run with a
    token nobody can find.
    """
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask or a file left behind said
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_token(path: Path) -> str | None:
    """The token in ``path``, or ``None`` when there is no readable token file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    token = text.strip()
    return token or None


def remove_token(path: Path, token: str) -> None:
    """Remove ``path`` if it still holds ``token`` (a newer server may have replaced it)."""
    if read_token(path) == token:
        with contextlib.suppress(OSError):
            path.unlink()
