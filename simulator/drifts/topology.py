"""Topology drifts: a node powered off, as its power button or BMC would (TOP-01), cordoned
(TOP-02), left on an older Talos release (TOP-03), back from a reboot with less memory (TOP-04).

What each changes is the machine's own state (its stage, installed image,
hardware) or a Node field an operator sets; what the Node object and
``talosctl version`` report follows from that through the simulator's
kubelet and machine API, as on real hardware.
"""

from __future__ import annotations

import re

from simulator.drifts import DriftContext, DriftError, drift, hostname_of
from simulator.state.machines import Stage
from simulator.talos import images
from simulator.talos.errors import TalosError
from simulator.talos.lifecycle import Lifecycle


@drift(
    "topology.power_off",
    controls=("TOP-01",),
    description="a node (--node, default the first) is shut down and powered off",
    takes_node=True,
)
def power_off(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.machine(node)
    if machine.stage is Stage.POWERED_OFF:
        raise DriftError(f"{machine.name} is already powered off")
    try:
        Lifecycle(ctx.site).shutdown(machine.ip)
    except TalosError as exc:
        raise DriftError(f"{machine.name} cannot be shut down: {exc.message}") from None
    ctx.save_site()
    return f"{machine.name} powered off"


@drift(
    "topology.cordon",
    controls=("TOP-02", "LH-03"),
    description="a node (--node, default the first) is cordoned (spec.unschedulable, as "
    "kubectl cordon leaves it); on a storage node Longhorn stops scheduling replicas there "
    "(disable-scheduling-on-cordoned-node), so LH-03 fails too",
    takes_node=True,
)
def cordon(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "topology.cordon")
    name = hostname_of(machine) or machine.name
    nodes = ctx.rt("", "v1", "nodes")
    ctx.get(nodes, "", name, "topology.cordon")
    ctx.merge_patch(nodes, "", name, {"spec": {"unschedulable": True}})
    return f"Node {name} cordoned"


_TAG = re.compile(r":v(\d+)\.(\d+)\.(\d+)$")


@drift(
    "topology.old_talos",
    controls=("TOP-03",),
    description="a node (--node, default the first) still runs the previous Talos patch "
    "release: the rolling upgrade to the declared version never reached it",
    takes_node=True,
)
def old_talos(ctx: DriftContext, node: str | None) -> str:
    """The node's installed image is the same installer one patch release back.

    Its Talos version is the image's tag, as after an install or upgrade with
    it (:func:`simulator.talos.images.resolve`), so ``talosctl version`` and
    the Node's ``osImage`` report it; the schematic and so the extensions stay.
    """
    machine = ctx.configured(node, "topology.old_talos")
    tag = _TAG.search(machine.image)
    if tag is None or int(tag[3]) == 0:
        raise DriftError(
            f"{machine.name}'s installer image {machine.image or '(none)'} has no "
            "vX.Y.Z tag with an earlier patch release"
        )
    older = f"v{tag[1]}.{tag[2]}.{int(tag[3]) - 1}"
    try:
        installer = images.resolve(ctx.site, machine.image[: tag.start()] + f":{older}")
    except TalosError as exc:
        raise DriftError(f"{machine.name}: {exc.message}") from None
    machine.image = installer.ref
    machine.schematic = installer.schematic
    machine.talos_version = installer.version
    machine.generation += 1
    ctx.save_site()
    return f"{machine.name} runs Talos {installer.version} ({installer.ref})"


@drift(
    "topology.failed_dimm",
    controls=("TOP-04",),
    description="a node (--node, default the first) rebooted with half its memory (a failed "
    "DIMM): its kubelet reports the smaller capacity",
    takes_node=True,
)
def failed_dimm(ctx: DriftContext, node: str | None) -> str:
    """Half the machine's RAM is gone and it reboots, as after a DIMM failure and a crash.

    The Node's ``status.capacity.memory`` follows from the machine's hardware
    through the simulator's kubelet (simulator.controllers.nodes).
    """
    machine = ctx.configured(node, "topology.failed_dimm")
    before = machine.hardware.memory_bytes
    machine.hardware.memory_bytes = before // 2
    try:
        Lifecycle(ctx.site).reboot(machine.ip)
    except TalosError as exc:
        raise DriftError(f"{machine.name} cannot be rebooted: {exc.message}") from None
    ctx.save_site()
    gib = 1024**3
    return (
        f"{machine.name} rebooted with {machine.hardware.memory_bytes / gib:g} GiB of memory "
        f"(was {before / gib:g} GiB)"
    )
