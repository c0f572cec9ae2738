"""``pytest --live`` with the simulator's kubeconfig and talosconfig, as an operator would.

The live target starts nothing and reads only the two files it is given; the
same features, steps and checks run.  Two controls judge what only a real
cluster can satisfy: API-03 checks that the kubeconfig names the VIP (the
simulator's names 127.0.0.1) and fails naming it, and API-05 would dial the VIP,
which this test run forbids (pytest-socket allows loopback only), so it is
skipped saying so -- no packet leaves the machine.  Every other control passes.
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
            # pytest-socket warns before it refuses; the refusal is what the probe reports.
            "-W",
            "ignore:A test tried to use socket:UserWarning",
        )
    assert "simulated" not in "".join(
        line for line in run.output.splitlines() if line.startswith("target:")
    )
    failed = sorted(c for c, outcome in run.outcomes.items() if outcome == "failed")
    skipped = sorted(c for c, outcome in run.outcomes.items() if outcome == "skipped")
    assert failed == ["API-03"], run.messages
    assert "https://127.0.0.1:" in run.messages["API-03"]
    assert skipped == ["API-05"], run.output
    assert "not allowed here" in run.messages["API-05"]
    assert len(run.outcomes) >= 40
    # A failure is exit 1; the unverified control is said beside it, never hidden.
    assert run.returncode == 1, run.output
    assert run.summary["headline"] == "FAILED; NOT VERIFIED: 1 control"
