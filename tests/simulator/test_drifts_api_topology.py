"""API-endpoint and topology drifts change machine state; what Talos and kubelets report follows.

Fast, in-process: each test applies one drift to a copy of the provisioned
cluster of :mod:`tests.simulator.test_drifts` (its ``ctx`` fixture) and reads
back what the controls would observe -- AddressStatus and KubePrismStatus
resources through the simulated Talos resource layer, the Talos version the
machine API reports, the Node's capacity after a controller pass -- so a
drift that only edited a result, or a result that ignores the state, fails
here before the slower end-to-end tests in tests/suite run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from provisioning.definition import inventory
from remediation.nodes import installer
from simulator.controllers import cluster as core
from simulator.drifts import (
    DriftContext,
    DriftError,
    apply_to,
    config_documents,
    edit_config,
    v1alpha1,
)
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import Site, SiteStore, Stage
from simulator.talos import resources
from simulator.talos.lifecycle import Lifecycle
from tests.simulator.provisioned_cluster import NOW, ROOT

VIP = "10.10.20.10"
GIB = 1024**3


def _site(ctx: DriftContext) -> Site:
    return SiteStore(ctx.kv).load()


def _addresses(site: Site, name: str) -> list[str]:
    typedef = resources.resolve_type("addressstatuses")
    return [r.spec["address"] for r in resources.resources(site, site.machines[name], typedef)]


def _kubeprism(site: Site, name: str) -> list[object]:
    typedef = resources.resolve_type("kubeprismstatuses")
    return [r.spec for r in resources.resources(site, site.machines[name], typedef)]


def _vip_holders(site: Site) -> list[str]:
    return [name for name in sorted(site.machines) if f"{VIP}/32" in _addresses(site, name)]


def test_vip_static_address_makes_a_second_node_answer_for_the_vip(ctx: DriftContext) -> None:
    assert _vip_holders(_site(ctx)) == ["node01"]  # the elected holder of the clean cluster
    apply_to(ctx, "api_endpoint.vip_static_address")
    site = _site(ctx)
    assert _vip_holders(site) == ["node01", "node02"]
    # The election is unchanged and node02 keeps its own address first (its node IP).
    assert site.vip_holders == {VIP: "node01"}
    assert _addresses(site, "node02")[0] == "10.10.20.17/24"
    assert site.machines["node02"].ip == "10.10.20.17"


def test_vip_static_address_on_a_named_node_but_not_on_the_holder(ctx: DriftContext) -> None:
    with pytest.raises(DriftError, match="elected holder"):
        apply_to(ctx, "api_endpoint.vip_static_address", "node01")
    apply_to(ctx, "api_endpoint.vip_static_address", "node05")
    assert _vip_holders(_site(ctx)) == ["node01", "node05"]
    with pytest.raises(DriftError, match="already carries"):
        apply_to(ctx, "api_endpoint.vip_static_address", "node05")


def test_disable_kubeprism_removes_that_nodes_kubeprism_status(ctx: DriftContext) -> None:
    assert _kubeprism(_site(ctx), "node03") == [{"host": "127.0.0.1:7445", "healthy": True}]
    apply_to(ctx, "api_endpoint.disable_kubeprism", "node03")
    site = _site(ctx)
    assert _kubeprism(site, "node03") == []
    assert _kubeprism(site, "node04") == [{"host": "127.0.0.1:7445", "healthy": True}]
    # The stored config follows, so a reboot keeps the drift.
    assert "enabled: false" in (site.machines["node03"].persistent_config or "")
    with pytest.raises(DriftError, match="nothing to disable"):
        apply_to(ctx, "api_endpoint.disable_kubeprism", "node03")


def _agents(store: ObjectStore) -> dict[str, dict[str, Any]]:
    """The Cilium agent pods by node name."""
    pods = store.registry.lookup("", "v1", "pods")
    assert pods is not None
    listed = store.list(pods, "kube-system", label_selector="k8s-app=cilium")["items"]
    return {p["spec"]["nodeName"]: p for p in listed}


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])


def test_disable_kubeprism_crash_loops_that_nodes_cilium_agent_until_it_is_back(
    ctx: DriftContext,
) -> None:
    """The agent dials localhost:7445 (the chart's k8sServiceHost/Port); nothing listens there."""
    site = _site(ctx)
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW)
    before = _agents(store)
    assert all(_ready(p) for p in before.values()), before
    apply_to(ctx, "api_endpoint.disable_kubeprism", "node03")
    sites = SiteStore(ctx.kv)
    site = sites.load()
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=1))
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=3))
    agents = _agents(store)
    assert sorted(n for n, p in agents.items() if not _ready(p)) == ["k8s-node03"]
    crashed = agents["k8s-node03"]
    assert crashed["metadata"]["uid"] == before["k8s-node03"]["metadata"]["uid"]
    assert crashed["status"]["phase"] == "Running"
    (status,) = crashed["status"]["containerStatuses"]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["restartCount"] == 3  # 10 s, 20 s, 40 s back-offs in two minutes
    assert (
        "dial tcp [::1]:7445: connect: connection refused"
        in (status["lastState"]["terminated"]["message"])
    )
    # The Node keeps its CNI (the agent's config is already on disk): still Ready.
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    node = store.get(nodes, "", "k8s-node03")
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    # KubePrism back on (the re-applied config): the kubelet's next restart succeeds.
    machine = site.machines["node03"]
    with edit_config(machine) as docs:
        v1alpha1(docs, machine)["machine"]["features"]["kubePrism"]["enabled"] = True
    sites.save(site)
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=4))
    healed = _agents(store)["k8s-node03"]
    assert healed["metadata"]["uid"] == crashed["metadata"]["uid"]  # the same pod
    assert _ready(healed)


