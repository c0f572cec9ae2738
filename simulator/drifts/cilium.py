"""Cilium drifts (CIL-02, CIL-04, CIL-05): kube-proxy back, KPR off, one operator.

Each edits the object an operator's ``kubectl`` would: a kube-proxy
DaemonSet created in kube-system, ``cilium-config``'s
``kube-proxy-replacement`` key, the ``cilium-operator`` Deployment's replicas.
"""

from __future__ import annotations

from typing import Any

from simulator.drifts import DriftContext, drift

NAMESPACE = "kube-system"
KUBE_PROXY_IMAGE = "registry.k8s.io/kube-proxy:v1.35.2"


def _kube_proxy() -> dict[str, Any]:
    labels = {"k8s-app": "kube-proxy"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "kube-proxy",
                            "image": KUBE_PROXY_IMAGE,
                            "command": ["/usr/local/bin/kube-proxy"],
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }


@drift(
    "cilium.deploy_kube_proxy",
    controls=("CIL-02",),
    description="a kube-proxy DaemonSet (k8s-app=kube-proxy) runs in kube-system",
)
def deploy_kube_proxy(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("cilium.deploy_kube_proxy")
    ctx.store.create(ctx.rt("apps", "v1", "daemonsets"), NAMESPACE, _kube_proxy())
    return "DaemonSet kube-system/kube-proxy created"


@drift(
    "cilium.disable_kpr",
    controls=("CIL-04",),
    description='ConfigMap kube-system/cilium-config says kube-proxy-replacement: "false"',
)
def disable_kpr(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("", "v1", "configmaps")
    ctx.get(rt, NAMESPACE, "cilium-config", "cilium.disable_kpr")
    ctx.merge_patch(rt, NAMESPACE, "cilium-config", {"data": {"kube-proxy-replacement": "false"}})
    return 'cilium-config: kube-proxy-replacement set to "false"'


@drift(
    "cilium.single_operator",
    controls=("CIL-05",),
    description="Deployment kube-system/cilium-operator is scaled to 1 replica",
)
def single_operator(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("apps", "v1", "deployments")
    ctx.get(rt, NAMESPACE, "cilium-operator", "cilium.single_operator")
    ctx.merge_patch(rt, NAMESPACE, "cilium-operator", {"spec": {"replicas": 1}})
    return "Deployment kube-system/cilium-operator scaled to 1 replica"
