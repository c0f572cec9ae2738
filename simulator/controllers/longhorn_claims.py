"""Longhorn claims: which class a PVC resolves to, its size, and the PV bound to it.

What belongs here: the CSI provisioner's and the PV controller's part of a
Longhorn-class claim -- resolving its StorageClass, reading its requested
size, and binding it both ways to a PV ``pvc-<uid>`` that repeats the claim's
own quantity text.  Kept apart from :mod:`.longhorn_volumes` because it deals
only in core Kubernetes objects (PVC, PV, StorageClass), while that module
deals in Longhorn's Volume and Replica CRs.

Behaviour (facts/k8s-stack.md §2.3, §6.9): a PVC without
``storageClassName`` uses the default class (annotation
``storageclass.kubernetes.io/is-default-class: "true"``, or its beta form,
newest first, ties by name); ``""`` means no class.  Deviations: sizes are
not rounded; a PVC that is deleted leaves its PV (no reclaim).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from simulator.controllers import longhorn
from simulator.kube.objects import ObjectStore

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|k|m)?$")
_UNITS = {
    None: 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_bytes(text: str) -> int:
    """A storage quantity (``2Gi``, ``500M``, ``1073741824``) in bytes; 0 if unreadable."""
    found = _QUANTITY.match(text.strip())
    if found is None or found.group(2) == "m":
        return 0
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def default_class(classes: list[Any]) -> dict[str, Any] | None:
    defaults = [
        c
        for c in classes
        if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
        or (c["metadata"].get("annotations") or {}).get(BETA_DEFAULT_CLASS_ANNOTATION) == "true"
    ]
    if not defaults:
        return None
    defaults.sort(key=lambda c: c["metadata"]["name"])
    defaults.sort(key=lambda c: str(c["metadata"].get("creationTimestamp") or ""), reverse=True)
    found: dict[str, Any] = defaults[0]
    return found


def class_of(pvc: Mapping[str, Any], classes: list[Any]) -> dict[str, Any] | None:
    spec = pvc.get("spec") or {}
    if "storageClassName" not in spec or spec["storageClassName"] is None:
        return default_class(classes)
    for sc in classes:
        if sc["metadata"]["name"] == spec["storageClassName"]:
            found: dict[str, Any] = sc
            return found
    return None


def bind_claim(
    store: ObjectStore, pvc: Mapping[str, Any], sc: Mapping[str, Any], name: str
) -> None:
    """A PV repeating the claim's own quantity text, bound both ways (CSI provisioner)."""
    meta = pvc["metadata"]
    spec = pvc.get("spec") or {}
    storage = str(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
    modes = list(spec.get("accessModes") or ["ReadWriteOnce"])
    params = dict(sc.get("parameters") or {})

    def pv(old: dict[str, Any] | None) -> dict[str, Any]:
        if old is not None:
            old["status"] = {"phase": "Bound"}
            return old
        return {
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": longhorn.PROVISIONER},
                "finalizers": ["kubernetes.io/pv-protection"],
            },
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": modes,
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "claimRef": {
                    "kind": "PersistentVolumeClaim",
                    "apiVersion": "v1",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "csi": {
                    "driver": longhorn.PROVISIONER,
                    "volumeHandle": name,
                    "fsType": params.get("fsType", "ext4"),
                    "volumeAttributes": params,
                },
            },
            "status": {"phase": "Bound"},
        }

    def claim(old: dict[str, Any] | None) -> dict[str, Any] | None:
        if old is None:  # deleted since it was listed
            return None
        old["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
        old["spec"]["volumeName"] = name
        old["spec"].setdefault("storageClassName", sc["metadata"]["name"])
        old["status"] = {"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}
        return old

    longhorn.ensure(store, longhorn.resource(store, "", "persistentvolumes"), "", name, pv)
    longhorn.ensure(
        store,
        longhorn.resource(store, "", "persistentvolumeclaims"),
        meta["namespace"],
        meta["name"],
        claim,
    )
