"""Cluster controllers over the shipped definition: what the article's cluster looks like.

The six nodes are configured with the rendered configs through the Talos
lifecycle, bootstrapped, then Cilium is installed from the shipped values
with the chart renderer, as ``helm install`` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioning.config import render
from provisioning.definition import inventory
from simulator.controllers import cluster
from simulator.helm import values
from simulator.helm.charts import catalogue
from simulator.kube.objects import ObjectStore
from simulator.state.site import site_from_cluster
from simulator.talos.lifecycle import Lifecycle
from tests.simulator.test_controllers_core import NOW, condition, new_store, pods, rt, taint_keys

ROOT = Path(__file__).resolve().parents[2]
NODES = [f"k8s-node0{i}" for i in range(1, 7)]
Obj = dict[str, Any]


def _install_cilium(store: ObjectStore) -> None:
    chart = catalogue()["cilium"]
    shipped = values.load_file(ROOT / "cluster" / "helm" / "cilium-values.yaml")
    merged = values.coalesce(chart.defaults, shipped)
    for obj in chart.render(
        merged, release="cilium", namespace="kube-system", version=chart.version
    ):
        found = store.registry.by_kind(obj["apiVersion"], obj["kind"])
        if found is not None and obj["kind"] in ("DaemonSet", "Deployment"):
            store.create(found, obj["metadata"].get("namespace", ""), obj)


@pytest.fixture(scope="module")
def shipped() -> tuple[Lifecycle, ObjectStore, dict[str, Obj]]:
    definition = inventory.load_cluster(ROOT / "cluster", display="cluster")
    rendered = render.render_cluster(definition)
    site = site_from_cluster(definition)
    for machine in site.machines.values():
        for disk in machine.hardware.disks:
            disk.signatures = []  # the operator wiped them (article lesson 1)
    life = Lifecycle(site)
    for name, machine in site.machines.items():
        life.apply_config(machine.ip, rendered[name].to_yaml(), insecure=True)
    life.bootstrap(site.machines["node01"].ip)
    store = new_store()
    cluster.reconcile(site, store, now=NOW)
    before = {n: store.get(rt(store, "", "nodes"), "", n) for n in NODES}
    _install_cilium(store)
    cluster.reconcile(site, store, now=NOW)
    return life, store, before


def test_six_nodes_not_ready_before_cilium(shipped: tuple[Lifecycle, ObjectStore, Obj]) -> None:
    _, _, before = shipped
    assert sorted(before) == NODES
    assert {condition(n, "Ready")["status"] for n in before.values()} == {"False"}


def test_nodes_ready_schedulable_and_labelled(shipped: tuple[Lifecycle, ObjectStore, Obj]) -> None:
    _, store, _ = shipped
    for name in NODES:
        node = store.get(rt(store, "", "nodes"), "", name)
        assert condition(node, "Ready")["status"] == "True"
        assert taint_keys(node) == set()  # allowSchedulingOnControlPlanes: true
        labels = node["metadata"]["labels"]
        storage = labels.get("node.longhorn.io/create-default-disk") == "true"
        assert storage == (name != "k8s-node01")


def test_no_kube_proxy_and_two_operators(shipped: tuple[Lifecycle, ObjectStore, Obj]) -> None:
    _, store, _ = shipped
    proxies = store.list(
        rt(store, "apps", "daemonsets"), "kube-system", label_selector="k8s-app=kube-proxy"
    )
    assert proxies["items"] == []
    operators = pods(store, "kube-system", **{"io.cilium/app": "operator"})
    assert len({p["spec"]["nodeName"] for p in operators}) == 2
    assert {p["status"]["phase"] for p in operators} == {"Running"}
    cilium_nodes = store.list(rt(store, "cilium.io", "ciliumnodes", "v2"))["items"]
    assert sorted(c["metadata"]["name"] for c in cilium_nodes) == NODES
