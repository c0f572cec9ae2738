"""What a verification run costs as the cluster grows: time, API requests, talosctl, memory.

Why a script and not a test: timings depend on the machine and its load, so
they are measured and recorded (``benchmarks/results.json``), never asserted
(issue #8).  What the script does check, and prints beside the table, is the
shape the issue asks for: the Kubernetes requests and talosctl invocations of
a run are the same at every size, verification at the largest size takes
less than 3x its time at the smallest, and at every size it is within 3x
its native floor (issue #19).

For each size N (total nodes: the 6 of the shipped definition plus N - 6
workers the simulator synthesises with ``--nodes``) it:

1. copies ``cluster/``, starts the simulator through :func:`serve_logged`
   (``python -m simulator serve`` with the HTTPS server's per-request log
   line, which it already emits at DEBUG, sent to ``logs/access.log``: the
   requests are counted on the server side, whoever sends them), provisions
   and settles it as :mod:`benchmarks.simulator_scale` does;
2. replaces ``bin/talosctl`` with a wrapper that appends its arguments to
   ``logs/talosctl.log`` and execs the simulator's look-alike, so every
   invocation is counted whatever code path starts it;
3. runs the verification, ``python -m pytest steps --sim-state S --cluster C``
   (the simulator already serving ``S`` is reused), ``--repeat`` times: wall
   time (median), CPU seconds and peak RSS of the pytest process from
   :func:`os.wait4` (``ru_maxrss`` is the largest of pytest and the talosctl
   processes it reaped), API requests by verb and resource, and talosctl
   invocations by subcommand;
4. times :func:`fixtures.observe.collect` alone, in this process (the
   collector's share of a run, without pytest's start-up and the probes);
5. times ``pytest -m CIL-02``, one control alone as a user types it (pytest's
   collection, imports and feature parsing are part of what a user waits for);
6. times the native floor: one ``kubectl get <every collected kind> -A -o
   json`` with a warm discovery cache together with the verification run's
   own talosctl reads (the argv the wrapper logged, the same binary) as plain
   processes in a pool as wide as the collector's, median of ``--repeat``;
   verification and the single control are judged against it at every size.

Python's bytecode cache: the runs are measured as a user's machine runs
them, with compiled modules cached -- even when this script's own
environment sets ``PYTHONDONTWRITEBYTECODE`` (this CI image does), which
would otherwise make every run recompile pytest, its plugins and the suite.
The cache lives in the work directory (``PYTHONPYCACHEPREFIX``) and is
filled by one untimed ``pytest --collect-only``; ``--no-bytecode-cache``
measures with the environment as it is, and the results say which.

Every wait is bounded and a run that does not finish is killed with a clear
message.  How to run (several minutes at 1,000 nodes)::

    .venv/bin/python benchmarks/verification.py             # N = 6, 100, 1000
    .venv/bin/python benchmarks/verification.py 6 --repeat 1 --out /tmp/v.json

Only 127.0.0.1 is dialled; node IPs are data inside the simulator.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFINITION_NODES = 6
READY_PREFIX = "simulator ready: "
START_TIMEOUT = 300.0
SETTLE_TIMEOUT = 1200.0
RUN_TIMEOUT = 900.0
FETCH_TIMEOUT = 300.0
ACCESS_LOG = "access.log"
TALOSCTL_LOG = "talosctl.log"
SERVER_LOGGER = "simulator.kube.server"
# The simulator's request line, as BaseHTTPRequestHandler.log_request formats it.
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
_US = "\x1f"  # ends each argument in the talosctl log: arguments may hold spaces
_COUNTER_MARK = "counts invocations for benchmarks/verification.py"
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


# -- counting (pure; unit-tested) ------------------------------------------------------------


def classify(method: str, target: str) -> str:
    """``"<verb> <resource>"`` of one request, in the API server's audit vocabulary.

    ``GET /api/v1/nodes`` is ``list nodes``, ``GET /apis/apps/v1/namespaces/x/
    daemonsets/y`` is ``get daemonsets.apps``, a node proxy read is ``get
    nodes/proxy``; paths outside a resource (``/version``, discovery) keep
    their path.
    """
    path, _, query = target.partition("?")
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return f"{method.lower()} {path or '/'}"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]  # namespaced: the namespace is not the resource
    resource = rest[0] + (f".{group}" if group else "")
    if len(rest) >= 3:
        resource += "/" + rest[2]
    named = len(rest) >= 2
    if method == "GET":
        verb = "watch" if "watch=" in query and "watch=false" not in query else "get"
        verb = verb if named or verb == "watch" else "list"
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return f"{verb} {resource}"


def count_requests(lines: Iterable[str]) -> dict[str, int]:
    """Requests by ``"<verb> <resource>"`` in access-log *lines*; other lines are ignored."""
    counts: Counter[str] = Counter()
    for line in lines:
        found = _ACCESS.search(line)
        if found is not None:
            counts[classify(found["method"], found["target"])] += 1
    return dict(sorted(counts.items()))


def talosctl_subcommand(argv: Sequence[str]) -> str:
    """The subcommand of one invocation: ``get volumestatuses``, ``version``, ``read``.

    The drivers put the global flags first (``--talosconfig F --nodes a,b``),
    each with its value; what follows is the subcommand and its arguments.
    """
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        rest = rest[1:] if "=" in rest[0] else rest[2:]
    if rest[:1] == ["get"]:
        return " ".join(rest[:2])
    return rest[0] if rest else ""


def count_talosctl(lines: Iterable[str]) -> dict[str, int]:
    """Invocations by subcommand; each line is one invocation's arguments, each ended by US."""
    counts = Counter(
        talosctl_subcommand(line.split(_US)[:-1]) for line in lines if line.strip(_US + "\n")
    )
    return dict(sorted(counts.items()))


