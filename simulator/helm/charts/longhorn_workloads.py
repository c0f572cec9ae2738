"""Longhorn 1.8.1 chart: workloads, Services, RBAC and the PriorityClass.

What belongs here: the objects of ``daemonset-sa.yaml`` (DaemonSet
``longhorn-manager`` + Service ``longhorn-backend``), ``deployment-driver.yaml``,
``deployment-ui.yaml`` (Deployment ``longhorn-ui`` + Service
``longhorn-frontend``), ``services.yaml`` (webhook and recovery-backend
Services), ``serviceaccount.yaml``, ``clusterrole*.yaml`` and
``priorityclass.yaml`` at longhorn/longhorn v1.8.1.  Names, labels, selectors,
ports and priority classes are the chart's; pod specs are abbreviated and the
ClusterRole's rules are summarised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.helm.charts.objects import (
    Manifest,
    field_env,
    get,
    meta,
    service,
    service_account,
    text,
)

_RBAC = "rbac.authorization.k8s.io"


def _image(values: Mapping[str, Any], part: str) -> str:
    return (
        f"{get(values, f'image.longhorn.{part}.repository')}"
        f":{get(values, f'image.longhorn.{part}.tag')}"
    )


def _app(labels: Mapping[str, str], app: str) -> dict[str, str]:
    return {**labels, "app": app}


def priority_class(labels: Mapping[str, str]) -> Manifest:
    """PriorityClass ``longhorn-critical`` (cluster-scoped, value 1000000000)."""
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": meta("longhorn-critical", None, labels),
        "description": "Ensure Longhorn pods have the highest priority to prevent any unexpected"
        " eviction by the Kubernetes scheduler under node pressure",
        "globalDefault": False,
        "preemptionPolicy": "PreemptLowerPriority",
        "value": 1000000000,
    }


def accounts_and_rbac(namespace: str, labels: Mapping[str, str]) -> list[Manifest]:
    """ServiceAccounts, ClusterRole ``longhorn-role`` and its two bindings."""
    out = [
        service_account(name, namespace)
        for name in (
            "longhorn-service-account",
            "longhorn-ui-service-account",
            "longhorn-support-bundle",
        )
    ]
    for account in out:
        account["metadata"]["labels"] = dict(labels)
    out += [
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": meta("longhorn-role", None, labels),
            "rules": [
                {"apiGroups": ["longhorn.io"], "resources": ["*"], "verbs": ["*"]},
                {
                    "apiGroups": ["", "apps", "batch", "storage.k8s.io", "policy"],
                    "resources": ["*"],
                    "verbs": ["*"],
                },
            ],
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta("longhorn-bind", None, labels),
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": "longhorn-role"},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "longhorn-service-account",
                    "namespace": namespace,
                }
            ],
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta("longhorn-support-bundle", None, labels),
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "longhorn-support-bundle",
                    "namespace": namespace,
                }
            ],
        },
    ]
    return out


def _deployment_like(
    kind: str,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pod_spec: Manifest,
    replicas: int | None = None,
) -> Manifest:
    spec: Manifest = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": _app(labels, name)}, "spec": pod_spec},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta(name, namespace, _app(labels, name)),
        "spec": spec,
    }


# (values key under image.csi, environment variable) as deployment-driver.yaml passes them.
CSI_IMAGES = (
    ("attacher", "CSI_ATTACHER_IMAGE"),
    ("provisioner", "CSI_PROVISIONER_IMAGE"),
    ("nodeDriverRegistrar", "CSI_NODE_DRIVER_REGISTRAR_IMAGE"),
    ("resizer", "CSI_RESIZER_IMAGE"),
    ("snapshotter", "CSI_SNAPSHOTTER_IMAGE"),
    ("livenessProbe", "CSI_LIVENESS_PROBE_IMAGE"),
)
CSI_REPLICA_COUNTS = (
    ("attacherReplicaCount", "CSI_ATTACHER_REPLICA_COUNT"),
    ("provisionerReplicaCount", "CSI_PROVISIONER_REPLICA_COUNT"),
    ("resizerReplicaCount", "CSI_RESIZER_REPLICA_COUNT"),
    ("snapshotterReplicaCount", "CSI_SNAPSHOTTER_REPLICA_COUNT"),
)


def _driver_env(values: Mapping[str, Any]) -> list[Manifest]:
    """The driver deployer's environment: the CSI images and any replica count set."""
    env: list[Manifest] = [
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
    ]
    for key, name in CSI_IMAGES:
        repository = get(values, f"image.csi.{key}.repository")
        tag = get(values, f"image.csi.{key}.tag")
        if repository and tag:
            env.append({"name": name, "value": f"{repository}:{tag}"})
    for key, name in CSI_REPLICA_COUNTS:
        count = get(values, f"csi.{key}")
        if count:
            env.append({"name": name, "value": text(count)})
    return env


