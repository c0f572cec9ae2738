"""Controls fixed by upgrading a Helm release to the declared version and values (disruptive).

Why disruptive: ``helm upgrade`` re-renders the chart and the changed
DaemonSets and Deployments roll their pods (Cilium agents restart node by
node, the operator and Longhorn's manager are replaced).  One action per
release, however many of the release's controls failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.findings import Finding
from checks.snapshot import Snapshot
from remediation.actions import Action, HelmUpgrade, Plan, Risk
from remediation.registry import Planner, planner

RELEASE_OF = {
    "CIL-03": "cilium",
    "CIL-04": "cilium",
    "CIL-05": "cilium",
    "CIL-06": "cilium",
    "LH-07": "longhorn",
}


def _planner_for(control: str, release: str) -> Planner:
    def plan(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
        if release not in snapshot.definition.helm:
            return Plan(control, manual=(f"no helm release {release} in the definition",))
        declared = getattr(snapshot.definition.versions, release, "?")
        action = Action(
            control,
            f"helm release {release}",
            f"upgrade to {declared} with the declared values (pods restart)",
            HelmUpgrade(release),
            Risk.DISRUPTIVE,
        )
        return Plan(control, (action,))

    return plan


for _control, _release in RELEASE_OF.items():
    planner(_control, risk=Risk.DISRUPTIVE)(_planner_for(_control, _release))
