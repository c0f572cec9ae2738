"""Longhorn controls on the node side (LH-01..LH-03), and the helpers of the area.

What belongs here: the properties Longhorn needs from the Talos nodes it
runs on -- the storage extensions, the data path mounted and shared with the
kubelet, each storage node a schedulable Longhorn node with its disk.  The
storage-class and volume controls (LH-04..LH-06) are in
:mod:`checks.longhorn_volumes` and the version (LH-07) in
:mod:`checks.longhorn_version`, because they judge Longhorn's own objects,
not the nodes; they share the few helpers at the top of this one.

Expected values all come from the definition: the extensions of the Image
Factory schematic, ``storage.longhorn_path``, the nodes with the storage role,
``versions.longhorn`` and the namespace of the ``longhorn`` Helm release.
The facts they compare against are in facts/k8s-stack.md §2 (Longhorn 1.8.1)
and facts/talos.md §5 (resource types).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snap
from checks.control_plane_config import node_label
from checks.findings import Finding, NodeFinding, Unobservable, unread_phrases
from checks.findings import verdict as shared_verdict
from checks.snapshot import KubeObject, Snapshot
from provisioning.definition import inventory

TALOS_SUPPORT_DOC = (
    "https://longhorn.io/docs/1.8.1/advanced-resources/os-distro-specific/talos-linux-support/"
)
NODES_DOC = "https://longhorn.io/docs/1.8.1/nodes-and-volumes/nodes/multidisk/"

DEFAULT_NAMESPACE = "longhorn-system"
# Longhorn's own requirements on Talos (Talos Linux Support, 1.8.1), whatever the definition says.
REQUIRED_EXTENSIONS = ("iscsi-tools", "util-linux-tools")


@dataclass(frozen=True)
class ExtensionMissing(NodeFinding):
    """A node does not run a system extension Longhorn needs."""


@dataclass(frozen=True)
class ExtensionNotDeclared(Finding):
    """The definition's schematic leaves out a system extension Longhorn needs."""


@dataclass(frozen=True)
class DataPathNotMounted(Finding):
    """The Longhorn data path is not a mounted volume shared with the kubelet."""


@dataclass(frozen=True)
class StorageNodeNotSchedulable(Finding):
    """A storage node cannot take replicas, or a non-storage node can."""


# -- helpers shared with checks.longhorn_volumes ------------------------------------------------


def namespace(definition: inventory.Cluster) -> str:
    """Where the ``longhorn`` Helm release is installed (longhorn-system by default)."""
    release = definition.helm.get("longhorn")
    return release.namespace if release is not None else DEFAULT_NAMESPACE


def short_extension(name: str) -> str:
    """``siderolabs/iscsi-tools`` -> ``iscsi-tools``: the name ExtensionStatus reports."""
    return name.rsplit("/", 1)[-1]


def same_path(a: object, b: object) -> bool:
    """Paths equal up to a trailing slash (Longhorn writes ``/var/lib/longhorn/``)."""
    return str(a or "").rstrip("/") == str(b or "").rstrip("/")


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def condition_text(status: Mapping[str, Any], kind: str) -> str | None:
    """Why condition *kind* is not True, or None when it is."""
    cond = condition(status, kind)
    if cond is None:
        return f"no {kind} condition"
    if cond.get("status") == "True":
        return None
    why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
    return f"{kind}={cond.get('status')}" + (f" ({why})" if why else "")


def in_longhorn_namespace(
    snapshot: Snapshot, kind: snap.Kind, definition: inventory.Cluster
) -> list[KubeObject]:
    return snap.in_namespace(snapshot.objects(kind), namespace(definition))


def joined(items: Iterable[str], empty: str = "none") -> str:
    listed = sorted(items)
    return ", ".join(listed) if listed else empty


def verdict(findings: list[Finding], unread: Mapping[str, str]) -> list[Finding]:
    """:func:`checks.findings.verdict` over nodes (name -> why) that went unread."""
    return shared_verdict(findings, unread_phrases(unread))


