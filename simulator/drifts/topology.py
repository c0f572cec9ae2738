"""Topology drifts: a node powered off, as its power button or BMC would (TOP-01), cordoned,
tainted by hand or by Talos once control planes refuse workloads (TOP-02), left on an older
Talos release or kubelet (TOP-03), back from a reboot with less memory or fewer CPUs (TOP-04).

What each changes is the machine's own state (its stage, installed image,
hardware) or a Node field an operator sets; what the Node object and
``talosctl version`` report follows from that through the simulator's
kubelet and machine API, as on real hardware.
"""

from __future__ import annotations

import re

from simulator.drifts import (
    DriftContext,
    DriftError,
    control_planes,
    drift,
    edit_config,
    hostname_of,
    v1alpha1,
)
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


@drift(
    "topology.taint_node",
    controls=("TOP-02",),
    description="a node (--node, default the first) is tainted dedicated=infra:NoExecute, as "
    "`kubectl taint node` leaves it: no config sets that taint, so nothing removes it",
    takes_node=True,
)
def taint_node(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "topology.taint_node")
    name = hostname_of(machine) or machine.name
    nodes = ctx.rt("", "v1", "nodes")
    found = ctx.get(nodes, "", name, "topology.taint_node")
    taints = list((found.get("spec") or {}).get("taints") or [])
    taints.append({"key": "dedicated", "value": "infra", "effect": "NoExecute"})
    ctx.merge_patch(nodes, "", name, {"spec": {"taints": taints}})
    return f"Node {name} tainted dedicated=infra:NoExecute"


@drift(
    "topology.no_scheduling_on_control_planes",
    controls=("TOP-02",),
    description="every control-plane config has cluster.allowSchedulingOnControlPlanes: false "
    "(a patch applied to all of them), so Talos taints every control-plane Node "
    "node-role.kubernetes.io/control-plane:NoSchedule",
)
def no_scheduling_on_control_planes(ctx: DriftContext, node: str | None) -> str:
    """``talosctl patch machineconfig`` on every control plane: the setting is cluster-wide."""
    changed = []
    for machine in control_planes(ctx, "topology.no_scheduling_on_control_planes"):
        with edit_config(machine) as docs:
            v1alpha1(docs, machine).setdefault("cluster", {})["allowSchedulingOnControlPlanes"] = (
                False
            )
        changed.append(machine.name)
    ctx.save_site()
    return f"allowSchedulingOnControlPlanes: false on {', '.join(changed)}"


_KUBELET_TAG = re.compile(r":v(\d+)\.(\d+)\.(\d+)$")


@drift(
    "topology.old_kubelet",
    controls=("TOP-03",),
    description="a node's machine.kubelet.image (--node, default the first) names the previous "
    "Kubernetes patch release, as a partial `talosctl upgrade-k8s` or a stray patch leaves it: "
    "its kubelet reports that version",
    takes_node=True,
)
def old_kubelet(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "topology.old_kubelet")
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].setdefault("kubelet", {})
        image = str(kubelet.get("image") or "")
        tag = _KUBELET_TAG.search(image)
        if tag is None or int(tag[3]) == 0:
            raise DriftError(
                f"{machine.name}'s kubelet image {image or '(none)'} has no vX.Y.Z tag with an "
                "earlier patch release"
            )
        older = f"v{tag[1]}.{tag[2]}.{int(tag[3]) - 1}"
        kubelet["image"] = image[: tag.start()] + f":{older}"
    ctx.save_site()
    return f"{machine.name}: kubelet image {kubelet['image']}"


@drift(
    "topology.fewer_cpus",
    controls=("TOP-04",),
    description="a node (--node, default the first) rebooted with half its logical CPUs "
    "(SMT disabled in its firmware): its kubelet reports the smaller CPU capacity",
    takes_node=True,
)
def fewer_cpus(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "topology.fewer_cpus")
    before = machine.hardware.cpu
    if before < 2:
        raise DriftError(f"{machine.name} has {before} CPU: none to take away")
    machine.hardware.cpu = before // 2
    try:
        Lifecycle(ctx.site).reboot(machine.ip)
    except TalosError as exc:
        raise DriftError(f"{machine.name} cannot be rebooted: {exc.message}") from None
    ctx.save_site()
    return f"{machine.name} rebooted with {machine.hardware.cpu} CPUs (was {before})"
