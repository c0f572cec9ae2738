"""Longhorn drifts end to end: the simulated cluster drifts as an operator could; the suite says so.

Each test starts a copy of the provisioned simulated cluster with drifts
injected, observes it through the real collector and checks that the
matching check names the node or object, then runs ``steps/test_longhorn.py``
against it once: the drifts' controls fail with those names in their
messages and every other Longhorn control still passes.

Starting a copy costs seconds and CI has two cores, so the drifts that touch
different objects share one copy (each finding is told apart by its
target).  The provisioned cluster has no PersistentVolumeClaim, so LH-06 holds
there trivially; the volume test creates a claim and a pod using it (labelled
``conformance.test/run``) so that LH-04 and LH-06 are seen holding over a
real three-replica volume before ``longhorn.volume_replicas_2`` breaks it.

The node-side drifts (data disk unmounted, kubelet bind dropped, scheduling
disabled on a node or a disk) and the release rollback share one copy too:
each lands on its own node or object, and the test waits, through the API,
for longhorn-manager and the DaemonSet controller to have reacted before it
observes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import longhorn, longhorn_version, longhorn_volumes
from checks import snapshot as snap
from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.drivers.kube import KubeDriver
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "LH-01": longhorn.storage_extensions_running,
    "LH-02": longhorn.longhorn_path_mounted,
    "LH-03": longhorn.storage_nodes_schedulable,
    "LH-04": longhorn_volumes.replica_count_declared,
    "LH-05": longhorn_volumes.longhorn_sole_default_class,
    "LH-06": longhorn_volumes.volumes_fully_replicated,
    "LH-07": longhorn_version.longhorn_version_declared,
}
STEPS = "steps/test_longhorn.py"
NS = "longhorn-system"
RUN_LABEL = "conformance.test/run"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_clean_cluster_passes_every_longhorn_check(clean_snapshot: Snapshot) -> None:
    assert {control: judged(check, clean_snapshot) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }


def test_clean_data_disk_is_seen_as_talos_v1_12_reports_it(clean_snapshot: Snapshot) -> None:
    # Through the real collector (talosctl get): the VolumeStatus of the machine.disks
    # partition is relative to EPHEMERAL, only the MountStatus carries the full path
    # LH-02 judges (block/user_disk_config.go, block/mount.go @v1.12.5).
    path = clean_snapshot.definition.storage.longhorn_path
    for node in clean_snapshot.definition.storage_nodes:
        volume_id = f"{node.storage_disk}-1"
        volumes = clean_snapshot.node_resources(snap.VOLUME_STATUS, node.name)
        (volume,) = [v for v in volumes if snap.dotted(v, "metadata.id") == volume_id]
        assert snap.dotted(volume, "spec.mountSpec.targetPath") == "lib/longhorn", node.name
        assert snap.dotted(volume, "spec.mountSpec.parentId") == "EPHEMERAL", node.name
        mounts = clean_snapshot.node_resources(snap.MOUNT_STATUS, node.name)
        (mount,) = [m for m in mounts if snap.dotted(m, "metadata.id") == volume_id]
        assert snap.dotted(mount, "spec.target") == path, node.name


def test_class_setting_and_extension_drifts_fail_lh01_lh04_lh05_naming_each(
    cluster_with: Any,
) -> None:
    with cluster_with(
        ("longhorn.remove_default_annotation", None),
        ("longhorn.second_default_class", None),
        ("longhorn.storageclass_replicas_2", None),
        ("longhorn.remove_extension", "node04"),
    ) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(STEPS)

    failing = {"LH-01", "LH-04", "LH-05"}
    assert {c: f for c, f in found.items() if c not in failing} == {
        c: [] for c in CHECKS if c not in failing
    }
    (extension,) = found["LH-01"]
    assert extension.target == "node04 (k8s-node04)"
    assert "missing iscsi-tools" in extension.observed
    assert [(f.target, f.observed) for f in found["LH-04"]] == [
        ("StorageClass/longhorn", "numberOfReplicas '2'")
    ]
    assert sorted((f.target, f.observed) for f in found["LH-05"]) == [
        ("StorageClass/local-path", "marked default, provisioner rancher.io/local-path"),
        ("StorageClass/longhorn", "not marked default"),
    ]
    assert run.returncode == 1, run.output
    # LH-06's probe claims a volume on the default class, which is now local-path: no Longhorn
    # volume comes of it (the suite run judges the probe; the in-process checks above do not).
    probed = failing | {"LH-06"}
    assert run.outcomes == {c: "failed" if c in probed else "passed" for c in CHECKS}, run.output
    assert "node04 (k8s-node04)" in run.messages["LH-01"]
    assert "StorageClass/longhorn" in run.messages["LH-04"]
    assert "StorageClass/local-path" in run.messages["LH-05"]


def test_replica_setting_of_two_fails_lh04_naming_it(cluster_with: Any) -> None:
    with cluster_with(("longhorn.setting_replicas_2", None)) as running:
        found = judged(longhorn_volumes.replica_count_declared, running.snapshot())
    assert [(f.target, f.observed) for f in found] == [
        (f"Setting {NS}/default-replica-count", "value '2'")
    ]


def _claim(name: str, run_id: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {RUN_LABEL: run_id}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def _pod(name: str, claim: str, run_id: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {RUN_LABEL: run_id}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


PVC = ("", "v1", "persistentvolumeclaims")
POD = ("", "v1", "pods")
VOLUMES = snap.LONGHORN_VOLUMES.path
REPLICAS = snap.LONGHORN_REPLICAS.path


def test_volume_with_two_replicas_fails_lh04_and_lh06_naming_it(cluster_with: Any) -> None:
    from simulator.drifts import apply_drift  # tests only: the suite never imports it

    run_id = uuid.uuid4().hex[:8]
    claim = f"data-{run_id}"
    with cluster_with() as running, KubeDriver(running.target) as kube:
        kube.create(PVC, _claim(claim, run_id), "default")
        kube.create(POD, _pod(f"app-{run_id}", claim, run_id), "default")

        def volume() -> dict[str, Any]:
            for found in kube.list(VOLUMES, NS):
                if snap.dotted(found, "status.kubernetesStatus.pvcName") == claim:
                    return found
            return {}

        def replicas(name: str) -> list[dict[str, Any]]:
            return kube.list(REPLICAS, NS, label_selector=f"longhornvolume={name}")

        wait_until(
            lambda: snap.dotted(volume(), "status.robustness") == "healthy",
            60,
            "the claim's Longhorn volume to be attached and healthy",
        )
        name = str(volume()["metadata"]["name"])
        before = running.snapshot()
        apply_drift(
            running.layout.state,
            "longhorn.volume_replicas_2",
            cluster_dir=running.layout.cluster_dir,
        )
        # A write through the API makes the running simulator reconcile the drifted volume.
        kube.patch(
            PVC, claim, {"metadata": {"annotations": {RUN_LABEL: "drifted"}}}, "merge", "default"
        )
        wait_until(lambda: len(replicas(name)) == 2, 60, f"volume {name} to drop to 2 replicas")
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(STEPS)

    # Over a real volume of three healthy replicas, both controls hold.
    assert judged(longhorn_volumes.replica_count_declared, before) == []
    assert judged(longhorn_volumes.volumes_fully_replicated, before) == []
    target = f"Volume {NS}/{name} (PVC default/{claim})"
    assert [(f.target, f.observed) for f in found["LH-04"]] == [(target, "numberOfReplicas 2")]
    assert [(f.target, f.observed) for f in found["LH-06"]] == [(target, "2 healthy replicas")]
    assert {c: f for c, f in found.items() if c not in ("LH-04", "LH-06")} == {
        c: [] for c in CHECKS if c not in ("LH-04", "LH-06")
    }
    assert run.outcomes == {c: "failed" if c in ("LH-04", "LH-06") else "passed" for c in CHECKS}, (
        run.output
    )
    assert target in run.messages["LH-04"]
    assert target in run.messages["LH-06"]


MANAGER = "longhorn-manager"
OLDER_MANAGER = "longhornio/longhorn-manager:v1.8.0"
LH_NODES = snap.LONGHORN_NODES.path
PODS = ("", "v1", "pods")


def _lh_condition(status: dict[str, Any], kind: str) -> str | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def test_data_path_scheduling_and_rollback_drifts_fail_lh02_lh03_lh07_naming_each(
    cluster_with: Any,
) -> None:
    with (
        cluster_with(
            ("longhorn.drop_data_disk", "node04"),
            ("longhorn.drop_kubelet_bind", "node03"),
            ("longhorn.node_scheduling_disabled", "node05"),
            ("longhorn.disk_scheduling_disabled", "node06"),
            ("longhorn.release_rolled_back", None),
        ) as running,
        KubeDriver(running.target) as kube,
    ):

        def settled() -> bool:
            node04 = kube.get(LH_NODES, "k8s-node04", NS)
            disks = (node04.get("status") or {}).get("diskStatus") or {}
            node03 = kube.get(LH_NODES, "k8s-node03", NS).get("status") or {}
            managers = kube.list(PODS, NS, label_selector=f"app={MANAGER}")
            return (
                bool(disks)
                and all(_lh_condition(d, "Ready") == "False" for d in disks.values())
                and _lh_condition(node03, "MountPropagation") == "False"
                and bool(managers)
                and all(
                    snap.dotted(p, "status.phase") == "Running"
                    and [c["image"] for c in p["spec"]["containers"]] == [OLDER_MANAGER]
                    for p in managers
                )
            )

        wait_until(settled, 60, "longhorn-manager and the manager DaemonSet to follow the drifts")
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(STEPS)
        manager_nodes = sorted(
            str(snap.dotted(p, "spec.nodeName"))
            for p in kube.list(PODS, NS, label_selector=f"app={MANAGER}")
        )

    failing = {"LH-02", "LH-03", "LH-07"}
    assert {c: f for c, f in found.items() if c not in failing} == {
        c: [] for c in CHECKS if c not in failing
    }
    mounts = {f.target: f.observed for f in found["LH-02"]}
    assert sorted(mounts) == ["node03 (k8s-node03)", "node04 (k8s-node04)"]
    assert mounts["node04 (k8s-node04)"] == (
        "nothing mounted at /var/lib/longhorn (mounted: /system/state, /var); "
        "no volume is configured to mount there"
    )
    assert mounts["node03 (k8s-node03)"].startswith(
        "no kubelet extraMount for /var/lib/longhorn; MountPropagation=False "
        "(NoMountPropagationSupport"
    )
    schedulable = {f.target: f.observed for f in found["LH-03"]}
    assert sorted(schedulable) == [
        "node04 (k8s-node04)",
        "node05 (k8s-node05)",
        "node06 (k8s-node06)",
    ]
    assert schedulable["node05 (k8s-node05)"] == "allowScheduling=False"
    assert "Ready=False (NoDiskInfo" in schedulable["node04 (k8s-node04)"]
    assert "allowScheduling=False" not in schedulable["node04 (k8s-node04)"]
    assert schedulable["node06 (k8s-node06)"].startswith("disk default-disk-")
    assert "allowScheduling=False; disk " in schedulable["node06 (k8s-node06)"]
    assert "Schedulable=False (DiskSchedulingDisabled" in schedulable["node06 (k8s-node06)"]
    version = [(f.target, f.observed) for f in found["LH-07"]]
    assert version[0] == (f"DaemonSet {NS}/{MANAGER}", OLDER_MANAGER)
    pods = version[1:]
    assert {observed for _, observed in pods} == {OLDER_MANAGER}
    assert sorted(target.rsplit(" on ", 1)[1] for target, _ in pods) == manager_nodes
    assert len(manager_nodes) == 6
    # longhorn-manager never records a downgrade: the Setting still says v1.8.1.
    assert not any(target.startswith("Setting") for target, _ in version)

    assert run.returncode == 1, run.output
    # LH-06's probe volume wants 3 replicas on distinct schedulable storage nodes: two are left.
    assert run.failed == sorted(failing | {"LH-06"}), run.output
    assert "conformance-volume-probe-" in run.messages["LH-06"], run.messages["LH-06"]
    for node in ("node03 (k8s-node03)", "node04 (k8s-node04)"):
        assert node in run.messages["LH-02"]
    for node in ("node04 (k8s-node04)", "node05 (k8s-node05)", "node06 (k8s-node06)"):
        assert node in run.messages["LH-03"]
    assert f"DaemonSet {NS}/{MANAGER}" in run.messages["LH-07"]
