"""What the simulated Longhorn deploys at runtime: the CSI driver and the engine-image DaemonSet.

In-process, over the shipped cluster built as ``pytest --provision`` leaves
it (:mod:`tests.simulator.provisioned_cluster`).  On real Longhorn the driver
deployer is Ready first and creates the CSI parts afterwards; the simulator
must keep that order, with the pods' start delay, so the readiness wait is
tested against it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from simulator.controllers import cluster as core
from simulator.controllers import longhorn_components, podstatus, store_access
from simulator.drifts import DriftContext
from simulator.kube.objects import ObjectStore
from simulator.store.kv import MemoryKV
from tests.simulator import provisioned_cluster
from tests.simulator.provisioned_cluster import NOW

NS = "longhorn-system"
CSI = ("csi-attacher", "csi-provisioner", "csi-resizer", "csi-snapshotter")
ENGINE_DS = longhorn_components.engine_image_daemonset("longhornio/longhorn-engine:v1.8.1")


def _get(store: ObjectStore, plural: str, name: str, group: str = "apps") -> dict[str, Any] | None:
    rt = store_access.kind(store, group, plural)
    return store_access.get_or_none(store, rt, NS if rt.namespaced else "", name)


def _ready_pods(store: ObjectStore, app: str) -> int:
    pods = store.list(store_access.kind(store, "", "pods"), NS, label_selector=f"app={app}")
    return sum(1 for p in pods["items"] if podstatus.is_ready(p))


def _csi_present(store: ObjectStore) -> list[str]:
    found = [n for n in CSI if _get(store, "deployments", n) is not None]
    found += [n for n in ("longhorn-csi-plugin",) if _get(store, "daemonsets", n) is not None]
    if _get(store, "csidrivers", "driver.longhorn.io", "storage.k8s.io") is not None:
        found.append("driver.longhorn.io")
    return found


def test_provisioned_cluster_runs_the_csi_driver_and_the_engine_image(ctx: DriftContext) -> None:
    store = ctx.store
    driver = _get(store, "csidrivers", "driver.longhorn.io", "storage.k8s.io")
    assert driver is not None
    assert driver["spec"]["podInfoOnMount"] is True
    for name in CSI:
        deployment = _get(store, "deployments", name)
        assert deployment is not None, name
        assert deployment["spec"]["replicas"] == 3  # csi.DefaultCSI*ReplicaCount
        assert deployment["status"]["readyReplicas"] == 3, name
        assert deployment["metadata"]["labels"]["longhorn.io/managed-by"] == "longhorn-manager"
    attacher = _get(store, "deployments", "csi-attacher")
    assert attacher is not None
    image = attacher["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "longhornio/csi-attacher:v4.8.1"  # from the chart's image.csi values
    for name in ("longhorn-csi-plugin", ENGINE_DS):
        daemonset = _get(store, "daemonsets", name)
        assert daemonset is not None, name
        assert daemonset["status"]["numberReady"] == 6, name


def test_csi_parts_come_only_after_the_driver_deployer_runs_and_start_slowly(
    tmp_path: Path,
) -> None:
    kv = MemoryKV()
    provisioned_cluster.provision(kv, pod_start_delay=30)
    ctx = DriftContext(kv, tmp_path)
    store, site = ctx.store, ctx.site
    everything = sorted([*CSI, "longhorn-csi-plugin", "driver.longhorn.io"])
    first: dict[str, int] = {}
    for seconds in range(0, 200, 5):
        core.reconcile(site, store, now=NOW + dt.timedelta(seconds=seconds), pod_start_delay=30)
        seen = {
            "deployer ready": _ready_pods(store, "longhorn-driver-deployer") == 1,
            "csi present": sorted(_csi_present(store)) == everything,
            "engine image present": _get(store, "daemonsets", ENGINE_DS) is not None,
            "csi ready": _ready_pods(store, "csi-attacher") == 3
            and _ready_pods(store, "longhorn-csi-plugin") == 6,
        }
        for what, now_true in seen.items():
            if now_true:
                first.setdefault(what, seconds)
        if "deployer ready" not in first:
            assert _csi_present(store) == [], seconds  # nothing before the deployer runs
    assert set(first) == {"deployer ready", "csi present", "engine image present", "csi ready"}
    assert first["deployer ready"] >= 30  # the chart's own pods start slowly too
    assert first["csi present"] == first["deployer ready"]
    # Created, then their own pods take the start delay like every other pod.
    assert first["csi ready"] >= first["csi present"] + 30, first


def test_a_deployer_pod_deploys_once_and_a_new_one_deploys_again(ctx: DriftContext) -> None:
    store, site = ctx.store, ctx.site
    deployments = store_access.kind(store, "apps", "deployments")
    store.delete(deployments, NS, "csi-attacher")
    later = NOW + dt.timedelta(seconds=5)
    core.reconcile(site, store, now=later)
    assert _get(store, "deployments", "csi-attacher") is None  # upstream deploys at its start
    # A new driver deployer pod (a restart) deploys what is missing again.
    pods = store_access.kind(store, "", "pods")
    for pod in store.list(pods, NS, label_selector="app=longhorn-driver-deployer")["items"]:
        store.delete(pods, NS, pod["metadata"]["name"])
    core.reconcile(site, store, now=later)
    core.reconcile(site, store, now=later)
    assert _get(store, "deployments", "csi-attacher") is not None


def test_a_settled_cluster_costs_no_write(ctx: DriftContext) -> None:
    later = NOW + dt.timedelta(seconds=1)
    core.reconcile(ctx.site, ctx.store, now=later)
    before = ctx.kv.revision()
    core.reconcile(ctx.site, ctx.store, now=later)
    assert ctx.kv.revision() == before
