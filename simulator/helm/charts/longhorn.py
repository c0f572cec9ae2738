"""The longhorn/longhorn 1.8.1 chart, rendered in Python for the simulator.

What belongs here: the chart defaults the renderer reads and :func:`render`.
Read from longhorn/longhorn tag v1.8.1 ``chart/templates`` and
``chart/values.yaml`` (facts/k8s-stack.md sections 2.1-2.5):

* The chart does **not** create its namespace (no Namespace template; the
  ``deploy/longhorn.yaml`` manifest adds one outside the chart), so the suite
  applies ``manifests/longhorn-namespace.yaml`` first or passes
  ``--create-namespace``.
* It **does** ship the ``longhorn.io`` CRDs as ordinary templates
  (:mod:`simulator.helm.charts.longhorn_crds`).
* ``longhorn-default-setting`` holds ``default-setting.yaml``: one
  ``<setting-id>: <value>`` line per ``defaultSettings.*`` value that is not
  null, in the template's order, printed as Go prints them.
* ``longhorn-storageclass`` holds the StorageClass as text; longhorn-manager,
  not Helm, creates StorageClass ``longhorn`` from it.  Quirk kept: ``dataEngine``
  is written only inside the ``disableRevisionCounter`` if-block.

Deviations: no pre/post-upgrade or uninstall hook Jobs (hooks are not run),
no NetworkPolicies/Ingress/PSP/OpenShift objects (off by default), pod specs
abbreviated to what checks read, ``taint-toleration`` and
``system-managed-components-node-selector`` printed as given (the Windows
cluster merge is not modelled).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.helm.charts import Chart, RenderError, longhorn_crds, longhorn_workloads
from simulator.helm.charts.objects import Manifest, get, meta, text

VERSION = "1.8.1"
APP_VERSION = "v1.8.1"

_IMAGE_TAG = APP_VERSION
DEFAULTS: dict[str, Any] = {
    "image": {
        "longhorn": {
            "manager": {"repository": "longhornio/longhorn-manager", "tag": _IMAGE_TAG},
            "ui": {"repository": "longhornio/longhorn-ui", "tag": _IMAGE_TAG},
            "engine": {"repository": "longhornio/longhorn-engine", "tag": _IMAGE_TAG},
            "instanceManager": {
                "repository": "longhornio/longhorn-instance-manager",
                "tag": _IMAGE_TAG,
            },
        },
        # The CSI sidecars longhorn-driver-deployer deploys (chart/values.yaml v1.8.1).
        "csi": {
            "attacher": {"repository": "longhornio/csi-attacher", "tag": "v4.8.1"},
            "provisioner": {"repository": "longhornio/csi-provisioner", "tag": "v5.2.0"},
            "nodeDriverRegistrar": {
                "repository": "longhornio/csi-node-driver-registrar",
                "tag": "v2.13.0",
            },
            "resizer": {"repository": "longhornio/csi-resizer", "tag": "v1.13.2"},
            "snapshotter": {"repository": "longhornio/csi-snapshotter", "tag": "v8.2.0"},
            "livenessProbe": {"repository": "longhornio/livenessprobe", "tag": "v2.15.0"},
        },
        "pullPolicy": "IfNotPresent",
    },
    # Empty: longhorn-driver-deployer's defaults (3 replicas each) apply.
    "csi": {
        "attacherReplicaCount": None,
        "provisionerReplicaCount": None,
        "resizerReplicaCount": None,
        "snapshotterReplicaCount": None,
    },
    "service": {"ui": {"type": "ClusterIP"}, "manager": {"type": "ClusterIP"}},
    "persistence": {
        "defaultClass": True,
        "defaultFsType": "ext4",
        "defaultMkfsParams": "",
        "defaultClassReplicaCount": 3,
        "defaultDataLocality": "disabled",
        "reclaimPolicy": "Delete",
        "migratable": False,
        "disableRevisionCounter": "true",
        "nfsOptions": "",
        "recurringJobSelector": {"enable": False, "jobList": []},
        "backingImage": {"enable": False},
        "defaultDiskSelector": {"enable": False, "selector": ""},
        "defaultNodeSelector": {"enable": False, "selector": ""},
        "removeSnapshotsDuringFilesystemTrim": "ignored",
        "dataEngine": "v1",
        "backupTargetName": "default",
    },
    "defaultSettings": {"priorityClass": "longhorn-critical", "disableRevisionCounter": "true"},
    "defaultBackupStore": {},
    "longhornManager": {"priorityClass": "longhorn-critical"},
    "longhornDriver": {"priorityClass": "longhorn-critical"},
    "longhornUI": {"replicas": 2, "priorityClass": "longhorn-critical"},
    "enablePSP": False,
    "namespaceOverride": "",
}

# (setting id, defaultSettings key) in the order templates/default-setting.yaml writes them.
_SETTINGS_TEXT = """
allow-recurring-job-while-volume-detached=allowRecurringJobWhileVolumeDetached
create-default-disk-labeled-nodes=createDefaultDiskLabeledNodes
default-data-path=defaultDataPath
replica-soft-anti-affinity=replicaSoftAntiAffinity
replica-auto-balance=replicaAutoBalance
storage-over-provisioning-percentage=storageOverProvisioningPercentage
storage-minimal-available-percentage=storageMinimalAvailablePercentage
storage-reserved-percentage-for-default-disk=storageReservedPercentageForDefaultDisk
upgrade-checker=upgradeChecker
upgrade-responder-url=upgradeResponderURL
default-replica-count=defaultReplicaCount
default-data-locality=defaultDataLocality
default-longhorn-static-storage-class=defaultLonghornStaticStorageClass
failed-backup-ttl=failedBackupTTL
backup-execution-timeout=backupExecutionTimeout
restore-volume-recurring-jobs=restoreVolumeRecurringJobs
recurring-successful-jobs-history-limit=recurringSuccessfulJobsHistoryLimit
recurring-job-max-retention=recurringJobMaxRetention
recurring-failed-jobs-history-limit=recurringFailedJobsHistoryLimit
support-bundle-failed-history-limit=supportBundleFailedHistoryLimit
taint-toleration=taintToleration
system-managed-components-node-selector=systemManagedComponentsNodeSelector
priority-class=priorityClass
auto-salvage=autoSalvage
auto-delete-pod-when-volume-detached-unexpectedly=autoDeletePodWhenVolumeDetachedUnexpectedly
disable-scheduling-on-cordoned-node=disableSchedulingOnCordonedNode
replica-zone-soft-anti-affinity=replicaZoneSoftAntiAffinity
replica-disk-soft-anti-affinity=replicaDiskSoftAntiAffinity
node-down-pod-deletion-policy=nodeDownPodDeletionPolicy
node-drain-policy=nodeDrainPolicy
detach-manually-attached-volumes-when-cordoned=detachManuallyAttachedVolumesWhenCordoned
replica-replenishment-wait-interval=replicaReplenishmentWaitInterval
concurrent-replica-rebuild-per-node-limit=concurrentReplicaRebuildPerNodeLimit
concurrent-volume-backup-restore-per-node-limit=concurrentVolumeBackupRestorePerNodeLimit
disable-revision-counter=disableRevisionCounter
system-managed-pods-image-pull-policy=systemManagedPodsImagePullPolicy
allow-volume-creation-with-degraded-availability=allowVolumeCreationWithDegradedAvailability
auto-cleanup-system-generated-snapshot=autoCleanupSystemGeneratedSnapshot
auto-cleanup-recurring-job-backup-snapshot=autoCleanupRecurringJobBackupSnapshot
concurrent-automatic-engine-upgrade-per-node-limit=concurrentAutomaticEngineUpgradePerNodeLimit
backing-image-cleanup-wait-interval=backingImageCleanupWaitInterval
backing-image-recovery-wait-interval=backingImageRecoveryWaitInterval
guaranteed-instance-manager-cpu=guaranteedInstanceManagerCPU
kubernetes-cluster-autoscaler-enabled=kubernetesClusterAutoscalerEnabled
orphan-auto-deletion=orphanAutoDeletion
storage-network=storageNetwork
deleting-confirmation-flag=deletingConfirmationFlag
engine-replica-timeout=engineReplicaTimeout
snapshot-data-integrity=snapshotDataIntegrity
snapshot-data-integrity-immediate-check-after-snapshot-creation=snapshotDataIntegrityImmediateCheckAfterSnapshotCreation
snapshot-data-integrity-cronjob=snapshotDataIntegrityCronjob
remove-snapshots-during-filesystem-trim=removeSnapshotsDuringFilesystemTrim
fast-replica-rebuild-enabled=fastReplicaRebuildEnabled
replica-file-sync-http-client-timeout=replicaFileSyncHttpClientTimeout
long-grpc-timeout=longGRPCTimeOut
log-level=logLevel
backup-compression-method=backupCompressionMethod
backup-concurrent-limit=backupConcurrentLimit
restore-concurrent-limit=restoreConcurrentLimit
v1-data-engine=v1DataEngine
v2-data-engine=v2DataEngine
v2-data-engine-hugepage-limit=v2DataEngineHugepageLimit
allow-empty-node-selector-volume=allowEmptyNodeSelectorVolume
allow-empty-disk-selector-volume=allowEmptyDiskSelectorVolume
allow-collecting-longhorn-usage-metrics=allowCollectingLonghornUsageMetrics
disable-snapshot-purge=disableSnapshotPurge
v2-data-engine-guaranteed-instance-manager-cpu=v2DataEngineGuaranteedInstanceManagerCPU
snapshot-max-count=snapshotMaxCount
v2-data-engine-log-level=v2DataEngineLogLevel
v2-data-engine-log-flags=v2DataEngineLogFlags
freeze-filesystem-for-snapshot=freezeFilesystemForSnapshot
auto-cleanup-when-delete-backup=autoCleanupSnapshotWhenDeleteBackup
rwx-volume-fast-failover=rwxVolumeFastFailover
v2-data-engine-cpu-mask=v2DataEngineCPUMask
"""
SETTINGS: tuple[tuple[str, str], ...] = tuple(
    (setting, key) for setting, _, key in (line.partition("=") for line in _SETTINGS_TEXT.split())
)


def _truthy(value: Any) -> bool:
    # Go templates' `if`: any non-empty string (even "false") is true.
    return value not in (None, False, 0, "", [], {})


def _go(value: Any) -> str:
    """A value as ``{{ .Values.x }}`` prints it (Helm numbers are float64)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return text(value)


