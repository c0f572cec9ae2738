"""Network-policy drifts (NP-01): a namespace's default-deny policy deleted or emptied, or
undone cluster-wide by a CiliumClusterwideNetworkPolicy allowing all."""

from __future__ import annotations

from typing import Any

from simulator.drifts import DriftContext, drift

NAMESPACE = "default"
POLICY = "default-deny"


@drift(
    "network_policy.delete_default_deny",
    controls=("NP-01",),
    description=f"CiliumNetworkPolicy {NAMESPACE}/{POLICY} is deleted",
)
def delete_default_deny(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("cilium.io", "v2", "ciliumnetworkpolicies")
    ctx.get(rt, NAMESPACE, POLICY, "network_policy.delete_default_deny")
    ctx.store.delete(rt, NAMESPACE, POLICY)
    return f"CiliumNetworkPolicy {NAMESPACE}/{POLICY} deleted"


@drift(
    "network_policy.empty_default_deny_ingress",
    controls=("NP-01",),
    description=f"CiliumNetworkPolicy {NAMESPACE}/{POLICY} keeps its name, ingress emptied",
)
def empty_default_deny_ingress(ctx: DriftContext, node: str | None) -> str:
    """The policy still exists but no longer denies: Cilium ignores an empty ``ingress`` list.

    https://docs.cilium.io/en/stable/security/policy/language/ -- only ``ingress: [{}]``
    puts the selected endpoints in ingress default deny; a create of the declared policy
    then answers 409, so the fix must replace it.
    """
    rt = ctx.rt("cilium.io", "v2", "ciliumnetworkpolicies")
    ctx.get(rt, NAMESPACE, POLICY, "network_policy.empty_default_deny_ingress")
    ctx.merge_patch(rt, NAMESPACE, POLICY, {"spec": {"ingress": []}})
    return f"CiliumNetworkPolicy {NAMESPACE}/{POLICY}: ingress emptied"


CLUSTERWIDE_POLICY = "allow-all"


@drift(
    "network_policy.clusterwide_allow_all",
    controls=("NP-01",),
    description=f"a CiliumClusterwideNetworkPolicy {CLUSTERWIDE_POLICY} selecting every endpoint "
    "allows the entity all in and out (kubectl apply of a cluster-wide allow)",
)
def clusterwide_allow_all(ctx: DriftContext, node: str | None) -> str:
    """Cilium unions allow rules: every namespace's default-deny is undone at once.

    https://docs.cilium.io/en/v1.19/security/policy/language/ -- a policy that
    allows traffic from/to ``all`` opens whatever other policies deny by default.
    """
    ctx.require_provisioned("network_policy.clusterwide_allow_all")
    rt = ctx.rt("cilium.io", "v2", "ciliumclusterwidenetworkpolicies")
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": CLUSTERWIDE_POLICY},
        "spec": {
            "endpointSelector": {},
            "ingress": [{"fromEntities": ["all"]}],
            "egress": [{"toEntities": ["all"]}],
        },
    }
    ctx.store.create(rt, "", body)
    return (
        f"CiliumClusterwideNetworkPolicy {CLUSTERWIDE_POLICY} created (allows all, every endpoint)"
    )


