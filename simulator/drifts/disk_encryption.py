"""Disk-encryption drifts (ENC-01): a system volume that is no longer LUKS2.

Why the volume record and not the config: a node reinstalled or reset with
an unencrypted config formats STATE/EPHEMERAL plain, and Talos never
converts a formatted partition afterwards -- so what drifts is how the
partition *is* formatted, which ``talosctl get volumestatus`` reports.
"""

from __future__ import annotations

from simulator.drifts import DriftContext, DriftError, drift

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
