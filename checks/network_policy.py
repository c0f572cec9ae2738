"""Network-policy control (NP-01): every workload namespace denies traffic by default.

Cilium lets an endpoint talk to anything until a policy selects it; the
reference cluster therefore ships, per non-system namespace, a
CiliumNetworkPolicy selecting every endpoint with one empty ingress and one
empty egress rule (``cluster/manifests/default-deny.yaml``).

The check judges what the policies do, not what they are called, following
Cilium 1.19's rule semantics (k8s-stack.md §1.6): a rule puts the endpoints it
selects into default deny for a direction when ``enableDefaultDeny`` says so,
or, when that is unset, when it has at least one rule for that direction
(``ingress``/``ingressDeny``, ``egress``/``egressDeny``).  So ``ingress: [{}]``
denies and ``ingress: []`` is a no-op.  Only rules whose ``endpointSelector``
is empty cover the whole namespace, a policy Cilium marked not Valid is not
enforced, and an allow rule for the entity ``all`` with no port restriction
undoes the default deny.  Namespaces in ``security.system_namespaces`` are
exempt, and so are namespaces being deleted.  CiliumClusterwideNetworkPolicies
are not read: the claim is about per-namespace policies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snap
from checks.findings import Finding
from checks.snapshot import KubeObject, Snapshot, dotted

POLICY_DOC = "https://docs.cilium.io/en/v1.19/security/policy/language/"
DIRECTIONS = ("ingress", "egress")
_PEER_ENTITIES = {"ingress": "fromEntities", "egress": "toEntities"}


def _name(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _terminating(namespace: KubeObject) -> bool:
    return bool(
        (namespace.get("metadata") or {}).get("deletionTimestamp")
        or dotted(namespace, "status.phase") == "Terminating"
    )


def _rules(policy: KubeObject) -> Iterator[Mapping[str, Any]]:
    """The rules of a policy: ``spec`` and each of ``specs``."""
    spec = policy.get("spec")
    if isinstance(spec, Mapping):
        yield spec
    for rule in policy.get("specs") or []:
        if isinstance(rule, Mapping):
            yield rule


def _valid(policy: KubeObject) -> bool:
    """False only when Cilium has marked the policy not Valid (so it is not enforced)."""
    conditions = dotted(policy, "status.conditions", []) or []
    return not any(c.get("type") == "Valid" and c.get("status") == "False" for c in conditions)


def _selects_every_endpoint(rule: Mapping[str, Any]) -> bool:
    selector = rule.get("endpointSelector")
    return (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    )


def _default_deny(rule: Mapping[str, Any], direction: str) -> bool:
    """Whether *rule* asks for default deny in *direction* (Cilium's ``enableDefaultDeny``)."""
    explicit = dotted(rule, f"enableDefaultDeny.{direction}")
    if isinstance(explicit, bool):
        return explicit
    return bool(rule.get(direction)) or bool(rule.get(f"{direction}Deny"))


def _allows_everything(rule: Mapping[str, Any], direction: str) -> bool:
    """An allow rule for the entity ``all`` on every port: the default deny is moot."""
    return any(
        isinstance(peer, Mapping)
        and "all" in (peer.get(_PEER_ENTITIES[direction]) or [])
        and not peer.get("toPorts")
        for peer in rule.get(direction) or []
    )


def _why_not(policy: KubeObject, direction: str) -> str | None:
    """Why a policy that mentions *direction* does not make it default deny, or None."""
    name = _name(policy)
    mentions = [
        r
        for r in _rules(policy)
        if direction in r
        or f"{direction}Deny" in r
        or dotted(r, f"enableDefaultDeny.{direction}") is not None
    ]
    if not mentions:
        return None
    if not _valid(policy):
        return f"{name} is not Valid"
    for rule in mentions:
        if not _selects_every_endpoint(rule):
            return f"{name} selects only some endpoints"
        if dotted(rule, f"enableDefaultDeny.{direction}") is False:
            return f"{name} sets enableDefaultDeny.{direction} false"
        if not _default_deny(rule, direction):
            return f"{name} has an empty {direction} list, which Cilium ignores"
    return None


def _direction_problem(policies: list[KubeObject], direction: str) -> str | None:
    """What keeps *direction* from being default deny for every endpoint, or None."""
    enforced = [p for p in policies if _valid(p)]
    opened = [
        _name(p)
        for p in enforced
        for r in _rules(p)
        if _selects_every_endpoint(r) and _allows_everything(r, direction)
    ]
    if opened:
        return f"{direction} open to the entity `all` by {', '.join(sorted(set(opened)))}"
    if any(
        _selects_every_endpoint(r) and _default_deny(r, direction)
        for p in enforced
        for r in _rules(p)
    ):
        return None
    reasons = [why for p in policies if (why := _why_not(p, direction))]
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return f"{direction} not default deny{detail}"


@dataclass(frozen=True)
class NamespaceNotDenied(Finding):
    """*namespace* does not deny ingress and egress by default for all its endpoints."""

    namespace: str = ""


def _judged(snapshot: Snapshot) -> list[KubeObject]:
    """The namespaces NP-01 judges: every one not exempt (system) and not terminating."""
    exempt = set(snapshot.definition.security.system_namespaces)
    return [
        n
        for n in snapshot.objects(snap.NAMESPACES)
        if _name(n) not in exempt and not _terminating(n)
    ]


def _judged_namespaces(snapshot: Snapshot, **_: object) -> int:
    return len(_judged(snapshot))


@judged.judges(namespaces=_judged_namespaces)
def default_deny_in_every_namespace(snapshot: Snapshot) -> list[Finding]:
    """Every non-system namespace denies ingress and egress by default for all its endpoints."""
    policies = snapshot.objects(snap.CILIUM_NETWORK_POLICIES)
    expected = (
        "ingress and egress default deny for every endpoint (a CiliumNetworkPolicy "
        "with endpointSelector: {}, ingress: [{}], egress: [{}])"
    )
    findings: list[Finding] = []
    for namespace in sorted(_judged(snapshot), key=_name):
        name = _name(namespace)
        in_namespace = sorted(snap.in_namespace(policies, name), key=_name)
        if not in_namespace:
            observed = "no CiliumNetworkPolicy"
        else:
            problems = [p for d in DIRECTIONS if (p := _direction_problem(in_namespace, d))]
            if not problems:
                continue
            observed = "; ".join(problems)
        findings.append(
            NamespaceNotDenied(f"Namespace {name}", expected, observed, POLICY_DOC, namespace=name)
        )
    return findings
