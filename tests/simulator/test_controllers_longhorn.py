"""The simulated Longhorn 1.8.1 manager: settings, StorageClass, Node CRs, volumes, replicas.

In-process over MemoryKV: the chart's objects come from the Longhorn chart
renderer with the shipped values; Kubernetes Nodes and the Running
longhorn-manager pods are created here, standing in for the core
controllers.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import render
from provisioning.definition import inventory, schematic
from simulator.controllers import longhorn, longhorn_nodes, longhorn_volumes, store_access
from simulator.controllers.longhorn import reconcile_longhorn
from simulator.helm import values
from simulator.helm.charts import catalogue
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.state.machines import VANILLA_SCHEMATIC, Site, Stage, Volume
from simulator.state.site import site_from_cluster
from simulator.store.kv import MemoryKV
from simulator.talos import convergence
from tests.simulator import talos_site

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=5)
NS = "longhorn-system"
MERGE = "application/merge-patch+json"


# -- building a cluster ---------------------------------------------------------------------


def _rt(store: ObjectStore, group: str, plural: str, version: str = "v1") -> ResourceType:
    found = store.registry.lookup(group, version, plural)
    assert found is not None, f"{group}/{version}/{plural} not served"
    return found


def _lh(store: ObjectStore, plural: str) -> ResourceType:
    return _rt(store, "longhorn.io", plural, "v1beta2")


def _chart_objects(user: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    found = catalogue()["longhorn"]
    shipped = values.load_file(ROOT / "cluster" / "helm" / "longhorn-values.yaml")
    merged = values.coalesce(found.defaults, values.coalesce(user or {}, shipped))
    return found.render(merged, release="longhorn", namespace=NS, version=found.version)


def _new_store(user: dict[str, Any] | None = None) -> ObjectStore:
    store = ObjectStore(MemoryKV(), builtin_registry(), now=lambda: NOW)
    for ns in (NS, "default", "apps"):
        store.create(_rt(store, "", "namespaces"), "", {"metadata": {"name": ns}})
    objects = _chart_objects(user)
    objects.sort(key=lambda o: o["kind"] != "CustomResourceDefinition")
    for obj in objects:
        rt = store.registry.by_kind(obj["apiVersion"], obj["kind"])
        if rt is not None:
            store.create(rt, obj["metadata"].get("namespace", ""), obj)
    return store


@functools.lru_cache(maxsize=32)
def _config(index: int, *, storage: bool, rshared: bool = True, labelled: bool = True) -> str:
    docs = list(yaml.safe_load_all(talos_site.config(index, storage=storage)))
    if storage:
        machine = docs[0]["machine"]
        if labelled:
            machine["nodeLabels"] = {"node.longhorn.io/create-default-disk": "true"}
        options = ["bind", "rshared", "rw"] if rshared else ["bind", "rw"]
        machine["kubelet"]["extraMounts"] = [
            {
                "destination": "/var/lib/longhorn",
                "type": "bind",
                "source": "/var/lib/longhorn",
                "options": options,
            }
        ]
    return yaml.safe_dump_all(docs)


def _run(site: Site, name: str, config: str, schematic_id: str) -> None:
    machine = site.machines[name]
    machine.config = config
    machine.stage = Stage.RUNNING
    machine.schematic = schematic_id
    view = longhorn_nodes.view_of(machine)
    assert view is not None
    convergence.provision_user_disks(machine, view)


def _site(
    storage: tuple[int, ...],
    count: int,
    *,
    rshared: bool = True,
    labelled: bool = True,
    schematic_id: str = talos_site.SCHEMATIC,
    dirty: bool = False,
) -> Site:
    site = talos_site.site(count, dirty_storage=dirty)
    for index in range(1, count + 1):
        config = _config(index, storage=index in storage, rshared=rshared, labelled=labelled)
        _run(site, f"node{index:02d}", config, schematic_id)
    return site


@functools.lru_cache(maxsize=32)
def _labels_of(config: str) -> dict[str, str]:
    first = next(iter(yaml.safe_load_all(config)))
    return dict((first.get("machine") or {}).get("nodeLabels") or {})


def _add_kube_nodes(store: ObjectStore, site: Site) -> None:
    for machine in site.machines.values():
        assert machine.config is not None
        hostname = convergence.hostname_of(machine, longhorn_nodes.view_of(machine))
        store.create(
            _rt(store, "", "nodes"),
            "",
            {
                "metadata": {"name": hostname, "labels": _labels_of(machine.config)},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": machine.ip}],
                },
            },
        )
        _pod(store, NS, f"longhorn-manager-{machine.name}", hostname, {"app": "longhorn-manager"})


def _pod(
    store: ObjectStore,
    namespace: str,
    name: str,
    node: str,
    labels: dict[str, str],
    claim: str = "",
) -> None:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
    if claim:
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    store.create(
        _rt(store, "", "pods"),
        namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": spec,
            "status": {"phase": "Running"},
        },
    )


def _set_node_ready(store: ObjectStore, name: str, ready: bool) -> None:
    body = {"status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}
    store.patch(
        _rt(store, "", "nodes"), "", name, json.dumps(body).encode(), MERGE, subresource="status"
    )


def _pvc(store: ObjectStore, name: str, *, size: str = "2Gi", cls: str | None = None) -> str:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if cls is not None:
        spec["storageClassName"] = cls
    created = store.create(
        _rt(store, "", "persistentvolumeclaims"), "apps", {"metadata": {"name": name}, "spec": spec}
    )
    return f"pvc-{created['metadata']['uid']}"


def _cluster(
    storage: tuple[int, ...] = (2, 3, 4), count: int = 4, **kwargs: Any
) -> tuple[Site, ObjectStore]:
    site = _site(storage, count, **kwargs)
    store = _new_store()
    _add_kube_nodes(store, site)
    reconcile_longhorn(site, store, now=NOW)
    return site, store


def _get(store: ObjectStore, plural: str, name: str) -> dict[str, Any]:
    return store.get(_lh(store, plural), NS, name)


def _replicas(store: ObjectStore, volume: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = store.list(
        _lh(store, "replicas"), NS, label_selector=f"longhornvolume={volume}"
    )["items"]
    return found


def _cond(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = obj["status"]["conditions"] if "status" in obj else obj["conditions"]
    for cond in conditions:
        if cond["type"] == kind:
            found: dict[str, Any] = cond
            return found
    raise AssertionError(f"no condition {kind}")


# -- gating -----------------------------------------------------------------------------------


def test_nothing_happens_without_a_running_manager_pod() -> None:
    site = _site((2,), 2)
    store = _new_store()
    reconcile_longhorn(site, store, now=NOW)
    assert store.list(_lh(store, "settings"), NS)["items"] == []
    assert store.list(_rt(store, "storage.k8s.io", "storageclasses"))["items"] == []


# -- settings ---------------------------------------------------------------------------------


def test_settings_from_configmap_and_defaults() -> None:
    _, store = _cluster()
    assert _get(store, "settings", "default-replica-count")["value"] == "3"
    assert _get(store, "settings", "default-data-path")["value"] == "/var/lib/longhorn/"
    assert _get(store, "settings", "create-default-disk-labeled-nodes")["value"] == "true"
    # Not in the shipped ConfigMap: the 1.8.1 default.
    auto_balance = _get(store, "settings", "replica-auto-balance")
    assert auto_balance["value"] == "disabled"
    assert auto_balance["status"] == {"applied": True}
    # The chart's own defaultSettings (priorityClass) arrive through the ConfigMap too.
    assert _get(store, "settings", "priority-class")["value"] == "longhorn-critical"


def test_edited_setting_kept_unless_the_configmap_names_it() -> None:
    site, store = _cluster()
    rt = _lh(store, "settings")
    store.patch(rt, NS, "replica-auto-balance", b'{"value":"best-effort"}', MERGE)
    store.patch(rt, NS, "default-replica-count", b'{"value":"2"}', MERGE)
    reconcile_longhorn(site, store, now=LATER)
    assert _get(store, "settings", "replica-auto-balance")["value"] == "best-effort"
    # longhorn-manager re-syncs settings the ConfigMap sets (UpdateCustomizedSettings).
    assert _get(store, "settings", "default-replica-count")["value"] == "3"


# -- StorageClass -----------------------------------------------------------------------------


def test_storageclass_from_configmap() -> None:
    _, store = _cluster()
    sc = store.get(_rt(store, "storage.k8s.io", "storageclasses"), "", "longhorn")
    cm = store.get(_rt(store, "", "configmaps"), NS, "longhorn-storageclass")
    assert sc["provisioner"] == "driver.longhorn.io"
    assert sc["parameters"]["numberOfReplicas"] == "3"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    annotation = sc["metadata"]["annotations"][longhorn.LAST_APPLIED_ANNOTATION]
    assert annotation == cm["data"]["storageclass.yaml"]


def test_storageclass_recreated_when_configmap_text_changes() -> None:
    site, store = _cluster()
    sc_rt = _rt(store, "storage.k8s.io", "storageclasses")
    before = store.get(sc_rt, "", "longhorn")
    cm_rt = _rt(store, "", "configmaps")
    text = store.get(cm_rt, NS, "longhorn-storageclass")["data"]["storageclass.yaml"]
    changed = text.replace('numberOfReplicas: "3"', 'numberOfReplicas: "2"')
    assert changed != text
    body = json.dumps({"data": {"storageclass.yaml": changed}}).encode()
    store.patch(cm_rt, NS, "longhorn-storageclass", body, MERGE)
    reconcile_longhorn(site, store, now=LATER)
    after = store.get(sc_rt, "", "longhorn")
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["parameters"]["numberOfReplicas"] == "2"


def test_storageclass_edited_by_hand_is_left_while_annotation_matches() -> None:
    site, store = _cluster()
    sc_rt = _rt(store, "storage.k8s.io", "storageclasses")
    store.patch(sc_rt, "", "longhorn", b'{"metadata":{"labels":{"team":"x"}}}', MERGE)
    uid = store.get(sc_rt, "", "longhorn")["metadata"]["uid"]
    reconcile_longhorn(site, store, now=LATER)
    assert store.get(sc_rt, "", "longhorn")["metadata"]["uid"] == uid


# -- Node CRs ---------------------------------------------------------------------------------


def test_default_disk_only_on_labelled_nodes_with_the_mount() -> None:
    site, store = _cluster(storage=(2, 3), count=3)
    with_disk = _get(store, "nodes", "k8s-node02")
    (disk_name,) = with_disk["spec"]["disks"]
    disk = with_disk["spec"]["disks"][disk_name]
    assert disk_name.startswith("default-disk-")
    assert disk["path"] == "/var/lib/longhorn/"
    mounted = site.machines["node02"].volumes
    size = next(v.size for v in mounted.values() if v.mount_point == "/var/lib/longhorn")
    assert disk["storageReserved"] == size * 30 // 100
    status = with_disk["status"]["diskStatus"][disk_name]
    assert status["storageMaximum"] == size
    assert _cond(status, "Ready")["status"] == "True"
    assert _get(store, "nodes", "k8s-node01")["spec"]["disks"] == {}


def test_no_disk_while_the_partition_is_not_provisioned() -> None:
    # Old signatures: the user-disk controller waits, nothing is mounted at the data path.
    _, store = _cluster(storage=(2,), count=2, dirty=True)
    assert _get(store, "nodes", "k8s-node02")["spec"]["disks"] == {}


def test_no_disk_on_an_unlabelled_node_even_with_the_mount() -> None:
    _, store = _cluster(storage=(2,), count=2, labelled=False)
    assert _get(store, "nodes", "k8s-node02")["spec"]["disks"] == {}


def test_node_conditions_follow_talos_state() -> None:
    _, store = _cluster(storage=(2,), count=2)
    node = _get(store, "nodes", "k8s-node02")
    for kind in ("Ready", "Schedulable", "MountPropagation", "RequiredPackages"):
        assert _cond(node, kind)["status"] == "True", kind
    assert _cond(node, "KernelModulesLoaded")["status"] == "True"
    # node01 has no rshared bind of the data path.
    assert _cond(_get(store, "nodes", "k8s-node01"), "MountPropagation")["status"] == "False"


def test_missing_extensions_and_rshared_are_reported() -> None:
    _, store = _cluster(storage=(2,), count=2, rshared=False, schematic_id=VANILLA_SCHEMATIC)
    node = _get(store, "nodes", "k8s-node02")
    assert _cond(node, "MountPropagation")["status"] == "False"
    packages = _cond(node, "RequiredPackages")
    assert packages["status"] == "False"
    assert packages["reason"] == "PackagesNotInstalled"
    assert packages["message"] == "Missing packages: [iscsi-tools util-linux-tools]"
    assert _cond(node, "KernelModulesLoaded")["status"] == "False"


def test_node_down_is_not_ready() -> None:
    site, store = _cluster(storage=(2,), count=2)
    site.machines["node02"].stage = Stage.POWERED_OFF
    reconcile_longhorn(site, store, now=LATER)
    ready = _cond(_get(store, "nodes", "k8s-node02"), "Ready")
    assert ready["status"] == "False"
    assert ready["lastTransitionTime"] == "2026-03-01T12:05:00Z"


# -- volumes ----------------------------------------------------------------------------------


def test_pvc_without_class_gets_bound_pv_volume_and_three_replicas() -> None:
    site, store = _cluster()
    volume = _pvc(store, "data")
    reconcile_longhorn(site, store, now=LATER)
    pv = store.get(_rt(store, "", "persistentvolumes"), "", volume)
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["csi"]["driver"] == "driver.longhorn.io"
    pvc = store.get(_rt(store, "", "persistentvolumeclaims"), "apps", "data")
    assert pvc["spec"]["volumeName"] == volume
    assert pvc["status"]["phase"] == "Bound"
    lhv = _get(store, "volumes", volume)
    assert lhv["spec"]["size"] == str(2 * 1024**3)
    assert lhv["spec"]["numberOfReplicas"] == 3
    assert lhv["status"]["state"] == "detached"
    assert lhv["status"]["robustness"] == "unknown"
    assert _cond(lhv, "Scheduled")["status"] == "True"
    replicas = _replicas(store, volume)
    nodes = sorted(r["spec"]["nodeID"] for r in replicas)
    assert nodes == ["k8s-node02", "k8s-node03", "k8s-node04"]
    for replica in replicas:
        labels = replica["metadata"]["labels"]
        assert labels["longhornnode"] == replica["spec"]["nodeID"]
        assert labels["longhorndiskuuid"] == replica["spec"]["diskID"]
        assert replica["spec"]["volumeName"] == volume


def test_a_deleted_claim_takes_its_pv_volume_and_replicas_with_it() -> None:
    site, store = _cluster()
    volume = _pvc(store, "data")
    kept = _pvc(store, "kept")
    reconcile_longhorn(site, store, now=LATER)
    assert len(_replicas(store, volume)) == 3
    store.delete(_rt(store, "", "persistentvolumeclaims"), "apps", "data")
    reconcile_longhorn(site, store, now=LATER)
    assert store_access.get_or_none(store, _rt(store, "", "persistentvolumes"), "", volume) is None
    assert store_access.get_or_none(store, _lh(store, "volumes"), NS, volume) is None
    assert _replicas(store, volume) == []
    assert len(_replicas(store, kept)) == 3


def test_other_provisioners_and_empty_class_are_ignored() -> None:
    site, store = _cluster()
    store.create(
        _rt(store, "storage.k8s.io", "storageclasses"),
        "",
        {"metadata": {"name": "local"}, "provisioner": "rancher.io/local-path"},
    )
    local = _pvc(store, "local", cls="local")
    none = _pvc(store, "static", cls="")
    reconcile_longhorn(site, store, now=LATER)
    for name in (local, none):
        assert store_access.get_or_none(store, _lh(store, "volumes"), NS, name) is None


def test_attached_volume_is_healthy() -> None:
    site, store = _cluster()
    volume = _pvc(store, "data")
    _pod(store, "apps", "app", "k8s-node01", {"app": "x"}, claim="data")
    reconcile_longhorn(site, store, now=LATER)
    status = _get(store, "volumes", volume)["status"]
    assert (status["state"], status["robustness"], status["currentNodeID"]) == (
        "attached",
        "healthy",
        "k8s-node01",
    )
    states = {r["status"]["currentState"] for r in _replicas(store, volume)}
    assert states == {"running"}


def test_too_few_storage_nodes_fail_scheduling_and_degrade() -> None:
    site, store = _cluster(storage=(2, 3), count=3)
    volume = _pvc(store, "data")
    _pod(store, "apps", "app", "k8s-node01", {"app": "x"}, claim="data")
    reconcile_longhorn(site, store, now=LATER)
    lhv = _get(store, "volumes", volume)
    scheduled = _cond(lhv, "Scheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "ReplicaSchedulingFailure")
    assert lhv["status"]["robustness"] == "degraded"
    assert lhv["status"]["lastDegradedAt"] == "2026-03-01T12:05:00Z"
    assert sorted(r["spec"]["nodeID"] for r in _replicas(store, volume)) == [
        "k8s-node02",
        "k8s-node03",
    ]


def test_volume_larger_than_any_disk_is_not_scheduled() -> None:
    site, store = _cluster()
    volume = _pvc(store, "huge", size="1Ti")  # the test disks are 240 GB
    reconcile_longhorn(site, store, now=LATER)
    assert _replicas(store, volume) == []
    assert _cond(_get(store, "volumes", volume), "Scheduled")["status"] == "False"


def test_soft_anti_affinity_allows_two_replicas_on_one_node() -> None:
    site, store = _cluster(storage=(2, 3), count=3)
    volume = _pvc(store, "data")
    reconcile_longhorn(site, store, now=LATER)
    store.patch(
        _lh(store, "volumes"), NS, volume, b'{"spec":{"replicaSoftAntiAffinity":"enabled"}}', MERGE
    )
    reconcile_longhorn(site, store, now=LATER)
    assert len(_replicas(store, volume)) == 3
    assert _cond(_get(store, "volumes", volume), "Scheduled")["status"] == "True"


def test_node_down_degrades_and_recovery_heals() -> None:
    site, store = _cluster()
    volume = _pvc(store, "data")
    _pod(store, "apps", "app", "k8s-node01", {"app": "x"}, claim="data")
    reconcile_longhorn(site, store, now=NOW)
    _set_node_ready(store, "k8s-node03", False)
    reconcile_longhorn(site, store, now=LATER)
    assert _get(store, "volumes", volume)["status"]["robustness"] == "degraded"
    failed = [r for r in _replicas(store, volume) if r["spec"]["nodeID"] == "k8s-node03"]
    assert failed[0]["spec"]["failedAt"] == "2026-03-01T12:05:00Z"
    assert failed[0]["status"]["currentState"] == "error"
    _set_node_ready(store, "k8s-node03", True)
    reconcile_longhorn(site, store, now=LATER + dt.timedelta(minutes=1))
    assert _get(store, "volumes", volume)["status"]["robustness"] == "healthy"
    states = {r["status"]["currentState"] for r in _replicas(store, volume)}
    assert states == {"running"}


def test_number_of_replicas_patch_adds_and_removes() -> None:
    site, store = _cluster(storage=(2, 3, 4, 5), count=5)
    volume = _pvc(store, "data")
    reconcile_longhorn(site, store, now=NOW)
    rt = _lh(store, "volumes")
    store.patch(rt, NS, volume, b'{"spec":{"numberOfReplicas":4}}', MERGE)
    reconcile_longhorn(site, store, now=LATER)
    assert len({r["spec"]["nodeID"] for r in _replicas(store, volume)}) == 4
    store.patch(rt, NS, volume, b'{"spec":{"numberOfReplicas":2}}', MERGE)
    reconcile_longhorn(site, store, now=LATER)
    assert len(_replicas(store, volume)) == 2
    assert _cond(_get(store, "volumes", volume), "Scheduled")["status"] == "True"


def test_node_storage_scheduled_counts_replicas() -> None:
    site, store = _cluster()
    _pvc(store, "data", size="1Gi")
    reconcile_longhorn(site, store, now=LATER)
    node = _get(store, "nodes", "k8s-node02")
    (disk,) = node["status"]["diskStatus"].values()
    assert disk["storageScheduled"] == 1024**3
    assert len(disk["scheduledReplica"]) == 1


def test_second_reconcile_writes_nothing() -> None:
    site, store = _cluster()
    _pvc(store, "data")
    _pod(store, "apps", "app", "k8s-node01", {"app": "x"}, claim="data")
    reconcile_longhorn(site, store, now=LATER)
    revision = store.kv.revision()
    reconcile_longhorn(site, store, now=LATER + dt.timedelta(hours=1))
    assert store.kv.revision() == revision


# -- the shipped definition -------------------------------------------------------------------


def test_shipped_definition_places_three_replicas_on_storage_nodes() -> None:
    cluster = inventory.load_cluster(ROOT / "cluster", display="cluster")
    rendered = render.render_cluster(cluster)
    site = site_from_cluster(cluster)
    installed = schematic.schematic_id(cluster.image_factory.schematic)
    for name, machine in site.machines.items():
        for disk in machine.hardware.disks:
            disk.signatures = []  # the operator wiped them (article lesson 1)
        _run(site, name, rendered[name].to_yaml(), installed)
    store = _new_store()
    _add_kube_nodes(store, site)
    volumes = [_pvc(store, f"data-{i}") for i in range(4)]
    reconcile_longhorn(site, store, now=NOW)
    storage = {f"k8s-node0{i}" for i in range(2, 7)}
    for volume in volumes:
        nodes = [r["spec"]["nodeID"] for r in _replicas(store, volume)]
        assert len(nodes) == 3
        assert len(set(nodes)) == 3
        assert set(nodes) <= storage
    assert _get(store, "nodes", "k8s-node01")["spec"]["disks"] == {}
    for node in sorted(storage):
        assert _cond(_get(store, "nodes", node), "MountPropagation")["status"] == "True"


# -- quantities -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from([("", 1), ("Ki", 1024), ("Mi", 1024**2), ("Gi", 1024**3), ("G", 10**9)]),
)
def test_quantity_bytes(number: int, unit: tuple[str, int]) -> None:
    suffix, factor = unit
    assert longhorn_volumes.quantity_bytes(f"{number}{suffix}") == number * factor


def test_unreadable_quantity_is_zero() -> None:
    assert longhorn_volumes.quantity_bytes("lots") == 0
    assert longhorn_volumes.quantity_bytes("500m") == 0


@pytest.mark.parametrize("annotation", ["false", "True", ""])
def test_default_class_needs_exactly_true(annotation: str) -> None:
    classes = [
        {
            "metadata": {
                "name": "x",
                "annotations": {longhorn_volumes.DEFAULT_CLASS_ANNOTATION: annotation},
            }
        }
    ]
    assert longhorn_volumes.default_class(classes) is None


def test_no_disk_while_ephemeral_is_not_mounted() -> None:
    # /var/lib/longhorn lives inside EPHEMERAL's mount: Talos mounts it only after its parent.
    site = _site((2,), 2)
    machine = site.machines["node02"]
    machine.volumes["EPHEMERAL"] = Volume(
        "EPHEMERAL", "/dev/nvme0n1p6", "/dev/nvme0n1", 6, 10**9, "/var", "xfs", phase="failed"
    )
    store = _new_store()
    _add_kube_nodes(store, site)
    reconcile_longhorn(site, store, now=NOW)
    assert _get(store, "nodes", "k8s-node02")["spec"]["disks"] == {}
    machine.volumes["EPHEMERAL"].phase = "ready"
    reconcile_longhorn(site, store, now=NOW)
    assert len(_get(store, "nodes", "k8s-node02")["spec"]["disks"]) == 1
