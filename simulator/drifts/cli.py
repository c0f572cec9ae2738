"""``python -m simulator drift``: apply a named drift to a state directory, or ``--list`` them.

What belongs here: the subcommand's arguments and exit codes, and
:func:`open_state`, which finds the state directory's etcd.  A running
simulator's etcd is used as it runs (its client URL is in ``serve.json``,
and its cluster definition directory too); a stopped one's data directory
``DIR/etcd`` is opened by starting an etcd on it for the change, holding the
state lock meanwhile so a ``serve`` cannot start on it half-way.

Running simulator caveat: writes made here reach its etcd directly, so its
in-process reactions (the reconcile pass after a Kubernetes write, watch
events) follow at its next Talos call or Kubernetes write, not at once.

Exit codes: 0 applied; 1 the state cannot take the drift (not provisioned,
etcd failed); 2 usage errors (unknown drift or node).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simulator.drifts import DriftContext, DriftError, apply_to, find_drift, list_drifts
from simulator.statedir import ServeError, StatePaths, lock_state
from simulator.store.etcd import DatastoreError, EtcdClientTLS, EtcdKV
from simulator.store.process import EtcdServer


def add_parser(sub: Any) -> None:
    """Add the ``drift`` subcommand to *sub* (argparse's subparsers object)."""
    parser = sub.add_parser("drift", help="make the simulated cluster drift from its definition")
    parser.add_argument("--state", type=Path, help="state directory")
    parser.add_argument("--list", action="store_true", help="list the drifts and exit")
    parser.add_argument("--node", help="the node to drift (drifts that take one)")
    parser.add_argument(
        "--cluster", type=Path, help="cluster definition directory (drifts that need it)"
    )
    parser.add_argument("name", nargs="?", help="the drift, e.g. cilium.disable_kpr")


def _running_info(paths: StatePaths) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(paths.serve_json.read_text(encoding="utf-8"))
        pid = int(info.get("pid", 0))
        os.kill(pid, 0)
    except (OSError, ValueError, TypeError):
        return None  # no serve.json, or a stale one: nothing runs
    return info if pid and info.get("etcd") else None


@contextlib.contextmanager
def open_state(state_dir: Path, cluster_dir: Path | None = None) -> Iterator[DriftContext]:
    """A :class:`DriftContext` on *state_dir*'s etcd, running simulator or not.

    :raises DriftError: no simulated cluster in *state_dir*, or etcd failed.
    """
    paths = StatePaths(state_dir.absolute())
    info = _running_info(paths)
    if info is not None:
        named = cluster_dir or (Path(info["cluster"]) if info.get("cluster") else None)
        try:
            tls = EtcdClientTLS.in_dir(Path(info.get("etcdTLS") or paths.etcd_tls))
            with EtcdKV(str(info["etcd"]), tls=tls) as kv:
                yield DriftContext(kv, paths.root, named)
        except DatastoreError as exc:
            raise DriftError(f"the running simulator's etcd failed: {exc}") from None
        return
    if not (paths.etcd / "member").is_dir():
        raise DriftError(
            f"no simulated cluster in {paths.root}: run `python -m simulator serve "
            f"--state {state_dir}` and provision it first"
        )
    try:
        lock = lock_state(paths)
    except ServeError as exc:
        raise DriftError(str(exc)) from None
    etcd = EtcdServer(paths.etcd, log_file=paths.logs / "etcd.log", tls_dir=paths.etcd_tls)
    try:
        paths.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            etcd.start()
        except (DatastoreError, OSError) as exc:
            raise DriftError(f"etcd on {paths.etcd} failed to start: {exc}") from None
        with EtcdKV(etcd.client_url, tls=etcd.client_tls) as kv:
            yield DriftContext(kv, paths.root, cluster_dir)
    finally:
        etcd.stop()
        lock.close()


def _err(message: str) -> None:
    sys.stderr.write(f"simulator drift: {message}\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """The ``drift`` subcommand; returns the exit code (output is its interface: no logging)."""
    if args.list:
        for found in list_drifts():
            sys.stdout.write(f"{found.name}\n")
            sys.stdout.write(f"    {found.description} (controls {', '.join(found.controls)})\n")
        return 0
    if args.state is None or args.name is None:
        _err("give --state DIR and a drift NAME, or --list")
        return 2
    try:
        found = find_drift(args.name)
        if args.node is not None and not found.takes_node:
            raise DriftError(f"drift {found.name} does not take --node: it is cluster-wide", 2)
        with open_state(args.state, args.cluster) as ctx:
            said = apply_to(ctx, args.name, args.node)
    except DriftError as exc:
        _err(str(exc))
        return exc.exit_code
    sys.stdout.write(f"{args.name}: {said}\n")
    sys.stdout.flush()
    return 0
