"""What ``talosctl reset`` and ``talosctl wipe disk`` check and do to a machine's block devices.

Talos's storage side (``storaged`` / the block controllers, v1.12.5) refuses a
wipe of an unknown or in-use block device and a reset of a system volume it
cannot locate, with the texts reproduced here; a successful wipe clears the
device's signatures, and a reset either forgets the installation or empties
the named system volumes.  :class:`~simulator.talos.lifecycle.Lifecycle`
resolves the node and runs the stages around these functions; keeping the
per-device rules here lets them be read in one place, next to nothing about
stages or etcd.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.state.machines import Machine
from simulator.talos.errors import TalosError


def check_reset_labels(machine: Machine, labels: Sequence[str]) -> None:
    """Every system volume named in ``--system-labels-to-wipe`` exists and is located."""
    for label in labels:
        volume = machine.volumes.get(label)
        if volume is None:
            raise TalosError(
                "Unknown",
                f'failed to get volume status with label "{label}": resource '
                f"VolumeStatuses.block.talos.dev(runtime/{label}@undefined) doesn't exist",
            )
        if not volume.location:
            raise TalosError("Unknown", f'failed to reset: volume "{label}" is not located')


def reset_volumes(machine: Machine, labels: Sequence[str]) -> None:
    """Forget the installation (no *labels*) or empty just the named system volumes."""
    if not labels:
        machine.installed = False
        machine.volumes = {}
        machine.config = machine.persistent_config = None
        machine.etcd_data = False
        return
    for label in labels:
        volume = machine.volumes[label]
        volume.filesystem = volume.encryption = ""
        volume.key_types = []
        volume.phase = "waiting"
        if label == "STATE":  # the machine config lives on STATE
            machine.config = machine.persistent_config = None
        if label == "EPHEMERAL":  # so does etcd's data directory, on EPHEMERAL
            machine.etcd_data = False


def wipe_device(machine: Machine, name: str) -> None:
    """Wipe disk or partition *name*: a disk loses its signatures (partitions carry none here)."""
    disk = next((d for d in machine.hardware.disks if d.name == name), None)
    parent = disk
    if disk is None:
        parent = next((d for d in machine.hardware.disks if name.startswith(d.name)), None)
        if parent is None or not any(
            v.location == f"/dev/{name}" for v in machine.volumes.values()
        ):
            raise TalosError("NotFound", f'blockdevice "{name}" not found')
    for volume in machine.volumes.values():
        in_use = volume.phase == "ready" and (
            volume.location == f"/dev/{name}"
            or (disk is not None and volume.parent == disk.dev_path)
        )
        if in_use:
            raise TalosError(
                "FailedPrecondition",
                f'blockdevice "{name}" is in use by volume "{volume.id}"',
            )
    if disk is not None:
        disk.signatures = []
