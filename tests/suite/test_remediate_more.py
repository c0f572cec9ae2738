"""Remediation end to end for the drifts test_remediate_drifts.py leaves out.

Why a second file: these two need more than ``cluster_with(drift)``.
``pod_security.drop_admission`` breaks a probe (PSA-03, a server-side dry
run) as well as a config control (PSA-01), so the run shows the probe
passing once PSA-01's re-apply is in; ``longhorn.volume_replicas_2`` needs a
Longhorn volume, which the provisioned cluster does not have: a claim and a
pod using it are created first (as test_drift_longhorn.py does), the volume
is seen healthy with three replicas, and only then is the drift applied.
Each group then goes through :func:`remediate_end_to_end` (plan, fix, quiet).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from checks import audit, pod_security
from checks import snapshot as snap
from provisioning.drivers.kube import KubeDriver
from tests.suite.test_drift_longhorn import (
    NS,
    POD,
    PVC,
    REPLICAS,
    RUN_LABEL,
    VOLUMES,
    _claim,
    _pod,
    wait_until,
)
from tests.suite.test_remediate_drifts import Group, remediate_end_to_end

pytestmark = pytest.mark.slow

ADMISSION = Group(
    drifts=(("pod_security.drop_admission", None),),
    areas=("pod_security",),
    actions={
        "PSA-01": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
        # The probe's plan comes from the observed cluster: the same re-apply.
        "PSA-03": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
    },
    # PSA-01's re-apply restores the admission plugin before PSA-03's probe runs.
    fixed_in_passing=frozenset({"PSA-03"}),
)


def test_dropped_pod_security_admission_is_reapplied(cluster_with: Any) -> None:
    with cluster_with(*ADMISSION.drifts) as running:
        remediate_end_to_end(running, ADMISSION)


# PodSecurity loosened as an operator would, outside the admission default: a namespace
# labelled privileged (PSA-01's label finding and PSA-03's probe in "default") and a
# username exempted in the admission config (PSA-02).  The label is removed by a patch of
# the Namespace; the exemption by the rendered config re-applied.
LOOSENED = Group(
    drifts=(
        ("pod_security.label_namespace_privileged", None),
        ("pod_security.exempt_username", None),
    ),
    areas=("pod_security",),
    actions={
        "PSA-01": [
            "[safe] Namespace default: remove the pod-security.kubernetes.io/enforce label",
            'patch (merge) namespaces default: {"metadata": {"labels": '
            '{"pod-security.kubernetes.io/enforce": null}}}',
        ],
        "PSA-02": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
        "PSA-03": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
    },
    # PSA-01's label removal restores the rejection in "default" before PSA-03's probe runs.
    fixed_in_passing=frozenset({"PSA-03"}),
)


def test_loosened_pod_security_is_planned_fixed_and_quiet(cluster_with: Any) -> None:
    with cluster_with(*LOOSENED.drifts) as running:
        state = running.snapshot()
        assert [f.target for f in pod_security.baseline_enforced(state)] == ["Namespace default"]
        exemptions = pod_security.exemptions_as_declared(state)
        assert all(
            "exemptions.usernames ['system:serviceaccount:ci:deployer']" in f.observed
            for f in exemptions
        ), exemptions
        assert len(exemptions) == len(running.cluster.control_plane_nodes)
        remediate_end_to_end(running, LOOSENED)


# A first audit rule logging nothing in kube-system: the probe (AUD-02, in "default") still
# sees its secret read logged; only AUD-01, asking the policy for every namespace a rule
# names, fails.  The rendered config re-applied restores the policy.
SILENCED = Group(
    drifts=(("audit.silence_namespace", None),),
    areas=("audit",),
    actions={
        "AUD-01": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
    },
)


def test_an_audit_rule_silencing_a_namespace_is_planned_fixed_and_quiet(cluster_with: Any) -> None:
    with cluster_with(*SILENCED.drifts) as running:
        state = running.snapshot()
        findings = audit.policy_as_declared(state)
        assert {f.target for f in findings} == {
            f"{n.name} ({n.hostname})" for n in running.cluster.control_plane_nodes
        }
        assert all("(namespace kube-system) -> rule 1 level None" in f.observed for f in findings)
        remediate_end_to_end(running, SILENCED)


def _volume_group(volume: str) -> Group:
    target = f"[safe] Volume {NS}/{volume}"
    patch = "set numberOfReplicas to 3"
    return Group(
        drifts=(("longhorn.volume_replicas_2", None),),
        areas=("longhorn",),
        actions={"LH-04": [target, patch], "LH-06": [target, patch]},
        # LH-04 patches the volume too; LH-06 judges the re-read cluster after it.
        fixed_in_passing=frozenset({"LH-06"}),
    )


def test_a_volume_with_two_replicas_gets_three_again(cluster_with: Any) -> None:
    from simulator.drifts import apply_drift  # tests only: the suite never imports it

    run_id = uuid.uuid4().hex[:8]
    claim = f"data-{run_id}"
    with cluster_with() as running, KubeDriver(running.target) as kube:
        kube.create(PVC, _claim(claim, run_id), "default")
        kube.create(POD, _pod(f"app-{run_id}", claim, run_id), "default")

        def volume() -> dict[str, Any]:
            for found in kube.list(VOLUMES, NS):
                if snap.dotted(found, "status.kubernetesStatus.pvcName") == claim:
                    return found
            return {}

        def replicas(name: str) -> int:
            return len(kube.list(REPLICAS, NS, label_selector=f"longhornvolume={name}"))

        wait_until(
            lambda: snap.dotted(volume(), "status.robustness") == "healthy",
            60,
            "the claim's Longhorn volume to be attached and healthy",
        )
        name = str(volume()["metadata"]["name"])
        apply_drift(
            running.layout.state,
            "longhorn.volume_replicas_2",
            cluster_dir=running.layout.cluster_dir,
        )
        # A write through the API makes the running simulator reconcile the drifted volume.
        kube.patch(
            PVC, claim, {"metadata": {"annotations": {RUN_LABEL: "drifted"}}}, "merge", "default"
        )
        wait_until(lambda: replicas(name) == 2, 60, f"volume {name} to drop to 2 replicas")

        remediate_end_to_end(running, _volume_group(name))
        assert replicas(name) == 3
        assert snap.dotted(volume(), "status.robustness") == "healthy"
