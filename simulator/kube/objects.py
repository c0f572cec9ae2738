"""Kubernetes objects kept in the simulator's KV store: the API server's storage layer.

What belongs here: :class:`ObjectStore` -- create, get, list, replace,
patch, delete and deletecollection over JSON objects, with the semantics
clients observe (generated names, uids, ``resourceVersion`` = the KV
``mod_revision``, optimistic concurrency, ``dryRun``, status subresource,
finalizers, admission and change hooks).  No HTTP: the handlers translate;
controllers call this directly.

Storage: each object is one JSON value under :meth:`ResourceType.key`
(``/registry/<plural>/[<ns>/]<name>`` for built-ins,
``/registry/<group>/<plural>/[<ns>/]<name>`` for custom resources), stored
without ``metadata.resourceVersion``, which is filled in from the key's
``mod_revision`` on every read -- as kube-apiserver does with etcd.

Behaviour and its deviations from kube-apiserver:

* ``metadata.generation`` starts at 1 and increments whenever anything
  outside ``metadata`` and ``status`` changes (upstream: per type);
* for types with a ``status`` subresource the main resource ignores status
  changes and the status subresource changes only ``status``;
* an update that changes nothing is not written (same resourceVersion);
* DELETE of an object with finalizers sets ``deletionTimestamp`` and keeps
  it until an update empties ``metadata.finalizers``; otherwise deletion is
  immediate (no graceful pod termination, no garbage collection of owned
  objects, propagationPolicy ignored);
* deleting a Namespace removes everything in it at once (no Terminating
  phase); deleting a CRD removes its custom resources and stops serving it;
* custom resources are stored once for all versions (no conversion beyond
  rewriting ``apiVersion``);
* ``limit``/``continue`` page over a consistent sort by key but continue
  tokens do not pin a revision (no 410 Expired).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from simulator.kube import deletion, errors, patching, strategies
from simulator.kube import meta as objmeta
from simulator.kube.hooks import (
    AdmissionRequest,
    Hooks,
    Operation,
    RequestContext,
    WatchEvent,
)
from simulator.kube.registry import Registry, ResourceType, types_from_crd
from simulator.kube.selectors import SelectorError, parse_field_selector, parse_label_selector
from simulator.store.kv import KV, Entry, RevisionConflict

# The alphabet apimachinery's rand.String uses (no vowels, no confusable characters).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAMESPACES_KEY = "/registry/namespaces/"
# Serialised objects kept for plain LISTs (see ObjectStore.list_json): a few MB per 1,000 pods.
_JSON_CACHE_SIZE = 50_000
# ObjectStore.list shadows the builtin inside the class body, so its annotations use these.
_Events = list[WatchEvent]
_Objects = list[dict[str, Any]]
_Keyed = list[tuple[str, dict[str, Any]]]
_FieldErrors = list[errors.FieldError]


def _clone(obj: Any) -> Any:
    """A deep copy of a JSON value; a JSON round trip is several times faster than deepcopy.

    Objects here are JSON by construction (they are stored as JSON), and at
    scale copying thousands of pods per reconcile pass is a visible cost.
    """
    return json.loads(json.dumps(obj))


def _encode_continue(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"start": key}).encode()).decode()


def _decode_continue(token: str) -> str:
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc
    if not isinstance(start, str):
        raise errors.bad_request("continue key is not valid: start key must be a string")
    return start


class ObjectStore:
    """Kubernetes object semantics over a :class:`~simulator.store.kv.KV`."""

    def __init__(
        self,
        kv: KV,
        registry: Registry,
        hooks: Hooks | None = None,
        *,
        now: Callable[[], dt.datetime] = objmeta.utc_now,
    ) -> None:
        self.kv = kv
        self.registry = registry
        self.hooks = hooks if hooks is not None else Hooks()
        self._now = now
        # Serialises read-modify-write sequences; hooks run outside it.
        self._lock = threading.RLock()
        self._json_cache: dict[tuple[str, str, int], bytes] = {}
        self._restore_crds()

    # -- reading ---------------------------------------------------------------------------

    def _decode(self, rt: ResourceType, entry: Entry) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(entry.value)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        obj.setdefault("metadata", {})["resourceVersion"] = str(entry.mod_revision)
        return obj

    def _entry(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self.kv.get(rt.key(namespace, name))
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The stored object, or 404 NotFound."""
        return self._decode(rt, self._entry(rt, namespace, name))

    def list(
        self,
        rt: ResourceType,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> dict[str, Any]:
        """A ``<Kind>List`` of the matching objects (all namespaces when *namespace* is empty)."""
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector)
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        allowed = rt.allowed_field_selectors()
        for name in fields.fields():
            if name not in allowed:
                if rt.is_custom or rt.field_selectors:
                    raise errors.bad_request(f"field label not supported: {name}")
                raise errors.bad_request(
                    f'"{name}" is not a known field selector: only "metadata.name", '
                    '"metadata.namespace"'
                )
        prefix = rt.storage_prefix()
        if rt.namespaced and namespace:
            prefix = f"{prefix}{namespace}/"
        entries, revision = self.kv.range(prefix)
        if continue_token:
            start = _decode_continue(continue_token)
            entries = [e for e in entries if e.key > start]
        items: _Keyed = []
        for entry in entries:
            obj = self._decode(rt, entry)
            if labels.matches(objmeta.metadata_of(obj).get("labels")) and fields.matches(obj):
                items.append((entry.key, obj))
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if limit > 0 and len(items) > limit:
            metadata["continue"] = _encode_continue(items[limit - 1][0])
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": metadata,
            "items": [obj for _, obj in items],
        }

    def list_json(
        self, rt: ResourceType, namespace: str = "", *, limit: int = 0, continue_token: str = ""
    ) -> bytes:
        """:meth:`list` without selectors, already serialised: the body of a plain LIST.

        Each object's JSON (with its ``resourceVersion``) is cached per key and
        ``mod_revision``, so a repeated LIST of thousands of unchanged pods
        costs one etcd range and a join instead of decoding and re-encoding
        every object.
        """
        prefix = rt.storage_prefix()
        if rt.namespaced and namespace:
            prefix = f"{prefix}{namespace}/"
        entries, revision = self.kv.range(prefix)
        if continue_token:
            start = _decode_continue(continue_token)
            entries = [e for e in entries if e.key > start]
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if limit > 0 and len(entries) > limit:
            metadata["continue"] = _encode_continue(entries[limit - 1].key)
            metadata["remainingItemCount"] = len(entries) - limit
            entries = entries[:limit]
        head = json.dumps(
            {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata},
            separators=(",", ":"),
        )
        parts = [self._serialised(rt, entry) for entry in entries]
        return b"".join((head[:-1].encode(), b',"items":[', b",".join(parts), b"]}"))

    def _serialised(self, rt: ResourceType, entry: Entry) -> bytes:
        cache_key = (rt.api_version, entry.key, entry.mod_revision)
        found = self._json_cache.get(cache_key)
        if found is None:
            found = json.dumps(self._decode(rt, entry), separators=(",", ":")).encode()
            if len(self._json_cache) >= _JSON_CACHE_SIZE:
                self._json_cache.clear()  # crude bound; the next LIST refills it
            self._json_cache[cache_key] = found
        return found

    # -- hooks -------------------------------------------------------------------------------

    def _admit(self, request: AdmissionRequest) -> None:
        for hook in self.hooks.admission:
            hook(request)

    def _notify(self, events: _Events) -> None:
        for event in events:
            for hook in self.hooks.after_write:
                hook(event)

    # -- create --------------------------------------------------------------------------------

    def _check_body(
        self, rt: ResourceType, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise errors.bad_request("the body of the request must be a JSON object")
        obj: dict[str, Any] = _clone(dict(body))
        kind = obj.get("kind")
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        metadata = obj.get("metadata")
        if metadata is None:
            metadata = obj["metadata"] = {}
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            given = metadata.get("namespace") or ""
            if given and namespace and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            metadata["namespace"] = given or namespace
        else:
            metadata.pop("namespace", None)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if rt.namespaced and self.kv.get(f"{_NAMESPACES_KEY}{namespace}") is None:
            # NamespaceLifecycle admission answers with the namespace's own NotFound.
            raise errors.not_found("namespaces", "", namespace)

    def _invalid(self, rt: ResourceType, name: str, problems: _FieldErrors) -> None:
        if problems:
            raise errors.invalid(rt.kind, rt.group, name, problems)

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Mapping[str, Any],
        context: RequestContext | None = None,
    ) -> dict[str, Any]:
        """Store a new object; see the module docstring for what is generated."""
        ctx = context if context is not None else RequestContext()
        obj = self._check_body(rt, namespace, body)
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "")
        if rt.namespaced and not namespace:
            raise errors.bad_request("the server could not find the requested resource")
        if metadata.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                self._invalid(
                    rt,
                    "",
                    [errors.required("metadata.name", "name or generateName is required")],
                )
            metadata["name"] = (
                f"{prefix}{''.join(secrets.choice(_NAME_ALPHABET) for _ in range(5))}"
            )
        name = str(metadata["name"])
        self._invalid(rt, name, strategies.validate_name(rt, name))
        self._require_namespace(rt, namespace)
        for transient in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(transient, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = objmeta.timestamp(self._now())
        metadata["generation"] = 1
        strategies.prepare_create(rt, obj)
        request = AdmissionRequest(Operation.CREATE, rt, "", namespace, name, obj, None, ctx)
        self._admit(request)
        obj = request.object if request.object is not None else obj
        self._invalid(rt, name, strategies.validate(rt, obj))
        key = rt.key(namespace, name)
        with self._lock:
            # Only a dry run needs to look first: a real create is conditional on absence.
            if ctx.dry_run:
                if self.kv.get(key) is not None:
                    raise errors.already_exists(rt.plural, rt.group, name)
                return obj
            try:
                revision = self.kv.put(key, self._encode(obj), expect_mod_revision=0)
            except RevisionConflict as exc:
                raise errors.already_exists(rt.plural, rt.group, name) from exc
            obj["metadata"]["resourceVersion"] = str(revision)
            if objmeta.is_crd(rt):
                self._serve_crd(obj)
        stored = _clone(obj)
        self._notify([WatchEvent("ADDED", rt, stored)])
        return obj

    @staticmethod
    def _encode(obj: Mapping[str, Any]) -> bytes:
        stored = dict(obj)  # shallow: only metadata.resourceVersion is left out
        if isinstance(stored.get("metadata"), Mapping):
            stored["metadata"] = {
                k: v for k, v in stored["metadata"].items() if k != "resourceVersion"
            }
        return json.dumps(stored, separators=(",", ":"), sort_keys=True).encode()

    # -- update ------------------------------------------------------------------------------

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Mapping[str, Any],
        context: RequestContext | None = None,
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """PUT: replace the object (or only its status when *subresource* is ``status``)."""
        ctx = context if context is not None else RequestContext()
        obj = self._check_body(rt, namespace, body)
        given = obj["metadata"].get("name", "")
        if given != name:
            raise errors.bad_request(
                f"the name of the object ({given}) does not match the name on the URL ({name})"
            )
        with self._lock:
            current = self.get(rt, namespace, name)
            wanted_rv = obj["metadata"].get("resourceVersion") or ""
            if not wanted_rv and rt.is_custom:
                self._invalid(
                    rt,
                    name,
                    [
                        errors.invalid_value(
                            "metadata.resourceVersion",
                            errors.Verbatim("0x0"),
                            "must be specified for an update",
                        )
                    ],
                )
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            return self._update(rt, current, obj, ctx, subresource)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        context: RequestContext | None = None,
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """PATCH in any dialect :mod:`simulator.kube.patching` knows (415 otherwise)."""
        ctx = context if context is not None else RequestContext()
        with self._lock:
            current = self.get(rt, namespace, name)
            patched = patching.apply_patch(current, body, content_type, is_custom=rt.is_custom)
            obj = self._check_body(rt, namespace, patched)
            if obj["metadata"].get("name") != name:
                raise errors.bad_request(
                    f"the name of the object ({obj['metadata'].get('name', '')}) does not match "
                    f"the name on the URL ({name})"
                )
            wanted_rv = obj["metadata"].get("resourceVersion") or ""
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            return self._update(rt, current, obj, ctx, subresource)

    def _update(
        self,
        rt: ResourceType,
        current: dict[str, Any],
        obj: dict[str, Any],
        ctx: RequestContext,
        subresource: str,
    ) -> dict[str, Any]:
        name = current["metadata"]["name"]
        namespace = current["metadata"].get("namespace", "")
        if subresource == "status":
            new = _clone(current)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if rt.has_status:
                if "status" in current:
                    new["status"] = _clone(current["status"])
                else:
                    new.pop("status", None)
        meta, old_meta = new["metadata"], current["metadata"]
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
            if kept in old_meta:
                meta[kept] = old_meta[kept]
            else:
                meta.pop(kept, None)
        meta["generation"] = old_meta.get("generation", 1)
        if subresource != "status" and objmeta.spec_part(new) != objmeta.spec_part(current):
            meta["generation"] += 1
        meta["resourceVersion"] = old_meta["resourceVersion"]
        strategies.prepare_update(rt, new, current)
        if new == current:
            return current  # a no-op update is not written (kube-apiserver does the same)
        request = AdmissionRequest(
            Operation.UPDATE, rt, subresource, namespace, name, new, current, ctx
        )
        self._admit(request)
        new = request.object if request.object is not None else new
        self._invalid(rt, name, strategies.validate(rt, new))
        if ctx.dry_run:
            return new
        key = rt.key(namespace, name)
        expected = int(old_meta["resourceVersion"])
        try:
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self.kv.delete(key, expect_mod_revision=expected)
                event = WatchEvent("DELETED", rt, _clone(new))
                events = [event, *deletion.cascade(self, rt, new)]
            else:
                revision = self.kv.put(key, self._encode(new), expect_mod_revision=expected)
                meta["resourceVersion"] = str(revision)
                events = [WatchEvent("MODIFIED", rt, _clone(new))]
                if objmeta.is_crd(rt):
                    self._serve_crd(new)
        except RevisionConflict as exc:
            raise errors.conflict(rt.plural, rt.group, name) from exc
        self._notify(events)
        return new

    # -- delete (simulator.kube.deletion) --------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        context: RequestContext | None = None,
        *,
        preconditions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """DELETE: the deleted object for pods/services/custom resources, else a Success Status."""
        return deletion.delete(self, rt, namespace, name, context, preconditions=preconditions)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str,
        context: RequestContext | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> dict[str, Any]:
        """DELETE on a collection: a ``<Kind>List`` of what was deleted."""
        return deletion.delete_collection(
            self,
            rt,
            namespace,
            context,
            label_selector=label_selector,
            field_selector=field_selector,
        )

    # -- custom resource definitions ------------------------------------------------------------

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec") or {}
        self.registry.unregister(
            str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", ""))
        )
        for served in types_from_crd(crd):
            self.registry.register(served)

    def _restore_crds(self) -> None:
        """Serve the CRDs already in a reopened store (the etcd-backed store persists)."""
        crd_type = self.registry.lookup(objmeta.CRD_GROUP, "v1", "customresourcedefinitions")
        if crd_type is None:
            return
        entries, _ = self.kv.range(crd_type.storage_prefix())
        for entry in entries:
            self._serve_crd(json.loads(entry.value))
