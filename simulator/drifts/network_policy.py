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
