"""Per-type defaulting and validation applied by the object store on writes.

What belongs here: the small amount of type knowledge the generic store
needs -- name syntax, what a new Namespace, Pod or CustomResourceDefinition
looks like after the API server defaulted it, and the validation that keeps
a CRD usable.  Named after upstream's ``rest.RESTCreateStrategy``; kept out of
:mod:`simulator.kube.objects` so that module stays about storage.

Deviations (deliberate; the simulator is not a validating API server):
only metadata names, namespaces and CRDs are validated; Pods get
``status.phase: Pending`` and nothing else; a CRD is Established at once; a
Service without ``spec.clusterIP`` gets one derived from its namespace and
name in 10.96.0.0/12 (upstream allocates the next free address; collisions
are not checked), kept across updates that omit it, as the API server does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from simulator.kube import errors
from simulator.kube.errors import FieldError
from simulator.kube.registry import ResourceType

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def validate_name(rt: ResourceType, name: str) -> list[FieldError]:
    """``metadata.name`` syntax: a DNS label for namespaces, a DNS subdomain otherwise."""
    if rt.kind == "Namespace":
        if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
            return [errors.invalid_value("metadata.name", name, _LABEL_TEXT)]
        return []
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return [errors.invalid_value("metadata.name", name, _SUBDOMAIN_TEXT)]
    return []


def _crd_problems(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [errors.required("spec", "")]
    problems: list[FieldError] = []
    group = spec.get("group")
    raw_names = spec.get("names")
    names: dict[str, Any] = raw_names if isinstance(raw_names, dict) else {}
    plural = names.get("plural")
    if not isinstance(group, str) or not group:
        problems.append(errors.required("spec.group", ""))
    if not isinstance(plural, str) or not plural:
        problems.append(errors.required("spec.names.plural", ""))
    if not isinstance(names.get("kind"), str) or not names.get("kind"):
        problems.append(errors.required("spec.names.kind", ""))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(
            errors.not_supported("spec.scope", spec.get("scope", ""), ("Cluster", "Namespaced"))
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        problems.append(
            errors.invalid_value(
                "spec.versions",
                versions or [],
                "must have exactly one version marked as storage version",
            )
        )
    else:
        storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
        if len(storage) != 1:
            problems.append(
                errors.invalid_value(
                    "spec.versions",
                    versions,
                    "must have exactly one version marked as storage version",
                )
            )
    name = (obj.get("metadata") or {}).get("name", "")
    if isinstance(group, str) and isinstance(plural, str) and name != f"{plural}.{group}":
        problems.append(
            errors.invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
        )
    return problems


def validate(rt: ResourceType, obj: dict[str, Any]) -> list[FieldError]:
    """Type-specific problems of *obj* as it would be stored."""
    if rt.group == "apiextensions.k8s.io" and rt.kind == "CustomResourceDefinition":
        return _crd_problems(obj)
    return []


_SERVICE_RANGE = ipaddress.IPv4Network("10.96.0.0/12")


def _cluster_ip(namespace: str, name: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    offset = int.from_bytes(digest[:4], "big") % (_SERVICE_RANGE.num_addresses - 12) + 11
    return str(_SERVICE_RANGE.network_address + offset)


def _allocate_cluster_ip(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName" or spec.get("clusterIP"):
        return
    meta = obj.get("metadata") or {}
    address = _cluster_ip(str(meta.get("namespace", "")), str(meta.get("name", "")))
    spec["clusterIP"] = address
    spec["clusterIPs"] = [address]


def prepare_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Default what kube-apiserver defaults on create (in place)."""
    metadata = obj["metadata"]
    if rt.group == "" and rt.kind == "Namespace":
        metadata.setdefault("labels", {})[NAMESPACE_LABEL] = metadata["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rt.group == "" and rt.kind == "Service":
        _allocate_cluster_ip(obj)
    elif rt.group == "" and rt.kind == "Pod":
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")
    elif rt.group == "apiextensions.k8s.io" and rt.kind == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        versions = spec.get("versions") or []
        stored = [v.get("name") for v in versions if isinstance(v, dict) and v.get("storage")]
        obj["status"] = {
            "acceptedNames": dict(spec.get("names") or {}),
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": metadata.get("creationTimestamp"),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": metadata.get("creationTimestamp"),
                },
            ],
            "storedVersions": stored,
        }


def prepare_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Keep what an update may not change for this type (in place)."""
    if rt.group == "" and rt.kind == "Service":
        old_spec, new_spec = old.get("spec") or {}, new.get("spec")
        if (
            isinstance(new_spec, dict)
            and not new_spec.get("clusterIP")
            and old_spec.get("clusterIP")
        ):
            new_spec["clusterIP"] = old_spec["clusterIP"]
            new_spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    if rt.group == "" and rt.kind == "Namespace":
        new.setdefault("metadata", {}).setdefault("labels", {})[NAMESPACE_LABEL] = old["metadata"][
            "name"
        ]
