"""Steps for features/etcd.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import etcd
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("etcd.feature")


@then("etcd lists exactly one voting member for each declared control-plane node")
def then_etcd_one_voting_member_per_control_plane_node(snapshot: Snapshot, verify: Verify) -> None:
    verify(etcd.one_member_per_control_plane_node, snapshot)


@then("every etcd member's peer URLs point at its node's current address")
def then_etcd_peer_urls_point_at_current_addresses(snapshot: Snapshot, verify: Verify) -> None:
    verify(etcd.peer_urls_match_node_addresses, snapshot)
