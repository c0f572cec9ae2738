"""SEC-01 over hand-built snapshots of the kubelets' running configurations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from checks import judged, seccomp
from checks import snapshot as snap
from checks.findings import Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory


def configz(cluster: inventory.Cluster) -> dict[str, dict[str, Any]]:
    return {
        n.name: {"clusterDomain": "cluster.local", "seccompDefault": True} for n in cluster.nodes
    }


def snapshot_of(cluster: inventory.Cluster, configs: Any, **kw: Any) -> Snapshot:
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 3, 1, tzinfo=UTC),
        configz=configs,
        **kw,
    )


def test_clean_cluster_holds(cluster: inventory.Cluster) -> None:
    assert seccomp.seccomp_default_on_every_node(snapshot_of(cluster, configz(cluster))) == []


def test_disabled_unset_and_unread_kubelets_are_findings(cluster: inventory.Cluster) -> None:
    configs = configz(cluster)
    configs["node02"]["seccompDefault"] = False
    del configs["node03"]["seccompDefault"]
    configs["node04"]["seccompDefault"] = "true"  # a string is not the boolean the kubelet uses
    del configs["node06"]
    del configs["node01"]
    why = {snap.on_node(snap.CONFIGZ, "node06"): "configz failed: 503"}
    found = seccomp.seccomp_default_on_every_node(snapshot_of(cluster, configs, missing=why))
    assert {f.target: f.observed for f in found} == {
        "node02 (k8s-node02) kubelet": "seccompDefault: false",
        "node03 (k8s-node03) kubelet": "seccompDefault unset (defaults to false)",
        "node04 (k8s-node04) kubelet": "seccompDefault: 'true'",
        "node06 (k8s-node06) kubelet": "kubelet configuration not read: configz failed: 503",
        "node01 (k8s-node01) kubelet": "kubelet configuration not read: no answer",
    }
    assert all(f.expected == "seccompDefault: true" for f in found)
    assert all(f.doc.startswith("https://kubernetes.io/") for f in found)


def test_unobservable_when_no_kubelet_answered(cluster: inventory.Cluster) -> None:
    with pytest.raises(Unobservable, match="no node's kubelet configuration"):
        seccomp.seccomp_default_on_every_node(snapshot_of(cluster, {}))
    missing = snapshot_of(cluster, {}, missing={snap.CONFIGZ: "403 Forbidden: nodes/proxy"})
    with pytest.raises(Unobservable, match="nodes/proxy"):
        seccomp.seccomp_default_on_every_node(missing)


def test_silent_kubelet_beside_conforming_ones_is_unobservable(cluster: inventory.Cluster) -> None:
    """A NotReady node is TOP-01's finding; here it makes the control unprovable, not failed."""
    configs = configz(cluster)
    del configs["node03"]
    why = {snap.on_node(snap.CONFIGZ, "node03"): "configz failed: 503 node not ready"}
    with pytest.raises(Unobservable) as skipped:
        seccomp.seccomp_default_on_every_node(snapshot_of(cluster, configs, missing=why))
    assert skipped.value.reason == (
        "node03 (k8s-node03) kubelet: kubelet configuration not read: configz failed: 503 "
        "node not ready (the 5 kubelets read have seccompDefault enabled)"
    )


# -- SEC-02 -----------------------------------------------------------------------------------


def pod(
    name: str,
    namespace: str = "default",
    pod_context: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "securityContext": pod_context or {},
            "containers": [{"name": "main", "image": "x", **(container or {})}],
        },
        "status": {"phase": phase},
    }


def pods_snapshot(cluster: inventory.Cluster, pods: list[dict[str, Any]]) -> Snapshot:
    names = ("default", "batch", "kube-system", "longhorn-system")
    return snapshot_of(
        cluster,
        configz(cluster),
        kube={
            snap.PODS.key: pods,
            snap.NAMESPACES.key: [{"metadata": {"name": n}} for n in names],
        },
    )


UNCONFINED = {"seccompProfile": {"type": "Unconfined"}}


def test_unconfined_containers_outside_the_exemptions_are_named(
    cluster: inventory.Cluster,
) -> None:
    pods = [
        pod("legacy", "batch", pod_context=UNCONFINED),
        pod("debug", container={"securityContext": UNCONFINED}),
        pod("tool", container={"securityContext": {"privileged": True}}),
        pod("old", annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        pod(
            "old-c",
            annotations={"container.seccomp.security.alpha.kubernetes.io/main": "unconfined"},
        ),
    ]
    findings = seccomp.no_unconfined_containers(pods_snapshot(cluster, pods))
    assert [(f.target, f.observed) for f in findings] == [
        (
            "Pod batch/legacy container main",
            "pod securityContext.seccompProfile.type: Unconfined",
        ),
        ("Pod default/debug container main", "securityContext.seccompProfile.type: Unconfined"),
        (
            "Pod default/tool container main",
            "securityContext.privileged: true (privileged containers always run Unconfined)",
        ),
        (
            "Pod default/old container main",
            "annotation seccomp.security.alpha.kubernetes.io/pod: unconfined",
        ),
        (
            "Pod default/old-c container main",
            "annotation container.seccomp.security.alpha.kubernetes.io/main: unconfined",
        ),
    ]
    assert all(isinstance(f, seccomp.UnconfinedContainer) for f in findings)
    assert "namespace batch is not exempt" in findings[0].expected


def test_confined_exempt_and_finished_pods_pass(cluster: inventory.Cluster) -> None:
    pods = [
        pod("plain"),  # no profile: the kubelet's seccompDefault gives RuntimeDefault
        pod("runtime", pod_context={"seccompProfile": {"type": "RuntimeDefault"}}),
        # The container's own profile wins over the pod's Unconfined.
        pod(
            "override",
            pod_context=UNCONFINED,
            container={"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
        ),
        pod("cilium", "kube-system", container={"securityContext": {"privileged": True}}),
        pod("done", pod_context=UNCONFINED, phase="Succeeded"),
    ]
    state = pods_snapshot(cluster, pods)
    assert seccomp.no_unconfined_containers(state) == []
    assert judged.passed(seccomp.no_unconfined_containers, state, {}) == "judged 2 namespaces"


def test_unlisted_pods_are_unobservable(cluster: inventory.Cluster) -> None:
    state = snapshot_of(cluster, configz(cluster), missing={snap.PODS.key: "403 Forbidden"})
    with pytest.raises(Unobservable, match="403 Forbidden"):
        seccomp.no_unconfined_containers(state)
