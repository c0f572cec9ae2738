"""The cilium/cilium 1.19.1 chart, rendered in Python for the simulator.

What belongs here: the chart defaults the renderer reads and :func:`render`,
which turns coalesced values into the objects ``helm template`` would emit
for them.  Sources: facts/k8s-stack.md sections 1.1-1.3 (read from the chart's
``templates/cilium-configmap.yaml``, ``cilium-agent/daemonset.yaml``,
``cilium-operator/deployment.yaml``, ``hubble-relay/*``) and cilium/cilium's
``install/kubernetes/cilium/templates`` for the hubble-relay ConfigMap and
Services and the ``cilium-config-agent`` Role.

Why partial: checks read ``cilium-config``, the agent/operator/relay
workloads' labels, env, capabilities, replicas and anti-affinity.  Those are
rendered as the chart does; the rest is abbreviated.  Deviations, on purpose:

* No CRDs: the Cilium operator installs them at start-up, not Helm.
* No Secrets: with ``hubble.tls.auto.method: helm`` the chart generates
  ``cilium-ca``, ``hubble-server-certs`` and ``hubble-relay-client-certs``
  with random keys; the simulator has no Hubble TLS to serve, and the suite
  checks none of them, so they are left out rather than faked.
* RBAC rules are abbreviated (names and bindings are the chart's); the
  cilium-envoy bootstrap and hubble-ui nginx ConfigMaps hold placeholders.
* Images carry tags but no digests; the hubble-ui and cilium-envoy tags are
  not verified against the 1.19.1 ``values.yaml``.
* ``k8sServiceHost: auto`` needs a live ``lookup`` of ``kube-public/cluster-info``
  and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.helm.charts import Chart, RenderError, cilium_hubble, cilium_workloads
from simulator.helm.charts.objects import (
    Manifest,
    bool_,
    get,
    meta,
    rbac,
    rule,
    service_account,
    text,
)

VERSION = "1.19.1"
_CONFIGMAP_TEMPLATE = "cilium/templates/cilium-configmap.yaml"


_AGENT_CAPS = [
    "CHOWN",
    "KILL",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "SYS_MODULE",
    "SYS_ADMIN",
    "SYS_RESOURCE",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
    "SYSLOG",
]

DEFAULTS: dict[str, Any] = {
    "name": "cilium",
    "debug": {"enabled": False},
    "cluster": {"name": "default", "id": 0},
    "image": {"repository": "quay.io/cilium/cilium", "tag": f"v{VERSION}"},
    "kubeProxyReplacement": "false",
    "k8sServiceHost": "",
    "k8sServicePort": "",
    "k8sClientRateLimit": {"qps": None, "burst": None},
    "ipam": {"mode": "cluster-pool"},
    "routingMode": "tunnel",
    "tunnelProtocol": "vxlan",
    "policyEnforcementMode": "default",
    "enableLBIPAM": True,
    "defaultLBServiceIPAM": "lbipam",
    "ipv4": {"enabled": True},
    "ipv6": {"enabled": False},
    "cgroup": {"autoMount": {"enabled": True}, "hostRoot": "/run/cilium/cgroupv2"},
    "securityContext": {
        "capabilities": {
            "ciliumAgent": list(_AGENT_CAPS),
            "mountCgroup": ["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"],
            "applySysctlOverwrites": ["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"],
            "cleanCiliumState": ["NET_ADMIN", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE"],
        }
    },
    "l2announcements": {"enabled": False},
    "hubble": {
        "enabled": True,
        "socketPath": "/var/run/cilium/hubble.sock",
        "listenAddress": ":4244",
        "tls": {"enabled": True},
        "peerService": {"clusterDomain": "cluster.local", "targetPort": 4244},
        "relay": {
            "enabled": False,
            "replicas": 1,
            "listenHost": "",
            "listenPort": "4245",
            "image": {"repository": "quay.io/cilium/hubble-relay", "tag": f"v{VERSION}"},
            "tls": {"server": {"enabled": False}},
            "gops": {"enabled": True, "port": 9893},
        },
        "ui": {
            "enabled": False,
            "replicas": 1,
            "frontend": {"image": {"repository": "quay.io/cilium/hubble-ui", "tag": "v0.13.3"}},
            "backend": {
                "image": {"repository": "quay.io/cilium/hubble-ui-backend", "tag": "v0.13.3"}
            },
        },
    },
    "envoy": {
        "enabled": True,
        "image": {"repository": "quay.io/cilium/cilium-envoy", "tag": "v1.35-unverified"},
        "prometheus": {"enabled": True, "port": "9964"},
    },
    "operator": {
        "enabled": True,
        "replicas": 2,
        "image": {"repository": "quay.io/cilium/operator-generic", "tag": f"v{VERSION}"},
    },
}


def kube_proxy_replacement(values: Mapping[str, Any]) -> str:
    """The KPR value as the template prints it, or the template's failure.

    :raises RenderError: anything but ``true``/``false`` (bool or string),
        as ``templates/cilium-configmap.yaml`` fails the render.
    """
    printed = text(values.get("kubeProxyReplacement", ""))
    if printed not in ("true", "false"):
        raise RenderError(
            _CONFIGMAP_TEMPLATE,
            "kubeProxyReplacement must be explicitly set to a valid value (true or false)"
            " to continue.",
        )
    return printed


def cilium_config(values: Mapping[str, Any]) -> dict[str, str]:
    """The ``cilium-config`` data for *values* (all strings, keys of section 1.2)."""
    kpr = kube_proxy_replacement(values)
    data: dict[str, str] = {
        "identity-allocation-mode": "crd",
        "debug": text(bool_(values, "debug.enabled")),
        "cluster-name": text(get(values, "cluster.name", "default")),
        "cluster-id": text(get(values, "cluster.id", 0)),
        "enable-ipv4": text(bool_(values, "ipv4.enabled")),
        "enable-ipv6": text(bool_(values, "ipv6.enabled")),
        "enable-policy": text(get(values, "policyEnforcementMode", "default")),
        "routing-mode": text(get(values, "routingMode", "tunnel")),
        "tunnel-protocol": text(get(values, "tunnelProtocol", "vxlan")),
        "ipam": text(get(values, "ipam.mode", "cluster-pool")),
        "kube-proxy-replacement": kpr,
        "cgroup-root": text(get(values, "cgroup.hostRoot", "/run/cilium/cgroupv2")),
        "enable-lb-ipam": text(bool_(values, "enableLBIPAM")),
        "default-lb-service-ipam": text(get(values, "defaultLBServiceIPAM", "lbipam")),
        "enable-hubble": text(bool_(values, "hubble.enabled")),
        "external-envoy-proxy": text(bool_(values, "envoy.enabled")),
    }
    if kpr == "true":
        data["kube-proxy-replacement-healthz-bind-address"] = ""
    if bool_(values, "hubble.enabled"):
        data["hubble-socket-path"] = text(get(values, "hubble.socketPath"))
        data["hubble-listen-address"] = text(get(values, "hubble.listenAddress"))
        data["hubble-disable-tls"] = text(not bool_(values, "hubble.tls.enabled"))
    if bool_(values, "l2announcements.enabled"):
        data["enable-l2-announcements"] = "true"
        for value_key, config_key in (
            ("leaseDuration", "l2-announcements-lease-duration"),
            ("leaseRenewDeadline", "l2-announcements-renew-deadline"),
            ("leaseRetryPeriod", "l2-announcements-retry-period"),
        ):
            if get(values, f"l2announcements.{value_key}") is not None:
                data[config_key] = text(get(values, f"l2announcements.{value_key}"))
    for value_key, config_key in (("qps", "k8s-client-qps"), ("burst", "k8s-client-burst")):
        if get(values, f"k8sClientRateLimit.{value_key}") is not None:
            data[config_key] = text(get(values, f"k8sClientRateLimit.{value_key}"))
    return data


def render(
    values: Mapping[str, Any], *, release: str, namespace: str, version: str
) -> list[Manifest]:
    """The chart's objects for coalesced *values* in *namespace*.

    :param release: the release name (the chart names its objects without it).
    :param version: the chart version being installed; must be this chart's.
    :raises RenderError: values a template refuses (KPR not true/false,
        ``k8sServiceHost: auto``).
    """
    del release  # cilium's object names do not depend on the release name
    if version != VERSION:
        raise RenderError("cilium/Chart.yaml", f"this renderer is chart {VERSION}, not {version}")
    objects: list[Manifest] = [
        service_account("cilium", namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("cilium-config", namespace),
            "data": cilium_config(values),
        },
        *rbac(
            "cilium",
            namespace,
            "cilium",
            [
                rule(["cilium.io"], ["*"], ["*"]),
                rule(
                    [""],
                    ["namespaces", "services", "pods", "endpoints", "nodes"],
                    ["get", "list", "watch"],
                ),
            ],
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("cilium-config-agent", namespace),
            "rules": [rule([""], ["configmaps"], ["get", "list", "watch"])],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("cilium-config-agent", namespace),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "cilium-config-agent",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "cilium", "namespace": namespace}],
        },
        cilium_workloads.agent(values, namespace),
    ]
    if bool_(values, "envoy.enabled"):
        objects += cilium_workloads.envoy(values, namespace)
    if bool_(values, "operator.enabled"):
        objects += [
            service_account("cilium-operator", namespace),
            *rbac(
                "cilium-operator",
                namespace,
                "cilium-operator",
                [
                    rule(["cilium.io"], ["*"], ["*"]),
                    rule(
                        ["apiextensions.k8s.io"],
                        ["customresourcedefinitions"],
                        ["create", "get", "list", "watch", "update"],
                    ),
                    rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
                ],
            ),
            cilium_workloads.operator(values, namespace),
        ]
    if bool_(values, "hubble.enabled"):
        objects.append(cilium_hubble.peer_service(values, namespace))
        if bool_(values, "hubble.relay.enabled"):
            objects += cilium_hubble.relay(values, namespace)
        if bool_(values, "hubble.ui.enabled"):
            objects += cilium_hubble.ui(values, namespace)
    return objects


CHART = Chart(
    name="cilium",
    version=VERSION,
    app_version=VERSION,
    description="eBPF-based Networking, Security, and Observability",
    defaults=DEFAULTS,
    render=render,
)
