"""Audit controls (AUD-01, AUD-02): the policy as written, then the log as written.

The claim (mission): the API server's audit policy logs secrets and RBAC
writes at ``RequestResponse`` and everything else at ``Metadata``.  An
``audit.k8s.io/v1`` Policy is *first match wins* (k8s-stack.md §5), so the
same rules in another order are another policy: comparing rule lists would
miss that, and comparing texts would flag harmless rewrites.  AUD-01 therefore
asks the policy of every control-plane node (``cluster.apiServer.auditPolicy``;
Talos's default single ``Metadata`` rule when absent) which level it gives a
set of sample requests, with :func:`policy_level`, a small re-implementation
of kube-apiserver's ``policy/checker.go``.  The samples and their expected
levels are the claim itself, so they are the literals of this module.

AUD-02 judges what the log really holds: the probe
(:mod:`fixtures.probe_audit`) creates a labelled test Secret, reads it,
deletes it and collects the audit events about it from every control-plane
node's ``/var/log/audit/kube/kube-apiserver.log``.  Those events are reduced
to :class:`AuditEvent` before they reach here -- a RequestResponse event of a
secret carries the secret's data, which must never reach a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks import judged
from checks.control_plane_config import api_server_configs, node_label, verdict
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot

AUDIT_DOC = "https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/"
AUDIT_POLICY_DOC = (
    "https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/#audit-k8s-io-v1-Policy"
)

REQUEST_RESPONSE = "RequestResponse"
METADATA = "Metadata"
NONE = "None"
STAGE = "ResponseComplete"  # the stage every completed request is logged at
# Talos v1.12 APIServerDefaultAuditPolicy: what runs when auditPolicy is not set.
TALOS_DEFAULT_POLICY: Mapping[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "rules": [{"level": METADATA}],
}
SAMPLE_USER = "conformance-sample-user"
SAMPLE_GROUPS = ("system:authenticated",)
UNAUTHENTICATED = "system:unauthenticated"
# A namespace no rule names, so "every namespace" is judged, not only the named ones.
SAMPLE_NAMESPACE = "conformance-sample-namespace"
# At most this many requests are named per rule in one finding; the rest are counted.
SHOWN_REQUESTS = 12
RBAC_GROUP = "rbac.authorization.k8s.io"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Request:
    """The attributes of one resource request an audit rule can select on."""

    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    user: str = SAMPLE_USER
    groups: tuple[str, ...] = SAMPLE_GROUPS
    context: str = ""  # how this variant differs from the sample: "user x, namespace y"

    def __str__(self) -> str:
        group = f".{self.group}" if self.group else ""
        sub = f"/{self.subresource}" if self.subresource else ""
        where = f" ({self.context})" if self.context else ""
        return f"{self.verb} {self.resource}{group}{sub}{where}"


@dataclass(frozen=True)
class Level:
    """What a policy decides for a request: the level and the rule that decided it."""

    level: str
    rule: int | None  # 0-based index of the first matching rule; None: no rule matched
    omitted: bool  # ResponseComplete is an omitted stage, so nothing is written


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _resource_matches(rule: Mapping[str, Any], request: Request) -> bool:
    namespaces = _strings(rule.get("namespaces"))
    if namespaces and request.namespace not in namespaces:
        return False
    selectors = rule.get("resources")
    if not isinstance(selectors, list) or not selectors:
        return True
    combined = (
        f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    )
    for selector in selectors:
        if not isinstance(selector, Mapping) or str(selector.get("group", "")) != request.group:
            continue
        wanted = _strings(selector.get("resources"))
        if not wanted:
            return True
        names = _strings(selector.get("resourceNames"))
        if names and request.name not in names:
            continue
        for res in wanted:
            if res in ("*", combined):
                return True
            if request.subresource and res == f"*/{request.subresource}":
                return True
            if res.endswith("/*") and res[:-2] == request.resource:
                return True
    return False


def rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    """Whether one PolicyRule selects a resource request (checker.go ``ruleMatches``).

    Groups match exactly, as upstream's checker does (``""`` is core).  A
    rule naming only ``nonResourceURLs`` never selects a resource request.
    """
    users = _strings(rule.get("users"))
    if users and request.user not in users:
        return False
    groups = _strings(rule.get("userGroups"))
    if groups and not set(groups) & set(request.groups):
        return False
    verbs = _strings(rule.get("verbs"))
    if verbs and request.verb not in verbs:
        return False
    if rule.get("namespaces") or rule.get("resources"):
        return _resource_matches(rule, request)
    return not _strings(rule.get("nonResourceURLs"))


def policy_level(policy: Mapping[str, Any], request: Request) -> Level:
    """The level *policy* gives *request*: the first matching rule's, else ``None``."""
    policy_omit = set(_strings(policy.get("omitStages")))
    rules = policy.get("rules")
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, Mapping) and rule_matches(rule, request):
            level = str(rule.get("level") or NONE)
            omitted = level == NONE or STAGE in policy_omit | set(_strings(rule.get("omitStages")))
            return Level(level, index, omitted)
    return Level(NONE, None, True)


