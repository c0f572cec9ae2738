"""Cilium 1.19.1 chart: Hubble peer Service, Hubble Relay and Hubble UI.

What belongs here: the objects ``templates/hubble/peer-service.yaml``,
``templates/hubble-relay/*`` and ``templates/hubble-ui/*`` render when
``hubble.enabled`` / ``hubble.relay.enabled`` / ``hubble.ui.enabled`` are set.
The relay ConfigMap text and the Service ports follow
``hubble-relay/configmap.yaml`` and ``hubble-relay/service.yaml``; TLS Secrets
are not rendered (see :mod:`simulator.helm.charts.cilium`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.helm.charts.objects import (
    Manifest,
    bool_,
    get,
    image,
    meta,
    rbac,
    rule,
    service,
    service_account,
    text,
)

_PART_OF = {"app.kubernetes.io/part-of": "cilium"}
_LINUX = {"kubernetes.io/os": "linux"}


def peer_service(values: Mapping[str, Any], namespace: str) -> Manifest:
    """Service ``hubble-peer``: every agent's Hubble server, node-local."""
    peer_port = 443 if bool_(values, "hubble.tls.enabled") else 80
    peer = service(
        "hubble-peer",
        namespace,
        {"k8s-app": "cilium", **_PART_OF, "app.kubernetes.io/name": "hubble-peer"},
        {"k8s-app": "cilium"},
        [
            {
                "name": "peer-service",
                "port": peer_port,
                "protocol": "TCP",
                "targetPort": int(get(values, "hubble.peerService.targetPort", 4244)),
            }
        ],
    )
    peer["spec"]["internalTrafficPolicy"] = "Local"
    return peer


def relay(values: Mapping[str, Any], namespace: str) -> list[Manifest]:
    tls = bool_(values, "hubble.tls.enabled")
    peer_port = 443 if tls else 80
    domain = text(get(values, "hubble.peerService.clusterDomain", "cluster.local"))
    host = text(get(values, "hubble.relay.listenHost", ""))
    listen = f"{host}:{get(values, 'hubble.relay.listenPort')}"
    lines = [
        f"cluster-name: {text(get(values, 'cluster.name', 'default'))}",
        f'peer-service: "hubble-peer.{namespace}.svc.{domain}:{peer_port}"',
        f"listen-address: {listen}",
        f"gops: {text(bool_(values, 'hubble.relay.gops.enabled'))}",
        f'gops-port: "{get(values, "hubble.relay.gops.port", 9893)}"',
    ]
    if tls:
        lines += [
            "tls-client-cert-file: /var/lib/hubble-relay/tls/client.crt",
            "tls-client-key-file: /var/lib/hubble-relay/tls/client.key",
            "tls-hubble-server-ca-files: /var/lib/hubble-relay/tls/hubble-server-ca.crt",
        ]
    else:
        lines.append("disable-client-tls: true")
    server_tls = tls and bool_(values, "hubble.relay.tls.server.enabled")
    if not server_tls:
        lines.append("disable-server-tls: true")
    labels = {"k8s-app": "hubble-relay", "app.kubernetes.io/name": "hubble-relay", **_PART_OF}
    return [
        service_account("hubble-relay", namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("hubble-relay-config", namespace),
            "data": {"config.yaml": "\n".join(lines) + "\n"},
        },
        service(
            "hubble-relay",
            namespace,
            {"k8s-app": "hubble-relay", "app.kubernetes.io/name": "hubble-relay"},
            {"k8s-app": "hubble-relay"},
            [
                {
                    "protocol": "TCP",
                    "port": 443 if server_tls else 80,
                    "targetPort": int(get(values, "hubble.relay.listenPort", 4245)),
                }
            ],
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("hubble-relay", namespace, labels),
            "spec": {
                "replicas": int(get(values, "hubble.relay.replicas", 1)),
                "selector": {"matchLabels": {"k8s-app": "hubble-relay"}},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {
                                "name": "hubble-relay",
                                "image": image(values, "hubble.relay.image"),
                                "command": ["hubble-relay"],
                                "args": ["serve"],
                                "ports": [{"name": "grpc", "containerPort": 4245}],
                            }
                        ],
                        "serviceAccountName": "hubble-relay",
                        "nodeSelector": dict(_LINUX),
                        "volumes": [
                            {"name": "config", "configMap": {"name": "hubble-relay-config"}}
                        ],
                    },
                },
            },
        },
    ]


def ui(values: Mapping[str, Any], namespace: str) -> list[Manifest]:
    labels = {"k8s-app": "hubble-ui", "app.kubernetes.io/name": "hubble-ui", **_PART_OF}
    return [
        service_account("hubble-ui", namespace),
        *rbac(
            "hubble-ui",
            namespace,
            "hubble-ui",
            [
                rule(
                    [""],
                    ["componentstatuses", "endpoints", "namespaces", "nodes", "pods", "services"],
                    ["get", "list", "watch"],
                )
            ],
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("hubble-ui-nginx", namespace),
            "data": {"nginx.conf": "server { listen 8081; }\n"},
        },
        service(
            "hubble-ui",
            namespace,
            {"k8s-app": "hubble-ui", "app.kubernetes.io/name": "hubble-ui"},
            {"k8s-app": "hubble-ui"},
            [{"name": "http", "port": 80, "targetPort": 8081}],
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("hubble-ui", namespace, labels),
            "spec": {
                "replicas": int(get(values, "hubble.ui.replicas", 1)),
                "selector": {"matchLabels": {"k8s-app": "hubble-ui"}},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {
                                "name": "frontend",
                                "image": image(values, "hubble.ui.frontend.image"),
                            },
                            {"name": "backend", "image": image(values, "hubble.ui.backend.image")},
                        ],
                        "serviceAccountName": "hubble-ui",
                        "nodeSelector": dict(_LINUX),
                    },
                },
            },
        },
    ]
