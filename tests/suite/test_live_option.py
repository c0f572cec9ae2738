"""``pytest --live`` with the simulator's kubeconfig and talosconfig, as an operator would.

The live target starts nothing and reads only the two files it is given; the
same features, steps and checks run.  The kubeconfig names the declared
endpoint (the VIP) and the simulator's address proxy as its ``proxy-url``,
which the drivers' clients and the API-05 probe honour as they would a real
cluster's proxy -- so every control passes, API-03 and API-05 included, and
no packet leaves loopback (the first run allows 127.0.0.1 only).

The second run is the README's line exactly as typed, without the project's
network rule: the cluster is reached through 127.0.0.2 (the address proxy
started with ``serve --proxy-host 127.0.0.2``), an address that is not
127.0.0.1, as a real cluster's is.  It still never leaves loopback: Linux
answers on the whole of 127.0.0.0/8.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.suite import harness
from tests.suite.harness import BuiltCluster, ClusterWith, RunningCluster, SuiteRun

pytestmark = pytest.mark.slow


def test_live_run_against_the_simulators_files(
    cluster_with: ClusterWith, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's line as typed in the project folder, the two files kept elsewhere."""
    home = tmp_path / "home"
    kubeconfig, talosconfig = home / ".kube" / "config", home / ".talos" / "config"
    with cluster_with() as running:
        run = readme_live_line(running, kubeconfig, talosconfig, monkeypatch)
    assert_verified(run)


def readme_live_line(
    running: RunningCluster,
    kubeconfig: Path,
    talosconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    loopback_only: bool = True,
) -> SuiteRun:
    """Copy the two files elsewhere and run `pytest --live --kubeconfig K --talosconfig T`."""
    state = running.layout.state
    for source, copy in ((state / "kubeconfig", kubeconfig), (state / "talosconfig", talosconfig)):
        copy.parent.mkdir(parents=True)
        shutil.copy(source, copy)
    # An operator has talosctl on PATH; here it is the simulator's.
    monkeypatch.setenv("PATH", f"{state / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return running.run_suite(
        # no test path: `pytest --live --kubeconfig K --talosconfig T`, space-separated
        "--live",
        "--kubeconfig",
        str(kubeconfig),
        "--talosconfig",
        str(talosconfig),
        loopback_only=loopback_only,
    )


def assert_verified(run: SuiteRun) -> None:
    assert "simulated" not in "".join(
        line for line in run.output.splitlines() if line.startswith("target:")
    )
    failed = sorted(c for c, outcome in run.outcomes.items() if outcome == "failed")
    skipped = sorted(c for c, outcome in run.outcomes.items() if outcome == "skipped")
    assert (failed, skipped) == ([], []), run.output
    assert len(run.outcomes) >= 40
    assert run.returncode == 0, run.output
    assert run.summary["headline"] == "PASSED"


def test_live_run_reaches_the_cluster_through_another_address(
    built_cluster: BuiltCluster,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The README's line as typed, no network rule added: the cluster is not on 127.0.0.1."""
    home = tmp_path / "home"
    kubeconfig, talosconfig = home / ".kube" / "config", home / ".talos" / "config"
    base = tmp_path_factory.mktemp("elsewhere") / "copy"
    with harness.cluster_with(
        built_cluster, base, serve_args=("--proxy-host", "127.0.0.2")
    ) as running:
        run = readme_live_line(running, kubeconfig, talosconfig, monkeypatch, loopback_only=False)
    [cluster] = yaml.safe_load(kubeconfig.read_text())["clusters"]
    assert cluster["cluster"]["proxy-url"].startswith("http://127.0.0.2:")
    assert "127.0.0.1" not in cluster["cluster"]["server"]
    assert "--allow-hosts" not in " ".join(
        harness.suite_command(running.layout, scratch=tmp_path / "probe", loopback_only=False)
    )
    assert_verified(run)
