"""Network-policy drift (NP-01): a namespace's default-deny policy deleted."""

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
