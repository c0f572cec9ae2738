"""Longhorn controls over its storage objects: replica count, default class, volumes.

What belongs here: LH-04 (the declared replica count in the setting, the
StorageClass and every volume), LH-05 (the Longhorn class is the one default
class) and LH-06 (every volume, and a test claim's new volume, has that many
healthy replicas on distinct nodes).  They judge Longhorn's and Kubernetes'
objects only; the node-side controls and the shared helpers are in
:mod:`checks.longhorn`.

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
from checks.findings import Finding, Unobservable
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
    """A place that sets the replica count does not say the declared number; *storage_class*
    names the class when that place is a StorageClass."""

    storage_class: str = ""


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


@judged.judges(
    settings=judged.one,
    storage_classes=judged.kube_objects(snap.STORAGE_CLASSES),
    volumes=lambda s, **_: len(_volumes(s)),
)
def replica_count_declared(snapshot: Snapshot) -> list[Finding]:
    """The declared replica count is what every place that sets one says.

    Observed: Setting ``default-replica-count`` (``value``, a string in
    1.8.1; used for volumes made in the UI or API), the
    ``parameters.numberOfReplicas`` of StorageClass ``longhorn`` and of every
    other class of provisioner ``driver.longhorn.io`` (a class applied with
    kubectl makes CSI volumes as much as the chart's; one without the
    parameter falls back to the Setting) and
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
    classes = snapshot.objects(snap.STORAGE_CLASSES)
    if not snap.named(classes, CLASS_NAME):
        findings.append(
            ReplicaCountMismatch(
                f"StorageClass/{CLASS_NAME}",
                f'numberOfReplicas "{count}"',
                "no such StorageClass",
                CLASS_DOC,
            )
        )
    for sc in sorted(classes, key=lambda c: str((c.get("metadata") or {}).get("name"))):
        if sc.get("provisioner") != PROVISIONER:
            continue
        name = str((sc.get("metadata") or {}).get("name"))
        replicas = snap.dotted(sc, "parameters.numberOfReplicas")
        if replicas is None and name != CLASS_NAME:
            continue  # the volume then takes default-replica-count, judged above
        if str(replicas) != str(count):
            findings.append(
                ReplicaCountMismatch(
                    f"StorageClass/{name}",
                    f'numberOfReplicas "{count}"',
                    f"numberOfReplicas {replicas!r}",
                    CLASS_DOC,
                    storage_class=name,
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


@dataclass(frozen=True)
class VolumeProbe:
    """What the LH-06 probe did: a short-lived test claim on the default StorageClass.

    *claim* is ``namespace/name``; *storage_class* the class the claim
    resolved to (``""`` when none); *phase* the claim's last phase; *volume*
    and *replicas* the Longhorn Volume and Replicas it got, as last read
    before the claim was deleted; *waited* how long the probe waited for
    them; *error* why the probe could not run at all (then nothing else
    counts).
    """

    claim: str
    storage_class: str = ""
    phase: str = ""
    volume: KubeObject | None = None
    replicas: tuple[KubeObject, ...] = ()
    waited: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class ProbeVolumeMissing(Finding):
    """The test claim on the default class got no Longhorn volume."""


def _volume_problems(volume: KubeObject, replicas: list[KubeObject], count: int) -> list[str]:
    """Why *volume* does not have *count* healthy replicas on distinct nodes; [] when it has."""
    is_attached = snap.dotted(volume, "status.state") == "attached"
    problems: list[str] = []
    healthy_nodes: list[str] = []
    for replica in sorted(replicas, key=lambda r: str((r.get("metadata") or {}).get("name"))):
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
    return problems


def _probe_findings(probe: VolumeProbe, count: int) -> list[Finding]:
    expected = f"{count} healthy replicas on distinct nodes"
    if probe.volume is None:
        return [
            ProbeVolumeMissing(
                f"PVC {probe.claim} (test claim on the default StorageClass)",
                f"a Longhorn volume with {expected} within {probe.waited:.0f}s",
                f"no Longhorn volume: claim {probe.phase or 'unknown phase'}, "
                f"storage class {probe.storage_class or 'none'}",
                VOLUME_DOC,
            )
        ]
    problems = _volume_problems(probe.volume, list(probe.replicas), count)
    if not problems:
        return []
    name = (probe.volume.get("metadata") or {}).get("name")
    return [
        VolumeNotReplicated(
            f"Volume {name} (test claim {probe.claim}, class {probe.storage_class})",
            f"{expected} within {probe.waited:.0f}s",
            "; ".join(problems),
            VOLUME_DOC,
        )
    ]


def _judged_volumes(snapshot: Snapshot, probe: VolumeProbe | None = None, **_: object) -> int:
    probed = probe is not None and probe.error is None
    return len(_volumes(snapshot)) + int(probed)


@judged.judges(volumes=_judged_volumes)
def volumes_fully_replicated(snapshot: Snapshot, probe: VolumeProbe | None = None) -> list[Finding]:
    """Every volume has the declared number of healthy replicas, on distinct nodes.

    Observed: Longhorn ``Replica`` objects (``spec.volumeName``,
    ``spec.nodeID``, ``spec.failedAt``, ``status.currentState``) and each
    Volume's ``status.robustness``, which must be ``healthy`` while attached
    and never ``faulted`` (a detached volume reads ``unknown``).

    Judging the volumes that exist says nothing on a cluster without any, and
    nothing about the next one.  The *probe* (:class:`VolumeProbe`) is a
    short-lived claim on the default StorageClass: the volume Longhorn makes
    for it must get the declared number of replicas on distinct nodes, as
    every new volume must.  A probe that could not run leaves the control
    unobservable unless an existing volume already fails it.
    """
    definition = snapshot.definition
    count = definition.storage.replica_count
    replicas = longhorn.in_longhorn_namespace(snapshot, snap.LONGHORN_REPLICAS, definition)
    findings: list[Finding] = []
    for volume in _volumes(snapshot):
        name = (volume.get("metadata") or {}).get("name")
        mine = [r for r in replicas if snap.dotted(r, "spec.volumeName") == name]
        problems = _volume_problems(volume, mine, count)
        if problems:
            findings.append(
                VolumeNotReplicated(
                    volume_label(volume),
                    f"{count} healthy replicas on distinct nodes",
                    "; ".join(problems),
                    VOLUME_DOC,
                )
            )
    if probe is None:
        return findings
    if probe.error is not None:
        if findings:
            return findings
        raise Unobservable(f"the volume probe could not run: {probe.error}")
    return findings + _probe_findings(probe, count)
