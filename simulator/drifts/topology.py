"""Topology drifts: a node powered off, as its power button or BMC would (TOP-01), or cordoned
(TOP-02)."""

from __future__ import annotations

from simulator.drifts import DriftContext, DriftError, drift, hostname_of
from simulator.state.machines import Stage
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
    controls=("TOP-02",),
    description="a node (--node, default the first) is cordoned (spec.unschedulable, as "
    "kubectl cordon leaves it)",
    takes_node=True,
)
def cordon(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "topology.cordon")
    name = hostname_of(machine) or machine.name
    nodes = ctx.rt("", "v1", "nodes")
    ctx.get(nodes, "", name, "topology.cordon")
    ctx.merge_patch(nodes, "", name, {"spec": {"unschedulable": True}})
    return f"Node {name} cordoned"
