"""The ``talosctl`` look-alike: argument parsing, exit codes, and its installation.

The suite runs ``<state>/bin/talosctl`` exactly as it would run the real
binary.  :func:`install_executables` writes that file: a small ``sh``
launcher that runs ``<python> -m simulator.talos.cli`` with the machine API
URL in ``TALOS_SIM_API`` (baked in at install time, so each installed
launcher stays bound to the simulator that installed it).  A running
simulator installs a lighter launcher instead, which hands each call to its
warm command server (:mod:`simulator.talos.cli_server`); that server runs
:func:`main` in a fork, so the behaviour described here is the same on both
paths.  This module
parses talosctl's flags the way cobra/pflag do --
global flags (``-n/--nodes``, ``-e/--endpoints``, ``--talosconfig``,
``--context``) anywhere on the line, ``StringSlice`` flags comma-separated
and repeatable, booleans as ``--flag`` or ``--flag=false`` -- and leaves
the commands to :mod:`simulator.talos.cli_commands`.

Start-up is most of what a simulated ``talosctl`` call costs (real talosctl
is a Go binary that starts in milliseconds), so this module imports only
what parsing needs, and the launcher keeps Python's bytecode cache in
``<bin>/.pycache`` even where ``PYTHONDONTWRITEBYTECODE`` is set: without it
every call recompiles every module it imports.

Errors print like talosctl's ``Execute``: the message on stderr, then, when
it mentions a flag, ``arg(s)`` or a ``command``, a blank line and the usage;
exit status 1.  Deviation: usage texts and argparse's own messages (unknown
flags, missing arguments) are shorter than cobra's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import simulator
from simulator.talos import cli_commands
from simulator.talos.cli_session import CliError, GlobalArgs, close_transports, split_list

# simulator.talos.lifecycle.MODES (a test holds them equal): importing the
# lifecycle would load the whole Talos model into every talosctl call.
MODES = ("auto", "no-reboot", "reboot", "staged", "try")

API_ENV = "TALOS_SIM_API"
Command = Callable[[argparse.Namespace, GlobalArgs, str], None]

_GLOBAL_VALUE_FLAGS = {
    "-n": "nodes",
    "--nodes": "nodes",
    "-e": "endpoints",
    "--endpoints": "endpoints",
    "--talosconfig": "talosconfig",
    "--context": "context",
}
_BOOL_FLAGS = ("graceful", "reboot", "wait", "merge", "insecure", "dry-run", "force", "debug")
_BOOL_WORDS = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


class _UsageError(Exception):
    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse that reports instead of exiting, so main() controls stderr and status."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = "unknown flag: " + message.removeprefix("unrecognized arguments: ")
        raise _UsageError(message, self.format_usage())


def split_globals(argv: Sequence[str]) -> tuple[GlobalArgs, list[str]]:
    """Take talosctl's persistent flags out of *argv* (they may appear anywhere)."""
    values: dict[str, list[str]] = {"nodes": [], "endpoints": [], "talosconfig": [], "context": []}
    rest: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            rest.extend(argv[index:])
            break
        name, eq, inline = token.partition("=")
        short_inline = token[:2] in ("-n", "-e") and len(token) > 2 and not token.startswith("--")
        if name in _GLOBAL_VALUE_FLAGS and eq:
            values[_GLOBAL_VALUE_FLAGS[name]].append(inline)
        elif short_inline:
            values[_GLOBAL_VALUE_FLAGS[token[:2]]].append(token[2:])
        elif token in _GLOBAL_VALUE_FLAGS:
            if index + 1 >= len(argv):
                raise _UsageError(f"flag needs an argument: {token}", "")
            values[_GLOBAL_VALUE_FLAGS[token]].append(argv[index + 1])
            index += 1
        else:
            rest.append(token)
        index += 1
    flags = GlobalArgs(
        nodes=split_list(values["nodes"]),
        endpoints=split_list(values["endpoints"]),
        talosconfig=values["talosconfig"][-1] if values["talosconfig"] else "",
        context=values["context"][-1] if values["context"] else "",
    )
    return flags, rest