# -- LH-01 ---------------------------------------------------------------------------------------


def volume_hosts(definition: inventory.Cluster) -> tuple[inventory.Node, ...]:
    """Nodes that hold replicas (storage) or run pods that attach volumes (workers)."""
    return tuple(n for n in definition.nodes if n.is_storage or n.is_worker)


def _volume_host_count(snapshot: Snapshot, **_: object) -> int:
    return len(volume_hosts(snapshot.definition))


def _storage_node_count(snapshot: Snapshot, **_: object) -> int:
    return len(snapshot.definition.storage_nodes)


@judged.judges(nodes=_volume_host_count)
def storage_extensions_running(snapshot: Snapshot) -> list[Finding]:
    """Every node that can host Longhorn volumes runs the declared system extensions.

    Observed: ``ExtensionStatus`` resources (``spec.metadata.name``, which
    drops the ``siderolabs/`` prefix of the schematic's names).  Longhorn's
    engine attaches a volume over iSCSI on whichever node runs its pod, so
    the extensions are needed on workers as well as on storage nodes; and the
    definition itself must declare the two Longhorn requires.
    """
    definition = snapshot.definition
    snapshot.resources(snap.EXTENSION_STATUS)  # the type itself unread: Unobservable
    declared = [short_extension(e) for e in definition.image_factory.extensions]
    findings: list[Finding] = [
        ExtensionNotDeclared(
            "definition imageFactory.schematic",
            f"declares siderolabs/{required} (Longhorn requires it on Talos)",
            f"declared: {joined(declared)}",
            TALOS_SUPPORT_DOC,
        )
        for required in REQUIRED_EXTENSIONS
        if required not in declared
    ]
    unread: dict[str, str] = {}
    for node in volume_hosts(definition):
        try:
            resources = snapshot.node_resources(snap.EXTENSION_STATUS, node.name)
        except Unobservable as exc:
            unread[node.name] = exc.reason
            continue
        running = {
            short_extension(str(snap.dotted(r, "spec.metadata.name", ""))) for r in resources
        }
        missing = [e for e in declared if e not in running]
        if missing:
            findings.append(
                ExtensionMissing(
                    node_label(node),
                    f"extensions {joined(declared)} running",
                    f"missing {joined(missing)}; running: {joined(running)}",
                    TALOS_SUPPORT_DOC,
                    node=node.name,
                )
            )
    return verdict(findings, unread)


# -- LH-02 ---------------------------------------------------------------------------------------


