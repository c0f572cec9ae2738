"""The simulator's ``helm`` command line, and the launcher that puts it on PATH.

What belongs here: argument parsing for the subcommands the suite uses
(``upgrade --install``, ``install``, ``list``, ``get values``, ``uninstall``,
``version``, ``repo add|update``), Helm's output texts and formats, and
:func:`install_helm`, which writes ``<bin_dir>/helm``.

Why Helm's exact words: drivers parse ``helm list -o json`` and operators
read the messages; errors go to stderr as ``Error: <message>`` with exit
status 1, never a traceback.  Repositories are recorded where Helm records
them (``$HELM_REPOSITORY_CONFIG``, else ``$XDG_CONFIG_HOME/helm`` or
``~/.config/helm``, file ``repositories.yaml``); nothing is downloaded, so only
the official Cilium and Longhorn repository URLs are accepted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from provisioning.definition.problems import DefinitionError
from simulator.helm import actions, values, wait
from simulator.helm.actions import HelmError
from simulator.helm.charts import charts_at
from simulator.helm.kubeapi import Cluster, KubeError
from simulator.helm.releases import Release

VERSION = "v3.17.3"
_LIST_STATUSES = ("deployed", "failed")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _err(f"Error: {message}")
        raise SystemExit(1)


def _repo_file() -> Path:
    explicit = os.environ.get("HELM_REPOSITORY_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "helm" / "repositories.yaml"


def _repositories() -> dict[str, str]:
    path = _repo_file()
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise HelmError(f"{path}: cannot read repository config: {type(exc).__name__}") from None
    entries = loaded.get("repositories") or [] if isinstance(loaded, dict) else []
    return {str(e.get("name")): str(e.get("url")) for e in entries if isinstance(e, dict)}


def _save_repositories(repos: dict[str, str]) -> None:
    path = _repo_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "apiVersion": "",
        "generated": "0001-01-01T00:00:00Z",
        "repositories": [{"name": name, "url": url} for name, url in sorted(repos.items())],
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def _go_time(stamp: str) -> str:
    """RFC 3339 (as stored) -> Go's ``time.Time.String()``, as ``helm list`` shows it."""
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00")
    except ValueError:
        return stamp
    nanos = stamp.split(".", 1)[1].rstrip("Z")[:9] if "." in stamp else "0"
    return when.strftime("%Y-%m-%d %H:%M:%S.") + nanos + " +0000 UTC"


def _status_block(release: Release) -> str:
    when = dt.datetime.fromisoformat(release.last_deployed.replace("Z", "+00:00")[:26] + "+00:00")
    return (
        f"NAME: {release.name}\n"
        f"LAST DEPLOYED: {when.strftime('%a %b %e %H:%M:%S %Y')}\n"
        f"NAMESPACE: {release.namespace}\n"
        f"STATUS: {release.status}\n"
        f"REVISION: {release.version}\n"
        "TEST SUITE: None\n"
    )


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "\t".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    return "\n".join(lines) + "\n"


def _cluster(args: argparse.Namespace) -> Cluster:
    return Cluster(args.kubeconfig or None)


def _cmd_upgrade(args: argparse.Namespace, *, install_only: bool = False) -> None:
    chart = actions.resolve_chart(args.chart, args.version, _repositories())
    user = values.user_values([Path(f) for f in args.values], args.set)
    try:
        timeout = wait.parse_duration(args.timeout)
    except wait.DurationError as exc:
        raise HelmError(f'invalid argument "{args.timeout}" for "--timeout" flag: {exc}') from None
    cluster = _cluster(args)
    try:
        if install_only and actions.history(cluster, args.release, args.namespace):
            raise HelmError("INSTALLATION FAILED: cannot re-use a name that is still in use")
        outcome = actions.upgrade(
            cluster,
            name=args.release,
            chart=chart,
            namespace=args.namespace,
            user=user,
            install=args.install or install_only,
            create_namespace=args.create_namespace,
            wait_timeout=timeout if args.wait else None,
        )
    finally:
        cluster.close()
    if not install_only:
        if outcome.installed:
            _out(f'Release "{args.release}" does not exist. Installing it now.')
        else:
            _out(f'Release "{args.release}" has been upgraded. Happy Helming!')
    sys.stdout.write(_status_block(outcome.release))


def _cmd_list(args: argparse.Namespace) -> None:
    cluster = _cluster(args)
    try:
        found = actions.history(cluster, "", None if args.all_namespaces else args.namespace)
    finally:
        cluster.close()
    newest: dict[tuple[str, str], Release] = {}
    for release in found:
        newest[(release.namespace, release.name)] = release
    shown = [r for r in newest.values() if r.status in _LIST_STATUSES]
    rows = [
        {
            "name": r.name,
            "namespace": r.namespace,
            "revision": str(r.version),
            "updated": _go_time(r.last_deployed),
            "status": r.status,
            "chart": f"{r.chart_name}-{r.chart_version}",
            "app_version": r.app_version,
        }
        for r in sorted(shown, key=lambda r: r.name)
    ]
    if args.output == "json":
        _out(json.dumps(rows, separators=(",", ":")))
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(rows, sort_keys=False))
    else:
        header = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
        sys.stdout.write(_table([header, *[list(row.values()) for row in rows]]))


