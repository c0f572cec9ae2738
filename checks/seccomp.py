"""Seccomp controls: every kubelet defaults to RuntimeDefault (SEC-01), and no container
outside the PodSecurity exemptions opts out (SEC-02).

Judged from each kubelet's *running* configuration (``/configz``), not from the
machine config: Talos maps ``machine.kubelet.defaultRuntimeSeccompProfileEnabled``
to the protected KubeletConfiguration field ``seccompDefault``, and only the
kubelet's own view proves the setting took effect.  The field is a pointer
that defaults to false, so an absent field is a finding too.

A kubelet that was not read (a NotReady or powered-off node) never lets the
control pass.  When the kubelets that answered already show a finding, the
silent ones are listed beside it (the control fails either way, and the
operator sees the whole picture).  When every kubelet that answered conforms,
the control is unobservable, naming the silent nodes and why: failing it
would report TOP-01's node again as a seccomp problem nobody observed.  With
no kubelet read at all the control is unobservable too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks import judged
from checks import snapshot as snapshot_module
from checks.findings import Finding, NodeFinding, NodeUnread, Unobservable
from checks.snapshot import Snapshot

DOC = "https://kubernetes.io/docs/tutorials/security/seccomp/#enable-the-use-of-runtimedefault-as-the-default-seccomp-profile-for-all-workloads"
FIELD = "seccompDefault"


@dataclass(frozen=True)
class SeccompDefaultOff(NodeFinding):
    """A node's running kubelet does not default containers to RuntimeDefault."""


@judged.judges(nodes=judged.nodes)
def seccomp_default_on_every_node(snapshot: Snapshot) -> list[Finding]:
    """``seccompDefault`` is true in every inventory node's running kubelet config."""
    snapshot.require(snapshot_module.CONFIGZ)
    nodes = snapshot.definition.nodes
    if not any(node.name in snapshot.configz for node in nodes):
        raise Unobservable("no node's kubelet configuration (configz) was read")
    unread = snapshot.unread_nodes(snapshot_module.CONFIGZ)
    findings: list[Finding] = []
    silent: list[Finding] = []
    expected = f"{FIELD}: true"
    for node in nodes:
        target = f"{node.name} ({node.hostname}) kubelet"
        config = snapshot.configz.get(node.name)
        if config is None:
            why = unread.get(node.name, "no answer")
            silent.append(
                NodeUnread(
                    target, expected, f"kubelet configuration not read: {why}", DOC, node=node.name
                )
            )
        elif FIELD not in config:
            findings.append(
                SeccompDefaultOff(
                    target, expected, f"{FIELD} unset (defaults to false)", DOC, node=node.name
                )
            )
        elif config[FIELD] is not True:
            value = config[FIELD]
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            findings.append(
                SeccompDefaultOff(target, expected, f"{FIELD}: {shown}", DOC, node=node.name)
            )
    if silent and not findings:
        raise Unobservable(
            "; ".join(f"{f.target}: {f.observed}" for f in silent)
            + f" (the {len(nodes) - len(silent)} kubelets read have {FIELD} enabled)"
        )
    return findings + silent


# -- SEC-02: no container outside the exemptions runs unconfined ------------------------------

SECCOMP_DOC = "https://kubernetes.io/docs/tutorials/security/seccomp/"
UNCONFINED = "Unconfined"
# The pre-1.19 annotations, judged beside the fields: a pod may carry only them.
POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_DONE = ("Succeeded", "Failed")


@dataclass(frozen=True)
class UnconfinedContainer(Finding):
    """A container of a pod outside the exempt namespaces that runs without a seccomp filter."""

    namespace: str = ""
    pod: str = ""
    container: str = ""


def _profile(context: object) -> str | None:
    if not isinstance(context, Mapping):
        return None
    profile = context.get("seccompProfile")
    kind = profile.get("type") if isinstance(profile, Mapping) else None
    return str(kind) if kind else None


def unconfined_reason(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    """Why *container* runs unconfined, or None when it gets a seccomp filter.

    The kubelet's order (kuberuntime ``getSeccompProfile``): a privileged
    container is always unconfined; else the container's field, else the
    pod's; the legacy annotations say the same where only they are set; with
    nothing set, SEC-01's ``seccompDefault`` gives RuntimeDefault.
    """
    name = str(container.get("name", ""))
    context = container.get("securityContext")
    if isinstance(context, Mapping) and context.get("privileged") is True:
        return "securityContext.privileged: true (privileged containers always run Unconfined)"
    own = _profile(context)
    if own is not None:
        return f"securityContext.seccompProfile.type: {own}" if own == UNCONFINED else None
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    legacy = annotations.get(CONTAINER_ANNOTATION + name)
    if legacy is not None:
        return (
            f"annotation {CONTAINER_ANNOTATION}{name}: {legacy}" if legacy == "unconfined" else None
        )
    spec = pod.get("spec") or {}
    pod_level = _profile(spec.get("securityContext"))
    if pod_level is not None:
        return (
            f"pod securityContext.seccompProfile.type: {pod_level}"
            if pod_level == UNCONFINED
            else None
        )
    legacy = annotations.get(POD_ANNOTATION)
    if legacy == "unconfined":
        return f"annotation {POD_ANNOTATION}: {legacy}"
    return None


def _regular_namespaces(snapshot: Snapshot, **_: object) -> int:
    exempt = set(snapshot.definition.security.exempt_namespaces)
    return sum(
        1
        for n in snapshot.objects(snapshot_module.NAMESPACES)
        if (n.get("metadata") or {}).get("name") not in exempt
    )


@judged.judges(namespaces=_regular_namespaces)
def no_unconfined_containers(snapshot: Snapshot) -> list[Finding]:
    """No container of a live pod outside the PodSecurity-exempt namespaces runs unconfined.

    PodSecurity baseline refuses such pods at admission, but a namespace
    labelled privileged, an exempt user or runtime class, or a pod admitted
    before enforcement gets them in; this judges what runs.  Every pod not
    finished (a Pending pod runs as specified once scheduled), every kind of
    container.  The exempt namespaces (declared for components that need
    privileged pods) are not judged.
    """
    exempt = set(snapshot.definition.security.exempt_namespaces)
    findings: list[Finding] = []
    for pod in snapshot.objects(snapshot_module.PODS):
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if namespace in exempt or (pod.get("status") or {}).get("phase") in _DONE:
            continue
        spec = pod.get("spec") or {}
        for key in _CONTAINER_LISTS:
            for container in spec.get(key) or []:
                if not isinstance(container, Mapping):
                    continue
                why = unconfined_reason(pod, container)
                if why is None:
                    continue
                cname = str(container.get("name", ""))
                findings.append(
                    UnconfinedContainer(
                        f"Pod {namespace}/{name} container {cname}",
                        "RuntimeDefault or Localhost seccomp profile "
                        f"(namespace {namespace} is not exempt from PodSecurity)",
                        why,
                        SECCOMP_DOC,
                        namespace=namespace,
                        pod=name,
                        container=cname,
                    )
                )
    return findings
