"""Which resource types the simulated API server serves, and how each behaves.

What belongs here: :class:`ResourceType` (the discovery facts of one
group/version/resource plus the few storage behaviours that differ between
types) and :class:`Registry`, seeded by :func:`builtin_registry` with the
built-in types the suite and an operator touch.  Custom resources join and
leave the registry when their CustomResourceDefinition is created or deleted
(:func:`types_from_crd`, called by the object store).

Why one table instead of per-type classes: every built-in here is stored and
served generically; what differs -- scope, short names, subresources, field
selectors, whether DELETE answers with the object -- is data, and discovery
(``/api/v1``, ``/apis/<g>/<v>``) is generated from the same data, so the two
cannot disagree.

Deviations: only the types listed in :data:`_BUILTINS` exist; ``pods/log``,
``pods/exec`` and other connect subresources are not listed in discovery.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
# Field selectors every type accepts (apimachinery DefaultMetaV1FieldSelectorConversion).
META_FIELDS: tuple[str, ...] = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Extra field selectors beyond metadata.name/namespace (upstream conversion funcs).
    field_selectors: tuple[str, ...] = ()
    # DELETE answers with the object (pods, services, custom resources) instead of a Status.
    returns_deleted_object: bool = False
    # Served from a CustomResourceDefinition rather than built in.
    is_custom: bool = False
    # additionalPrinterColumns of a CRD version: (name, type, jsonPath) triples.
    printer_columns: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def storage_prefix(self) -> str:
        """Key prefix in the datastore: built-ins by plural, custom resources by group/plural.

        Layout (documented for the etcd-backed store and snapshot readers):
        ``/registry/<plural>/<namespace>/<name>`` or ``/registry/<plural>/<name>`` for built-in
        types, ``/registry/<group>/<plural>/[<namespace>/]<name>`` for custom resources -- the
        latter as kube-apiserver's apiextensions storage does.  Built-ins differ from upstream
        in a few historical names (upstream keeps nodes under ``minions`` and services under
        ``services/specs``); all served versions of a custom resource share one key.
        """
        if self.is_custom:
            return f"/registry/{self.group}/{self.plural}/"
        return f"/registry/{self.plural}/"

    def key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix()}{namespace}/{name}"
        return f"{self.storage_prefix()}{name}"

    def allowed_field_selectors(self) -> tuple[str, ...]:
        base = META_FIELDS if self.namespaced else ("metadata.name",)
        if self.is_custom:
            return base
        return META_FIELDS + self.field_selectors

    def storage_version_hash(self) -> str:
        digest = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode("ascii")

    def discovery(self) -> list[dict[str, Any]]:
        """This type's ``APIResource`` entries: itself, then ``<plural>/<subresource>``."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entry["storageVersionHash"] = self.storage_version_hash()
        out = [entry]
        for sub in self.subresources:
            verbs = ["get", "patch", "update"] if sub in ("status", "scale") else ["get"]
            out.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": "Scale" if sub == "scale" else self.kind,
                    "verbs": verbs,
                }
            )
        return out


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    short: Iterable[str] = (),
    *,
    categories: Iterable[str] = (),
    subresources: Iterable[str] = (),
    fields: Iterable[str] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    returns_object: bool = False,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=tuple(short),
        verbs=verbs,
        categories=tuple(categories),
        subresources=tuple(subresources),
        field_selectors=tuple(fields),
        returns_deleted_object=returns_object,
    )


_ALL = ("all",)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_NO_COLLECTION = tuple(v for v in ALL_VERBS if v != "deletecollection")
_RBAC = "rbac.authorization.k8s.io"
_STORAGE = "storage.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

