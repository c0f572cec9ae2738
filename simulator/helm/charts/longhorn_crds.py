"""Longhorn 1.8.1 chart: the ``longhorn.io`` CustomResourceDefinitions.

What belongs here: the 22 CRDs ``chart/templates/crds.yaml`` (longhorn/longhorn
tag v1.8.1) installs -- names, shortNames, served/storage versions and
printer columns as shipped (facts/k8s-stack.md section 2.2).  Unlike Cilium,
the Longhorn chart ships its CRDs as ordinary templates, so Helm creates and
deletes them with the release.

Deviations: the OpenAPI schemas are replaced by
``x-kubernetes-preserve-unknown-fields`` (the simulator validates no Longhorn
fields) and the ``Webhook`` conversion strategy of BackingImage, BackupTarget,
EngineImage, Node and Volume is left at ``None`` (no conversion webhook runs in
the simulator; v1beta1 and v1beta2 objects are stored as written).
"""

from __future__ import annotations

from simulator.helm.charts.objects import Manifest

_AGE = ("Age", "date", ".metadata.creationTimestamp")
_DATA_ENGINE = ("Data Engine", "string", ".spec.dataEngine")
_NODE = ("Node", "string", ".spec.nodeID")
_STATE = ("State", "string", ".status.currentState")

Column = tuple[str, str, str]

