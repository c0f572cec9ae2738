"""Longhorn Node CRs of the simulated cluster: one per Kubernetes Node, disks from Talos.

What belongs here: what longhorn-manager's node controller reports about a
node -- its default disk, disk capacity and usage, and the node conditions
the suite reads -- derived from the Kubernetes Node and the Talos machine
behind it.  Kept apart from the volume pass because its inputs are the
machines (mounts, extensions, kubelet config), not the claims.

Behaviour (longhorn-manager v1.8.1, facts/k8s-stack.md §2.3 and §2.6):

* The Node CR is named after the Kubernetes Node.  Its default disk
  ``default-disk-<id>`` at ``default-data-path`` is added once, while
  ``spec.disks`` is empty, on a node that is eligible: with
  ``create-default-disk-labeled-nodes`` "true" only a node labelled
  ``node.longhorn.io/create-default-disk=true``; and (the simulator's rule,
  so that a disk means real storage) only where the machine has a ready
  partition mounted at the data path (``machine.disks``).  Its
  ``storageReserved`` is ``storage-reserved-percentage-for-default-disk`` of
  the partition (``types.CreateDefaultDisk``).
* Conditions: ``Ready`` (False when the Kubernetes Node is not Ready or the
  machine is not running), ``Schedulable`` (False when cordoned),
  ``MountPropagation`` (True when kubelet ``extraMounts`` binds the data path
  with ``rshared``), ``RequiredPackages`` and ``KernelModulesLoaded`` (True
  only when the machine's installed schematic has ``iscsi-tools`` and
  ``util-linux-tools``).

Deviations: the disk id is derived from the node name (upstream: random) so
reruns agree; the disk UUID likewise; condition reasons for the False cases
are upstream's constants (``KubernetesNodeNotReady``,
``KubernetesNodeCordoned``, ``NoMountPropagationSupport``,
``PackagesNotInstalled``, ``KernelModulesNotLoaded``, read in
controller/node_controller.go); the package and module messages follow
upstream's ``Missing packages: [...]`` / ``Kernel modules [...] are not
loaded on node ...`` forms but name the Talos extensions, not binaries;
no ``Multipathd``/``NFSClientInstalled``/``HugePagesAvailable`` conditions;
a Node CR whose Kubernetes Node is gone is left as it is.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.controllers import longhorn
from simulator.kube.objects import ObjectStore
from simulator.state.machines import Machine, Site, Stage
from simulator.talos.configview import ConfigError, ConfigView
from simulator.talos.convergence import hostname_of

CREATE_DEFAULT_DISK_LABEL = "node.longhorn.io/create-default-disk"
ZONE_LABEL = "topology.kubernetes.io/zone"
REQUIRED_EXTENSIONS = ("iscsi-tools", "util-linux-tools")
_UUID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122 URL namespace


@dataclass(frozen=True)
class NodeFacts:
    """What the node controller observes about one node."""

    is_up: bool
    is_cordoned: bool
    mounted_bytes: int  # size of the ready partition at the data path; 0 = not mounted
    has_mount_propagation: bool
    missing_extensions: tuple[str, ...]  # of REQUIRED_EXTENSIONS
    is_labelled: bool
    zone: str


@functools.lru_cache(maxsize=128)
def _parsed(text: str) -> ConfigView | None:
    # The cluster controller reconciles after every change; configs change rarely, and
    # parsing them dominated the cost of a pass.  Views are only read, never mutated.
    try:
        return ConfigView.parse(text)
    except ConfigError:
        return None


def view_of(machine: Machine) -> ConfigView | None:
    """The machine's active config, parsed once per distinct text."""
    return _parsed(machine.config) if machine.config is not None else None


def by_hostname(site: Site) -> dict[str, Machine]:
    """Machines by the hostname they report (the first one wins, as in :func:`machine_for`)."""
    found: dict[str, Machine] = {}
    for machine in site.machines.values():
        found.setdefault(hostname_of(machine, view_of(machine)), machine)
    return found


def machine_for(
    site: Site, node: Mapping[str, Any], hostnames: Mapping[str, Machine] | None = None
) -> Machine | None:
    """The machine behind a Kubernetes Node: same hostname, else same InternalIP.

    *hostnames* is :func:`by_hostname` of *site*, built once by callers that
    look up every Node (one scan per Node would be quadratic at scale).
    """
    name = node["metadata"]["name"]
    found = (hostnames if hostnames is not None else by_hostname(site)).get(name)
    if found is not None:
        return found
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            found = site.machine_at(str(address.get("address")))
            if found is not None:
                return found
    return None