def default_setting_yaml(values: Mapping[str, Any]) -> str:
    """The ``default-setting.yaml`` text: set ``defaultSettings.*`` in template order."""
    settings = get(values, "defaultSettings", {}) or {}
    lines = [
        f"{setting}: {_go(settings[key])}"
        for setting, key in SETTINGS
        if settings.get(key) is not None
    ]
    return "\n".join(lines)


def storageclass_yaml(values: Mapping[str, Any]) -> str:
    """The ``storageclass.yaml`` text of ConfigMap ``longhorn-storageclass``."""
    p = get(values, "persistence", {}) or {}
    default_class = _go(p.get("defaultClass", True))
    lines = [
        "kind: StorageClass",
        "apiVersion: storage.k8s.io/v1",
        "metadata:",
        "  name: longhorn",
        "  annotations:",
        f'    storageclass.kubernetes.io/is-default-class: "{default_class}"',
        "provisioner: driver.longhorn.io",
        "allowVolumeExpansion: true",
        f'reclaimPolicy: "{_go(p.get("reclaimPolicy", ""))}"',
        "volumeBindingMode: Immediate",
        "parameters:",
        f'  numberOfReplicas: "{_go(p.get("defaultClassReplicaCount", ""))}"',
        '  staleReplicaTimeout: "30"',
        '  fromBackup: ""',
    ]
    optional = (
        ("defaultFsType", "fsType"),
        ("defaultMkfsParams", "mkfsParams"),
        ("migratable", "migratable"),
        ("nfsOptions", "nfsOptions"),
    )
    lines += [f'  {param}: "{_go(p[key])}"' for key, param in optional if _truthy(p.get(key))]
    backing = p.get("backingImage") or {}
    if _truthy(backing.get("enable")):
        for key, param in (
            ("name", "backingImage"),
            ("dataSourceType", "backingImageDataSourceType"),
            ("dataSourceParameters", "backingImageDataSourceParameters"),
            ("expectedChecksum", "backingImageChecksum"),
        ):
            lines.append(f"  {param}: {_go(backing.get(key, ''))}")
    jobs = p.get("recurringJobSelector") or {}
    if _truthy(jobs.get("enable")):
        lines.append(f"  recurringJobSelector: '{_go(jobs.get('jobList', ''))}'")
    lines.append(f'  dataLocality: "{_go(p.get("defaultDataLocality", ""))}"')
    for key, param in (
        ("defaultDiskSelector", "diskSelector"),
        ("defaultNodeSelector", "nodeSelector"),
    ):
        selector = p.get(key) or {}
        if _truthy(selector.get("enable")):
            lines.append(f'  {param}: "{_go(selector.get("selector", ""))}"')
    if _truthy(p.get("removeSnapshotsDuringFilesystemTrim")):
        lines.append(
            f'  unmapMarkSnapChainRemoved: "{_go(p["removeSnapshotsDuringFilesystemTrim"])}"'
        )
    if _truthy(p.get("disableRevisionCounter")):
        lines.append(f'  disableRevisionCounter: "{_go(p["disableRevisionCounter"])}"')
        lines.append(f'  dataEngine: "{_go(p.get("dataEngine", ""))}"')
    return "\n".join(lines) + "\n"


