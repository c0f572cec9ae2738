"""Cilium 1.19.1 chart: the agent, operator and Envoy workloads.

What belongs here: the DaemonSet ``cilium`` (agent), the Deployment
``cilium-operator`` and the ``cilium-envoy`` DaemonSet with its ConfigMap and
metrics Service, as ``templates/cilium-agent/daemonset.yaml``,
``templates/cilium-operator/deployment.yaml`` and ``templates/cilium-envoy/*``
render them (facts/k8s-stack.md section 1.3).  Split from
:mod:`simulator.helm.charts.cilium` to keep each module small; see there for
the deviations from the real chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.helm.charts import RenderError
from simulator.helm.charts.objects import (
    Manifest,
    bool_,
    field_env,
    get,
    host_path,
    image,
    meta,
    service,
    service_account,
    text,
)

AGENT_TEMPLATE = "cilium/templates/cilium-agent/daemonset.yaml"
_PART_OF = {"app.kubernetes.io/part-of": "cilium"}
_LINUX = {"kubernetes.io/os": "linux"}
_EXISTS = [{"operator": "Exists"}]


def service_env(values: Mapping[str, Any]) -> list[Manifest]:
    host = text(get(values, "k8sServiceHost", ""))
    if host == "auto":
        raise RenderError(
            AGENT_TEMPLATE,
            "k8sServiceHost: auto needs a lookup of kube-public/cluster-info, which the"
            " simulator's renderer does not do; set the host explicitly",
        )
    if not host:
        return []
    return [
        {"name": "KUBERNETES_SERVICE_HOST", "value": host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": text(get(values, "k8sServicePort", ""))},
    ]


def agent(values: Mapping[str, Any], namespace: str) -> Manifest:
    name = text(get(values, "name", "cilium"))
    labels = {"k8s-app": "cilium", **_PART_OF, "app.kubernetes.io/name": "cilium-agent"}
    caps = get(values, "securityContext.capabilities", {})
    env = [
        field_env("K8S_NODE_NAME", "spec.nodeName"),
        field_env("CILIUM_K8S_NAMESPACE", "metadata.namespace"),
        *service_env(values),
    ]
    init: list[Manifest] = [
        {
            "name": "config",
            "image": image(values, "image"),
            "command": ["cilium-dbg", "build-config"],
            "env": list(env),
        }
    ]
    if bool_(values, "cgroup.autoMount.enabled"):
        init.append(
            {
                "name": "mount-cgroup",
                "image": image(values, "image"),
                "env": [{"name": "CGROUP_ROOT", "value": get(values, "cgroup.hostRoot")}],
                "securityContext": {
                    "capabilities": {"add": list(caps.get("mountCgroup", [])), "drop": ["ALL"]}
                },
            }
        )
    init.append(
        {
            "name": "clean-cilium-state",
            "image": image(values, "image"),
            "command": ["/init-container.sh"],
            "securityContext": {
                "capabilities": {"add": list(caps.get("cleanCiliumState", [])), "drop": ["ALL"]}
            },
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name, namespace, labels),
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "cilium"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "cilium-agent",
                            "image": image(values, "image"),
                            "command": ["cilium-agent"],
                            "args": ["--config-dir=/tmp/cilium/config-map"],
                            "env": env,
                            "securityContext": {
                                "capabilities": {
                                    "add": list(caps.get("ciliumAgent", [])),
                                    "drop": ["ALL"],
                                }
                            },
                            "volumeMounts": [
                                {"name": "cilium-run", "mountPath": "/var/run/cilium"},
                                {"name": "bpf-maps", "mountPath": "/sys/fs/bpf"},
                                {
                                    "name": "cilium-config-path",
                                    "mountPath": "/tmp/cilium/config-map",
                                },
                            ],
                        }
                    ],
                    "initContainers": init,
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "cilium",
                    "automountServiceAccountToken": True,
                    "terminationGracePeriodSeconds": 1,
                    "nodeSelector": dict(_LINUX),
                    "tolerations": list(_EXISTS),
                    "volumes": [
                        host_path("cilium-run", "/var/run/cilium"),
                        host_path("bpf-maps", "/sys/fs/bpf"),
                        host_path("cilium-cgroup", text(get(values, "cgroup.hostRoot"))),
                        host_path("cni-path", "/opt/cni/bin"),
                        host_path("etc-cni-netd", "/etc/cni/net.d"),
                        {"name": "cilium-config-path", "configMap": {"name": "cilium-config"}},
                    ],
                },
            },
        },
    }


def operator(values: Mapping[str, Any], namespace: str) -> Manifest:
    selector = {"io.cilium/app": "operator", "name": "cilium-operator"}
    labels = {**selector, **_PART_OF, "app.kubernetes.io/name": "cilium-operator"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("cilium-operator", namespace, labels),
        "spec": {
            "replicas": int(get(values, "operator.replicas", 2)),
            "selector": {"matchLabels": dict(selector)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "50%"},
            },
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "cilium-operator",
                            "image": image(values, "operator.image"),
                            "command": ["cilium-operator-generic"],
                            "args": [
                                "--config-dir=/tmp/cilium/config-map",
                                "--debug=$(CILIUM_DEBUG)",
                            ],
                            "env": [
                                field_env("K8S_NODE_NAME", "spec.nodeName"),
                                field_env("CILIUM_K8S_NAMESPACE", "metadata.namespace"),
                                {
                                    "name": "CILIUM_DEBUG",
                                    "valueFrom": {
                                        "configMapKeyRef": {
                                            "key": "debug",
                                            "name": "cilium-config",
                                            "optional": True,
                                        }
                                    },
                                },
                                *service_env(values),
                            ],
                        }
                    ],
                    "hostNetwork": True,
                    "serviceAccountName": "cilium-operator",
                    "priorityClassName": "system-cluster-critical",
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": {"io.cilium/app": "operator"}},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "nodeSelector": dict(_LINUX),
                    "tolerations": list(_EXISTS),
                },
            },
        },
    }


def envoy(values: Mapping[str, Any], namespace: str) -> list[Manifest]:
    labels = {
        "k8s-app": "cilium-envoy",
        **_PART_OF,
        "app.kubernetes.io/name": "cilium-envoy",
        "name": "cilium-envoy",
    }
    out: list[Manifest] = [
        service_account("cilium-envoy", namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("cilium-envoy-config", namespace),
            # Placeholder: the real bootstrap is a large Envoy JSON document.
            "data": {"bootstrap-config.json": '{"node":{"id":"host~127.0.0.1~no-id~localdomain"}}'},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": meta("cilium-envoy", namespace, labels),
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "cilium-envoy"}},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {
                                "name": "cilium-envoy",
                                "image": image(values, "envoy.image"),
                                "command": ["/usr/bin/cilium-envoy-starter"],
                            }
                        ],
                        "hostNetwork": True,
                        "serviceAccountName": "cilium-envoy",
                        "priorityClassName": "system-node-critical",
                        "nodeSelector": dict(_LINUX),
                        "tolerations": list(_EXISTS),
                    },
                },
            },
        },
    ]
    if bool_(values, "envoy.prometheus.enabled"):
        port = int(get(values, "envoy.prometheus.port", 9964))
        out.append(
            service(
                "cilium-envoy",
                namespace,
                {"k8s-app": "cilium-envoy", "app.kubernetes.io/name": "cilium-envoy"},
                {"k8s-app": "cilium-envoy"},
                [
                    {
                        "name": "envoy-metrics",
                        "port": port,
                        "protocol": "TCP",
                        "targetPort": "envoy-metrics",
                    }
                ],
                headless=True,
            )
        )
    return out
