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
exempt, and so are namespaces being deleted.

CiliumClusterwideNetworkPolicies apply to endpoints of every namespace their
``endpointSelector`` matches, and Cilium unions allow rules across all the
policies selecting an endpoint: a clusterwide rule selecting every endpoint
of a namespace counts exactly as one of its own policies would -- its allow
of ``all`` opens the namespace whatever ``default-deny`` says, and its empty
rule denies by default.  Every endpoint of a namespace carries the labels
``k8s:io.kubernetes.pod.namespace=<name>`` and
``k8s:io.cilium.k8s.namespace.labels.<key>=<value>`` for the namespace's own
labels (https://docs.cilium.io/en/v1.19/security/policy/kubernetes/), so a
selector over those keys alone selects all of a namespace or none of it;
one that also names other labels selects only some endpoints.  Clusterwide
rules with a ``nodeSelector`` are host policies and select no pod.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snap
from checks.findings import Finding, Unobservable
from checks.snapshot import KubeObject, Snapshot, dotted

POLICY_DOC = "https://docs.cilium.io/en/v1.19/security/policy/language/"
CLUSTERWIDE = "CiliumClusterwideNetworkPolicy"
NAMESPACE_KEY = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
_SOURCES = ("k8s:", "any:")
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


def _endpoint_labels(namespace: KubeObject) -> dict[str, str]:
    """The labels every endpoint of *namespace* carries, without their source prefix."""
    meta = namespace.get("metadata") or {}
    labels = {NAMESPACE_KEY: str(meta.get("name", ""))}
    for key, value in (meta.get("labels") or {}).items():
        labels[NAMESPACE_LABELS_PREFIX + str(key)] = str(value)
    return labels


def _bare(key: str) -> str:
    for source in _SOURCES:
        if key.startswith(source):
            return key[len(source) :]
    return key


def _namespace_key(key: str) -> bool:
    return key == NAMESPACE_KEY or key.startswith(NAMESPACE_LABELS_PREFIX)


def _clusterwide_selects_all_of(rule: Mapping[str, Any], namespace: KubeObject) -> bool:
    """Whether a clusterwide *rule* selects every endpoint of *namespace*.

    False when it selects none of them, only some (other label keys), or no
    pods at all (a ``nodeSelector`` host policy).
    """
    selector = rule.get("endpointSelector")
    if not isinstance(selector, Mapping):
        return False
    labels = _endpoint_labels(namespace)
    for key, value in (selector.get("matchLabels") or {}).items():
        bare = _bare(str(key))
        if not _namespace_key(bare) or labels.get(bare) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        bare = _bare(str(expression.get("key", "")))
        if not _namespace_key(bare):
            return False
        value = labels.get(bare)
        values = [str(v) for v in expression.get("values") or []]
        holds = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }.get(str(expression.get("operator")), False)
        if not holds:
            return False
    return True


Covering = list[tuple[str, Mapping[str, Any]]]
"""(how a finding names the policy, rule) for every enforced rule selecting all of a namespace."""


def _covering(
    own: list[KubeObject], clusterwide: Sequence[KubeObject], namespace: KubeObject
) -> Covering:
    rules: Covering = [
        (_name(p), r) for p in own if _valid(p) for r in _rules(p) if _selects_every_endpoint(r)
    ]
    rules += [
        (f"{CLUSTERWIDE} {_name(p)}", r)
        for p in clusterwide
        if _valid(p)
        for r in _rules(p)
        if _clusterwide_selects_all_of(r, namespace)
    ]
    return rules


_K8S_PEERS = {"ingress": "from", "egress": "to"}


def _k8s_types(policy: KubeObject) -> list[str]:
    """The directions a Kubernetes NetworkPolicy isolates (``spec.policyTypes``, defaulted
    as the API server does: Ingress always, Egress when egress rules are given)."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        return [str(t).lower() for t in types]
    return ["ingress", "egress"] if spec.get("egress") else ["ingress"]


def _k8s_selects_all(policy: KubeObject) -> bool:
    selector = dotted(policy, "spec.podSelector", {})
    return isinstance(selector, Mapping) and not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )


def _k8s_rules(k8s: list[KubeObject]) -> Covering:
    """A Kubernetes NetworkPolicy selecting every pod, as the Cilium rule it amounts to.

    Cilium enforces NetworkPolicies beside its own (unioning their allows):
    a direction in ``policyTypes`` isolates the selected pods, and a rule
    with no peers and no ports (``ingress: [{}]``) allows every peer.
    https://kubernetes.io/docs/concepts/services-networking/network-policies/
    """
    rules: Covering = []
    for policy in k8s:
        if not _k8s_selects_all(policy):
            continue
        rule: dict[str, Any] = {"enableDefaultDeny": {}}
        for direction in DIRECTIONS:
            isolated = direction in _k8s_types(policy)
            rule["enableDefaultDeny"][direction] = isolated
            peers = _PEER_ENTITIES[direction]
            opens = isolated and any(
                isinstance(r, Mapping) and not r.get(_K8S_PEERS[direction]) and not r.get("ports")
                for r in dotted(policy, f"spec.{direction}", []) or []
            )
            rule[direction] = [{peers: ["all"]}] if opens else []
        rules.append((f"{K8S_POLICY} {_name(policy)}", rule))
    return rules


K8S_POLICY = "NetworkPolicy"


def _opener(name: str) -> tuple[str, str]:
    """``("clusterwide", name)`` or ``("here", "<plural>/<name>")`` for a finding's policy name."""
    if name.startswith(f"{CLUSTERWIDE} "):
        return "clusterwide", name.removeprefix(f"{CLUSTERWIDE} ")
    if name.startswith(f"{K8S_POLICY} "):
        return "here", f"networkpolicies/{name.removeprefix(f'{K8S_POLICY} ')}"
    return "here", f"ciliumnetworkpolicies/{name}"


