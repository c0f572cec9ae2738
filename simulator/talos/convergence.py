"""What Talos's controllers make of a machine's state: volumes, etcd, the VIP.

Operations (:mod:`simulator.talos.lifecycle`) only change what an operator
changes -- the config, the stage, a wiped partition.  Everything that real
Talos controllers derive from that is derived here, so it *follows* from
state instead of being set by hand:

* **boot** provisions STATE/EPHEMERAL/META as the active config asks.  A
  partition is formatted (and encrypted) only when empty; a formatted plain
  partition whose config now asks for LUKS fails with Talos's
  ``block dev type mismatch: xfs != luks`` (volumes/encrypt.go, v1.12.5).
* **user disks** (``machine.disks``) are provisioned by a retrying
  controller: a disk carrying an old signature is "wrong format" and the
  volume waits with Talos's ``no disks matched for volume …`` text
  (volumes/locate.go) until ``wipe disk`` clears it.
* **etcd**: running control planes join a bootstrapped cluster; a member
  whose advertised peer URL no longer matches its address gets it updated
  only while the cluster has quorum (AdvertisedPeerController, facts
  correction 3) -- otherwise it stays stale and etcd is unhealthy.
* **VIP**: exactly one eligible control plane holds each VIP, and only
  while etcd has quorum (the election runs through etcd, facts §7.5).

Deviation: which node wins a fresh VIP election is the first eligible one by
name; real Talos elects whoever campaigns first.
"""

from __future__ import annotations

import functools
import hashlib

from simulator.state.hardware import Disk
from simulator.state.machines import EtcdMember, Machine, Site, Stage, Volume
from simulator.talos.configview import ConfigError, ConfigView

MIB = 1024**2
GIB = 1024**3
# Partition layout Talos writes on the system disk (index, label, size; 0 = rest).
SYSTEM_LAYOUT = (("META", 2, MIB), ("STATE", 3, 100 * MIB), ("EPHEMERAL", 4, 0))
_EFI_SIZE = GIB


@functools.lru_cache(maxsize=256)
def parse_config(text: str) -> ConfigView:
    """:meth:`ConfigView.parse`, remembered per text (a :class:`ConfigError` is not).

    Every converge reads every machine's config, and parsing YAML with
    positions costs tens of milliseconds: at scale (``serve --nodes``, where
    hundreds of workers share one config) uncached parsing dominates.  A
    ConfigView is frozen and its accessors only read, so sharing one is safe.
    """
    return ConfigView.parse(text)


def view_of(machine: Machine) -> ConfigView | None:
    """The active config of *machine*, or None (maintenance, unreadable)."""
    if machine.config is None:
        return None
    try:
        return parse_config(machine.config)
    except ConfigError:
        return None


def system_disk(machine: Machine, view: ConfigView | None) -> Disk:
    """The install disk the config names, else the machine's first disk."""
    if view is not None and view.install_disk:
        found = machine.hardware.disk_by_path(view.install_disk)
        if found is not None:
            return found
    return machine.hardware.disks[0]


def fresh_system_volumes(machine: Machine, view: ConfigView | None) -> None:
    """What an install leaves: the system disk repartitioned, every partition empty."""
    disk = system_disk(machine, view)
    used = _EFI_SIZE + sum(size for _, _, size in SYSTEM_LAYOUT)
    for label, index, size in SYSTEM_LAYOUT:
        machine.volumes[label] = Volume(
            id=label,
            location=disk.partition(index),
            parent=disk.dev_path,
            partition_index=index,
            size=size or disk.size - used,
            mount_point={"STATE": "/system/state", "EPHEMERAL": "/var"}.get(label, ""),
        )


def mapper_index(machine: Machine, volume_id: str) -> int:
    """dm-N numbering: encrypted volumes in layout order."""
    encrypted = [v.id for v in machine.volumes.values() if v.encryption]
    return encrypted.index(volume_id) if volume_id in encrypted else 0


def provision_system_volumes(machine: Machine, view: ConfigView) -> None:
    """Boot-time provisioning of META, STATE and EPHEMERAL."""
    if not machine.volumes:
        fresh_system_volumes(machine, view)
    for label in ("STATE", "EPHEMERAL"):
        volume = machine.volumes.get(label)
        if volume is None:
            continue
        wanted = view.volume_encryption(label)
        volume.error = ""
        if not volume.filesystem:
            volume.filesystem = "xfs"
            volume.encryption = wanted.provider if wanted else ""
            volume.key_types = wanted.key_types if wanted else []
            volume.key_slot = wanted.keys[0][0] if wanted and wanted.keys else 0
            volume.phase = "ready"
        elif wanted is not None and not volume.encryption:
            volume.phase = "failed"
            volume.error = "block dev type mismatch: xfs != luks"
        elif wanted is None and volume.encryption:
            # Assumption (not traced upstream): a LUKS partition mounted as plain
            # xfs fails the filesystem probe the same way.
            volume.phase = "failed"
            volume.error = "block dev type mismatch: luks != xfs"
        else:
            if wanted is not None:
                volume.key_types = wanted.key_types  # Talos syncs key slots to the config
            volume.phase = "ready"
    meta = machine.volumes.get("META")
    if meta is not None:
        meta.phase = "ready"


