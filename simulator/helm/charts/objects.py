"""Kubernetes object builders shared by the simulator's chart renderers.

What belongs here: small pure functions that read dotted keys from coalesced
values, print values the way Go templates do, and build the plain-dict
objects (metadata, ServiceAccounts, Services, RBAC) both charts emit.

Why shared: Helm templates lean on the same few idioms (``{{ .Values.x }}``
printing ``true``/``false``, standard object skeletons); writing them once
keeps the renderers about the charts, not about dict plumbing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Manifest = dict[str, Any]


def get(values: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def bool_(values: Mapping[str, Any], dotted: str) -> bool:
    return bool(get(values, dotted, False))


def text(value: Any) -> str:
    # Go templates print booleans as true/false, which Python would capitalise.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def image(values: Mapping[str, Any], dotted: str) -> str:
    return f"{get(values, dotted + '.repository')}:{get(values, dotted + '.tag')}"


def meta(name: str, namespace: str | None, labels: Mapping[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def field_env(name: str, path: str) -> Manifest:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> Manifest:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def service_account(name: str, namespace: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, namespace)}


def service(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    ports: list[Manifest],
    *,
    headless: bool = False,
) -> Manifest:
    spec: Manifest = {"type": "ClusterIP", "selector": dict(selector), "ports": ports}
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace, labels),
        "spec": spec,
    }


def rbac(name: str, namespace: str, account: str, rules: list[Manifest]) -> list[Manifest]:
    group = "rbac.authorization.k8s.io"
    return [
        {
            "apiVersion": f"{group}/v1",
            "kind": "ClusterRole",
            "metadata": meta(name, None),
            "rules": rules,
        },
        {
            "apiVersion": f"{group}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(name, None),
            "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> Manifest:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}
