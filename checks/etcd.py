"""etcd controls: one healthy voting member per control-plane node (ETCD-01), each
advertising the address its node has now (ETCD-02).

Healthy includes no active alarm (``talosctl etcd alarm list``): with NOSPACE
raised etcd serves only reads and deletes until space is freed and the alarm
disarmed (https://etcd.io/docs/v3.6/op-guide/maintenance/#space-quota), so
the Kubernetes API fails every write.  Alarms that could not be read leave
an otherwise right membership unobservable, never passed.

The member list (``talosctl etcd members``) is the only view of the whole
membership; reading it needs a quorum, so it is also the health signal.  When
the Talos API of a control-plane node answered but the member list could not
be read, etcd itself is what failed -- ETCD-01 reports that as a finding with
etcd's reason, never as a skip.  Only when no Talos API answered at all is
the control unobservable (the cause is then elsewhere, and TOP-01 says so).

ETCD-02 encodes the article's lesson 3 as Talos v1.12 really behaves (facts
correction 3): a member's peer URL is rewritten after an IP change only while
etcd has quorum, so a stale peer URL is what a re-addressed node leaves
behind when quorum was lost or the controller has not caught up.  A node's
current addresses come from its AddressStatus resources (the VIP excluded:
Talos never advertises it to etcd); for a node whose addresses were not read,
the declared inventory IP is what the member must advertise.  Without a
member list there are no peer URLs to judge, so ETCD-02 is then unobservable
(with etcd's reason) -- the quorum loss itself is ETCD-01's finding, not
counted twice.

A stale member is a :class:`MemberPeerUrlStale` naming the node, the member
and where the node was observed to answer now -- its Node's InternalIP (the
kubelet reports the node's own address), else the inventory address its
Talos API answered on -- because its remedy is a rebuild reached at that
address.  A node observed at no address (Talos did not report its
addresses, and Kubernetes knows no InternalIP for it) is a
:class:`~checks.findings.NodeUnread`: listed beside real findings, the
control unobservable when it is all there is, never a rebuild target.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, NodeFinding, NodeUnread, Unobservable, verdict
from checks.snapshot import EtcdMember, Snapshot, TalosResource, named

MEMBERS_DOC = "https://docs.siderolabs.com/talos/v1.12/build-and-extend-talos/cluster-operations-and-maintenance/etcd-maintenance"
PEER_URL_DOC = "https://github.com/siderolabs/talos/issues/9075"
ALARM_DOC = "https://etcd.io/docs/v3.6/op-guide/maintenance/#space-quota"
# What each etcd alarm type means for the cluster (etcdserverpb.AlarmType).
_ALARM_MEANS = {
    "NOSPACE": "the space quota is exceeded: etcd takes only reads and deletes until space "
    "is freed (compact, defragment) and the alarm disarmed (talosctl etcd alarm disarm)",
    "CORRUPT": "a member's data disagrees with the others': etcd refuses writes until the "
    "corrupt member is rebuilt and the alarm disarmed (talosctl etcd alarm disarm)",
}


def _talos_answered(snapshot: Snapshot) -> list[str]:
    """Control-plane nodes whose Talos API answered something in this run."""
    answered: set[str] = set(snapshot.talos_versions)
    for per_node in snapshot.talos.values():
        answered.update(per_node)  # a node present answered, even with no resources
    return [n.name for n in snapshot.definition.control_plane_nodes if n.name in answered]


def _members_or_reason(snapshot: Snapshot) -> tuple[Sequence[EtcdMember] | None, str]:
    if snapshot.etcd_members is not None and snapshot_module.ETCD_MEMBERS not in snapshot.missing:
        return snapshot.etcd_members, ""
    reason = snapshot.missing.get(
        snapshot_module.ETCD_MEMBERS, "etcd members were not collected in this run"
    )
    return None, reason


def _alarm_findings(snapshot: Snapshot, members: Sequence[EtcdMember]) -> list[Finding]:
    """One finding per active alarm: an alarmed etcd answers reads but refuses writes."""
    if snapshot.etcd_alarms is None or snapshot_module.ETCD_ALARMS in snapshot.missing:
        return []
    by_id = {m.id: m for m in members}
    findings = []
    for alarm in snapshot.etcd_alarms:
        member = by_id.get(alarm.member_id)
        target = f"etcd {_member_text(member)}" if member else f"etcd member {alarm.member_id}"
        means = _ALARM_MEANS.get(alarm.alarm, "etcd refuses writes while an alarm is active")
        findings.append(
            Finding(target, "no active etcd alarm", f"alarm {alarm.alarm}: {means}", ALARM_DOC)
        )
    return findings


def _alarms_unread(snapshot: Snapshot) -> str | None:
    """Why the alarms are unknown, or None when they were read."""
    if snapshot.etcd_alarms is not None and snapshot_module.ETCD_ALARMS not in snapshot.missing:
        return None
    return snapshot.missing.get(
        snapshot_module.ETCD_ALARMS, "etcd alarms were not collected in this run"
    )


def _member_text(member: EtcdMember) -> str:
    urls = ", ".join(member.peer_urls) or "no peer URL"
    learner = ", learner" if member.is_learner else ""
    return f"member {member.id} {member.hostname or '(unnamed)'} ({urls}{learner})"


@judged.judges(control_plane_nodes=judged.control_planes)
def one_member_per_control_plane_node(snapshot: Snapshot) -> list[Finding]:
    """etcd answers with exactly one voting member per declared control-plane node, and no
    alarm: a NOSPACE (or CORRUPT) alarm leaves etcd answering reads while it refuses every
    write, so the cluster is not healthy however right its membership is.
    """
    members, reason = _members_or_reason(snapshot)
    cp_nodes = snapshot.definition.control_plane_nodes
    if members is None:
        answered = _talos_answered(snapshot)
        if snapshot_module.ETCD_MEMBERS in snapshot.missing and answered:
            return [
                Finding(
                    "etcd cluster",
                    "the member list answers (etcd has quorum)",
                    f"etcd members could not be read: {reason} "
                    f"(the Talos API answered on {', '.join(answered)})",
                    MEMBERS_DOC,
                )
            ]
        raise Unobservable(reason)
    findings: list[Finding] = []
    expected = "one voting (non-learner) etcd member named after the node"
    for node in cp_nodes:
        target = f"{node.name} ({node.hostname})"
        own = [m for m in members if m.hostname == node.hostname]
        if not own:
            findings.append(Finding(target, expected, "no etcd member", MEMBERS_DOC))
        elif len(own) > 1:
            listed = "; ".join(_member_text(m) for m in own)
            findings.append(Finding(target, expected, f"{len(own)} members: {listed}", MEMBERS_DOC))
        elif own[0].is_learner:
            findings.append(
                Finding(target, expected, f"{_member_text(own[0])}: not promoted", MEMBERS_DOC)
            )
    declared = {n.hostname for n in cp_nodes}
    findings.extend(
        Finding(
            f"etcd {_member_text(member)}",
            f"only members for the declared control-plane nodes ({', '.join(sorted(declared))})",
            "a member for no declared control-plane node",
            MEMBERS_DOC,
        )
        for member in members
        if member.hostname not in declared
    )
    findings += _alarm_findings(snapshot, members)
    unread = _alarms_unread(snapshot)
    if unread is not None and not findings:
        # The membership is right, but an alarm (read-only etcd) could not be ruled out.
        raise Unobservable(f"etcd alarms could not be read: {unread}")
    return findings


def _address(resource: TalosResource) -> str | None:
    spec = resource.get("spec") or {}
    text = str(spec.get("address") or spec.get("local") or "")
    host = text.split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _current_addresses(snapshot: Snapshot) -> Mapping[str, set[str]]:
    """Inventory node name -> its addresses now (VIP excluded); absent when not read."""
    try:
        per_node = snapshot.resources(snapshot_module.ADDRESS_STATUS)
    except Unobservable:
        return {}
    vip = str(snapshot.definition.control_plane.vip)
    current: dict[str, set[str]] = {}
    for name, resources in per_node.items():
        found = {a for a in (_address(r) for r in resources) if a is not None and a != vip}
        if found:
            current[name] = found
    return current


def _peer_host(url: str) -> str | None:
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None
    if host is None:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class MemberPeerUrlStale(NodeFinding):
    """The etcd member *member_id* of *node* advertises a peer URL off the node's address.

    *answers_at* is where the node was observed to answer now, the address a
    rebuild reaches it at.
    """

    member_id: str = ""
    answers_at: str = ""


def _internal_ip(snapshot: Snapshot, hostname: str) -> str:
    """The InternalIP the kubelet reports for its Node, or "" when none was read."""
    try:
        found = named(snapshot.objects(snapshot_module.NODES), hostname)
    except Unobservable:
        return ""
    for address in (found.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return ""


@judged.judges(control_plane_nodes=judged.control_planes)
def peer_urls_match_node_addresses(snapshot: Snapshot) -> list[Finding]:
    """Every member's peer URLs point at an address its node has now."""
    members, reason = _members_or_reason(snapshot)
    if members is None:
        raise Unobservable(f"etcd members could not be read, so neither their peer URLs: {reason}")
    current = _current_addresses(snapshot)
    unread = snapshot.unread_nodes(snapshot_module.ADDRESS_STATUS)
    findings: list[Finding] = []
    silent: list[Finding] = []
    declared = {n.hostname for n in snapshot.definition.control_plane_nodes}
    if not any(m.hostname in declared for m in members):
        # No member of a declared node: no peer URL was judged (ETCD-01 reports the members).
        raise Unobservable(
            "etcd lists no member named after a declared control-plane node, so no peer URL "
            f"could be judged ({len(members)} member(s) listed)"
        )
    for node in snapshot.definition.control_plane_nodes:
        if node.name in current:
            allowed = current[node.name]
            expected = f"peer URLs on the node's current address ({', '.join(sorted(allowed))})"
        else:
            allowed = {str(node.ip)}
            why = unread.get(node.name, "not read")
            expected = (
                f"peer URLs on the declared address {node.ip} "
                f"(the node's current addresses are unknown: {why})"
            )
        answers_at = _internal_ip(snapshot, node.hostname) or (
            str(node.ip) if node.name in current else ""
        )
        for member in (m for m in members if m.hostname == node.hostname):
            hosts = [_peer_host(url) for url in member.peer_urls]
            if hosts and all(h in allowed for h in hosts):
                continue
            target = f"{node.name} ({node.hostname}) etcd member {member.id}"
            observed = f"peer URLs {', '.join(member.peer_urls) or 'none'}"
            if not answers_at:
                silent.append(
                    NodeUnread(
                        target,
                        expected,
                        f"{observed}; the node was observed at no address (Talos did not "
                        "report its addresses, Kubernetes knows no InternalIP for it)",
                        PEER_URL_DOC,
                        node=node.name,
                    )
                )
                continue
            findings.append(
                MemberPeerUrlStale(
                    target,
                    expected,
                    observed,
                    PEER_URL_DOC,
                    node=node.name,
                    member_id=member.id,
                    answers_at=answers_at,
                )
            )
    if findings:
        return findings + silent
    return verdict(findings, [f"{f.target}: {f.observed}" for f in silent])
