"""etcd drifts (ETCD-01, ETCD-02): node addresses changed behind the definition's back, a
node that left etcd, a member left behind by a decommissioned machine, a learner never promoted,
a member's NOSPACE alarm.

The node's static address changes in its config (as an ``apply-config``
with a new ``addresses`` entry would) and the machine answers there.  While
etcd keeps quorum, Talos's AdvertisedPeerController moves the member's peer
URL along (facts/talos.md correction 3), so the member no longer matches the
declared address; re-addressing a majority loses quorum and the peer URLs
stay stale.

Deviation in ``etcd.nospace_alarm``: the alarm is recorded and reported
(``talosctl etcd alarm list``), but the simulated API server keeps accepting
writes, where a real one fails them with ``mvcc: database space exceeded``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from simulator.drifts import DriftContext, DriftError, drift, edit_config, v1alpha1
from simulator.state.machines import EtcdMember, Machine
from simulator.talos import convergence, etcd_ops
from simulator.talos.errors import TalosError
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
    # A member left behind by a machine that is gone (etcd.stale_member) has no machine.
    names = sorted(m.node for m in ctx.site.etcd_members if m.node in ctx.site.machines)
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


@drift(
    "etcd.leave",
    controls=("ETCD-01",),
    description="a control-plane node (--node, default the last member) left etcd "
    "(`talosctl etcd leave`): its member is removed and its etcd stays stopped, so the "
    "cluster has one voting member fewer than control-plane nodes",
    takes_node=True,
)
def leave(ctx: DriftContext, node: str | None) -> str:
    members = _members(ctx, "etcd.leave")
    machine = ctx.machine(node, default=members[-1].name)
    member = ctx.site.member_of(machine.name)
    if member is None:
        raise DriftError(f"{machine.name} has no etcd member to leave", exit_code=2)
    try:
        etcd_ops.leave(ctx.site, machine, member.id)
    except TalosError as exc:
        raise DriftError(f"{machine.name} cannot leave etcd: {exc.message}") from None
    ctx.save_site()
    return f"{machine.name} left etcd (member {member.id:x} removed, etcd stopped)"


STALE_HOSTNAME = "k8s-node07"
STALE_ADDRESS = "10.10.20.40"


@drift(
    "etcd.stale_member",
    controls=("ETCD-01",),
    description=f"etcd keeps a member {STALE_HOSTNAME} ({STALE_ADDRESS}) for a machine that "
    "was decommissioned without `talosctl etcd leave`/`remove-member`: a member for no "
    "declared node, which counts against quorum",
)
def stale_member(ctx: DriftContext, node: str | None) -> str:
    """The member a powered-off, unplugged control plane leaves behind; it never answers."""
    _members(ctx, "etcd.stale_member")
    member = EtcdMember(
        id=convergence.new_member_id(ctx.site, STALE_HOSTNAME),
        name=STALE_HOSTNAME,
        node="decommissioned",
        peer_urls=[convergence.peer_url(STALE_ADDRESS)],
        client_urls=[convergence.client_url(STALE_ADDRESS)],
    )
    ctx.site.etcd_members.append(member)
    if not convergence.has_quorum(ctx.site):
        raise DriftError("a stale member would cost this cluster its quorum")
    ctx.save_site()
    return f"etcd member {member.id:x} {STALE_HOSTNAME} ({STALE_ADDRESS}) left behind"


def _member_on(ctx: DriftContext, node: str | None, name: str) -> tuple[Machine, EtcdMember]:
    """The control-plane *node* (default: the first member's) and its etcd member."""
    members = _members(ctx, name)
    machine = ctx.machine(node, default=members[0].name)
    member = ctx.site.member_of(machine.name)
    if member is None:
        raise DriftError(f"{machine.name} has no etcd member", exit_code=2)
    return machine, member


@drift(
    "etcd.learner",
    controls=("ETCD-01",),
    description="a control-plane node's member (--node, default the first) is a learner that "
    "was never promoted (it rejoined and its promotion failed): it votes in no quorum",
    takes_node=True,
)
def learner(ctx: DriftContext, node: str | None) -> str:
    machine, member = _member_on(ctx, node, "etcd.learner")
    member.is_learner = True
    ctx.save_site()
    return f"{machine.name}: etcd member {member.id:x} is a learner"


@drift(
    "etcd.nospace_alarm",
    controls=("ETCD-01",),
    description="a control-plane node's member (--node, default the first) raised etcd's "
    "NOSPACE alarm (its backend reached the space quota): the cluster takes reads and "
    "deletes only until space is freed and the alarm disarmed",
    takes_node=True,
)
def nospace_alarm(ctx: DriftContext, node: str | None) -> str:
    machine, member = _member_on(ctx, node, "etcd.nospace_alarm")
    member.alarms = [*[a for a in member.alarms if a != "NOSPACE"], "NOSPACE"]
    ctx.save_site()
    return f"{machine.name}: etcd member {member.id:016x} raised alarm NOSPACE"
