"""Longhorn volumes of the simulated cluster: PVC -> PV + Volume CR + Replica CRs.

What belongs here: the CSI provisioner's part (a PVC whose class resolves
to ``driver.longhorn.io`` gets a bound PV ``pvc-<uid>``), the Volume CR with
its attach state and robustness, and replica placement.  Kept apart from
the node pass because its inputs are claims, pods and the Node CRs that pass
wrote, not the machines.

Behaviour (longhorn-manager v1.8.1, facts/k8s-stack.md §2.3, §2.7, §2.8):

* The Volume takes ``numberOfReplicas`` from the class parameters at
  creation; afterwards ``spec.numberOfReplicas`` is the Volume's own and may
  be patched.
* Replicas go to distinct nodes whose Longhorn Node is Ready and Schedulable
  and has a Ready, schedulable disk with room (``storageMaximum -
  storageReserved`` times ``storage-over-provisioning-percentage`` minus what
  is already scheduled).  Node anti-affinity is hard unless
  ``replica-soft-anti-affinity`` is "true" (or the Volume's
  ``spec.replicaSoftAntiAffinity`` is "enabled").  Too few places: condition
  ``Scheduled`` False, reason ``ReplicaSchedulingFailure``.
* A replica whose node is down is failed (``spec.failedAt``, state
  ``error``); when the node is back it runs again (``spec.healthyAt``).
* Attached (a Running pod on a node mounts the claim): robustness from the
  healthy replica count -- 0 faulted, below ``numberOfReplicas`` degraded
  (``status.lastDegradedAt``), else healthy.  Detached: ``unknown``
  unless faulted.  Lowering ``numberOfReplicas`` deletes replicas, failed
  ones first.

Deviations: no engines, instance managers or VolumeAttachments; no
replenishment of a failed replica on another node after
``replica-replenishment-wait-interval`` (the failed one waits for its node);
zone and disk anti-affinity are not modelled; sizes are not rounded.  A
deleted claim's PV (reclaimPolicy Delete), Volume and replicas are removed
in one pass, without the Released phase in between.

Resolving a claim's class and size and binding it to its PV live in
:mod:`.longhorn_claims`; their public names are re-exported here because
callers and tests use them as ``longhorn_volumes.<name>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.controllers import longhorn, store_access
from simulator.controllers.longhorn_claims import (
    BETA_DEFAULT_CLASS_ANNOTATION,
    DEFAULT_CLASS_ANNOTATION,
    bind_claim,
    class_of,
    default_class,
    quantity_bytes,
)
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType

__all__ = [
    "BETA_DEFAULT_CLASS_ANNOTATION",
    "DEFAULT_CLASS_ANNOTATION",
    "Place",
    "bind_claim",
    "class_of",
    "default_class",
    "places",
    "quantity_bytes",
    "reconcile_volumes",
]


@dataclass
class Place:
    """A disk a replica may go to, with what is already scheduled on it."""

    node: str
    disk: str
    disk_uuid: str
    path: str
    room: int


def places(store: ObjectStore, settings: Mapping[str, str]) -> list[Place]:
    """Schedulable disks of Ready, Schedulable Longhorn Nodes, with their free room."""
    node_rt = longhorn.longhorn_type(store, "nodes")
    if node_rt is None:
        return []
    over = int(settings.get("storage-over-provisioning-percentage", "100") or 100)
    out: list[Place] = []
    for node in longhorn.items(store, node_rt, longhorn.NAMESPACE):
        status = node.get("status") or {}
        spec = node.get("spec") or {}
        if not (_true(status, "Ready") and _true(status, "Schedulable")):
            continue
        if not spec.get("allowScheduling", True):
            continue
        for disk_name, disk in sorted((spec.get("disks") or {}).items()):
            ds = (status.get("diskStatus") or {}).get(disk_name) or {}
            if not (
                disk.get("allowScheduling") and _true(ds, "Ready") and _true(ds, "Schedulable")
            ):
                continue
            usable = int(ds.get("storageMaximum") or 0) - int(disk.get("storageReserved") or 0)
            room = usable * over // 100 - int(ds.get("storageScheduled") or 0)
            out.append(
                Place(node["metadata"]["name"], disk_name, str(ds["diskUUID"]), disk["path"], room)
            )
    return out


def _true(status: Mapping[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or []
    )


def _attached_node(pvc: Mapping[str, Any], pods: list[Any]) -> str:
    namespace, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if pod["metadata"].get("namespace") != namespace:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        claims = [
            (v.get("persistentVolumeClaim") or {}).get("claimName")
            for v in (pod.get("spec") or {}).get("volumes") or []
        ]
        if node and name in claims:
            return str(node)
    return ""


def reconcile_volumes(store: ObjectStore, settings: Mapping[str, str], stamp: str) -> None:
    """Provision, bind and place replicas for every Longhorn-class PVC."""
    volume_rt = longhorn.longhorn_type(store, "volumes")
    replica_rt = longhorn.longhorn_type(store, "replicas")
    if volume_rt is None or replica_rt is None:
        return
    classes = longhorn.items(store, longhorn.resource(store, "storage.k8s.io", "storageclasses"))
    pods = longhorn.items(store, longhorn.resource(store, "", "pods"))
    pvcs = longhorn.items(store, longhorn.resource(store, "", "persistentvolumeclaims"))
    for pvc in sorted(pvcs, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        sc = class_of(pvc, classes)
        if sc is None or sc.get("provisioner") != longhorn.PROVISIONER:
            continue
        name = f"pvc-{pvc['metadata']['uid']}"
        size = quantity_bytes(
            str(
                (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
                    "storage", "0"
                )
            )
        )
        bind_claim(store, pvc, sc, name)
        _volume(store, volume_rt, replica_rt, pvc, sc, name, size, pods, settings, stamp)
    _reclaim(store, volume_rt, replica_rt, {str(p["metadata"]["uid"]) for p in pvcs})


def _reclaim(
    store: ObjectStore, volume_rt: ResourceType, replica_rt: ResourceType, claims: set[str]
) -> None:
    """A claim deleted: its PV (reclaimPolicy Delete) goes, and with it the Longhorn Volume
    and its replicas -- what the PV controller's delete and the CSI DeleteVolume do."""
    pv_rt = longhorn.resource(store, "", "persistentvolumes")
    ns = longhorn.NAMESPACE
    for pv in longhorn.items(store, pv_rt):
        spec = pv.get("spec") or {}
        claim = spec.get("claimRef") or {}
        if (spec.get("csi") or {}).get("driver") != longhorn.PROVISIONER:
            continue
        if not claim.get("uid") or str(claim["uid"]) in claims:
            continue
        if spec.get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
            continue
        name = str(pv["metadata"]["name"])
        for replica in longhorn.items(
            store, replica_rt, ns, label_selector=f"longhornvolume={name}"
        ):
            store_access.delete_if_present(store, replica_rt, ns, replica["metadata"]["name"])
        store_access.delete_if_present(store, volume_rt, ns, name)
        if pv["metadata"].get("finalizers"):
            pv["metadata"]["finalizers"] = []
            store.replace(pv_rt, "", name, pv)
        store_access.delete_if_present(store, pv_rt, "", name)


