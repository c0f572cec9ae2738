"""CIL-03's plan: a not-Ready agent pod is recreated; a missing DaemonSet takes the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checks import cilium
from checks import snapshot as model
from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from remediation import catalogue
from remediation.actions import DeleteObject, HelmUpgrade, Risk

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster")


def agent(name: str, node: str, ready: bool, *, app: str = "cilium") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": app}},
        "spec": {"nodeName": node},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def snapshot_with(cluster: inventory.Cluster, pods: list[dict[str, Any]]) -> Snapshot:
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime.now(UTC),
        kube={model.PODS.key: pods},
    )


def test_the_not_ready_agent_on_the_named_node_is_deleted(cluster: inventory.Cluster) -> None:
    pods = [
        agent("cilium-aaaaa", "k8s-node03", ready=False),
        agent("cilium-bbbbb", "k8s-node04", ready=False),  # not named by a finding
        agent("cilium-ccccc", "k8s-node03", ready=True),
        agent("hubble-ddddd", "k8s-node03", ready=False, app="hubble-relay"),
    ]
    plan = catalogue.loaded().plan(
        "CIL-03",
        [
            cilium.AgentNotReady(
                "node03 (k8s-node03)", "Ready", "not Ready", hostname="k8s-node03", node="node03"
            ),
            # Text alone is never acted on: an untyped finding naming node04 changes nothing.
            Finding("node04 (k8s-node04)", "Ready", "not Ready"),
        ],
        snapshot_with(cluster, pods),
    )
    assert [(a.target, a.change, a.risk) for a in plan.actions] == [
        (
            "Pod kube-system/cilium-aaaaa on node03 (k8s-node03)",
            DeleteObject(model.PODS.path, "cilium-aaaaa", "kube-system"),
            Risk.DISRUPTIVE,
        )
    ]
    assert plan.manual == ()


def test_a_node_without_an_agent_pod_is_left_manual(cluster: inventory.Cluster) -> None:
    plan = catalogue.loaded().plan(
        "CIL-03",
        [cilium.AgentNotReady("k8s-node04-renamed", "Ready", "x", hostname="k8s-node04-renamed")],
        snapshot_with(cluster, []),
    )
    assert plan.actions == ()
    assert plan.manual == ("no agent pod to recreate on k8s-node04-renamed",)


def test_a_missing_daemonset_is_restored_by_the_release_upgrade(
    cluster: inventory.Cluster,
) -> None:
    plan = catalogue.loaded().plan(
        "CIL-03",
        [cilium.AgentDaemonSetAbsent("DaemonSet kube-system/cilium", "present", "absent")],
        snapshot_with(cluster, []),
    )
    assert [(a.change, a.risk) for a in plan.actions] == [(HelmUpgrade("cilium"), Risk.DISRUPTIVE)]
