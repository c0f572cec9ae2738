"""ETCD-01 and ETCD-02 over hand-built snapshots of the reference cluster's etcd.

The member rows are those ``talosctl etcd members`` prints for the shipped
definition (member name = hostname, peer URL on the node IP); addresses are
AddressStatus resources as Talos reports them, the VIP on one node.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from checks import etcd
from checks import snapshot as snap
from checks.findings import Unobservable
from checks.snapshot import EtcdMember, Snapshot
from provisioning.definition import inventory


def member(node: inventory.Node, ip: str | None = None, learner: bool = False) -> EtcdMember:
    host = ip or str(node.ip)
    return EtcdMember(
        id=node.name.encode().hex().rjust(16, "0"),
        hostname=node.hostname,
        peer_urls=(f"https://{host}:2380",),
        client_urls=(f"https://{host}:2379",),
        is_learner=learner,
    )


def address(node_ip: str, cidr: str) -> dict[str, Any]:
    return {
        "node": node_ip,
        "metadata": {"namespace": "network", "id": f"enp1s0/{cidr}"},
        "spec": {"address": cidr, "linkName": "enp1s0", "local": cidr.split("/")[0]},
    }


def addresses(cluster: inventory.Cluster) -> dict[str, list[dict[str, Any]]]:
    found = {n.name: [address(str(n.ip), f"{n.ip}/24")] for n in cluster.nodes}
    first = cluster.nodes[0]
    found[first.name].append(address(str(first.ip), f"{cluster.control_plane.vip}/32"))
    return found


def snapshot_of(cluster: inventory.Cluster, **kw: Any) -> Snapshot:
    base: dict[str, Any] = {
        "etcd_members": [member(n) for n in cluster.control_plane_nodes],
        "etcd_alarms": [],
        "talos": {snap.ADDRESS_STATUS: addresses(cluster)},
        "talos_versions": {n.name: "v1.12.5" for n in cluster.nodes},
    }
    base.update(kw)
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 3, 1, tzinfo=UTC),
        **base,
    )


def test_clean_cluster_holds(cluster: inventory.Cluster) -> None:
    clean = snapshot_of(cluster)
    assert etcd.one_member_per_control_plane_node(clean) == []
    assert etcd.peer_urls_match_node_addresses(clean) == []


def test_missing_learner_duplicate_and_foreign_members(cluster: inventory.Cluster) -> None:
    nodes = cluster.control_plane_nodes
    members = [member(n) for n in nodes[2:]]  # node01 and node02 have none...
    members[0] = member(nodes[2], learner=True)  # ...node03 is still a learner...
    members.append(member(nodes[3], ip="10.10.20.99"))  # ...node04 has two...
    stranger = dataclasses.replace(member(nodes[4]), hostname="old-node", id="00000000000000ff")
    members.append(stranger)  # ...and a member belongs to no declared node.
    found = etcd.one_member_per_control_plane_node(snapshot_of(cluster, etcd_members=members))
    by_target = {f.target: f.observed for f in found}
    assert by_target["node01 (k8s-node01)"] == "no etcd member"
    assert by_target["node02 (k8s-node02)"] == "no etcd member"
    assert by_target["node03 (k8s-node03)"].endswith("learner): not promoted")
    assert by_target["node04 (k8s-node04)"].startswith("2 members: ")
    [foreign] = [f for f in found if f.target.startswith("etcd member 00000000000000ff")]
    assert "old-node" in foreign.target
    assert "k8s-node01" in foreign.expected
    assert len(found) == 5


def test_unreadable_members_fail_when_the_talos_api_answered(cluster: inventory.Cluster) -> None:
    quorum_lost = snapshot_of(
        cluster,
        etcd_members=None,
        talos_versions={"node05": "v1.12.5", "node06": "v1.12.5"},
        missing={snap.ETCD_MEMBERS: "error getting members: context deadline exceeded"},
    )
    [finding] = etcd.one_member_per_control_plane_node(quorum_lost)
    assert finding.target == "etcd cluster"
    assert finding.observed.startswith(
        "etcd members could not be read: error getting members: context deadline exceeded"
    )
    assert "node05, node06" in finding.observed
    # Without a member list no peer URL can be judged: ETCD-02 skips, not fails twice.
    with pytest.raises(Unobservable, match="context deadline exceeded"):
        etcd.peer_urls_match_node_addresses(quorum_lost)


def test_unreadable_members_without_any_talos_answer_are_unobservable(
    cluster: inventory.Cluster,
) -> None:
    silent = snapshot_of(
        cluster,
        etcd_members=None,
        talos={},
        talos_versions={},
        missing={snap.ETCD_MEMBERS: "connection refused"},
    )
    with pytest.raises(Unobservable, match="connection refused"):
        etcd.one_member_per_control_plane_node(silent)
    never_read = snapshot_of(cluster, etcd_members=None)
    with pytest.raises(Unobservable, match="not collected"):
        etcd.one_member_per_control_plane_node(never_read)


def test_stale_peer_url_after_readdress(cluster: inventory.Cluster) -> None:
    nodes = cluster.control_plane_nodes
    per_node = addresses(cluster)
    # node02 now answers on .117 (its AddressStatus says so) but etcd kept .17.
    per_node["node02"] = [address(str(nodes[1].ip), "10.10.20.117/24")]
    found = etcd.peer_urls_match_node_addresses(
        snapshot_of(cluster, talos={snap.ADDRESS_STATUS: per_node})
    )
    [finding] = found
    assert finding.target.startswith("node02 (k8s-node02) etcd member ")
    assert finding.observed == "peer URLs https://10.10.20.17:2380"
    assert "current address (10.10.20.117)" in finding.expected


def kube_node(node: inventory.Node, ip: str) -> dict[str, Any]:
    return {
        "metadata": {"name": node.hostname},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


def test_unobserved_node_falls_back_to_the_declared_address(cluster: inventory.Cluster) -> None:
    nodes = cluster.control_plane_nodes
    per_node = addresses(cluster)
    del per_node["node01"]  # node01 no longer answers on its declared address
    why = {snap.on_node(snap.ADDRESS_STATUS, "node01"): "no answer from 10.10.20.16"}
    members = [member(nodes[0], ip="10.10.20.116")] + [member(n) for n in nodes[1:]]
    # Kubernetes still sees node01: its kubelet reports the address it moved to.
    kube = {snap.NODES.key: [kube_node(nodes[0], "10.10.20.116")]}
    found = etcd.peer_urls_match_node_addresses(
        snapshot_of(
            cluster,
            etcd_members=members,
            talos={snap.ADDRESS_STATUS: per_node},
            missing=why,
            kube=kube,
        )
    )
    [finding] = found
    assert isinstance(finding, etcd.MemberPeerUrlStale)
    assert (finding.node, finding.member_id) == ("node01", members[0].id)
    assert finding.answers_at == "10.10.20.116"
    assert finding.target.startswith("node01 (k8s-node01)")
    assert finding.expected == (
        "peer URLs on the declared address 10.10.20.16 "
        "(the node's current addresses are unknown: no answer from 10.10.20.16)"
    )
    assert finding.observed == "peer URLs https://10.10.20.116:2380"
    # With no address statuses at all every node is judged against the inventory.
    everywhere = snapshot_of(cluster, etcd_members=members, talos={}, kube=kube)
    assert [f.target for f in etcd.peer_urls_match_node_addresses(everywhere)] == [finding.target]


def test_a_node_observed_at_no_address_is_unobservable_never_stale(
    cluster: inventory.Cluster,
) -> None:
    nodes = cluster.control_plane_nodes
    per_node = addresses(cluster)
    del per_node["node01"]
    members = [member(nodes[0], ip="10.10.20.116")] + [member(n) for n in nodes[1:]]
    nowhere = snapshot_of(cluster, etcd_members=members, talos={snap.ADDRESS_STATUS: per_node})
    with pytest.raises(Unobservable, match=r"node01 .* observed at no address"):
        etcd.peer_urls_match_node_addresses(nowhere)
    # Beside a stale member of a node seen somewhere it is listed, as unread, not as stale.
    per_node["node02"] = [address(str(nodes[1].ip), "10.10.20.117/24")]
    both = etcd.peer_urls_match_node_addresses(
        snapshot_of(cluster, etcd_members=members, talos={snap.ADDRESS_STATUS: per_node})
    )
    assert [(type(f).__name__, getattr(f, "node", None)) for f in both] == [
        ("MemberPeerUrlStale", "node02"),
        ("NodeUnread", "node01"),
    ]
    [stale] = [f for f in both if isinstance(f, etcd.MemberPeerUrlStale)]
    assert stale.answers_at == str(nodes[1].ip)  # Talos answered there; no Node was read


def test_vip_is_never_a_valid_peer_address(cluster: inventory.Cluster) -> None:
    nodes = cluster.control_plane_nodes
    vip = str(cluster.control_plane.vip)
    members = [member(nodes[0], ip=vip)] + [member(n) for n in nodes[1:]]
    found = etcd.peer_urls_match_node_addresses(snapshot_of(cluster, etcd_members=members))
    assert [f.observed for f in found] == [f"peer URLs https://{vip}:2380"]


def test_peer_urls_judged_over_no_declared_member_are_unobservable(
    cluster: inventory.Cluster,
) -> None:
    stranger = dataclasses.replace(member(cluster.nodes[0]), hostname="old-node")
    for members in ([], [stranger]):
        with pytest.raises(Unobservable, match="no member named after a declared control-plane"):
            etcd.peer_urls_match_node_addresses(snapshot_of(cluster, etcd_members=members))


def test_an_alarm_fails_a_right_membership_naming_member_and_alarm(
    cluster: inventory.Cluster,
) -> None:
    alarmed = member(cluster.control_plane_nodes[1])
    alarms = [snap.EtcdAlarm(alarmed.id, "NOSPACE")]
    [found] = etcd.one_member_per_control_plane_node(snapshot_of(cluster, etcd_alarms=alarms))
    assert alarmed.hostname in found.target
    assert alarmed.id in found.target
    assert found.observed.startswith("alarm NOSPACE: the space quota is exceeded")
    assert found.expected == "no active etcd alarm"


def test_unread_alarms_leave_a_right_membership_unobservable(cluster: inventory.Cluster) -> None:
    why = {snap.ETCD_ALARMS: "node01 (10.10.20.16): connection refused"}
    with pytest.raises(Unobservable, match="etcd alarms could not be read: node01"):
        etcd.one_member_per_control_plane_node(snapshot_of(cluster, etcd_alarms=None, missing=why))
    with pytest.raises(Unobservable, match="not collected"):
        etcd.one_member_per_control_plane_node(snapshot_of(cluster, etcd_alarms=None))
    # A wrong membership is a failure whether or not the alarms were read.
    short = [member(n) for n in cluster.control_plane_nodes[1:]]
    found = etcd.one_member_per_control_plane_node(
        snapshot_of(cluster, etcd_members=short, etcd_alarms=None)
    )
    assert [f.observed for f in found] == ["no etcd member"]
