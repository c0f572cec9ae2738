"""Workload controllers: DaemonSets, Deployments, ReplicaSets, scheduling and pod status.

What belongs here: what kube-controller-manager, kube-scheduler and the
kubelets do to workload objects in a real cluster, reduced to one pure pass
over the object store -- Pods created per DaemonSet and ReplicaSet, bound to
Nodes, started, and the owners' status counted from them.  Pods are created
*through* the store, so admission (PodSecurity) rejects them exactly as it
would a real controller's request; the rejection becomes a ``FailedCreate``
Event on the owner and the owner's status shows fewer pods.

Every write is conditional on a difference (timestamps of unchanged
conditions are kept), so a second pass over an unchanged cluster writes
nothing.  Which Nodes are up is read from the Node objects and the
*node_up* set (machines whose kubelet runs) that :mod:`.cluster` passes in.

Deviations from upstream: no rolling update (a new template replaces all
pods of the old ReplicaSet at once), no taint-based eviction, no node
affinity (``nodeSelector`` only), no preemption, pod IPs of non-host-network
pods are made up from the pod's uid, event counts are not incremented.

The store plumbing these controllers share with the others lives in
:mod:`.store_access`, placement in :mod:`.scheduling` and the kubelet's pod
status in :mod:`.podstatus`; their public names are re-exported here because
the other controllers use them as ``workloads.<name>``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from simulator.controllers.podstatus import CRASH_PREFIX, Crash, is_ready, pod_status
from simulator.controllers.scheduling import (
    schedule,
    selector_fits,
    selector_matches,
    untolerated_taint,
)
from simulator.controllers.store_access import (
    Obj,
    get_or_none,
    items,
    kind,
    merge_conditions,
    owned_by,
    owner_ref,
    record_event,
    ts,
    write_status,
)
from simulator.kube import errors
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType

__all__ = [
    "Obj",
    "collect_garbage",
    "get_or_none",
    "is_ready",
    "items",
    "kind",
    "merge_conditions",
    "owned_by",
    "owner_ref",
    "reconcile_daemonsets",
    "reconcile_deployments",
    "reconcile_owner_status",
    "reconcile_pods",
    "reconcile_replicasets",
    "reconcile_statefulsets",
    "record_event",
    "selector_fits",
    "selector_matches",
    "ts",
    "untolerated_taint",
    "write_status",
]


# DaemonSet controller's automatic tolerations (pkg/controller/daemon/util).
_DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def _new_pod(owner: Obj, prefix: str, extra_labels: Mapping[str, str]) -> Obj:
    template = copy.deepcopy(owner["spec"].get("template") or {})
    meta = template.get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **extra_labels}
    return {
        "metadata": {
            "generateName": f"{prefix}-",
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": template.get("spec") or {},
    }


def _create_pod(store: ObjectStore, owner: Obj, pod: Obj, component: str, now: dt.datetime) -> bool:
    """Create *pod*; a rejection becomes a FailedCreate Event on the owner."""
    try:
        store.create(kind(store, "", "pods"), owner["metadata"]["namespace"], pod)
    except errors.ApiError as exc:
        record_event(
            store,
            owner,
            reason="FailedCreate",
            message=f"Error creating: {exc.message}",
            component=component,
            now=now,
        )
        return False
    return True


def _pods_of(pods: list[Obj], owner: Obj) -> list[Obj]:
    return [p for p in pods if owned_by(p, owner)]


def _delete(store: ObjectStore, rt: ResourceType, obj: Obj) -> None:
    try:
        store.delete(rt, obj["metadata"]["namespace"], obj["metadata"]["name"])
    except errors.ApiError as exc:
        if exc.code != 404:
            raise


def _ds_placement(ds: Mapping[str, Any]) -> Obj:
    """The DaemonSet's pod spec with the tolerations its controller adds."""
    spec: Obj = dict(ds["spec"].get("template", {}).get("spec") or {})
    extra = list(_DS_TOLERATIONS)
    if spec.get("hostNetwork"):
        extra.append(
            {
                "key": "node.kubernetes.io/network-unavailable",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        )
    spec["tolerations"] = [*(spec.get("tolerations") or []), *extra]
    return spec


def _should_run(placement: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    return selector_fits(placement, node) and untolerated_taint(placement, node) is None


def reconcile_daemonsets(store: ObjectStore, nodes: Mapping[str, Obj], now: dt.datetime) -> None:
    pods_rt, ds_rt = kind(store, "", "pods"), kind(store, "apps", "daemonsets")
    pods = items(store, pods_rt)
    for ds in items(store, ds_rt):
        placement = _ds_placement(ds)
        mine = _pods_of(pods, ds)
        by_node = {p["spec"].get("nodeName"): p for p in mine}
        revision = _template_hash(ds["spec"].get("template") or {})
        # RollingUpdate (the default; OnDelete keeps old pods): a pod of an older template
        # is replaced -- all at once here, like the Deployments' ReplicaSets.
        rolling = (ds["spec"].get("updateStrategy") or {}).get("type") != "OnDelete"
        for pod in mine:
            node = nodes.get(pod["spec"].get("nodeName", ""))
            labels = pod["metadata"].get("labels") or {}
            outdated = rolling and labels.get("controller-revision-hash") != revision
            if node is None or not selector_fits(placement, node) or outdated:
                _delete(store, pods_rt, pod)
                by_node.pop(pod["spec"].get("nodeName"), None)
        for name, node in sorted(nodes.items()):
            if name in by_node or not _should_run(placement, node):
                continue
            pod = _new_pod(ds, ds["metadata"]["name"], {"controller-revision-hash": revision})
            pod["spec"]["tolerations"] = placement["tolerations"]
            pod["spec"]["nodeName"] = name
            _create_pod(store, ds, pod, "daemonset-controller", now)


def reconcile_deployments(store: ObjectStore, now: dt.datetime) -> None:
    rs_rt, deploy_rt = kind(store, "apps", "replicasets"), kind(store, "apps", "deployments")
    sets = items(store, rs_rt)
    for deploy in items(store, deploy_rt):
        namespace, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        template = copy.deepcopy(deploy["spec"].get("template") or {})
        digest = _template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
        selector = copy.deepcopy(deploy["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
        replicas = int(deploy["spec"].get("replicas", 1))
        current = f"{name}-{digest}"
        mine = _pods_of(sets, deploy)
        for rs in mine:
            want = replicas if rs["metadata"]["name"] == current else 0
            if rs["spec"].get("replicas") != want:
                body = copy.deepcopy(rs)
                body["spec"]["replicas"] = want
                store.replace(rs_rt, namespace, rs["metadata"]["name"], body)
        if not any(rs["metadata"]["name"] == current for rs in mine):
            store.create(
                rs_rt,
                namespace,
                {
                    "metadata": {
                        "name": current,
                        "namespace": namespace,
                        "labels": dict(template["metadata"]["labels"]),
                        "ownerReferences": [owner_ref(deploy)],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": template},
                },
            )


def reconcile_replicasets(store: ObjectStore, now: dt.datetime) -> None:
    pods_rt, rs_rt = kind(store, "", "pods"), kind(store, "apps", "replicasets")
    pods = items(store, pods_rt)
    for rs in items(store, rs_rt):
        mine = _pods_of(pods, rs)
        want = int(rs["spec"].get("replicas", 1))
        for _ in range(want - len(mine)):
            pod = _new_pod(rs, rs["metadata"]["name"], {})
            if not _create_pod(store, rs, pod, "replicaset-controller", now):
                break
        if len(mine) > want:
            # Unscheduled, then not-ready, then newest go first (controller.ActivePods order).
            mine.sort(
                key=lambda p: (
                    bool(p["spec"].get("nodeName")),
                    (p.get("status") or {}).get("phase") == "Running",
                    p["metadata"].get("creationTimestamp", ""),
                )
            )
            for pod in mine[: len(mine) - want]:
                _delete(store, pods_rt, pod)


def reconcile_statefulsets(store: ObjectStore, now: dt.datetime) -> None:
    """Pods ``<name>-0`` .. ``<name>-<replicas-1>`` of every StatefulSet, highest ordinal first out.

    Deviation: no ordered start (OrderedReady waits for each pod to be Ready
    before the next), no volumeClaimTemplates, no revisions; a pod's identity
    (its name and ``statefulset.kubernetes.io/pod-name`` label) is kept, see
    https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#pod-identity
    """
    pods_rt, sts_rt = kind(store, "", "pods"), kind(store, "apps", "statefulsets")
    pods = items(store, pods_rt)
    for sts in items(store, sts_rt):
        name = sts["metadata"]["name"]
        mine = {p["metadata"]["name"]: p for p in _pods_of(pods, sts)}
        want = int(sts["spec"].get("replicas", 1))
        for ordinal in range(want):
            pod_name = f"{name}-{ordinal}"
            if pod_name in mine:
                continue
            pod = _new_pod(sts, name, {"statefulset.kubernetes.io/pod-name": pod_name})
            del pod["metadata"]["generateName"]
            pod["metadata"]["name"] = pod_name
            if not _create_pod(store, sts, pod, "statefulset-controller", now):
                break
        for pod_name, pod in sorted(mine.items(), reverse=True):
            ordinal = pod_name.removeprefix(f"{name}-")
            if not ordinal.isdigit() or int(ordinal) >= want:
                _delete(store, pods_rt, pod)


def collect_garbage(store: ObjectStore) -> None:
    """Delete ReplicaSets and Pods whose controlling owner is gone (the garbage collector).

    Only the owner kinds these controllers manage are considered, so objects
    owned by something the simulator does not model are left alone.
    """
    owners: dict[str, set[str]] = {}
    for group, plural, kind_name in (
        ("apps", "deployments", "Deployment"),
        ("apps", "replicasets", "ReplicaSet"),
        ("apps", "daemonsets", "DaemonSet"),
        ("apps", "statefulsets", "StatefulSet"),
        ("", "nodes", "Node"),
    ):
        owners[kind_name] = {o["metadata"]["uid"] for o in items(store, kind(store, group, plural))}
    for group, plural in (("apps", "replicasets"), ("", "pods")):
        rt = kind(store, group, plural)
        for obj in items(store, rt):
            for ref in obj["metadata"].get("ownerReferences") or []:
                known = owners.get(str(ref.get("kind")))
                if ref.get("controller") and known is not None and ref.get("uid") not in known:
                    _delete(store, rt, obj)
                    break


def reconcile_pods(
    store: ObjectStore,
    nodes: Mapping[str, Obj],
    node_up: set[str],
    now: dt.datetime,
    start_delay: float = 0.0,
) -> None:
    """Bind pending pods, delete pods of vanished nodes, and set every pod's status.

    :param start_delay: seconds a pod's containers take to start (see :mod:`.podstatus`).
    """
    pods_rt = kind(store, "", "pods")
    stamp = ts(now)
    pods = items(store, pods_rt)
    crash_entries, _ = store.kv.range(CRASH_PREFIX)
    crashes = {e.key.removeprefix(CRASH_PREFIX): Crash.from_bytes(e.value) for e in crash_entries}
    for uid in set(crashes) - {p["metadata"]["uid"] for p in pods}:
        store.kv.delete(CRASH_PREFIX + uid)  # the container runtime forgets a deleted pod
    for pod in pods:
        node_name = pod["spec"].get("nodeName")
        message = ""
        if node_name and node_name not in nodes:
            _delete(store, pods_rt, pod)  # the pod garbage collector's orphan rule
            continue
        if not node_name:
            chosen, message = schedule(pod, nodes, pods)
            if chosen is not None:
                body = copy.deepcopy(pod)
                body["spec"]["nodeName"] = chosen
                pod = store.replace(
                    pods_rt, pod["metadata"]["namespace"], pod["metadata"]["name"], body
                )
                node_name = chosen
                pods = [p if p["metadata"]["uid"] != pod["metadata"]["uid"] else pod for p in pods]
        node = nodes.get(node_name or "")
        write_status(
            store,
            pods_rt,
            pod,
            pod_status(
                pod,
                node,
                (node_name or "") in node_up,
                message,
                stamp,
                crashes.get(pod["metadata"]["uid"]),
                start_delay,
            ),
        )


def reconcile_owner_status(store: ObjectStore, nodes: Mapping[str, Obj], now: dt.datetime) -> None:
    """Counts on DaemonSets, ReplicaSets and Deployments, from the pods as they are now."""
    pods = items(store, kind(store, "", "pods"))
    ds_rt = kind(store, "apps", "daemonsets")
    for ds in items(store, ds_rt):
        mine = _pods_of(pods, ds)
        ready = sum(1 for p in mine if is_ready(p))
        placement = _ds_placement(ds)
        desired = sum(1 for n in nodes.values() if _should_run(placement, n))
        status = {
            "currentNumberScheduled": len(mine),
            "desiredNumberScheduled": max(desired, len(mine)),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": len(mine),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        unavailable = status["desiredNumberScheduled"] - ready
        if unavailable:
            status["numberUnavailable"] = unavailable
        write_status(store, ds_rt, ds, status)
    rs_rt = kind(store, "apps", "replicasets")
    sets = items(store, rs_rt)
    for rs in sets:
        mine = _pods_of(pods, rs)
        ready = sum(1 for p in mine if is_ready(p))
        status = {
            "replicas": len(mine),
            "fullyLabeledReplicas": len(mine),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        write_status(store, rs_rt, rs, {k: v for k, v in status.items() if v or k == "replicas"})
    deploy_rt = kind(store, "apps", "deployments")
    for deploy in items(store, deploy_rt):
        owned = _pods_of(sets, deploy)
        mine = [p for rs in owned for p in _pods_of(pods, rs)]
        ready = sum(1 for p in mine if is_ready(p))
        want = int(deploy["spec"].get("replicas", 1))
        status = {
            "observedGeneration": deploy["metadata"].get("generation", 1),
            "replicas": len(mine),
            "updatedReplicas": len(mine),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if want - ready > 0:
            status["unavailableReplicas"] = want - ready
        status["conditions"] = merge_conditions(
            (deploy.get("status") or {}).get("conditions") or [],
            [
                {
                    "type": "Available",
                    "status": "True" if ready >= want else "False",
                    "reason": "MinimumReplicasAvailable"
                    if ready >= want
                    else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if ready >= want
                    else "Deployment does not have minimum availability.",
                    "lastTransitionTime": ts(now),
                    "lastUpdateTime": ts(now),
                }
            ],
            ts(now),
        )
        write_status(store, deploy_rt, deploy, status)
