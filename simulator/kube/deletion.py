"""The DELETE half of :class:`simulator.kube.objects.ObjectStore`.

What belongs here: deleting one object or a collection, finalizer handling
(``deletionTimestamp`` until ``metadata.finalizers`` is empty), DeleteOptions
preconditions, and the cascades this simulator implements -- a Namespace
takes its objects with it, a CRD its custom resources and its API.  Split
from :mod:`simulator.kube.objects` only to keep both modules readable; it is
a set of functions over the store, which exposes them as methods.

Deviations: no graceful pod termination, no garbage collection of owned
objects (``ownerReferences``), ``propagationPolicy`` ignored, namespaces
skip the Terminating phase.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from simulator.kube import errors
from simulator.kube.hooks import AdmissionRequest, Operation, RequestContext, WatchEvent
from simulator.kube.meta import is_crd, metadata_of, timestamp
from simulator.kube.registry import ResourceType, types_from_crd

if TYPE_CHECKING:
    from simulator.kube.objects import ObjectStore

_Events = list[WatchEvent]
_Objects = list[dict[str, Any]]


def delete(
    store: ObjectStore,
    rt: ResourceType,
    namespace: str,
    name: str,
    context: RequestContext | None = None,
    *,
    preconditions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """DELETE: the deleted object for pods/services/custom resources, else a Success Status."""
    ctx = context if context is not None else RequestContext()
    with store._lock:
        current = store.get(rt, namespace, name)
        meta = current["metadata"]
        _check_preconditions(store, rt, current, preconditions or {})
        request = AdmissionRequest(Operation.DELETE, rt, "", namespace, name, None, current, ctx)
        store._admit(request)
        events: _Events = []
        result = current
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                result = copy.deepcopy(current)
                result["metadata"]["deletionTimestamp"] = timestamp(store._now())
                result["metadata"]["deletionGracePeriodSeconds"] = 0
                if not ctx.dry_run:
                    revision = store.kv.put(
                        rt.key(namespace, name),
                        store._encode(result),
                        expect_mod_revision=int(meta["resourceVersion"]),
                    )
                    result["metadata"]["resourceVersion"] = str(revision)
                    events.append(WatchEvent("MODIFIED", rt, copy.deepcopy(result)))
            pending = True
        else:
            pending = False
            if not ctx.dry_run:
                store.kv.delete(
                    rt.key(namespace, name), expect_mod_revision=int(meta["resourceVersion"])
                )
                events.append(WatchEvent("DELETED", rt, copy.deepcopy(current)))
                events.extend(cascade(store, rt, current))
    store._notify(events)
    if pending or rt.returns_deleted_object:
        return result
    details: dict[str, Any] = {"name": name, "kind": rt.plural, "uid": meta.get("uid", "")}
    if rt.group:
        details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _check_preconditions(
    store: ObjectStore,
    rt: ResourceType,
    current: Mapping[str, Any],
    preconditions: Mapping[str, Any],
) -> None:
    meta = metadata_of(current)
    name = str(meta.get("name", ""))
    uid = preconditions.get("uid")
    if uid and uid != meta.get("uid"):
        raise errors.conflict(
            rt.plural,
            rt.group,
            name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{meta.get('uid', '')}",
        )
    rv = preconditions.get("resourceVersion")
    if rv and rv != meta.get("resourceVersion"):
        raise errors.conflict(
            rt.plural,
            rt.group,
            name,
            f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion "
            f"in object meta: {meta.get('resourceVersion', '')}",
        )


def delete_collection(
    store: ObjectStore,
    rt: ResourceType,
    namespace: str,
    context: RequestContext | None = None,
    *,
    label_selector: str = "",
    field_selector: str = "",
) -> dict[str, Any]:
    """DELETE on a collection: a ``<Kind>List`` of what was deleted."""
    listed = store.list(rt, namespace, label_selector=label_selector, field_selector=field_selector)
    deleted: _Objects = []
    for item in listed["items"]:
        meta = item["metadata"]
        try:
            delete(store, rt, meta.get("namespace", ""), meta["name"], context)
        except errors.ApiError as exc:
            if exc.code != 404:  # deleted concurrently: nothing left to do
                raise
            continue
        deleted.append(item)
    listed["items"] = deleted
    return listed


def cascade(store: ObjectStore, rt: ResourceType, deleted: Mapping[str, Any]) -> _Events:
    """Remove what lives inside a deleted Namespace or CRD (caller holds the lock)."""
    events: _Events = []
    name = metadata_of(deleted).get("name", "")
    if rt.group == "" and rt.kind == "Namespace":
        seen: set[str] = set()
        for other in store.registry.all():
            prefix = other.storage_prefix()
            if not other.namespaced or prefix in seen:
                continue
            seen.add(prefix)
            events.extend(_drop_prefix(store, other, f"{prefix}{name}/"))
    elif is_crd(rt):
        served = types_from_crd(deleted)
        if served:
            events.extend(_drop_prefix(store, served[0], served[0].storage_prefix()))
        spec = deleted.get("spec") or {}
        store.registry.unregister(
            str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", ""))
        )
    return events


def _drop_prefix(store: ObjectStore, rt: ResourceType, prefix: str) -> _Events:
    entries, _ = store.kv.range(prefix)
    events: _Events = []
    for entry in entries:
        obj = store._decode(rt, entry)
        if store.kv.delete(entry.key):
            events.append(WatchEvent("DELETED", rt, obj))
    return events
