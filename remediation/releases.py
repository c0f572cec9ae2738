"""Controls fixed by upgrading a Helm release to the declared version and values (disruptive).

Why disruptive: ``helm upgrade`` re-renders the chart and the changed
DaemonSets and Deployments roll their pods (Cilium agents restart node by
node, the operator and Longhorn's manager are replaced).  One action per
release, however many of the release's controls failed.  CIL-04 also
covers the L2 announcement policy and LB IP pool of the definition's
manifests, which are not the chart's: those are created or their spec put
back, a safe change.

CIL-03 is the exception: an agent that is not Ready on one node (crash-looping
after a kernel or BPF hiccup) is not cured by ``helm upgrade`` when the chart
is already as declared -- the template does not change, so the pod is never
replaced.  Deleting that pod is what an operator does: its DaemonSet starts a
fresh one on the same node.  Only a missing DaemonSet takes the upgrade.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from checks import cilium
from checks import snapshot as model
from checks.cilium import AGENT_DAEMONSET, AGENT_LABEL
from checks.findings import Finding
from checks.snapshot import KubeObject, Snapshot, dotted, named
from remediation.actions import (
    Action,
    CreateObject,
    DeleteObject,
    HelmUpgrade,
    PatchObject,
    Plan,
    Risk,
)
from remediation.registry import Planner, planner

RELEASE_OF = {
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


@planner("CIL-04", risk=Risk.DISRUPTIVE)
def running_config(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """The release's own objects by ``helm upgrade``; the definition's L2 policy and pool
    (manifests, not the chart) created or their spec put back, which restarts nothing."""
    l2 = [f for f in findings if isinstance(f, cilium.L2ObjectWrong)]
    actions: list[Action] = []
    if len(l2) < len(findings):
        actions += _planner_for("CIL-04", "cilium")(findings, snapshot).actions
    declared = {
        (str(d.get("kind")), str((d.get("metadata") or {}).get("name"))): d
        for d in cilium.declared_l2_objects(snapshot.definition)
    }
    for found in l2:
        doc = declared.get((found.kind, found.name))
        if doc is None:
            continue
        path = cilium.L2_KINDS[found.kind].path
        live = named(snapshot.objects(cilium.L2_KINDS[found.kind]), found.name)
        if live:
            change: CreateObject | PatchObject = PatchObject(
                path,
                found.name,
                None,
                [
                    {
                        "op": "add",
                        "path": "/spec",
                        "value": copy.deepcopy(dict(doc.get("spec") or {})),
                    }
                ],
                patch_type="json",
            )
            summary = "put back the declared spec"
        else:
            change = CreateObject(path, None, copy.deepcopy(dict(doc)))
            summary = "create it from the manifests"
        actions.append(Action("CIL-04", found.target, summary, change, Risk.SAFE))
    return Plan("CIL-04", tuple(actions))


def _ready(pod: KubeObject) -> bool:
    conditions = dotted(pod, "status.conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@planner("CIL-03", risk=Risk.DISRUPTIVE)
def recreate_agents(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    release = snapshot.definition.helm.get("cilium")
    if release is None:
        return Plan("CIL-03", manual=("no helm release cilium in the definition",))
    if any(isinstance(f, cilium.AgentDaemonSetAbsent) for f in findings):
        return _planner_for("CIL-03", "cilium")(findings, snapshot)
    key, value = AGENT_LABEL
    by_host = {f.hostname: f.target for f in findings if isinstance(f, cilium.AgentNotReady)}
    actions: list[Action] = []
    covered: set[str] = set()  # finding targets with an agent pod to delete
    for pod in model.in_namespace(snapshot.objects(model.PODS), release.namespace):
        meta = pod.get("metadata") or {}
        where = by_host.get(str(dotted(pod, "spec.nodeName") or ""))
        if where is None or (meta.get("labels") or {}).get(key) != value or _ready(pod):
            continue
        name = str(meta.get("name"))
        covered.add(where)
        actions.append(
            Action(
                "CIL-03",
                f"Pod {release.namespace}/{name} on {where}",
                f"delete the not-Ready agent pod; DaemonSet {AGENT_DAEMONSET} starts a fresh one",
                DeleteObject(model.PODS.path, name, release.namespace),
                Risk.DISRUPTIVE,
            )
        )
    left = [target for target in by_host.values() if target not in covered]
    if left:
        # No agent pod at all on a node: the DaemonSet cannot place one there (the node is
        # NotReady, tainted or gone) -- the node is the problem, not the agent.
        return Plan(
            "CIL-03",
            tuple(actions),
            manual=tuple(f"no agent pod to recreate on {target}" for target in left),
        )
    return Plan("CIL-03", tuple(actions))