def _replica_name(volume: str, node: str) -> str:
    return f"{volume}-r-{hashlib.sha256(f'{volume}/{node}'.encode()).hexdigest()[:8]}"


def _soft_affinity(volume: Mapping[str, Any], settings: Mapping[str, str]) -> bool:
    override = (volume.get("spec") or {}).get("replicaSoftAntiAffinity") or "ignored"
    if override != "ignored":
        return override == "enabled"
    return settings.get("replica-soft-anti-affinity", "false") == "true"


def _volume(
    store: ObjectStore,
    volume_rt: ResourceType,
    replica_rt: ResourceType,
    pvc: Mapping[str, Any],
    sc: Mapping[str, Any],
    name: str,
    size: int,
    pods: list[Any],
    settings: Mapping[str, str],
    stamp: str,
) -> None:
    ns = longhorn.NAMESPACE
    params = sc.get("parameters") or {}
    current = store_access.get_or_none(store, volume_rt, ns, name)
    if current is None:
        current = store.create(
            volume_rt,
            ns,
            {
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "size": str(size),
                    "numberOfReplicas": int(params.get("numberOfReplicas", "3")),
                    "staleReplicaTimeout": int(params.get("staleReplicaTimeout", "30")),
                    "dataLocality": params.get("dataLocality", "disabled"),
                    "accessMode": "rwx"
                    if "ReadWriteMany" in ((pvc.get("spec") or {}).get("accessModes") or [])
                    else "rwo",
                    "frontend": "blockdev",
                    "dataEngine": params.get("dataEngine", "v1"),
                    "replicaSoftAntiAffinity": "ignored",
                    "replicaZoneSoftAntiAffinity": "ignored",
                    "replicaDiskSoftAntiAffinity": "ignored",
                    "replicaAutoBalance": "ignored",
                    "nodeID": "",
                },
            },
        )
    wanted = int((current.get("spec") or {}).get("numberOfReplicas") or 0)
    attached_to = _attached_node(pvc, pods)
    usable = _usable_disks(store)
    replicas = longhorn.items(store, replica_rt, ns, label_selector=f"longhornvolume={name}")
    replicas = _trim(store, replica_rt, replicas, wanted, usable)
    missing = wanted - len(replicas)
    replicas.extend(_place(store, replica_rt, current, replicas, missing, size, settings))
    healthy = 0
    for replica in replicas:
        is_up = replica["spec"]["diskID"] in usable
        healthy += is_up
        _replica_state(store, replica_rt, replica, is_up, bool(attached_to), stamp)
    scheduled = len(replicas) >= wanted
    _volume_status(store, volume_rt, name, pvc, scheduled, healthy, wanted, attached_to, stamp)