def _node_ready(node: Mapping[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _mount_bytes(machine: Machine, data_path: str) -> int:
    """The size of the volume mounted at *data_path*, 0 when nothing is mounted there.

    A disk under /var is mounted inside EPHEMERAL (Talos waits for the parent
    mount), so Longhorn sees no disk there while EPHEMERAL is not ready.
    """
    ephemeral = machine.volumes.get("EPHEMERAL")
    if data_path.startswith("/var/") and ephemeral is not None and ephemeral.phase != "ready":
        return 0
    for volume in machine.volumes.values():
        if (
            volume.mount_point.rstrip("/") == data_path
            and volume.phase == "ready"
            and volume.filesystem
        ):
            return volume.size
    return 0


def _has_rshared_bind(machine: Machine, data_path: str) -> bool:
    view = view_of(machine)
    if view is None:
        return False
    for mount in view.kubelet.get("extraMounts") or []:
        if not isinstance(mount, Mapping):
            continue
        options = [str(o) for o in mount.get("options") or []]
        if str(mount.get("destination") or "").rstrip("/") == data_path and "rshared" in options:
            return True
    return False


def facts_of(
    site: Site,
    node: Mapping[str, Any],
    data_path: str,
    hostnames: Mapping[str, Machine] | None = None,
) -> NodeFacts:
    labels = node["metadata"].get("labels") or {}
    machine = machine_for(site, node, hostnames)
    running = machine is not None and machine.stage is Stage.RUNNING
    extensions = set(site.schematics.get(machine.schematic, [])) if machine else set()
    return NodeFacts(
        is_up=_node_ready(node) and (machine is None or running),
        is_cordoned=bool((node.get("spec") or {}).get("unschedulable")),
        mounted_bytes=_mount_bytes(machine, data_path) if machine and running else 0,
        has_mount_propagation=machine is not None and _has_rshared_bind(machine, data_path),
        missing_extensions=tuple(e for e in REQUIRED_EXTENSIONS if e not in extensions),
        is_labelled=labels.get(CREATE_DEFAULT_DISK_LABEL) == "true",
        zone=str(labels.get(ZONE_LABEL) or ""),
    )


def disk_uuid(node: str, disk: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, f"longhorn-disk/{node}/{disk}"))


def default_disk_name(node: str) -> str:
    return f"default-disk-{hashlib.sha256(node.encode()).hexdigest()[:16]}"


def _wants_default_disk(facts: NodeFacts, settings: Mapping[str, str]) -> bool:
    if settings.get("create-default-disk-labeled-nodes", "false") == "true" and not (
        facts.is_labelled
    ):
        return False
    return facts.mounted_bytes > 0


def _spec(
    name: str, old: Mapping[str, Any] | None, facts: NodeFacts, settings: Mapping[str, str]
) -> dict[str, Any]:
    spec = dict((old or {}).get("spec") or {})
    spec.setdefault("name", name)
    spec.setdefault("allowScheduling", True)
    spec.setdefault("evictionRequested", False)
    spec.setdefault("tags", [])
    spec.setdefault("instanceManagerCPURequest", 0)
    disks = dict(spec.get("disks") or {})
    if not disks and _wants_default_disk(facts, settings):
        percent = int(settings.get("storage-reserved-percentage-for-default-disk", "30") or 0)
        disks[default_disk_name(name)] = {
            "diskType": "filesystem",
            "path": settings.get("default-data-path", "/var/lib/longhorn/"),
            "diskDriver": "",
            "allowScheduling": True,
            "evictionRequested": False,
            "storageReserved": facts.mounted_bytes * percent // 100,
            "tags": [],
        }
    spec["disks"] = disks
    return spec


def _disk_status(
    node: str,
    disks: Mapping[str, Any],
    facts: NodeFacts,
    replicas: list[Any],
    previous: Mapping[str, Any],
    stamp: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for disk_name, disk in sorted(disks.items()):
        uid = disk_uuid(node, disk_name)
        mine = [r for r in replicas if (r.get("spec") or {}).get("diskID") == uid]
        scheduled = {
            r["metadata"]["name"]: int((r.get("spec") or {}).get("volumeSize") or 0) for r in mine
        }
        path = str(disk.get("path") or "")
        ready = facts.is_up and facts.mounted_bytes > 0
        old = (previous.get(disk_name) or {}).get("conditions")
        out[disk_name] = {
            "conditions": [
                longhorn.condition(
                    old,
                    "Ready",
                    ready,
                    "NoDiskInfo",
                    f"Disk {disk_name} ({path}) is not ready",
                    stamp,
                ),
                longhorn.condition(
                    old,
                    "Schedulable",
                    ready and bool(disk.get("allowScheduling")),
                    "DiskNotReady" if not ready else "DiskSchedulingDisabled",
                    f"Disk {disk_name} ({path}) is not schedulable",
                    stamp,
                ),
            ],
            "diskUUID": uid,
            "diskName": disk_name,
            "diskPath": path,
            "diskType": str(disk.get("diskType") or "filesystem"),
            "filesystemType": "xfs" if ready else "",
            "storageMaximum": facts.mounted_bytes if ready else 0,
            "storageAvailable": facts.mounted_bytes if ready else 0,
            "storageScheduled": sum(scheduled.values()),
            "scheduledReplica": scheduled,
            "instanceManagerName": "",
        }
    return out


def _conditions(
    name: str, old: list[Any] | None, facts: NodeFacts, stamp: str
) -> list[dict[str, Any]]:
    c = longhorn.condition
    return [
        c(
            old,
            "Ready",
            facts.is_up,
            "KubernetesNodeNotReady",
            "Kubernetes node is not ready",
            stamp,
        ),
        c(
            old,
            "Schedulable",
            not facts.is_cordoned,
            "KubernetesNodeCordoned",
            "the Kubernetes node is cordoned",
            stamp,
        ),
        c(
            old,
            "MountPropagation",
            facts.has_mount_propagation,
            "NoMountPropagationSupport",
            "the data path is not bind-mounted into kubelet with rshared propagation",
            stamp,
        ),
        c(
            old,
            "RequiredPackages",
            not facts.missing_extensions,
            "PackagesNotInstalled",
            f"Missing packages: [{' '.join(facts.missing_extensions)}]",
            stamp,
        ),
        c(
            old,
            "KernelModulesLoaded",
            not facts.missing_extensions,
            "KernelModulesNotLoaded",
            f"Kernel modules [iscsi_tcp] are not loaded on node {name}",
            stamp,
        ),
    ]


def reconcile_nodes(
    site: Site, store: ObjectStore, settings: Mapping[str, str], stamp: str
) -> None:
    """One Longhorn Node CR per Kubernetes Node, with disks and conditions from state."""
    node_rt = longhorn.longhorn_type(store, "nodes")
    replica_rt = longhorn.longhorn_type(store, "replicas")
    if node_rt is None:
        return
    replicas = longhorn.items(store, replica_rt, longhorn.NAMESPACE) if replica_rt else []
    data_path = settings.get("default-data-path", "/var/lib/longhorn/").rstrip("/") or "/"
    hostnames = by_hostname(site)
    existing = {
        o["metadata"]["name"]: o for o in longhorn.items(store, node_rt, longhorn.NAMESPACE)
    }
    for node in longhorn.items(store, longhorn.resource(store, "", "nodes")):
        name = node["metadata"]["name"]
        facts = facts_of(site, node, data_path, hostnames)

        def build(old: dict[str, Any] | None, name: str = name, facts: NodeFacts = facts) -> Any:
            obj = old or {"metadata": {"name": name, "namespace": longhorn.NAMESPACE}}
            obj["spec"] = _spec(name, old, facts, settings)
            previous = (old or {}).get("status") or {}
            obj["status"] = {
                "conditions": _conditions(name, previous.get("conditions"), facts, stamp),
                "diskStatus": _disk_status(
                    name,
                    obj["spec"]["disks"],
                    facts,
                    replicas,
                    previous.get("diskStatus") or {},
                    stamp,
                ),
                "region": "",
                "zone": facts.zone,
                "autoEvicting": False,
                "snapshotCheckStatus": {},
            }
            return obj

        longhorn.ensure(store, node_rt, longhorn.NAMESPACE, name, build, listed=existing)
