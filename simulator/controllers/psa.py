"""PodSecurity admission for the simulated API server: the decision for one request.

What belongs here: the public face of the simulator's PodSecurity plugin --
:func:`admit_pod` (one create/update request in, one :class:`Decision` out),
:func:`pod_spec_of` (which objects carry a pod template) and re-exports of
the pieces it is built from, so handlers import one module.  Pure: no HTTP,
no I/O; the Kubernetes API front end turns a :class:`Decision` into a 403
Status, ``Warning`` headers and audit annotations.

Behaviour follows kubernetes/pod-security-admission at tag
``kubernetes-1.35.2`` (``admission/admission.go`` ``ValidatePod``,
``ValidatePodController``, ``EvaluatePod``; ``admission/response.go``) and the
in-tree plugin wrapper ``plugin/pkg/admission/security/podsecurity``:

* only CREATE and UPDATE are checked; pod subresources ``exec, attach,
  binding, eviction, log, portforward, proxy, status`` and every subresource
  of a controller are not;
* exempt namespace, then exempt user, short-circuit with audit annotation
  ``exempt``; an exempt runtime class does the same after the namespace's
  policy is known;
* a namespace whose three modes are privileged (and whose labels parse) is
  admitted with ``enforce-policy: privileged:latest``;
* Pods are enforced; pod-template-bearing objects (Deployment, DaemonSet,
  StatefulSet, ReplicaSet, ReplicationController, Job, CronJob, PodTemplate)
  get warn/audit only -- the Pod the controller creates later is what gets
  rejected;
* a Pod UPDATE that changes no image and adds no container is not evaluated
  (``isSignificantPodUpdate``);
* no warning is added to a request that is rejected;
* labels that do not parse add an ``error`` audit annotation and fall back
  as ``PolicyToEvaluate`` does (enforce ``restricted``).

Deviations from upstream, deliberate and small: the enforce message takes the
name from ``metadata.name`` as sent (for a ``generateName``-only pod that is
empty and the message reads ``pods is forbidden: ...``; the API layer should
pass the generated name if it assigns one before admission), and the API
server's truncation of very long ``Warning`` headers is left to the HTTP layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from simulator.controllers.psa_config import (
    LABEL_PREFIX,
    PRIVILEGED,
    PRIVILEGED_LATEST,
    LevelVersion,
    NamespacePolicy,
    PodSecurityConfig,
    PodSecurityConfigError,
    evaluate_labels,
    go_quote,
    namespace_policy,
)
from simulator.controllers.psa_podspec import mapping, name_of, text
from simulator.controllers.psa_registry import CheckResult, check_pod, forbidden_detail

__all__ = [
    "CheckResult",
    "Decision",
    "LevelVersion",
    "PodSecurityConfig",
    "PodSecurityConfigError",
    "admit_pod",
    "check_pod",
    "namespace_policy",
    "pod_spec_of",
]

ANNOTATION_ENFORCE_POLICY = LABEL_PREFIX + "enforce-policy"
ANNOTATION_AUDIT_VIOLATIONS = LABEL_PREFIX + "audit-violations"
ANNOTATION_EXEMPT = LABEL_PREFIX + "exempt"
ANNOTATION_ERROR = LABEL_PREFIX + "error"

IGNORED_POD_SUBRESOURCES = frozenset(
    {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
)

# (API group, kind) -> path from the object to its PodTemplateSpec.
_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Decision:
    """What the PodSecurity plugin says about one request.

    ``message`` is the whole Status message the plugin produces, prefix
    included: upstream's ``forbiddenResponse`` wraps the violation in
    ``apierrors.NewForbidden(resource, name, err)``, so the plugin -- not the
    HTTP layer -- writes ``pods "x" is forbidden: violates PodSecurity
    "baseline:latest": privileged (container "c" must not set
    securityContext.privileged=true)``.  The HTTP layer sends it as a 403
    Status with ``reason: Forbidden`` and ``details: {kind: pods, name: x}``.

    ``warnings`` are the raw warning texts (``would violate PodSecurity
    "restricted:latest": ...``); the HTTP layer formats each as a
    ``Warning: 299 - "<text>"`` header.  ``audit_annotations`` carry the
    keys already prefixed with ``pod-security.kubernetes.io/`` as the in-tree
    plugin records them (``enforce-policy``, ``audit-violations``,
    ``exempt``, ``error``).
    """

    allowed: bool
    message: str | None = None
    warnings: tuple[str, ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def _decision(
    allowed: bool = True,
    message: str | None = None,
    warnings: tuple[str, ...] = (),
    annotations: Mapping[str, str] | None = None,
) -> Decision:
    return Decision(allowed, message, warnings, MappingProxyType(dict(annotations or {})))


def _group_kind(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    api_version = obj.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
    return group, text(obj.get("kind"))


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The part of *obj* PodSecurity evaluates: a Pod itself, or a controller's template.

    The result has ``metadata`` and ``spec`` (a Pod, or a PodTemplateSpec) and
    is what :func:`check_pod` takes.  ``None`` when *obj* is not a kind that
    carries a pod spec, or carries no template (upstream skips those).  An
    object without ``apiVersion`` is recognised by kind alone.
    """
    group, kind = _group_kind(obj)
    if kind == "Pod" and group in (None, ""):
        return obj
    for (template_group, template_kind), path in _TEMPLATE_PATHS.items():
        if kind == template_kind and group in (None, template_group):
            node: object = obj
            for key in path:
                node = mapping(node).get(key)
            return node if isinstance(node, Mapping) else None
    return None


