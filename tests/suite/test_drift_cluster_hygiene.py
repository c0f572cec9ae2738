"""Config-hygiene drifts on a running cluster: an expired kubeconfig, a rejected hostname config.

Each drift is injected into a copy of the provisioned simulated cluster; the
cluster is observed through the real collector and the running-cluster
hygiene checks (HYG-05, HYG-06) are judged on it, then the suite's
topology, API-endpoint and config-hygiene steps run against it once.  The
clean cluster passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import cluster_hygiene
from checks.findings import Finding
from checks.snapshot import Snapshot
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "HYG-05": cluster_hygiene.hostnames_as_declared,
    "HYG-06": cluster_hygiene.kubeconfig_certificate_current,
}
AREA_STEPS = (
    "steps/test_topology.py",
    "steps/test_api_endpoint.py",
    "steps/test_config_hygiene.py",
)


def test_clean_cluster_passes_the_running_hygiene_checks(clean_snapshot: Snapshot) -> None:
    assert {control: judged(check, clean_snapshot) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }


def test_expired_kubeconfig_fails_hyg06_rejected_and_expired(cluster_with: Any) -> None:
    with cluster_with("config_hygiene.expire_kubeconfig") as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(*AREA_STEPS)
    rejected, expired = found["HYG-06"]
    assert rejected.target.startswith("kubeconfig client certificate (")
    assert rejected.observed == "rejected"
    assert expired.observed.startswith("expired ")
    assert found["HYG-05"] == []  # hostnames are read through Talos, not the kubeconfig
    assert run.returncode == 1, run.output
    assert run.failed == ["HYG-06"], run.output
    assert "expired" in run.messages["HYG-06"]
    assert run.outcomes["TOP-01"] == "skipped"  # Kubernetes is unreadable with this kubeconfig


def test_rejected_hostname_conflict_leaves_the_running_hostname_as_declared(
    cluster_with: Any,
) -> None:
    """Talos v1.12 refuses a config with two hostname sources, so nothing running changes.

    The drift declares HYG-04, a control over the committed definition, which
    this drift (an apply the node rejected) does not touch; HYG-05 sees the
    node still under its declared name (no suite run: no control here is meant to fail).
    """
    with cluster_with(("config_hygiene.hostname_conflict", "node02")) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
    assert "rejected" in " ".join(running.applied)
    assert found == {control: [] for control in CHECKS}