def talosctl_argvs(lines: Iterable[str]) -> list[list[str]]:
    """Each logged invocation's arguments, in order: the reads the floor replays as they were."""
    return [line.rstrip("\n").split(_US)[:-1] for line in lines if line.strip(_US + "\n")]


def floor_verdicts(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per size: verification and the single control against that size's native floor.

    The floor is the kubectl get of every kind plus the run's own talosctl
    reads, timed together in the same run; "within 3x" is the issue's target.
    """
    verdicts: dict[str, dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: int(r["nodes"])):
        for key, what in (("verify_s", "verification"), ("single_s", "pytest -m CIL-02")):
            if key not in r or not r.get("floor_s"):
                continue
            verdicts[f"{what} at {r['nodes']} within 3x its native floor"] = {
                "met": r[key] / r["floor_s"] <= 3,
                "detail": _ratio(r, r, key, "floor_s"),
            }
    return verdicts


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One size's verification runs: medians, and the counts (which must not vary)."""
    if not runs:
        raise ValueError("no verification run to summarise")
    requests = [run["requests"] for run in runs]
    talosctl = [run["talosctl"] for run in runs]
    return {
        "verify_s": median([run["wall_s"] for run in runs]),
        "verify_cpu_s": median([run["cpu_s"] for run in runs]),
        "verify_peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "outcomes": runs[-1]["outcomes"],
        "requests": requests[-1],
        "requests_total": sum(requests[-1].values()),
        "requests_stable": all(r == requests[0] for r in requests),
        "talosctl": talosctl[-1],
        "talosctl_total": sum(talosctl[-1].values()),
        "talosctl_stable": all(t == talosctl[0] for t in talosctl),
    }


def targets(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Issue #8's targets judged on *results* (one entry per size, any order)."""
    if not results:
        return {}
    ordered = sorted(results, key=lambda r: int(r["nodes"]))
    small, large = ordered[0], ordered[-1]
    verdicts: dict[str, dict[str, Any]] = {}
    for key in ("requests", "talosctl"):
        differing = {int(r["nodes"]): r[key] for r in ordered if r[key] != small[key]}
        verdicts[f"{key} independent of node count"] = {
            "met": not differing and all(r[f"{key}_stable"] for r in ordered),
            "detail": f"{small[f'{key}_total']} at {small['nodes']} nodes"
            + "".join(f", {r[f'{key}_total']} at {r['nodes']}" for r in ordered[1:]),
        }
    if large is not small:
        ratio = large["verify_s"] / small["verify_s"]
        verdicts[f"verify at {large['nodes']} < 3x verify at {small['nodes']}"] = {
            "met": ratio < 3,
            "detail": f"{_ratio(large, small, 'verify_s')}; "
            f"CPU {_ratio(large, small, 'verify_cpu_s')}",
        }
    verdicts.update(floor_verdicts(ordered))
    return verdicts


def _ratio(top: Mapping[str, Any], bottom: Mapping[str, Any], key: str, under: str = "") -> str:
    above, below = top[key], bottom[under or key]
    return f"{above:g} s / {below:g} s = {above / below:.2f}x"


COLUMNS = (
    ("nodes", "nodes"),
    ("verify_s", "verify s"),
    ("verify_cpu_s", "cpu s"),
    ("verify_peak_rss_mib", "peak MiB"),
    ("collect_s", "collect s"),
    ("collect_cpu_s", "cpu s"),
    ("floor_s", "floor s"),
    ("floor_cpu_s", "cpu s"),
    ("requests_total", "API requests"),
    ("talosctl_total", "talosctl"),
    ("floor_requests_total", "floor requests"),
    ("single_s", "CIL-02 s"),
)


def table(results: Sequence[Mapping[str, Any]]) -> str:
    """The figures, one row per size, right-aligned under their titles."""
    header = [title for _, title in COLUMNS]
    rows = [
        [
            f"{r.get(key)}" if not isinstance(r.get(key), float) else f"{r[key]:g}"
            for key, _ in COLUMNS
        ]
        for r in results
    ]
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(header), *(line(row) for row in rows)])


