"""Nightly conformance runs: ``python -m provisioning nightly --runs-dir DIR``.

One invocation runs the suite once against the configured target (the live
cluster with ``--live``, else the embedded simulator's state directory), keeps
what it produced in ``DIR/<UTC timestamp>/``, compares the run's per-control
results with the previous run's and says what changed.  It is meant for a
timer (``deploy/nightly/``) or a Kubernetes CronJob (``deploy/kubernetes/``),
so its exit status is the signal:

====  =====================================================================
0     the suite ran (pytest 0, 1 or 6: some controls not verified); no control
      newly failed (known failures may remain)
1     the suite ran; at least one control is a new failure (``changes.md``)
2     usage error (bad option, missing kubeconfig/talosconfig/definition)
3     the suite could not run or gave no results: pytest exited 2-5, timed
      out, wrote no ``summary.json``, or the runs directory is unwritable
====  =====================================================================

The suite runs through its own entry point, ``python -m pytest steps ...``,
as a subprocess in the project root: the nightly job verifies exactly what an
operator's ``pytest`` verifies, and a crash in the suite cannot take the
bookkeeping down with it.  A run directory holds ``allure-results/``,
``summary.json``/``summary.md`` (``--summary-dir``), ``junit.xml``,
``pytest.log`` (the suite's output: findings, never secrets -- the suite keeps
those out of its output), ``run.json``, ``changes.json``/``changes.md`` and,
when the pinned Allure 3 CLI is installed (``make report-tools``), ``html/``
built with the Allure history carried forward from the previous run
(``history.jsonl``), so the report's trend charts span the kept runs.
Beside the run directories, each run replaces ``RUNS_DIR/talos_conformance.prom``
(``--metrics FILE`` to put it elsewhere): the run's Prometheus metrics, written
atomically, so node_exporter's textfile collector pointed at ``RUNS_DIR``
(``--collector.textfile.directory``) always serves the newest complete run.
With ``--push-gateway URL`` (the in-cluster CronJob) the same text is also
pushed to a Prometheus Pushgateway (:mod:`provisioning.operations.pushgateway`)
once the suite has run and written it; a failed push is a warning, not a
change of the exit status, which stays the conformance signal (the
``talos_conformance_run_timestamp_seconds`` staleness alert catches it).

Only paths are printed, never the contents of a kubeconfig or talosconfig.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioning.operations import nightly_changes, nightly_runs, pushgateway
from provisioning.operations.nightly_changes import SummaryError
from provisioning.operations.nightly_runs import HISTORY, SUMMARY, Run

EXIT_OK = 0
EXIT_NEW_FAILURES = 1
EXIT_USAGE = 2
EXIT_SUITE_DID_NOT_RUN = 3

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KEEP = 30
METRICS_FILE = "talos_conformance.prom"
DEFAULT_TIMEOUT = 7200.0
ALLURE_TIMEOUT = 600.0
LOG_TAIL_LINES = 20
# pytest's own statuses: 0 all passed, 1 some failed; anything else means no verdict.
SUITE_RAN = (0, 1, 6)  # 6: ran, some controls not verified (reports.summary)


class UsageProblem(Exception):
    """An option the operator got wrong (exit 2)."""


class SuiteDidNotRun(Exception):
    """The suite gave no verdict (exit 3); the message says why and where to look."""


def _say(line: str) -> None:
    sys.stdout.write(f"nightly: {line}\n")
    sys.stdout.flush()


def _warn(line: str) -> None:
    sys.stderr.write(f"nightly: {line}\n")
    sys.stderr.flush()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} is not positive")
    return value


def add_nightly_command(subparsers: Any) -> None:
    """Add ``nightly`` to ``python -m provisioning``'s subcommands."""
    parser = subparsers.add_parser(
        "nightly",
        help="run the suite, keep the last N runs, report new failures (exit 1)",
        description=(
            "Run the conformance suite once into RUNS_DIR/<UTC timestamp>/, keep the last N "
            "runs and the Allure history, and write changes.md/changes.json: new failures, "
            "fixed, still failing since the previous run. Exit 0: no new failure; 1: new "
            "failures; 2: usage error; 3: the suite could not run. Arguments after `--` go "
            "to pytest (e.g. `-- -m HYG-04`)."
        ),
    )
    parser.add_argument("--runs-dir", required=True, help="directory holding one dir per run")
    parser.add_argument(
        "--keep",
        type=_positive_int,
        default=DEFAULT_KEEP,
        help=f"how many runs to keep (default {DEFAULT_KEEP}; the newest baseline always stays)",
    )
    parser.add_argument("--cluster", default="cluster", help="cluster definition directory")
    parser.add_argument("--live", action="store_true", help="verify the real cluster")
    parser.add_argument("--kubeconfig", help="kubeconfig of the real cluster (with --live)")
    parser.add_argument("--talosconfig", help="talosconfig of the real cluster (with --live)")
    parser.add_argument(
        "--sim-state", default=".sim", help="state directory of the simulator (without --live)"
    )
    parser.add_argument(
        "--tests",
        action="append",
        metavar="PATH",
        help="test files or directories under steps/ to run (repeatable; default: steps)",
    )
    parser.add_argument(
        "--no-html", action="store_true", help="do not build the Allure HTML report"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds the suite may take before it is stopped (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--metrics",
        metavar="FILE",
        help=f"Prometheus metrics file for node_exporter's textfile collector "
        f"(default: RUNS_DIR/{METRICS_FILE})",
    )
    parser.add_argument(
        "--push-gateway",
        metavar="URL",
        type=pushgateway.gateway_url,
        help=f"also push the metrics to this Prometheus Pushgateway "
        f"(PUT URL/metrics/job/{pushgateway.JOB}), e.g. http://pushgateway.monitoring.svc:9091",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after `--`")
    parser.set_defaults(func=run_nightly)


def _absolute(path: str) -> Path:
    return Path(path).expanduser().absolute()


def target_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest options naming the target; :class:`UsageProblem` for a wrong combination."""
    if args.live:
        files = []
        for option, value in (
            ("--kubeconfig", args.kubeconfig),
            ("--talosconfig", args.talosconfig),
        ):
            if not value:
                raise UsageProblem(f"--live needs {option}")
            path = _absolute(value)
            if not path.is_file():
                raise UsageProblem(f"{option} {value}: no such file")
            files += [option, str(path)]
        return ["--live", *files]
    for option, value in (("--kubeconfig", args.kubeconfig), ("--talosconfig", args.talosconfig)):
        if value:
            raise UsageProblem(f"{option} only applies with --live")
    return ["--sim-state", str(_absolute(args.sim_state))]


def suite_paths(args: argparse.Namespace, root: Path) -> list[str]:
    """The suite paths to run, each checked to exist under the project root."""
    paths = []
    for given in args.tests or ["steps"]:
        path = Path(given)
        resolved = path if path.is_absolute() else root / path
        if not resolved.exists():
            raise UsageProblem(f"--tests {given}: no such file or directory under {root}")
        paths.append(str(resolved))
    return paths


def definition_dir(args: argparse.Namespace) -> Path:
    """The cluster definition directory, checked to hold a ``cluster.yaml``."""
    cluster = _absolute(args.cluster)
    if not (cluster / "cluster.yaml").is_file():
        raise UsageProblem(f"--cluster {args.cluster}: no cluster.yaml in {cluster}")
    return cluster


def pytest_command(
    args: argparse.Namespace, run: Run, cluster: Path, target: list[str], tests: list[str]
) -> list[str]:
    """``python -m pytest <tests> ...`` writing everything into *run*'s directory."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "--cluster",
        str(cluster),
        *target,
        "--alluredir",
        str(run.path / "allure-results"),
        "--summary-dir",
        str(run.path),
        "--junitxml",
        str(run.path / "junit.xml"),
        "--metrics",
        str(metrics_path(args)),
        # A read-only checkout (the container image) has nowhere to put a cache.
        "-p",
        "no:cacheprovider",
        *args.pytest_args,
    ]


def metrics_path(args: argparse.Namespace) -> Path:
    """Where the run's Prometheus metrics go: ``--metrics``, else beside the runs."""
    chosen = getattr(args, "metrics", None)
    return _absolute(chosen) if chosen else _absolute(args.runs_dir) / METRICS_FILE


def _file_version(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def push_metrics(args: argparse.Namespace, before: tuple[int, int, int] | None) -> None:
    """Push the metrics file to ``--push-gateway`` if this run wrote it; warn on failure.

    *before* is the file's version before the suite ran: an unchanged file
    holds an earlier run's metrics, and pushing it would pass them off as
    tonight's.
    """
    gateway = getattr(args, "push_gateway", None)
    if not gateway:
        return
    path = metrics_path(args)
    now = _file_version(path)
    if now is None or now == before:
        _warn(f"metrics not pushed to {gateway}: the suite wrote no new {path}")
        return
    try:
        url = pushgateway.push(gateway, path.read_text(encoding="utf-8"))
    except (pushgateway.PushFailed, OSError) as exc:
        _warn(f"metrics not pushed: {exc}")
        return
    _say(f"metrics pushed to {url}")


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(no output)"


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def run_suite(command: list[str], root: Path, log: Path, timeout: float) -> int:
    """Run the suite with its output in *log*; its exit status, or :class:`SuiteDidNotRun`.

    The suite gets its own process group, so a timeout also stops what it
    started (the simulator) instead of leaving it behind.
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(
                command,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise SuiteDidNotRun(f"cannot start {command[0]}: {exc.strerror or exc}") from None
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            raise SuiteDidNotRun(f"the suite did not finish within {timeout:g}s") from None


def allure_cli(root: Path) -> Path | None:
    """The pinned Allure 3 CLI (``make report-tools``), if installed and Node.js is there."""
    cli = root / "reports" / "node_modules" / ".bin" / "allure"
    return cli if cli.is_file() and shutil.which("node") else None


def carry_history(runs: list[Run], run: Run) -> Run | None:
    """Copy the previous run's Allure history into *run*; the run it came from."""
    source = nightly_runs.previous_with(runs, run, HISTORY)
    if source is not None:
        shutil.copyfile(source.path / HISTORY, run.path / HISTORY)
    return source


def build_html(run: Run, root: Path, cli: Path) -> bool:
    """``allure generate`` into ``run/html`` with the run's history; False (and why) on failure.

    The project's ``reports/allurerc.json`` (name, categories, history limit) is
    copied with only the output and history paths pointed into the run.
    """
    config: dict[str, Any] = json.loads(
        (root / "reports" / "allurerc.json").read_text(encoding="utf-8")
    )
    config["output"] = str(run.path / "html")
    config["historyPath"] = str(run.path / HISTORY)
    rc = run.path / "allurerc.json"
    rc.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log = run.path / "allure.log"
    with log.open("wb") as out:
        try:
            done = subprocess.run(
                [str(cli), "generate", "--config", str(rc), str(run.path / "allure-results")],
                cwd=run.path,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=ALLURE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _warn(f"HTML report not built: {exc}")
            return False
    if done.returncode != 0 or not (run.path / "html" / "index.html").is_file():
        _warn(f"HTML report not built: allure exited {done.returncode} (see {log})")
        return False
    return True


def _baseline(runs: list[Run], run: Run) -> tuple[str | None, dict[str, Any] | None]:
    previous = nightly_runs.previous_with(runs, run, SUMMARY)
    if previous is None:
        return None, None
    try:
        return previous.name, nightly_changes.load_summary(previous.path / SUMMARY)
    except SummaryError as exc:
        _warn(f"previous run unreadable, comparing with nothing: {exc}")
        return None, None


def compare_with_previous(runs: list[Run], run: Run) -> nightly_changes.Changes:
    """Compare *run*'s summary with the newest earlier run that has one."""
    try:
        current = nightly_changes.load_summary(run.path / SUMMARY)
    except SummaryError as exc:
        raise SuiteDidNotRun(f"the suite wrote no usable summary: {exc}") from None
    previous_name, previous = _baseline(runs, run)
    changes = nightly_changes.compare(
        nightly_changes.controls_of(current, SUMMARY),
        nightly_changes.controls_of(previous, SUMMARY) if previous is not None else None,
        run=run.name,
        previous_run=previous_name,
        totals=nightly_changes.totals_of(current),
    )
    (run.path / "changes.json").write_text(changes.to_json(), encoding="utf-8")
    (run.path / "changes.md").write_text(nightly_changes.to_markdown(changes), encoding="utf-8")
    return changes


def _write_run_facts(run: Run, args: argparse.Namespace, status: int | None) -> None:
    facts = {
        "run": run.name,
        "target": "live" if args.live else f"simulated:{_absolute(args.sim_state)}",
        "cluster": str(_absolute(args.cluster)),
        "suite_exit": status,
    }
    (run.path / "run.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")


def _prune(runs_dir: Path, keep: int) -> None:
    for removed in nightly_runs.prune(runs_dir, keep):
        _say(f"pruned run {removed.name}")


def nightly(args: argparse.Namespace, root: Path, now: datetime) -> int:
    """One nightly run; raises :class:`UsageProblem` or :class:`SuiteDidNotRun`."""
    if not (root / "conftest.py").is_file() or not (root / "steps").is_dir():
        raise SuiteDidNotRun(f"no conformance suite (conftest.py, steps/) in {root}")
    runs_dir = _absolute(args.runs_dir)
    # Every usage error is found before the run's directory exists.
    cluster, target = definition_dir(args), target_arguments(args)
    tests = suite_paths(args, root)
    run = nightly_runs.new_run(runs_dir, now)
    command = pytest_command(args, run, cluster, target, tests)
    _say(f"run {run.path}: {'live cluster' if args.live else 'simulator ' + args.sim_state}")
    status: int | None = None
    metrics_before = _file_version(metrics_path(args))
    try:
        status = run_suite(command, root, run.path / "pytest.log", args.timeout)
        if status not in SUITE_RAN:
            raise SuiteDidNotRun(f"pytest exited {status}")
        push_metrics(args, metrics_before)
        runs = nightly_runs.list_runs(runs_dir)
        changes = compare_with_previous(runs, run)
        carry_history(runs, run)
        cli = None if args.no_html else allure_cli(root)
        if cli is not None and build_html(run, root, cli):
            _say(f"report {run.path / 'html' / 'index.html'}")
        elif cli is None and not args.no_html:
            _say("HTML report skipped: the Allure CLI is not installed (make report-tools)")
    except SuiteDidNotRun as exc:
        _write_run_facts(run, args, status)
        _prune(runs_dir, args.keep)
        raise SuiteDidNotRun(
            f"{exc}; output in {run.path / 'pytest.log'}:\n{_tail(run.path / 'pytest.log')}"
        ) from None
    _write_run_facts(run, args, status)
    _say(changes.headline())
    for change in changes.new_failures:
        _say(f"NEW FAILURE {change.control} ({change.previous} -> {change.now}): {change.title}")
    for change in changes.fixed:
        _say(f"fixed {change.control} ({change.previous} -> {change.now}): {change.title}")
    _say(f"changes in {run.path / 'changes.md'}")
    _prune(runs_dir, args.keep)
    return EXIT_NEW_FAILURES if changes.new_failures else EXIT_OK


def run_nightly(args: argparse.Namespace, *, root: Path = ROOT, now: datetime | None = None) -> int:
    """Entry point of ``nightly``: the exit statuses in the module docstring."""
    try:
        return nightly(args, root, now or datetime.now(UTC))
    except UsageProblem as exc:
        _warn(f"usage: {exc}")
        return EXIT_USAGE
    except SuiteDidNotRun as exc:
        _warn(f"the suite could not run: {exc}")
        return EXIT_SUITE_DID_NOT_RUN
    except OSError as exc:
        _warn(f"the suite could not run: {exc.filename or 'runs directory'}: {exc.strerror or exc}")
        return EXIT_SUITE_DID_NOT_RUN
