"""The shared control-plane config walk: which nodes, which section, and when it cannot judge."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from checks import control_plane_config as cpc
from checks.findings import Finding, Unobservable
from checks.snapshot import MACHINE_CONFIG
from provisioning.definition import inventory
from tests.checks.builders import Docs, machine_config_snapshot, unread_machine_config


def test_only_control_plane_nodes_are_walked_in_inventory_order(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    worker = frozenset({inventory.Role.WORKER, inventory.Role.STORAGE})
    nodes = tuple(
        dataclasses.replace(n, roles=worker) if n.name == "node05" else n for n in cluster.nodes
    )
    mixed = dataclasses.replace(cluster, nodes=nodes)
    configs, unread = cpc.control_plane_configs(machine_config_snapshot(mixed, rendered))
    assert [c.node.name for c in configs] == ["node01", "node02", "node03", "node04", "node06"]
    assert unread == {}


def test_unread_nodes_are_named_with_their_reason(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    partial = unread_machine_config(machine_config_snapshot(cluster, rendered), "node03", "node01")
    configs, unread = cpc.control_plane_configs(partial)
    assert list(unread) == ["node01 (k8s-node01)", "node03 (k8s-node03)"]
    assert "node03" not in {c.node.name for c in configs}
    with pytest.raises(Unobservable, match=r"^machine config not read from node01 \(k8s-node01\)"):
        cpc.verdict([], unread)
    finding = Finding("node02 (k8s-node02)", "x", "y")
    assert cpc.verdict([finding], unread) == [finding]


def test_nothing_read_is_one_reason_for_the_whole_control(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    clean = machine_config_snapshot(cluster, rendered)
    silent = dataclasses.replace(clean, talos={}, missing={MACHINE_CONFIG: "talosctl: timeout"})
    with pytest.raises(Unobservable, match="talosctl: timeout"):
        cpc.api_server_configs(silent)


@pytest.mark.parametrize("api_server", [None, "not a mapping", ["a", "list"]])
def test_missing_or_malformed_api_server_section_reads_as_empty(
    cluster: inventory.Cluster, rendered: dict[str, Docs], api_server: Any
) -> None:
    def replace(node: str, doc: dict[str, Any]) -> None:
        if api_server is None:
            del doc["cluster"]["apiServer"]
        else:
            doc["cluster"]["apiServer"] = api_server

    configs, _ = cpc.api_server_configs(machine_config_snapshot(cluster, rendered, replace))
    assert all(c.section == {} for c in configs)


def test_api_server_section_is_the_v1alpha1_documents(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    configs, _ = cpc.api_server_configs(machine_config_snapshot(cluster, rendered))
    assert all("admissionControl" in c.section for c in configs)
    assert cpc.v1alpha1([{"kind": "HostnameConfig"}, {"cluster": {}}]) == {"cluster": {}}
    assert cpc.v1alpha1([{"apiVersion": "v1alpha1", "kind": "LinkConfig"}]) == {}