def normalise_bools(argv: Sequence[str]) -> list[str]:
    """``--wait=false`` -> ``--no-wait`` (pflag booleans take ``=value``, never a next word)."""
    out = []
    for token in argv:
        name, eq, value = token.partition("=")
        if eq and name.startswith("--") and name[2:] in _BOOL_FLAGS:
            parsed = _BOOL_WORDS.get(value.lower())
            if parsed is None:
                raise _UsageError(
                    f'invalid argument "{value}" for "{name}" flag: strconv.ParseBool: '
                    f'parsing "{value}": invalid syntax',
                    "",
                )
            out.append(name if parsed else f"--no-{name[2:]}")
        else:
            out.append(token)
    return out


def _bool(parser: argparse.ArgumentParser, *names: str, default: bool) -> None:
    long = next(n for n in names if n.startswith("--"))
    dest = long[2:].replace("-", "_")
    parser.add_argument(*names, dest=dest, action="store_true", default=default)
    parser.add_argument(f"--no-{long[2:]}", dest=dest, action="store_false", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """talosctl's command tree (the subcommands the suite uses)."""
    root = _Parser(prog="talosctl", add_help=True)
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, run: Command, parent: Any = sub, **kw: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, **kw)
        parser.set_defaults(run=run)
        return parser

    p = command("version", cli_commands.version)
    _bool(p, "--short", default=False)
    _bool(p, "--client", default=False)
    _bool(p, "-i", "--insecure", default=False)

    p = command("get", cli_commands.get)
    p.add_argument("type")
    p.add_argument("id", nargs="?")
    p.add_argument("-o", "--output", default="table")
    p.add_argument("--namespace", default="")
    _bool(p, "-i", "--insecure", default=False)

    p = command("apply-config", cli_commands.apply_config, aliases=["apply"])
    p.add_argument("-f", "--file", default="")
    p.add_argument("-p", "--config-patch", action="append", default=[])
    _bool(p, "-i", "--insecure", default=False)
    p.add_argument("-m", "--mode", default="auto", choices=(*MODES, "interactive"))
    _bool(p, "--dry-run", default=False)
    p.add_argument("--cert-fingerprint", action="append", default=[])
    p.add_argument("--timeout", default="1m0s")

    command("bootstrap", cli_commands.bootstrap)

    p = command("health", cli_commands.health)
    p.add_argument("--control-plane-nodes", action="append", default=[])
    p.add_argument("--worker-nodes", action="append", default=[])
    p.add_argument("--wait-timeout", default="20m0s")
    _bool(p, "--server", default=True)

    p = command("kubeconfig", cli_commands.kubeconfig)
    p.add_argument("local_path", nargs="?")
    _bool(p, "-f", "--force", default=False)
    _bool(p, "-m", "--merge", default=True)
    p.add_argument("--force-context-name", default="")

    etcd = command("etcd", cli_commands.etcd_status)
    etcd_sub = etcd.add_subparsers(dest="etcd_command", required=True, parser_class=_Parser)
    command("members", cli_commands.etcd_members, etcd_sub)
    command("leave", cli_commands.etcd_leave, etcd_sub)
    command("status", cli_commands.etcd_status, etcd_sub)
    alarm = command("alarm", cli_commands.etcd_alarm_list, etcd_sub)
    alarm_sub = alarm.add_subparsers(dest="alarm_command", required=True, parser_class=_Parser)
    command("list", cli_commands.etcd_alarm_list, alarm_sub)
    command("disarm", cli_commands.etcd_alarm_disarm, alarm_sub)
    p = command("snapshot", cli_commands.etcd_snapshot, etcd_sub)
    p.add_argument("path")
    p = command("remove-member", cli_commands.etcd_remove_member, etcd_sub)
    p.add_argument("member_id")

    p = command("reset", cli_commands.reset)
    _bool(p, "--graceful", default=True)
    _bool(p, "--reboot", default=False)
    _bool(p, "--insecure", default=False)
    _bool(p, "--wait", default=True)
    _bool(p, "--debug", default=False)
    p.add_argument("--system-labels-to-wipe", action="append", default=[])
    p.add_argument("--user-disks-to-wipe", action="append", default=[])
    p.add_argument("--wipe-mode", default="all", choices=("all", "system-disk", "user-disks"))
    p.add_argument("--timeout", default="30m0s")

    p = command("upgrade", cli_commands.upgrade)
    p.add_argument("-i", "--image", default=cli_commands.DEFAULT_INSTALLER)
    _bool(p, "-f", "--force", default=False)
    _bool(p, "--wait", default=True)
    _bool(p, "--insecure", default=False)
    _bool(p, "--debug", default=False)
    _bool(p, "-s", "--stage", default=False)
    _bool(p, "-p", "--preserve", default=False)
    p.add_argument("-m", "--reboot-mode", default="default")
    p.add_argument("--timeout", default="30m0s")

    p = command("reboot", cli_commands.reboot)
    p.add_argument("-m", "--mode", default="default")
    _bool(p, "--wait", default=True)
    _bool(p, "--debug", default=False)
    p.add_argument("--timeout", default="30m0s")

    p = command("shutdown", cli_commands.shutdown)
    _bool(p, "--force", default=False)
    _bool(p, "--wait", default=True)
    _bool(p, "--debug", default=False)
    p.add_argument("--timeout", default="30m0s")

    wipe = command("wipe", cli_commands.etcd_status)
    wipe_sub = wipe.add_subparsers(dest="wipe_command", required=True, parser_class=_Parser)
    p = command("disk", cli_commands.wipe_disk, wipe_sub)
    p.add_argument("devices", nargs="+")
    p.add_argument("--method", default="FAST")
    _bool(p, "--drop-partition", default=False)
    _bool(p, "--skip-volume-check", default=False)
    _bool(p, "--skip-secondary-check", default=False)
    _bool(p, "-i", "--insecure", default=False)

    p = command("read", cli_commands.read)
    p.add_argument("path")
    return root