def default_resource_yaml(values: Mapping[str, Any]) -> str:
    """The ``default-resource.yaml`` text (the default backup store, if set)."""
    store = get(values, "defaultBackupStore", {}) or {}
    pairs = (
        ("backupTarget", "backup-target"),
        ("backupTargetCredentialSecret", "backup-target-credential-secret"),
        ("pollInterval", "backupstore-poll-interval"),
    )
    return "\n".join(
        f"{out}: {_go(store[key])}" for key, out in pairs if store.get(key) is not None
    )


def chart_labels(release: str) -> dict[str, str]:
    """``longhorn.labels``: the standard Helm labels on every chart object."""
    return {
        "app.kubernetes.io/name": "longhorn",
        "helm.sh/chart": f"longhorn-{VERSION}",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/version": APP_VERSION,
    }


def _config_map(
    name: str, namespace: str, labels: Mapping[str, str], key: str, body: str
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, namespace, labels),
        "data": {key: body},
    }


def render(
    values: Mapping[str, Any], *, release: str, namespace: str, version: str
) -> list[Manifest]:
    """The chart's objects for coalesced *values*.

    :param namespace: the release namespace; ``namespaceOverride`` wins, as in
        the chart's ``release_namespace`` helper.
    :raises RenderError: a chart version this renderer is not, or
        ``enablePSP: true`` (PodSecurityPolicy does not exist on Kubernetes 1.25+,
        so the real install fails at the API; refused here up front).
    """
    if version != VERSION:
        raise RenderError("longhorn/Chart.yaml", f"this renderer is chart {VERSION}, not {version}")
    if get(values, "enablePSP", False) is True:
        raise RenderError(
            "longhorn/templates/psp.yaml",
            "enablePSP: true renders a policy/v1beta1 PodSecurityPolicy, which Kubernetes"
            " 1.25+ no longer serves",
        )
    ns = text(get(values, "namespaceOverride", "") or namespace)
    labels = chart_labels(release)
    return [
        *longhorn_crds.crds(labels),
        longhorn_workloads.priority_class(labels),
        *longhorn_workloads.accounts_and_rbac(ns, labels),
        _config_map(
            "longhorn-default-resource",
            ns,
            labels,
            "default-resource.yaml",
            default_resource_yaml(values),
        ),
        _config_map(
            "longhorn-default-setting",
            ns,
            labels,
            "default-setting.yaml",
            default_setting_yaml(values),
        ),
        _config_map(
            "longhorn-storageclass", ns, labels, "storageclass.yaml", storageclass_yaml(values)
        ),
        *longhorn_workloads.workloads(values, ns, labels),
    ]


CHART = Chart(
    name="longhorn",
    version=VERSION,
    app_version=APP_VERSION,
    description="Longhorn is a distributed block storage system for Kubernetes.",
    defaults=DEFAULTS,
    render=render,
)
