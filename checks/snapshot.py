"""The observed state of one cluster, collected once per run and shared by every check.

Why one snapshot: a conformance run must cost the cluster one read per kind of
object, whatever its size (one LIST per Kubernetes kind, one ``talosctl get``
per Talos resource type naming every node), and every check must judge the
same moment.  The collector (:mod:`fixtures.observe`) fills this from the
drivers; checks are pure functions over it, so they are tested on snapshots
built by hand.

What could not be read is recorded with its reason in :attr:`Snapshot.missing`
instead of an empty value: asking for it raises :class:`~checks.findings.Unobservable`,
which the suite reports as skipped, never as passed.  An empty list therefore
always means "observed, and there are none".

A source read from every node at once can fail on some nodes only (a node
powered off: talosctl prints the others' resources and the errors).  Then
the answering nodes' data is kept, the silent node is absent from the
per-node mapping (:meth:`Snapshot.resources`, :attr:`Snapshot.configz`,
:attr:`Snapshot.talos_versions`), and its reason is under the key
:func:`on_node` gives -- ``missing["volumestatuses on node03"]``.  Checks
that judge one node at a time ask :meth:`Snapshot.node_resources` /
:meth:`Snapshot.kubelet_config`, which raise :class:`Unobservable` with that
reason; :meth:`Snapshot.unread_nodes` lists them for a check that reports
the silent nodes itself.

Nothing secret is held: Kubernetes Secrets are never listed, machine configs
are stored with their secret fields redacted, and the kubeconfig is reduced to
its client certificate's public facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.findings import Unobservable
from provisioning.definition import inventory

KubeObject = Mapping[str, Any]
TalosResource = Mapping[str, Any]
"""One ``talosctl get -o json`` object: ``node``, ``metadata`` and ``spec``."""


@dataclass(frozen=True)
class Kind:
    """A Kubernetes kind as the REST path names it; the snapshot key is :attr:`key`."""

    group: str
    version: str
    plural: str

    @property
    def key(self) -> str:
        """``plural`` for the core group, else ``plural.group`` (kubectl's resource name)."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def path(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)


# Every kind the controls read, listed cluster-wide once per run.  Secrets are
# deliberately absent: no check needs their data and the report must never hold it.
NODES = Kind("", "v1", "nodes")
NAMESPACES = Kind("", "v1", "namespaces")
PODS = Kind("", "v1", "pods")
CONFIGMAPS = Kind("", "v1", "configmaps")
PERSISTENT_VOLUMES = Kind("", "v1", "persistentvolumes")
PERSISTENT_VOLUME_CLAIMS = Kind("", "v1", "persistentvolumeclaims")
DAEMONSETS = Kind("apps", "v1", "daemonsets")
DEPLOYMENTS = Kind("apps", "v1", "deployments")
STORAGE_CLASSES = Kind("storage.k8s.io", "v1", "storageclasses")
NETWORK_POLICIES = Kind("networking.k8s.io", "v1", "networkpolicies")
CILIUM_NETWORK_POLICIES = Kind("cilium.io", "v2", "ciliumnetworkpolicies")
CILIUM_CLUSTERWIDE_NETWORK_POLICIES = Kind("cilium.io", "v2", "ciliumclusterwidenetworkpolicies")
CILIUM_L2_POLICIES = Kind("cilium.io", "v2alpha1", "ciliuml2announcementpolicies")
CILIUM_LB_POOLS = Kind("cilium.io", "v2", "ciliumloadbalancerippools")
LONGHORN_SETTINGS = Kind("longhorn.io", "v1beta2", "settings")
LONGHORN_NODES = Kind("longhorn.io", "v1beta2", "nodes")
LONGHORN_VOLUMES = Kind("longhorn.io", "v1beta2", "volumes")
LONGHORN_REPLICAS = Kind("longhorn.io", "v1beta2", "replicas")
# Read only by provisioning's readiness judge (Longhorn's CSIDriver), not by the collector:
# no control judges it, so a conformance run does not pay a LIST for it.
CSI_DRIVERS = Kind("storage.k8s.io", "v1", "csidrivers")

KUBE_KINDS: tuple[Kind, ...] = (
    NODES,
    NAMESPACES,
    PODS,
    CONFIGMAPS,
    PERSISTENT_VOLUMES,
    PERSISTENT_VOLUME_CLAIMS,
    DAEMONSETS,
    DEPLOYMENTS,
    STORAGE_CLASSES,
    NETWORK_POLICIES,
    CILIUM_NETWORK_POLICIES,
    CILIUM_CLUSTERWIDE_NETWORK_POLICIES,
    CILIUM_L2_POLICIES,
    CILIUM_LB_POOLS,
    LONGHORN_SETTINGS,
    LONGHORN_NODES,
    LONGHORN_VOLUMES,
    LONGHORN_REPLICAS,
)

# Talos resource types read with one ``talosctl get <type> -n <all nodes>`` each,
# keyed by the name passed to talosctl.  ``machineconfig`` is stored redacted.
VOLUME_STATUS = "volumestatuses"
EXTENSION_STATUS = "extensionstatuses"
HOSTNAME_STATUS = "hostnamestatuses"
ADDRESS_STATUS = "addressstatuses"
MACHINE_STATUS = "machinestatuses"
MACHINE_CONFIG = "machineconfig"
KUBEPRISM_STATUS = "kubeprismstatuses"
MOUNT_STATUS = "mountstatuses"
ETCD_MEMBER = "etcdmembers"

TALOS_TYPES: tuple[str, ...] = (
    VOLUME_STATUS,
    EXTENSION_STATUS,
    HOSTNAME_STATUS,
    ADDRESS_STATUS,
    MACHINE_STATUS,
    MACHINE_CONFIG,
    KUBEPRISM_STATUS,
    MOUNT_STATUS,
    ETCD_MEMBER,
)

# Keys of :attr:`Snapshot.missing` for the sources that are not a kind or a type.
CONFIGZ = "configz"
ETCD_MEMBERS = "etcd members"
ETCD_ALARMS = "etcd alarms"
TALOS_VERSION = "talos version"
KUBERNETES_VERSION = "kubernetes version"
BACKUPS = "backups"
KUBECONFIG = "kubeconfig"


def on_node(source: str, node: str) -> str:
    """The :attr:`Snapshot.missing` key of *source* unread on one node: ``"configz on node03"``."""
    return f"{source} on {node}"


@dataclass(frozen=True)
class EtcdMember:
    """One row of ``talosctl etcd members`` as the queried node reports it."""

    id: str
    hostname: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


@dataclass(frozen=True)
class EtcdAlarm:
    """One row of ``talosctl etcd alarm list``: an active alarm (NOSPACE, CORRUPT) of a member."""

    member_id: str
    alarm: str


@dataclass(frozen=True)
class BackupFile:
    """One file in the backup directory; *age_header* is whether it starts as an age file."""

    name: str
    size: int
    modified: datetime
    age_header: bool


@dataclass(frozen=True)
class Backups:
    """The backup directory as listed, plus the restore check when an identity was given."""

    directory: str
    files: tuple[BackupFile, ...]
    # Result of decrypting the newest file and reading it as an etcd snapshot:
    # None when no identity is configured (the check then says so, as a skip).
    restore_keys: int | None = None
    restore_error: str | None = None


@dataclass(frozen=True)
class ClientCertificate:
    """The public facts of the kubeconfig's client certificate (never its key)."""

    subject: str
    not_after: datetime
    accepted: bool  # whether the API server accepted it for the snapshot's reads


@dataclass(frozen=True)
class ApiHealth:
    """How the Kubernetes API answered the collector's first request (``GET /version``)."""

    server: str  # the kubeconfig's server URL
    answered: bool
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the controls judge, as observed at :attr:`taken_at`.

    Talos resources and kubelet configs are keyed by inventory node name
    (``node01``); nodes are addressed by their inventory IP, which is how
    talosctl reports them.
    """

    definition: inventory.Cluster
    target: str
    taken_at: datetime
    kube: Mapping[str, Sequence[KubeObject]] = field(default_factory=dict, repr=False)
    talos: Mapping[str, Mapping[str, Sequence[TalosResource]]] = field(
        default_factory=dict, repr=False
    )
    configz: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    etcd_members: Sequence[EtcdMember] | None = None
    etcd_alarms: Sequence[EtcdAlarm] | None = None
    talos_versions: Mapping[str, str] = field(default_factory=dict)
    kubernetes_version: str | None = None
    backups: Backups | None = None
    client_certificate: ClientCertificate | None = None
    api: ApiHealth | None = None
    missing: Mapping[str, str] = field(default_factory=dict)

    def _unobservable(self, key: str) -> Unobservable:
        return Unobservable(self.missing.get(key, f"{key} was not collected in this run"))

    def objects(self, kind: Kind) -> Sequence[KubeObject]:
        """Every object of *kind*, or :class:`Unobservable` with the reason it is unknown."""
        if kind.key in self.missing or kind.key not in self.kube:
            raise self._unobservable(kind.key)
        return self.kube[kind.key]

    def resources(self, talos_type: str) -> Mapping[str, Sequence[TalosResource]]:
        """Inventory node name -> that node's resources of *talos_type*."""
        if talos_type in self.missing or talos_type not in self.talos:
            raise self._unobservable(talos_type)
        return self.talos[talos_type]

    def node_resources(self, talos_type: str, node: str) -> Sequence[TalosResource]:
        """*node*'s resources of *talos_type*; :class:`Unobservable` when it did not answer."""
        per_node = self.resources(talos_type)
        if node not in per_node:
            raise self._unobservable(on_node(talos_type, node))
        return per_node[node]

    def unread_nodes(self, source: str) -> Mapping[str, str]:
        """Node name -> why *source* (a Talos type, :data:`CONFIGZ` ...) was not read there."""
        prefix = on_node(source, "")
        return {
            key.removeprefix(prefix): reason
            for key, reason in self.missing.items()
            if key.startswith(prefix)
        }

    def kubelet_config(self, node: str) -> Mapping[str, Any]:
        """*node*'s running kubelet configuration (configz); :class:`Unobservable` if unread."""
        self.require(CONFIGZ)
        if node not in self.configz:
            raise self._unobservable(on_node(CONFIGZ, node))
        return self.configz[node]

    def machine_config(self, node: str) -> Sequence[Mapping[str, Any]]:
        """*node*'s applied machine config as YAML documents (secret fields redacted)."""
        per_node = self.resources(MACHINE_CONFIG)
        found = per_node.get(node)
        if not found:
            reason = self.missing.get(on_node(MACHINE_CONFIG, node))
            raise Unobservable(reason or f"no machine config was read from {node}")
        docs = found[0].get("spec")
        if not isinstance(docs, list):
            raise Unobservable(f"the machine config read from {node} is not parsed YAML")
        return docs

    def require(self, key: str) -> None:
        """Raise :class:`Unobservable` when source *key* (e.g. :data:`CONFIGZ`) was not read."""
        if key in self.missing:
            raise self._unobservable(key)


def named(objects: Sequence[KubeObject], name: str, namespace: str | None = None) -> KubeObject:
    """The object called *name* (in *namespace*), or an empty mapping when absent."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
            return obj
    return {}


def in_namespace(objects: Sequence[KubeObject], namespace: str) -> list[KubeObject]:
    return [o for o in objects if (o.get("metadata") or {}).get("namespace") == namespace]


def dotted(value: Any, path: str, default: Any = None) -> Any:
    """``a.b.c`` lookup through nested mappings; *default* when any step is missing."""
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value