def _direction_problem(
    own: list[KubeObject], covering: Covering, direction: str
) -> tuple[str | None, list[tuple[str, str]]]:
    """What keeps *direction* from being default deny for every endpoint, or None; and the
    policies that open it (:func:`_opener`)."""
    opened = sorted({name for name, r in covering if _allows_everything(r, direction)})
    if opened:
        return (
            f"{direction} open to the entity `all` by {', '.join(opened)}",
            [_opener(n) for n in opened],
        )
    if any(_default_deny(r, direction) for _, r in covering):
        return None, []
    reasons = [why for p in own if (why := _why_not(p, direction))]
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return f"{direction} not default deny{detail}", []


@dataclass(frozen=True)
class NamespaceNotDenied(Finding):
    """*namespace* does not deny ingress and egress by default for all its endpoints.

    *opened_by* names the CiliumClusterwideNetworkPolicies that allow ``all``
    into or out of it (a namespace's own default-deny cannot close those);
    *opened_here* the namespace's own policies that do, as ``<plural>/<name>``
    (``ciliumnetworkpolicies/x``, ``networkpolicies/y``).
    """

    namespace: str = ""
    opened_by: tuple[str, ...] = ()
    opened_here: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class PolicyEnforcementOff(Finding):
    """Cilium's own configuration keeps it from enforcing any policy (``key``: ``value``)."""

    key: str = ""
    value: str = ""


CILIUM_CONFIG = "cilium-config"
CILIUM_NAMESPACE = "kube-system"
# cilium-config key -> (the values that keep policies enforced, what else means).
# https://docs.cilium.io/en/v1.19/security/policy/intro/#policy-enforcement-modes and
# https://docs.cilium.io/en/v1.19/security/policy-creation/#enable-policy-audit-mode
_ENFORCEMENT = {
    "enable-policy": (("default", "always"), "Cilium enforces no policy at all"),
    "policy-audit-mode": (("false",), "Cilium logs policy verdicts and drops nothing"),
}


def enforcement_off(snapshot: Snapshot) -> list[Finding]:
    """Findings for a ``cilium-config`` that switches policy enforcement off cluster-wide.

    An absent key means Cilium's default (``default`` mode, no audit mode).
    An absent ConfigMap is Cilium not installed as declared, which the CIL
    controls judge; here it changes nothing.

    :raises Unobservable: the ConfigMaps were not listed.
    """
    config = snap.named(snapshot.objects(snap.CONFIGMAPS), CILIUM_CONFIG, CILIUM_NAMESPACE)
    data = config.get("data") or {}
    findings: list[Finding] = []
    for key, (good, meaning) in _ENFORCEMENT.items():
        value = data.get(key)
        if value is not None and str(value).strip().lower() not in good:
            findings.append(
                PolicyEnforcementOff(
                    f"ConfigMap {CILIUM_NAMESPACE}/{CILIUM_CONFIG}",
                    f"{key}: {' or '.join(good)} (policies enforced in every namespace)",
                    f"{key}: {value} -- {meaning}",
                    POLICY_DOC,
                    key=key,
                    value=str(value),
                )
            )
    return findings


@judged.judges(namespaces=_judged_namespaces)
def default_deny_in_every_namespace(snapshot: Snapshot) -> list[Finding]:
    """Every non-system namespace denies ingress and egress by default for all its endpoints,
    counting its own policies (Cilium's and Kubernetes NetworkPolicies) and every clusterwide
    policy that selects it -- and Cilium enforces policies at all (:func:`enforcement_off`)."""
    try:
        switched_off = enforcement_off(snapshot)
    except Unobservable as exc:
        unseen: str | None = exc.reason
        switched_off = []
    else:
        unseen = None
    findings = switched_off + _namespaces_not_denied(snapshot)
    if unseen is not None and not findings:
        raise Unobservable(unseen)
    return findings


def _namespaces_not_denied(snapshot: Snapshot) -> list[Finding]:
    policies = snapshot.objects(snap.CILIUM_NETWORK_POLICIES)
    clusterwide = snapshot.objects(snap.CILIUM_CLUSTERWIDE_NETWORK_POLICIES)
    k8s_policies = snapshot.objects(snap.NETWORK_POLICIES)
    expected = (
        "ingress and egress default deny for every endpoint (a CiliumNetworkPolicy "
        "with endpointSelector: {}, ingress: [{}], egress: [{}], and no policy allowing all)"
    )
    findings: list[Finding] = []
    for namespace in sorted(_judged(snapshot), key=_name):
        name = _name(namespace)
        in_namespace = sorted(snap.in_namespace(policies, name), key=_name)
        covering = _covering(in_namespace, sorted(clusterwide, key=_name), namespace)
        covering += _k8s_rules(sorted(snap.in_namespace(k8s_policies, name), key=_name))
        opened_by: list[tuple[str, str]] = []
        if not in_namespace and not covering:
            observed = "no CiliumNetworkPolicy"
        else:
            problems = []
            for direction in DIRECTIONS:
                problem, opening = _direction_problem(in_namespace, covering, direction)
                if problem:
                    problems.append(problem)
                    opened_by += opening
            if not problems:
                continue
            observed = "; ".join(problems)
        findings.append(
            NamespaceNotDenied(
                f"Namespace {name}",
                expected,
                observed,
                POLICY_DOC,
                namespace=name,
                opened_by=tuple(dict.fromkeys(n for kind, n in opened_by if kind == "clusterwide")),
                opened_here=tuple(dict.fromkeys(n for kind, n in opened_by if kind == "here")),
            )
        )
    return findings
