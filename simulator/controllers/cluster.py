"""The entry point of the cluster controllers: :func:`reconcile`, plus Talos's own manifests.

What belongs here: the order in which the controllers run, the guard that
keeps a reconcile triggered by a reconcile's own writes from recursing, and
what Talos itself puts into the cluster after bootstrap -- the system
namespaces, the bootstrap manifests (kube-proxy unless ``cluster.proxy.
disabled``, CoreDNS and its ``kube-dns`` Service, flannel when the CNI is
flannel) and the control-plane static pods' mirror Pods.  Each controller
lives in its own module (:mod:`.nodes`, :mod:`.workloads`, :mod:`.cilium`,
``longhorn``).

One call runs passes until a pass writes nothing (the KV revision does not
move), because the controllers feed each other: a CNI pod makes its node
Ready, a Ready node lets ordinary pods run.  A pass over an unchanged
cluster writes nothing, so a second :func:`reconcile` costs only reads.

Bootstrap manifests follow Talos's ``k8s.ManifestApplyController``: each
running control-plane node renders them from its own config, and an object
is created only if it is in neither the cluster nor the inventory of what
was applied before (a KV key here, a ConfigMap in Talos); so a node whose
config re-enables kube-proxy brings a kube-proxy DaemonSet, while a deleted
one is never re-created -- deleting it is a lasting remediation.  Deviations:
CoreDNS and flannel images are representative, not read from Talos's
templates; the manifests carry only what the simulator and checks use.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from simulator.controllers import cilium, nodes, workloads
from simulator.controllers.store_access import delete_if_present
from simulator.kube import errors
from simulator.kube.objects import ObjectStore
from simulator.state.machines import KUBERNETES_VERSION, Site

Obj = dict[str, Any]
Reconciler = Callable[..., None]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MANIFESTS_MARKER = "/simulator/controllers/bootstrap-manifests"
MAX_PASSES = 8
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
MIRROR = "kubernetes.io/config.mirror"  # the kubelet's mark on a static pod's mirror
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.4"
FLANNEL_IMAGE = "ghcr.io/siderolabs/flannel:v0.27.4"

_local = threading.local()

longhorn_reconciler: Reconciler | None
try:  # written alongside by another author; the cluster works without it
    from simulator.controllers.longhorn import reconcile_longhorn as longhorn_reconciler
except ImportError:  # pragma: no cover - depends on what is present in the tree
    longhorn_reconciler = None


def _daemonset(name: str, labels: dict[str, str], spec: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "kube-system", "labels": dict(labels)},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": spec},
        },
    }


def kube_proxy() -> Obj:
    labels = {"k8s-app": "kube-proxy", "tier": "node"}
    return _daemonset(
        "kube-proxy",
        labels,
        {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "serviceAccountName": "kube-proxy",
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "kube-proxy",
                    "image": f"registry.k8s.io/kube-proxy:v{KUBERNETES_VERSION}",
                    "securityContext": {"privileged": True},
                }
            ],
        },
    )


def flannel() -> Obj:
    labels = {"k8s-app": "flannel", "tier": "node"}
    return _daemonset(
        "kube-flannel",
        labels,
        {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "serviceAccountName": "flannel",
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "kube-flannel",
                    "image": FLANNEL_IMAGE,
                    "securityContext": {
                        "privileged": False,
                        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                    },
                }
            ],
        },
    )


def coredns() -> list[Obj]:
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(labels)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                    ],
                    "containers": [{"name": "coredns", "image": COREDNS_IMAGE}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": dict(labels)},
        "spec": {
            "selector": {"k8s-app": "kube-dns"},
            "clusterIP": "10.96.0.10",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "metrics", "port": 9153, "protocol": "TCP"},
            ],
        },
    }
    return [deployment, service]


def bootstrap_manifests(cluster: nodes.ClusterSettings) -> list[Obj]:
    """What Talos applies after bootstrap for these cluster settings."""
    manifests: list[Obj] = []
    if not cluster.proxy_disabled:
        manifests.append(kube_proxy())
    manifests.extend(coredns())
    if cluster.cni_name == "flannel":
        manifests.append(flannel())
    return manifests


def _plural(obj: Obj) -> tuple[str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    return group, {"DaemonSet": "daemonsets", "Deployment": "deployments", "Service": "services"}[
        obj["kind"]
    ]


def _manifest_id(manifest: Obj) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def _inventory(store: ObjectStore, site: Site) -> set[str]:
    """What was applied before; a state from before the inventory lists the first settings'."""
    entry = store.kv.get(MANIFESTS_MARKER)
    if entry is None:
        return set()
    try:
        found = json.loads(entry.value)
    except ValueError:
        found = None
    if isinstance(found, list):
        return {str(item) for item in found}
    return {_manifest_id(m) for m in bootstrap_manifests(nodes.settings(site))}


def _apply_manifests(store: ObjectStore, site: Site) -> None:
    """Create what a running control plane renders and the inventory lacks (never updates)."""
    applied = _inventory(store, site)
    inventory = set(applied)
    for settings in nodes.running_control_plane_settings(site):
        for manifest in bootstrap_manifests(settings):
            ident = _manifest_id(manifest)
            if ident in inventory:
                continue
            group, plural = _plural(manifest)
            rt = workloads.kind(store, group, plural)
            name = manifest["metadata"]["name"]
            if workloads.get_or_none(store, rt, "kube-system", name) is None:
                store.create(rt, "kube-system", manifest)
            inventory.add(ident)
    if inventory != applied or store.kv.get(MANIFESTS_MARKER) is None:
        store.kv.put(MANIFESTS_MARKER, json.dumps(sorted(inventory)).encode())


