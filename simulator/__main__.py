"""``python -m simulator serve|status|drift``: the simulator's command line (moto_server's role).

What belongs here: argument parsing, the foreground ``serve`` loop (ready
line, SIGINT/SIGTERM, clean shutdown) and ``status``, which reads
``serve.json`` and asks the running simulator's health endpoints and etcd.
Nothing else: composition is :mod:`simulator.server`.

Exit codes: 0 success / running; 1 not running, state locked, etcd failed;
2 usage or definition errors (argparse's convention).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioning.definition.problems import DefinitionError
from simulator.address_proxy import is_loopback
from simulator.drifts import cli as drift_cli
from simulator.server import Simulator
from simulator.state.machines import SiteStore
from simulator.statedir import ServeError, StatePaths
from simulator.store.etcd import DatastoreError, EtcdClientTLS, EtcdKV


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the simulated cluster in the foreground")
    serve.add_argument("--state", required=True, type=Path, help="state directory")
    serve.add_argument("--cluster", required=True, type=Path, help="cluster definition directory")
    serve.add_argument(
        "--nodes", type=int, default=0, help="synthesise N extra worker nodes (scale tests)"
    )
    serve.add_argument(
        "--pod-start-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="containers start this long after their pod is bound (a busy cluster's image "
        "pulls and readiness probes: add-ons come up minutes after helm returns); default 0",
    )
    serve.add_argument(
        "--proxy-host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the loopback address (127.0.0.0/8) the address proxy listens on, which the "
        "kubeconfig's proxy-url names; default 127.0.0.1",
    )
    status = sub.add_parser("status", help="is a simulator running on this state directory")
    status.add_argument("--state", required=True, type=Path)
    drift_cli.add_parser(sub)
    return parser


def _err(message: str) -> None:
    print(f"simulator: {message}", file=sys.stderr, flush=True)


def serve(
    state: Path,
    cluster: Path,
    nodes: int,
    pod_start_delay: float = 0.0,
    proxy_host: str = "127.0.0.1",
) -> int:
    if nodes < 0:
        _err("--nodes must be 0 or more")
        return 2
    if not pod_start_delay >= 0:
        _err("--pod-start-delay must be 0 or more seconds")
        return 2
    if not is_loopback(proxy_host):
        _err(f"--proxy-host must be a loopback address (127.0.0.0/8), not {proxy_host!r}")
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    simulator = Simulator(
        state,
        cluster,
        extra_nodes=nodes,
        pod_start_delay=pod_start_delay,
        proxy_host=proxy_host,
    )
    logs = simulator.paths.logs
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    logging.basicConfig(
        filename=logs / "simulator.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        simulator.start()
    except DefinitionError as exc:
        _err(f"the cluster definition has problems:\n{exc}")
        return 2
    except ServeError as exc:
        _err(str(exc))
        return 1
    try:
        print(
            f"simulator ready: kubernetes {simulator.kubernetes_url}, "
            f"talos {simulator.talos_url}, state {simulator.paths.root}",
            flush=True,
        )
        stop.wait()
    finally:
        simulator.stop()
    print("simulator stopped", flush=True)
    return 0


def _get(url: str, path: str) -> int | None:
    """HTTP status of GET *url*/*path* on loopback, None if nothing answers."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 0
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None  # never dial anything but loopback
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        # A health probe of our own process on loopback; its CA changes at bootstrap.
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(host, port, timeout=3, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=3)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(state: Path) -> int:
    paths = StatePaths(state.absolute())
    try:
        info: dict[str, Any] = json.loads(paths.serve_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"state {paths.root}: not running")
        return 1
    pid = int(info.get("pid", 0))
    if not pid or not _pid_alive(pid):
        print(f"state {paths.root}: not running (stale serve.json, pid {pid} is gone)")
        return 1
    kube, talos = str(info.get("kubernetes", "")), str(info.get("talos", ""))
    kube_health, talos_health = _get(kube, "/readyz"), _get(talos, "/v1/health")
    print(f"state {paths.root}: running (pid {pid})")
    print(f"kubernetes {kube}: {_health_word(kube_health)}")
    print(f"talos {talos}: {_health_word(talos_health)}")
    print(f"kubernetes CA: {info.get('kubernetesCA', 'unknown')}")
    for note in info.get("notes", []):
        print(f"note: {note}")
    try:
        tls = EtcdClientTLS.in_dir(Path(info.get("etcdTLS") or paths.etcd_tls))
        with EtcdKV(str(info.get("etcd", "")), tls=tls, timeout=3) as kv:
            site = SiteStore(kv).load()
    except (DatastoreError, OSError, ValueError) as exc:
        print(f"nodes: unavailable ({exc})")
        return 1
    print(f"bootstrapped: {'yes' if site.bootstrapped else 'no'}")
    for machine in sorted(site.machines.values(), key=lambda m: m.name):
        print(f"node {machine.name} {machine.ip}: {machine.stage.value}")
    return 0 if talos_health == 200 else 1


def _health_word(code: int | None) -> str:
    if code is None:
        return "not answering"
    if code == 200:
        return "healthy"
    if code == 503:
        return "unavailable (503: not bootstrapped)"
    return f"HTTP {code}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.state, args.cluster, args.nodes, args.pod_start_delay, args.proxy_host)
    if args.command == "drift":
        return drift_cli.run(args)
    return status(args.state)


if __name__ == "__main__":
    sys.exit(main())
