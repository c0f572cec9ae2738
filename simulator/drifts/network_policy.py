"""Network-policy drifts (NP-01): a namespace's default-deny policy deleted or emptied, or
undone cluster-wide by a CiliumClusterwideNetworkPolicy allowing all."""

from __future__ import annotations

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
