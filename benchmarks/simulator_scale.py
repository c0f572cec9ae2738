"""How the simulator scales with the number of nodes: start-up, LIST nodes, LIST pods.

Why a script and not a test: timings depend on the machine, so they are
measured and recorded (``benchmarks/simulator_scale.json``), never asserted
(issue #3 item 7, issue #8: 1,000 nodes start in under 30 s, LIST of all
pods under 1 s, LIST of 1,000 nodes under 200 ms on a 2-core machine).

For each size N (total nodes: the 6 of the shipped definition plus N - 6
workers synthesised with ``--nodes``) it:

1. copies ``cluster/`` to a temp directory (its secret store is created there),
2. starts ``python -m simulator serve --nodes N-6`` on a fresh temp state
   and times it to the ``simulator ready`` line (``start``),
3. provisions the cluster in-process with :mod:`provisioning.plan` -- the
   same plan ``pytest --provision`` runs: configs, bootstrap, Cilium,
   Longhorn, manifests -- and times it (``provision``), then waits until
   every node is Ready and every DaemonSet is fully scheduled (``settle``:
   the synthesised workers join on their own, see ``simulator.statedir``),
4. once the simulator is idle (no reconcile pass running), times LIST nodes
   and LIST pods (all namespaces) through urllib3 with the kubeconfig's
   client certificate, median of several requests, and records the object
   counts and response sizes,
5. stops the simulator and starts it again on the provisioned state
   (``restart``: etcd, the site, one reconcile pass over every object).

Wall-clock figures depend on what else the machine runs; the ``cpu`` ones
(CPU seconds of the simulator process and its etcd, per LIST or to the
ready line) do much less, so both are recorded.

How to run (several minutes for the default sizes; most of it provisioning 1,000 nodes)::

    .venv/bin/python benchmarks/simulator_scale.py            # N = 6, 100, 1000
    .venv/bin/python benchmarks/simulator_scale.py 6 250 --repeat 9 --out /tmp/x.json
    .venv/bin/python benchmarks/simulator_scale.py --keep /tmp/scale   # keep the states
    .venv/bin/python benchmarks/simulator_scale.py --reuse /tmp/scale  # restart + LIST only,
                                                   # added to OUT as "reused"

Only 127.0.0.1 is dialled; node IPs are data inside the simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    DEFINITION_NODES,
    READY_PREFIX,
    SETTLE_TIMEOUT,
    START_TIMEOUT,
    Kube,
    provision,
    settled,
    wait,
)

IDLE_TIMEOUT = 300.0


def _cpu_seconds(pid: int) -> float:
    """CPU time of *pid* and its descendants (etcd): a figure other load does not inflate."""
    ticks = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class Served:
    """One ``python -m simulator serve`` subprocess; :meth:`start` returns when it is ready."""

    def __init__(self, work: Path, extra: int) -> None:
        self.work, self.extra = work, extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> tuple[float, float]:
        """Wall-clock and CPU seconds to the ready line."""
        log = self.work / "serve.out"
        command = [sys.executable, "-m", "simulator", "serve", "--state", str(self.work / "state")]
        command += ["--cluster", str(self.work / "cluster"), "--nodes", str(self.extra)]
        started = time.perf_counter()
        with log.open("w") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        process = self.process
        wait(
            lambda: log.read_text().startswith(READY_PREFIX) or process.poll() is not None,
            START_TIMEOUT,
            "the ready line",
        )
        if process.poll() is not None:
            raise SystemExit(log.read_text())
        return time.perf_counter() - started, _cpu_seconds(process.pid)

    def cpu(self) -> float:
        assert self.process is not None
        return _cpu_seconds(self.process.pid)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_idle(served: Served) -> float:
    """Wait until background reconcile passes are over; the seconds waited.

    Right after provisioning the cluster controller may still be running
    passes over every object (seconds each at 1,000 nodes), and a LIST then
    competes with it for the interpreter.  Idle: under 0.2 CPU seconds in a
    2-second window (etcd included), or give up after ``IDLE_TIMEOUT``.
    """
    began = time.perf_counter()
    while time.perf_counter() - began < IDLE_TIMEOUT:
        before = served.cpu()
        time.sleep(2.0)
        if served.cpu() - before < 0.2:
            break
    return time.perf_counter() - began


def _lists(kube: Kube, served: Served, repeat: int) -> dict[str, Any]:
    result: dict[str, Any] = {"idle_wait_s": round(_wait_idle(served), 1)}
    for what, path in (("nodes", "/api/v1/nodes"), ("pods", "/api/v1/pods")):
        timings, size, count = [], 0, 0
        kube.get(path)  # warm: the first LIST after a change serialises what changed
        cpu = served.cpu()
        for _ in range(repeat):
            elapsed, body = kube.get(path)
            timings.append(elapsed)
            size = len(body)
        cpu = (served.cpu() - cpu) / repeat
        count = len(json.loads(body)["items"])
        result[f"list_{what}_ms"] = round(statistics.median(timings) * 1000, 1)
        result[f"list_{what}_cpu_ms"] = round(cpu * 1000, 1)
        result[f"list_{what}_count"] = count
        result[f"list_{what}_bytes"] = size
    return result


def measure_reused(total: int, repeat: int, work: Path, source: Path) -> dict[str, Any]:
    """One size from a state ``--keep`` provisioned earlier: restart, then LIST latencies."""
    shutil.copytree(source / "cluster", work / "cluster")
    shutil.copytree(source / "state", work / "state", symlinks=True)
    for stale in ("serve.lock", "serve.json"):
        (work / "state" / stale).unlink(missing_ok=True)
    served = Served(work, max(total - DEFINITION_NODES, 0))
    try:
        restart, restart_cpu = served.start()
        kube = Kube(work / "state" / "kubeconfig", work)
        wait(lambda: settled(kube, total), SETTLE_TIMEOUT, f"{total} Ready nodes")
        result: dict[str, Any] = {
            "nodes": total,
            "reused": str(source),
            "restart_s": round(restart, 3),
            "restart_cpu_s": round(restart_cpu, 3),
        }
        result.update(_lists(kube, served, repeat))
        return result
    finally:
        served.stop()


def measure(total: int, repeat: int, work: Path) -> dict[str, Any]:
    """One size: start, provision, settle, LIST latencies, restart of the provisioned state."""
    extra = max(total - DEFINITION_NODES, 0)
    definition, state = work / "cluster", work / "state"
    shutil.copytree(ROOT / "cluster", definition)
    served = Served(work, extra)
    try:
        start, start_cpu = served.start()
        began = time.perf_counter()
        provision(definition, state, work)
        provisioned = time.perf_counter() - began
        kube = Kube(state / "kubeconfig", work)
        began = time.perf_counter()
        wait(lambda: settled(kube, total), SETTLE_TIMEOUT, f"{total} Ready nodes")
        settle = time.perf_counter() - began
        result: dict[str, Any] = {
            "nodes": total,
            "start_s": round(start, 3),
            "start_cpu_s": round(start_cpu, 3),
            "provision_s": round(provisioned, 3),
            "settle_s": round(settle, 3),
        }
        result.update(_lists(kube, served, repeat))
        served.stop()
        restart, restart_cpu = served.start()
        result["restart_s"] = round(restart, 3)
        result["restart_cpu_s"] = round(restart_cpu, 3)
        return result
    finally:
        served.stop()


COLUMNS = (
    ("nodes", "nodes"),
    ("start_s", "start s"),
    ("provision_s", "provision s"),
    ("settle_s", "settle s"),
    ("restart_s", "restart s"),
    ("restart_cpu_s", "restart cpu s"),
    ("list_nodes_ms", "LIST nodes ms"),
    ("list_nodes_cpu_ms", "cpu ms"),
    ("list_pods_count", "pods"),
    ("list_pods_ms", "LIST pods ms"),
    ("list_pods_cpu_ms", "cpu ms"),
    ("list_pods_bytes", "pods bytes"),
)


def _table(results: list[dict[str, Any]]) -> str:
    header = [title for _, title in COLUMNS]
    rows = [[str(r.get(key, "-")) for key, _ in COLUMNS] for r in results]
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sizes", nargs="*", type=int, default=[6, 100, 1000])
    parser.add_argument("--repeat", type=int, default=7, help="requests per LIST (median)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "simulator_scale.json")
    parser.add_argument(
        "--keep", type=Path, help="keep each size's definition and state in KEEP/nodes-N"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="skip provisioning: restart copies of REUSE/nodes-N (made by --keep) and LIST",
    )
    args = parser.parse_args(argv)
    results = []
    for total in args.sizes:
        if args.reuse is not None:
            with tempfile.TemporaryDirectory(prefix=f"sim-scale-{total}-") as tmp:
                source = args.reuse / f"nodes-{total}"
                results.append(measure_reused(total, args.repeat, Path(tmp), source))
        elif args.keep is not None:
            work = args.keep / f"nodes-{total}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            results.append(measure(total, args.repeat, work))
        else:
            with tempfile.TemporaryDirectory(prefix=f"sim-scale-{total}-") as tmp:
                results.append(measure(total, args.repeat, Path(tmp)))
        print(_table(results[-1:]).splitlines()[-1] if len(results) > 1 else _table(results))
    print()
    print(_table(results))
    document: dict[str, Any] = {"results": results}
    if args.reuse is not None:
        # Restart-and-LIST figures go next to the provisioning run's, which are kept.
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(args.out.read_text(encoding="utf-8"))
            document = {"results": previous.get("results", []), "reused": results}
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
