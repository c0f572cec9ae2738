"""Seccomp drift (SEC-01): a node's kubelet no longer defaults to RuntimeDefault."""

from __future__ import annotations

from typing import Any

from simulator.drifts import DriftContext, drift, edit_config, v1alpha1
from simulator.kube.errors import ApiError

NAME = "seccomp.disable_default"


@drift(
    NAME,
    controls=("SEC-01",),
    description="a node's applied config (--node, default the first) sets "
    "machine.kubelet.defaultRuntimeSeccompProfileEnabled: false",
    takes_node=True,
)
def disable_default(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, NAME)
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].setdefault("kubelet", {})
        kubelet["defaultRuntimeSeccompProfileEnabled"] = False
    ctx.save_site()
    return f"{machine.name}: machine.kubelet.defaultRuntimeSeccompProfileEnabled set to false"


OMIT = "seccomp.omit_default"


@drift(
    OMIT,
    controls=("SEC-01",),
    description="a node's applied config (--node, default the first) no longer sets "
    "machine.kubelet.defaultRuntimeSeccompProfileEnabled: the kubelet's default, false, applies",
    takes_node=True,
)
def omit_default(ctx: DriftContext, node: str | None) -> str:
    machine = ctx.configured(node, OMIT)
    with edit_config(machine) as docs:
        kubelet = v1alpha1(docs, machine)["machine"].setdefault("kubelet", {})
        kubelet.pop("defaultRuntimeSeccompProfileEnabled", None)
    ctx.save_site()
    return f"{machine.name}: machine.kubelet.defaultRuntimeSeccompProfileEnabled removed"


LEGACY_NAMESPACE = "batch"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"


def _pod(
    name: str, pod_context: dict[str, Any], container_context: dict[str, Any]
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "registry.k8s.io/pause:3.10"}
    if container_context:
        container["securityContext"] = container_context
    spec: dict[str, Any] = {"containers": [container]}
    if pod_context:
        spec["securityContext"] = pod_context
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _in_privileged_namespace(ctx: DriftContext, drift_name: str, pod: dict[str, Any]) -> str:
    """``kubectl create namespace batch; kubectl label ... enforce=privileged; kubectl apply``:
    PodSecurity then admits what baseline refuses."""
    ctx.require_provisioned(drift_name)
    namespaces = ctx.rt("", "v1", "namespaces")
    try:
        ctx.store.get(namespaces, "", LEGACY_NAMESPACE)
    except ApiError:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": LEGACY_NAMESPACE, "labels": {ENFORCE_LABEL: "privileged"}},
        }
        ctx.store.create(namespaces, "", body)
    pod["metadata"]["namespace"] = LEGACY_NAMESPACE
    ctx.store.create(ctx.rt("", "v1", "pods"), LEGACY_NAMESPACE, pod)
    name = pod["metadata"]["name"]
    return f"Pod {LEGACY_NAMESPACE}/{name} created in a namespace labelled privileged"


@drift(
    "seccomp.unconfined_pod",
    controls=("SEC-02",),
    description=f"a pod legacy-job in a namespace {LEGACY_NAMESPACE} labelled privileged sets "
    "spec.securityContext.seccompProfile.type: Unconfined",
)
def unconfined_pod(ctx: DriftContext, node: str | None) -> str:
    pod = _pod("legacy-job", {"seccompProfile": {"type": "Unconfined"}}, {})
    return _in_privileged_namespace(ctx, "seccomp.unconfined_pod", pod)


@drift(
    "seccomp.unconfined_container",
    controls=("SEC-02",),
    description=f"a pod debug in namespace {LEGACY_NAMESPACE} (labelled privileged) whose "
    "container sets securityContext.seccompProfile.type: Unconfined",
)
def unconfined_container(ctx: DriftContext, node: str | None) -> str:
    pod = _pod("debug", {}, {"seccompProfile": {"type": "Unconfined"}})
    return _in_privileged_namespace(ctx, "seccomp.unconfined_container", pod)


@drift(
    "seccomp.privileged_container",
    controls=("SEC-02",),
    description=f"a pod tool in namespace {LEGACY_NAMESPACE} (labelled privileged) with a "
    "privileged container, which always runs unconfined",
)
def privileged_container(ctx: DriftContext, node: str | None) -> str:
    pod = _pod("tool", {}, {"privileged": True})
    return _in_privileged_namespace(ctx, "seccomp.privileged_container", pod)


@drift(
    "seccomp.unconfined_annotation",
    controls=("SEC-02",),
    description=f"a pod old-app in namespace {LEGACY_NAMESPACE} (labelled privileged) annotated "
    "seccomp.security.alpha.kubernetes.io/pod: unconfined",
)
def unconfined_annotation(ctx: DriftContext, node: str | None) -> str:
    pod = _pod("old-app", {}, {})
    pod["metadata"]["annotations"] = {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
    return _in_privileged_namespace(ctx, "seccomp.unconfined_annotation", pod)
