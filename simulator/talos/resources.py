"""COSI resources a simulated node serves to ``talosctl get``, derived from state.

Nothing here is stored: each call builds the resources from the machine's
state and its active config, the way Talos controllers do, so a resource
cannot disagree with the state it describes (an EPHEMERAL formatted without
LUKS shows no ``encryptionProvider``).  Types, namespaces, IDs, spec field
names and table columns follow the Talos facts sheet §5 (v1.12); type-name
resolution and its errors follow ``pkg/machinery/client/resources.go`` and
COSI's alias rules (§4.10).

Deviations: timestamps are the simulator clock's, owners are the controller
names Talos uses where known; only the resource types of §5 that the suite
reads are served.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.state.machines import ETCD_VERSION, KUBERNETES_VERSION, Machine, Site, Stage
from simulator.talos import convergence
from simulator.talos.configview import ConfigView
from simulator.talos.errors import TalosError


@dataclass(frozen=True)
class TypeDef:
    """A resource definition: full type, display name, namespace, table columns."""

    type: str  # VolumeStatuses.block.talos.dev
    display: str  # VolumeStatus
    namespace: str
    columns: tuple[tuple[str, str], ...] = ()  # (header, dotted spec path)
    sensitive: bool = False
    extra_aliases: tuple[str, ...] = ()
    automatic_aliases: bool = True  # False: COSI's SkipAutomaticAliases

    @property
    def aliases(self) -> set[str]:
        """COSI's automatic aliases plus the explicit ones, all lowercase."""
        if not self.automatic_aliases:
            return {self.type.lower(), *self.extra_aliases}
        plural, _, suffix = self.type.partition(".")
        names = {self.display.lower(), plural.lower(), self.type.lower()}
        parts = suffix.split(".")
        names.update(f"{plural.lower()}.{'.'.join(parts[:i])}" for i in range(1, len(parts)))
        capitals = "".join(c for c in self.display if c.isupper()).lower()
        if len(capitals) >= 2:
            names.add(capitals)
            if not capitals.endswith("s"):
                names.add(capitals + "s")
        names.update(self.extra_aliases)
        return names


@dataclass(frozen=True)
class Resource:
    """One resource as the Talos API returns it."""

    typedef: TypeDef
    id: str
    version: int
    owner: str
    spec: Any
    created: float = 0.0
    updated: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)


