"""Every remediable drift end to end on the simulator: detected, planned, refused, fixed, quiet.

Why whole suite runs: the promise of ``--remediate`` is about the command an
operator types, so each group of drifts goes through ``pytest steps/...`` as
a subprocess against one running copy of the cluster:

1. ``--remediate=plan``: each drifted control fails, its message lists the
   action with its class and exact change, and the cluster is unchanged (the
   in-process checks still see the same failing controls);
2. for disruptive or destructive fixes, ``--remediate`` alone fails naming the
   switch that would allow it, and changes nothing;
3. ``--remediate`` with the needed allowance: each drifted control passes and
   is recorded as remediated;
4. a second run finds nothing to do: every control of those areas passes.

Drifts are grouped on one copy where their fixes do not interact (a copy's
start and each suite run cost seconds).  Drifts no action can fix fail with
a manual plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.suite.harness import Drift, RunningCluster, SuiteRun
from tests.suite.test_remediate_stateful import CHECKS, failing

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Group:
    """Drifts applied together, the step modules judging them, what each plan must say."""

    drifts: tuple[Drift, ...]
    areas: tuple[str, ...]
    actions: Mapping[str, Sequence[str]]  # control -> texts its plan must contain
    allowances: tuple[str, ...] = ()  # beyond --remediate
    # Controls an earlier control's fix repairs too (the scenario passes without its own).
    fixed_in_passing: frozenset[str] = frozenset()
    # Controls only a suite run's probe sees failing (the in-process checks judge no probe).
    probed: frozenset[str] = frozenset()

    @property
    def steps(self) -> list[str]:
        return [f"steps/test_{area}.py" for area in self.areas]


SAFE = Group(
    drifts=(
        ("cilium.deploy_kube_proxy", None),
        ("longhorn.setting_replicas_2", None),
        ("longhorn.storageclass_replicas_2", None),
        ("longhorn.second_default_class", None),
        ("network_policy.delete_default_deny", None),
        ("pod_security.drop_exemption", None),
        ("seccomp.disable_default", "node02"),
        ("audit.reorder_rules", None),
        ("backups.stop", None),
        ("backups.age", None),
    ),
    # Order matters: AUD-01 re-applies every node's rendered config, which also restores
    # the PodSecurity exemptions (PSA-02) and the audit behaviour (AUD-02) run after it.
    areas=(
        "cilium",
        "longhorn",
        "network_policy",
        "seccomp",
        "audit",
        "pod_security",
        "backups",
    ),
    actions={
        "CIL-02": [
            "[safe] DaemonSet kube-system/kube-proxy",
            "delete daemonsets kube-system/kube-proxy",
        ],
        "LH-04": [
            "[safe] Setting default-replica-count",
            "[safe] ConfigMap longhorn-system/longhorn-storageclass",
        ],
        "LH-05": ["[safe] StorageClass/local-path", "is-default-class"],
        "NP-01": ["[safe] namespace default", "create CiliumNetworkPolicy default/default-deny"],
        "PSA-02": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
        "SEC-01": ["[safe] node02 (k8s-node02)", "apply-config --nodes <node02> --mode no-reboot"],
        "AUD-01": ["[safe] node01 (k8s-node01)", "apply-config --nodes <node01> --mode no-reboot"],
        # The audit probe's plan comes from the observed cluster, like AUD-01's.
        "AUD-02": ["[safe] node06 (k8s-node06)", "apply-config --nodes <node06> --mode no-reboot"],
        "BAK-01": ["[safe] backups in", "take one now"],
        "BAK-03": ["[safe] backups in", "remove those older than"],
        # Two default classes: the probe's claim may land on local-path (LH-05's fix).
        "LH-06": ["conformance-volume-probe-", "[manual]"],
    },
    fixed_in_passing=frozenset({"AUD-02", "PSA-02", "LH-06"}),
    probed=frozenset({"LH-06"}),
)

# Safe fixes of single objects and nodes whose drifts have no group above.
SAFE_SINGLES = Group(
    drifts=(
        ("api_endpoint.drop_vip", "node03"),
        ("topology.cordon", "node05"),
        ("longhorn.remove_default_annotation", None),
    ),
    areas=("api_endpoint", "topology", "longhorn"),
    actions={
        "API-01": ["[safe] node03 (k8s-node03)", "apply-config --nodes <node03> --mode no-reboot"],
        "TOP-02": ["[safe] Node k8s-node05", "uncordon"],
        "LH-05": ["[safe] StorageClass/longhorn", "is-default-class"],
        # Longhorn does not schedule on a cordoned node; uncordoning it (TOP-02) is the fix.
        "LH-03": ["storage_nodes_schedulable", "[manual]"],
        # LH-06's probe claim lands on the default class: with none, no Longhorn volume comes
        # of it; restoring the default (LH-05) is the fix.
        "LH-06": ["conformance-volume-probe-", "[manual]"],
    },
    fixed_in_passing=frozenset({"LH-03", "LH-06"}),
    probed=frozenset({"LH-06"}),
)

KUBECONFIG = Group(
    drifts=(("config_hygiene.expire_kubeconfig", None),),
    areas=("config_hygiene",),
    actions={"HYG-06": ["[safe] kubeconfig", "talosctl kubeconfig --force"]},
)

DISRUPTIVE = Group(
    drifts=(
        ("cilium.disable_kpr", None),
        ("cilium.single_operator", None),
        ("longhorn.remove_extension", "node03"),
    ),
    areas=("cilium", "longhorn"),
    actions={
        "CIL-04": ["[disruptive] helm release cilium", "helm upgrade --install cilium"],
        "CIL-05": ["[disruptive] helm release cilium", "helm upgrade --install cilium"],
        "LH-01": ["[disruptive] node03 (k8s-node03)", "talosctl upgrade --nodes <node03> --image"],
    },
    allowances=("--allow-disruptive",),
    fixed_in_passing=frozenset({"CIL-05"}),  # CIL-04's helm upgrade restores the operator
)

DESTRUCTIVE = Group(
    drifts=(("disk_encryption.strip_luks", "node03"), ("etcd.readdress_node", "node02")),
    # etcd first: until node02 is back at its address, its volumes cannot be read.
    areas=("etcd", "disk_encryption"),
    actions={
        "ENC-01": ["[destructive] node03 (k8s-node03)", "--system-labels-to-wipe STATE"],
        "ETCD-02": ["[destructive] node02 (k8s-node02)", "etcd remove-member <node02>"],
    },
    allowances=("--allow-destructive",),
)


def _failed(run: SuiteRun) -> set[str]:
    return {control for control, outcome in run.outcomes.items() if outcome == "failed"}


def _summarised_remediated(run: SuiteRun) -> set[str]:
    """Controls the run's summary.json counts as remediated."""
    controls = run.summary.get("controls") or {}
    return {c for c, entry in controls.items() if entry.get("result") == "remediated"}


