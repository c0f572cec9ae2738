"""Longhorn controls over its storage objects: replica count, default class, volumes.

What belongs here: LH-04 (the declared replica count in the setting, the
StorageClass and every volume), LH-05 (the Longhorn class is the one default
class) and LH-06 (every volume has that many healthy replicas on distinct
nodes).  They judge Longhorn's and Kubernetes' objects only; the node-side
controls and the shared helpers are in :mod:`checks.longhorn`.

Facts (facts/k8s-stack.md §2.3-2.8, Longhorn 1.8.1): a Setting's value is a
top-level string; StorageClass ``longhorn`` (provisioner
``driver.longhorn.io``) is rewritten by longhorn-manager from ConfigMap
``longhorn-storageclass`` and carries ``numberOfReplicas`` as a string; a CSI
volume takes its replica count from the class at creation and keeps its own
``spec.numberOfReplicas`` afterwards; a detached volume's robustness is
``unknown`` and its replicas are ``stopped``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks import judged, longhorn
from checks import snapshot as snap
from checks.findings import Finding
from checks.snapshot import KubeObject, Snapshot

SETTINGS_DOC = "https://longhorn.io/docs/1.8.1/references/settings/#default-replica-count"
CLASS_DOC = "https://longhorn.io/docs/1.8.1/references/storage-class-parameters/"
DEFAULT_CLASS_DOC = (
    "https://kubernetes.io/docs/concepts/storage/storage-classes/#default-storageclass"
)
VOLUME_DOC = "https://longhorn.io/docs/1.8.1/concepts/"

CLASS_NAME = "longhorn"  # the chart's class (persistence.defaultClass), rebuilt by the manager
PROVISIONER = "driver.longhorn.io"
REPLICA_SETTING = "default-replica-count"
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",  # still honoured by Kubernetes
)


@dataclass(frozen=True)
class ReplicaCountMismatch(Finding):
    """A place that sets the replica count does not say the declared number."""


@dataclass(frozen=True)
class DefaultClassWrong(Finding):
    """The default StorageClass is not exactly the Longhorn class."""


@dataclass(frozen=True)
class VolumeNotReplicated(Finding):
    """A volume lacks healthy replicas, shares a node between them, or is not healthy."""


def volume_label(volume: KubeObject) -> str:
    """``Volume longhorn-system/pvc-... (PVC ns/name)``: the claim is what operators know."""
    meta = volume.get("metadata") or {}
    k8s = snap.dotted(volume, "status.kubernetesStatus", {}) or {}
    label = f"Volume {meta.get('namespace')}/{meta.get('name')}"
    if k8s.get("pvcName"):
        label += f" (PVC {k8s.get('namespace')}/{k8s.get('pvcName')})"
    return label


# -- LH-04 ---------------------------------------------------------------------------------------


@judged.judges(settings=judged.one, volumes=lambda s, **_: len(_volumes(s)))
def replica_count_declared(snapshot: Snapshot) -> list[Finding]:
    """The declared replica count is what every place that sets one says.

    Observed: Setting ``default-replica-count`` (``value``, a string in
    1.8.1; used for volumes made in the UI or API), StorageClass
    ``longhorn`` ``parameters.numberOfReplicas`` (used by CSI volumes) and
    each Volume's ``spec.numberOfReplicas`` (a volume keeps its own count
    once created, so a class fixed later leaves old volumes short).
    """
    definition = snapshot.definition
    count = definition.storage.replica_count
    ns = longhorn.namespace(definition)
    findings: list[Finding] = []
    setting = snap.named(snapshot.objects(snap.LONGHORN_SETTINGS), REPLICA_SETTING, ns)
    if not setting:
        findings.append(
            ReplicaCountMismatch(
                f"Setting {ns}/{REPLICA_SETTING}",
                f'value "{count}"',
                "no such Setting",
                SETTINGS_DOC,
            )
        )
    elif str(setting.get("value")) != str(count):
        findings.append(
            ReplicaCountMismatch(
                f"Setting {ns}/{REPLICA_SETTING}",
                f'value "{count}"',
                f"value {setting.get('value')!r}",
                SETTINGS_DOC,
            )
        )
    sc = snap.named(snapshot.objects(snap.STORAGE_CLASSES), CLASS_NAME)
    replicas = snap.dotted(sc, "parameters.numberOfReplicas")
    if not sc:
        findings.append(
            ReplicaCountMismatch(
                f"StorageClass/{CLASS_NAME}",
                f'numberOfReplicas "{count}"',
                "no such StorageClass",
                CLASS_DOC,
            )
        )
    elif str(replicas) != str(count):
        findings.append(
            ReplicaCountMismatch(
                f"StorageClass/{CLASS_NAME}",
                f'numberOfReplicas "{count}"',
                f"numberOfReplicas {replicas!r}",
                CLASS_DOC,
            )
        )
    for volume in _volumes(snapshot):
        wanted = snap.dotted(volume, "spec.numberOfReplicas")
        if str(wanted) != str(count):
            findings.append(
                ReplicaCountMismatch(
                    volume_label(volume),
                    f"numberOfReplicas {count}",
                    f"numberOfReplicas {wanted}",
                    CLASS_DOC,
                )
            )
    return findings


def _volumes(snapshot: Snapshot) -> list[KubeObject]:
    found = longhorn.in_longhorn_namespace(snapshot, snap.LONGHORN_VOLUMES, snapshot.definition)
    return sorted(found, key=lambda v: str((v.get("metadata") or {}).get("name")))


# -- LH-05 ---------------------------------------------------------------------------------------


def is_default_class(sc: KubeObject) -> bool:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


@judged.judges(storage_classes=judged.kube_objects(snap.STORAGE_CLASSES))
def longhorn_sole_default_class(snapshot: Snapshot) -> list[Finding]:
    """The Longhorn StorageClass is the one and only default class.

    Observed: the ``is-default-class`` annotation (GA or beta form) on every
    StorageClass.  With two defaults Kubernetes picks the newest for a claim
    without a class, so claims silently land on the other provisioner; with
    none, they stay Pending.
    """
    classes = snapshot.objects(snap.STORAGE_CLASSES)
    findings: list[Finding] = []
    sc = snap.named(classes, CLASS_NAME)
    if not sc:
        findings.append(
            DefaultClassWrong(
                f"StorageClass/{CLASS_NAME}",
                f"present, default, provisioner {PROVISIONER}",
                "no such StorageClass",
                DEFAULT_CLASS_DOC,
            )
        )
    else:
        if not is_default_class(sc):
            findings.append(
                DefaultClassWrong(
                    f"StorageClass/{CLASS_NAME}",
                    f'annotation {DEFAULT_CLASS_ANNOTATIONS[0]}: "true"',
                    "not marked default",
                    DEFAULT_CLASS_DOC,
                )
            )
        if sc.get("provisioner") != PROVISIONER:
            findings.append(
                DefaultClassWrong(
                    f"StorageClass/{CLASS_NAME}",
                    f"provisioner {PROVISIONER}",
                    f"provisioner {sc.get('provisioner')}",
                    DEFAULT_CLASS_DOC,
                )
            )
    for other in classes:
        name = (other.get("metadata") or {}).get("name")
        if name != CLASS_NAME and is_default_class(other):
            findings.append(
                DefaultClassWrong(
                    f"StorageClass/{name}",
                    f"not default (the default is {CLASS_NAME})",
                    f"marked default, provisioner {other.get('provisioner')}",
                    DEFAULT_CLASS_DOC,
                )
            )
    return findings


# -- LH-06 ---------------------------------------------------------------------------------------


def _replica_problem(replica: KubeObject, is_attached: bool) -> str | None:
    """Why *replica* does not count as healthy, or None when it does."""
    spec: Mapping[str, Any] = replica.get("spec") or {}
    state = snap.dotted(replica, "status.currentState", "unknown")
    if spec.get("failedAt"):
        return f"failed at {spec.get('failedAt')} (state {state})"
    if spec.get("active") is False:
        return "inactive"
    # A detached volume's replicas are stopped, which is their healthy state.
    healthy_states = ("running",) if is_attached else ("running", "stopped")
    if state not in healthy_states:
        return f"state {state}"
    return None


@judged.judges(may_be_empty=True, volumes=lambda s, **_: len(_volumes(s)))
def volumes_fully_replicated(snapshot: Snapshot) -> list[Finding]:
    """Every volume has the declared number of healthy replicas, on distinct nodes.

    Observed: Longhorn ``Replica`` objects (``spec.volumeName``,
    ``spec.nodeID``, ``spec.failedAt``, ``status.currentState``) and each
    Volume's ``status.robustness``, which must be ``healthy`` while attached
    and never ``faulted`` (a detached volume reads ``unknown``).  Holds
    trivially when the cluster has no volumes.
    """
    definition = snapshot.definition
    count = definition.storage.replica_count
    replicas = longhorn.in_longhorn_namespace(snapshot, snap.LONGHORN_REPLICAS, definition)
    findings: list[Finding] = []
    for volume in _volumes(snapshot):
        name = (volume.get("metadata") or {}).get("name")
        is_attached = snap.dotted(volume, "status.state") == "attached"
        mine = [r for r in replicas if snap.dotted(r, "spec.volumeName") == name]
        problems: list[str] = []
        healthy_nodes: list[str] = []
        for replica in sorted(mine, key=lambda r: str((r.get("metadata") or {}).get("name"))):
            node = str(snap.dotted(replica, "spec.nodeID") or "no node")
            why = _replica_problem(replica, is_attached)
            if why is None:
                healthy_nodes.append(node)
            else:
                problems.append(f"replica {replica['metadata'].get('name')} on {node}: {why}")
        if len(healthy_nodes) != count:
            problems.insert(0, f"{len(healthy_nodes)} healthy replicas")
        shared = sorted(n for n, k in Counter(healthy_nodes).items() if k > 1)
        if shared:
            problems.append(f"replicas share node {', '.join(shared)}")
        robustness = snap.dotted(volume, "status.robustness", "unknown")
        if (is_attached and robustness != "healthy") or robustness == "faulted":
            state = snap.dotted(volume, "status.state", "unknown")
            problems.append(f"robustness {robustness} ({state})")
        if problems:
            findings.append(
                VolumeNotReplicated(
                    volume_label(volume),
                    f"{count} healthy replicas on distinct nodes",
                    "; ".join(problems),
                    VOLUME_DOC,
                )
            )
    return findings
