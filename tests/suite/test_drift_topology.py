"""Topology drifts end to end: a node powered off is reported by TOP-01, and only there.

The drift is injected into a copy of the provisioned simulated cluster; the
cluster is observed through the real collector and the topology checks are
judged on it, then the suite's topology, API-endpoint and config-hygiene
steps run against it once: TOP-01 fails naming the node, nothing else in
those areas fails (what cannot be read from the silent node is skipped, and
the VIP fails over to another control-plane node).  The clean cluster passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from checks import api_endpoint, longhorn, topology
from checks.findings import Finding
from checks.snapshot import Snapshot
from tests.suite.harness import judged

pytestmark = pytest.mark.slow

CHECKS: dict[str, Callable[[Snapshot], Sequence[Finding]]] = {
    "TOP-01": topology.nodes_registered_and_ready,
    "TOP-02": topology.control_plane_nodes_schedulable,
    "TOP-03": topology.versions_as_declared,
    "TOP-04": topology.capacity_as_declared,
}
AREA_STEPS = (
    "steps/test_topology.py",
    "steps/test_api_endpoint.py",
    "steps/test_config_hygiene.py",
)


def test_clean_cluster_passes_every_topology_check(clean_snapshot: Snapshot) -> None:
    assert {control: judged(check, clean_snapshot) for control, check in CHECKS.items()} == {
        control: [] for control in CHECKS
    }


def test_powered_off_node_fails_only_top01_naming_it(cluster_with: Any) -> None:
    with cluster_with(("topology.power_off", "node01")) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        vip = judged(api_endpoint.single_healthy_vip_holder, state)
        run = running.run_suite(*AREA_STEPS)

    (finding,) = found["TOP-01"]
    assert finding.target == "node01 (k8s-node01)"
    assert finding.observed.startswith("Ready=Unknown")
    # The Node object keeps its labels and capacity; its Talos version is not readable.
    assert found["TOP-02"] == []
    assert found["TOP-04"] == []
    assert found["TOP-03"] == "unobservable"
    # Talos moved the VIP to a running control-plane node, but whether the powered-off
    # node holds it too was not read: not verified, never a pass (issue #14).
    assert vip == "unobservable"

    assert run.returncode == 1, run.output
    failed = run.failed
    assert failed == ["TOP-01"], run.output
    assert "node01 (k8s-node01)" in run.messages["TOP-01"]
    assert run.outcomes["TOP-03"] == "skipped"
    assert "node01" in run.messages["TOP-03"]


def test_cordoned_node_fails_top02_and_longhorn_scheduling_naming_it(cluster_with: Any) -> None:
    with cluster_with(("topology.cordon", "node05")) as running:
        state = running.snapshot()
        run = running.run_suite(*AREA_STEPS, "steps/test_longhorn.py")
    findings = topology.control_plane_nodes_schedulable(state)
    assert [(f.target, f.observed) for f in findings] == [
        ("node05 (k8s-node05)", "cordoned (spec.unschedulable)")
    ]
    assert topology.nodes_registered_and_ready(state) == []
    # Longhorn's disable-scheduling-on-cordoned-node (default true) takes node05 out too.
    assert [f.target for f in longhorn.storage_nodes_schedulable(state)] == ["node05 (k8s-node05)"]
    assert run.failed == ["LH-03", "TOP-02"], run.output
    assert "node05 (k8s-node05)" in run.messages["TOP-02"]
    assert "node05 (k8s-node05)" in run.messages["LH-03"]


def _judged_and_run(cluster_with: Any, drift: str, node: str) -> tuple[dict[str, Any], Any]:
    with cluster_with((drift, node)) as running:
        state = running.snapshot()
        found = {control: judged(check, state) for control, check in CHECKS.items()}
        run = running.run_suite(*AREA_STEPS)
    return found, run


def test_node_on_older_talos_fails_top03_naming_it(cluster_with: Any) -> None:
    found, run = _judged_and_run(cluster_with, "topology.old_talos", "node04")
    assert [(f.target, f.expected, f.observed) for f in found["TOP-03"]] == [
        ("node04 (k8s-node04)", "Talos v1.12.5", "v1.12.4")
    ]
    assert {c: f for c, f in found.items() if c != "TOP-03"} == {
        c: [] for c in CHECKS if c != "TOP-03"
    }
    assert run.returncode == 1, run.output
    assert run.failed == ["TOP-03"], run.output
    assert "node04 (k8s-node04)" in run.messages["TOP-03"]
    assert "v1.12.4" in run.messages["TOP-03"]


def test_node_back_with_less_memory_fails_top04_naming_it(cluster_with: Any) -> None:
    found, run = _judged_and_run(cluster_with, "topology.failed_dimm", "node03")
    assert [(f.target, f.expected, f.observed) for f in found["TOP-04"]] == [
        (
            "node03 (k8s-node03)",
            "16 GiB of memory (kubelet: 90-100 % of it)",
            "8.00 GiB (8388608Ki)",
        )
    ]
    # It came back: registered, Ready, schedulable, on the declared versions.
    assert {c: f for c, f in found.items() if c != "TOP-04"} == {
        c: [] for c in CHECKS if c != "TOP-04"
    }
    assert run.returncode == 1, run.output
    assert run.failed == ["TOP-04"], run.output
    assert "node03 (k8s-node03)" in run.messages["TOP-04"]
    assert "8.00 GiB" in run.messages["TOP-04"]