def _target(obj: Mapping[str, Any]) -> str | None:
    """``"pod"``, ``"controller"`` (warn/audit only) or ``None`` (not PodSecurity's business)."""
    group, kind = _group_kind(obj)
    if kind == "Pod" and group in (None, ""):
        return "pod"
    if any(kind == k and group in (None, g) for g, k in _TEMPLATE_PATHS):
        return "controller"
    return None


def is_significant_pod_update(pod: Mapping[str, Any], old_pod: Mapping[str, Any]) -> bool:
    """Whether an update can change the verdict: a new image or a new container."""
    spec, old_spec = mapping(pod.get("spec")), mapping(old_pod.get("spec"))
    for key in ("containers", "initContainers"):
        new_list = [mapping(c) for c in _list(spec.get(key))]
        old_list = [mapping(c) for c in _list(old_spec.get(key))]
        if len(new_list) != len(old_list):
            return True
        if any(n.get("image") != o.get("image") for n, o in zip(new_list, old_list, strict=True)):
            return True
    old_ephemeral = {name_of(c): c for c in _list_of_maps(old_spec.get("ephemeralContainers"))}
    for container in _list_of_maps(spec.get("ephemeralContainers")):
        old = old_ephemeral.get(name_of(container))
        if old is None or old.get("image") != container.get("image"):
            return True
    return False


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _list_of_maps(value: object) -> list[Mapping[str, Any]]:
    return [v for v in _list(value) if isinstance(v, Mapping)]


def admit_pod(
    config: PodSecurityConfig,
    namespace: str,
    namespace_labels: Mapping[str, str],
    pod: Mapping[str, Any],
    *,
    username: str = "",
    operation: str = "CREATE",
    subresource: str = "",
    old_pod: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide one request for a Pod or a pod-template-bearing object.

    :param namespace_labels: the labels of *namespace* as stored now.
    :param operation: ``CREATE``, ``UPDATE`` (checked) or anything else (allowed).
    :param old_pod: the stored object, for UPDATE; without it every update is
        treated as significant.
    """
    target = _target(pod)
    is_pod = target == "pod"
    if target is None or operation not in ("CREATE", "UPDATE"):
        return _decision()
    if subresource and (not is_pod or subresource in IGNORED_POD_SUBRESOURCES):
        return _decision()
    if namespace and namespace in config.exempt_namespaces:
        return _decision(annotations={ANNOTATION_EXEMPT: "namespace"})
    if username and username in config.exempt_usernames:
        return _decision(annotations={ANNOTATION_EXEMPT: "user"})
    policy = evaluate_labels(config, namespace_labels)
    if is_pod:
        if not policy.label_errors and policy.is_fully_privileged:
            return _decision(annotations={ANNOTATION_ENFORCE_POLICY: str(PRIVILEGED_LATEST)})
        if (
            operation == "UPDATE"
            and old_pod is not None
            and not is_significant_pod_update(pod, old_pod)
        ):
            return _decision()
    elif not policy.label_errors and policy.warn.level == policy.audit.level == PRIVILEGED:
        return _decision()
    template = pod_spec_of(pod)
    if template is None:
        return _decision()
    return _evaluate(
        config, policy, template, text(mapping(pod.get("metadata")).get("name")), is_pod
    )


def _aggregate_label_errors(errors: tuple[str, ...]) -> str:
    # Upstream's utilerrors.Aggregate: one error as is, several in brackets.
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _evaluate(
    config: PodSecurityConfig,
    policy: NamespacePolicy,
    template: Mapping[str, Any],
    name: str,
    enforce: bool,
) -> Decision:
    runtime_class = mapping(template.get("spec")).get("runtimeClassName")
    if isinstance(runtime_class, str) and runtime_class in config.exempt_runtime_classes:
        return _decision(annotations={ANNOTATION_EXEMPT: "runtimeClass"})
    annotations: dict[str, str] = {}
    if policy.label_errors:
        errors = _aggregate_label_errors(policy.label_errors)
        annotations[ANNOTATION_ERROR] = f"Failed to parse policy: {errors}"
    cache: dict[LevelVersion, list[CheckResult]] = {}

    def results(level: LevelVersion) -> list[CheckResult]:
        if level not in cache:
            cache[level] = check_pod(template, level)
        return cache[level]

    message = None
    if enforce:
        annotations[ANNOTATION_ENFORCE_POLICY] = str(policy.enforce)
        failed = results(policy.enforce)
        if failed:
            subject = f"pods {go_quote(name)}" if name else "pods"
            message = (
                f"{subject} is forbidden: violates PodSecurity "
                f'"{policy.enforce}": {forbidden_detail(failed)}'
            )
    audit_failed = results(policy.audit)
    if audit_failed:
        annotations[ANNOTATION_AUDIT_VIOLATIONS] = (
            f'would violate PodSecurity "{policy.audit}": {forbidden_detail(audit_failed)}'
        )
    warnings: tuple[str, ...] = ()
    if message is None:
        warn_failed = results(policy.warn)
        if warn_failed:
            warnings = (
                f'would violate PodSecurity "{policy.warn}": {forbidden_detail(warn_failed)}',
            )
    return _decision(message is None, message, warnings, annotations)
