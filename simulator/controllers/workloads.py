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
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.kube import errors
from simulator.kube import meta as objmeta
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType

Obj = dict[str, Any]

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


# -- label selectors and scheduling predicates ----------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against *labels* (a missing selector matches nothing)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and (not present or labels[key] not in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def untolerated_taint(spec: Mapping[str, Any], node: Mapping[str, Any]) -> Obj | None:
    """The first NoSchedule/NoExecute taint of *node* the pod spec does not tolerate."""
    tolerations = spec.get("tolerations") or []
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            tolerations, taint
        ):
            return dict(taint)
    return None


def selector_fits(spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())


def _anti_affinity_conflict(pod: Obj, node: Obj, nodes: Mapping[str, Obj], pods: list[Obj]) -> bool:
    terms = (
        pod["spec"]
        .get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
        or []
    )
    for term in terms:
        key = term.get("topologyKey", "")
        value = (node["metadata"].get("labels") or {}).get(key)
        if value is None:
            continue
        namespaces = term.get("namespaces") or [pod["metadata"]["namespace"]]
        for other in pods:
            other_node = nodes.get(other["spec"].get("nodeName", ""))
            if (
                other is not pod
                and other_node is not None
                and other["metadata"]["namespace"] in namespaces
                and (other_node["metadata"].get("labels") or {}).get(key) == value
                and selector_matches(
                    term.get("labelSelector"), other["metadata"].get("labels") or {}
                )
            ):
                return True
    return False


def _schedule(pod: Obj, nodes: Mapping[str, Obj], pods: list[Obj]) -> tuple[str | None, str]:
    """The node for *pod* (fewest pods first), or None and the scheduler's message."""
    reasons: dict[str, int] = {}
    fits: list[str] = []
    for name, node in sorted(nodes.items()):
        taint = untolerated_taint(pod["spec"], node)
        if node.get("spec", {}).get("unschedulable"):
            reason = "node(s) were unschedulable"
        elif not selector_fits(pod["spec"], node):
            reason = "node(s) didn't match Pod's node affinity/selector"
        elif taint is not None:
            reason = (
                f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
            )
        elif _anti_affinity_conflict(pod, node, nodes, pods):
            reason = "node(s) didn't match pod anti-affinity rules"
        else:
            fits.append(name)
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    if fits:
        load = {n: sum(1 for p in pods if p["spec"].get("nodeName") == n) for n in fits}
        return min(fits, key=lambda n: (load[n], n)), ""
    total = len(nodes)
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    message = f"0/{total} nodes are available: {detail}." if detail else "no nodes available"
    message += (
        f" preemption: 0/{total} nodes are available: "
        f"{total} Preemption is not helpful for scheduling."
    )
    return None, message


# -- pod status --------------------------------------------------------------------------------


def _pod_ip(pod: Mapping[str, Any], host_ip: str) -> str:
    if pod["spec"].get("hostNetwork"):
        return host_ip
    digest = hashlib.sha256(pod["metadata"]["uid"].encode()).digest()
    return f"10.244.{digest[0]}.{digest[1] % 254 + 1}"


def _internal_ip(node: Mapping[str, Any]) -> str:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address", ""))
    return ""


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Whether a Node's or Pod's ``Ready`` condition is True."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _pod_status(pod: Obj, node: Obj | None, kubelet_up: bool, message: str, now: str) -> Obj:
    old = pod.get("status") or {}
    status: Obj = {
        "phase": old.get("phase", "Pending"),
        "qosClass": old.get("qosClass", "BestEffort"),
    }
    if node is None:
        status["conditions"] = merge_conditions(
            old.get("conditions") or [],
            [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                }
            ],
            now,
        )
        return status
    host_ip = _internal_ip(node)
    host_network = bool(pod["spec"].get("hostNetwork"))
    starts = kubelet_up and (host_network or is_ready(node))
    if starts:
        status["phase"] = "Running"
    ready = starts and status["phase"] == "Running"
    state = "True" if ready else "False"
    running = status["phase"] == "Running"
    status.update(
        {
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "startTime": old.get("startTime", now),
        }
    )
    if running:
        status["podIP"] = old.get("podIP") or _pod_ip(pod, host_ip)
        status["podIPs"] = [{"ip": status["podIP"]}]
    conditions: list[Obj] = [
        {"type": "PodReadyToStartContainers", "status": "True" if running else "False"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": state},
        {"type": "ContainersReady", "status": state},
        {"type": "PodScheduled", "status": "True"},
    ]
    for cond in conditions:
        cond["lastProbeTime"] = None
        cond["lastTransitionTime"] = now
    status["conditions"] = merge_conditions(old.get("conditions") or [], conditions, now)
    started = old.get("startTime", now)
    status["containerStatuses"] = [
        {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": running,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}}
            if running
            else {"waiting": {"reason": "ContainerCreating"}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    return status


# -- controllers -------------------------------------------------------------------------------


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
        for pod in mine:
            node = nodes.get(pod["spec"].get("nodeName", ""))
            if node is None or not selector_fits(placement, node):
                _delete(store, pods_rt, pod)
        revision = _template_hash(ds["spec"].get("template") or {})
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
    store: ObjectStore, nodes: Mapping[str, Obj], node_up: set[str], now: dt.datetime
) -> None:
    """Bind pending pods, delete pods of vanished nodes, and set every pod's status."""
    pods_rt = kind(store, "", "pods")
    stamp = ts(now)
    pods = items(store, pods_rt)
    for pod in pods:
        node_name = pod["spec"].get("nodeName")
        message = ""
        if node_name and node_name not in nodes:
            _delete(store, pods_rt, pod)  # the pod garbage collector's orphan rule
            continue
        if not node_name:
            chosen, message = _schedule(pod, nodes, pods)
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
            _pod_status(pod, node, (node_name or "") in node_up, message, stamp),
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
