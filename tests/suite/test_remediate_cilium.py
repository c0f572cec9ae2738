"""The Cilium drifts with a planner, end to end: detected, planned, refused, fixed, quiet.

Why two copies: CIL-01's fix (the rendered config again) and CIL-02's (the
kube-proxy DaemonSet its Talos created, deleted) are safe, CIL-06's Helm
upgrade is disruptive, and :func:`remediate_end_to_end` shows a disruptive
group refused without ``--allow-disruptive`` -- a safe fix in the same run
would already have been made.  The kube-proxy must stay gone once deleted:
Talos creates a bootstrap manifest only once.

CIL-03's crash-looping agent is cured by recreating its pod (a fresh pod
starts clean), which is disruptive for that node's pod networking.  Its
registered planner is the Helm upgrade, which leaves an unchanged DaemonSet
and its crash-looping pod alone; the group is marked as an expected failure
(strict, so the fix of the planner turns it into a failure to remove the mark).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.suite.test_remediate_drifts import Group, remediate_end_to_end

pytestmark = pytest.mark.slow

PROXY_PATCH = Group(
    drifts=(("cilium.proxy_enabled_on_node", "node03"),),
    areas=("cilium",),
    actions={
        "CIL-01": ["[safe] node03 (k8s-node03)", "apply-config --nodes <node03> --mode no-reboot"],
        "CIL-02": [
            "[safe] DaemonSet kube-system/kube-proxy",
            "delete daemonsets kube-system/kube-proxy",
        ],
    },
)

# kube-proxy run by a Deployment with its own label: found by its image, its Deployment
# deleted (the ReplicaSet and pod follow by garbage collection).
KUBE_PROXY_DEPLOYMENT = Group(
    drifts=(("cilium.kube_proxy_deployment", None),),
    areas=("cilium",),
    actions={
        "CIL-02": [
            "[safe] Deployment kube-system/net-proxy",
            "delete deployments kube-system/net-proxy",
        ],
    },
)

DOWNGRADE = Group(
    drifts=(("cilium.downgrade", None),),
    areas=("cilium",),
    actions={"CIL-06": ["[disruptive] helm release cilium", "helm upgrade --install cilium"]},
    allowances=("--allow-disruptive",),
)


CRASHLOOP = Group(
    drifts=(("cilium.agent_crashloop", "node05"),),
    areas=("cilium",),
    actions={"CIL-03": ["[disruptive] Pod kube-system/cilium-", "delete pods kube-system/cilium-"]},
    allowances=("--allow-disruptive",),
)


@pytest.mark.parametrize(
    "group",
    [PROXY_PATCH, KUBE_PROXY_DEPLOYMENT, DOWNGRADE, CRASHLOOP],
    ids=["proxy-patch", "kube-proxy-deployment", "downgrade", "crashloop"],
)
def test_cilium_drifts_are_planned_refused_fixed_and_quiet(cluster_with: Any, group: Group) -> None:
    with cluster_with(*group.drifts) as running:
        remediate_end_to_end(running, group)
