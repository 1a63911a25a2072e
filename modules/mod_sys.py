"""mod_sys — files, shell commands and time stamps (``modules.md`` section 14).

Everything here is a thin layer over the operating system (``os``,
``subprocess``, ``time``).  The error words follow M-api-12: file-system
failures set ``$errno`` to ``file``, argument problems to ``arg``; only
``sys.popen`` raises DSM exceptions (``popen`` / ``pclose``).

Reference quirks reproduced (see each function):

* ``sys.mkdirRecursive`` fails for a relative path without any ``/``
  (M-sys-2).
* ``sys.rename`` never falls back to copy-and-delete across file systems
  (M-sys-3).
* ``sys.popen`` resolves its command with plain ``R``, not interpolation
  (M-sys-7); the status is the raw wait status (exit code x 256).
* ``sys.subTimestamp`` prints ``msec`` as an unsigned 64-bit number, so a
  negative difference is a huge number (M-sys-9).
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import time

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module
from dsm.runtime.values import parse_uint, strip_dollar

__all__ = ["module"]

module = Module("mod_sys", doc="files, shell commands, time stamps (modules.md section 14)")

_LOG_ERROR = 0
_LOG_DEBUG = 3


_ATOL = re.compile(r"[ \t\n\r\f\v]*([+-]?[0-9]+)")


def _atol(text: str) -> int:
    """C ``atol``: the leading integer of the text, ``0`` for garbage."""
    m = _ATOL.match(text)
    return int(m.group(1)) if m else 0


def _wall_clock() -> float:
    """Wall-clock seconds since the epoch; M-sys-8 is defined on wall-clock time.

    A separate function so that tests can replace it.
    """
    return time.time()


# -- files -------------------------------------------------------------------


@module.action("sys.mkdir", "S")
def mkdir(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sys-1: one directory, mode 0775 (umask applies)."""
    path = ctx.resolve(a)
    try:
        os.mkdir(path, 0o775)
    except (OSError, ValueError) as exc:
        ctx.log(_LOG_DEBUG, f"sys.mkdir({path}): {exc}")
        ctx.set_error("file")
        return
    ctx.clear_error()