def _namespace(ctx: DriftContext, name: str) -> None:
    """``kubectl create namespace <name>``."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    ctx.store.create(ctx.rt("", "v1", "namespaces"), "", body)


def _cnp(ctx: DriftContext, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """``kubectl apply`` of a CiliumNetworkPolicy."""
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    ctx.store.create(ctx.rt("cilium.io", "v2", "ciliumnetworkpolicies"), namespace, body)


DENY: dict[str, Any] = {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}


def _copied_deny(ctx: DriftContext, drift_name: str, namespace: str, spec: dict[str, Any]) -> str:
    """A new namespace whose operator copied default-deny, changed as *spec* says."""
    ctx.require_provisioned(drift_name)
    _namespace(ctx, namespace)
    _cnp(ctx, namespace, POLICY, spec)
    return f"Namespace {namespace} created with CiliumNetworkPolicy {POLICY} {spec}"


@drift(
    "network_policy.namespace_without_policy",
    controls=("NP-01",),
    description="a new namespace team-a is created without a default-deny policy",
)
def namespace_without_policy(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("network_policy.namespace_without_policy")
    _namespace(ctx, "team-a")
    return "Namespace team-a created (no CiliumNetworkPolicy)"


@drift(
    "network_policy.copy_with_empty_ingress",
    controls=("NP-01",),
    description=f"a new namespace np-emptied gets a copy of {POLICY} with ingress: [] "
    "(a no-op in Cilium)",
)
def copy_with_empty_ingress(ctx: DriftContext, node: str | None) -> str:
    spec = {**DENY, "ingress": []}
    return _copied_deny(ctx, "network_policy.copy_with_empty_ingress", "np-emptied", spec)


@drift(
    "network_policy.copy_with_partial_selector",
    controls=("NP-01",),
    description=f"a new namespace np-partial gets a copy of {POLICY} whose endpointSelector "
    "selects only app=web",
)
def copy_with_partial_selector(ctx: DriftContext, node: str | None) -> str:
    spec = {**DENY, "endpointSelector": {"matchLabels": {"app": "web"}}}
    return _copied_deny(ctx, "network_policy.copy_with_partial_selector", "np-partial", spec)


@drift(
    "network_policy.copy_opting_out",
    controls=("NP-01",),
    description=f"a new namespace np-optout gets a copy of {POLICY} with enableDefaultDeny "
    "false for both directions",
)
def copy_opting_out(ctx: DriftContext, node: str | None) -> str:
    spec = {**DENY, "enableDefaultDeny": {"ingress": False, "egress": False}}
    return _copied_deny(ctx, "network_policy.copy_opting_out", "np-optout", spec)


@drift(
    "network_policy.copy_invalid",
    controls=("NP-01",),
    description=f"a new namespace np-invalid gets a copy of {POLICY} that also has a "
    "nodeSelector: Cilium marks it not Valid and enforces nothing of it",
)
def copy_invalid(ctx: DriftContext, node: str | None) -> str:
    spec = {**DENY, "nodeSelector": {}}
    return _copied_deny(ctx, "network_policy.copy_invalid", "np-invalid", spec)


NAMESPACE_ALLOW = "open-all"


@drift(
    "network_policy.namespace_allow_all",
    controls=("NP-01",),
    description=f"a new namespace np-open with {POLICY} and a CiliumNetworkPolicy "
    f"{NAMESPACE_ALLOW} allowing the entity all in and out",
)
def namespace_allow_all(ctx: DriftContext, node: str | None) -> str:
    _copied_deny(ctx, "network_policy.namespace_allow_all", "np-open", dict(DENY))
    spec = {
        "endpointSelector": {},
        "ingress": [{"fromEntities": ["all"]}],
        "egress": [{"toEntities": ["all"]}],
    }
    _cnp(ctx, "np-open", NAMESPACE_ALLOW, spec)
    return f"Namespace np-open: CiliumNetworkPolicy {NAMESPACE_ALLOW} allows all"


K8S_ALLOW = "allow-ingress"


@drift(
    "network_policy.kubernetes_allow_all",
    controls=("NP-01",),
    description=f"a new namespace np-k8s with {POLICY} and a Kubernetes NetworkPolicy "
    f"{K8S_ALLOW} (podSelector: {{}}, ingress: [{{}}]) allowing every source",
)
def kubernetes_allow_all(ctx: DriftContext, node: str | None) -> str:
    _copied_deny(ctx, "network_policy.kubernetes_allow_all", "np-k8s", dict(DENY))
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": K8S_ALLOW, "namespace": "np-k8s"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
    }
    ctx.store.create(ctx.rt("networking.k8s.io", "v1", "networkpolicies"), "np-k8s", body)
    return f"Namespace np-k8s: NetworkPolicy {K8S_ALLOW} allows every source"


CLUSTERWIDE_NAMESPACE = "allow-team"


@drift(
    "network_policy.clusterwide_allow_namespace",
    controls=("NP-01",),
    description=f"a CiliumClusterwideNetworkPolicy {CLUSTERWIDE_NAMESPACE} selecting the "
    f"endpoints of namespace {NAMESPACE} by k8s:io.kubernetes.pod.namespace allows all",
)
def clusterwide_allow_namespace(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("network_policy.clusterwide_allow_namespace")
    body = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": CLUSTERWIDE_NAMESPACE},
        "spec": {
            "endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": NAMESPACE}},
            "ingress": [{"fromEntities": ["all"]}],
            "egress": [{"toEntities": ["all"]}],
        },
    }
    ctx.store.create(ctx.rt("cilium.io", "v2", "ciliumclusterwidenetworkpolicies"), "", body)
    return f"CiliumClusterwideNetworkPolicy {CLUSTERWIDE_NAMESPACE} opens namespace {NAMESPACE}"


def _cilium_config(ctx: DriftContext, drift_name: str, key: str, value: str) -> str:
    """``kubectl -n kube-system patch configmap cilium-config``."""
    rt = ctx.rt("", "v1", "configmaps")
    ctx.get(rt, "kube-system", "cilium-config", drift_name)
    ctx.merge_patch(rt, "kube-system", "cilium-config", {"data": {key: value}})
    return f"cilium-config: {key} set to {value!r}"


@drift(
    "network_policy.enforcement_never",
    controls=("NP-01",),
    description="ConfigMap kube-system/cilium-config says enable-policy: never "
    "(policyEnforcementMode never): Cilium enforces no policy",
)
def enforcement_never(ctx: DriftContext, node: str | None) -> str:
    return _cilium_config(ctx, "network_policy.enforcement_never", "enable-policy", "never")


@drift(
    "network_policy.audit_mode",
    controls=("NP-01",),
    description="ConfigMap kube-system/cilium-config says policy-audit-mode: true: "
    "Cilium logs policy verdicts and drops nothing",
)
def audit_mode(ctx: DriftContext, node: str | None) -> str:
    return _cilium_config(ctx, "network_policy.audit_mode", "policy-audit-mode", "true")
