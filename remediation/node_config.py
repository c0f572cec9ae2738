"""Controls fixed by sending nodes their rendered config again (safe: no reboot).

Why these share one planner shape: each control judges a value the node
gets only from its machine config -- the VIP and endpoint, KubePrism, the
kubelet's seccomp default, the API server's admission and audit config, the
CNI and proxy settings, the hostname -- so the fix is the definition's config,
re-applied with ``--mode no-reboot`` to exactly the nodes the typed findings
name (:class:`~checks.findings.NodeFinding`), or to every control-plane node
for the cluster-wide API server settings (PSA, AUD).  Talos refuses a
no-reboot apply that would need a reboot; that refusal ends the remediation
with Talos's own message.

HYG-05 needs one more step: while a node ran under a stray hostname its
kubelet registered a Node of that name, and re-applying the config brings
the kubelet back under the declared name without removing that Node, which
stays behind NotReady (and keeps CIL-03 failing, which judges every Node).
So after the re-applies the plan deletes each observed stray hostname that
is a registered Node and no declared hostname (safe: an object delete;
never a Node the inventory declares).

PSA-01 also judges namespace labels, which no machine config carries: a
namespace whose ``enforce`` label loosens the declared level, or whose
``enforce-version`` label pins an older check set, gets the label removed (a
merge patch; safe: it only restores the API server's default).
"""

from __future__ import annotations

from collections.abc import Sequence

from checks import cluster_hygiene, pod_security
from checks import snapshot as model
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot
from remediation.actions import Action, DeleteObject, PatchObject, Plan, Risk
from remediation.registry import Planner, planner
from remediation.targets import nodes_in, reapply_configs

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


def stray_nodes(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """Deletes of the Nodes registered under the hostnames HYG-05 observed (after re-apply).

    A manual note instead when the Nodes could not be read: HYG-05 passes once
    the re-apply took, so no later run would see the stray hostname again.
    """
    declared = {node.hostname for node in snapshot.definition.nodes}
    observed = [
        h
        for f in findings
        if isinstance(f, cluster_hygiene.HostnameMismatch)
        for h in f.hostnames
        if h not in declared
    ]
    if not observed:
        return Plan("HYG-05")
    try:
        registered = {
            str((node.get("metadata") or {}).get("name")) for node in snapshot.objects(model.NODES)
        }
    except Unobservable as exc:
        return Plan(
            "HYG-05",
            manual=tuple(
                f"Node {h}: the Nodes were not read ({exc.reason}); if the kubelet registered "
                f"a Node named {h}, delete it once the node is back under its declared hostname"
                for h in dict.fromkeys(observed)
            ),
        )
    actions = tuple(
        Action(
            "HYG-05",
            f"Node {name}",
            "delete the Node the kubelet registered under the stray hostname",
            DeleteObject(model.NODES.path, name, None),
            Risk.SAFE,
        )
        for name in dict.fromkeys(observed)
        if name in registered
    )
    return Plan("HYG-05", actions)


LABEL_FINDINGS = (pod_security.NamespaceLevelLoosened, pod_security.NamespaceVersionPinned)


def namespace_labels(findings: Sequence[Finding]) -> tuple[Action, ...]:
    """PSA-01: remove each looser ``enforce`` label and each ``enforce-version`` pin, so the
    API server's default applies.

    A namespace label is no machine config: re-applying the config leaves it.
    """
    actions = []
    for f in findings:
        if isinstance(f, pod_security.NamespaceLevelLoosened):
            label = pod_security.ENFORCE_LABEL
        elif isinstance(f, pod_security.NamespaceVersionPinned):
            label = pod_security.VERSION_LABEL
        else:
            continue
        actions.append(
            Action(
                "PSA-01",
                f.target,
                f"remove the {label} label (the API server's default applies)",
                PatchObject(
                    model.NAMESPACES.path,
                    f.namespace,
                    None,
                    {"metadata": {"labels": {label: None}}},
                ),
                Risk.SAFE,
            )
        )
    return tuple(actions)


def _plan(control: str, findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    cluster = snapshot.definition
    if control == "PSA-01":
        labels = namespace_labels(findings)
        if labels and all(isinstance(f, LABEL_FINDINGS) for f in findings):
            return Plan(control, labels)
    nodes = (
        list(cluster.control_plane_nodes)
        if control in CLUSTER_WIDE
        else nodes_in(findings, cluster)
    )
    reapply = reapply_configs(control, nodes, WHY[control])
    if control == "PSA-01":
        return Plan(control, reapply + namespace_labels(findings))
    if control != "HYG-05":
        return Plan(control, reapply)
    # The stray Nodes go only after the kubelet is back under the declared name.
    strays = stray_nodes(findings, snapshot)
    return Plan(control, reapply + strays.actions, strays.manual)


def _planner_for(control: str) -> Planner:
    def plan(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
        return _plan(control, findings, snapshot)

    return plan


for _control in WHY:
    planner(_control, risk=Risk.SAFE)(_planner_for(_control))
