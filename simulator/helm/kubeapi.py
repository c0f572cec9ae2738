"""The Kubernetes API side of the simulator's ``helm``, through the official client.

What belongs here: :class:`Cluster`, which creates-or-replaces rendered
objects, deletes them, and reads/writes release Secrets -- all over the REST
API with the ``kubernetes`` client's ``ApiClient`` built from a kubeconfig.

Why raw REST paths and a kind table rather than the typed APIs: rendered
objects are plain dicts of a dozen kinds; a table of (group/version, plural,
scope) maps each to its URL without model round-trips that would drop unknown
fields.  A kind missing from the table is reported, not guessed.

Ownership follows Helm 3.2+: every object gets label
``app.kubernetes.io/managed-by=Helm`` and annotations
``meta.helm.sh/release-name`` / ``-namespace``; an existing object without
them (or owned by another release) stops the install with Helm's
"invalid ownership metadata" message.  No server-side apply, no three-way
merge: an existing object is replaced (PUT with its resourceVersion).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

# kind -> (API prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Pod": ("/api/v1", "pods", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "PriorityClass": ("/apis/scheduling.k8s.io/v1", "priorityclasses", False),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
}

_MANAGED_BY = "app.kubernetes.io/managed-by"
_RELEASE_NAME = "meta.helm.sh/release-name"
_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class KubeError(Exception):
    """An API call failed; the message is the API's (never a credential)."""


@dataclass(frozen=True)
class Ref:
    """Where one object lives."""

    kind: str
    name: str
    namespace: str | None

    def describe(self) -> str:
        """``ConfigMap "x" in namespace "y"`` as Helm words it."""
        where = f' in namespace "{self.namespace}"' if self.namespace else ""
        return f'{self.kind} "{self.name}"{where}'


def _status_message(status: int, text: str) -> str:
    try:
        body = json.loads(text or "{}")
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or f"the server responded with HTTP {status}")