_BUILTINS: tuple[ResourceType, ...] = (
    _rt(
        "",
        "v1",
        "Namespace",
        "namespaces",
        False,
        ("ns",),
        subresources=("status", "finalize"),
        fields=("status.phase",),
        verbs=_NO_COLLECTION,
    ),
    _rt(
        "",
        "v1",
        "Node",
        "nodes",
        False,
        ("no",),
        subresources=("status", "proxy"),
        fields=("spec.unschedulable",),
    ),
    _rt(
        "",
        "v1",
        "Pod",
        "pods",
        True,
        ("po",),
        categories=_ALL,
        subresources=("status",),
        fields=_POD_FIELDS,
        returns_object=True,
    ),
    _rt(
        "",
        "v1",
        "Service",
        "services",
        True,
        ("svc",),
        categories=_ALL,
        subresources=("status",),
        fields=("spec.clusterIP", "spec.type"),
        verbs=_NO_COLLECTION,
        returns_object=True,
    ),
    _rt("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    _rt("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    _rt("", "v1", "Secret", "secrets", True, fields=("type",)),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    _rt(
        "", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), subresources=("status",)
    ),
    _rt(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        ("pvc",),
        subresources=("status",),
    ),
    _rt("", "v1", "Event", "events", True, ("ev",), fields=_EVENT_FIELDS),
    _rt(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        True,
        ("deploy",),
        categories=_ALL,
        subresources=("status", "scale"),
    ),
    _rt(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        True,
        ("ds",),
        categories=_ALL,
        subresources=("status",),
    ),
    _rt(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        True,
        ("sts",),
        categories=_ALL,
        subresources=("status", "scale"),
    ),
    _rt(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        True,
        ("rs",),
        categories=_ALL,
        subresources=("status", "scale"),
        fields=("status.replicas",),
    ),
    _rt(
        "batch",
        "v1",
        "Job",
        "jobs",
        True,
        categories=_ALL,
        subresources=("status",),
        fields=("status.successful",),
    ),
    _rt(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        True,
        ("cj",),
        categories=_ALL,
        subresources=("status",),
    ),
    _rt(_STORAGE, "v1", "StorageClass", "storageclasses", False, ("sc",)),
    _rt(_STORAGE, "v1", "CSIDriver", "csidrivers", False),
    _rt(_STORAGE, "v1", "VolumeAttachment", "volumeattachments", False, subresources=("status",)),
    _rt(_RBAC, "v1", "Role", "roles", True),
    _rt(_RBAC, "v1", "RoleBinding", "rolebindings", True),
    _rt(_RBAC, "v1", "ClusterRole", "clusterroles", False),
    _rt(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("coordination.k8s.io", "v1", "Lease", "leases", True),
    _rt(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        True,
        ("pdb",),
        subresources=("status",),
    ),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    _rt(
        _ADMISSION, "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False
    ),
    _rt(_ADMISSION, "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        categories=("api-extensions",),
        subresources=("status",),
    ),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
)


class Registry:
    """The served types, thread-safe because CRD writes change it while requests read it."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in types:
            self.register(rt)

    def register(self, rt: ResourceType) -> None:
        with self._lock:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister(self, group: str, plural: str) -> None:
        """Remove every version of *plural* in *group* (a CRD was deleted)."""
        with self._lock:
            for key in [k for k in self._types if k[0] == group and k[2] == plural]:
                del self._types[key]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._types.values():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def groups(self) -> dict[str, list[str]]:
        """Each non-core group with its versions, in registration order."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            if rt.group and rt.version not in out.setdefault(rt.group, []):
                out[rt.group].append(rt.version)
        return out


def builtin_registry() -> Registry:
    """A registry holding the built-in types (custom resources join via their CRDs)."""
    return Registry(_BUILTINS)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition as resource types.

    Only the fields discovery and storage need are read; the CRD was
    validated (group, names.plural, names.kind, scope, versions) before.
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    plural = str(names.get("plural", ""))
    kind = str(names.get("kind", ""))
    out: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not version.get("served", False):
            continue
        subresources = version.get("subresources") or {}
        columns = tuple(
            (str(c.get("name", "")), str(c.get("type", "string")), str(c.get("jsonPath", "")))
            for c in version.get("additionalPrinterColumns") or []
            if isinstance(c, dict)
        )
        out.append(
            ResourceType(
                group=group,
                version=str(version.get("name", "")),
                kind=kind,
                plural=plural,
                singular=str(names.get("singular") or kind.lower()),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=_strings(names.get("shortNames")),
                categories=_strings(names.get("categories")),
                subresources=tuple(s for s in ("status", "scale") if s in subresources),
                returns_deleted_object=True,
                is_custom=True,
                printer_columns=columns,
            )
        )
    return out