def _volume_targets(volumes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Volume ID -> the full path its ``mountSpec`` mounts it at.

    A mount with a ``parentId`` is relative to its parent's mount: Talos
    v1.12 turns a ``machine.disks`` partition at ``/var/lib/longhorn`` into
    ``targetPath: lib/longhorn, parentId: EPHEMERAL``
    (block/user_disk_config.go), and mounts it at the parent's target joined
    with it (block/mount.go).
    """
    specs = {
        str(snap.dotted(v, "metadata.id")): snap.dotted(v, "spec.mountSpec", None) or {}
        for v in volumes
    }

    def resolve(volume_id: str, seen: frozenset[str]) -> str:
        spec = specs.get(volume_id) or {}
        target = str(spec.get("targetPath") or "")
        parent = str(spec.get("parentId") or "")
        root = resolve(parent, seen | {volume_id}) if parent and parent not in seen else "/"
        return posixpath.normpath(posixpath.join(root or "/", target))

    return {vid: resolve(vid, frozenset()) for vid, spec in specs.items() if spec.get("targetPath")}


def _host_mount(
    mounts: Sequence[Mapping[str, Any]], volumes: Sequence[Mapping[str, Any]] | None, path: str
) -> str | None:
    """Why nothing is mounted at *path* on the host, or None when something is.

    *volumes* (the node's VolumeStatuses, None when unread) only explain a
    missing mount: the volume meant for the path and its phase.
    """
    targets = [str(snap.dotted(m, "spec.target")) for m in mounts if snap.dotted(m, "spec.target")]
    if any(same_path(t, path) for t in targets):
        return None
    why = f"nothing mounted at {path} (mounted: {joined(targets)})"
    if volumes is None:
        return why
    meant = sorted(vid for vid, t in _volume_targets(volumes).items() if same_path(t, path))
    if not meant:
        return f"{why}; no volume is configured to mount there"
    by_id = {str(snap.dotted(v, "metadata.id")): v for v in volumes}
    states = []
    for vid in meant:
        error = snap.dotted(by_id[vid], "spec.errorMessage", "")
        phase = snap.dotted(by_id[vid], "spec.phase")
        states.append(f"volume {vid} phase {phase}" + (f" ({error})" if error else ""))
    return f"{why}; {'; '.join(states)}"


def _kubelet_bind(docs: Sequence[Mapping[str, Any]], path: str) -> str | None:
    """Why the config does not bind *path* into the kubelet rshared, or None when it does."""
    mounts: list[Any] = []
    for doc in docs:
        mounts.extend(snap.dotted(doc, "machine.kubelet.extraMounts", None) or [])
    for mount in mounts:
        if not isinstance(mount, Mapping) or not same_path(mount.get("destination"), path):
            continue
        options = [str(o) for o in mount.get("options") or []]
        if (
            same_path(mount.get("source"), path)
            and "rshared" in options
            and ("bind" in options or "rbind" in options)
        ):
            return None
        return (
            f"kubelet extraMount for {path}: source {mount.get('source')}, "
            f"options [{', '.join(options)}]"
        )
    return f"no kubelet extraMount for {path}"


@judged.judges(storage_nodes=_storage_node_count)
def longhorn_path_mounted(snapshot: Snapshot) -> list[Finding]:
    """The Longhorn data path is mounted, and shared with the kubelet, on every storage node.

    Three observations, because no single Talos resource shows the whole
    chain:

    * the host mount: a block ``MountStatus`` (``talosctl get mountstatuses``)
      whose ``target`` is the path.  Talos creates one per volume it has
      actually mounted, with the full target path (block/mount.go).  The
      ``VolumeStatus`` is not enough on its own: v1.12 reports a
      ``machine.disks`` partition under ``/var`` as ``mountSpec.targetPath:
      lib/longhorn`` with ``parentId: EPHEMERAL`` (block/user_disk_config.go),
      and a ready volume is not necessarily mounted.  When nothing is mounted
      there, the VolumeStatus meant for the path (if read) says why -- its
      phase and error;
    * the kubelet side as configured: ``machine.kubelet.extraMounts`` binds
      the path with ``rshared`` (Longhorn's Talos requirement).  Talos's
      mount resources never show this bind, which lives inside the kubelet
      container;
    * its observed effect: the Longhorn Node's ``MountPropagation`` condition
      is True (skipped when Longhorn objects were not read, or the node has
      no Longhorn Node: LH-03 reports that).
    """
    definition = snapshot.definition
    path = definition.storage.longhorn_path
    for source in (snap.MOUNT_STATUS, snap.MACHINE_CONFIG):
        snapshot.resources(source)  # a type unread on every node: Unobservable
    try:
        longhorn_nodes: Sequence[KubeObject] | None = in_longhorn_namespace(
            snapshot, snap.LONGHORN_NODES, definition
        )
    except Unobservable:
        longhorn_nodes = None
    findings: list[Finding] = []
    unread: dict[str, str] = {}
    for node in definition.storage_nodes:
        try:
            mounts = snapshot.node_resources(snap.MOUNT_STATUS, node.name)
            docs = snapshot.machine_config(node.name)
        except Unobservable as exc:
            unread[node.name] = exc.reason
            continue
        try:
            volumes: Sequence[Mapping[str, Any]] | None = snapshot.node_resources(
                snap.VOLUME_STATUS, node.name
            )
        except Unobservable:
            volumes = None  # only explains a missing mount
        problems = [_host_mount(mounts, volumes, path), _kubelet_bind(docs, path)]
        lh_node = snap.named(longhorn_nodes or (), node.hostname)
        if lh_node:
            problems.append(condition_text(lh_node.get("status") or {}, "MountPropagation"))
        observed = [p for p in problems if p]
        if observed:
            findings.append(
                DataPathNotMounted(
                    node_label(node),
                    f"a mount at {path}, bind-mounted rshared into the kubelet",
                    "; ".join(observed),
                    TALOS_SUPPORT_DOC,
                )
            )
    return verdict(findings, unread)


# -- LH-03 ---------------------------------------------------------------------------------------


def _disk_problems(lh_node: KubeObject, path: str) -> list[str]:
    spec = lh_node.get("spec") or {}
    disk_status = (lh_node.get("status") or {}).get("diskStatus") or {}
    disks = spec.get("disks") or {}
    at_path = {name: d for name, d in disks.items() if same_path(d.get("path"), path)}
    if not at_path:
        paths = [str(d.get("path")) for d in disks.values()]
        return [f"no disk at {path} (disks at: {joined(paths)})"]
    problems: list[str] = []
    for name, disk in sorted(at_path.items()):
        if disk.get("allowScheduling") is not True:
            problems.append(f"disk {name} allowScheduling={disk.get('allowScheduling')}")
        if disk.get("evictionRequested") is True:
            problems.append(f"disk {name} evictionRequested=True")
        for kind in ("Ready", "Schedulable"):
            why = condition_text(disk_status.get(name) or {}, kind)
            if why:
                problems.append(f"disk {name} {why}")
    return problems


@judged.judges(nodes=judged.nodes)
def storage_nodes_schedulable(snapshot: Snapshot) -> list[Finding]:
    """Every storage node is a schedulable Longhorn node with a schedulable disk at the path.

    Observed: Longhorn ``Node`` objects (named after the Kubernetes node):
    ``spec.allowScheduling``, conditions ``Ready`` and ``Schedulable``, and a
    disk whose ``path`` is ``storage.longhorn_path`` with ``allowScheduling``
    and disk conditions ``Ready``/``Schedulable`` True.  An eviction
    requested on the node or the disk (``spec.evictionRequested``) moves
    every replica off it and takes no new ones, so it is a finding too.  A node without the
    storage role must hold no schedulable Longhorn disk: replicas there would
    land on its system disk (the definition labels only storage nodes for
    Longhorn's default disk).
    """
    definition = snapshot.definition
    path = definition.storage.longhorn_path
    lh_nodes = in_longhorn_namespace(snapshot, snap.LONGHORN_NODES, definition)
    findings: list[Finding] = []
    for node in definition.nodes:
        lh_node = snap.named(lh_nodes, node.hostname)
        if not node.is_storage:
            disks = (lh_node.get("spec") or {}).get("disks") or {}
            usable = [
                f"{name} at {d.get('path')}"
                for name, d in disks.items()
                if d.get("allowScheduling") is True
            ]
            if usable and (lh_node.get("spec") or {}).get("allowScheduling") is not False:
                findings.append(
                    StorageNodeNotSchedulable(
                        f"{node_label(node)} (not a storage node)",
                        "no schedulable Longhorn disk",
                        f"schedulable disks: {joined(usable)}",
                        NODES_DOC,
                    )
                )
            continue
        if not lh_node:
            findings.append(
                StorageNodeNotSchedulable(
                    node_label(node),
                    f"a Longhorn Node {node.hostname} in {namespace(definition)}",
                    "no Longhorn Node",
                    NODES_DOC,
                )
            )
            continue
        spec = lh_node.get("spec") or {}
        problems: list[str] = []
        if spec.get("allowScheduling") is not True:
            problems.append(f"allowScheduling={spec.get('allowScheduling')}")
        if spec.get("evictionRequested") is True:
            problems.append("evictionRequested=True")
        for kind in ("Ready", "Schedulable"):
            why = condition_text(lh_node.get("status") or {}, kind)
            if why:
                problems.append(why)
        problems.extend(_disk_problems(lh_node, path))
        if problems:
            findings.append(
                StorageNodeNotSchedulable(
                    node_label(node),
                    f"schedulable, Ready, with a schedulable disk at {path}",
                    "; ".join(problems),
                    NODES_DOC,
                )
            )
    return findings


# -- Longhorn's own workloads (what provisioning waits for; no control of its own) ----------------

MANAGER_DAEMONSET = "longhorn-manager"
DRIVER_DEPLOYER = "longhorn-driver-deployer"
# What longhorn-driver-deployer creates once it runs (longhorn-manager types/deploy.go and
# app/driver.go deployCSIDriver, v1.8.1), and the CSIDriver object it registers first.
CSI_PLUGIN_DAEMONSET = "longhorn-csi-plugin"
CSI_DEPLOYMENTS = ("csi-attacher", "csi-provisioner", "csi-resizer", "csi-snapshotter")
CSI_DRIVER = "driver.longhorn.io"
# longhorn-manager's engine-image controller runs one DaemonSet per EngineImage,
# "engine-image-" + the EngineImage name, "ei-" + 8 hex of the image's SHA-512.
ENGINE_IMAGE_DAEMONSET_PREFIX = "engine-image-ei-"
COMPONENTS_DOC = "https://longhorn.io/docs/1.8.1/deploy/install/install-with-helm/"
CSI_DOC = "https://github.com/longhorn/longhorn-manager/blob/v1.8.1/app/driver.go"


def engine_image_daemonset(image: str) -> str:
    """The DaemonSet longhorn-manager runs for engine image *image*.

    longhorn-manager v1.8.1 names the EngineImage ``ei-`` + the first 8 hex
    digits of the SHA-512 of the trimmed image (types.GetEngineImageChecksumName)
    and its DaemonSet ``engine-image-`` + that name
    (types.GetDaemonSetNameFromEngineImageName).
    """
    digest = hashlib.sha512(image.strip().encode()).hexdigest()
    return ENGINE_IMAGE_DAEMONSET_PREFIX + digest[:8]


def _default_engine_image(manager: KubeObject) -> str | None:
    """The ``--engine-image`` the chart passes to longhorn-manager, if its spec names one."""
    containers = snap.dotted(manager, "spec.template.spec.containers", None) or []
    for container in containers:
        if not isinstance(container, Mapping):
            continue
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        for index, word in enumerate(words[:-1]):
            if word == "--engine-image":
                return words[index + 1]
    return None


def _workload_problem(kind: str, obj: KubeObject) -> str | None:
    """Why a DaemonSet or Deployment does not have every pod of its current spec Ready."""
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if status.get("observedGeneration", meta.get("generation")) != meta.get("generation"):
        return "spec not observed yet"
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        if desired == 0 or ready < desired or updated < desired:
            return f"{ready} of {desired} pods Ready ({updated} updated)"
        return None
    wanted = int(snap.dotted(obj, "spec.replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    if wanted < 1:
        return "scaled to 0 replicas"
    return None if ready >= wanted else f"{ready} of {wanted} replicas Ready"


def _required(workloads: Sequence[tuple[str, KubeObject]]) -> list[tuple[str, str, str]]:
    """(kind, name, who creates it) of every workload Longhorn cannot work without.

    The engine-image DaemonSet is named from the manager's ``--engine-image``
    when the manager's spec shows it; otherwise any ``engine-image-ei-*``
    DaemonSet stands for it (its name is then written with a ``*``).
    """
    chart = "installed by the Longhorn chart"
    deployer = f"created by {DRIVER_DEPLOYER} once it runs"
    required = [
        ("DaemonSet", MANAGER_DAEMONSET, chart),
        ("Deployment", DRIVER_DEPLOYER, chart),
        ("DaemonSet", CSI_PLUGIN_DAEMONSET, deployer),
        *(("Deployment", name, deployer) for name in CSI_DEPLOYMENTS),
    ]
    manager = next(
        (o for k, o in workloads if k == "DaemonSet" and _name(o) == MANAGER_DAEMONSET), None
    )
    image = _default_engine_image(manager) if manager else None
    if image:
        engine = engine_image_daemonset(image)
        required.append(("DaemonSet", engine, f"run by {MANAGER_DAEMONSET} for {image}"))
    else:
        names = [_name(o) for k, o in workloads if k == "DaemonSet"]
        found = [n for n in names if n.startswith(ENGINE_IMAGE_DAEMONSET_PREFIX)]
        engine = found[0] if found else ENGINE_IMAGE_DAEMONSET_PREFIX + "*"
        required.append(("DaemonSet", engine, f"run by {MANAGER_DAEMONSET} for its engine image"))
    return required


def _name(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def components_ready(snapshot: Snapshot) -> list[Finding]:
    """Longhorn's manager, driver deployer and what they deploy exist with every pod Ready.

    Observed: the DaemonSets and Deployments in the Longhorn namespace and
    the CSIDriver objects.  Required, each with all its pods Ready for its
    current spec: the chart's ``longhorn-manager`` DaemonSet and
    ``longhorn-driver-deployer`` Deployment; what the driver deployer creates
    once it runs -- the ``driver.longhorn.io`` CSIDriver, the
    ``longhorn-csi-plugin`` DaemonSet and the ``csi-attacher``/
    ``-provisioner``/``-resizer``/``-snapshotter`` Deployments (3 replicas
    each by default; app/driver.go, csi/deployment.go at longhorn-manager
    v1.8.1); and the DaemonSet the manager runs for its default engine image.
    Present is required, not only judged when found: the driver deployer
    is Ready before it has created anything, so a wait that judged only what
    exists could end before the CSI driver is there.  Every other
    DaemonSet and Deployment in the namespace (``longhorn-ui`` ...) must have
    its pods Ready too.  Stricter than ``helm --wait``: the chart lets the
    manager be 100% unavailable during a rollout, so Helm calls it ready
    with no manager running.  An unread CSIDriver list leaves the check
    unobservable only when nothing else is wrong.
    """
    definition = snapshot.definition
    ns = namespace(definition)
    workloads = [
        ("DaemonSet", obj) for obj in in_longhorn_namespace(snapshot, snap.DAEMONSETS, definition)
    ] + [
        ("Deployment", obj) for obj in in_longhorn_namespace(snapshot, snap.DEPLOYMENTS, definition)
    ]
    names = {(kind, _name(obj)) for kind, obj in workloads}
    findings: list[Finding] = [
        Finding(
            f"{kind} {ns}/{name}",
            f"present ({origin})",
            "absent",
            CSI_DOC if origin.startswith("created by") else COMPONENTS_DOC,
        )
        for kind, name, origin in _required(workloads)
        if (kind, name) not in names
    ]
    unread: dict[str, str] = {}
    try:
        drivers = snapshot.objects(snap.CSI_DRIVERS)
    except Unobservable as exc:
        unread[f"CSIDriver {CSI_DRIVER}"] = exc.reason
    else:
        if not snap.named(drivers, CSI_DRIVER):
            findings.append(
                Finding(
                    f"CSIDriver {CSI_DRIVER}",
                    f"present (created by {DRIVER_DEPLOYER} once it runs)",
                    "absent",
                    CSI_DOC,
                )
            )
    for kind, obj in sorted(workloads, key=lambda w: (w[0], _name(w[1]))):
        problem = _workload_problem(kind, obj)
        if problem:
            findings.append(
                Finding(f"{kind} {ns}/{_name(obj)}", "every pod Ready", problem, COMPONENTS_DOC)
            )
    return verdict(findings, unread)
