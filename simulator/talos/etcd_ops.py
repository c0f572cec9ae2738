"""The etcd side of talosctl's Machine API: bootstrap, member list, leave, remove, snapshot.

Each function applies one etcd operation to the simulated :class:`Site` with
the checks, order and messages of Talos v1.12.5 (``v1alpha1_server.go``;
facts §4, §7) and etcd's own error texts where Talos passes them
through: it raises :class:`~simulator.talos.errors.TalosError` or changes the
etcd membership.  :class:`~simulator.talos.lifecycle.Lifecycle` resolves the
node (reachability, maintenance mode, control-plane only) before calling in and
converges the controllers' view afterwards, so these functions only hold what
is specific to etcd -- quorum, membership and the data directory -- and can be
read as the etcd rules in one place.  The upgrade's etcd health gate is here
for the same reason.

Deviation: the single-member leave failure uses etcd's text for removing the
last voting member (facts open question 2).
"""

from __future__ import annotations

from typing import Any

from simulator.state.machines import Machine, Site, Stage
from simulator.talos import convergence
from simulator.talos.errors import TalosError

# (member id, name, peer URLs, client URLs, is learner): one row of MemberList.
MemberRow = tuple[int, str, list[str], list[str], bool]


def bootstrap(site: Site, machine: Machine) -> None:
    """Bootstrap etcd on *machine*: the first member of a fresh cluster."""
    view = convergence.view_of(machine)
    if machine.stage is not Stage.RUNNING:
        raise TalosError("FailedPrecondition", "bootstrap is not available yet")
    if view is None or not view.is_control_plane:
        raise TalosError(
            "FailedPrecondition", "bootstrap can only be performed on a control plane node"
        )
    if site.bootstrapped or machine.etcd_data:
        raise TalosError("AlreadyExists", "etcd data directory is not empty")
    site.bootstrapped = True
    site.etcd_members = []
    convergence.add_member(site, machine, convergence.hostname_of(machine, view))


def members(site: Site, machine: Machine) -> list[MemberRow]:
    """MemberList through *machine*'s etcd: it must run, and the cluster have quorum."""
    member = site.member_of(machine.name)
    if member is None or not convergence.is_reachable(site, member):
        raise TalosError("Unknown", "failed to create etcd client: etcd is not running")
    if not convergence.has_quorum(site):
        raise TalosError("Unknown", "context deadline exceeded")
    return [
        (m.id, m.name, list(m.peer_urls), list(m.client_urls), m.is_learner)
        for m in site.etcd_members
    ]


def alarms(site: Site, machine: Machine) -> list[tuple[int, str]]:
    """AlarmList through *machine*'s etcd: (member ID, alarm) of every member's active alarm.

    The alarms are replicated state, so any member answers for all; the
    request goes through raft, hence the same preconditions as the member list.
    """
    members(site, machine)
    return [(m.id, alarm) for m in site.etcd_members for alarm in m.alarms]


def disarm(site: Site, machine: Machine) -> list[tuple[int, str]]:
    """Deactivate every alarm (``etcd alarm disarm``); the ones disarmed, as AlarmList said."""
    active = alarms(site, machine)
    for member in site.etcd_members:
        member.alarms = []
    return active


ETCD_API_VERSION = "3.6.0"  # etcd v3.6.x reports this protocol and storage version
_PAGE = 4096


def status(site: Site, machine: Machine) -> dict[str, Any]:
    """The local member's ``Status`` (maintenance API): sizes, raft progress, leader.

    Sizes and raft numbers are synthetic but move with the cluster (every
    machine change is a raft entry); without quorum there is no leader (0)
    and etcd reports ``etcdserver: no leader``.
    """
    member = site.member_of(machine.name)
    if member is None or not convergence.is_reachable(site, member):
        raise TalosError("Unknown", "failed to create etcd client: etcd is not running")
    quorum = convergence.has_quorum(site)
    leader = next(
        (
            m.id
            for m in site.etcd_members
            if quorum and not m.is_learner and convergence.is_reachable(site, m)
        ),
        0,
    )
    applied = 100 + sum(m.generation for m in site.machines.values())
    size = _PAGE * (1024 + applied)
    return {
        "member_id": member.id,
        "db_size": size,
        "db_size_in_use": (size * 3 // 5) // _PAGE * _PAGE,
        "leader": leader,
        "raft_index": applied + 1,
        "raft_term": 1 + site.member_counter,
        "raft_applied_index": applied,
        "learner": member.is_learner,
        "protocol": ETCD_API_VERSION,
        "storage": ETCD_API_VERSION,
        "errors": [] if quorum else ["etcdserver: no leader"],
    }


def leave(site: Site, machine: Machine, member_id: int) -> None:
    """*machine* removes its own member and stops etcd (``etcd leave``, graceful reset)."""
    if len(site.etcd_members) == 1:
        raise TalosError(
            "Unknown",
            f"failed to leave cluster: failed to remove member {member_id}: "
            "etcdserver: re-configuration failed due to not enough started members",
        )
    if not convergence.has_quorum(site):
        raise TalosError(
            "Unknown",
            f"failed to leave cluster: failed to remove member {member_id}: "
            "etcdserver: unhealthy cluster",
        )
    site.etcd_members = [m for m in site.etcd_members if m.id != member_id]
    machine.etcd_stopped = True
    machine.etcd_data = False


def remove_member(site: Site, member_id: int) -> None:
    """Remove another node's member; its data directory no longer belongs to the cluster."""
    member = next((m for m in site.etcd_members if m.id == member_id), None)
    if member is None:
        raise TalosError(
            "NotFound", f"failed to remove member {member_id}: etcdserver: member not found"
        )
    if not convergence.has_quorum(site):
        raise TalosError(
            "Unknown",
            f"failed to remove member: failed to remove member {member_id}: "
            "etcdserver: unhealthy cluster",
        )
    site.etcd_members.remove(member)
    removed = site.machines.get(member.node)
    if removed is not None:
        removed.etcd_data = False


def check_snapshot(site: Site, machine: Machine) -> None:
    """A snapshot needs a local member and quorum; otherwise the stream times out."""
    member = site.member_of(machine.name)
    if member is None or not convergence.has_quorum(site):
        raise TalosError("Unknown", "failed reading etcd snapshot: context deadline exceeded")


def check_upgrade(site: Site) -> None:
    """The etcd gate of a non-forced control-plane upgrade: quorum survives, all healthy."""
    if not site.etcd_members:
        return
    if len(site.etcd_members) == 2:
        raise TalosError(
            "Unknown",
            "error validating etcd for upgrade: etcd member count(2) is insufficient "
            "to maintain quorum if upgrade commences",
        )
    for member in site.etcd_members:
        if not convergence.is_reachable(site, member):
            raise TalosError(
                "Unknown",
                f"error validating etcd for upgrade: etcd member {member.id:016x} is not "
                "healthy; all members must be healthy to perform an upgrade: "
                "context deadline exceeded",
            )
