"""``serve --nodes N``: synthesised workers become real worker nodes, and big LISTs stay whole.

Functional only -- how fast is measured by ``benchmarks/simulator_scale.py``,
never asserted here.  Most tests run the controllers in-process over the
shipped definition plus 50 synthetic workers (the same Talos lifecycle and
object store the server uses); one runs ``python -m simulator serve
--nodes 20`` as the suite does and talks to it only through ``talosctl``
and the official Kubernetes client.  The etcd client's cached range is
checked against a real etcd.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.config import render
from provisioning.definition import inventory
from simulator.controllers import cluster
from simulator.helm.charts import cilium_workloads
from simulator.kube.objects import ObjectStore
from simulator.state.machines import Site, Stage
from simulator.state.site import site_from_cluster
from simulator.store.etcd import EtcdKV, EtcdServer
from simulator.talos import convergence, synthetic
from simulator.talos.lifecycle import Lifecycle
from tests.simulator.test_controllers_core import (
    NOW,
    condition,
    install_cilium,
    new_store,
    rt,
    taint_keys,
)
from tests.simulator.test_serve import CP, Serving, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXTRA = 50
Obj = dict[str, Any]


def _site(extra: int, *, bootstrap: bool = True) -> Site:
    """The shipped six nodes configured (and bootstrapped), plus *extra* synthetic machines."""
    definition = inventory.load_cluster(ROOT / "cluster", display="cluster")
    rendered = render.render_cluster(definition)
    site = site_from_cluster(definition)
    synthetic.synthesise_workers(site, extra)
    for machine in site.machines.values():
        for disk in machine.hardware.disks:
            disk.signatures = []  # the operator wiped them
    life = Lifecycle(site)
    for name, result in rendered.items():
        life.apply_config(site.machines[name].ip, result.to_yaml(), insecure=True)
    if bootstrap:
        life.bootstrap(site.machines["node01"].ip)
    return site


@pytest.fixture(scope="module")
def scaled() -> tuple[Site, ObjectStore, list[Obj]]:
    """56 machines joined and reconciled; the Nodes before Cilium, the store after it."""
    site = _site(EXTRA)
    assert len(synthetic.join_synthetic_workers(site)) == EXTRA
    store = new_store()
    cluster.reconcile(site, store, now=NOW)
    before = store.list(rt(store, "", "nodes"))["items"]
    install_cilium(store)
    cluster.reconcile(site, store, now=NOW)
    return site, store, before


def _synthetic_node_names(site: Site) -> set[str]:
    return {
        convergence.hostname_of(m, convergence.view_of(m))
        for m in site.machines.values()
        if synthetic.is_synthetic(m)
    }


# -- joining ------------------------------------------------------------------------------------


def test_nothing_joins_before_bootstrap() -> None:
    site = _site(3, bootstrap=False)
    assert synthetic.join_synthetic_workers(site) == []
    assert {site.machines[f"worker-000{i}"].stage for i in (1, 2, 3)} == {Stage.MAINTENANCE}


def test_synthetic_workers_join_once_with_one_shared_worker_config() -> None:
    site = _site(3)
    assert synthetic.join_synthetic_workers(site) == ["worker-0001", "worker-0002", "worker-0003"]
    assert synthetic.join_synthetic_workers(site) == []  # idempotent
    workers = [site.machines[f"worker-000{i}"] for i in (1, 2, 3)]
    assert {m.stage for m in workers} == {Stage.RUNNING}
    assert all(m.installed for m in workers)
    assert len({m.config for m in workers}) == 1
    view = convergence.view_of(workers[0])
    assert view is not None
    assert view.machine_type == "worker"
    assert view.hostname is None  # Talos's stable default hostname, unique per machine
    assert len({convergence.hostname_of(m, view) for m in workers}) == 3
    assert {m.ip for m in workers} == {"10.200.0.1", "10.200.0.2", "10.200.0.3"}


def test_worker_config_keeps_no_control_plane_secrets_or_node_settings() -> None:
    site = _site(0)
    source = site.machines["node01"].config
    assert source is not None
    docs = [d for d in yaml.safe_load_all(synthetic.worker_config(source)) if d]
    v1alpha1 = next(d for d in docs if "machine" in d)
    machine, cluster_section = v1alpha1["machine"], v1alpha1["cluster"]
    assert machine["type"] == "worker"
    assert machine["ca"]["key"] == ""
    assert cluster_section["ca"]["key"] == ""
    for absent in ("apiServer", "etcd", "serviceAccount", "aggregatorCA", "scheduler"):
        assert absent not in cluster_section
    assert "disk" not in machine.get("install", {})
    assert "interfaces" not in machine.get("network", {})
    assert "nodeLabels" not in machine
    assert not [d for d in docs if d.get("kind") == "HostnameConfig"]
    original = next(d for d in yaml.safe_load_all(source) if d and "machine" in d)
    assert cluster_section["controlPlane"] == original["cluster"]["controlPlane"]


# -- what the Kubernetes side sees ------------------------------------------------------------


def test_every_machine_registers_a_node(scaled: tuple[Site, ObjectStore, list[Obj]]) -> None:
    site, store, before = scaled
    names = {n["metadata"]["name"] for n in store.list(rt(store, "", "nodes"))["items"]}
    assert len(names) == 6 + EXTRA
    assert _synthetic_node_names(site) <= names
    assert {condition(n, "Ready")["status"] for n in before} == {"False"}  # no CNI yet


def test_synthetic_nodes_are_ready_workers(scaled: tuple[Site, ObjectStore, list[Obj]]) -> None:
    site, store, _ = scaled
    for name in _synthetic_node_names(site):
        node = store.get(rt(store, "", "nodes"), "", name)
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert "node-role.kubernetes.io/control-plane" not in labels
        assert taint_keys(node) == set()
        assert condition(node, "Ready")["status"] == "True"
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"].startswith("10.200.")


def test_a_cilium_agent_runs_on_every_node(scaled: tuple[Site, ObjectStore, list[Obj]]) -> None:
    _, store, _ = scaled
    agents = store.list(rt(store, "", "pods"), "kube-system", label_selector="k8s-app=cilium")
    placed = [p["spec"]["nodeName"] for p in agents["items"]]
    assert len(placed) == len(set(placed)) == 6 + EXTRA
    assert {p["status"]["phase"] for p in agents["items"]} == {"Running"}
    ds = store.get(rt(store, "apps", "daemonsets"), "kube-system", "cilium")
    assert ds["status"]["desiredNumberScheduled"] == ds["status"]["numberReady"] == 6 + EXTRA


def test_plain_list_is_the_same_document_as_list(
    scaled: tuple[Site, ObjectStore, list[Obj]],
) -> None:
    _, store, _ = scaled
    pods = rt(store, "", "pods")
    assert json.loads(store.list_json(pods)) == store.list(pods)
    assert json.loads(store.list_json(pods)) == store.list(pods)  # served from the cache
    assert json.loads(store.list_json(pods, "kube-system")) == store.list(pods, "kube-system")


def test_plain_list_pages_cover_every_pod_once(
    scaled: tuple[Site, ObjectStore, list[Obj]],
) -> None:
    _, store, _ = scaled
    pods = rt(store, "", "pods")
    everything = [p["metadata"]["uid"] for p in store.list(pods)["items"]]
    seen: list[str] = []
    token = ""
    while True:
        page = json.loads(store.list_json(pods, limit=17, continue_token=token))
        assert len(page["items"]) <= 17
        seen += [p["metadata"]["uid"] for p in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == len(everything) - len(seen)
    assert seen == everything


# -- the etcd client's cached range -------------------------------------------------------------


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdKV]:
    with (
        EtcdServer(tmp_path_factory.mktemp("state") / "etcd") as server,
        EtcdKV(server.client_url, tls=server.client_tls) as kv,
    ):
        yield kv


def _values(kv: EtcdKV, prefix: str) -> dict[str, bytes]:
    entries, _ = kv.range(prefix)
    return {e.key: e.value for e in entries}


@pytest.mark.parametrize("changed", [1, 100])
def test_cached_range_sees_every_change(etcd: EtcdKV, changed: int) -> None:
    prefix = f"/scale-{changed}/"
    for i in range(150):
        etcd.put(f"{prefix}{i:03d}", b"first")
    assert set(_values(etcd, prefix).values()) == {b"first"}
    for i in range(changed):
        etcd.put(f"{prefix}{i:03d}", b"second")
    etcd.delete(f"{prefix}149")
    etcd.put(f"{prefix}150", b"new")
    with EtcdKV(etcd.url, tls=etcd.tls) as fresh:  # another client, nothing cached
        assert _values(etcd, prefix) == _values(fresh, prefix)
    assert list(_values(etcd, prefix).values()).count(b"second") == changed


def test_stamp_moves_on_put_and_delete(etcd: EtcdKV) -> None:
    prefix = "/stamp/"
    empty = etcd.stamp(prefix)
    assert empty == (0, 0)
    etcd.put(f"{prefix}a", b"1")
    one = etcd.stamp(prefix)
    etcd.put("/elsewhere", b"1")
    assert etcd.stamp(prefix) == one
    etcd.put(f"{prefix}a", b"2")
    two = etcd.stamp(prefix)
    assert two[0] == 1
    assert two[1] > one[1]
    etcd.delete(f"{prefix}a")
    assert etcd.stamp(prefix)[0] == 0


# -- through the served simulator -----------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """``serve --nodes 20`` with the six shipped nodes configured and bootstrapped."""
    work = tmp_path_factory.mktemp("scale")
    shutil.copytree(ROOT / "cluster", work / "cluster")
    definition = inventory.load_cluster(work / "cluster", "cluster")
    rendered = render.render_cluster(definition)
    serving = Serving(work / "state", work / "cluster", work)
    serving.start("--nodes", "20")
    try:
        for node in definition.nodes:
            path = work / f"{node.name}.yaml"
            path.write_text(rendered[node.name].to_yaml(), encoding="utf-8")
            serving.talosctl("apply-config", "--insecure", "-n", str(node.ip), "--file", str(path))
        serving.talosctl("-n", CP, "bootstrap")
        serving.talosctl("-n", CP, "kubeconfig", str(serving.state / "kubeconfig"), "--force")
        yield serving
    finally:
        serving.stop()


def _ready(conditions: list[Any] | None) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def test_served_cluster_has_every_node_and_lists_every_pod(served: Serving) -> None:
    from kubernetes import client

    # The client's models type every field Optional; the checks below are on known shapes.
    api: Any = client.CoreV1Api(served.kube())
    apps: Any = client.AppsV1Api(api.api_client)
    wait_until(lambda: len(api.list_node().items) == 26, 60, "26 nodes")
    agent = cilium_workloads.agent({}, "kube-system")
    apps.create_namespaced_daemon_set("kube-system", agent)

    def all_ready() -> bool:
        nodes = api.list_node().items
        ready = [n for n in nodes if _ready(n.status.conditions)]
        return len(ready) == 26

    wait_until(all_ready, 120, "26 Ready nodes")
    pods = api.list_pod_for_all_namespaces()
    agents = [p for p in pods.items if (p.metadata.labels or {}).get("k8s-app") == "cilium"]
    assert len({p.spec.node_name for p in agents}) == 26
    paged: list[str] = []
    token = None
    while True:
        page = api.list_pod_for_all_namespaces(limit=10, _continue=token)
        paged += [p.metadata.uid for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert sorted(paged) == sorted(p.metadata.uid for p in pods.items)
    status = served.status()
    assert "node worker-0020 10.200.0.20: running" in status.stdout
