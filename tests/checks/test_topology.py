"""Topology controls over hand-built snapshots of the reference definition."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import snapshot as snapshot_module
from checks import topology
from checks.findings import Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from tests.checks.builders import reference_cluster

GIB = 1024**3


def kube_node(node: inventory.Node, **status: Any) -> dict[str, Any]:
    """A Node as a Talos kubelet registers it on a healthy cluster of this definition."""
    labels = {"kubernetes.io/hostname": node.hostname}
    if node.is_control_plane:
        labels[topology.CONTROL_PLANE_LABEL] = ""
    body: dict[str, Any] = {
        "metadata": {"name": node.hostname, "labels": labels},
        "spec": {},
        "status": {
            "capacity": {"cpu": str(node.cpu), "memory": f"{node.memory_gib * GIB // 1024}Ki"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": "v1.35.2"},
        },
    }
    body["status"].update(status)
    return body


def snap(
    cluster: inventory.Cluster | None = None,
    nodes: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Snapshot:
    cluster = cluster or reference_cluster()
    values: dict[str, Any] = {
        "definition": cluster,
        "target": "test",
        "taken_at": dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        "kube": {"nodes": nodes if nodes is not None else [kube_node(n) for n in cluster.nodes]},
        "talos_versions": {n.name: "v1.12.5" for n in cluster.nodes},
        "kubernetes_version": "v1.35.2",
    }
    values.update(overrides)
    return Snapshot(**values)


def nodes_with(name: str, change: Any) -> list[dict[str, Any]]:
    """Every inventory node's Node, with *change* applied to the one of inventory node *name*."""
    built = []
    for node in reference_cluster().nodes:
        obj = kube_node(node)
        if node.name == name:
            change(obj)
        built.append(obj)
    return built


ALL_CHECKS = (
    topology.nodes_registered_and_ready,
    topology.control_plane_nodes_schedulable,
    topology.versions_as_declared,
    topology.capacity_as_declared,
)


@pytest.mark.parametrize("check", ALL_CHECKS)
def test_clean_cluster_has_no_findings(check: Any) -> None:
    assert check(snap()) == []


@pytest.mark.parametrize("check", ALL_CHECKS)
def test_unlisted_nodes_make_every_check_unobservable(check: Any) -> None:
    blind = snap(missing={"nodes": "the API did not answer"})
    with pytest.raises(Unobservable, match="the API did not answer"):
        check(blind)


def test_unregistered_node_is_named() -> None:
    nodes = [kube_node(n) for n in reference_cluster().nodes if n.name != "node03"]
    (finding,) = topology.nodes_registered_and_ready(snap(nodes=nodes))
    assert finding.target == "node03 (k8s-node03)"
    assert finding.observed == "not registered"


def test_node_whose_kubelet_stopped_posting_is_not_ready() -> None:
    def stop(obj: dict[str, Any]) -> None:
        obj["status"]["conditions"] = [
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
            }
        ]

    (finding,) = topology.nodes_registered_and_ready(snap(nodes=nodes_with("node01", stop)))
    assert finding.target == "node01 (k8s-node01)"
    assert finding.observed.startswith("Ready=Unknown (NodeStatusUnknown")
    assert "stopped posting" in finding.observed