def _print_error(message: str, usage: str) -> None:
    sys.stderr.write(message + "\n")  # Fprintln(err): multierror's own "\n\n" stays
    mentions_usage = any(word in message for word in ("arg(s)", "flag", "command"))
    if mentions_usage and usage:
        sys.stderr.write("\n" + usage)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one talosctl command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        flags, rest = split_globals(args)
        ns = parser.parse_args(normalise_bools(rest))
    except _UsageError as exc:
        _print_error(str(exc), exc.usage or parser.format_usage())
        return 1
    api_url = os.environ.get(API_ENV, "")
    try:
        if not api_url:
            raise CliError(f"{API_ENV} is not set: run the talosctl the simulator installed")
        ns.run(ns, flags, api_url)
    except CliError as exc:
        sys.stdout.flush()
        _print_error(str(exc), f"Usage:\n  talosctl {' '.join(rest[:2])} [flags]\n")
        return 1
    finally:
        close_transports()
    return 0


def install_executables(bin_dir: Path, api_url: str, server: str = "") -> None:
    """Write ``bin_dir/talosctl``: a launcher for this module bound to *api_url*.

    With *server* (a :class:`simulator.talos.cli_server.CommandServer`
    address) the launcher hands each call to that warm server and runs the
    module itself only when the server cannot take it; without, it always
    runs the module (the path described below).

    The launcher pins the interpreter running now (``sys.executable``) and
    puts the project root on ``PYTHONPATH`` so it works from any directory.
    Bytecode is cached under ``bin_dir/.pycache`` (``PYTHONPYCACHEPREFIX``),
    outside the source tree, and written even if the caller's environment
    says not to: the launcher stands in for a compiled binary.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    root = Path(simulator.__file__).resolve().parents[1]
    cache = bin_dir.absolute() / ".pycache"
    if server:
        from simulator.talos.cli_server import launcher_script

        _write_executable(bin_dir / "talosctl", launcher_script(server, api_url, root, cache))
        return
    script = (
        "#!/bin/sh\n"
        "# talosctl look-alike for the talos-conformance simulator (generated; not in git)\n"
        f"{API_ENV}={shlex.quote(api_url)}\n"
        f"export {API_ENV}\n"
        f'PYTHONPATH={shlex.quote(str(root))}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        "export PYTHONPATH\n"
        f"PYTHONPYCACHEPREFIX={shlex.quote(str(cache))}\n"
        "export PYTHONPYCACHEPREFIX\n"
        "unset PYTHONDONTWRITEBYTECODE\n"
        f'exec {shlex.quote(sys.executable)} -m simulator.talos.cli "$@"\n'
    )
    _write_executable(bin_dir / "talosctl", script)


def _write_executable(target: Path, script: str) -> None:
    target.write_text(script, encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


if __name__ == "__main__":
    sys.exit(main())
