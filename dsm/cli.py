"""The ``dsm`` command: ``dsm check`` and ``dsm graph``, plus plug-in subcommands.

Exit codes (``check``): 0 no errors, 1 errors found (or warnings with
``--werror``), 2 bad usage (unknown option, missing path); all of them are
listed in ``dsm --help``.  Other subcommands (``run``, ``serve`` …) come from the
entry-point group ``dsm.cli``: each entry point names a function
``register(subparsers)`` that adds its subparsers with
``set_defaults(func=callable(args) -> int)``.  Plug-ins are loaded only when
the command line asks for something other than the built-in commands, and a
plug-in that fails to load is reported on stderr and skipped, so ``dsm
check`` keeps working whatever is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from dsm.diagnostics import CompileError, Diagnostic, render, render_json

__all__ = ["main", "build_parser"]

_BUILTIN = ("check", "graph", "lsp")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports usage errors as an exception (exit code 2 from main)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


def _add_compile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-I",
        "--include-path",
        dest="include_paths",
        action="append",
        default=[],
        metavar="DIR",
        help="directory searched for relative #include files after the script's own directory",
    )
    p.add_argument(
        "--module-path",
        dest="module_path",
        action="append",
        default=[],
        metavar="DIR",
        help="directory with <name>.py DSM modules for import(<name>)",
    )


_DESCRIPTION = """\
DSM state-machine scripts: check and draw them (check, graph), help editors
(lsp), try them without SIP (run), serve them over SIP with a control
endpoint (serve), and operate a running server (reload, load, list, calls,
call-info, post-event, trace, start-call, press, hangup).  `dsm COMMAND --help` describes each."""

_EPILOG = """\
exit codes:
  0  success (dsm check: no errors; warnings allowed unless --werror)
  1  errors found, or the server refused or reported a failure
  2  bad usage: unknown option, missing file or directory, bad configuration path
  3  no DSM server answers at the control address (operator commands)
130  interrupted (Ctrl-C)

