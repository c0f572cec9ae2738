"""The simulated machines' hardware, as Talos would discover it.

A digital twin needs hardware that matches the definition it is built from:
the install and storage disks the inventory names by ``/dev/disk/by-id`` path
exist, with kernel names that a wipe may shift (article lesson 2), and some
disks carry old LVM or Ceph BlueStore signatures that block partitioning
until wiped (article lesson 1).  Which disks are "dirty" is part of the
simulated site, chosen here so provisioning has to deal with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

GIB = 1024**3

# Article lesson 1: the storage SSDs of two nodes came from earlier clusters.
DEFAULT_OLD_SIGNATURES: Mapping[str, tuple[str, ...]] = {
    "node03": ("lvm2",),
    "node05": ("ceph_bluestore",),
}


@dataclass
class Disk:
    """One block device, with the fields `talosctl get disks` reports."""

    name: str  # kernel name: nvme0n1, sda
    size: int
    model: str
    serial: str
    transport: str  # nvme, sata
    rotational: bool = False
    by_id: str = ""
    signatures: list[str] = field(default_factory=list)  # what blkid would find

    @property
    def dev_path(self) -> str:
        return f"/dev/{self.name}"

    def partition(self, index: int) -> str:
        """Kernel path of partition *index* (nvme0n1p5, sda5)."""
        sep = "p" if self.name[-1].isdigit() else ""
        return f"{self.dev_path}{sep}{index}"


@dataclass
class Nic:
    """One network link."""

    name: str
    mac: str


@dataclass
class Hardware:
    """What a machine is made of; changes only by drifts (a disk swapped, a NIC renamed)."""

    cpu: int
    memory_bytes: int
    disks: list[Disk]
    nics: list[Nic]

    def disk_by_path(self, path: str) -> Disk | None:
        """Resolve ``/dev/sda`` or a ``/dev/disk/by-id/…`` link to a disk."""
        for disk in self.disks:
            if path in (disk.dev_path, disk.by_id):
                return disk
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hardware:
        return cls(
            cpu=int(data["cpu"]),
            memory_bytes=int(data["memory_bytes"]),
            disks=[Disk(**d) for d in data["disks"]],
            nics=[Nic(**n) for n in data["nics"]],
        )


def _disk_from_by_id(by_id: str, name: str, size: int, transport: str) -> Disk:
    """Model and serial as udev encodes them in the by-id link name."""
    tail = by_id.rsplit("/", 1)[-1]
    body = tail.split("-", 1)[-1]
    model, _, serial = body.rpartition("_")
    return Disk(
        name=name,
        size=size,
        model=model.replace("_", " ") or body,
        serial=serial or body,
        transport=transport,
        by_id=by_id,
    )


def _mac(index: int) -> str:
    # Locally administered unicast prefix: never a real vendor's address.
    return f"02:54:00:00:{index // 256:02x}:{index % 256:02x}"


def build_hardware(
    *,
    index: int,
    cpu: int,
    memory_gib: int,
    install_disk: str,
    storage_disk: str | None,
    nic_name: str,
    old_signatures: tuple[str, ...] = (),
    storage_size: int = 240 * 10**9,
) -> Hardware:
    """Hardware for one inventory node: its install disk, storage SSD and NIC."""
    disks: list[Disk] = []
    if install_disk.startswith("/dev/disk/by-"):
        install_transport = "nvme" if "nvme" in install_disk else "sata"
        install_name = "nvme0n1" if install_transport == "nvme" else "sdb"
        disks.append(_disk_from_by_id(install_disk, install_name, 500 * 10**9, install_transport))
    else:
        name = install_disk.removeprefix("/dev/")
        disks.append(
            Disk(
                name=name,
                size=500 * 10**9,
                model="QEMU",
                serial=f"sys{index}",
                transport="nvme" if name.startswith("nvme") else "sata",
            )
        )
    if storage_disk is not None:
        storage = _disk_from_by_id(storage_disk, "sda", storage_size, "sata")
        storage.signatures = list(old_signatures)
        disks.append(storage)
    return Hardware(
        cpu=cpu, memory_bytes=memory_gib * GIB, disks=disks, nics=[Nic(nic_name, _mac(index))]
    )
