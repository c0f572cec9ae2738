"""Random drift sets on one running cluster: verify sees exactly them, remediation undoes them.

Why a state machine: the drift tests show each drift alone; what they
cannot show is that drifts do not mask or imply one another, and that
remediating whatever mix is present (with every allowance) leaves a fully
passing cluster that the next injection starts from.  Hypothesis picks the
drifts and their order from a curated set of independent drifts whose fixes
are quick (object changes, one node's config, a backup); after every step the
checks of every snapshot-judged control run in-process over a fresh
observation and must report exactly the injected drifts' declared controls.

The budget is deliberately small (a few examples of a few steps on one
simulator) because every step observes the whole cluster.
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from checks import (
    api_endpoint,
    audit,
    backups,
    cilium,
    cluster_hygiene,
    disk_encryption,
    etcd,
    longhorn,
    longhorn_version,
    longhorn_volumes,
    network_policy,
    pod_security,
    seccomp,
    topology,
)
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot
from provisioning.drivers.kube import KubeDriver
from provisioning.plan_context import Timeouts
from remediation import catalogue
from remediation.execute import allowed_risks, execute
from remediation.lease import RemediationLease
from remediation.operations import ClusterOperations
from simulator.drifts import find_drift
from tests.suite import harness
from tests.suite.harness import Drift, RunningCluster

pytestmark = pytest.mark.slow

Check = Callable[[Snapshot], Sequence[Finding]]

# Every control judged from the snapshot alone (probes and definition checks left out).
CHECKS: dict[str, tuple[Check, ...]] = {
    "TOP-01": (topology.nodes_registered_and_ready,),
    "TOP-02": (topology.control_plane_nodes_schedulable,),
    "TOP-03": (topology.versions_as_declared,),
    "TOP-04": (topology.capacity_as_declared,),
    "API-01": (api_endpoint.vip_configured_on_control_planes,),
    "API-02": (api_endpoint.single_healthy_vip_holder,),
    "API-03": (functools.partial(api_endpoint.endpoint_is_vip_and_answers, max_seconds=2),),
    "API-04": (api_endpoint.kubeprism_healthy,),
    "ENC-01": tuple(
        functools.partial(disk_encryption.volume_is_luks2_with_node_key, volume=volume)
        for volume in ("STATE", "EPHEMERAL")
    ),
    "SEC-01": (seccomp.seccomp_default_on_every_node,),
    "ETCD-01": (etcd.one_member_per_control_plane_node,),
    "ETCD-02": (etcd.peer_urls_match_node_addresses,),
    "BAK-01": (backups.newest_backup_is_recent,),
    "BAK-02": (backups.newest_backup_is_encrypted,),
    "BAK-03": (backups.backups_within_retention,),
    "BAK-04": (backups.newest_backup_restores,),
    "CIL-01": (cilium.cni_and_proxy_left_to_cilium,),
    "CIL-02": (cilium.no_kube_proxy,),
    "CIL-03": (cilium.agent_ready_on_every_node,),
    "CIL-04": (cilium.running_config_as_declared,),
    "CIL-05": (cilium.operator_replicas_ready,),
    "CIL-06": (cilium.version_as_declared,),
    "NP-01": (network_policy.default_deny_in_every_namespace,),
    "LH-01": (longhorn.storage_extensions_running,),
    "LH-02": (longhorn.longhorn_path_mounted,),
    "LH-03": (longhorn.storage_nodes_schedulable,),
    "LH-04": (longhorn_volumes.replica_count_declared,),
    "LH-05": (longhorn_volumes.longhorn_sole_default_class,),
    "LH-06": (longhorn_volumes.volumes_fully_replicated,),
    "LH-07": (longhorn_version.longhorn_version_declared,),
    "PSA-01": (pod_security.baseline_enforced,),
    "PSA-02": (pod_security.exemptions_as_declared,),
    "AUD-01": (audit.policy_as_declared,),
    "HYG-05": (cluster_hygiene.hostnames_as_declared,),
    "HYG-06": (functools.partial(cluster_hygiene.kubeconfig_certificate_current, min_days=30),),
}

# Independent drifts with quick fixes (no reboot, no rebuild), each with its node.
CURATED: tuple[Drift, ...] = (
    ("cilium.deploy_kube_proxy", None),
    ("longhorn.setting_replicas_2", None),
    ("longhorn.second_default_class", None),
    ("network_policy.delete_default_deny", None),
    ("seccomp.disable_default", "node02"),
    ("backups.stop", None),
)


def findings_of(checks: Sequence[Check], snapshot: Snapshot) -> list[Finding]:
    found: list[Finding] = []
    for check in checks:
        try:
            found += check(snapshot)
        except Unobservable:
            continue  # reported as skipped, never as failed
    return found


def failing(snapshot: Snapshot) -> dict[str, list[Finding]]:
    """Control id -> findings, for every control that fails on *snapshot*."""
    found = {control: findings_of(checks, snapshot) for control, checks in CHECKS.items()}
    return {control: f for control, f in found.items() if f}


def declared(drift: Drift) -> frozenset[str]:
    return frozenset(find_drift(drift[0]).controls)


def remediate_everything(running: RunningCluster, scratch: Path) -> None:
    """Plan every failing control and apply it with every allowance, under the Lease."""
    snapshot = running.snapshot()
    registry = catalogue.loaded()
    allowed = allowed_risks(disruptive=True, destructive=True)
    ops = ClusterOperations(
        running.cluster,
        running.target,
        lambda: KubeDriver(running.target),
        scratch=scratch,
        log=lambda _line: None,
        timeouts=Timeouts(),
    )
    try:
        with RemediationLease(ops.kube, f"{getpass.getuser()}:stateful-test"):
            for control, findings in failing(snapshot).items():
                execute(registry.plan(control, findings, snapshot), ops, allowed, lambda _: None)
    finally:
        ops.close()


class DriftMachine(RuleBasedStateMachine):
    """Inject curated drifts, verify, remediate; :data:`running` is set by the test."""

    running: RunningCluster
    scratch: Path

    def __init__(self) -> None:
        super().__init__()
        self.injected: set[Drift] = set()

    @rule(drift=st.sampled_from(CURATED))
    def inject(self, drift: Drift) -> None:
        if drift in self.injected:
            return  # a drift applied twice is the same drift
        harness.apply_drifts(self.running.layout, [drift])
        self.injected.add(drift)

    @rule()
    def remediate(self) -> None:
        remediate_everything(self.running, self.scratch)
        self.injected.clear()

    @invariant()
    def verification_reports_exactly_the_injected_drifts(self) -> None:
        expected = frozenset().union(*(declared(d) for d in self.injected))
        found = failing(self.running.snapshot())
        assert set(found) == expected, {c: [str(f) for f in fs] for c, fs in found.items()}

    def teardown(self) -> None:
        # The next example starts from a passing cluster (checked by its first invariant).
        if self.injected:
            remediate_everything(self.running, self.scratch)


def test_random_drifts_are_verified_and_remediated(cluster_with: Any, tmp_path: Path) -> None:
    with cluster_with() as running:
        DriftMachine.running = running
        DriftMachine.scratch = tmp_path
        run_state_machine_as_test(
            DriftMachine,
            settings=settings(
                max_examples=3,
                stateful_step_count=3,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            ),
        )
