"""``dsm run``: a simulated call in the terminal.

Type digits to press keys, ``wait 5`` to let five virtual seconds pass,
``hangup`` to hang up, ``event k=v …`` to post an event, ``vars`` to see the
variables, ``say FILE`` to speak a recording, ``quit`` to leave.  After each
command the lines of the call's transcript that it produced are printed, so
state changes and prompts show as they happen.  Works with a pipe too::

    printf '1234#\\nwait 10\\n' | dsm run examples/pin
    dsm run examples --app menu      # scripts in sub-folders are found too
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TextIO

from dsm.diagnostics import CompileError
from dsm.runtime.media.audio import AudioFileError

__all__ = ["register", "run_session", "pick_app"]

HELP = """commands:
  1234#          press keys (0-9 * # A-D)
  wait SECONDS   let virtual time pass
  hangup         the caller hangs up
  event k=v ...  post a DSMEvent to the call
  say FILE       the caller speaks (audio file)
  vars           show the call's variables
  state          show the current state
  help, quit"""


def pick_app(scripts: Path, app: str | None) -> str:
    """The application to call: ``--app``, the file's stem, or the folder's main script."""
    if app:
        return app
    if scripts.suffix == ".dsm":
        return scripts.stem
    if scripts.is_dir():
        stems = sorted(p.stem for p in scripts.glob("*.dsm"))
        for candidate in (scripts.name, "main"):
            if candidate in stems:
                return candidate
        if stems:
            return stems[0]
    raise SystemExit(f"dsm run: cannot tell which application to call in {scripts}; use --app")


def pick_folder(scripts: Path, app: str | None) -> Path:
    """The folder (or file) to load: a folder without scripts of its own is searched one level down.

    As ``dsm check`` and ``dsm serve``, ``dsm run examples`` finds the
    scripts of ``examples/menu`` …; the application's own folder is then
    loaded, so that its ``prompts/`` are found.
    """
    if not scripts.is_dir() or any(scripts.glob("*.dsm")):
        return scripts
    below = sorted(scripts.glob("*/*.dsm"))
    if not below:
        return scripts
    if app:
        for f in below:
            if f.stem == app:
                return f.parent
        names = ", ".join(f.stem for f in below)
        raise SystemExit(f"dsm run: no application {app!r} in {scripts}; the applications are: {names}")
    folders = sorted({f.parent for f in below})
    if len(folders) == 1:
        return folders[0]
    names = ", ".join(f.stem for f in below)
    raise SystemExit(f"dsm run: {scripts} holds several applications ({names}); choose one with --app")


def run_session(scripts: str, app: str | None, stdin: TextIO, stdout: TextIO) -> int:
    from dsm.runtime.harness import Harness

    path = Path(scripts)
    if not path.exists():
        print(f"dsm run: no such file or directory: {path}", file=stdout)
        return 2
    try:
        path = pick_folder(path, app)
        h = Harness(path)
    except SystemExit as exc:
        print(str(exc), file=stdout)
        return 2
    except CompileError as exc:
        print(str(exc), file=stdout)
        return 1
    except (FileNotFoundError, OSError, AudioFileError) as exc:
        print(f"dsm run: {exc}", file=stdout)
        return 2
    try:
        name = pick_app(path, app)
        call = h.call(name)
    except SystemExit as exc:
        print(str(exc), file=stdout)
        return 2
    except LookupError as exc:
        print(f"dsm run: {exc.args[0] if exc.args else exc}", file=stdout)
        return 2
    shown = 0

    def flush() -> None:
        nonlocal shown
        lines = h.lines.get(call.id, [])
        for line in lines[shown:]:
            print(str(line), file=stdout)
        shown = len(lines)

    print(f"simulated call to '{name}' — type 'help' for commands", file=stdout)
    flush()
    interactive = stdin.isatty()
    while not call.terminated:
        if interactive:
            print(f"[{call.state}] > ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        words = shlex.split(line.strip()) if line.strip() else []
        if not words:
            continue
        cmd = words[0].lower()
        try:
            if cmd in ("quit", "exit"):
                break
            elif cmd == "help":
                print(HELP, file=stdout)
            elif cmd == "wait":
                call.advance(float(words[1]) if len(words) > 1 else 1.0)
            elif cmd == "hangup":
                call.hangup()
            elif cmd == "event":
                call.post_event(dict(w.split("=", 1) for w in words[1:] if "=" in w))
            elif cmd == "say" and len(words) > 1:
                call.say(words[1])
            elif cmd == "vars":
                for k in sorted(call.vars):
                    print(f"  ${k} = {call.vars[k]!r}", file=stdout)
            elif cmd == "state":
                print(f"  state {call.state}", file=stdout)
            else:
                call.press("".join(words))
        except AudioFileError as exc:
            print(f"  ? cannot read audio file '{exc.path}': {exc.reason}", file=stdout)
        except (ValueError, LookupError) as exc:
            print(f"  ? {exc}", file=stdout)
        flush()
    flush()
    print(f"call {'ended' if call.terminated else 'left'} in state {call.state}", file=stdout)
    return 0


def _main(args: argparse.Namespace) -> int:
    return run_session(args.script, args.app, sys.stdin, sys.stdout)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="start a simulated call on a script in the terminal",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("script", metavar="SCRIPT_OR_CONF", help="a .dsm file, a folder of them, or a dsm.conf")
    p.add_argument("--app", default=None, help="application (diagram) to call")
    p.set_defaults(func=_main)
