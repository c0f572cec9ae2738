"""Audit drifts (AUD-01, AUD-02): the audit policy's rules reordered, or a namespace
silenced by a first rule.

Audit rules are first-match, so reversing them, or putting a ``None`` rule
for one namespace first, changes what is logged at which level; Talos takes
the policy from ``cluster.apiServer.auditPolicy`` of the control-plane
nodes, where the drifts edit it.
"""

from __future__ import annotations

from simulator.drifts import DriftContext, DriftError, control_planes, drift, edit_config, v1alpha1


@drift(
    "audit.reorder_rules",
    controls=("AUD-01", "AUD-02"),
    description="the audit policy's rules are reversed on every control-plane node",
)
def reorder_rules(ctx: DriftContext, node: str | None) -> str:
    changed = []
    for machine in control_planes(ctx, "audit.reorder_rules"):
        with edit_config(machine) as docs:
            api_server = (v1alpha1(docs, machine).get("cluster") or {}).get("apiServer") or {}
            policy = api_server.get("auditPolicy") or {}
            rules = policy.get("rules") or []
            if len(rules) > 1 and rules != rules[::-1]:
                policy["rules"] = rules[::-1]
                changed.append(machine.name)
    if not changed:
        raise DriftError("no control-plane node has an audit policy with rules to reorder")
    ctx.save_site()
    return f"audit policy rules reversed in the config of {', '.join(changed)}"


SILENCED = "kube-system"


@drift(
    "audit.silence_namespace",
    controls=("AUD-01",),
    description=f"a first audit rule level None for namespace {SILENCED} (to quiet a noisy "
    "namespace) on every control-plane node: its secret reads are no longer logged",
)
def silence_namespace(ctx: DriftContext, node: str | None) -> str:
    changed = []
    for machine in control_planes(ctx, "audit.silence_namespace"):
        with edit_config(machine) as docs:
            api_server = (v1alpha1(docs, machine).get("cluster") or {}).get("apiServer") or {}
            policy = api_server.get("auditPolicy")
            if isinstance(policy, dict) and isinstance(policy.get("rules"), list):
                policy["rules"].insert(0, {"level": "None", "namespaces": [SILENCED]})
                changed.append(machine.name)
    if not changed:
        raise DriftError("no control-plane node has an audit policy with rules")
    ctx.save_site()
    where = ", ".join(changed)
    return f"audit rule 'None for namespace {SILENCED}' put first in the config of {where}"