def test_extra_nodes_outside_the_inventory_are_not_judged() -> None:
    extra = kube_node(reference_cluster().nodes[0])
    extra["metadata"]["name"] = "k8s-worker-0999"
    extra["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    nodes = [kube_node(n) for n in reference_cluster().nodes] + [extra]
    assert topology.nodes_registered_and_ready(snap(nodes=nodes)) == []
    assert topology.capacity_as_declared(snap(nodes=nodes)) == []


def test_control_plane_taint_makes_the_node_unschedulable() -> None:
    def taint(obj: dict[str, Any]) -> None:
        obj["spec"]["taints"] = [{"key": topology.CONTROL_PLANE_LABEL, "effect": "NoSchedule"}]

    (finding,) = topology.control_plane_nodes_schedulable(snap(nodes=nodes_with("node02", taint)))
    assert finding.target == "node02 (k8s-node02)"
    assert finding.observed == f"tainted {topology.CONTROL_PLANE_LABEL}:NoSchedule"


def test_readiness_taints_are_left_to_the_readiness_control() -> None:
    def down(obj: dict[str, Any]) -> None:
        obj["spec"]["taints"] = [
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            {"key": "example.com/soft", "effect": "PreferNoSchedule"},
        ]

    assert topology.control_plane_nodes_schedulable(snap(nodes=nodes_with("node01", down))) == []


def test_cordoned_node_and_missing_label_are_findings() -> None:
    def cordon_and_unlabel(obj: dict[str, Any]) -> None:
        obj["spec"]["unschedulable"] = True
        obj["spec"]["taints"] = [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        ]
        del obj["metadata"]["labels"][topology.CONTROL_PLANE_LABEL]

    findings = topology.control_plane_nodes_schedulable(
        snap(nodes=nodes_with("node04", cordon_and_unlabel))
    )
    assert {f.observed for f in findings} == {
        "no control-plane label",
        "cordoned (spec.unschedulable)",
    }
    assert {f.target for f in findings} == {"node04 (k8s-node04)"}


def test_worker_without_control_plane_label_conforms() -> None:
    cluster = reference_cluster()
    first = dataclasses.replace(cluster.nodes[0], roles=frozenset({inventory.Role.WORKER}))
    workers = dataclasses.replace(cluster, nodes=(first, *cluster.nodes[1:]))
    assert topology.control_plane_nodes_schedulable(snap(cluster=workers)) == []


def test_unregistered_node_makes_schedulability_unobservable() -> None:
    nodes = [kube_node(n) for n in reference_cluster().nodes if n.name != "node05"]
    with pytest.raises(Unobservable, match="node05"):
        topology.control_plane_nodes_schedulable(snap(nodes=nodes))


def test_each_wrong_version_is_named_with_its_component() -> None:
    def old_kubelet(obj: dict[str, Any]) -> None:
        obj["status"]["nodeInfo"]["kubeletVersion"] = "v1.34.1"

    versions = {n.name: "v1.12.5" for n in reference_cluster().nodes} | {"node02": "v1.11.3"}
    findings = topology.versions_as_declared(
        snap(
            nodes=nodes_with("node06", old_kubelet),
            talos_versions=versions,
            kubernetes_version="v1.34.1",
        )
    )
    assert {(f.target, f.expected, f.observed) for f in findings} == {
        ("node02 (k8s-node02)", "Talos v1.12.5", "v1.11.3"),
        ("node06 (k8s-node06) kubelet", "Kubernetes v1.35.2", "v1.34.1"),
        ("Kubernetes API server", "Kubernetes v1.35.2", "v1.34.1"),
    }


def test_silent_node_makes_versions_unobservable_with_its_reason() -> None:
    versions = {n.name: "v1.12.5" for n in reference_cluster().nodes if n.name != "node01"}
    key = snapshot_module.on_node(snapshot_module.TALOS_VERSION, "node01")
    silent = snap(talos_versions=versions, missing={key: "connection refused"})
    with pytest.raises(Unobservable, match=r"node01 \(k8s-node01\): connection refused"):
        topology.versions_as_declared(silent)


def test_wrong_version_still_fails_when_another_source_is_missing() -> None:
    partial = snap(
        kubernetes_version="v1.36.0",
        missing={snapshot_module.TALOS_VERSION: "talosctl failed"},
    )
    (finding,) = topology.versions_as_declared(partial)
    assert finding.observed == "v1.36.0"


@pytest.mark.parametrize(
    ("memory", "conforms"),
    [
        (f"{8 * GIB // 1024}Ki", True),  # what the simulator reports: exactly the nominal size
        ("7990140Ki", True),  # a real 8 GiB mini PC's MemTotal (about 7.62 GiB)
        ("7.5Gi", True),
        ("7Gi", False),  # a missing module
        ("9Gi", False),  # more than declared: the inventory is wrong
        ("lots", False),
    ],
)
def test_memory_capacity_tolerance(memory: str, conforms: bool) -> None:
    def set_memory(obj: dict[str, Any]) -> None:
        obj["status"]["capacity"]["memory"] = memory

    findings = topology.capacity_as_declared(snap(nodes=nodes_with("node01", set_memory)))
    assert (findings == []) is conforms
    if not conforms:
        assert findings[0].target == "node01 (k8s-node01)"
        assert "8 GiB" in findings[0].expected


def test_cpu_capacity_must_match_and_millicores_count() -> None:
    def millicores(obj: dict[str, Any]) -> None:
        obj["status"]["capacity"]["cpu"] = "6000m"

    def hyperthreads(obj: dict[str, Any]) -> None:
        obj["status"]["capacity"]["cpu"] = "12"

    assert topology.capacity_as_declared(snap(nodes=nodes_with("node02", millicores))) == []
    (finding,) = topology.capacity_as_declared(snap(nodes=nodes_with("node02", hyperthreads)))
    assert (finding.expected, finding.observed) == ("6 CPUs", "12 CPUs")


def test_node_without_capacity_is_unobservable() -> None:
    def no_capacity(obj: dict[str, Any]) -> None:
        del obj["status"]["capacity"]

    with pytest.raises(Unobservable, match="node03"):
        topology.capacity_as_declared(snap(nodes=nodes_with("node03", no_capacity)))


@given(st.integers(min_value=0, max_value=2**50))
def test_quantity_reads_binary_suffixes(value: int) -> None:
    assert topology.quantity(f"{value}Ki") == Decimal(value) * 1024
    assert topology.quantity(str(value)) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", Decimal("0.25")), ("1e3", Decimal(1000)), ("2G", Decimal(2 * 10**9)), ("x", None)],
)
def test_quantity_examples(text: str, value: Decimal | None) -> None:
    assert topology.quantity(text) == value


def test_any_blocking_taint_is_typed_with_its_key_and_effect() -> None:
    def taint(obj: dict[str, Any]) -> None:
        obj["spec"]["taints"] = [
            {"key": "dedicated", "value": "infra", "effect": "NoExecute"},
            {"key": "example.com/soft", "effect": "PreferNoSchedule"},
        ]

    [finding] = topology.control_plane_nodes_schedulable(snap(nodes=nodes_with("node04", taint)))
    assert isinstance(finding, topology.NodeTainted)
    assert (finding.target, finding.node) == ("node04 (k8s-node04)", "node04")
    assert finding.observed == "tainted dedicated=infra:NoExecute"
    assert finding.keys == (("dedicated", "NoExecute"),)