TYPES: tuple[TypeDef, ...] = (
    TypeDef(
        "VolumeStatuses.block.talos.dev",
        "VolumeStatus",
        "runtime",
        (("TYPE", "type"), ("PHASE", "phase"), ("LOCATION", "location"), ("SIZE", "prettySize")),
    ),
    TypeDef("VolumeConfigs.block.talos.dev", "VolumeConfig", "runtime", sensitive=True),
    TypeDef(
        "Disks.block.talos.dev",
        "Disk",
        "runtime",
        (
            ("SIZE", "pretty_size"),
            ("READ ONLY", "readonly"),
            ("TRANSPORT", "transport"),
            ("ROTATIONAL", "rotational"),
            ("WWID", "wwid"),
            ("MODEL", "model"),
            ("SERIAL", "serial"),
        ),
    ),
    TypeDef("SystemDisks.block.talos.dev", "SystemDisk", "runtime", (("DISK", "diskID"),)),
    TypeDef(
        "AddressStatuses.net.talos.dev",
        "AddressStatus",
        "network",
        (("ADDRESS", "address"), ("LINK", "linkName")),
        extra_aliases=("address", "addresses"),
    ),
    TypeDef(
        "HostnameStatuses.net.talos.dev",
        "HostnameStatus",
        "network",
        (("HOSTNAME", "hostname"), ("DOMAINNAME", "domainname")),
        extra_aliases=("hostname",),
    ),
    TypeDef("HostnameSpecs.net.talos.dev", "HostnameSpec", "network"),
    TypeDef(
        "ExtensionStatuses.runtime.talos.dev",
        "ExtensionStatus",
        "runtime",
        (("NAME", "metadata.name"), ("VERSION", "metadata.version")),
        extra_aliases=("extensions",),
    ),
    TypeDef(
        "MachineStatuses.runtime.talos.dev",
        "MachineStatus",
        "runtime",
        (("STAGE", "stage"), ("READY", "status.ready")),
    ),
    # The legacy type is only "mounts" (SkipAutomaticAliases since v1.11): "mountstatuses"
    # and "ms" name the block one (runtime/mount_status.go, block/mount_status.go @v1.12.5).
    TypeDef(
        "MountStatuses.runtime.talos.dev",
        "MountStatus",
        "runtime",
        (("SOURCE", "source"), ("TARGET", "target"), ("FILESYSTEM TYPE", "filesystemType")),
        extra_aliases=("mounts",),
        automatic_aliases=False,
    ),
    TypeDef(
        "MountStatuses.block.talos.dev",
        "MountStatus",
        "runtime",
        (
            ("SOURCE", "source"),
            ("TARGET", "target"),
            ("FILESYSTEM", "filesystem"),
            ("VOLUME", "spec.volumeID"),
        ),
    ),
    TypeDef("EtcdMembers.etcd.talos.dev", "EtcdMember", "etcd", (("MEMBER ID", "memberID"),)),
    TypeDef(
        "EtcdSpecs.etcd.talos.dev",
        "EtcdSpec",
        "etcd",
        (
            ("NAME", "name"),
            ("ADVERTISEDADDRESSES", "advertisedAddresses"),
            ("LISTENPEERADDRESSES", "listenPeerAddresses"),
            ("LISTENCLIENTADDRESSES", "listenClientAddresses"),
        ),
    ),
    TypeDef("KubeletSpecs.kubernetes.talos.dev", "KubeletSpec", "k8s", sensitive=True),
    TypeDef(
        "KubePrismStatuses.kubernetes.talos.dev",
        "KubePrismStatus",
        "k8s",
        (("HOST", "host"), ("HEALTHY", "healthy")),
    ),
    TypeDef(
        "Members.cluster.talos.dev",
        "Member",
        "cluster",
        (
            ("HOSTNAME", "hostname"),
            ("MACHINE TYPE", "machineType"),
            ("OS", "operatingSystem"),
            ("ADDRESSES", "addresses"),
        ),
    ),
    TypeDef(
        "MachineConfigs.config.talos.dev",
        "MachineConfig",
        "config",
        sensitive=True,
        extra_aliases=("mc", "mcs"),
    ),
    TypeDef(
        "AdmissionControlConfigs.kubernetes.talos.dev", "AdmissionControlConfig", "controlplane"
    ),
)


def resolve_type(name: str) -> TypeDef:
    """The type *name* refers to, or Talos's error."""
    wanted = name.lower()
    found = [t for t in TYPES if wanted in t.aliases]
    if not found:
        raise TalosError("NotFound", f'resource "{name}" is not registered')
    if len(found) > 1:
        names = " ".join(t.type.lower() for t in found)  # RD IDs are the lowercase types
        raise TalosError("InvalidArgument", f'resource type "{name}" is ambiguous: [{names}]')
    return found[0]


