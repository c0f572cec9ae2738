"""Controls fixed by sending nodes their rendered config again (safe: no reboot).

Why these share one planner shape: each control judges a value the node
gets only from its machine config -- the VIP and endpoint, KubePrism, the
kubelet's seccomp default, the API server's admission and audit config, the
CNI and proxy settings, the hostname -- so the fix is the definition's config,
re-applied with ``--mode no-reboot`` to exactly the nodes the findings name
(every control-plane node when they name none, as for cluster-wide API
server settings).  Talos refuses a no-reboot apply that would need a reboot;
that refusal ends the remediation with Talos's own message.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.findings import Finding
from checks.snapshot import Snapshot
from remediation.actions import Plan, Risk
from remediation.registry import Planner, planner
from remediation.targets import nodes_in, or_control_planes, reapply_configs

WHY = {
    "API-01": "it carries the VIP",
    "API-04": "it enables KubePrism on the declared port",
    "SEC-01": "it sets the kubelet's seccomp default",
    "PSA-01": "it enforces PodSecurity baseline",
    "PSA-02": "it declares the PodSecurity exemptions",
    "PSA-03": "it enforces PodSecurity baseline",
    "AUD-01": "it carries the declared audit policy",
    "AUD-02": "it carries the declared audit policy",
    "CIL-01": "it sets cni none and disables kube-proxy",
    "HYG-05": "it sets the declared hostname",
}

CLUSTER_WIDE = frozenset({"PSA-01", "PSA-02", "PSA-03", "AUD-01", "AUD-02"})


def _plan(control: str, findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    cluster = snapshot.definition
    named = [] if control in CLUSTER_WIDE else nodes_in(findings, cluster)
    nodes = or_control_planes(named, cluster)
    return Plan(control, reapply_configs(control, nodes, WHY[control]))


def _planner_for(control: str) -> Planner:
    def plan(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
        return _plan(control, findings, snapshot)

    return plan


for _control in WHY:
    planner(_control, risk=Risk.SAFE)(_planner_for(_control))
