"""``pytest steps --provision`` on a slow cluster: verification starts only once it converged.

The simulator runs with ``--pod-start-delay``: every pod's containers start
seconds after it is bound, as image pulls and probes make them on a busy
or real cluster, so Cilium's agents, the operator and Longhorn's manager
(and with it the Longhorn Nodes and the StorageClass it creates) come up
well after ``helm upgrade --install`` returned.  A provisioning run that
took "the command returned" for "done" verified a half-built cluster and
failed CIL-03/05 and LH-03..05 (issue #22).

Two runs, each on a fresh copy of the shipped definition, the suite as a
subprocess (``tests.suite.harness.run_suite``), a simulator started here
with the delay (the suite's ``target`` fixture reuses it):

* with the default deadlines, the first verification after ``--provision``
  passes every control (those the simulator cannot show are skipped, as in
  any run on it), and the output shows each add-on's readiness wait;
* with ``--addon-timeout`` shorter than the delay, the session ends with
  provisioning's "not ready yet" message naming the step, the objects and
  the deadline, and no control is verified at all.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.suite.harness import Layout, run_suite

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0
SUITE_TIMEOUT = 1200.0
pytestmark = pytest.mark.slow


@contextmanager
def slow_cluster(base: Path, delay: float) -> Iterator[Layout]:
    """A fresh copy of ``cluster/`` served by a simulator whose pods start *delay* s late."""
    layout = Layout(base)
    shutil.copytree(ROOT / "cluster", layout.cluster_dir)
    layout.state.mkdir(mode=0o700)
    log = base / "serve.log"
    command = [sys.executable, "-m", "simulator", "serve", "--state", str(layout.state)]
    command += ["--cluster", str(layout.cluster_dir), "--pod-start-delay", f"{delay:g}"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not log.read_text().startswith("simulator ready: "):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"simulator did not start: {log.read_text()}")
            time.sleep(0.2)
        yield layout
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_first_verification_after_provisioning_a_slow_cluster_passes_every_control(
    tmp_path: Path,
) -> None:
    with slow_cluster(tmp_path / "copy", delay=8) as layout:
        run = run_suite(
            layout,
            "steps",
            "--provision",
            "--allow-destructive",
            scratch=tmp_path / "run",
            timeout=SUITE_TIMEOUT,
        )
    assert run.returncode == 0, run.output
    assert run.outcomes, run.output
    assert run.failed == [], run.output
    for control in ("CIL-03", "CIL-05", "LH-03", "LH-04", "LH-05", "TOP-01"):
        assert run.outcomes.get(control) == "passed", (control, run.output)
    lines = run.output.splitlines()
    assert any("helm cilium: upgrade --install --wait --timeout 900s" in line for line in lines), (
        run.output
    )
    for step in ("wait cilium", "wait longhorn"):
        assert any(line.startswith("provision: [") and f"] {step}: " in line for line in lines)
    # The slow pods were really waited for: no agent can be Ready before the delay, so
    # the Cilium step (helm --wait) lasted at least that long (a lower bound, load only adds).
    seconds = next(
        float(line.split("[", 1)[1].split("s]", 1)[0])
        for line in lines
        if line.startswith("provision: [") and "] helm cilium: done" in line
    )
    assert seconds >= 8, run.output


def test_a_deadline_too_short_for_the_cluster_ends_with_not_ready_yet_not_failed_controls(
    tmp_path: Path,
) -> None:
    with slow_cluster(tmp_path / "copy", delay=60) as layout:
        run = run_suite(
            layout,
            "steps",
            "--provision",
            "--allow-destructive",
            "--addon-timeout",
            "4",
            scratch=tmp_path / "run",
            timeout=SUITE_TIMEOUT,
        )
    assert run.returncode == 1, run.output
    assert run.outcomes == {}, run.output  # no control was verified on the half-built cluster
    message = next(line for line in run.output.splitlines() if "provisioning failed" in line)
    assert "step helm cilium" in message
    assert "not ready within the 4s deadline (helm: context deadline exceeded)" in message
    assert "not ready yet: " in message
    assert "k8s-node01" in message  # per node: its Cilium agent is not Ready
    assert "Deployment kube-system/cilium-operator" in message
    assert "Traceback" not in run.output
