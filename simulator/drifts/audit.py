"""Audit drifts (AUD-01, AUD-02): the audit policy's rules reordered, or a namespace
silenced by a first rule.

Audit rules are first-match, so reversing them, or putting a ``None`` rule
for one namespace first, changes what is logged at which level; Talos takes
the policy from ``cluster.apiServer.auditPolicy`` of the control-plane
nodes, where the drifts edit it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _edit_policy(
    ctx: DriftContext, node: str | None, name: str, edit: Callable[[dict[str, Any]], str]
) -> str:
    """Apply *edit* to one control-plane node's ``cluster.apiServer.auditPolicy``, as
    ``talosctl patch machineconfig`` on that node would."""
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        api_server = (v1alpha1(docs, machine).get("cluster") or {}).get("apiServer")
        policy = api_server.get("auditPolicy") if isinstance(api_server, dict) else None
        if not isinstance(policy, dict) or not isinstance(policy.get("rules"), list):
            raise DriftError(f"{machine.name} has no audit policy with rules")
        what = edit(policy)
    ctx.save_site()
    return f"{machine.name}: {what}"


def _secrets_rule(policy: dict[str, Any]) -> dict[str, Any]:
    for rule in policy["rules"]:
        for selector in rule.get("resources") or []:
            if "secrets" in (selector.get("resources") or []):
                return dict(rule)
    raise DriftError("the audit policy has no rule for secrets")


@drift(
    "audit.narrow_secrets_rule",
    controls=("AUD-01", "AUD-02"),
    description="one control-plane node's (--node, default the first) audit rule for secrets "
    "keeps only the write verbs: reads of secrets fall through to the Metadata catch-all",
    takes_node=True,
)
def narrow_secrets_rule(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        rule = _secrets_rule(policy)
        index = next(i for i, r in enumerate(policy["rules"]) if r == rule)
        policy["rules"][index] = {**rule, "verbs": ["create", "update", "patch", "delete"]}
        return "the secrets audit rule narrowed to create, update, patch, delete"

    return _edit_policy(ctx, node, "audit.narrow_secrets_rule", edit)


@drift(
    "audit.drop_policy",
    controls=("AUD-01",),
    description="one control-plane node's (--node, default the first) cluster.apiServer."
    "auditPolicy removed: Talos's default policy logs everything at Metadata",
    takes_node=True,
)
def drop_policy(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, "audit.drop_policy")
    with edit_config(machine) as docs:
        api_server = (v1alpha1(docs, machine).get("cluster") or {}).get("apiServer")
        if not isinstance(api_server, dict) or api_server.pop("auditPolicy", None) is None:
            raise DriftError(f"{machine.name} has no audit policy to remove")
    ctx.save_site()
    return f"{machine.name}: cluster.apiServer.auditPolicy removed"


SILENCED_GROUP = "system:serviceaccounts"


@drift(
    "audit.silence_group",
    controls=("AUD-01",),
    description=f"one control-plane node's (--node, default the first) audit policy gains a "
    f"first rule level None for userGroups [{SILENCED_GROUP}]: nothing any service account "
    "does is logged",
    takes_node=True,
)
def silence_group(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        policy["rules"].insert(0, {"level": "None", "userGroups": [SILENCED_GROUP]})
        return f"audit rule 'None for group {SILENCED_GROUP}' put first"

    return _edit_policy(ctx, node, "audit.silence_group", edit)


SILENCED_SECRET = "db-password"


@drift(
    "audit.silence_secret_name",
    controls=("AUD-01",),
    description=f"one control-plane node's (--node, default the first) audit policy gains a "
    f"first rule level Metadata for secrets named {SILENCED_SECRET}: its data is not logged",
    takes_node=True,
)
def silence_secret_name(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        rule = {
            "level": "Metadata",
            "resources": [
                {"group": "", "resources": ["secrets"], "resourceNames": [SILENCED_SECRET]}
            ],
        }
        policy["rules"].insert(0, rule)
        return f"audit rule 'Metadata for secret {SILENCED_SECRET}' put first"

    return _edit_policy(ctx, node, "audit.silence_secret_name", edit)


@drift(
    "audit.omit_response_complete",
    controls=("AUD-01",),
    description="one control-plane node's (--node, default the first) audit policy omits "
    "the ResponseComplete stage: no completed request is written",
    takes_node=True,
)
def omit_response_complete(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        policy["omitStages"] = [*(policy.get("omitStages") or []), "ResponseComplete"]
        return "audit policy omitStages gained ResponseComplete"

    return _edit_policy(ctx, node, "audit.omit_response_complete", edit)


@drift(
    "audit.louder_catch_all",
    controls=("AUD-01",),
    description="one control-plane node's (--node, default the first) audit policy's last "
    "rule raised to RequestResponse: every request body is logged",
    takes_node=True,
)
def louder_catch_all(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        policy["rules"][-1] = {**policy["rules"][-1], "level": "RequestResponse"}
        return "the audit policy's last rule raised to RequestResponse"

    return _edit_policy(ctx, node, "audit.louder_catch_all", edit)


@drift(
    "audit.drop_catch_all",
    controls=("AUD-01",),
    description="one control-plane node's (--node, default the first) audit policy's last "
    "(catch-all) rule removed: every other request is not logged at all",
    takes_node=True,
)
def drop_catch_all(ctx: DriftContext, node: str | None) -> str:
    def edit(policy: dict[str, Any]) -> str:
        policy["rules"].pop()
        return "the audit policy's last rule removed"

    return _edit_policy(ctx, node, "audit.drop_catch_all", edit)


def _extra_arg(ctx: DriftContext, node: str | None, name: str, flag: str, value: str) -> str:
    """``talosctl patch machineconfig`` setting cluster.apiServer.extraArgs[flag] on one node."""
    machine = ctx.configured(node, name)
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        cluster.setdefault("apiServer", {}).setdefault("extraArgs", {})[flag] = value
    ctx.save_site()
    return f"{machine.name}: kube-apiserver {flag}={value}"


@drift(
    "audit.log_to_stdout",
    controls=("AUD-01", "AUD-02"),
    description="one control-plane node's (--node, default the first) cluster.apiServer."
    "extraArgs audit-log-path: - (events go to the container's stdout, not the audit log)",
    takes_node=True,
)
def log_to_stdout(ctx: DriftContext, node: str | None) -> str:
    return _extra_arg(ctx, node, "audit.log_to_stdout", "audit-log-path", "-")


@drift(
    "audit.other_policy_file",
    controls=("AUD-01",),
    description="one control-plane node's (--node, default the first) cluster.apiServer."
    "extraArgs audit-policy-file points at another file than the policy Talos writes",
    takes_node=True,
)
def other_policy_file(ctx: DriftContext, node: str | None) -> str:
    path = "/var/lib/audit/policy.yaml"
    return _extra_arg(ctx, node, "audit.other_policy_file", "audit-policy-file", path)
