"""Disk-encryption drifts (ENC-01): a system volume that is no longer LUKS2, another key
enrolled beside the node key, a config that no longer declares the encryption.

Why the volume record and not the config: a node reinstalled or reset with
an unencrypted config formats STATE/EPHEMERAL plain, and Talos never
converts a formatted partition afterwards -- so what drifts is how the
partition *is* formatted, which ``talosctl get volumestatus`` reports.
"""

from __future__ import annotations

from typing import Any

from simulator.drifts import DriftContext, DriftError, drift, edit_config
from simulator.state.machines import Machine
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle

NAME = "disk_encryption.strip_luks"


@drift(
    NAME,
    controls=("ENC-01",),
    description="STATE and EPHEMERAL of a node (--node, default the first) are formatted "
    "without LUKS2",
    takes_node=True,
)
def strip_luks(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.machine(node)
    stripped = []
    for volume_id in ("STATE", "EPHEMERAL"):
        volume = machine.volumes.get(volume_id)
        if volume is not None and volume.encryption:
            volume.encryption = ""
            volume.key_types = []
            stripped.append(volume_id)
    if not stripped:
        raise DriftError(
            f"drift {NAME} needs encrypted STATE/EPHEMERAL volumes, but {machine.name} has "
            "none (is it provisioned?)"
        )
    machine.generation += 1
    ctx.save_site()
    return f"{machine.name}: {' and '.join(stripped)} now formatted without LUKS2 encryption"


def _volume_config(docs: list[dict[str, Any]], machine: Machine, volume: str) -> dict[str, Any]:
    for doc in docs:
        if doc.get("kind") == "VolumeConfig" and doc.get("name") == volume:
            return doc
    raise DriftError(f"the config of {machine.name} has no VolumeConfig {volume} document")


@drift(
    "disk_encryption.static_key_added",
    controls=("ENC-01",),
    description="a node's EPHEMERAL VolumeConfig (--node, default the first) gets a static "
    "passphrase in slot 1 beside the nodeID key and the node reboots, so Talos enrolls it: "
    "the volume reports keys [nodeID, static]",
    takes_node=True,
)
def static_key_added(ctx: DriftContext, node: str | None) -> str:
    """``talosctl patch machineconfig --mode reboot`` with a second key in the VolumeConfig.

    Talos syncs the LUKS key slots to the configured keys when it opens the
    volume at boot, so after the reboot the passphrase unlocks EPHEMERAL too.
    """
    name = "disk_encryption.static_key_added"
    ctx.require_provisioned(name)
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        doc = _volume_config(docs, machine, "EPHEMERAL")
        keys = doc.setdefault("encryption", {}).setdefault("keys", [])
        keys.append({"slot": 1, "static": {"passphrase": "an-operator-typed-passphrase"}})
    try:
        Lifecycle(ctx.site).reboot(machine.ip)
    except TalosError as exc:
        raise DriftError(f"{machine.name} cannot be rebooted: {exc.message}") from None
    ctx.save_site()
    return f"{machine.name}: EPHEMERAL VolumeConfig has a static key in slot 1; rebooted"


@drift(
    "disk_encryption.config_unencrypted",
    controls=("ENC-01",),
    description="a node's applied config (--node, default the first) lost its STATE and "
    "EPHEMERAL VolumeConfig documents (the disk-encryption patch dropped from its stack, "
    "applied without a reboot): the volumes stay LUKS2 until their next format, which will "
    "be plain",
    takes_node=True,
)
def config_unencrypted(ctx: DriftContext, node: str | None) -> str:
    """``talosctl patch machineconfig`` with ``$patch: delete`` for both VolumeConfigs."""
    name = "disk_encryption.config_unencrypted"
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        for volume in ("STATE", "EPHEMERAL"):
            docs.remove(_volume_config(docs, machine, volume))
    ctx.save_site()
    return f"{machine.name}: VolumeConfig STATE and EPHEMERAL deleted from its config (no reboot)"