@dataclass(frozen=True)
class Classes:
    """Every requester and place a policy's rules tell apart, plus one none of them names.

    A rule selects on users, groups, namespaces and resource names, so two
    requests differing only there can get different levels; judging one
    made-up user in ``default`` would miss a first rule logging nothing for
    ``system:authenticated``, one group or one namespace.
    """

    users: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    namespaces: tuple[str, ...]
    names: tuple[str, ...]


def request_classes(policy: Mapping[str, Any]) -> Classes:
    """The users, group sets, namespaces and names any rule of *policy* mentions."""
    users = [SAMPLE_USER]
    groups: list[tuple[str, ...]] = [SAMPLE_GROUPS]
    namespaces = [SAMPLE_NAMESPACE]
    names: list[str] = []
    rules = policy.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, Mapping):
            continue
        users += _strings(rule.get("users"))
        # An authenticated user is in system:authenticated whatever else it is in.
        groups.extend(
            (group,) if group == UNAUTHENTICATED else (group, *SAMPLE_GROUPS)
            for group in _strings(rule.get("userGroups"))
        )
        namespaces += [n for n in _strings(rule.get("namespaces")) if n]
        selectors = rule.get("resources")
        for selector in selectors if isinstance(selectors, list) else []:
            if isinstance(selector, Mapping):
                names += _strings(selector.get("resourceNames"))
    return Classes(
        tuple(dict.fromkeys(users)),
        tuple(dict.fromkeys(tuple(dict.fromkeys(g)) for g in groups)),
        tuple(dict.fromkeys(namespaces)),
        tuple(dict.fromkeys(names)),
    )


def variants(request: Request, classes: Classes) -> list[Request]:
    """*request* as made by every class of requester, in every namespace and name a rule names.

    The sample itself comes first; cluster-scoped requests stay cluster-scoped
    and requests without a name stay without one.
    """
    namespaces = (
        tuple(dict.fromkeys((request.namespace, *classes.namespaces)))
        if request.namespace
        else ("",)
    )
    names = tuple(dict.fromkeys((request.name, *classes.names))) if request.name else ("",)
    found = []
    for user in classes.users:
        for groups in classes.groups:
            for namespace in namespaces:
                for name in names:
                    context = [
                        f"user {user}" if user != request.user else "",
                        f"groups {', '.join(groups)}" if groups != request.groups else "",
                        f"namespace {namespace}" if namespace != request.namespace else "",
                        f"name {name}" if name != request.name else "",
                    ]
                    found.append(
                        Request(
                            request.verb,
                            request.group,
                            request.resource,
                            namespace,
                            name,
                            request.subresource,
                            user,
                            groups,
                            ", ".join(c for c in context if c),
                        )
                    )
    return found


@dataclass(frozen=True)
class Expectation:
    """A class of requests the claim names, with the level it promises them."""

    what: str
    level: str
    requests: tuple[Request, ...]


def _rbac_writes() -> tuple[Request, ...]:
    namespaced = ("roles", "rolebindings")
    cluster = ("clusterroles", "clusterrolebindings")
    return tuple(
        Request(verb, RBAC_GROUP, resource, "default" if resource in namespaced else "")
        for resource in (*namespaced, *cluster)
        for verb in WRITE_VERBS
    )


EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation(
        "requests on secrets",
        REQUEST_RESPONSE,
        tuple(
            Request(verb, "", "secrets", "default", "" if verb in ("list", "watch") else "s")
            for verb in (*READ_VERBS, *WRITE_VERBS)
        ),
    ),
    Expectation("RBAC writes", REQUEST_RESPONSE, _rbac_writes()),
    Expectation(
        "every other request",
        METADATA,
        (
            Request("get", "", "pods", "default", "p"),
            Request("list", "", "pods", "default"),
            Request("create", "", "configmaps", "default", "c"),
            Request("get", "", "pods", "default", "p", subresource="log"),
            Request("list", "", "nodes"),
            Request("update", "apps", "deployments", "kube-system", "d"),
            Request("get", RBAC_GROUP, "clusterroles", "", "r"),
            Request("list", RBAC_GROUP, "rolebindings", "default"),
        ),
    ),
)


def _describe(policy: Mapping[str, Any], decided: Level) -> str:
    if decided.rule is None:
        return "None (no rule matches)"
    rule = (policy.get("rules") or [])[decided.rule]
    selectors = {k: v for k, v in rule.items() if k != "level"} if isinstance(rule, Mapping) else {}
    shown = f"rule {decided.rule + 1} level {decided.level}"
    shown += f" {selectors}" if selectors else " (matches everything)"
    return shown + (f", {STAGE} omitted" if decided.omitted and decided.level != NONE else "")


def _listed(requests: list[str]) -> str:
    shown = ", ".join(requests[:SHOWN_REQUESTS])
    more = len(requests) - SHOWN_REQUESTS
    return f"{shown} and {more} more" if more > 0 else shown


# The flags Talos gives kube-apiserver for auditing, which cluster.apiServer.extraArgs may
# override (siderolabs/talos internal/app/machined/pkg/controllers/k8s/
# control_plane_static_pod.go: neither is MergeDenied).
TALOS_AUDIT_FLAGS: Mapping[str, tuple[str, str]] = {
    "audit-policy-file": (
        "/system/config/kubernetes/kube-apiserver/auditpolicy.yaml",
        "kube-apiserver reads another policy than cluster.apiServer.auditPolicy",
    ),
    "audit-log-path": (
        "/var/log/audit/kube/kube-apiserver.log",
        "events are not written to the control plane's audit log",
    ),
}
TALOS_FLAGS_DOC = (
    "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/"
)


def _flag_findings(node: str, section: Mapping[str, Any]) -> list[Finding]:
    """An ``extraArgs`` override of an audit flag Talos sets, one finding per flag."""
    extra = section.get("extraArgs")
    findings: list[Finding] = []
    for flag, (talos, meaning) in TALOS_AUDIT_FLAGS.items():
        if not isinstance(extra, Mapping) or flag not in extra:
            continue
        raw = extra[flag]
        value = ",".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        if value != talos:
            findings.append(
                Finding(
                    node,
                    f"{flag} {talos} (as Talos sets it)",
                    f"cluster.apiServer.extraArgs {flag}={value}: {meaning}",
                    TALOS_FLAGS_DOC,
                )
            )
    return findings