def breakdown(results: Sequence[Mapping[str, Any]]) -> str:
    """Requests by verb and resource and talosctl by subcommand, one column per size."""
    sizes = [str(r["nodes"]) for r in results]
    out: list[str] = []
    for key, title in (("requests", "API requests"), ("talosctl", "talosctl invocations")):
        names = sorted({name for r in results for name in r[key]})
        width = max([len(title), *(len(n) for n in names)])
        out.append("  ".join([title.ljust(width), *(s.rjust(6) for s in sizes)]))
        for name in names:
            cells = [str(r[key].get(name, 0)).rjust(6) for r in results]
            out.append("  ".join([name.ljust(width), *cells]))
        out.append("")
    return "\n".join(out).rstrip()


def outcomes(output: str) -> dict[str, int]:
    """``{"passed": 40, "failed": 2, ...}`` from pytest's last summary line."""
    for line in reversed(output.splitlines()):
        found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", line)
        if found:
            return {word: int(number) for number, word in found}
    return {}


# -- the simulator, logged -------------------------------------------------------------------


def serve_logged(state: Path, cluster: Path, nodes: int) -> int:
    """``python -m simulator serve`` with the HTTPS server's request log in ``logs/access.log``.

    The server already logs every request at DEBUG (``log_message``); the
    simulator's own logging stays at INFO, only this logger is opened, to a
    file of its own.
    """
    from simulator import __main__ as simulator_main

    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(logs / ACCESS_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger(SERVER_LOGGER)
    access.setLevel(logging.DEBUG)
    access.addHandler(handler)
    access.propagate = False
    return simulator_main.serve(state, cluster, nodes)


def install_talosctl_counter(bin_dir: Path, log: Path) -> None:
    """``bin_dir/talosctl`` becomes a wrapper that logs its arguments and execs the original."""
    real, wrapper = bin_dir / "talosctl.counted", bin_dir / "talosctl"
    if _COUNTER_MARK not in wrapper.read_text(encoding="utf-8", errors="replace"):
        # A restarted simulator rewrites its look-alike (new port): always wrap the newest.
        wrapper.replace(real)
    wrapper.write_text(
        "#!/bin/sh\n"
        f"# {_COUNTER_MARK} (generated)\n"
        "line=$(printf '%s\\037' \"$@\")\n"
        f'printf "%s\\n" "$line" >> {shlex.quote(str(log))}\n'
        f'exec {shlex.quote(str(real))} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)


@dataclass
class Served:
    """One logged simulator subprocess; :meth:`start` returns when it is ready."""

    work: Path
    extra: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def state(self) -> Path:
        return self.work / "state"

    def start(self) -> None:
        out = self.work / "serve.out"
        command = [sys.executable, str(Path(__file__).resolve()), "_serve"]
        command += ["--state", str(self.state), "--cluster", str(self.work / "cluster")]
        command += ["--nodes", str(self.extra)]
        with out.open("w") as handle:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not out.read_text().startswith(READY_PREFIX):
            if self.process.poll() is not None:
                raise SystemExit(f"the simulator exited:\n{out.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the simulator printed no ready line in {START_TIMEOUT:g}s")
            time.sleep(0.2)

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


# -- measuring ---------------------------------------------------------------------------------


def _read_from(path: Path, offset: int) -> tuple[list[str], int]:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    return data.decode("utf-8", errors="replace").splitlines(), offset + len(data)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def child_env(work: Path, *, bytecode_cache: bool) -> dict[str, str]:
    """The measured children's environment: this one, with a bytecode cache in *work* if asked."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def _timed_child(
    argv: Sequence[str], timeout: float, what: str, env: Mapping[str, str] | None = None
) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS (KiB) and output of one child, killed past *timeout*."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
                raise SystemExit(f"{what} did not finish within {timeout:g}s: killed")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if process.returncode not in (0, 1):  # 1: some control failed, still a full run
        raise SystemExit(f"{what} exited with status {process.returncode}:\n{text[-4000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, text


def _single_control(work: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """``pytest -m CIL-02`` as a user types it: collection, imports and parsing included."""
    wall, cpu, _, text = _timed_child(
        [*_pytest_argv(work), "-m", "CIL-02"], RUN_TIMEOUT, "pytest -m CIL-02", env
    )
    return {"single_s": round(wall, 3), "single_cpu_s": round(cpu, 3), "single": outcomes(text)}


def _pytest_argv(work: Path) -> list[str]:
    argv = [sys.executable, "-m", "pytest", "steps", "-q", "-p", "no:cacheprovider"]
    return [*argv, "--sim-state", str(work / "state"), "--cluster", str(work / "cluster")]


def _warm_bytecode(work: Path, env: Mapping[str, str]) -> None:
    """Compile what a run imports into the cache, untimed (collection imports it all)."""
    _timed_child([*_pytest_argv(work), "--collect-only"], RUN_TIMEOUT, "the warm-up", env)


def _verification(work: Path, env: Mapping[str, str]) -> dict[str, Any]:
    logs = work / "state" / "logs"
    access, talos = logs / ACCESS_LOG, logs / TALOSCTL_LOG
    access_at, talos_at = _size(access), _size(talos)
    wall, cpu, rss, text = _timed_child(
        _pytest_argv(work), RUN_TIMEOUT, "the verification run", env
    )
    talos_lines = _read_from(talos, talos_at)[0]
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": round(rss / 1024, 1),
        "outcomes": outcomes(text),
        "requests": count_requests(_read_from(access, access_at)[0]),
        "talosctl": count_talosctl(talos_lines),
        "talosctl_argvs": talosctl_argvs(talos_lines),
    }


def _collect_seconds(work: Path) -> tuple[float, float, list[str]]:
    from fixtures import observe
    from provisioning.definition import inventory
    from provisioning.drivers import Target

    state = work / "state"
    cluster = inventory.load_cluster(work / "cluster", str(work / "cluster"))
    target = Target(
        name=f"simulated:{state}",
        kubeconfig=state / "kubeconfig",
        talosconfig=state / "talosconfig",
        bin_dir=state / "bin",
    )
    started, cpu = time.perf_counter(), _cpu()
    snap = observe.collect(target, cluster)
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    return elapsed, cpu, sorted(snap.missing)


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of the children it reaped (talosctl)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _floor(
    work: Path, repeat: int, talos_reads: Sequence[Sequence[str]]
) -> tuple[float, float, dict[str, int]]:
    """The native floor: ``kubectl get`` of every collected kind (warm discovery cache) and the
    run's own talosctl reads as plain processes, all in parallel; median wall, CPU, requests.

    The talosctl reads are the verification run's argv, replayed through the same
    binary the suite ran (``talosctl.counted``, behind the counting wrapper), in a
    pool as wide as the collector's.
    """
    from checks import snapshot as model
    from fixtures import observe

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on PATH: the raw fetch floor needs a real kubectl")
    kinds = ",".join(
        kind.plural + (f".{kind.version}.{kind.group}" if kind.group else "")
        for kind in model.KUBE_KINDS
    )
    state = work / "state"
    argv = [kubectl, "--kubeconfig", str(state / "kubeconfig"), "--cache-dir", str(work / "kc")]
    argv += ["get", kinds, "-A", "-o", "json"]
    _timed_child(argv, FETCH_TIMEOUT, "kubectl get")  # warms the discovery cache
    talosctl = str(state / "bin" / "talosctl.counted")
    commands = [argv, *([talosctl, *read] for read in talos_reads)]
    access = state / "logs" / ACCESS_LOG
    timings: list[float] = []
    cpus: list[float] = []
    requests: dict[str, int] = {}
    for _ in range(repeat):
        at = _size(access)
        before = _children_cpu()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=observe.WORKERS) as pool:
            list(pool.map(_plain, commands))
        timings.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
        requests = count_requests(_read_from(access, at)[0])
    return median(timings), median(cpus), requests


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _plain(argv: Sequence[str]) -> None:
    """One floor command, output discarded; a failure is reported, not hidden."""
    done = subprocess.run(
        list(argv), cwd=ROOT, capture_output=True, timeout=FETCH_TIMEOUT, check=False
    )
    if done.returncode != 0:
        print(f"floor: {shlex.join(argv[1:])[:120]} exited {done.returncode}", file=sys.stderr)


def measure(
    total: int, repeat: int, work: Path, *, reuse: bool = False, bytecode_cache: bool = True
) -> dict[str, Any]:
    """One size: start, provision, settle; then the verification runs, the collector, the floor.

    With *reuse*, *work* already holds a provisioned state of this size (``--keep``
    of an earlier run): the simulator is restarted on it and nothing is provisioned.
    """
    from benchmarks import common

    extra = max(total - DEFINITION_NODES, 0)
    if not reuse:
        shutil.copytree(ROOT / "cluster", work / "cluster")
    served = Served(work, extra)
    try:
        served.start()
        state = served.state
        if not reuse:
            common.provision(work / "cluster", state, work)
        kube = common.Kube(state / "kubeconfig", work)
        common.wait(lambda: common.settled(kube, total), SETTLE_TIMEOUT, f"{total} Ready nodes")
        install_talosctl_counter(state / "bin", state / "logs" / TALOSCTL_LOG)
        env = child_env(work, bytecode_cache=bytecode_cache)
        if bytecode_cache:
            _warm_bytecode(work, env)
        load = os.getloadavg()[0]
        runs = [_verification(work, env) for _ in range(repeat)]
        talos_reads = runs[-1].pop("talosctl_argvs")
        for run in runs:
            run.pop("talosctl_argvs", None)
        result: dict[str, Any] = {"nodes": total, **summarise(runs)}
        singles = [_single_control(work, env) for _ in range(repeat)]
        result["single_s"] = median([one["single_s"] for one in singles])
        result["single_cpu_s"] = median([one["single_cpu_s"] for one in singles])
        result["single_outcomes"] = singles[-1]["single"]
        result["bytecode_cache"] = bytecode_cache
        result["runs_s"] = [run["wall_s"] for run in runs]
        collected = [_collect_seconds(work) for _ in range(repeat)]
        result["collect_s"] = median([wall for wall, _, _ in collected])
        result["collect_cpu_s"] = median([cpu for _, cpu, _ in collected])
        # Sources the collector could not read (e.g. talosctl timeouts): the time is then
        # not a complete run's, and the figures say so rather than stop.
        result["collect_missing"] = sorted({key for _, _, missing in collected for key in missing})
        result["floor_s"], result["floor_cpu_s"], result["floor_requests"] = _floor(
            work, repeat, talos_reads
        )
        result["floor_requests_total"] = sum(result["floor_requests"].values())
        # The machine's other load inflates wall times, not CPU times: both are kept.
        result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
        return result
    finally:
        served.stop()


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["_serve"]:
        inner = argparse.ArgumentParser(prog="verification.py _serve")
        inner.add_argument("--state", type=Path, required=True)
        inner.add_argument("--cluster", type=Path, required=True)
        inner.add_argument("--nodes", type=int, default=0)
        served = inner.parse_args(arguments[1:])
        return serve_logged(served.state, served.cluster, served.nodes)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sizes", nargs="*", type=int, default=[6, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="verification runs per size")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--keep", type=Path, help="keep each size's work directory in KEEP/")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: measure the states an earlier --keep run provisioned (no provisioning)",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="run pytest with this environment as it is (PYTHONDONTWRITEBYTECODE kept)",
    )
    args = parser.parse_args(arguments)
    if args.repeat < 1 or any(size < 1 for size in args.sizes):
        parser.error("sizes and --repeat must be positive")
    if args.reuse and args.keep is None:
        parser.error("--reuse needs --keep")
    results: list[dict[str, Any]] = []
    command = shlex.join(["python", *sys.argv])
    for total in args.sizes:
        if args.keep is not None:
            work = args.keep / f"nodes-{total}"
            reuse = args.reuse and (work / "state" / "kubeconfig").is_file()
            if args.reuse and not reuse:
                parser.error(f"--reuse: {work} holds no provisioned state")
            if not reuse:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
            results.append(
                measure(total, args.repeat, work, reuse=reuse, bytecode_cache=args.bytecode_cache)
            )
        else:
            with tempfile.TemporaryDirectory(prefix=f"verify-{total}-") as tmp:
                results.append(
                    measure(total, args.repeat, Path(tmp), bytecode_cache=args.bytecode_cache)
                )
        print(table(results[-1:]), flush=True)
        # Written after every size: a later size that fails keeps the earlier figures.
        _write(args.out, results, command)
    print()
    print(table(results))
    print()
    print(breakdown(results))
    print()
    for name, verdict in targets(results).items():
        print(f"{'met' if verdict['met'] else 'NOT met'}: {name} ({verdict['detail']})")
    print(f"written to {args.out}")
    return 0


def _write(out: Path, results: Sequence[Mapping[str, Any]], command: str) -> None:
    document = {"command": command, "results": results, "targets": targets(results)}
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
