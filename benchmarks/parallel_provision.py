"""Several fresh ``pytest --provision`` runs at once on a busy machine: do they all end green?

Why a script and not a test: issue #22 was found as "fresh provisions run
several at a time on a busy 2-core machine end with LH-03/04/05 failing";
whether they now all pass depends on the machine and its load, so it is
measured and recorded (``benchmarks/parallel_provision.json``), never part
of ``make test``.

It starts ``--runs`` (default 3) runs of the suite as a user types it, all
at the same moment, each on its own fresh copy of ``cluster/`` and its own
empty simulator state (the suite starts and stops its own simulator)::

    python -m pytest steps --provision --allow-destructive \\
        --cluster RUN/cluster --sim-state RUN/state

optionally beside ``--burners`` CPU-burning processes (each spins until the
runs end, at most ``--burn-limit`` seconds).  For each run it prints and
records the exit code, the wall time, the outcome counts (from the run's
JUnit XML), the controls that did not pass, each provisioning step's
reported time and, when provisioning stopped, its message.  The machine's
load average at the start and the end is recorded beside them.

How to run (several minutes; it loads the machine on purpose)::

    .venv/bin/python benchmarks/parallel_provision.py
    .venv/bin/python benchmarks/parallel_provision.py --runs 2 --burners 1 --out /tmp/p.json

Every wait is bounded (``--timeout``; a run still going then is killed and
recorded as such).  The suite dials only 127.0.0.1; node IPs are data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).with_suffix(".json")
# Plugins of the project's test dependencies a user's run does not load (tests/suite/harness.py).
NO_TEST_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:xdist")
STEP_LINE = re.compile(r"^provision: \[\s*([\d.]+)s\] (.+?): (.+)$")


@dataclass
class RunResult:
    """One fresh provision-and-verify run."""

    index: int
    exit_code: int | None  # None: killed at the deadline
    seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)
    not_passed: list[str] = field(default_factory=list)  # "failed: <test id>" ...
    steps: list[tuple[str, str, float]] = field(default_factory=list)  # (step, status, s)
    provisioning_failed: str = ""
    output_tail: str = ""


def command(base: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "steps",
        "--provision",
        "--allow-destructive",
        "--cluster",
        str(base / "cluster"),
        "--sim-state",
        str(base / "state"),
        "-q",
        "-p",
        "no:cacheprovider",
        *NO_TEST_PLUGINS,
        "--junitxml",
        str(base / "junit.xml"),
        "--summary-dir",
        str(base / "summary"),
    ]


def junit_outcomes(path: Path) -> tuple[dict[str, int], list[str]]:
    """Outcome counts and the tests that did not pass or skip, from a JUnit XML file."""
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    not_passed: list[str] = []
    if not path.is_file():
        return {}, []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None:
            counts["failed"] += 1
            not_passed.append(f"failed: {name}")
        elif case.find("error") is not None:
            counts["error"] += 1
            not_passed.append(f"error: {name}")
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts, not_passed


def parse_output(text: str) -> tuple[list[tuple[str, str, float]], str]:
    steps: list[tuple[str, str, float]] = []
    failed = ""
    for line in text.splitlines():
        found = STEP_LINE.match(line.strip())
        if found:
            steps.append((found.group(2), found.group(3), float(found.group(1))))
        if "provisioning failed" in line and not failed:
            failed = line.strip()
    return steps, failed


def burn(limit: float) -> subprocess.Popen[bytes]:
    """A process that spins one core until killed, or for *limit* seconds at most."""
    code = f"import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    bases = [work / f"run-{i}" for i in range(1, args.runs + 1)]
    for base in bases:
        base.mkdir(parents=True)
        shutil.copytree(ROOT / "cluster", base / "cluster")
    burners = [burn(args.burn_limit) for _ in range(args.burners)]
    load_start = os.getloadavg()
    started = time.monotonic()
    running: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    for index, base in enumerate(bases, 1):
        log = (base / "output.log").open("wb")
        process = subprocess.Popen(
            command(base),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its simulator goes with it if it must be killed
        )
        log.close()
        running[index] = (process, base)
    ended: dict[int, tuple[int | None, float]] = {}
    try:
        while len(ended) < len(running):
            for index, (process, _) in running.items():
                if index not in ended and process.poll() is not None:
                    ended[index] = (process.returncode, time.monotonic() - started)
            if time.monotonic() - started > args.timeout:
                for index, (process, _) in running.items():
                    if index not in ended:
                        os.killpg(process.pid, signal.SIGTERM)
                        process.wait(timeout=60)
                        ended[index] = (None, time.monotonic() - started)
            time.sleep(1.0)
    finally:
        for burner in burners:
            stop(burner)
    load_end = os.getloadavg()
    results = []
    for index, (_, base) in sorted(running.items()):
        code, seconds = ended[index]
        text = (base / "output.log").read_text(errors="replace")
        outcomes, not_passed = junit_outcomes(base / "junit.xml")
        steps, failed = parse_output(text)
        results.append(
            RunResult(
                index,
                code,
                round(seconds, 1),
                outcomes,
                not_passed,
                steps,
                failed,
                "\n".join(text.splitlines()[-15:]) if code != 0 else "",
            )
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
        "burners": args.burners,
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in load_end],
        "all_green": all(r.exit_code == 0 and not r.not_passed for r in results),
        "results": [asdict(r) for r in results],
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def report(record: dict[str, Any]) -> str:
    lines = [
        f"{record['runs']} fresh provisions at once, {record['burners']} CPU burner(s), "
        f"{record['cpus']} CPUs; load average {record['load_average_start']} -> "
        f"{record['load_average_end']}",
        f"{'run':>3}  {'exit':>4}  {'wall s':>7}  outcomes",
    ]
    for run in record["results"]:
        code = "kill" if run["exit_code"] is None else str(run["exit_code"])
        counts = ", ".join(f"{v} {k}" for k, v in run["outcomes"].items() if v) or "no JUnit"
        lines.append(f"{run['index']:>3}  {code:>4}  {run['seconds']:>7.1f}  {counts}")
        lines.extend(f"       {item}" for item in run["not_passed"])
        if run["provisioning_failed"]:
            lines.append(f"       {run['provisioning_failed']}")
    lines.append("all green" if record["all_green"] else "NOT all green")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs started at once (3)")
    parser.add_argument("--burners", type=int, default=0, help="CPU-burning processes (0)")
    parser.add_argument(
        "--burn-limit", type=float, default=1800.0, help="seconds a burner spins at most"
    )
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds per batch")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.burners < 0:
        parser.error("--runs must be 1 or more and --burners 0 or more")
    work = Path(tempfile.mkdtemp(prefix="parallel-provision-"))
    try:
        record = run_all(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    print(report(record))
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"recorded in {args.out}")
    return 0 if record["all_green"] else 1


if __name__ == "__main__":
    sys.exit(main())
