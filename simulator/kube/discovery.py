"""Discovery, version and OpenAPI documents of the simulated API server.

What belongs here: the read-only documents clients fetch before they touch a
resource -- ``/version``, ``/api``, ``/apis``, ``/apis/<g>``,
``/api/v1`` / ``/apis/<g>/<v>`` -- and a deliberately minimal OpenAPI v3,
all generated from the :class:`~simulator.kube.registry.Registry` so that
discovery always matches what is served (CRDs included, as they come and go).

Shapes follow apimachinery ``pkg/apis/meta/v1/types.go`` and
``pkg/version/types.go`` (facts/k8s-stack.md section 6.1).

Deviations:

* aggregated discovery (``apidiscovery.k8s.io/v2``) is not served: the
  legacy documents answer every ``Accept``, and client-go/kubectl fall back to
  them when the response is plain ``application/json``;
* OpenAPI v3 lists, per group/version, only the PATCH operation of each
  resource with its ``x-kubernetes-group-version-kind`` and the
  ``fieldValidation`` query parameter and no schemas.  That is exactly what
  kubectl's query-parameter verifier reads to decide that validation happens
  server side (``k8s.io/cli-runtime`` ``resource/query_param_verifier_v3.go``)
  and, since the operations carry no request body, kubectl builds strategic
  merge patches from its compiled-in types instead of from the schema.  So
  ``kubectl explain`` has nothing to show; OpenAPI v2 is not served (404).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from simulator.kube.registry import Registry, ResourceType

KUBERNETES_VERSION = "v1.35.2"


def version_info() -> dict[str, str]:
    """``/version`` as kube-apiserver v1.35.2 on linux/amd64 reports it."""
    return {
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "34",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-02-10T00:00:00Z",
        "goVersion": "go1.25.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
    match = _VERSION.fullmatch(version)
    if match is None:
        return (0, 0, 0)
    stage = {"": 3, "beta": 2, "alpha": 1}[match.group(2) or ""]
    return (stage, int(match.group(1)), int(match.group(3) or 0))


def _sorted_versions(versions: list[str]) -> list[str]:
    return sorted(versions, key=_version_priority, reverse=True)


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    ordered = _sorted_versions(versions)
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """``/apis``."""
    groups = [_group(name, versions) for name, versions in registry.groups().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> dict[str, Any] | None:
    """``/apis/<group>``, or None when the group is not served."""
    versions = registry.groups().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/<group>/<version>``, or None when nothing is served there."""
    types = registry.resources(group, version)
    if not types:
        return None
    resources = [entry for rt in sorted(types, key=lambda t: t.plural) for entry in rt.discovery()]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _patch_operation(rt: ResourceType) -> dict[str, Any]:
    return {
        "patch": {
            "operationId": f"patch{rt.kind}",
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            ],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {
                "group": rt.group,
                "version": rt.version,
                "kind": rt.kind,
            },
        }
    }


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The minimal OpenAPI v3 document of one group/version (see the module docstring)."""
    types = registry.resources(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in sorted(types, key=lambda t: t.plural):
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"/{_gv_path(group, version)}{scope}/{rt.plural}/{{name}}"] = _patch_operation(rt)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: one entry per served group/version, with a content hash."""
    paths: dict[str, Any] = {}
    served = {(rt.group, rt.version) for rt in registry.all()}
    for group, version in sorted(served):
        document = openapi_v3_document(registry, group, version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:64].upper()}"}
    return {"paths": paths}