@module.action("sys.mkdirRecursive", "S")
def mkdir_recursive(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sys-2: create missing parents first.

    REFERENCE QUIRK: a path that does not exist and contains no ``/`` at all
    (``newdir``) fails with ``errno = file``; an existing (readable) path
    succeeds at once.
    """
    path = ctx.resolve(a)
    if _readable(path):
        ctx.clear_error()
        return
    if "/" not in path:
        ctx.set_error("file")
        return
    try:
        os.makedirs(path, 0o775, exist_ok=True)
    except (OSError, ValueError) as exc:
        ctx.log(_LOG_DEBUG, f"sys.mkdirRecursive({path}): {exc}")
        ctx.set_error("file")
        return
    ctx.clear_error()


@module.action("sys.rename", "P,opt")
def rename(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sys-3: rename a file.

    REFERENCE QUIRK: no copy-and-delete fallback, so a move across file
    systems fails with ``errno = file``.
    """
    src, dst = ctx.resolve(p1), ctx.resolve(p2)
    try:
        os.rename(src, dst)
    except (OSError, ValueError) as exc:
        ctx.log(_LOG_DEBUG, f"sys.rename({src}, {dst}): {exc}")
        ctx.set_error("file")
        return
    ctx.clear_error()


@module.action("sys.unlink", "S")
def unlink(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sys-4: remove a file; an empty name does nothing at all (errno untouched)."""
    path = ctx.resolve(a)
    if not path:
        return
    try:
        os.unlink(path)
    except (OSError, ValueError) as exc:
        ctx.log(_LOG_DEBUG, f"sys.unlink({path}): {exc}")
        ctx.set_error("file")
        return
    ctx.clear_error()


@module.action("sys.unlinkArray", "P,opt")
def unlink_array(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sys-5: unlink ``<dir>/<$array_i>`` for ``i < $array_size``.

    The array uses underscore naming (``files_size``, ``files_0`` …).  A
    failure sets ``errno = file`` and the loop goes on.
    """
    array = ctx.resolve(p1)
    if not array:
        return
    directory = ctx.resolve(p2)
    count = parse_uint(ctx.vars.get(f"{array}_size", ""))
    if count is None:
        ctx.set_error("arg")
        return
    ctx.clear_error()
    for i in range(count):
        path = f"{directory}/{ctx.vars.get(f'{array}_{i}', '')}"
        try:
            os.unlink(path)
        except (OSError, ValueError) as exc:
            ctx.log(_LOG_DEBUG, f"sys.unlinkArray: {path}: {exc}")
            ctx.set_error("file")


_TMP_ALPHABET = string.ascii_letters + string.digits
_tmp_random = random.Random()


@module.action("sys.tmpnam", "S")
def tmpnam(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sys-6: create a new empty file ``/tmp/sems_XXXXXX`` and store its path.

    The variable name is ``R(a)``, so it is written without ``$``.
    """
    var = ctx.resolve(a)
    for _attempt in range(100):
        suffix = "".join(_tmp_random.choice(_TMP_ALPHABET) for _pos in range(6))
        path = f"/tmp/sems_{suffix}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            ctx.log(_LOG_ERROR, f"sys.tmpnam: {exc}")
            break
        os.close(fd)
        ctx.vars[var] = path
        ctx.clear_error()
        return
    ctx.set_error("file")


# -- shell -------------------------------------------------------------------


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@module.action("sys.popen", "P=mand", blocking=True)
def popen(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sys-7: run ``R(p2)`` through ``/bin/sh`` and store its output.

    REFERENCE QUIRK: the command is resolved with ``R``, not interpolated —
    ``$dir`` inside the text is left to the shell.  ``$var.status`` is the
    raw wait status (exit code x 256, or the signal number).  errno is left
    alone; a start failure raises ``{type: popen, cause: …}``.  The
    reference's ``pclose`` failure (``{type: pclose}``) cannot happen here:
    the command is always waited for.  Standard input is ``/dev/null``.
    """
    var = strip_dollar(p1)
    command = ctx.resolve(p2)
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            check=False,
        )
    except (OSError, ValueError) as exc:
        ctx.raise_dsm("popen", cause=str(exc))
    code = proc.returncode
    status = code * 256 if code >= 0 else -code
    ctx.vars[var] = _decode(proc.stdout)
    ctx.vars[f"{var}.status"] = str(status)


@module.condition("sys.system", "raw", blocking=True)
def system(ctx: ActionContext, raw: str = "", *_: str) -> bool:
    """M-sys-12: true iff the shell command ``R(raw)`` exits with status 0.

    Exit 1 is a quiet false; any other status, a signal, an empty command
    or a start failure is false with an error log.
    """
    command = ctx.resolve(raw)
    if not command:
        ctx.log(_LOG_ERROR, "sys.system: empty command")
        return False
    try:
        proc = subprocess.run(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, check=False)
    except (OSError, ValueError) as exc:
        ctx.log(_LOG_ERROR, f"sys.system({command}): {exc}")
        return False
    if proc.returncode == 0:
        return True
    if proc.returncode != 1:
        ctx.log(_LOG_ERROR, f"sys.system({command}): status {proc.returncode}")
    return False


# -- file tests --------------------------------------------------------------


def _readable(path: str) -> bool:
    """True if the path can be opened for reading; directories count, as with ``fopen`` on Linux."""
    if not path:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return False
    os.close(fd)
    return True


@module.condition("sys.file_exists", "raw")
def file_exists(ctx: ActionContext, raw: str = "", *_: str) -> bool:
    """M-sys-10: the raw (untrimmed) argument resolved with ``R`` names a readable file."""
    return _readable(ctx.resolve(raw))


@module.condition("sys.file_not_exists", "raw")
def file_not_exists(ctx: ActionContext, raw: str = "", *_: str) -> bool:
    """M-sys-11: the negation of ``sys.file_exists``."""
    return not _readable(ctx.resolve(raw))


# -- time stamps -------------------------------------------------------------


@module.action("sys.getTimestamp", "S")
def get_timestamp(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-sys-8: ``<prefix>.tv_sec`` / ``<prefix>.tv_usec`` = wall-clock time now."""
    prefix = ctx.resolve(a)
    usec_total = int(round(_wall_clock() * 1_000_000))
    sec, usec = divmod(usec_total, 1_000_000)
    ctx.vars[f"{prefix}.tv_sec"] = str(sec)
    ctx.vars[f"{prefix}.tv_usec"] = str(usec)


@module.action("sys.subTimestamp", "P,mand")
def sub_timestamp(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-sys-9: ``t1 = t1 - t2`` with ``msec`` added.

    Values are read with C ``atol`` (garbage counts as 0).  REFERENCE QUIRK:
    ``msec`` is printed as an unsigned 64-bit number, so a negative
    difference becomes a huge number.
    """
    t1, t2 = ctx.resolve(p1), ctx.resolve(p2)
    sec = _atol(ctx.vars.get(f"{t1}.tv_sec", "")) - _atol(ctx.vars.get(f"{t2}.tv_sec", ""))
    usec = _atol(ctx.vars.get(f"{t1}.tv_usec", "")) - _atol(ctx.vars.get(f"{t2}.tv_usec", ""))
    carry, usec = divmod(usec, 1_000_000)
    sec += carry
    msec = (sec * 1000 + usec // 1000) % (1 << 64)
    ctx.vars[f"{t1}.tv_sec"] = str(sec)
    ctx.vars[f"{t1}.tv_usec"] = str(usec)
    ctx.vars[f"{t1}.msec"] = str(msec)