def _observed_failing(running: RunningCluster) -> set[str]:
    return set(failing(running.snapshot()))


def remediate_end_to_end(running: RunningCluster, group: Group) -> None:
    drifted = set(group.actions)
    before = _observed_failing(running)
    assert (drifted - group.probed) & set(CHECKS) <= before, (
        before
    )  # probes (AUD-02) are judged by the runs

    plan = running.run_suite(*group.steps, "--remediate=plan")
    assert _failed(plan) == drifted, plan.output
    for control, texts in group.actions.items():
        message = plan.messages[control]
        assert f"remediation plan for {control}" in message, message
        assert "--remediate=plan: nothing was changed" in message, message
        for text in texts:
            assert text in message, (text, message)
    assert plan.remediated == frozenset()
    assert _observed_failing(running) == before

    for flag in group.allowances:
        refused = running.run_suite(*group.steps, "--remediate")
        assert _failed(refused) == drifted, refused.output
        for control in drifted:
            message = refused.messages[control]
            assert f"need {flag}" in message, message
            assert "nothing was changed" in message, message
        assert refused.remediated == frozenset()
        assert _observed_failing(running) == before

    fixed = running.run_suite(*group.steps, "--remediate", *group.allowances)
    assert _failed(fixed) == set(), fixed.output
    # A control repaired by an earlier one's fix passes at its first look, or -- when the
    # cluster needed a moment -- is recorded as remediated once it settles.
    assert drifted - group.fixed_in_passing <= fixed.remediated <= drifted, fixed.output
    assert _summarised_remediated(fixed) == fixed.remediated

    again = running.run_suite(*group.steps, "--remediate=plan")
    assert _failed(again) == set(), again.output
    assert again.remediated == frozenset()
    assert _observed_failing(running).isdisjoint(drifted)


@pytest.mark.parametrize(
    "group",
    [SAFE, SAFE_SINGLES, KUBECONFIG, DISRUPTIVE, DESTRUCTIVE],
    ids=["safe", "safe-singles", "kubeconfig", "disruptive", "destructive"],
)
def test_drifts_are_planned_refused_fixed_and_quiet(cluster_with: Any, group: Group) -> None:
    with cluster_with(*group.drifts) as running:
        remediate_end_to_end(running, group)


def test_a_drift_without_a_fix_fails_with_a_manual_plan(cluster_with: Any) -> None:
    with cluster_with(("topology.power_off", "node06")) as running:
        run = running.run_suite(
            "steps/test_topology.py", "--remediate", "--allow-disruptive", "--allow-destructive"
        )
    assert "TOP-01" in _failed(run), run.output
    message = run.messages["TOP-01"]
    assert "node06" in message, message
    assert "[manual]" in message, message
    assert "no automatic remediation" in message, message
    assert run.remediated == frozenset()


def test_lost_quorum_is_left_to_the_operator(cluster_with: Any) -> None:
    # Four of six members moved: no member can be removed without a quorum, so nothing
    # automatic is safe even with every allowance -- the plan says what to do by hand.
    with cluster_with("etcd.readdress_majority") as running:
        before = _observed_failing(running)
        run = running.run_suite(
            "steps/test_etcd.py", "--remediate", "--allow-disruptive", "--allow-destructive"
        )
        after = _observed_failing(running)
    assert _failed(run) == {"ETCD-01"}, run.output
    message = run.messages["ETCD-01"]
    assert "[manual]" in message, message
    assert "no automatic remediation" in message, message
    assert run.remediated == frozenset()
    assert after == before