def _namespaces(store: ObjectStore) -> None:
    rt = workloads.kind(store, "", "namespaces")
    for name in SYSTEM_NAMESPACES:
        if workloads.get_or_none(store, rt, "", name) is None:
            store.create(rt, "", {"metadata": {"name": name}})


def _mirror_pod(node: Obj, manifest: Mapping[str, Any], source: str) -> Obj:
    """The kubelet's mirror of a static pod: ``<name>-<node>``, owned by the Node."""
    meta = manifest.get("metadata") or {}
    node_name = node["metadata"]["name"]
    name = f"{meta['name']}-{node_name}"
    spec = copy.deepcopy(dict(manifest.get("spec") or {}))
    spec["nodeName"] = node_name
    return {
        "metadata": {
            "name": name,
            "namespace": str(meta.get("namespace") or "default"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": {
                **dict(meta.get("annotations") or {}),
                MIRROR: name,
                "kubernetes.io/config.source": source,
            },
            "ownerReferences": [workloads.owner_ref(node)],
        },
        "spec": spec,
    }


def _component(component: str) -> Obj:
    return {
        "metadata": {
            "name": component,
            "namespace": "kube-system",
            "labels": {"k8s-app": component, "tier": "control-plane"},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-cluster-critical",
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {"name": component, "image": f"registry.k8s.io/{component}:v{KUBERNETES_VERSION}"}
            ],
        },
    }


def _static_pods(store: ObjectStore, site: Site, known: dict[str, Obj]) -> None:
    """Mirror Pods of each running kubelet's static pods, and none for a static pod it lost.

    A control-plane node runs the control-plane components; every node runs
    the Pods of its config's ``machine.pods``, which Talos serves the kubelet
    over HTTP (``config.source`` ``http``).  The kubelet deletes a mirror pod
    whose static pod is gone:
    https://kubernetes.io/docs/tasks/configure-pod-container/static-pod/
    """
    pods_rt = workloads.kind(store, "", "pods")
    mirrors = [
        p
        for p in workloads.items(store, pods_rt)
        if MIRROR in (p["metadata"].get("annotations") or {})
    ]
    for kubelet in nodes.kubelets(site):
        node = known.get(kubelet.node_name)
        if not kubelet.is_running or node is None:
            continue
        wanted = [_mirror_pod(node, p, "http") for p in kubelet.static_pods]
        if kubelet.is_control_plane:
            wanted += [_mirror_pod(node, _component(c), "file") for c in STATIC_PODS]
        names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in wanted}
        for pod in mirrors:
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") != kubelet.node_name:
                continue
            if (meta["namespace"], meta["name"]) not in names:
                delete_if_present(store, pods_rt, meta["namespace"], meta["name"])
        for pod in wanted:
            meta = pod["metadata"]
            if workloads.get_or_none(store, pods_rt, meta["namespace"], meta["name"]) is not None:
                continue
            try:
                store.create(pods_rt, meta["namespace"], pod)
            except errors.ApiError:
                continue  # e.g. its namespace does not exist: the kubelet retries


def _pass(site: Site, store: ObjectStore, now: dt.datetime, start_delay: float) -> None:
    cluster = nodes.settings(site)
    _namespaces(store)
    _apply_manifests(store, site)
    known = nodes.reconcile_nodes(store, site, cluster, now)
    up = {k.node_name for k in nodes.kubelets(site) if k.is_running}
    _static_pods(store, site, known)
    workloads.collect_garbage(store)
    workloads.reconcile_deployments(store, now)
    workloads.reconcile_replicasets(store, now)
    workloads.reconcile_statefulsets(store, now)
    workloads.reconcile_daemonsets(store, known, now)
    cilium.reconcile_agent_api(site, store, now)
    workloads.reconcile_pods(store, known, up, now, start_delay)
    workloads.reconcile_owner_status(store, known, now)
    cilium.reconcile_cilium(store, known, now)
    if longhorn_reconciler is not None:
        longhorn_reconciler(site, store, now=now)


def reconcile(
    site: Site, store: ObjectStore, *, now: datetime, pod_start_delay: float = 0.0
) -> None:
    """Bring the Kubernetes objects in line with *site*; idempotent, never recursive.

    *pod_start_delay* is how long pods' containers take to start
    (:mod:`.podstatus`); passes run later, by the caller's clock, start them.

    Nothing happens before the cluster is bootstrapped (no API server to
    write to).  A pass that meets a conflicting concurrent write (409) or a
    vanished object (404) is retried from fresh reads; other API errors are
    bugs and propagate.  A call made while a reconcile is running on this
    thread -- from a write hook the reconcile's own writes set off -- returns
    at once.
    """
    if getattr(_local, "active", False) or not site.bootstrapped:
        return
    _local.active = True
    try:
        for _ in range(MAX_PASSES):
            before = store.kv.revision()
            try:
                _pass(site, store, now, pod_start_delay)
            except errors.ApiError as exc:
                # Someone else wrote (or deleted) what this pass had read: read again next pass.
                if exc.code not in (404, 409):
                    raise
                continue
            if store.kv.revision() == before:
                break
    finally:
        _local.active = False