@judged.judges(control_plane_nodes=judged.control_planes)
def policy_as_declared(snapshot: Snapshot) -> list[Finding]:
    """Every control-plane node's audit policy gives each sample its promised level.

    Each sample is asked as every class of requester the policy tells apart
    (:func:`request_classes`: each user, group, namespace and resource name a
    rule mentions, plus ones none mentions), so a first rule that logs less
    for one group or namespace fails here.  A level is exact (everything else
    at ``Metadata``, not more) and ``ResponseComplete`` must not be an omitted
    stage.  An ``extraArgs`` override of the policy file or the log path Talos
    sets is a finding too: then the policy judged is not the one that runs, or
    its events do not reach the log.  Configured, not observed (AUD-02
    observes).  One finding per node and class of request, naming the
    requests that get another level and the rule that decides it -- the
    first match, so a broad rule placed early shows up here even when the
    right rule exists further down.
    """
    findings: list[Finding] = []
    configs, unread = api_server_configs(snapshot)
    for config in configs:
        findings += _flag_findings(node_label(config.node), config.section)
        configured = config.section.get("auditPolicy")
        policy = configured if isinstance(configured, Mapping) else TALOS_DEFAULT_POLICY
        source = "" if isinstance(configured, Mapping) else " (no auditPolicy: Talos default)"
        classes = request_classes(policy)
        for expectation in EXPECTATIONS:
            wrong: dict[str, list[str]] = {}
            for sample in expectation.requests:
                for request in variants(sample, classes):
                    decided = policy_level(policy, request)
                    if decided.level != expectation.level or decided.omitted:
                        wrong.setdefault(_describe(policy, decided), []).append(str(request))
            if wrong:
                observed = "; ".join(f"{_listed(reqs)} -> {how}" for how, reqs in wrong.items())
                findings.append(
                    Finding(
                        node_label(config.node),
                        f"{expectation.what} logged at {expectation.level}",
                        observed + source,
                        AUDIT_POLICY_DOC,
                    )
                )
    return verdict(findings, unread)


# -- AUD-02: the behavioural probe ----------------------------------------------------------


@dataclass(frozen=True)
class AuditEvent:
    """An audit event reduced to what the control judges (never request/response bodies)."""

    node: str  # inventory name of the node whose log held it
    verb: str
    level: str
    stage: str
    resource: str
    namespace: str
    name: str


@dataclass(frozen=True)
class AuditProbe:
    """What the AUD-02 probe did and found.

    *error* says why the probe could not run (then nothing else counts);
    *unread* maps a control-plane node to why its log could not be read.
    """

    namespace: str
    secret: str
    events: tuple[AuditEvent, ...] = ()
    logs_read: tuple[str, ...] = ()
    unread: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


def reduce_event(node: str, event: Mapping[str, Any]) -> AuditEvent:
    """Keep verb, objectRef, level and stage of one logged event; drop everything else."""
    ref = event.get("objectRef")
    ref = ref if isinstance(ref, Mapping) else {}
    return AuditEvent(
        node=node,
        verb=str(event.get("verb", "")),
        level=str(event.get("level", "")),
        stage=str(event.get("stage", "")),
        resource=str(ref.get("resource", "")),
        namespace=str(ref.get("namespace", "")),
        name=str(ref.get("name", "")),
    )


@judged.judges(audit_logs=lambda probe, **_: len(probe.logs_read))
def secret_read_logged(probe: AuditProbe) -> list[Finding]:
    """Reading the test secret left an audit event at ``RequestResponse``.

    Observed: the ``get`` of the probe's Secret must appear in some
    control-plane node's audit log (the API server that served it writes
    it) at level RequestResponse.  When no event is found while some logs
    could not be read, the event may be in those: unobservable, not failed.
    """
    if probe.error is not None:
        raise Unobservable(f"the audit probe could not run: {probe.error}")
    target = f"Secret {probe.namespace}/{probe.secret} (get)"
    expected = f"an audit event at {REQUEST_RESPONSE}"
    about = [
        e
        for e in probe.events
        if e.resource == "secrets" and e.namespace == probe.namespace and e.name == probe.secret
    ]
    gets = [e for e in about if e.verb == "get"]
    if any(e.level == REQUEST_RESPONSE for e in gets):
        return []
    unread = "; ".join(f"{node}: {why}" for node, why in sorted(probe.unread.items()))
    if gets:
        seen = ", ".join(sorted({f"{e.level} in the log of {e.node}" for e in gets}))
        return [Finding(target, expected, f"logged at {seen}", AUDIT_DOC)]
    if unread or not probe.logs_read:
        raise Unobservable(
            f"no audit event for the get of {probe.namespace}/{probe.secret} in the logs read "
            f"({', '.join(probe.logs_read) or 'none'}); could not read {unread or 'any log'}"
        )
    others = ", ".join(sorted({f"{e.verb} at {e.level}" for e in about})) or "none"
    return [
        Finding(
            target,
            expected,
            f"no event for the get in the logs of {', '.join(probe.logs_read)} "
            f"(events about the secret: {others})",
            AUDIT_DOC,
        )
    ]