def _usable_disks(store: ObjectStore) -> set[str]:
    """UUIDs of Ready disks on Ready Longhorn Nodes: where a replica can run."""
    node_rt = longhorn.longhorn_type(store, "nodes")
    if node_rt is None:
        return set()
    found: set[str] = set()
    for node in longhorn.items(store, node_rt, longhorn.NAMESPACE):
        status = node.get("status") or {}
        if not _true(status, "Ready"):
            continue
        for disk in (status.get("diskStatus") or {}).values():
            if _true(disk, "Ready"):
                found.add(str(disk.get("diskUUID")))
    return found


def _trim(
    store: ObjectStore, rt: ResourceType, replicas: list[Any], wanted: int, usable: set[str]
) -> list[Any]:
    """Delete replicas beyond *wanted*: failed ones first, then by name."""
    keep = sorted(
        replicas, key=lambda r: (r["spec"]["diskID"] not in usable, r["metadata"]["name"])
    )
    for extra in keep[max(wanted, 0) :]:
        store.delete(rt, longhorn.NAMESPACE, extra["metadata"]["name"])
    return keep[: max(wanted, 0)]


def _place(
    store: ObjectStore,
    rt: ResourceType,
    volume: Mapping[str, Any],
    replicas: list[Any],
    missing: int,
    size: int,
    settings: Mapping[str, str],
) -> list[Any]:
    if missing <= 0:
        return []
    name = volume["metadata"]["name"]
    used = {r["spec"]["nodeID"] for r in replicas}
    soft = _soft_affinity(volume, settings)
    created: list[Any] = []
    available = places(store, settings)
    for _ in range(missing):
        candidates = [p for p in available if p.room >= size]
        fresh = [p for p in candidates if p.node not in used]
        pool = fresh or (candidates if soft else [])
        if not pool:
            break
        # Emptiest disk first, like Longhorn's default "least used" pick; name breaks ties.
        place = sorted(pool, key=lambda p: (-p.room, p.node, p.disk))[0]
        replica_name = _replica_name(name, f"{place.node}/{len(replicas) + len(created)}")
        body = {
            "metadata": {
                "name": replica_name,
                "namespace": longhorn.NAMESPACE,
                "labels": {
                    "longhornvolume": name,
                    "longhornnode": place.node,
                    "longhorndiskuuid": place.disk_uuid,
                },
                "ownerReferences": [
                    {
                        "apiVersion": f"{longhorn.GROUP}/{longhorn.VERSION}",
                        "kind": "Volume",
                        "name": name,
                        "uid": volume["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "nodeID": place.node,
                "diskID": place.disk_uuid,
                "diskPath": place.path,
                "dataDirectoryName": replica_name,
                "volumeName": name,
                "volumeSize": str(size),
                "engineName": f"{name}-e-0",
                "active": True,
                "dataEngine": "v1",
                "desireState": "stopped",
                "failedAt": "",
                "healthyAt": "",
                "lastHealthyAt": "",
                "hardNodeAffinity": "",
            },
        }
        created.append(store.create(rt, longhorn.NAMESPACE, body))
        used.add(place.node)
        # The Node CRs show the new usage only after the node pass; count it here meanwhile.
        place.room -= size
    return created


def _replica_state(
    store: ObjectStore,
    rt: ResourceType,
    replica: Mapping[str, Any],
    is_up: bool,
    attached: bool,
    stamp: str,
) -> None:
    def build(old: dict[str, Any] | None) -> dict[str, Any] | None:
        if old is None:  # deleted since it was listed
            return None
        obj = old
        spec = obj["spec"]
        if is_up:
            if spec.get("failedAt") or not spec.get("healthyAt"):
                spec["healthyAt"] = stamp
                spec["lastHealthyAt"] = stamp
            spec["failedAt"] = ""
            spec["desireState"] = "running" if attached else "stopped"
            state = "running" if attached else "stopped"
        else:
            if not spec.get("failedAt"):
                spec["failedAt"] = stamp
            spec["desireState"] = "stopped"
            state = "error"
        obj["status"] = {
            **(obj.get("status") or {}),
            "currentState": state,
            "instanceManagerName": "",
            "started": state == "running",
        }
        return obj

    longhorn.ensure(store, rt, longhorn.NAMESPACE, replica["metadata"]["name"], build)


def _volume_status(
    store: ObjectStore,
    rt: ResourceType,
    name: str,
    pvc: Mapping[str, Any],
    scheduled: bool,
    healthy: int,
    wanted: int,
    attached_to: str,
    stamp: str,
) -> None:
    def build(old: dict[str, Any] | None) -> dict[str, Any] | None:
        if old is None:  # deleted since this pass created or read it
            return None
        previous = old.get("status") or {}
        if attached_to:
            if healthy == 0:
                robustness = "faulted"
            elif healthy >= wanted:
                robustness = "healthy"
            else:
                robustness = "degraded"
        else:
            robustness = "faulted" if previous.get("robustness") == "faulted" else "unknown"
        degraded_at = str(previous.get("lastDegradedAt") or "")
        if robustness == "degraded" and previous.get("robustness") != "degraded":
            degraded_at = stamp
        old["status"] = {
            **previous,
            "state": "attached" if attached_to else "detached",
            "robustness": robustness,
            "currentNodeID": attached_to,
            "lastDegradedAt": degraded_at,
            "actualSize": 0,
            "kubernetesStatus": {
                "pvName": name,
                "pvStatus": "Bound",
                "namespace": pvc["metadata"]["namespace"],
                "pvcName": pvc["metadata"]["name"],
            },
            "conditions": [
                longhorn.condition(
                    previous.get("conditions"),
                    "Scheduled",
                    scheduled,
                    "ReplicaSchedulingFailure",
                    "replica scheduling failed",
                    stamp,
                )
            ],
        }
        return old

    longhorn.ensure(store, rt, longhorn.NAMESPACE, name, build)
