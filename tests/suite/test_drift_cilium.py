"""Cilium drifts end to end: the simulated cluster drifts as an operator could; the suite says so.

The three Cilium drifts (a kube-proxy DaemonSet, kube-proxy replacement
off, one operator) are injected into one copy of the provisioned simulated
cluster, observed through the real collector -- each drift's check reports
exactly its object by name, the others nothing -- and ``steps/test_cilium.py``
is run against it once: the drifted controls fail naming their object and
every other Cilium control passes.  The clean cluster passes every check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import cilium
from checks.findings import Finding
from checks.snapshot import Snapshot

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "CIL-01": cilium.cni_and_proxy_left_to_cilium,
    "CIL-02": cilium.no_kube_proxy,
    "CIL-03": cilium.agent_ready_on_every_node,
    "CIL-04": cilium.running_config_as_declared,
    "CIL-05": cilium.operator_replicas_ready,
    "CIL-06": cilium.version_as_declared,
}


# The drifted controls and the object each failure message must name.
KPR_KEY = "ConfigMap kube-system/cilium-config key kube-proxy-replacement"
OPERATOR = "Deployment kube-system/cilium-operator"
DRIFTED = {
    "CIL-02": "DaemonSet kube-system/kube-proxy",
    "CIL-04": KPR_KEY,
    "CIL-05": OPERATOR,
}


def test_clean_cluster_passes_every_cilium_check(clean_snapshot: Snapshot) -> None:
    assert {control: list(check(clean_snapshot)) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }


def test_cilium_drifts_fail_their_controls_naming_the_object(cluster_with: Any) -> None:
    # One copy carries the three drifts (a simulator start and a suite run each cost
    # tens of seconds); each check must report exactly its own drift's object, so a
    # drift that spilled into another control would show as an extra finding.
    with cluster_with(
        ("cilium.deploy_kube_proxy", None),
        ("cilium.disable_kpr", None),
        ("cilium.single_operator", None),
    ) as running:
        state = running.snapshot()
        found = {control: list(check(state)) for control, check in CHECKS.items()}
        run = running.run_suite("steps/test_cilium.py")

    assert {c: f for c, f in found.items() if c not in DRIFTED} == {
        c: [] for c in CHECKS if c not in DRIFTED
    }
    kube_proxy = found["CIL-02"]
    assert kube_proxy[0].target == "DaemonSet kube-system/kube-proxy"
    assert kube_proxy[0].observed.startswith("present")
    # Whatever pods the DaemonSet got are named too, each with its node.
    assert all(f.target.startswith("Pod kube-system/") for f in kube_proxy[1:])
    assert [(f.target, f.observed) for f in found["CIL-04"]] == [(KPR_KEY, '"false"')]
    (operator,) = found["CIL-05"]
    assert operator.target == OPERATOR
    assert operator.observed.startswith("1 replicas")

    assert run.returncode == 1, run.output
    assert run.outcomes == {c: "failed" if c in DRIFTED else "passed" for c in CHECKS}, run.output
    for control, named in DRIFTED.items():
        assert named in run.messages[control], run.messages[control]
    assert "2 replicas, 2 Ready" in run.messages["CIL-05"]
