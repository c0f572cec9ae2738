"""Cilium drifts end to end: the simulated cluster drifts as an operator could; the suite says so.

The Cilium drifts are injected in two groups, each into one copy of the
provisioned simulated cluster: the objects an operator edits (a kube-proxy
DaemonSet, kube-proxy replacement off, one operator), then the causes the
controllers turn into effects (a node's config re-enabling kube-proxy, which
its Talos then deploys; an agent pod crash-looping, which its kubelet
reports; the Helm release downgraded).  Each copy is observed through the
real collector -- each drift's check reports exactly its node or object by
name, the others nothing -- and ``steps/test_cilium.py`` is run against it
once: the drifted controls fail naming them and every other Cilium control
passes.  The clean cluster passes every check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import cilium
from checks.findings import Finding
from checks.snapshot import Snapshot
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "CIL-01": cilium.cni_and_proxy_left_to_cilium,
    "CIL-02": cilium.no_kube_proxy,
    "CIL-03": cilium.agent_ready_on_every_node,
    "CIL-04": cilium.running_config_as_declared,
    "CIL-05": cilium.operator_replicas_ready,
    "CIL-06": cilium.version_as_declared,
}


CILIUM_1_18 = "quay.io/cilium/cilium:v1.18.12"
OPERATOR_1_18 = "quay.io/cilium/operator-generic:v1.18.12"
RELAY_1_18 = "quay.io/cilium/hubble-relay:v1.18.12"

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


def test_proxy_patch_and_crashing_agent_fail_their_controls_naming_the_node(
    cluster_with: Any,
) -> None:
    # node03's config re-enables kube-proxy (CIL-01), so its Talos creates the kube-proxy
    # DaemonSet (CIL-02); node05's agent crash-loops (CIL-03).
    with cluster_with(
        ("cilium.proxy_enabled_on_node", "node03"), ("cilium.agent_crashloop", "node05")
    ) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite("steps/test_cilium.py")

    drifted = {"CIL-01", "CIL-02", "CIL-03"}
    assert {c: f for c, f in found.items() if c not in drifted} == {
        c: [] for c in CHECKS if c not in drifted
    }
    assert [(f.target, f.observed) for f in found["CIL-01"]] == [
        ("node03 (k8s-node03)", "kube-proxy enabled (cluster.proxy.disabled False)")
    ]
    assert found["CIL-02"][0].target == "DaemonSet kube-system/kube-proxy"
    assert found["CIL-02"][0].observed.startswith("present")
    (agent,) = found["CIL-03"]
    assert agent.target == "node05 (k8s-node05)"
    assert agent.observed.startswith("cilium-"), agent.observed
    assert agent.observed.endswith(" not Ready (Running)"), agent.observed

    assert run.returncode == 1, run.output
    assert run.failed == sorted(drifted), run.output
    assert "node03 (k8s-node03)" in run.messages["CIL-01"]
    assert "cluster.proxy.disabled False" in run.messages["CIL-01"]
    assert "DaemonSet kube-system/kube-proxy" in run.messages["CIL-02"]
    assert "node05 (k8s-node05)" in run.messages["CIL-03"]
    assert "not Ready" in run.messages["CIL-03"]


def test_downgraded_release_fails_cil06_naming_the_images(cluster_with: Any) -> None:
    with cluster_with(("cilium.downgrade", None)) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite("steps/test_cilium.py")

    assert {c: f for c, f in found.items() if c != "CIL-06"} == {
        c: [] for c in CHECKS if c != "CIL-06"
    }
    downgraded = {(f.target, f.observed) for f in found["CIL-06"]}
    assert (
        "Deployment kube-system/cilium-operator container cilium-operator",
        OPERATOR_1_18,
    ) in downgraded
    assert ("DaemonSet kube-system/cilium container cilium-agent", CILIUM_1_18) in downgraded
    # Every finding is a container of the chart's workloads (agent, operator, Hubble relay),
    # on the older image.
    assert {observed for _, observed in downgraded} == {CILIUM_1_18, OPERATOR_1_18, RELAY_1_18}
    assert all(
        target.startswith(
            (
                "DaemonSet kube-system/cilium ",
                "Deployment kube-system/cilium-",
                "Deployment kube-system/hubble-relay",
            )
        )
        for target, _ in downgraded
    )

    assert run.returncode == 1, run.output
    assert run.failed == ["CIL-06"], run.output
    assert "DaemonSet kube-system/cilium container cilium-agent" in run.messages["CIL-06"]
    assert CILIUM_1_18 in run.messages["CIL-06"]