class Cluster:
    """One kubeconfig's API server, as Helm's kube client uses it."""

    def __init__(self, kubeconfig: str | None) -> None:
        # client-go uses a cluster's proxy-url whatever NO_PROXY says (the
        # embedded cluster's VIP is reached only through its address proxy);
        # the environment's proxy applies to a cluster that names none.
        configuration: Any = client.Configuration(proxy="", no_proxy="")
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
        except (config.ConfigException, OSError, ValueError) as exc:
            raise KubeError(f"kubernetes cluster unreachable: {type(exc).__name__}") from None
        if not configuration.proxy:
            from_environment: Any = client.Configuration(host=configuration.host)
            configuration.proxy = from_environment.proxy
            configuration.no_proxy = from_environment.no_proxy
        self._api: Any = client.ApiClient(configuration=configuration)

    def close(self) -> None:
        """Release the client's connection pool."""
        self._api.close()

    def ref(self, obj: Mapping[str, Any], namespace: str) -> Ref:
        """Where *obj* goes; namespaced kinds default to the release namespace.

        :raises KubeError: a kind this shim cannot place.
        """
        kind = str(obj.get("kind", ""))
        if kind not in KINDS:
            raise KubeError(f'resource mapping not found for kind "{kind}"')
        namespaced = KINDS[kind][2]
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or namespace) if namespaced else None
        return Ref(kind, str(meta.get("name", "")), ns)

    def _path(self, ref: Ref, *, item: bool = True) -> str:
        prefix, plural, _ = KINDS[ref.kind]
        base = (
            f"{prefix}/namespaces/{ref.namespace}/{plural}"
            if ref.namespace
            else f"{prefix}/{plural}"
        )
        return f"{base}/{ref.name}" if item else base

    def _call(
        self, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None
    ) -> Any:
        # The REST client directly: ApiClient.call_api changed signature across the
        # client versions pyproject allows, RESTClientObject.request did not.
        url = self._api.configuration.host + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        token = (self._api.configuration.api_key or {}).get("authorization")
        if token:
            headers["Authorization"] = token
        try:
            response = self._api.rest_client.request(method, url, headers=headers, body=body)
            status = int(response.status)
            raw = response.data if getattr(response, "data", None) is not None else response.read()
        except ApiException as exc:  # older clients raise on non-2xx themselves
            status, raw = int(exc.status or 0), exc.body
            if status == 0:
                raise KubeError(f"kubernetes cluster unreachable: {exc.reason}") from None
        except OSError as exc:
            raise KubeError(f"kubernetes cluster unreachable: {type(exc).__name__}") from None
        text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if status == 404 and method in ("GET", "DELETE"):
            return None
        if status >= 400:
            raise KubeError(_status_message(status, text))
        return json.loads(text) if text else {}

    def get(self, ref: Ref) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        found: dict[str, Any] | None = self._call("GET", self._path(ref))
        return found

    def check_ownership(self, obj: Mapping[str, Any], namespace: str, release: str) -> None:
        """Refuse to adopt an existing object Helm does not own for *release*.

        :raises KubeError: Helm's "exists and cannot be imported" message.
        """
        ref = self.ref(obj, namespace)
        existing = self.get(ref)
        if existing is None:
            return
        meta = existing.get("metadata") or {}
        labels = meta.get("labels") or {}
        notes = meta.get("annotations") or {}
        problems = []
        if labels.get(_MANAGED_BY) != "Helm":
            problems.append(
                f'label validation error: missing key "{_MANAGED_BY}": must be set to "Helm"'
            )
        for key, want in ((_RELEASE_NAME, release), (_RELEASE_NAMESPACE, namespace)):
            if key not in notes:
                problems.append(
                    f'annotation validation error: missing key "{key}": must be set to "{want}"'
                )
            elif notes[key] != want:
                problems.append(
                    f'annotation validation error: key "{key}" must equal "{want}":'
                    f' current value is "{notes[key]}"'
                )
        if problems:
            raise KubeError(
                "rendered manifests contain a resource that already exists. Unable to continue"
                f" with install: {ref.describe()} exists and cannot be imported into the current"
                f" release: invalid ownership metadata; {'; '.join(problems)}"
            )

    def apply(self, obj: Mapping[str, Any], namespace: str, release: str) -> Ref:
        """Create *obj*, or replace the existing one, stamped as owned by *release*."""
        ref = self.ref(obj, namespace)
        body = json.loads(json.dumps(obj))
        meta = body.setdefault("metadata", {})
        if ref.namespace:
            meta["namespace"] = ref.namespace
        meta.setdefault("labels", {})[_MANAGED_BY] = "Helm"
        notes = meta.setdefault("annotations", {})
        notes[_RELEASE_NAME] = release
        notes[_RELEASE_NAMESPACE] = namespace
        existing = self.get(ref)
        if existing is None:
            self._call("POST", self._path(ref, item=False), body)
        else:
            meta["resourceVersion"] = (existing.get("metadata") or {}).get("resourceVersion")
            self._call("PUT", self._path(ref), body)
        return ref

    def delete(self, ref: Ref) -> bool:
        """Delete the object; False if it was already gone."""
        return self._call("DELETE", self._path(ref)) is not None

    def create(self, obj: Mapping[str, Any]) -> None:
        """Create *obj* as given (release Secrets, namespaces)."""
        ref = self.ref(obj, str((obj.get("metadata") or {}).get("namespace", "")))
        self._call("POST", self._path(ref, item=False), dict(obj))

    def replace(self, obj: Mapping[str, Any]) -> None:
        """Overwrite *obj* (it must exist), keeping its resourceVersion."""
        ref = self.ref(obj, str((obj.get("metadata") or {}).get("namespace", "")))
        existing = self.get(ref) or {}
        body = json.loads(json.dumps(obj))
        body["metadata"]["resourceVersion"] = (existing.get("metadata") or {}).get(
            "resourceVersion"
        )
        self._call("PUT", self._path(ref), body)

    def list(self, kind: str, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        """Objects of *kind* matching the label *selector* (all namespaces if None)."""
        prefix, plural, _ = KINDS[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
        found = self._call("GET", path, query=[("labelSelector", selector)]) or {}
        items: list[dict[str, Any]] = list(found.get("items") or [])
        return items
