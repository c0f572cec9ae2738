"""Reading and writing the object store the way every simulated controller does.

What belongs here: the small store operations the controllers (workloads,
nodes, Cilium, cluster bootstrap) share -- looking up a served resource type,
listing, a 404-tolerant get, a status write that skips no-op updates,
condition merging that keeps timestamps, owner references, and one-per-cause
Events.  Kept apart from any one controller so that none of them imports
another for plumbing, and so the "a second pass over an unchanged cluster
writes nothing" rule is implemented once (:func:`merge_conditions`,
:func:`write_status`, :func:`record_event`).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.kube import errors
from simulator.kube import meta as objmeta
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType

Obj = dict[str, Any]

_GENERATED_NAME = re.compile(r'pods "[^"]*"')


def kind(store: ObjectStore, group: str, plural: str, version: str = "v1") -> ResourceType:
    """A served resource type (the built-ins are always there)."""
    found = store.registry.lookup(group, version, plural)
    if found is None:
        raise LookupError(f"resource {plural}.{group}/{version} is not served")
    return found


def items(store: ObjectStore, rt: ResourceType, namespace: str = "") -> list[Obj]:
    listed: list[Obj] = store.list(rt, namespace)["items"]
    return listed


def ts(moment: dt.datetime) -> str:
    return objmeta.timestamp(moment)


def get_or_none(store: ObjectStore, rt: ResourceType, namespace: str, name: str) -> Obj | None:
    try:
        return store.get(rt, namespace, name)
    except errors.ApiError as exc:
        if exc.code == 404:
            return None
        raise


def merge_conditions(old: Iterable[Mapping[str, Any]], new: list[Obj], now: str) -> list[Obj]:
    """*new* conditions, keeping each one's timestamps while its status is unchanged.

    Keeping them is what makes a repeated pass write nothing.
    """
    previous = {c.get("type"): c for c in old}
    merged: list[Obj] = []
    for cond in new:
        before = previous.get(cond["type"])
        cond = dict(cond)
        for stamp in (
            "lastTransitionTime",
            "lastHeartbeatTime",
            "lastProbeTime",
            "lastUpdateTime",
        ):
            if cond.get(stamp) is None:
                continue
            if before is not None and before.get("status") == cond["status"]:
                cond[stamp] = before.get(stamp, now)
            else:
                cond[stamp] = now
        merged.append(cond)
    return merged


def write_status(store: ObjectStore, rt: ResourceType, obj: Obj, status: Obj) -> None:
    """Replace *obj*'s status when it differs (the store skips no-op updates too)."""
    if obj.get("status") == status:
        return
    body = copy.deepcopy(obj)
    body["status"] = status
    meta = body["metadata"]
    store.replace(rt, meta.get("namespace", ""), meta["name"], body, subresource="status")


def owner_ref(owner: Mapping[str, Any]) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = owner["metadata"]["uid"]
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


def record_event(
    store: ObjectStore,
    owner: Mapping[str, Any],
    *,
    reason: str,
    message: str,
    component: str,
    now: dt.datetime,
    type_: str = "Warning",
) -> None:
    """One Event about *owner*, created once per (owner, reason, message).

    Generated pod names are left out of the identity: each retry names a new
    pod, and a repeated rejection must not write a new Event every pass.
    """
    meta = owner["metadata"]
    gist = _GENERATED_NAME.sub('pods "*"', message)
    digest = hashlib.sha256(f"{meta['uid']}/{reason}/{gist}".encode()).hexdigest()[:16]
    name = f"{meta['name']}.{digest}"
    events = kind(store, "", "events")
    if get_or_none(store, events, meta["namespace"], name) is not None:
        return
    stamp = ts(now)
    store.create(
        events,
        meta["namespace"],
        {
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": component,
        },
    )


def delete_if_present(store: ObjectStore, rt: ResourceType, namespace: str, name: str) -> None:
    """DELETE, where an object already gone is what was wanted."""
    try:
        store.delete(rt, namespace, name)
    except errors.ApiError as exc:
        if exc.code != 404:
            raise