# kind, plural, shortName, still serves v1beta1, printer columns (v1beta2)
CRDS: tuple[tuple[str, str, str, bool, tuple[Column, ...]], ...] = (
    (
        "BackingImageDataSource",
        "backingimagedatasources",
        "lhbids",
        True,
        (
            ("UUID", "string", ".spec.uuid"),
            _STATE,
            ("SourceType", "string", ".spec.sourceType"),
            ("Size", "string", ".status.size"),
            _NODE,
            ("DiskUUID", "string", ".spec.diskUUID"),
            _AGE,
        ),
    ),
    (
        "BackingImageManager",
        "backingimagemanagers",
        "lhbim",
        True,
        (
            _STATE,
            ("Image", "string", ".spec.image"),
            _NODE,
            ("DiskUUID", "string", ".spec.diskUUID"),
            ("DiskPath", "string", ".spec.diskPath"),
            _AGE,
        ),
    ),
    (
        "BackingImage",
        "backingimages",
        "lhbi",
        True,
        (
            ("UUID", "string", ".status.uuid"),
            ("SourceType", "string", ".spec.sourceType"),
            ("Size", "string", ".status.size"),
            ("VirtualSize", "string", ".status.virtualSize"),
            _AGE,
        ),
    ),
    (
        "BackupBackingImage",
        "backupbackingimages",
        "lhbbi",
        False,
        (
            ("BackingImage", "string", ".status.backingImage"),
            ("Size", "string", ".status.size"),
            ("BackupCreatedAt", "string", ".status.backupCreatedAt"),
            ("State", "string", ".status.state"),
            ("LastSyncedAt", "string", ".status.lastSyncedAt"),
        ),
    ),
    (
        "Backup",
        "backups",
        "lhb",
        True,
        (
            ("SnapshotName", "string", ".status.snapshotName"),
            ("SnapshotSize", "string", ".status.size"),
            ("SnapshotCreatedAt", "string", ".status.snapshotCreatedAt"),
            ("BackupTarget", "string", ".status.backupTargetName"),
            ("State", "string", ".status.state"),
            ("LastSyncedAt", "string", ".status.lastSyncedAt"),
        ),
    ),
    (
        "BackupTarget",
        "backuptargets",
        "lhbt",
        True,
        (
            ("URL", "string", ".spec.backupTargetURL"),
            ("Credential", "string", ".spec.credentialSecret"),
            ("LastBackupAt", "string", ".spec.pollInterval"),
            ("Available", "boolean", ".status.available"),
            ("LastSyncedAt", "string", ".status.lastSyncedAt"),
        ),
    ),
    (
        "BackupVolume",
        "backupvolumes",
        "lhbv",
        True,
        (
            ("BackupTarget", "string", ".spec.backupTargetName"),
            ("CreatedAt", "string", ".status.createdAt"),
            ("LastBackupName", "string", ".status.lastBackupName"),
            ("LastBackupAt", "string", ".status.lastBackupAt"),
            ("LastSyncedAt", "string", ".status.lastSyncedAt"),
        ),
    ),
    (
        "EngineImage",
        "engineimages",
        "lhei",
        True,
        (
            ("Incompatible", "boolean", ".status.incompatible"),
            ("State", "string", ".status.state"),
            ("Image", "string", ".spec.image"),
            ("RefCount", "integer", ".status.refCount"),
            ("BuildDate", "date", ".status.buildDate"),
            _AGE,
        ),
    ),
    (
        "Engine",
        "engines",
        "lhe",
        True,
        (
            _DATA_ENGINE,
            _STATE,
            _NODE,
            ("InstanceManager", "string", ".status.instanceManagerName"),
            ("Image", "string", ".status.currentImage"),
            _AGE,
        ),
    ),
    (
        "InstanceManager",
        "instancemanagers",
        "lhim",
        True,
        (_DATA_ENGINE, _STATE, ("Type", "string", ".spec.type"), _NODE, _AGE),
    ),
    (
        "Node",
        "nodes",
        "lhn",
        True,
        (
            ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
            ("AllowScheduling", "boolean", ".spec.allowScheduling"),
            ("Schedulable", "string", ".status.conditions[?(@.type=='Schedulable')].status"),
            _AGE,
        ),
    ),
    ("Orphan", "orphans", "lho", False, (("Type", "string", ".spec.orphanType"), _NODE)),
    (
        "RecurringJob",
        "recurringjobs",
        "lhrj",
        True,
        (
            ("Groups", "string", ".spec.groups"),
            ("Task", "string", ".spec.task"),
            ("Cron", "string", ".spec.cron"),
            ("Retain", "integer", ".spec.retain"),
            ("Concurrency", "integer", ".spec.concurrency"),
            _AGE,
            ("Labels", "string", ".spec.labels"),
        ),
    ),
    (
        "Replica",
        "replicas",
        "lhr",
        True,
        (
            _DATA_ENGINE,
            _STATE,
            _NODE,
            ("Disk", "string", ".spec.diskID"),
            ("InstanceManager", "string", ".status.instanceManagerName"),
            ("Image", "string", ".status.currentImage"),
            _AGE,
        ),
    ),
    (
        "Setting",
        "settings",
        "lhs",
        True,
        (("Value", "string", ".value"), ("Applied", "boolean", ".status.applied"), _AGE),
    ),
    (
        "ShareManager",
        "sharemanagers",
        "lhsm",
        True,
        (("State", "string", ".status.state"), ("Node", "string", ".status.ownerID"), _AGE),
    ),
    (
        "Snapshot",
        "snapshots",
        "lhsnap",
        False,
        (
            ("Volume", "string", ".spec.volume"),
            ("CreationTime", "string", ".status.creationTime"),
            ("ReadyToUse", "boolean", ".status.readyToUse"),
            ("RestoreSize", "string", ".status.restoreSize"),
            ("Size", "string", ".status.size"),
            _AGE,
        ),
    ),
    (
        "SupportBundle",
        "supportbundles",
        "lhbundle",
        False,
        (
            ("State", "string", ".status.state"),
            ("Issue", "string", ".spec.issueURL"),
            ("Description", "string", ".spec.description"),
            _AGE,
        ),
    ),
    (
        "SystemBackup",
        "systembackups",
        "lhsb",
        False,
        (
            ("Version", "string", ".status.version"),
            ("State", "string", ".status.state"),
            ("Created", "string", ".status.createdAt"),
            ("LastSyncedAt", "string", ".status.lastSyncedAt"),
        ),
    ),
    (
        "SystemRestore",
        "systemrestores",
        "lhsr",
        False,
        (("State", "string", ".status.state"), _AGE),
    ),
    ("VolumeAttachment", "volumeattachments", "lhva", False, (_AGE,)),
    (
        "Volume",
        "volumes",
        "lhv",
        True,
        (
            _DATA_ENGINE,
            ("State", "string", ".status.state"),
            ("Robustness", "string", ".status.robustness"),
            # The chart's quirk: the column reads "Schedulable", the controller
            # writes the condition type "Scheduled" (facts section 2.2).
            ("Scheduled", "string", ".status.conditions[?(@.type=='Schedulable')].status"),
            ("Size", "string", ".spec.size"),
            ("Node", "string", ".status.currentNodeID"),
            _AGE,
        ),
    ),
)


def _version(name: str, *, storage: bool, columns: tuple[Column, ...]) -> Manifest:
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "additionalPrinterColumns": [
            {"name": title, "type": kind, "jsonPath": path} for title, kind, path in columns
        ],
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
        "subresources": {"status": {}},
    }


def crds(labels: dict[str, str]) -> list[Manifest]:
    """The CRD objects, each carrying the chart's *labels*."""
    out: list[Manifest] = []
    for kind, plural, short, has_v1beta1, columns in CRDS:
        versions = [_version("v1beta2", storage=True, columns=columns)]
        if has_v1beta1:
            versions.insert(0, _version("v1beta1", storage=False, columns=columns))
        out.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": f"{plural}.longhorn.io",
                    "labels": {**labels, "longhorn-manager": ""},
                },
                "spec": {
                    "group": "longhorn.io",
                    "names": {
                        "kind": kind,
                        "listKind": f"{kind}List",
                        "plural": plural,
                        "singular": kind.lower(),
                        "shortNames": [short],
                    },
                    "scope": "Namespaced",
                    "versions": versions,
                },
            }
        )
    return out
