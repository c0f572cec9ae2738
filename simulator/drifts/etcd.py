"""etcd drifts (ETCD-01, ETCD-02): node addresses changed behind the definition's back.

The node's static address changes in its config (as an ``apply-config``
with a new ``addresses`` entry would) and the machine answers there.  While
etcd keeps quorum, Talos's AdvertisedPeerController moves the member's peer
URL along (facts/talos.md correction 3), so the member no longer matches the
declared address; re-addressing a majority loses quorum and the peer URLs
stay stale.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from simulator.drifts import DriftContext, DriftError, drift, edit_config, v1alpha1
from simulator.state.machines import Machine
from simulator.talos.lifecycle import Lifecycle

SHIFT = 100  # new host number = old + SHIFT, skipping addresses in use


def _new_address(ctx: DriftContext, old: str) -> str:
    used = {m.ip for m in ctx.site.machines.values()}
    candidate = ipaddress.ip_address(old) + SHIFT
    while str(candidate) in used:
        candidate += 1
    return str(candidate)


def _readdress_config(machine: Machine, old: str, new: str) -> None:
    with edit_config(machine) as docs:
        network = v1alpha1(docs, machine)["machine"].get("network") or {}
        for iface in network.get("interfaces") or []:
            addresses: list[Any] = iface.get("addresses") or []
            iface["addresses"] = [
                f"{new}/{a.split('/', 1)[1]}" if str(a).split("/")[0] == old else a
                for a in addresses
            ]


def _readdress(ctx: DriftContext, machines: list[Machine]) -> str:
    moves: dict[str, str] = {}
    for machine in machines:
        old = machine.ip
        new = _new_address(ctx, old)
        _readdress_config(machine, old, new)
        moves[machine.name] = new
        machine.ip = new  # reserve it, so the next machine gets another address
    Lifecycle(ctx.site).readdress(moves)
    ctx.save_site()
    return "; ".join(f"{name} now at {ip}" for name, ip in moves.items())


def _members(ctx: DriftContext, drift_name: str) -> list[Machine]:
    ctx.require_provisioned(drift_name)
    names = sorted(m.node for m in ctx.site.etcd_members)
    if not names:
        raise DriftError(f"drift {drift_name} needs etcd members, but the cluster has none")
    return [ctx.site.machines[n] for n in names]


@drift(
    "etcd.readdress_node",
    controls=("ETCD-02",),
    description="an etcd member node (--node, default the first) gets an address the "
    "definition does not declare; with quorum its peer URL follows it (facts correction 3)",
    takes_node=True,
)
def readdress_node(ctx: DriftContext, node: str | None) -> str:
    members = _members(ctx, "etcd.readdress_node")
    machine = ctx.machine(node, default=members[0].name)
    if machine not in members:
        raise DriftError(f"{machine.name} is not an etcd member", exit_code=2)
    return _readdress(ctx, [machine])


@drift(
    "etcd.readdress_majority",
    controls=("ETCD-01", "ETCD-02"),
    description="a majority of etcd member nodes get new addresses, peer URLs unchanged "
    "(quorum lost)",
)
def readdress_majority(ctx: DriftContext, node: str | None) -> str:
    members = _members(ctx, "etcd.readdress_majority")
    return _readdress(ctx, members[: len(members) // 2 + 1])