def _cmd_get_values(args: argparse.Namespace) -> None:
    cluster = _cluster(args)
    try:
        release = actions.latest(cluster, args.release, args.namespace)
    finally:
        cluster.close()
    shown: Any = (
        values.coalesce(release.chart_values, release.config) if args.all else release.config
    )
    if args.output == "json":
        _out(json.dumps(shown or None, separators=(",", ":")))
        return
    if args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(shown or None, sort_keys=True))
        return
    _out("COMPUTED VALUES:" if args.all else "USER-SUPPLIED VALUES:")
    sys.stdout.write(yaml.safe_dump(shown or None, sort_keys=True))


def _cmd_uninstall(args: argparse.Namespace) -> None:
    cluster = _cluster(args)
    try:
        for name in args.releases:
            actions.uninstall(cluster, name, args.namespace, keep_history=args.keep_history)
            _out(f'release "{name}" uninstalled')
    finally:
        cluster.close()


def _cmd_repo(args: argparse.Namespace) -> None:
    repos = _repositories()
    if args.repo_command == "add":
        if charts_at(args.name_url[1]) is None:
            raise HelmError(
                f'looks like "{args.name_url[1]}" is not a valid chart repository or cannot be'
                " reached: the simulator has no network and knows only the Cilium and Longhorn"
                " chart repositories"
            )
        name, url = args.name_url
        if repos.get(name) == url:
            _out(f'"{name}" already exists with the same configuration, skipping')
            return
        repos[name] = url
        _save_repositories(repos)
        _out(f'"{name}" has been added to your repositories')
        return
    if not repos:
        raise HelmError("no repositories found. You must add one before updating")
    _out("Hang tight while we grab the latest from your chart repositories...")
    for name in sorted(repos):
        _out(f'...Successfully got an update from the "{name}" chart repository')
    _out("Update Complete. \u2388Happy Helming!\u2388")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""))
    common.add_argument("-n", "--namespace", default="default")
    common.add_argument("--kube-context", default=None)
    parser = _Parser(prog="helm", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in ("upgrade", "install"):
        p = sub.add_parser(command, parents=[common])
        p.add_argument("release")
        p.add_argument("chart")
        p.add_argument("-i", "--install", action="store_true")
        p.add_argument("--create-namespace", action="store_true")
        p.add_argument("--version", default=None)
        p.add_argument("-f", "--values", action="append", default=[])
        p.add_argument("--set", action="append", default=[])
        p.add_argument("--wait", action="store_true")
        p.add_argument("--timeout", default="5m0s")
    p = sub.add_parser("list", aliases=["ls"], parents=[common])
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    get = sub.add_parser("get", parents=[common])
    get_sub = get.add_subparsers(dest="get_command", required=True, parser_class=_Parser)
    p = get_sub.add_parser("values", parents=[common])
    p.add_argument("release")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p = sub.add_parser("uninstall", aliases=["delete", "un", "del"], parents=[common])
    p.add_argument("releases", nargs="+")
    p.add_argument("--keep-history", action="store_true")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--timeout", default="5m0s")
    p = sub.add_parser("version", parents=[common])
    p.add_argument("--short", action="store_true")
    repo = sub.add_parser("repo", parents=[common])
    repo_sub = repo.add_subparsers(dest="repo_command", required=True, parser_class=_Parser)
    p = repo_sub.add_parser("add", parents=[common])
    p.add_argument("name_url", nargs=2, metavar=("NAME", "URL"))
    p.add_argument("--force-update", action="store_true")
    repo_sub.add_parser("update", aliases=["up"], parents=[common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``helm`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "upgrade":
            _cmd_upgrade(args)
        elif args.command == "install":
            _cmd_upgrade(args, install_only=True)
        elif args.command in ("list", "ls"):
            _cmd_list(args)
        elif args.command == "get":
            _cmd_get_values(args)
        elif args.command in ("uninstall", "delete", "un", "del"):
            _cmd_uninstall(args)
        elif args.command == "repo":
            _cmd_repo(args)
        elif args.short:
            _out(f"{VERSION}+gsimulator")
        else:
            _out(
                f'version.BuildInfo{{Version:"{VERSION}", GitCommit:"simulator",'
                ' GitTreeState:"clean", GoVersion:"go1.23.7"}'
            )
    except (HelmError, KubeError) as exc:
        _err(f"Error: {exc}")
        return 1
    except DefinitionError as exc:
        _err(f"Error: {exc}")
        return 1
    return 0


def install_helm(bin_dir: Path) -> None:
    """Write ``bin_dir/helm``: runs this module with the current interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    launcher = bin_dir / "helm"
    launcher.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH='{root}'${{PYTHONPATH:+:$PYTHONPATH}} "
        f"exec '{sys.executable}' -m simulator.helm.cli \"$@\"\n",
        encoding="utf-8",
    )
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


if __name__ == "__main__":
    raise SystemExit(main())