output: text for people by default; --json (operator commands) or
--format json (check) for programs, errors included."""


def _version() -> str:
    try:
        return importlib.metadata.version("dsm-runtime")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def build_parser(load_plugins: bool = False) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dsm",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dsm {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser("check", help="compile scripts and report errors and warnings")
    check.add_argument(
        "paths", nargs="+", metavar="PATH", help=".dsm files or directories (searched recursively)"
    )
    check.add_argument(
        "--syntax-only", action="store_true", help="do not report unknown action/condition names"
    )
    check.add_argument(
        "--strict", action="store_true", help="also warn where a script relies on a reader leniency"
    )
    check.add_argument(
        "--werror",
        action="store_true",
        help="treat warnings as errors: exit 1 when any warning is reported (also: -W error)",
    )
    check.add_argument(
        "-W",
        dest="warning_option",
        choices=("error",),
        metavar="error",
        help="-W error is --werror",
    )
    check.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    check.add_argument(
        "--config",
        metavar="DSM_CONF",
        help="warn about playPrompt names that no prompt file of this dsm.conf provides",
    )
    _add_compile_options(check)
    check.set_defaults(func=_cmd_check)

    graph = sub.add_parser("graph", help="draw a chart as DOT, Mermaid or SVG")
    graph.add_argument("path", metavar="PATH", help="the .dsm file")
    graph.add_argument(
        "--format", choices=("dot", "mermaid", "svg"), default="dot", help="output format"
    )
    graph.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    _add_compile_options(graph)
    graph.set_defaults(func=_cmd_graph)

    lsp = sub.add_parser(
        "lsp",
        help="serve editors over stdio (Language Server Protocol)",
        description="A Language Server Protocol server over stdin/stdout: the diagnostics of "
        "dsm check as you type, completion, hover, navigation, rename, outline and "
        "highlighting.  Editor set-ups: docs/editors.md.",
    )
    lsp.add_argument("--stdio", action="store_true", help="accepted for editors; stdio is the default")
    lsp.set_defaults(func=_cmd_lsp)

    if load_plugins:
        _load_plugins(sub)
    return parser


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    try:
        return list(importlib.metadata.entry_points(group="dsm.cli"))
    except Exception:  # pragma: no cover - broken metadata
        return []


def _load_plugins(subparsers: Any) -> None:
    for ep in _entry_points():
        try:
            register: Callable[[Any], object] = ep.load()
            register(subparsers)
        except Exception as exc:
            print(
                f"dsm: warning: command plug-in {ep.name!r} ({ep.value}) failed to load: {exc}",
                file=sys.stderr,
            )


# -- check -------------------------------------------------------------------
def _configured_prompts(conf: str) -> tuple[set[str], list[Diagnostic]] | str:
    """Prompt names of a dsm.conf and the problems found in it, or why it cannot be read.

    Read by the runtime's plug-in (entry point ``dsm.prompts``), which
    validates the configuration as ``dsm serve`` does and decodes every
    configured prompt file; it may attach ``diagnostics`` to the names.
    """
    if not os.path.isfile(conf):
        return f"no such configuration file: {conf}"
    for ep in importlib.metadata.entry_points(group="dsm.prompts"):
        try:
            names: set[str] = ep.load()(conf)
        except Exception as exc:
            return f"cannot read prompts of {conf}: {exc}"
        return set(names), list(getattr(names, "diagnostics", []))
    return "--config needs the runtime (dsm.runtime) installed"


def _usage_problem(args: argparse.Namespace, message: str, out: TextIO) -> int:
    """Exit 2 with ``message``: on stderr, and as a JSON object on stdout with ``--format json``."""
    print(f"dsm check: {message}", file=sys.stderr)
    if args.format == "json":
        json.dump({"error": message, "diagnostics": [], "summary": None}, out, indent=2)
        out.write("\n")
    return 2


def _summary(files: int, diags: Sequence[Diagnostic]) -> dict[str, int]:
    errors = sum(1 for d in diags if d.is_error)
    return {"files": files, "errors": errors, "warnings": len(diags) - errors}


def _cmd_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from dsm.compiler import check_paths, iter_script_files

    out = out or sys.stdout
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        return _usage_problem(args, "; ".join(f"no such file or directory: {p}" for p in missing), out)
    files = sum(1 for _ in iter_script_files(args.paths))
    known_prompts = None
    config_diags: list[Diagnostic] = []
    if args.config:
        configured = _configured_prompts(args.config)
        if isinstance(configured, str):
            return _usage_problem(args, configured, out)
        known_prompts, config_diags = configured
    diags = config_diags + check_paths(
        args.paths,
        args.include_paths,
        syntax_only=args.syntax_only,
        module_path=args.module_path,
        strict=args.strict,
        known_prompts=known_prompts,
    )
    summary = _summary(files, diags)
    if args.format == "json":
        json.dump(
            {"diagnostics": [render_json(d) for d in diags], "summary": summary}, out, indent=2
        )
        out.write("\n")
    else:
        for d in diags:
            out.write(render(d) + "\n")
        plural = "" if files == 1 else "s"
        out.write(
            f"{files} file{plural} checked: {summary['errors']} error(s), {summary['warnings']} warning(s)\n"
        )
    werror = args.werror or args.warning_option == "error"
    return 1 if summary["errors"] or (werror and summary["warnings"]) else 0


# -- graph -------------------------------------------------------------------
def _cmd_graph(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from dsm.compiler import compile_file
    from dsm.graph import GraphvizMissing, to_dot, to_mermaid, to_svg

    out = out or sys.stdout
    if os.path.isdir(args.path):
        print(f"dsm graph: {args.path} is a directory; give one .dsm file", file=sys.stderr)
        return 2
    if not os.path.isfile(args.path):
        print(f"dsm graph: no such file: {args.path}", file=sys.stderr)
        return 2
    try:
        chart = compile_file(
            args.path, args.include_paths, module_path=args.module_path, consistency_check=False
        )
    except CompileError as exc:
        for d in exc.diagnostics:
            print(render(d), file=sys.stderr)
        return 1
    if args.format == "dot":
        text = to_dot(chart)
    elif args.format == "mermaid":
        text = to_mermaid(chart)
    else:
        try:
            text = to_svg(chart)
        except GraphvizMissing as exc:
            print(f"dsm graph: {exc}", file=sys.stderr)
            return 2
        except (RuntimeError, OSError, TimeoutError) as exc:
            print(f"dsm graph: {exc}", file=sys.stderr)
            return 1
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"dsm graph: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        out.write(text)
    return 0


# -- lsp ---------------------------------------------------------------------
def _cmd_lsp(args: argparse.Namespace) -> int:
    try:
        from dsm.lsp.server import main as serve
    except ImportError as exc:  # pygls missing
        print(f"dsm lsp: {exc}; install pygls", file=sys.stderr)
        return 2
    return serve()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dsm`` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(load_plugins=first not in _BUILTIN)
    try:
        args = parser.parse_args(args_list)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help / --version
        return int(exc.code) if isinstance(exc.code, int) else 0
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result = func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 130
    except BrokenPipeError:  # output piped into head & co.: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
