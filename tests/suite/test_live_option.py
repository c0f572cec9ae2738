"""``pytest --live`` with the simulator's kubeconfig and talosconfig, as an operator would.

The live target starts nothing and reads only the two files it is given; the
same features, steps and checks run.  The kubeconfig names the declared
endpoint (the VIP) and the simulator's address proxy as its ``proxy-url``,
which the drivers' clients and the API-05 probe honour as they would a real
cluster's proxy -- so every control passes, API-03 and API-05 included, and
no packet leaves loopback (this test run allows 127.0.0.1 only).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.suite.harness import ClusterWith

pytestmark = pytest.mark.slow


def test_live_run_against_the_simulators_files(
    cluster_with: ClusterWith, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's line as typed in the project folder, the two files kept elsewhere."""
    home = tmp_path / "home"
    kubeconfig, talosconfig = home / ".kube" / "config", home / ".talos" / "config"
    with cluster_with() as running:
        state = running.layout.state
        for source, copy in (
            (state / "kubeconfig", kubeconfig),
            (state / "talosconfig", talosconfig),
        ):
            copy.parent.mkdir(parents=True)
            shutil.copy(source, copy)
        # An operator has talosctl on PATH; here it is the simulator's.
        monkeypatch.setenv("PATH", f"{state / 'bin'}{os.pathsep}{os.environ['PATH']}")
        run = running.run_suite(
            # no test path: `pytest --live --kubeconfig K --talosconfig T`, space-separated
            "--live",
            "--kubeconfig",
            str(kubeconfig),
            "--talosconfig",
            str(talosconfig),
        )
    assert "simulated" not in "".join(
        line for line in run.output.splitlines() if line.startswith("target:")
    )
    failed = sorted(c for c, outcome in run.outcomes.items() if outcome == "failed")
    skipped = sorted(c for c, outcome in run.outcomes.items() if outcome == "skipped")
    assert (failed, skipped) == ([], []), run.output
    assert len(run.outcomes) >= 40
    assert run.returncode == 0, run.output
    assert run.summary["headline"] == "PASSED"
