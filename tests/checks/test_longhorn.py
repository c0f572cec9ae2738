"""Longhorn controls (LH-01..LH-07) over hand-built snapshots of the reference cluster.

The clean snapshot copies the shapes the simulator and Longhorn 1.8.1 return
(facts/k8s-stack.md §2.3); each test breaks one thing and asserts the finding
names the node or object, the expected and the observed value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import judged, longhorn, longhorn_version, longhorn_volumes
from checks import snapshot as snap
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from tests.checks.builders import reference_cluster

CLUSTER = reference_cluster()
NS = "longhorn-system"
PATH = "/var/lib/longhorn"


def _cond(kind: str, status: bool = True, reason: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True" if status else "False", "reason": reason}


def _extensions(node: inventory.Node) -> list[dict[str, Any]]:
    names = ["iscsi-tools", "util-linux-tools", "schematic"]
    return [
        {"node": str(node.ip), "metadata": {"id": i}, "spec": {"metadata": {"name": n}}}
        for i, n in enumerate(names)
    ]


def _volumes(node: inventory.Node) -> list[dict[str, Any]]:
    """VolumeStatuses as Talos v1.12 reports them: a ``machine.disks`` partition under
    /var is mounted relative to EPHEMERAL (block/user_disk_config.go)."""
    found = [
        {
            "node": str(node.ip),
            "metadata": {"id": label},
            "spec": {"phase": "ready", "mountSpec": {"targetPath": target}},
        }
        for label, target in (("STATE", "/system/state"), ("EPHEMERAL", "/var"))
    ]
    if node.is_storage:
        found.append(
            {
                "node": str(node.ip),
                "metadata": {"id": f"{node.storage_disk}-1"},
                "spec": {
                    "phase": "ready",
                    "mountSpec": {"targetPath": "lib/longhorn", "parentId": "EPHEMERAL"},
                },
            }
        )
    return found


def _mounts(node: inventory.Node) -> list[dict[str, Any]]:
    """Block MountStatuses: one per mounted volume, with the full target (block/mount.go)."""
    targets = [("STATE", "/system/state", ""), ("EPHEMERAL", "/var", "")]
    if node.is_storage:
        targets.append((f"{node.storage_disk}-1", PATH, "EPHEMERAL"))
    return [
        {
            "node": str(node.ip),
            "metadata": {"id": volume_id},
            "spec": {
                "spec": {"volumeID": volume_id, "parentID": parent},
                "target": target,
                "filesystem": "xfs",
            },
        }
        for volume_id, target, parent in targets
    ]


def _config(node: inventory.Node) -> list[dict[str, Any]]:
    kubelet: dict[str, Any] = {}
    if node.is_storage:
        kubelet["extraMounts"] = [
            {
                "destination": PATH,
                "type": "bind",
                "source": PATH,
                "options": ["bind", "rshared", "rw"],
            }
        ]
    return [{"version": "v1alpha1", "machine": {"kubelet": kubelet}}]


def _lh_node(node: inventory.Node) -> dict[str, Any]:
    disks: dict[str, Any] = {}
    disk_status: dict[str, Any] = {}
    if node.is_storage:
        disks["default-disk-1"] = {"path": PATH + "/", "allowScheduling": True}
        disk_status["default-disk-1"] = {
            "conditions": [_cond("Ready"), _cond("Schedulable")],
            "diskUUID": f"uuid-{node.name}",
        }
    return {
        "metadata": {"name": node.hostname, "namespace": NS},
        "spec": {"allowScheduling": True, "disks": disks},
        "status": {
            "conditions": [
                _cond("Ready"),
                _cond("Schedulable"),
                _cond("MountPropagation", node.is_storage, "NoMountPropagationSupport"),
            ],
            "diskStatus": disk_status,
        },
    }


def _volume(name: str, replicas: int = 3, state: str = "attached") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"numberOfReplicas": replicas},
        "status": {
            "state": state,
            "robustness": "healthy" if state == "attached" else "unknown",
            "kubernetesStatus": {"namespace": "default", "pvcName": "data"},
        },
    }


def _replica(volume: str, node: str, state: str = "running", failed: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{volume}-r-{node}", "namespace": NS},
        "spec": {"volumeName": volume, "nodeID": node, "failedAt": failed, "active": True},
        "status": {"currentState": state},
    }


def _class(name: str = "longhorn", default: bool = True, replicas: str = "3") -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "driver.longhorn.io",
        "parameters": {"numberOfReplicas": replicas},
    }


def _manager_pod(node: str, image: str = "longhornio/longhorn-manager:v1.8.1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"longhorn-manager-{node}",
            "namespace": NS,
            "labels": {"app": "longhorn-manager"},
        },
        "spec": {"nodeName": node, "containers": [{"name": "longhorn-manager", "image": image}]},
    }


def clean_kube() -> dict[str, list[dict[str, Any]]]:
    volume = "pvc-1"
    return {
        snap.LONGHORN_NODES.key: [_lh_node(n) for n in CLUSTER.nodes],
        snap.LONGHORN_SETTINGS.key: [
            {"metadata": {"name": "default-replica-count", "namespace": NS}, "value": "3"}
        ],
        snap.STORAGE_CLASSES.key: [_class()],
        snap.LONGHORN_VOLUMES.key: [_volume(volume)],
        snap.LONGHORN_REPLICAS.key: [
            _replica(volume, n) for n in ("k8s-node02", "k8s-node03", "k8s-node04")
        ],
        snap.DAEMONSETS.key: [
            {
                "metadata": {"name": "longhorn-manager", "namespace": NS},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "longhorn-manager",
                                    "image": "longhornio/longhorn-manager:v1.8.1",
                                }
                            ]
                        }
                    }
                },
            }
        ],
        snap.PODS.key: [_manager_pod(n.hostname) for n in CLUSTER.nodes],
    }


def clean_talos() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {
        snap.EXTENSION_STATUS: {n.name: _extensions(n) for n in CLUSTER.nodes},
        snap.VOLUME_STATUS: {n.name: _volumes(n) for n in CLUSTER.nodes},
        snap.MOUNT_STATUS: {n.name: _mounts(n) for n in CLUSTER.nodes},
        snap.MACHINE_CONFIG: {n.name: [{"spec": _config(n)}] for n in CLUSTER.nodes},
    }


def make(
    kube: dict[str, Any] | None = None,
    talos: dict[str, Any] | None = None,
    missing: dict[str, str] | None = None,
) -> Snapshot:
    return Snapshot(
        definition=CLUSTER,
        target="test",
        taken_at=datetime(2026, 11, 26, tzinfo=UTC),
        kube=kube if kube is not None else clean_kube(),
        talos=talos if talos is not None else clean_talos(),
        missing=missing or {},
    )


CHECKS = (
    longhorn.storage_extensions_running,
    longhorn.longhorn_path_mounted,
    longhorn.storage_nodes_schedulable,
    longhorn_volumes.replica_count_declared,
    longhorn_volumes.longhorn_sole_default_class,
    longhorn_volumes.volumes_fully_replicated,
    longhorn_version.longhorn_version_declared,
)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_clean_cluster_has_no_findings(check: Any) -> None:
    assert check(make()) == []


@pytest.mark.parametrize(
    ("check", "source"),
    [
        (longhorn.storage_extensions_running, snap.EXTENSION_STATUS),
        (longhorn.longhorn_path_mounted, snap.MOUNT_STATUS),
        (longhorn.longhorn_path_mounted, snap.MACHINE_CONFIG),
        (longhorn.storage_nodes_schedulable, snap.LONGHORN_NODES.key),
        (longhorn_volumes.replica_count_declared, snap.LONGHORN_SETTINGS.key),
        (longhorn_volumes.longhorn_sole_default_class, snap.STORAGE_CLASSES.key),
        (longhorn_volumes.volumes_fully_replicated, snap.LONGHORN_REPLICAS.key),
        (longhorn_version.longhorn_version_declared, snap.DAEMONSETS.key),
    ],
)
def test_unread_source_is_unobservable_not_a_pass(check: Any, source: str) -> None:
    with pytest.raises(Unobservable, match="forbidden"):
        check(make(missing={source: "forbidden"}))


# -- LH-01 --


def test_missing_extension_names_the_node_and_the_extension() -> None:
    talos = clean_talos()
    talos[snap.EXTENSION_STATUS]["node04"] = [
        r
        for r in talos[snap.EXTENSION_STATUS]["node04"]
        if r["spec"]["metadata"]["name"] != "iscsi-tools"
    ]
    found = only(longhorn.storage_extensions_running(make(talos=talos)))
    assert found.target == "node04 (k8s-node04)"
    assert "missing iscsi-tools" in found.observed
    assert isinstance(found, longhorn.ExtensionMissing)


def test_extensions_are_needed_on_the_worker_without_storage_too() -> None:
    talos = clean_talos()
    talos[snap.EXTENSION_STATUS]["node01"] = []
    found = only(longhorn.storage_extensions_running(make(talos=talos)))
    assert found.target == "node01 (k8s-node01)"
    assert "iscsi-tools, util-linux-tools" in found.observed


def test_prefixed_extension_names_match() -> None:
    talos = clean_talos()
    for resource in talos[snap.EXTENSION_STATUS]["node02"]:
        resource["spec"]["metadata"]["name"] = "siderolabs/" + resource["spec"]["metadata"]["name"]
    assert longhorn.storage_extensions_running(make(talos=talos)) == []


def test_silent_node_alone_is_unobservable_with_its_reason() -> None:
    talos = clean_talos()
    del talos[snap.EXTENSION_STATUS]["node03"]
    reason = "talosctl get extensionstatuses got no answer from node03"
    missing = {snap.on_node(snap.EXTENSION_STATUS, "node03"): reason}
    with pytest.raises(Unobservable, match=f"node03: {reason}"):
        longhorn.storage_extensions_running(make(talos=talos, missing=missing))


def test_silent_node_does_not_hide_a_finding_elsewhere() -> None:
    talos = clean_talos()
    del talos[snap.EXTENSION_STATUS]["node03"]
    talos[snap.EXTENSION_STATUS]["node05"] = []
    missing = {snap.on_node(snap.EXTENSION_STATUS, "node03"): "no answer"}
    found = only(longhorn.storage_extensions_running(make(talos=talos, missing=missing)))
    assert found.target == "node05 (k8s-node05)"


# -- LH-02 --


def _unmount(talos: dict[str, Any], node: str) -> None:
    talos[snap.MOUNT_STATUS][node] = [
        m for m in talos[snap.MOUNT_STATUS][node] if m["spec"]["target"] != PATH
    ]


def test_unmounted_data_path_is_reported_with_the_volume_meant_for_it() -> None:
    talos = clean_talos()
    _unmount(talos, "node03")
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.target == "node03 (k8s-node03)"
    assert found.expected == f"a mount at {PATH}, bind-mounted rshared into the kubelet"
    disk = CLUSTER.node("node03").storage_disk
    assert found.observed == (
        f"nothing mounted at {PATH} (mounted: /system/state, /var); volume {disk}-1 phase ready"
    )
    assert isinstance(found, longhorn.DataPathNotMounted)


def test_ready_volume_alone_is_not_a_mount() -> None:
    # The relative VolumeStatus path of a real v1.12 node must neither pass nor
    # be needed: only the MountStatus target counts.
    talos = clean_talos()
    _unmount(talos, "node04")
    talos[snap.VOLUME_STATUS]["node04"][2]["spec"]["mountSpec"] = {"targetPath": PATH}
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.target == "node04 (k8s-node04)"
    assert found.observed.startswith(f"nothing mounted at {PATH} ")


def test_data_path_volume_not_ready_explains_the_missing_mount() -> None:
    talos = clean_talos()
    _unmount(talos, "node05")
    volume = talos[snap.VOLUME_STATUS]["node05"][2]
    volume["spec"]["phase"] = "waiting"
    volume["spec"]["errorMessage"] = "no disks matched for volume (0 matched selector)"
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.target == "node05 (k8s-node05)"
    assert found.observed.endswith(
        f"; volume {volume['metadata']['id']} phase waiting "
        "(no disks matched for volume (0 matched selector))"
    )


def test_missing_mount_without_a_volume_says_none_is_configured() -> None:
    talos = clean_talos()
    _unmount(talos, "node06")
    talos[snap.VOLUME_STATUS]["node06"] = talos[snap.VOLUME_STATUS]["node06"][:2]
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.observed == (
        f"nothing mounted at {PATH} (mounted: /system/state, /var); "
        "no volume is configured to mount there"
    )


def test_mount_elsewhere_is_reported() -> None:
    talos = clean_talos()
    talos[snap.MOUNT_STATUS]["node02"][2]["spec"]["target"] = "/var/mnt/longhorn"
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.target == "node02 (k8s-node02)"
    assert "(mounted: /system/state, /var, /var/mnt/longhorn)" in found.observed


def test_mount_with_a_trailing_slash_counts() -> None:
    talos = clean_talos()
    talos[snap.MOUNT_STATUS]["node02"][2]["spec"]["target"] = PATH + "/"
    assert longhorn.longhorn_path_mounted(make(talos=talos)) == []


def test_unread_volume_statuses_only_lose_the_explanation() -> None:
    talos = clean_talos()
    _unmount(talos, "node03")
    del talos[snap.VOLUME_STATUS]
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.observed == f"nothing mounted at {PATH} (mounted: /system/state, /var)"
    assert longhorn.longhorn_path_mounted(make(missing={snap.VOLUME_STATUS: "forbidden"})) == []


def test_node_without_mount_statuses_is_unobservable_unless_another_fails() -> None:
    talos = clean_talos()
    del talos[snap.MOUNT_STATUS]["node04"]
    missing = {snap.on_node(snap.MOUNT_STATUS, "node04"): "no answer"}
    with pytest.raises(Unobservable, match="node04: no answer"):
        longhorn.longhorn_path_mounted(make(talos=talos, missing=missing))
    _unmount(talos, "node05")
    found = only(longhorn.longhorn_path_mounted(make(talos=talos, missing=missing)))
    assert found.target == "node05 (k8s-node05)"


def test_kubelet_mount_without_rshared_is_reported() -> None:
    talos = clean_talos()
    docs = talos[snap.MACHINE_CONFIG]["node06"][0]["spec"]
    docs[0]["machine"]["kubelet"]["extraMounts"][0]["options"] = ["bind", "rw"]
    found = only(longhorn.longhorn_path_mounted(make(talos=talos)))
    assert found.target == "node06 (k8s-node06)"
    assert "options [bind, rw]" in found.observed


def test_missing_kubelet_mount_and_propagation_are_reported_together() -> None:
    talos = clean_talos()
    talos[snap.MACHINE_CONFIG]["node02"][0]["spec"][0]["machine"]["kubelet"] = {}
    kube = clean_kube()
    kube[snap.LONGHORN_NODES.key][1]["status"]["conditions"][2] = _cond(
        "MountPropagation", False, "NoMountPropagationSupport"
    )
    found = only(longhorn.longhorn_path_mounted(make(kube=kube, talos=talos)))
    assert "no kubelet extraMount" in found.observed
    assert "MountPropagation=False (NoMountPropagationSupport)" in found.observed


def test_mount_check_does_without_longhorn_objects() -> None:
    assert longhorn.longhorn_path_mounted(make(missing={snap.LONGHORN_NODES.key: "no CRD"})) == []


def test_unreadable_machine_config_is_unobservable() -> None:
    talos = clean_talos()
    del talos[snap.MACHINE_CONFIG]["node02"]
    with pytest.raises(Unobservable, match="node02"):
        longhorn.longhorn_path_mounted(make(talos=talos))


# -- LH-03 --


def test_missing_longhorn_node_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_NODES.key] = [
        n for n in kube[snap.LONGHORN_NODES.key] if n["metadata"]["name"] != "k8s-node05"
    ]
    found = only(longhorn.storage_nodes_schedulable(make(kube=kube)))
    assert found.target == "node05 (k8s-node05)"
    assert found.observed == "no Longhorn Node"


def test_unschedulable_node_and_disk_are_reported() -> None:
    kube = clean_kube()
    node = kube[snap.LONGHORN_NODES.key][2]  # k8s-node03
    node["spec"]["allowScheduling"] = False
    node["spec"]["disks"]["default-disk-1"]["allowScheduling"] = False
    node["status"]["diskStatus"]["default-disk-1"]["conditions"][0] = _cond(
        "Ready", False, "NoDiskInfo"
    )
    found = only(longhorn.storage_nodes_schedulable(make(kube=kube)))
    assert found.target == "node03 (k8s-node03)"
    assert "allowScheduling=False" in found.observed
    assert "disk default-disk-1 allowScheduling=False" in found.observed
    assert "disk default-disk-1 Ready=False (NoDiskInfo)" in found.observed


def test_eviction_requested_on_a_node_or_its_disk_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_NODES.key][3]["spec"]["evictionRequested"] = True
    kube[snap.LONGHORN_NODES.key][4]["spec"]["disks"]["default-disk-1"]["evictionRequested"] = True
    found = longhorn.storage_nodes_schedulable(make(kube=kube))
    assert [(f.target, f.observed) for f in found] == [
        ("node04 (k8s-node04)", "evictionRequested=True"),
        ("node05 (k8s-node05)", "disk default-disk-1 evictionRequested=True"),
    ]


def test_disk_elsewhere_than_the_data_path_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_NODES.key][3]["spec"]["disks"]["default-disk-1"]["path"] = "/var/mnt/x"
    found = only(longhorn.storage_nodes_schedulable(make(kube=kube)))
    assert found.target == "node04 (k8s-node04)"
    assert f"no disk at {PATH} (disks at: /var/mnt/x)" in found.observed


def test_schedulable_disk_on_a_node_without_storage_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_NODES.key][0]["spec"]["disks"]["default-disk-9"] = {
        "path": "/var/lib/longhorn/",
        "allowScheduling": True,
    }
    found = only(longhorn.storage_nodes_schedulable(make(kube=kube)))
    assert found.target == "node01 (k8s-node01) (not a storage node)"


# -- LH-04 --


def test_replica_setting_of_two_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_SETTINGS.key][0]["value"] = "2"
    found = only(longhorn_volumes.replica_count_declared(make(kube=kube)))
    assert found.target == f"Setting {NS}/default-replica-count"
    assert (found.expected, found.observed) == ('value "3"', "value '2'")


def test_class_and_volume_replica_counts_are_reported() -> None:
    kube = clean_kube()
    kube[snap.STORAGE_CLASSES.key] = [_class(replicas="2")]
    kube[snap.LONGHORN_VOLUMES.key][0]["spec"]["numberOfReplicas"] = 2
    found = longhorn_volumes.replica_count_declared(make(kube=kube))
    assert [f.target for f in found] == [
        "StorageClass/longhorn",
        f"Volume {NS}/pvc-1 (PVC default/data)",
    ]
    assert found[1].observed == "numberOfReplicas 2"


def test_every_longhorn_class_asks_for_the_declared_count() -> None:
    kube = clean_kube()
    single = _class("longhorn-single", default=False, replicas="1")
    fallback = _class("longhorn-fallback", default=False)
    del fallback["parameters"]["numberOfReplicas"]  # takes default-replica-count
    other = _class("local", default=False, replicas="1")
    other["provisioner"] = "rancher.io/local-path"
    kube[snap.STORAGE_CLASSES.key] += [single, fallback, other]
    found = only(longhorn_volumes.replica_count_declared(make(kube=kube)))
    assert (found.target, found.observed) == (
        "StorageClass/longhorn-single",
        "numberOfReplicas '1'",
    )
    assert isinstance(found, longhorn_volumes.ReplicaCountMismatch)
    assert found.storage_class == "longhorn-single"


def test_missing_setting_and_class_are_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_SETTINGS.key] = []
    kube[snap.STORAGE_CLASSES.key] = []
    found = longhorn_volumes.replica_count_declared(make(kube=kube))
    assert [f.observed for f in found] == ["no such Setting", "no such StorageClass"]


# -- LH-05 --


def test_second_default_class_is_reported() -> None:
    kube = clean_kube()
    other = _class("local-path")
    other["provisioner"] = "rancher.io/local-path"
    kube[snap.STORAGE_CLASSES.key].append(other)
    found = only(longhorn_volumes.longhorn_sole_default_class(make(kube=kube)))
    assert found.target == "StorageClass/local-path"
    assert "rancher.io/local-path" in found.observed


def test_longhorn_class_not_default_is_reported() -> None:
    kube = clean_kube()
    kube[snap.STORAGE_CLASSES.key] = [_class(default=False)]
    found = only(longhorn_volumes.longhorn_sole_default_class(make(kube=kube)))
    assert (found.target, found.observed) == ("StorageClass/longhorn", "not marked default")


def test_beta_default_annotation_counts_as_default() -> None:
    kube = clean_kube()
    other = _class("old", default=False)
    other["metadata"]["annotations"] = {"storageclass.beta.kubernetes.io/is-default-class": "true"}
    kube[snap.STORAGE_CLASSES.key].append(other)
    assert only(longhorn_volumes.longhorn_sole_default_class(make(kube=kube))).target == (
        "StorageClass/old"
    )


# -- LH-06 --


def test_volume_with_two_replicas_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_REPLICAS.key].pop()
    found = only(longhorn_volumes.volumes_fully_replicated(make(kube=kube)))
    assert found.target == f"Volume {NS}/pvc-1 (PVC default/data)"
    assert found.observed == "2 healthy replicas"


def test_failed_replica_and_degraded_volume_are_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_REPLICAS.key][0] = _replica("pvc-1", "k8s-node02", "error", "2026-11-26")
    kube[snap.LONGHORN_VOLUMES.key][0]["status"]["robustness"] = "degraded"
    found = only(longhorn_volumes.volumes_fully_replicated(make(kube=kube)))
    assert "2 healthy replicas" in found.observed
    assert "on k8s-node02: failed at 2026-11-26 (state error)" in found.observed
    assert "robustness degraded (attached)" in found.observed


def test_replicas_sharing_a_node_are_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_REPLICAS.key][2] = _replica("pvc-1", "k8s-node03")
    kube[snap.LONGHORN_REPLICAS.key][2]["metadata"]["name"] += "-b"
    found = only(longhorn_volumes.volumes_fully_replicated(make(kube=kube)))
    assert found.observed == "replicas share node k8s-node03"


def test_detached_volume_with_stopped_replicas_holds() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_VOLUMES.key] = [_volume("pvc-1", state="detached")]
    for replica in kube[snap.LONGHORN_REPLICAS.key]:
        replica["status"]["currentState"] = "stopped"
    assert longhorn_volumes.volumes_fully_replicated(make(kube=kube)) == []


def test_attached_volume_with_a_stopped_replica_is_reported() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_REPLICAS.key][1]["status"]["currentState"] = "stopped"
    found = only(longhorn_volumes.volumes_fully_replicated(make(kube=kube)))
    assert "state stopped" in found.observed


def _no_volumes() -> Snapshot:
    kube = clean_kube()
    kube[snap.LONGHORN_VOLUMES.key] = []
    kube[snap.LONGHORN_REPLICAS.key] = []
    return make(kube=kube)


def _probe(replicas: list[str], **kw: Any) -> longhorn_volumes.VolumeProbe:
    volume = _volume("pvc-probe", state="detached")
    stopped = [_replica("pvc-probe", node, "stopped") for node in replicas]
    for index, replica in enumerate(stopped):
        replica["metadata"]["name"] += f"-{index}"
    fields: dict[str, Any] = {
        "storage_class": "longhorn",
        "phase": "Bound",
        "volume": volume,
        "replicas": tuple(stopped),
        "waited": 3.0,
    }
    return longhorn_volumes.VolumeProbe("default/probe", **{**fields, **kw})


def test_no_volumes_and_no_probe_is_not_a_pass() -> None:
    state = _no_volumes()
    check = longhorn_volumes.volumes_fully_replicated
    assert check(state) == []
    with pytest.raises(Unobservable, match="judged no volumes"):
        judged.passed(check, state, {})


def test_the_probe_volume_with_the_declared_replicas_on_distinct_nodes_passes() -> None:
    state = _no_volumes()
    probe = _probe(["k8s-node02", "k8s-node03", "k8s-node04"])
    check = longhorn_volumes.volumes_fully_replicated
    assert check(state, probe=probe) == []
    assert judged.passed(check, state, {"probe": probe}) == "judged 1 volumes"


def test_the_probe_volume_short_of_replicas_or_sharing_a_node_is_a_finding() -> None:
    found = only(
        longhorn_volumes.volumes_fully_replicated(
            _no_volumes(), probe=_probe(["k8s-node02", "k8s-node03"])
        )
    )
    assert found.target == "Volume pvc-probe (test claim default/probe, class longhorn)"
    assert found.observed == "2 healthy replicas"
    shared = _probe(["k8s-node02", "k8s-node03", "k8s-node03"])
    found = only(longhorn_volumes.volumes_fully_replicated(_no_volumes(), probe=shared))
    assert found.observed == "replicas share node k8s-node03"


def test_a_test_claim_without_a_longhorn_volume_is_a_finding() -> None:
    probe = _probe([], volume=None, phase="Pending", storage_class="local-path")
    found = only(longhorn_volumes.volumes_fully_replicated(_no_volumes(), probe=probe))
    assert isinstance(found, longhorn_volumes.ProbeVolumeMissing)
    assert found.target == "PVC default/probe (test claim on the default StorageClass)"
    assert found.observed == "no Longhorn volume: claim Pending, storage class local-path"


def test_a_probe_that_could_not_run_is_unobservable_unless_a_volume_fails() -> None:
    probe = longhorn_volumes.VolumeProbe("default/probe", error="forbidden")
    with pytest.raises(Unobservable, match="the volume probe could not run: forbidden"):
        longhorn_volumes.volumes_fully_replicated(_no_volumes(), probe=probe)
    kube = clean_kube()
    kube[snap.LONGHORN_REPLICAS.key].pop()
    found = only(longhorn_volumes.volumes_fully_replicated(make(kube=kube), probe=probe))
    assert found.observed == "2 healthy replicas"


@given(
    healthy=st.integers(min_value=0, max_value=6),
    failed=st.integers(min_value=0, max_value=2),
)
def test_volume_holds_exactly_when_the_declared_count_is_healthy(healthy: int, failed: int) -> None:
    kube = clean_kube()
    nodes = [n.hostname for n in CLUSTER.nodes]
    replicas = [_replica("pvc-1", nodes[i]) for i in range(healthy)]
    replicas += [_replica("pvc-1", f"gone-{i}", "error", "t") for i in range(failed)]
    kube[snap.LONGHORN_REPLICAS.key] = replicas
    holds = healthy == CLUSTER.storage.replica_count
    kube[snap.LONGHORN_VOLUMES.key][0]["status"]["robustness"] = "healthy" if holds else "degraded"
    findings = longhorn_volumes.volumes_fully_replicated(make(kube=kube))
    assert (findings == []) == (holds and failed == 0)


# -- LH-07 --


def test_manager_image_of_another_version_is_reported() -> None:
    kube = clean_kube()
    spec = kube[snap.DAEMONSETS.key][0]["spec"]["template"]["spec"]
    spec["containers"][0]["image"] = "longhornio/longhorn-manager:v1.7.2"
    kube[snap.PODS.key][3] = _manager_pod("k8s-node04", "longhornio/longhorn-manager:v1.7.2")
    found = longhorn_version.longhorn_version_declared(make(kube=kube))
    assert [f.target for f in found] == [
        f"DaemonSet {NS}/longhorn-manager",
        f"Pod {NS}/longhorn-manager-k8s-node04 on k8s-node04",
    ]
    assert found[0].expected == "image longhornio/longhorn-manager:v1.8.1"


def test_manager_image_from_a_look_alike_repository_is_reported() -> None:
    kube = clean_kube()
    spec = kube[snap.DAEMONSETS.key][0]["spec"]["template"]["spec"]
    spec["containers"][0]["image"] = "docker.io/lh-mirror/longhorn-manager:v1.8.1"
    found = only(longhorn_version.longhorn_version_declared(make(kube=kube)))
    assert (found.target, found.observed) == (
        f"DaemonSet {NS}/longhorn-manager",
        "docker.io/lh-mirror/longhorn-manager:v1.8.1",
    )
    # Docker Hub's implicit prefix names the same repository.
    spec["containers"][0]["image"] = "docker.io/longhornio/longhorn-manager:v1.8.1"
    assert longhorn_version.longhorn_version_declared(make(kube=kube)) == []


def test_version_setting_is_compared_when_present() -> None:
    kube = clean_kube()
    kube[snap.LONGHORN_SETTINGS.key].append(
        {"metadata": {"name": "current-longhorn-version", "namespace": NS}, "value": "v1.7.2"}
    )
    found = only(longhorn_version.longhorn_version_declared(make(kube=kube)))
    assert found.target == f"Setting {NS}/current-longhorn-version"


def test_missing_manager_is_reported() -> None:
    kube = clean_kube()
    kube[snap.DAEMONSETS.key] = []
    found = only(longhorn_version.longhorn_version_declared(make(kube=kube)))
    assert found.observed == "no such DaemonSet"


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("longhornio/longhorn-manager:v1.8.1", "v1.8.1"),
        ("registry:5000/longhornio/longhorn-manager:v1.8.1@sha256:ab", "v1.8.1"),
        ("registry:5000/longhornio/longhorn-manager", ""),
    ],
)
def test_image_tag(image: str, tag: str) -> None:
    assert longhorn_version.image_tag(image) == tag


# -- Longhorn's workloads (what provisioning waits for) --


def _ds(name: str, desired: int, ready: int, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "generation": generation},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": desired,
            "numberReady": ready,
        },
    }


def _deploy(name: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 1, "readyReplicas": ready},
    }


ENGINE = "longhornio/longhorn-engine:v1.8.1"
ENGINE_DS = longhorn.engine_image_daemonset(ENGINE)
CSI = ["csi-attacher", "csi-provisioner", "csi-resizer", "csi-snapshotter"]


def _manager(desired: int = 6, ready: int = 6, generation: int = 1) -> dict[str, Any]:
    manager = _ds("longhorn-manager", desired, ready, generation)
    command = ["longhorn-manager", "-d", "daemon", "--engine-image", ENGINE]
    container = {"name": "longhorn-manager", "command": command}
    manager["spec"] = {"template": {"spec": {"containers": [container]}}}
    return manager


def _workloads(
    daemonsets: list[dict[str, Any]],
    deployments: list[dict[str, Any]],
    drivers: list[str] | None = None,
) -> Snapshot:
    kube = clean_kube()
    kube[snap.DAEMONSETS.key] = daemonsets
    kube[snap.DEPLOYMENTS.key] = deployments
    if drivers is not None:
        kube[snap.CSI_DRIVERS.key] = [{"metadata": {"name": name}} for name in drivers]
    return make(kube=kube)


def _complete(**changed: dict[str, Any]) -> Snapshot:
    """Every Longhorn workload and the CSIDriver, all Ready; *changed* replaces some by name."""
    daemonsets = [_manager(), _ds("longhorn-csi-plugin", 6, 6), _ds(ENGINE_DS, 6, 6)]
    deployments = [_deploy("longhorn-driver-deployer", 1, 1), _deploy("longhorn-ui", 2, 2)]
    deployments += [_deploy(name, 3, 3) for name in CSI]

    def swap(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [changed.get(str(w["metadata"]["name"]), w) for w in workloads]

    return _workloads(swap(daemonsets), swap(deployments), ["driver.longhorn.io"])


def test_components_ready_when_every_longhorn_workload_has_all_pods_ready() -> None:
    assert longhorn.components_ready(_complete()) == []


def test_engine_image_daemonset_is_named_as_longhorn_manager_names_it() -> None:
    # ei- + the first 8 hex digits of the SHA-512 of the image (types.GetEngineImageChecksumName).
    name = longhorn.engine_image_daemonset(" longhornio/longhorn-engine:v1.8.1 ")
    assert name == ENGINE_DS
    assert len(name) == len("engine-image-ei-") + 8
    assert longhorn.engine_image_daemonset("longhornio/longhorn-engine:v1.8.2") != name


def test_a_manager_helm_would_call_ready_is_not_ready_here() -> None:
    # The chart allows the manager 100% unavailable, so helm --wait passes with 0 Ready.
    found = only(longhorn.components_ready(_complete(**{"longhorn-manager": _manager(6, 0)})))
    assert found.target == f"DaemonSet {NS}/longhorn-manager"
    assert found.observed == "0 of 6 pods Ready (6 updated)"


def test_only_manager_and_deployer_present_is_not_ready_naming_what_they_have_not_created() -> None:
    # The driver deployer is Ready before it has created the CSI driver: judging only what
    # exists would call Longhorn ready here.
    state = _workloads([_manager()], [_deploy("longhorn-driver-deployer", 1, 1)], [])
    found = longhorn.components_ready(state)
    assert [(f.target, f.observed) for f in found] == [
        (f"DaemonSet {NS}/longhorn-csi-plugin", "absent"),
        *((f"Deployment {NS}/{name}", "absent") for name in CSI),
        (f"DaemonSet {NS}/{ENGINE_DS}", "absent"),
        ("CSIDriver driver.longhorn.io", "absent"),
    ]
    assert found[0].expected == "present (created by longhorn-driver-deployer once it runs)"
    assert found[-2].expected == f"present (run by longhorn-manager for {ENGINE})"


def test_csi_components_the_deployer_created_must_be_ready_too() -> None:
    state = _complete(
        **{
            "longhorn-csi-plugin": _ds("longhorn-csi-plugin", 6, 5),
            "csi-provisioner": _deploy("csi-provisioner", 3, 1),
            "csi-resizer": _deploy("csi-resizer", 0, 0),
        }
    )
    found = longhorn.components_ready(state)
    assert [(f.target, f.observed) for f in found] == [
        (f"DaemonSet {NS}/longhorn-csi-plugin", "5 of 6 pods Ready (6 updated)"),
        (f"Deployment {NS}/csi-provisioner", "1 of 3 replicas Ready"),
        (f"Deployment {NS}/csi-resizer", "scaled to 0 replicas"),
    ]


def test_engine_image_daemonset_of_another_image_does_not_stand_for_the_default() -> None:
    other = longhorn.engine_image_daemonset("longhornio/longhorn-engine:v1.7.0")
    found = only(longhorn.components_ready(_complete(**{ENGINE_DS: _ds(other, 6, 6)})))
    assert (found.target, found.observed) == (f"DaemonSet {NS}/{ENGINE_DS}", "absent")


def test_without_the_manager_s_engine_image_any_engine_image_daemonset_stands_for_it() -> None:
    manager = _ds("longhorn-manager", 6, 6)  # its spec does not show --engine-image
    assert longhorn.components_ready(_complete(**{"longhorn-manager": manager})) == []
    state = _workloads([manager], [_deploy("longhorn-driver-deployer", 1, 1)], [])
    targets = [f.target for f in longhorn.components_ready(state)]
    assert f"DaemonSet {NS}/engine-image-ei-*" in targets


def test_unread_csidrivers_hide_no_finding_but_are_never_ready() -> None:
    state = _workloads([_manager(6, 0)], [_deploy("longhorn-driver-deployer", 1, 1)])
    targets = [f.target for f in longhorn.components_ready(state)]
    assert f"DaemonSet {NS}/longhorn-manager" in targets  # found despite the unread kind
    complete = _complete()
    kube = dict(complete.kube)
    del kube[snap.CSI_DRIVERS.key]
    with pytest.raises(Unobservable, match=r"CSIDriver driver\.longhorn\.io"):
        longhorn.components_ready(make(kube=kube))


def test_missing_chart_workloads_and_unobserved_specs_are_not_ready() -> None:
    state = _complete(**{"longhorn-manager": _manager(generation=2)})
    deployments = [d for d in state.kube[snap.DEPLOYMENTS.key] if "driver" not in str(d)]
    kube = {**state.kube, snap.DEPLOYMENTS.key: deployments}
    found = longhorn.components_ready(make(kube=kube))
    assert [(f.target, f.observed) for f in found] == [
        (f"Deployment {NS}/longhorn-driver-deployer", "absent"),
        (f"DaemonSet {NS}/longhorn-manager", "spec not observed yet"),
    ]