def workloads(
    values: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
) -> list[Manifest]:
    """longhorn-manager, longhorn-driver-deployer, longhorn-ui and their Services."""
    pull = text(get(values, "image.pullPolicy", "IfNotPresent"))
    manager_image = _image(values, "manager")
    manager = _deployment_like(
        "DaemonSet",
        "longhorn-manager",
        namespace,
        labels,
        {
            "containers": [
                {
                    "name": "longhorn-manager",
                    "image": manager_image,
                    "imagePullPolicy": pull,
                    "securityContext": {"privileged": True},
                    "command": [
                        "longhorn-manager",
                        "-d",
                        "daemon",
                        "--engine-image",
                        _image(values, "engine"),
                        "--instance-manager-image",
                        _image(values, "instanceManager"),
                        "--manager-image",
                        manager_image,
                        "--service-account",
                        "longhorn-service-account",
                    ],
                    "ports": [
                        {"containerPort": 9500, "name": "manager"},
                        {"containerPort": 9501, "name": "conversion-wh"},
                        {"containerPort": 9502, "name": "admission-wh"},
                        {"containerPort": 9503, "name": "recov-backend"},
                    ],
                }
            ],
            "priorityClassName": text(get(values, "longhornManager.priorityClass", "")),
            "serviceAccountName": "longhorn-service-account",
        },
    )
    manager["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "100%"},
    }
    driver = _deployment_like(
        "Deployment",
        "longhorn-driver-deployer",
        namespace,
        labels,
        {
            "containers": [
                {
                    "name": "longhorn-driver-deployer",
                    "image": manager_image,
                    "imagePullPolicy": pull,
                    "command": [
                        "longhorn-manager",
                        "-d",
                        "deploy-driver",
                        "--manager-image",
                        manager_image,
                        "--manager-url",
                        "http://longhorn-backend:9500/v1",
                    ],
                    "env": _driver_env(values),
                }
            ],
            "priorityClassName": text(get(values, "longhornDriver.priorityClass", "")),
            "serviceAccountName": "longhorn-service-account",
        },
        replicas=1,
    )
    ui = _deployment_like(
        "Deployment",
        "longhorn-ui",
        namespace,
        labels,
        {
            "containers": [
                {
                    "name": "longhorn-ui",
                    "image": _image(values, "ui"),
                    "imagePullPolicy": pull,
                    "ports": [{"containerPort": 8000, "name": "http"}],
                }
            ],
            "priorityClassName": text(get(values, "longhornUI.priorityClass", "")),
            "serviceAccountName": "longhorn-ui-service-account",
        },
        replicas=int(get(values, "longhornUI.replicas", 2)),
    )

    def svc(
        name: str, app: str, selector: Mapping[str, str], port: tuple[str, int, str]
    ) -> Manifest:
        port_name, number, target = port
        return service(
            name,
            namespace,
            _app(labels, app),
            selector,
            [{"name": port_name, "port": number, "targetPort": target}],
        )

    def webhook(name: str, key: str, port: tuple[str, int, str]) -> Manifest:
        # These Services select by a longhorn.io/* label the manager pods carry.
        return svc(name, name, {f"longhorn.io/{key}": name}, port)

    manager_sel = {"app": "longhorn-manager"}
    backend = svc("longhorn-backend", "longhorn-manager", manager_sel, ("manager", 9500, "manager"))
    backend["spec"]["type"] = text(get(values, "service.manager.type", "ClusterIP"))
    frontend = svc("longhorn-frontend", "longhorn-ui", {"app": "longhorn-ui"}, ("http", 80, "http"))
    frontend["spec"]["type"] = text(get(values, "service.ui.type", "ClusterIP"))
    return [
        manager,
        backend,
        driver,
        ui,
        frontend,
        webhook(
            "longhorn-conversion-webhook",
            "conversion-webhook",
            ("conversion-webhook", 9501, "conversion-wh"),
        ),
        webhook(
            "longhorn-admission-webhook",
            "admission-webhook",
            ("admission-webhook", 9502, "admission-wh"),
        ),
        webhook(
            "longhorn-recovery-backend",
            "recovery-backend",
            ("recovery-backend", 9503, "recov-backend"),
        ),
    ]