def provision_user_disks(machine: Machine, view: ConfigView) -> None:
    """The retrying user-disk controller: one pass."""
    wanted: set[str] = set()
    for device, mountpoints in view.user_disks():
        disk = machine.hardware.disk_by_path(device)
        for index, mountpoint in enumerate(mountpoints):
            volume_id = f"{device}-{index + 1}"  # user_disk_config.go
            wanted.add(volume_id)
            volume = machine.volumes.get(volume_id)
            if volume is None:
                volume = Volume(
                    id=volume_id,
                    location="",
                    parent=disk.dev_path if disk else "",
                    partition_index=index + 1,
                    size=0,
                    mount_point=mountpoint,
                )
                machine.volumes[volume_id] = volume
            if volume.phase == "ready":
                continue
            if disk is None:
                volume.phase = "waiting"
                volume.error = (
                    "no disks matched for volume (0 matched selector): 0 have not enough space, "
                    "0 have wrong format, 0 have other issues"
                )
            elif disk.signatures:
                volume.phase = "waiting"
                volume.error = (
                    "no disks matched for volume (1 matched selector): 0 have not enough space, "
                    "1 have wrong format, 0 have other issues"
                )
            else:
                volume.location = disk.partition(index + 1)
                volume.size = disk.size - MIB  # GPT overhead, single partition
                volume.filesystem = "xfs"
                volume.phase = "ready"
                volume.error = ""
    for volume_id in [
        v.id for v in machine.volumes.values() if v.id not in wanted and v.id.startswith("/dev/")
    ]:
        del machine.volumes[volume_id]


def current_address(view: ConfigView) -> str | None:
    """The first static address the config gives the node (no prefix)."""
    for _, cidr in view.static_addresses():
        return cidr.split("/", 1)[0]
    return None


# -- etcd ---------------------------------------------------------------------


def peer_url(ip: str) -> str:
    return f"https://{ip}:2380"


def client_url(ip: str) -> str:
    return f"https://{ip}:2379"


def is_reachable(site: Site, member: EtcdMember) -> bool:
    """Can the other members talk to *member* at the URL they know it by?"""
    machine = site.machines.get(member.node)
    return (
        machine is not None
        and machine.stage in (Stage.RUNNING, Stage.BOOTING)
        and machine.etcd_data
        and not machine.etcd_stopped
        and peer_url(machine.ip) in member.peer_urls
    )


def has_quorum(site: Site) -> bool:
    """A majority of members reachable (no members: no etcd, no quorum)."""
    members = site.etcd_members
    up = sum(1 for m in members if is_reachable(site, m))
    return bool(members) and up * 2 > len(members)


def new_member_id(site: Site, hostname: str) -> int:
    """A stable pseudo-random 64-bit ID (etcd picks a random one)."""
    site.member_counter += 1
    seed = f"{hostname}/{site.member_counter}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") or 1


def add_member(site: Site, machine: Machine, hostname: str) -> EtcdMember:
    member = EtcdMember(
        id=new_member_id(site, hostname),
        name=hostname,
        node=machine.name,
        peer_urls=[peer_url(machine.ip)],
        client_urls=[client_url(machine.ip)],
    )
    site.etcd_members.append(member)
    machine.etcd_data = True
    return member


def hostname_of(machine: Machine, view: ConfigView | None) -> str:
    """The hostname Talos would report; without a static one, the stable default."""
    if view is not None and view.hostname:
        return view.hostname
    return f"talos-{hashlib.sha256(machine.name.encode()).hexdigest()[:3]}-{machine.name[-3:]}"


def _converge_etcd(site: Site) -> None:
    if not site.bootstrapped:
        return
    for machine in sorted(site.machines.values(), key=lambda m: m.name):
        view = view_of(machine)
        if machine.stage is not Stage.RUNNING or view is None or not view.is_control_plane:
            continue
        if machine.etcd_stopped:
            continue
        member = site.member_of(machine.name)
        if member is None or not machine.etcd_data:
            # Joining (or rejoining with wiped data) is a membership change: needs quorum.
            if member is not None:
                site.etcd_members.remove(member)
            if has_quorum(site):
                add_member(site, machine, hostname_of(machine, view))
            elif member is not None:
                site.etcd_members.append(member)
    # AdvertisedPeerController: update stale peer URLs while quorum holds.
    changed = True
    while changed:
        changed = False
        for member in site.etcd_members:
            owner = site.machines.get(member.node)
            if (
                owner is None
                or owner.stage is not Stage.RUNNING
                or not owner.etcd_data
                or owner.etcd_stopped
                or peer_url(owner.ip) in member.peer_urls
            ):
                continue
            if has_quorum(site):
                member.peer_urls = [peer_url(owner.ip)]
                member.client_urls = [client_url(owner.ip)]
                changed = True


def _converge_vips(site: Site) -> None:
    wanted: dict[str, list[str]] = {}
    quorum = has_quorum(site)
    for machine in sorted(site.machines.values(), key=lambda m: m.name):
        view = view_of(machine)
        if view is None or not view.is_control_plane:
            continue
        for _, vip in view.vips():
            eligible = wanted.setdefault(vip, [])
            member = site.member_of(machine.name)
            if (
                quorum
                and machine.stage is Stage.RUNNING
                and member is not None
                and is_reachable(site, member)
            ):
                eligible.append(machine.name)
    holders: dict[str, str] = {}
    for vip, eligible in wanted.items():
        current = site.vip_holders.get(vip)
        if current is not None and current in eligible:
            holders[vip] = current
        elif eligible:
            holders[vip] = eligible[0]
    site.vip_holders = holders


def converge(site: Site) -> None:
    """Run every controller pass until nothing changes (each pass is idempotent)."""
    for machine in site.machines.values():
        view = view_of(machine)
        if view is not None and machine.stage is Stage.RUNNING:
            provision_user_disks(machine, view)
    _converge_etcd(site)
    _converge_vips(site)
