"""Topology drift (TOP-01): a node powered off, as its power button or BMC would."""

from __future__ import annotations

from simulator.drifts import DriftContext, DriftError, drift
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
