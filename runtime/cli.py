"""The runtime's ``dsm`` subcommands: ``serve`` and the operator's control commands.

Registered through the entry-point group ``dsm.cli`` (``register``).  The
client commands talk to a running ``dsm serve`` over its control endpoint:

=================  ==========================================================
``reload``         recompile the main collection (D-2), show the new version
                   or the diagnostics of a refused reload
``load NAME PATH`` add one diagram from a file (as D-3)
``list``           the diagrams of the main collection and its version
``calls``          running sessions: diagram, state, version, age
``call-info ID``   one session's variables and recent transitions
``post-event``     ``TARGET k=v …``: a DSMEvent to a session or queue (D-1)
``trace``          switch the per-call trace on/off and print its lines
``drain``          stop taking calls (503 to INVITE and OPTIONS), let the
                   running calls finish, then the server exits 0
``start-call``     start a simulated call (no SIP peer needed); ``press``,
                   ``hangup`` drive it
``sbc ACTION``     the SBC of ``dsm serve --sbc``: ``profiles``,
                   ``reload-profile NAME``, ``reload-profiles``,
                   ``load-profile NAME PATH``, ``get-active-profile``,
                   ``set-active-profile VALUE``, ``teardown CALL-ID``, ``calls``
=================  ==========================================================

Each takes ``--control HOST:PORT`` (default ``$DSM_CONTROL``, else
``127.0.0.1:5040``), ``--control-token`` (default ``$DSM_CONTROL_TOKEN``,
else the token file ``dsm serve`` wrote for that port, or
``--control-token-file``) and ``--json`` (the raw JSON-RPC result instead
of a table).  Exit codes:
0 success, 1 the server refused or reported a failure, 2 bad usage, 3 no
server answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from dsm.runtime.control.client import ControlClient, RpcFailure, ServerUnavailable, default_control
from dsm.runtime.control.cluster import ClusterNode, ask_all, load_nodes
from dsm.runtime.control.http_server import DEFAULT_CONTROL
from dsm.runtime.control.trace import format_line
from dsm.runtime.sip.limits import SipLimits

__all__ = ["register", "table"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SERVER = 3


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--control",
        metavar="HOST:PORT",
        default=None,
        help=f"control endpoint (default: $DSM_CONTROL, else {DEFAULT_CONTROL})",
    )
    p.add_argument(
        "--control-token", metavar="T", default=None,
        help="token (default: $DSM_CONTROL_TOKEN, else the token file the server wrote)",
    )
    p.add_argument(
        "--control-token-file", metavar="PATH", default=None,
        help="read the token from PATH (default: $DSM_CONTROL_TOKEN_FILE, else <runtime dir>/control-<port>.token)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON result instead of a table")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)")


def _cluster_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster", metavar="FILE", nargs="?", const="", default=None,
        help="every node listed in FILE ('NODE_ID HOST:PORT [TOKEN_FILE]' per line; FILE defaults to $DSM_CLUSTER)",
    )


def _client_command(fn: Callable[[argparse.Namespace, ControlClient], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a client command: build the client, map failures to messages and exit codes."""

    def run(args: argparse.Namespace) -> int:
        address = args.control or default_control()
        try:
            client = ControlClient(address, args.control_token, args.timeout, args.control_token_file)
        except ValueError as exc:
            print(f"dsm {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            return fn(args, client)
        except ServerUnavailable:
            print(
                f"dsm {args.command}: no DSM server answers at {address} "
                "(start one with 'dsm serve', or use --control / DSM_CONTROL)",
                file=sys.stderr,
            )
            return EXIT_NO_SERVER
        except RpcFailure as exc:  # the server's message; the JSON-RPC code stays in --json land
            print(f"dsm {args.command}: {exc.message}", file=sys.stderr)
            return EXIT_FAILED
        except ValueError as exc:  # a bad --cluster file
            print(f"dsm {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:  # output piped into head & co.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0

    return run


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def _result_message(result: Any) -> str:
    """The text of a reference-style ``[code, text]`` result (``--json`` shows the pair)."""
    if isinstance(result, list) and len(result) >= 2:
        return str(result[1])
    return str(result)


def _print_diagnostics(diags: list[dict[str, Any]]) -> None:
    for d in diags:
        print(f"{d.get('path')}:{d.get('line')}:{d.get('column')}: {d.get('severity')}: {d.get('message')} [{d.get('code')}]")
        if d.get("hint"):
            print(f"    hint: {d['hint']}")


def _count(diags: list[dict[str, Any]]) -> str:
    errors = sum(1 for d in diags if d.get("severity") == "error")
    warnings = len(diags) - errors
    parts = [f"{errors} error(s)"] if errors else []
    return ", ".join(parts + [f"{warnings} warning(s)"])


# -- commands -------------------------------------------------------------------------------
def _nodes(args: argparse.Namespace) -> list[ClusterNode]:
    path = args.cluster or os.environ.get("DSM_CLUSTER", "")
    if not path:
        raise ValueError("--cluster needs a FILE (or $DSM_CLUSTER) listing the nodes")
    return load_nodes(path)


def _cluster_reload(args: argparse.Namespace) -> int:
    """``reload`` on every node at once (each node atomic); exit 1 unless all of them reloaded."""
    answers = ask_all(_nodes(args), "reload", None, args.timeout, args.control_token)
    if args.json:
        _print_json({a.node.node_id: a.result if not a.error else {"error": a.error} for a in answers})
    else:
        for a in answers:
            if a.error:
                print(f"{a.node.node_id}: failed: {a.error}")
            elif a.result["ok"]:
                print(f"{a.node.node_id}: reloaded: serving version {a.result['version']}")
            else:
                print(f"{a.node.node_id}: reload refused: {_result_message(a.result['result'])}; "
                      f"still serving version {a.result['version']}")  # fmt: skip
                _print_diagnostics(a.result["diagnostics"])
    refused = [a.node.node_id for a in answers if a.error or not a.result["ok"]]
    if refused:
        print(f"dsm reload --cluster: not reloaded on {', '.join(refused)}", file=sys.stderr)
    return EXIT_FAILED if refused else 0


def _cluster_calls(args: argparse.Namespace) -> int:
    """``listCalls`` of every node in one table with a NODE column; exit 1 if a node did not answer."""
    answers = ask_all(_nodes(args), "listCalls", {"system": not args.calls_only}, args.timeout, args.control_token)
    rows = [{"node": a.node.node_id, **r} for a in answers if not a.error for r in a.result]
    failed = [a for a in answers if a.error]
    if args.json:
        _print_json({"calls": rows, "errors": {a.node.node_id: a.error for a in failed}})
    else:
        print(f"Active calls: {sum(1 for r in rows if r['kind'] == 'call')} on {len(answers) - len(failed)} node(s)")
        if rows:
            print(table(
                [[r["node"], r["id"], r["kind"], r["diagram"], r["state"], r["version"], _age(r["age"])] for r in rows],
                ["NODE", "ID", "KIND", "DIAGRAM", "STATE", "VERSION", "AGE"],
            ))  # fmt: skip
    for a in failed:
        print(f"dsm calls --cluster: {a.node.node_id}: {a.error}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def _cmd_reload(args: argparse.Namespace, client: ControlClient) -> int:
    if args.cluster is not None:
        return _cluster_reload(args)
    out = client.call("reload")
    if args.json:
        _print_json(out)
        return 0 if out["ok"] else EXIT_FAILED
    diags = out["diagnostics"]
    if out["ok"]:
        print(f"reloaded: serving version {out['version']} ({_count(diags)})")
    else:
        print(f"reload refused: {_result_message(out['result'])}; still serving version {out['version']}")
    _print_diagnostics(diags)
    return 0 if out["ok"] else EXIT_FAILED


def _cmd_load(args: argparse.Namespace, client: ControlClient) -> int:
    out = client.call("load", [args.name, os.path.abspath(args.path)])
    if args.json:
        _print_json(out)
        return 0 if out["ok"] else EXIT_FAILED
    if out["ok"]:
        print(f"{_result_message(out['result'])}: serving version {out['version']}")
    else:
        print(f"load refused: {_result_message(out['result'])}")
    _print_diagnostics(out["diagnostics"])
    return 0 if out["ok"] else EXIT_FAILED


def _cmd_list(args: argparse.Namespace, client: ControlClient) -> int:
    v = client.call("versions")
    if args.json:
        _print_json(v)
        return 0
    print(f"version {v['current']}  source {v['source']}")
    per = v.get("sessions_per_version", {})
    print(table([[n] for n in v["diagrams"]], ["DIAGRAM"]))
    if v["history"]:
        print()
        rows = [
            [h["id"], len(h["diagrams"]), time.strftime("%H:%M:%S", time.localtime(h["loaded_at"])),
             per.get(h["id"], 0), "*" if h["current"] else ""]
            for h in v["history"]
        ]
        print(table(rows, ["VERSION", "DIAGRAMS", "LOADED", "SESSIONS", "CURRENT"]))
    return 0


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _cmd_calls(args: argparse.Namespace, client: ControlClient) -> int:
    if args.cluster is not None:
        return _cluster_calls(args)
    rows = client.call("listCalls", {"system": not args.calls_only})
    if args.json:
        _print_json(rows)
        return 0
    print(f"Active calls: {sum(1 for r in rows if r['kind'] == 'call')}")
    if rows:
        print(
            table(
                [[r["id"], r["kind"], r["diagram"], r["state"], r["version"], _age(r["age"])] for r in rows],
                ["ID", "KIND", "DIAGRAM", "STATE", "VERSION", "AGE"],
            )
        )
    return 0


def _cmd_call_info(args: argparse.Namespace, client: ControlClient) -> int:
    info = client.call("callInfo", [args.id])
    if args.json:
        _print_json(info)
        return 0
    for key in ("id", "kind", "config", "diagram", "state", "version"):
        print(f"{key + ':':<9} {info[key]}")
    print(f"{'age:':<9} {_age(info['age'])}")
    if info.get("timers"):
        print(f"{'timers:':<9} {', '.join(map(str, info['timers']))}")
    call = info.get("call")
    if call:
        print(f"{'dialog:':<9} {call['dialog']}")
    print()
    print(table(sorted(info["vars"].items()), ["VARIABLE", "VALUE"]))
    if info.get("monitoring"):
        print()
        rows = [[k, v if isinstance(v, str) else " | ".join(map(str, v))] for k, v in sorted(info["monitoring"].items())]
        print(table(rows, ["MONITORING", "VALUE"]))
    if info["recent"]:
        print()
        print(table([[f"{r['t']:.3f}", r["kind"], r["detail"]] for r in info["recent"]], ["TIME", "KIND", "DETAIL"]))
    return 0


def _cmd_post_event(args: argparse.Namespace, client: ControlClient) -> int:
    pairs = []
    for item in args.pairs:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"dsm post-event: expected name=value, not {item!r}", file=sys.stderr)
            return EXIT_USAGE
        pairs.append([name, value])
    result = client.call("postDSMEvent", [args.target, pairs])
    ok = isinstance(result, list) and bool(result) and result[0] == 200
    if args.json:
        _print_json(result)
    elif ok:
        print(f"event posted to {args.target}")
    else:
        print(f"dsm post-event: no session or event queue {args.target!r} ({_result_message(result)})", file=sys.stderr)
    return 0 if ok else EXIT_FAILED


def _cmd_trace(args: argparse.Namespace, client: ControlClient | None) -> int:
    if args.file:
        return _trace_file(args)
    assert client is not None
    if args.off:
        status = client.call("traceSet", {"mode": "off"})
        print(json.dumps(status) if args.json else "trace off")
        return 0
    if args.all:
        client.call("traceSet", {"mode": "all"})
    elif args.call:
        client.call("traceSet", {"mode": "calls", "calls": args.call})
    elif args.diagram:
        client.call("traceSet", {"mode": "diagrams", "diagrams": args.diagram})
    since = args.since
    while True:
        out = client.call("traceRead", {"since": since})
        for line in out["lines"]:
            print(json.dumps(line, ensure_ascii=False) if args.json else format_line(line), flush=True)
            since = max(since, int(line["seq"]))
        if not args.follow:
            if out["mode"] == "off" and not out["lines"]:
                print("trace is off (use --all, --call ID or --diagram NAME)", file=sys.stderr)
            return 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _trace_file(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as fh:
            for n, raw in enumerate(fh, 1):
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    print(f"dsm trace: {args.file}:{n}: not a JSON line", file=sys.stderr)
                    continue
                if args.call and line.get("call") not in args.call:
                    continue
                if args.diagram and line.get("diagram") not in args.diagram:
                    continue
                print(json.dumps(line) if args.json else format_line(line))
    except OSError as exc:
        print(f"dsm trace: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _cmd_start_call(args: argparse.Namespace, client: ControlClient) -> int:
    params: dict[str, Any] = {"app": args.app}
    if args.caller:
        params["caller"] = args.caller
    out = client.call("startCall", params)
    if args.json:
        _print_json(out)
    else:
        print(table([[out["id"], out["diagram"], out["state"], out["version"]]], ["ID", "DIAGRAM", "STATE", "VERSION"]))
    return 0


def _cmd_press(args: argparse.Namespace, client: ControlClient) -> int:
    out = client.call("callPress", [args.id, args.keys])
    if args.json:
        _print_json(out)
    else:
        print(f"{out['id']}: {out['diagram']}/{out['state']}{' (ended)' if out['ended'] else ''}")
    return 0


def _cmd_hangup(args: argparse.Namespace, client: ControlClient) -> int:
    out = client.call("callHangup", [args.id])
    if args.json:
        _print_json(out)
    else:
        print(f"{out['id']}: {'ended' if out['ended'] else 'still running'}")
    return 0


def _cmd_drain(args: argparse.Namespace, client: ControlClient) -> int:
    out = client.call("drain", {"timeout": args.timeout_drain} if args.timeout_drain is not None else None)
    if args.json:
        _print_json(out)
        return 0
    node = f"node {out['node']}" if out.get("node") else "the server"
    print(f"{node} drains: {out['calls']} call(s) in progress; new calls get 503, it exits when they end")
    return 0


_SBC_ACTIONS = {
    "profiles": ("sbc.listProfiles", ()),
    "reload-profile": ("sbc.reloadProfile", ("name",)),
    "reload-profiles": ("sbc.reloadProfiles", ()),
    "load-profile": ("sbc.loadProfile", ("name", "path")),
    "get-active-profile": ("sbc.getActiveProfile", ()),
    "set-active-profile": ("sbc.setActiveProfile", ("active_profile",)),
    "teardown": ("sbc.teardownCall", ("call_id",)),
    "calls": ("sbc.calls", ()),
}
"""``dsm sbc ACTION ARGS``: the control method and its parameters in order."""


def _cmd_sbc(args: argparse.Namespace, client: ControlClient) -> int:
    method, names = _SBC_ACTIONS[args.action]
    if len(args.args) != len(names):
        wanted = " ".join(n.upper() for n in names) or "no arguments"
        print(f"dsm sbc {args.action}: expected {wanted}", file=sys.stderr)
        return EXIT_USAGE
    out = client.call(method, dict(zip(names, args.args, strict=True)))
    if args.json:
        _print_json(out)
    elif args.action == "profiles":
        print(table([(p["name"], p["path"]) for p in out["profiles"]], ("PROFILE", "FILE")))
        print(f"active_profile={','.join(out['active_profile'])}")
    elif "active_profile" in out:
        print(",".join(out["active_profile"]))
    elif args.action == "calls":
        rows = [(c["call_id"], c["profile"], c["a"], c["b"], "yes" if c["rtp_relay"] else "no", _age(c["seconds"])) for c in out["calls"]]
        print(table(rows, ("CALL-ID", "PROFILE", "A", "B", "RTP", "AGE")))
    else:
        print("OK")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from dsm.runtime.server import serve_main

    if args.config and args.scripts:
        print("dsm serve: give either --config or --scripts, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.sbc and not args.sip:
        print("dsm serve: --sbc needs --sip HOST:PORT", file=sys.stderr)
        return EXIT_USAGE
    try:
        rtp_ports = _port_range(args.rtp_ports)
    except ValueError as exc:
        print(f"dsm serve: --rtp-ports: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sip_settings = {
        key: getattr(args, key) for _, key, _, _ in _LIMIT_FLAGS if getattr(args, key) is not None
    }
    try:
        SipLimits.from_settings(sip_settings)
    except ValueError as exc:
        flag = next((f for f, key, _, _ in _LIMIT_FLAGS if str(exc).startswith(key)), "")
        print(f"dsm serve: {flag}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve_main(
        args.config,
        args.scripts or [],
        args.control or default_control(),
        args.control_token or os.environ.get("DSM_CONTROL_TOKEN") or None,
        args.watch,
        args.log_level,
        args.prompt_seconds,
        token_file=args.control_token_file,
        control_hosts=args.control_host or (),
        sip=args.sip,
        application=args.application,
        app_mapping=args.app_mapping,
        rtp_ports=rtp_ports,
        rtp_timeout=args.rtp_timeout,
        sip_settings=sip_settings,
        blocking_grace=args.blocking_grace,
        blocking_workers=args.blocking_workers,
        blocking_lane_workers=args.blocking_lane_workers,
        node_id=args.node_id,
        drain_timeout=args.drain_timeout,
        cluster_redis=args.cluster_redis,
        sbc=args.sbc,
    )


_LIMIT_FLAGS = (
    ("--rtp-strict", "rtp_strict", "yes|no", "latch RTP to its first source, drop others; default yes"),
    ("--rtp-symmetric", "rtp_symmetric", "yes|no", "send RTP where the peer's comes from (NAT); default no"),
    ("--sip-max-message-bytes", "sip_max_message_bytes", "N", "largest SIP message; default 32768"),
    ("--sip-max-headers", "sip_max_headers", "N", "most header lines in a SIP message; default 256"),
    ("--tcp-max-per-source", "sip_tcp_max_connections_per_source", "N",
     "TCP connections per source address; default 32"),
    ("--tcp-message-timeout", "sip_tcp_message_timeout", "SECONDS",
     "time to complete a begun TCP message; default 10"),
    ("--tcp-idle-timeout", "sip_tcp_idle_timeout", "SECONDS",
     "close TCP connections without a call after this idle time; default 120"),
)
"""Command-line flags of the :class:`SipLimits` keys: (flag, dsm.conf key, metavar, help)."""


def _port_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` -> (low, high), both 1..65535 and low <= high."""
    low, sep, high = text.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError(f"expected LOW-HIGH, not {text!r}")
    lo, hi = int(low), int(high)
    if not 0 < lo <= hi <= 65535:
        raise ValueError(f"bad port range {text!r}")
    return lo, hi


def register(subparsers: Any) -> None:
    """Add the runtime's subcommands to the ``dsm`` command (entry point ``dsm.cli``)."""
    serve = subparsers.add_parser("serve", help="run the engine and its control endpoint")
    serve.add_argument("--config", metavar="FILE", help="dsm.conf to load (default: serve examples/)")
    serve.add_argument("--scripts", metavar="DIR", action="append", help="serve the *.dsm of DIR instead (repeatable)")
    serve.add_argument(
        "--control", metavar="HOST:PORT", default=None,
        help=f"control endpoint (default: $DSM_CONTROL, else {DEFAULT_CONTROL}; port 0 = any free port)",
    )
    serve.add_argument(
        "--control-token", metavar="T", default=None,
        help="the control token (default: $DSM_CONTROL_TOKEN, else a random one); allows non-loopback binds",
    )
    serve.add_argument(
        "--control-token-file", metavar="PATH", default=None,
        help="write the token here, mode 0600 (default: $DSM_CONTROL_TOKEN_FILE, else <runtime dir>/control-<port>.token)",
    )
    serve.add_argument(
        "--control-host", metavar="NAME", action="append", default=None,
        help="also accept this name in Host/Origin of control requests (repeatable; default: the bound address, localhost)",
    )
    serve.add_argument("--watch", action="store_true", help="reload when script files change")
    serve.add_argument(
        "--node-id", metavar="ID", default=None,
        help="this node's id in a cluster, on every log line and metric (dsm.conf key node_id)",
    )
    serve.add_argument(
        "--cluster-redis", metavar="URL", default=None,
        help="redis://HOST:PORT of the cluster's call registry: events to calls on other nodes (dsm.conf key cluster_redis)",
    )
    serve.add_argument(
        "--drain-timeout", metavar="SECONDS", type=float, default=None,
        help="SIGTERM drains: 503 to new calls, running calls get this long to finish (dsm.conf key drain_timeout)",
    )
    serve.add_argument(
        "--log-level", choices=("error", "warn", "info", "debug"), default="info",
        help="least severe log lines written to stderr (default info)",
    )
    serve.add_argument("--prompt-seconds", type=float, default=1.0, help="how long a simulated call plays one prompt")
    serve.add_argument(
        "--sip", metavar="HOST:PORT", default=None,
        help="answer SIP calls over UDP and TCP on this address (port 0 = any free port); without it no SIP is served",
    )
    serve.add_argument(
        "--application", metavar="VALUE", default="$(ruri.user)",
        help="application of a new call: a name, $(ruri.user), $(ruri.param), $(apphdr) or $(mapping) (default $(ruri.user))",
    )
    serve.add_argument("--app-mapping", metavar="FILE", default=None, help="app_mapping.conf for $(mapping)")
    serve.add_argument("--rtp-ports", metavar="LOW-HIGH", default="10000-19999", help="RTP port range (default 10000-19999)")
    serve.add_argument(
        "--rtp-timeout", metavar="SECONDS", type=float, default=300.0,
        help="RTPTimeout after this long without RTP while monitorRTPTimeout is on (0 = never; default 300)",
    )
    limits = serve.add_argument_group(
        "limits for untrusted peers", "each overrides the dsm.conf key named (docs/security.md)"
    )
    for flag, key, metavar, what in _LIMIT_FLAGS:
        limits.add_argument(flag, dest=key, metavar=metavar, default=None, help=f"{what} ({key})")
    serve.add_argument(
        "--blocking-grace", metavar="SECONDS", type=float, default=5.0,
        help="on SIGTERM, how long to wait for blocking actions still running (default 5)",
    )
    serve.add_argument(
        "--blocking-workers", metavar="N", type=int, default=None,
        help="worker threads for blocking actions (default: dsm.conf blocking_workers, else 64)",
    )
    serve.add_argument(
        "--blocking-lane-workers", metavar="N", type=int, default=None,
        help="blocking calls of one module running at once (default: dsm.conf "
        "blocking_lane_workers, else 8)",
    )
    serve.add_argument(
        "--sbc", metavar="FILE", default=None,
        help="SBC mode: relay every incoming call as a B2BUA by the call profiles of this sbc.conf (needs --sip)",
    )
    serve.set_defaults(func=_cmd_serve)

    def client(name: str, help_: str, fn: Callable[[argparse.Namespace, ControlClient], int]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = subparsers.add_parser(name, help=help_)
        _client_options(p)
        p.set_defaults(func=_client_command(fn))
        return p

    p = client("reload", "recompile the served scripts (reloadDSMs) and show the new version", _cmd_reload)
    _cluster_option(p)
    p = client("load", "add one diagram to the running collection", _cmd_load)
    p.add_argument("name", metavar="NAME", help="diagram name for the new script")
    p.add_argument("path", metavar="PATH", help="the .dsm file")
    p = client("sbc", "the SBC's profiles and calls (dsm serve --sbc)", _cmd_sbc)
    p.add_argument("action", choices=sorted(_SBC_ACTIONS), help="what to do")
    p.add_argument("args", nargs="*", metavar="ARG", help="NAME, NAME PATH, VALUE or CALL-ID, as the action needs")
    client("list", "diagrams and versions of the running collection", _cmd_list)
    p = client("calls", "running sessions with diagram, state, version and age", _cmd_calls)
    p.add_argument("--calls-only", action="store_true", help="leave out system DSMs")
    _cluster_option(p)
    p = client("call-info", "one session's variables and recent transitions", _cmd_call_info)
    p.add_argument("id", metavar="ID", help="session id as 'dsm calls' lists it")
    p = client("post-event", "post a DSMEvent to a session or event queue (postDSMEvent)", _cmd_post_event)
    p.add_argument("target", metavar="TARGET", help="session id or event queue name")
    p.add_argument("pairs", metavar="k=v", nargs="*", help="event parameters")

    trace = subparsers.add_parser("trace", help="per-call trace: switch on/off, print lines")
    _client_options(trace)
    sel = trace.add_mutually_exclusive_group()
    sel.add_argument("--all", action="store_true", help="trace every session")
    sel.add_argument("--call", action="append", metavar="ID", help="trace this call (repeatable)")
    sel.add_argument("--diagram", action="append", metavar="NAME", help="trace sessions in this diagram (repeatable)")
    sel.add_argument("--off", action="store_true", help="switch tracing off")
    trace.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    trace.add_argument("--since", type=int, default=0, help="only lines after this sequence number")
    trace.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    trace.add_argument("--file", metavar="FILE", help="print a saved JSON-lines trace file instead")

    def run_trace(args: argparse.Namespace) -> int:
        if args.file:
            return _cmd_trace(args, None)
        return _client_command(_cmd_trace)(args)

    trace.set_defaults(func=run_trace)

    p = client("drain", "stop taking calls (503), let running calls finish, then exit", _cmd_drain)
    p.add_argument(
        "--drain-timeout", dest="timeout_drain", metavar="SECONDS", type=float, default=None,
        help="end calls still up after this long (default: the server's drain_timeout, else 30)",
    )
    p = client("start-call", "start a simulated call to an application (no SIP peer needed)", _cmd_start_call)
    p.add_argument("app", metavar="APP", help="application (diagram) to call")
    p.add_argument("--caller", metavar="URI", default=None, help="the caller's URI")
    p = client("press", "press DTMF keys on a simulated call", _cmd_press)
    p.add_argument("id", metavar="ID", help="call id as 'dsm start-call' prints it")
    p.add_argument("keys", metavar="KEYS", help="keys to press, e.g. 12#")
    p = client("hangup", "hang up a simulated call", _cmd_hangup)
    p.add_argument("id", metavar="ID", help="call id as 'dsm start-call' prints it")
