"""Steps for features/topology.feature (area phrases only)."""

from __future__ import annotations

from pytest_bdd import scenarios, then

from checks import topology
from checks.snapshot import Snapshot
from fixtures.verify import Verify

scenarios("topology.feature")


@then("every declared node is a registered Kubernetes node that is Ready")
def then_every_declared_node_registered_and_ready(snapshot: Snapshot, verify: Verify) -> None:
    verify(topology.nodes_registered_and_ready, snapshot)


@then("every declared control-plane node has the control-plane role and accepts workloads")
def then_control_plane_nodes_accept_workloads(snapshot: Snapshot, verify: Verify) -> None:
    verify(topology.control_plane_nodes_schedulable, snapshot)


@then("every node runs the declared Talos and Kubernetes versions")
def then_every_node_runs_declared_versions(snapshot: Snapshot, verify: Verify) -> None:
    verify(topology.versions_as_declared, snapshot)


@then("every node's CPU and memory capacity matches the inventory")
def then_node_capacity_matches_inventory(snapshot: Snapshot, verify: Verify) -> None:
    verify(topology.capacity_as_declared, snapshot)
