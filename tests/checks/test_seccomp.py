"""SEC-01 over hand-built snapshots of the kubelets' running configurations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from checks import seccomp
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
