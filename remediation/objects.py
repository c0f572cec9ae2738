"""Controls fixed by patching, creating or deleting Kubernetes objects (safe).

Why these are safe: each action changes one object's declared fields back to
the definition's values -- no pod restarts, no node touched.  The objects are
named from the snapshot, so the plan shows the exact patch that will be sent:

* CIL-02: each DaemonSet, Deployment or bare pod found running kube-proxy is
  deleted (Talos with ``proxy.disabled`` never recreates one; Cilium replaces
  it); pods of other controllers and static pods are manual, with the command;
* NP-01: each namespace the check found not denying gets the definition's
  ``default-deny`` CiliumNetworkPolicy (from cluster/manifests), created, or
  its spec replaced when a ``default-deny`` exists and does not deny;
* LH-04: the ``default-replica-count`` Setting, the chart's StorageClass
  ConfigMap (the manager rebuilds the class from it; class parameters are
  immutable) and each volume's ``numberOfReplicas`` are patched to the
  declared count; another Longhorn class is manual, with the commands;
* LH-05: exactly one default class -- the annotation is removed from the
  others and set on Longhorn's;
* LH-06: volumes whose replica count is wrong get the declared count (the
  other causes, missing or failed replicas, are Longhorn's to rebuild).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from checks import cilium, longhorn_volumes, network_policy, topology
from checks import snapshot as model
from checks.findings import Finding, NodeFinding
from checks.snapshot import Snapshot, dotted, named
from provisioning.definition import yamlfiles
from provisioning.definition.problems import DefinitionError
from provisioning.plan_addons import manifest_documents
from remediation.actions import Action, CreateObject, DeleteObject, PatchObject, Plan, Risk
from remediation.registry import planner
from remediation.targets import nodes_in, reapply_configs

LONGHORN_NAMESPACE = "longhorn-system"
CLASS_NAME = longhorn_volumes.CLASS_NAME
CLASS_CONFIGMAP = "longhorn-storageclass"
SETTING_CONFIGMAP = "longhorn-default-setting"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


_KUBE_PROXY_WORKLOADS = {"DaemonSet": model.DAEMONSETS, "Deployment": model.DEPLOYMENTS}


def _covered_by_workload(
    found: cilium.KubeProxyRunning, deleted: set[tuple[str, str, str]]
) -> bool:
    """Whether deleting a found workload removes this pod too (its DaemonSet, its
    Deployment's ReplicaSet ``<deployment>-<pod-template-hash>``)."""
    if found.owner_kind == "DaemonSet":
        return ("DaemonSet", found.namespace, found.owner_name) in deleted
    if found.owner_kind == "ReplicaSet":
        deployment = found.owner_name.rsplit("-", 1)[0]
        return ("Deployment", found.namespace, deployment) in deleted
    return False


@planner("CIL-02", risk=Risk.SAFE)
def delete_kube_proxy(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """Delete what runs kube-proxy: its DaemonSet or Deployment, or a bare pod.

    A pod of another controller (a StatefulSet, a lone ReplicaSet, a Job) or a
    static pod (a file on the node) is left to a person, with the command.
    """
    found = [f for f in findings if isinstance(f, cilium.KubeProxyRunning)]
    deleted = {(f.kind, f.namespace, f.name) for f in found if f.kind in _KUBE_PROXY_WORKLOADS}
    actions = []
    manual = []
    for f in found:
        if f.kind in _KUBE_PROXY_WORKLOADS:
            change = DeleteObject(_KUBE_PROXY_WORKLOADS[f.kind].path, f.name, f.namespace or None)
        elif _covered_by_workload(f, deleted):
            continue
        elif f.owner_kind == "":
            change = DeleteObject(model.PODS.path, f.name, f.namespace or None)
        elif f.owner_kind == "Node":
            manual.append(
                f"{f.target} is the mirror of a static pod on {f.node}: remove it from that "
                f"node's machine.pods (talosctl --nodes <{f.node}> edit machineconfig)"
            )
            continue
        else:
            manual.append(
                f"{f.target} is run by {f.owner_kind} {f.namespace}/{f.owner_name}: "
                f"kubectl --namespace {f.namespace} delete {f.owner_kind.lower()} {f.owner_name}"
            )
            continue
        actions.append(Action("CIL-02", f.target, "delete kube-proxy", change, Risk.SAFE))
    return Plan("CIL-02", tuple(actions), tuple(manual))


def default_deny_template(snapshot: Snapshot) -> Mapping[str, Any] | None:
    for doc in manifest_documents(snapshot.definition.manifests):
        if doc.get("kind") == "CiliumNetworkPolicy" and _meta(doc).get("name") == "default-deny":
            return doc
    return None


def _denies_all(policy: Mapping[str, Any]) -> bool:
    """The declared shape exactly: nothing else in the spec (a ``nodeSelector`` makes the
    policy invalid, an ``enableDefaultDeny`` may opt out) and no other rules."""
    spec = policy.get("spec") or {}
    return "specs" not in policy and spec == {
        "endpointSelector": {},
        "ingress": [{}],
        "egress": [{}],
    }


def _enforcement_command(finding: network_policy.PolicyEnforcementOff) -> str:
    values = {
        "enable-policy": "policyEnforcementMode=default",
        "policy-audit-mode": "policyAuditMode=false",
    }
    return (
        f"{finding.target}: {finding.observed}; set it back in the Cilium Helm values and "
        f"roll the agents: helm upgrade cilium cilium/cilium -n kube-system --reuse-values "
        f"--set {values.get(finding.key, finding.key)} && "
        "kubectl -n kube-system rollout restart daemonset/cilium"
    )


@planner("NP-01", risk=Risk.SAFE)
def create_default_deny(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """The definition's ``default-deny`` in each namespace the check found not denying.

    Created where the namespace has no policy of that name; where one exists
    but does not deny (edited, emptied), its spec is replaced -- a create
    would only get 409 AlreadyExists.  A namespace whose ``default-deny``
    already denies is opened by another policy, and one opened by a
    CiliumClusterwideNetworkPolicy (which no namespace policy can close, and
    which may carry allows others rely on) is left to a person, with the
    command.
    """
    template = default_deny_template(snapshot)
    if template is None:
        return Plan(
            "NP-01",
            manual=(f"no default-deny CiliumNetworkPolicy in {snapshot.definition.manifests}",),
        )
    policies = snapshot.objects(model.CILIUM_NETWORK_POLICIES)
    actions: list[Action] = []
    manual: list[str] = []
    opened: dict[str, list[str]] = {}
    for finding in findings:
        if isinstance(finding, network_policy.PolicyEnforcementOff):
            manual.append(_enforcement_command(finding))
            continue
        if not isinstance(finding, network_policy.NamespaceNotDenied):
            continue
        ns = finding.namespace
        for clusterwide in finding.opened_by:
            opened.setdefault(clusterwide, []).append(ns)
        if finding.opened_by:
            continue  # its own default-deny cannot close what a clusterwide allow opens
        if finding.opened_here:
            manual += [
                f"namespace {ns}: {policy} allows the entity all ({finding.observed}): review "
                f"what else it allows, then kubectl -n {ns} delete {policy}"
                for policy in finding.opened_here
            ]
            continue
        existing = named(policies, "default-deny", ns)
        target = f"namespace {ns}"
        if not existing:
            body = copy.deepcopy(dict(template))
            body["metadata"] = {"name": "default-deny", "namespace": ns}
            change: CreateObject | PatchObject = CreateObject(
                model.CILIUM_NETWORK_POLICIES.path, ns, body
            )
            actions.append(
                Action("NP-01", target, "create the default-deny policy", change, Risk.SAFE)
            )
        elif not _denies_all(existing):
            ops: list[dict[str, Any]] = [
                {"op": "add", "path": "/spec", "value": copy.deepcopy(template.get("spec") or {})}
            ]
            if "specs" in existing:
                ops.append({"op": "remove", "path": "/specs"})
            change = PatchObject(
                model.CILIUM_NETWORK_POLICIES.path, "default-deny", ns, ops, patch_type="json"
            )
            summary = "replace the spec of default-deny, which does not deny"
            actions.append(Action("NP-01", target, summary, change, Risk.SAFE))
        else:
            manual.append(f"{target}: default-deny denies, but {finding.observed}")
    manual += [
        f"CiliumClusterwideNetworkPolicy {name} allows the entity all in namespaces "
        f"{', '.join(namespaces)} (and every other it selects): review what else it allows, "
        f"then kubectl delete ciliumclusterwidenetworkpolicies {name}"
        for name, namespaces in sorted(opened.items())
    ]
    return Plan("NP-01", tuple(actions), tuple(manual))


def _setting_value(setting: Mapping[str, Any]) -> str:
    return str(setting.get("value", dotted(setting, "spec.value", "")))


def _volume_actions(control: str, snapshot: Snapshot, want: int) -> list[Action]:
    actions = []
    for volume in snapshot.objects(model.LONGHORN_VOLUMES):
        meta = _meta(volume)
        if dotted(volume, "spec.numberOfReplicas") == want:
            continue
        change = PatchObject(
            model.LONGHORN_VOLUMES.path,
            str(meta.get("name")),
            meta.get("namespace"),
            {"spec": {"numberOfReplicas": want}},
        )
        actions.append(
            Action(
                control,
                f"Volume {meta.get('namespace')}/{meta.get('name')}",
                f"set numberOfReplicas to {want}",
                change,
                Risk.SAFE,
            )
        )
    return actions


def _configmap_yaml(configmap: Mapping[str, Any], key: str) -> tuple[Any, str | None]:
    """``data.<key>`` of a live ConfigMap as YAML: ``(value, None)``, or ``(None, why not)``.

    Read through the project's one loader (duplicate keys, bombs and depth
    refused); anyone who can edit the ConfigMap wrote this text.  The reason
    names the object and key, so the plan can say what a person must fix.
    """
    meta = _meta(configmap)
    where = f"ConfigMap {meta.get('namespace')}/{meta.get('name')} data.{key}"
    text = (configmap.get("data") or {}).get(key)
    if not isinstance(text, str):
        return None, None
    try:
        return yamlfiles.parse_one(text, where, loader=yamlfiles.KubeLoader), None
    except DefinitionError as exc:
        return None, f"{exc.problems[0]}; not changed: fix it by hand"


def _default_setting_actions(snapshot: Snapshot, want: int) -> tuple[list[Action], list[str]]:
    """The chart's ``longhorn-default-setting`` ConfigMap, which the manager re-applies to
    the Setting: left at another count, it would undo the Setting patch."""
    configmap = named(snapshot.objects(model.CONFIGMAPS), SETTING_CONFIGMAP, LONGHORN_NAMESPACE)
    if not configmap:
        return [], []
    parsed, unreadable = _configmap_yaml(configmap, "default-setting.yaml")
    if unreadable:
        return [], [unreadable]
    if not isinstance(parsed, dict) or "default-replica-count" not in parsed:
        return [], []
    if str(parsed["default-replica-count"]) == str(want):
        return [], []
    parsed["default-replica-count"] = want
    new_text = "\n".join(f"{key}: {value}" for key, value in parsed.items())
    change = PatchObject(
        model.CONFIGMAPS.path,
        SETTING_CONFIGMAP,
        LONGHORN_NAMESPACE,
        {"data": {"default-setting.yaml": new_text}},
    )
    target = f"ConfigMap {LONGHORN_NAMESPACE}/{SETTING_CONFIGMAP}"
    return [Action("LH-04", target, f"default-replica-count: {want}", change, Risk.SAFE)], []


@planner("LH-04", risk=Risk.SAFE)
def replica_counts(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    want = snapshot.definition.storage.replica_count
    actions, unreadable = _default_setting_actions(snapshot, want)  # first: it wins
    setting = named(snapshot.objects(model.LONGHORN_SETTINGS), "default-replica-count")
    if setting and _setting_value(setting) != str(want):
        meta = _meta(setting)
        change = PatchObject(
            model.LONGHORN_SETTINGS.path,
            "default-replica-count",
            meta.get("namespace"),
            {"value": str(want)},
        )
        actions.append(
            Action("LH-04", "Setting default-replica-count", f"set to {want}", change, Risk.SAFE)
        )
    configmap = named(snapshot.objects(model.CONFIGMAPS), CLASS_CONFIGMAP, LONGHORN_NAMESPACE)
    doc, why = _configmap_yaml(configmap, "storageclass.yaml") if configmap else (None, None)
    if why:
        unreadable.append(why)
    elif doc is not None and not (
        isinstance(doc, dict) and isinstance(doc.get("parameters", {}), dict)
    ):
        meta = _meta(configmap or {})
        unreadable.append(
            f"ConfigMap {meta.get('namespace')}/{meta.get('name')} data.storageclass.yaml: "
            "is not a StorageClass (a mapping with mapping parameters); not changed: "
            "fix it by hand"
        )
    elif isinstance(doc, dict):
        params = doc.setdefault("parameters", {})
        if str(params.get("numberOfReplicas")) != str(want):
            params["numberOfReplicas"] = str(want)
            change = PatchObject(
                model.CONFIGMAPS.path,
                CLASS_CONFIGMAP,
                LONGHORN_NAMESPACE,
                {"data": {"storageclass.yaml": yaml.safe_dump(doc, sort_keys=False)}},
            )
            actions.append(
                Action(
                    "LH-04",
                    f"ConfigMap {LONGHORN_NAMESPACE}/{CLASS_CONFIGMAP}",
                    f"StorageClass longhorn asks for {want} replicas",
                    change,
                    Risk.SAFE,
                )
            )
    actions += _volume_actions("LH-04", snapshot, want)
    # Another Longhorn class (not the chart's): its parameters are immutable, and whoever
    # applied it may rely on it, so it is a person's to replace.
    manual = tuple(
        f"{f.target} (not the chart's class) asks for another replica count; parameters are "
        f"immutable: kubectl get storageclass {f.storage_class} -o yaml > sc.yaml, set "
        f'numberOfReplicas: "{want}", then kubectl delete storageclass {f.storage_class} '
        "&& kubectl apply -f sc.yaml"
        for f in findings
        if isinstance(f, longhorn_volumes.ReplicaCountMismatch)
        and f.storage_class not in ("", CLASS_NAME)
    )
    return Plan("LH-04", tuple(actions), (*unreadable, *manual))


@planner("LH-05", risk=Risk.SAFE)
def one_default_class(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    actions = []
    for sc in snapshot.objects(model.STORAGE_CLASSES):
        meta = _meta(sc)
        name = str(meta.get("name"))
        annotations = meta.get("annotations") or {}
        is_default = "true" in (
            annotations.get(DEFAULT_ANNOTATION),
            annotations.get(BETA_DEFAULT_ANNOTATION),
        )
        should = sc.get("provisioner") == "driver.longhorn.io" and name == "longhorn"
        if is_default == should:
            continue
        value = "true" if should else None
        patch = {"metadata": {"annotations": {DEFAULT_ANNOTATION: value}}}
        if not should and BETA_DEFAULT_ANNOTATION in annotations:
            patch["metadata"]["annotations"][BETA_DEFAULT_ANNOTATION] = None
        change = PatchObject(model.STORAGE_CLASSES.path, name, None, patch)
        summary = "make it the default class" if should else "it is no longer a default class"
        actions.append(Action("LH-05", f"StorageClass/{name}", summary, change, Risk.SAFE))
    return Plan("LH-05", tuple(actions))


@planner("LH-06", risk=Risk.SAFE)
def volume_replicas(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    want = snapshot.definition.storage.replica_count
    actions = _volume_actions("LH-06", snapshot, want)
    manual = (
        ()
        if actions
        else (
            "Longhorn rebuilds missing or failed replicas itself once enough storage nodes are "
            "schedulable; check LH-03 and the volume's events",
        )
    )
    return Plan("LH-06", tuple(actions), manual)


@planner("TOP-02", risk=Risk.SAFE)
def schedulable_nodes(findings: Sequence[Finding], snapshot: Snapshot) -> Plan:
    """Undo what keeps each named node from taking workloads, by what the finding says it is.

    A cordon is uncordoned.  Talos owns the control-plane taint and label (it
    sets them from the node's config: ``allowSchedulingOnControlPlanes``), so
    for those the node gets its rendered config again; any other blocking
    taint was put there by someone else (``kubectl taint``, a controller) and
    no config removes it, so it is patched off the Node, keeping the rest.
    """
    cluster = snapshot.definition
    by_name = {str(_meta(n).get("name")): n for n in snapshot.objects(model.NODES)}
    actions: list[Action] = []
    for node in nodes_in(findings, cluster):
        own = [f for f in findings if isinstance(f, NodeFinding) and f.node == node.name]
        if any(isinstance(f, topology.NodeCordoned) for f in own):
            change = PatchObject(
                model.NODES.path, node.hostname, None, {"spec": {"unschedulable": None}}
            )
            actions.append(Action("TOP-02", f"Node {node.hostname}", "uncordon", change, Risk.SAFE))
        foreign = {
            key
            for f in own
            if isinstance(f, topology.NodeTainted)
            for key in f.keys
            if key[0] != topology.CONTROL_PLANE_LABEL
        }
        if foreign:
            taints = (by_name.get(node.hostname, {}).get("spec") or {}).get("taints") or []
            keep = [t for t in taints if (str(t.get("key")), str(t.get("effect"))) not in foreign]
            change = PatchObject(model.NODES.path, node.hostname, None, {"spec": {"taints": keep}})
            removed = ", ".join(f"{k}:{e}" for k, e in sorted(foreign))
            actions.append(
                Action(
                    "TOP-02", f"Node {node.hostname}", f"remove taint {removed}", change, Risk.SAFE
                )
            )
        talos_owned = any(
            isinstance(f, topology.NoControlPlaneLabel)
            or (
                isinstance(f, topology.NodeTainted)
                and any(k == topology.CONTROL_PLANE_LABEL for k, _ in f.keys)
            )
            for f in own
        )
        if talos_owned or not own:
            actions += reapply_configs("TOP-02", [node], "it allows workloads on control planes")
    return Plan("TOP-02", tuple(actions))