def pretty_size(size: int) -> str:
    """go-humanize ``Bytes``: SI units, one decimal below 10."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exponent = 0
    while size >= 1000 ** (exponent + 1) and exponent < len(units) - 1:
        exponent += 1
    value = int(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {units[exponent]}" if value < 10 else f"{value:.0f} {units[exponent]}"


# -- builders -------------------------------------------------------------------------


def _volume_spec(machine: Machine, volume_id: str) -> dict[str, Any]:
    volume = machine.volumes[volume_id]
    spec: dict[str, Any] = {"phase": volume.phase, "type": volume.volume_type}
    if volume.location:
        spec["location"] = volume.location
        spec["mountLocation"] = (
            f"/dev/dm-{convergence.mapper_index(machine, volume_id)}"
            if volume.encryption
            else volume.location
        )
        spec["parentLocation"] = volume.parent
        spec["partitionIndex"] = volume.partition_index
        spec["size"] = volume.size
        spec["prettySize"] = pretty_size(volume.size)
        spec["filesystem"] = volume.filesystem or "none"
    if volume.encryption:
        spec["encryptionProvider"] = volume.encryption
        spec["configuredEncryptionKeys"] = list(volume.key_types)
        spec["encryptionSlot"] = volume.key_slot
    if volume.mount_point:
        parent, target = _mount_parent(machine, volume_id)
        spec["mountSpec"] = {"targetPath": target}
        label = _SELINUX_LABELS.get("EPHEMERAL" if parent else volume_id)
        if label:
            spec["mountSpec"]["selinuxLabel"] = label
        if parent:
            spec["mountSpec"]["parentId"] = parent
    if volume.error:
        spec["errorMessage"] = volume.error
    return spec


def _mounted(machine: Machine) -> list[str]:
    """Volumes mounted now: ready ones with a mount point, on a booted machine.

    Talos mounts a volume once it is ready and something requests it (the
    system volumes always, a user disk through its config), and keeps it
    mounted while machined runs.
    """
    if not machine.installed or machine.stage in (Stage.MAINTENANCE, Stage.POWERED_OFF):
        return []
    return [
        vid
        for vid, volume in machine.volumes.items()
        if volume.phase == "ready" and volume.mount_point and volume.location
    ]


# mountSpec.selinuxLabel of the volumes Talos configures (constants.go,
# volumeconfig/system_volumes.go @v1.12.5); user disks get EPHEMERAL's label.
_SELINUX_LABELS = {
    "STATE": "system_u:object_r:system_state_t:s0",
    "EPHEMERAL": "system_u:object_r:ephemeral_t:s0",
}


def _mount_parent(machine: Machine, volume_id: str) -> tuple[str, str]:
    """(parent mount ID, target path) of a volume's mount, as its VolumeConfig states it.

    Talos v1.12 mounts a ``machine.disks`` partition under ``/var/`` inside
    EPHEMERAL: the target loses its ``/var/`` prefix and the mount names
    EPHEMERAL as its parent (block/user_disk_config.go), so VolumeStatus shows
    ``targetPath: lib/longhorn, parentId: EPHEMERAL``.  Other mounts are
    absolute with no parent.
    """
    mount_point = machine.volumes[volume_id].mount_point
    if volume_id.startswith("/dev/") and mount_point.startswith("/var/"):
        return "EPHEMERAL", mount_point.removeprefix("/var/")
    return "", mount_point


def mount_targets(machine: Machine) -> dict[str, tuple[str, str]]:
    """Volume ID -> (parent mount ID, full target) of every volume mounted now.

    A mount with a parent waits for the parent's mount and lands at the
    parent's target joined with its own (block/mount.go), so a user disk
    under /var is not mounted while EPHEMERAL is not.
    """
    mounted = _mounted(machine)
    found: dict[str, tuple[str, str]] = {}
    for vid in mounted:
        parent, target = _mount_parent(machine, vid)
        if not parent:
            found[vid] = ("", posixpath.normpath(posixpath.join("/", target)))
    for vid in mounted:
        parent, target = _mount_parent(machine, vid)
        if parent in found:
            found[vid] = (parent, posixpath.normpath(posixpath.join(found[parent][1], target)))
    return {vid: found[vid] for vid in mounted if vid in found}


def _mount_source(machine: Machine, volume_id: str) -> str:
    volume = machine.volumes[volume_id]
    if volume.encryption:
        return f"/dev/dm-{convergence.mapper_index(machine, volume_id)}"
    return volume.location


def _block_mounts(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    """block.MountStatus: one per mounted volume, ID = volume ID, full target (block/mount.go)."""
    items: list[tuple[str, Any]] = []
    for vid, (parent, target) in mount_targets(m).items():
        volume = m.volumes[vid]
        spec: dict[str, Any] = {
            "spec": {
                "volumeID": vid,
                "parentID": parent,
                "readOnly": False,
                "detached": False,
                "requesters": [],
                "requesterIDs": [],
            },
            "source": _mount_source(m, vid),
            "target": target,
            "filesystem": volume.filesystem or "none",
            "readOnly": False,
            "projectQuotaSupport": False,
            "detached": False,
        }
        if volume.encryption:
            spec["encryptionProvider"] = volume.encryption
        items.append((vid, spec))
    return items


def _legacy_mounts(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    """runtime.MountStatus, derived from the block one (runtime/mount_status.go)."""
    items: list[tuple[str, Any]] = []
    for vid, block in _block_mounts(site, m, v):
        volume = m.volumes[vid]
        spec: dict[str, Any] = {
            "source": block["source"],
            "target": block["target"],
            "filesystemType": block["filesystem"],
            "options": None,
            "encrypted": bool(volume.encryption),
        }
        if volume.encryption:
            spec["encryptionProviders"] = list(volume.key_types)
        items.append((vid, spec))
    return items


def _addresses(machine: Machine, site: Site, view: ConfigView | None) -> list[Resource]:
    link = machine.hardware.nics[0].name if machine.hardware.nics else "eth0"
    cidrs = [(link, f"{machine.ip}/24")]
    if view is not None:
        static = view.static_addresses()
        if static:
            cidrs = [(lk or link, c) for lk, c in static]
        cidrs += [
            (lk or link, f"{vip}/32")
            for lk, vip in view.vips()
            if site.vip_holders.get(vip) == machine.name
        ]
    typedef = resolve_type("addressstatuses")
    return [
        Resource(
            typedef,
            f"{lk}/{cidr}",
            1,
            "network.AddressStatusController",
            {
                "address": cidr,
                "local": cidr.split("/")[0],
                "linkName": lk,
                "family": "inet4",
                "scope": "global",
                "flags": "permanent",
            },
        )
        for lk, cidr in cidrs
    ]


def _kubelet_spec(view: ConfigView) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
    }
    if view.seccomp_default:
        config["seccompDefault"] = True
    image = str(view.kubelet.get("image") or f"ghcr.io/siderolabs/kubelet:v{KUBERNETES_VERSION}")
    return {"image": image, "config": config, "expectedNodename": view.hostname or ""}


Builder = Callable[[Site, Machine, ConfigView | None], list[tuple[str, Any]]]


def resources(site: Site, machine: Machine, typedef: TypeDef) -> list[Resource]:
    """All resources of *typedef* on *machine* (in list order)."""
    view = convergence.view_of(machine)
    if typedef.type.startswith("AddressStatuses"):
        return _addresses(machine, site, view)
    builder = _TYPE_BUILDERS.get(typedef.type) or _BUILDERS.get(typedef.display)
    items = builder(site, machine, view) if builder is not None else []
    return [
        Resource(
            typedef,
            rid,
            machine.generation,
            _OWNERS.get(typedef.type) or _OWNERS.get(typedef.display, ""),
            spec,
            machine.changed_at,
            machine.changed_at,
        )
        for rid, spec in items
    ]


def _machine_status(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    stage = m.stage.value if m.stage is not Stage.POWERED_OFF else "unknown"
    ready = m.stage is Stage.RUNNING and all(vol.phase == "ready" for vol in m.volumes.values())
    return [("machine", {"stage": stage, "status": {"ready": ready, "unmetConditions": []}})]


def _extensions(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    names = list(site.schematics.get(m.schematic, [])) if m.installed else []
    items: list[tuple[str, Any]] = [
        (str(i), {"image": f"{i}.sqsh", "metadata": {"name": n, "version": ""}})
        for i, n in enumerate(names)
    ]
    if m.installed:
        items.append(
            (
                str(len(names)),
                {
                    "image": f"{len(names)}.sqsh",
                    "metadata": {"name": "schematic", "version": m.schematic},
                },
            )
        )
    return items


def _etcd_member(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    member = site.member_of(m.name)
    if member is None or not m.etcd_data:
        return []
    return [("local", {"memberID": f"{member.id:016x}"})]


def _etcd_spec(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    if v is None or not v.is_control_plane:
        return []
    return [
        (
            "etcd",
            {
                "name": convergence.hostname_of(m, v),
                "advertisedAddresses": [m.ip],
                "listenPeerAddresses": ["0.0.0.0"],
                "listenClientAddresses": ["0.0.0.0"],
                "image": f"registry.k8s.io/etcd:{ETCD_VERSION}",
            },
        )
    ]


def _members(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
    items = []
    for other in sorted(site.machines.values(), key=lambda x: x.name):
        ov = convergence.view_of(other)
        if ov is None or other.stage is not Stage.RUNNING:
            continue
        hostname = convergence.hostname_of(other, ov)
        items.append(
            (
                hostname,
                {
                    "nodeId": hostname,
                    "addresses": [other.ip],
                    "hostname": hostname,
                    "machineType": ov.machine_type,
                    "operatingSystem": f"Talos ({other.talos_version})",
                    "controlPlane": {"apiServerPort": 6443} if ov.is_control_plane else None,
                },
            )
        )
    return items


def _static(key: str, make: Callable[[Machine, ConfigView], Any]) -> Builder:
    def build(site: Site, m: Machine, v: ConfigView | None) -> list[tuple[str, Any]]:
        return [] if v is None else [(key, make(m, v))]

    return build


_BUILDERS: dict[str, Builder] = {
    "VolumeStatus": lambda s, m, v: [(vid, _volume_spec(m, vid)) for vid in m.volumes],
    "SystemDisk": lambda s, m, v: (
        [
            ("system-disk", {"diskID": d.name, "devPath": d.dev_path})
            for d in [convergence.system_disk(m, v)]
        ]
        if m.installed
        else []
    ),
    "Disk": lambda s, m, v: [
        (
            d.name,
            {
                "dev_path": d.dev_path,
                "size": d.size,
                "pretty_size": pretty_size(d.size),
                "readonly": False,
                "model": d.model,
                "serial": d.serial,
                "transport": d.transport,
                "rotational": d.rotational,
                "symlinks": [d.by_id] if d.by_id else [],
            },
        )
        for d in m.hardware.disks
    ],
    "HostnameStatus": lambda s, m, v: [
        ("hostname", {"hostname": convergence.hostname_of(m, v), "domainname": ""})
    ],
    "MachineStatus": _machine_status,
    "ExtensionStatus": _extensions,
    "EtcdMember": _etcd_member,
    "EtcdSpec": _etcd_spec,
    "Member": _members,
    "KubeletSpec": _static("kubelet", lambda m, v: _kubelet_spec(v)),
    "KubePrismStatus": lambda s, m, v: (
        []
        if v is None or not v.kubeprism[0]
        else [
            (
                "k8s-loadbalancer",
                {"host": f"127.0.0.1:{v.kubeprism[1]}", "healthy": m.stage is Stage.RUNNING},
            )
        ]
    ),
    "MachineConfig": lambda s, m, v: (
        []
        if m.config is None
        else [("v1alpha1", m.config), ("persistent", m.persistent_config or m.config)]
    ),
    "AdmissionControlConfig": _static(
        "admission-control",
        lambda m, v: {
            "config": [
                {"name": a.get("name"), "configuration": a.get("configuration")}
                for a in v.api_server.get("admissionControl") or []
                if isinstance(a, Mapping)
            ]
        },
    ),
}
# Types whose display name another type shares (both MountStatus), keyed by full type.
_TYPE_BUILDERS: dict[str, Builder] = {
    "MountStatuses.block.talos.dev": _block_mounts,
    "MountStatuses.runtime.talos.dev": _legacy_mounts,
}
_OWNERS = {
    "MountStatuses.block.talos.dev": "block.MountController",
    "MountStatuses.runtime.talos.dev": "runtime.MountStatusController",
    "VolumeStatus": "block.VolumeManagerController",
    "MachineStatus": "runtime.MachineStatusController",
    "HostnameStatus": "network.HostnameStatusController",
    "EtcdMember": "etcd.MemberController",
    "KubeletSpec": "k8s.KubeletSpecController",
    "KubePrismStatus": "k8s.KubePrismController",
}


def api_server_settings(machine: Machine) -> tuple[Any, Any]:
    """(admission plugins, audit policy) for the API-server side, from the config."""
    view = convergence.view_of(machine)
    if view is None:
        return [], None
    return list(view.api_server.get("admissionControl") or []), view.api_server.get("auditPolicy")