def test_a_kubeprism_port_other_than_the_agents_cuts_it_off_too(ctx: DriftContext) -> None:
    sites = SiteStore(ctx.kv)
    site = sites.load()
    machine = site.machines["node04"]
    with edit_config(machine) as docs:
        v1alpha1(docs, machine)["machine"]["features"]["kubePrism"]["port"] = 7446
    sites.save(site)
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW)
    agents = _agents(store)
    assert sorted(n for n, p in agents.items() if not _ready(p)) == ["k8s-node04"]


def test_old_talos_is_reported_and_an_upgrade_to_the_declared_image_fixes_it(
    ctx: DriftContext,
) -> None:
    apply_to(ctx, "topology.old_talos", "node04")
    site = _site(ctx)
    machine = site.machines["node04"]
    assert machine.talos_version == "v1.12.4"
    assert machine.image.endswith(":v1.12.4")
    assert site.machines["node05"].talos_version == "v1.12.5"
    # The schematic (and so the extensions) is the declared one.
    assert machine.schematic == site.machines["node05"].schematic

    # What TOP-03's planner runs: talosctl upgrade with the declared installer image.
    shipped = inventory.load_cluster(ROOT / "cluster", display="cluster")
    image = installer(shipped)
    assert image.endswith(":v1.12.5")
    Lifecycle(site).upgrade(machine.ip, image)
    assert (machine.talos_version, machine.image, machine.stage) == (
        "v1.12.5",
        image,
        Stage.RUNNING,
    )


def test_failed_dimm_halves_the_nodes_memory_capacity(ctx: DriftContext) -> None:
    apply_to(ctx, "topology.failed_dimm", "node03")
    site = _site(ctx)
    assert site.machines["node03"].stage is Stage.RUNNING  # it came back
    assert site.machines["node03"].hardware.memory_bytes == 8 * GIB  # of 16
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=1))
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    assert store.get(nodes, "", "k8s-node03")["status"]["capacity"]["memory"] == "8388608Ki"
    assert store.get(nodes, "", "k8s-node04")["status"]["capacity"]["memory"] == "16777216Ki"
    assert store.get(nodes, "", "k8s-node01")["status"]["capacity"]["memory"] == "8388608Ki"


def test_old_kubelet_is_the_version_that_nodes_kubelet_reports(ctx: DriftContext) -> None:
    apply_to(ctx, "topology.old_kubelet", "node02")
    site = _site(ctx)
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=1))
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    info = {
        n: store.get(nodes, "", n)["status"]["nodeInfo"]["kubeletVersion"]
        for n in ("k8s-node02", "k8s-node03")
    }
    assert info == {"k8s-node02": "v1.35.1", "k8s-node03": "v1.35.2"}


def test_fewer_cpus_is_the_capacity_that_nodes_kubelet_reports(ctx: DriftContext) -> None:
    apply_to(ctx, "topology.fewer_cpus", "node02")
    site = _site(ctx)
    assert site.machines["node02"].stage is Stage.RUNNING
    store = ObjectStore(ctx.kv, builtin_registry(), now=lambda: NOW)
    core.reconcile(site, store, now=NOW + dt.timedelta(minutes=1))
    nodes = store.registry.lookup("", "v1", "nodes")
    assert nodes is not None
    assert store.get(nodes, "", "k8s-node02")["status"]["capacity"]["cpu"] == "3"  # of 6


def test_vip_on_another_link_is_configured_there(ctx: DriftContext) -> None:
    apply_to(ctx, "api_endpoint.vip_wrong_link", "node03")
    site = _site(ctx)
    machine = site.machines["node03"]
    docs = config_documents(machine.config)
    assert {"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", "name": VIP, "link": "enp2s0"} in (
        docs
    )
    assert not any("vip" in i for i in docs[0]["machine"]["network"]["interfaces"])
