"""What Longhorn 1.8.1 deploys at runtime: the CSI driver and the default engine image.

What belongs here: the objects no chart template holds, which a real
Longhorn creates once its own pods run --

* ``longhorn-driver-deployer`` (app/driver.go ``deployCSIDriver``,
  csi/deployment.go, types/deploy.go at longhorn/longhorn-manager v1.8.1),
  once its pod runs: the CSIDriver ``driver.longhorn.io``, the Deployments
  ``csi-attacher``, ``csi-provisioner``, ``csi-resizer`` and
  ``csi-snapshotter`` (``CSI_<NAME>_REPLICA_COUNT`` replicas, default 3) and
  the DaemonSet ``longhorn-csi-plugin``, with the images its environment
  names (``CSI_<NAME>_IMAGE``, set by the chart from ``image.csi.*``);
* longhorn-manager's engine-image controller
  (controller/engine_image_controller.go): the DaemonSet
  ``engine-image-ei-<8 hex of the image's SHA-512>`` for the default engine
  image (the manager's ``--engine-image``), re-created when deleted.

The workload controllers then run their pods like any other, so they come up
after the simulator's ``--pod-start-delay`` as the chart's own pods do, and
the CSI parts appear only after the driver deployer's pod is Running and
Ready -- the order that lets a readiness wait judging only what exists end
too early.

Cost: the driver deployer deploys once per pod, as upstream's does at its
start; a KV record of the pod's uid makes every later pass one pod LIST and
one KV read.  Deviations: pod templates are abbreviated (names, images,
privilege; no volumes, probes or anti-affinity); an existing object is left
as it is (upstream re-creates one whose version annotations differ); no
EngineImage custom resource is kept; settings (tolerations, node selector,
priority class) are not applied to these pods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from simulator.controllers import store_access
from simulator.controllers.podstatus import is_ready
from simulator.kube.objects import ObjectStore

NAMESPACE = "longhorn-system"
DEPLOYER_LABEL = "app=longhorn-driver-deployer"
MANAGER = "longhorn-manager"
DRIVER_NAME = "driver.longhorn.io"
PLUGIN = "longhorn-csi-plugin"
DEPLOYED_MARKER = "/simulator/controllers/longhorn-driver-deployed"
MANAGED_BY = {"longhorn.io/managed-by": "longhorn-manager"}
DEFAULT_REPLICAS = 3  # csi.DefaultCSI*ReplicaCount

# Deployment name -> (image variable, replica-count variable), csi/deployment.go.
SIDECARS: Mapping[str, tuple[str, str]] = {
    "csi-attacher": ("CSI_ATTACHER_IMAGE", "CSI_ATTACHER_REPLICA_COUNT"),
    "csi-provisioner": ("CSI_PROVISIONER_IMAGE", "CSI_PROVISIONER_REPLICA_COUNT"),
    "csi-resizer": ("CSI_RESIZER_IMAGE", "CSI_RESIZER_REPLICA_COUNT"),
    "csi-snapshotter": ("CSI_SNAPSHOTTER_IMAGE", "CSI_SNAPSHOTTER_REPLICA_COUNT"),
}

Obj = dict[str, Any]


def engine_image_daemonset(image: str) -> str:
    """``engine-image-`` + ``ei-`` + 8 hex of SHA-512 (types.GetEngineImageChecksumName)."""
    return "engine-image-ei-" + hashlib.sha512(image.strip().encode()).hexdigest()[:8]


def _container(pod_spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for container in pod_spec.get("containers") or []:
        if isinstance(container, Mapping) and container.get("name") == name:
            return container
    return {}


def _flag(container: Mapping[str, Any], flag: str) -> str:
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    for index, word in enumerate(words[:-1]):
        if word == flag:
            return words[index + 1]
    return ""


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(e.get("name")): str(e.get("value"))
        for e in container.get("env") or []
        if isinstance(e, Mapping) and "value" in e
    }


def _workload(kind: str, name: str, pod_spec: Obj, replicas: int | None = None) -> Obj:
    labels = {**MANAGED_BY, "app": name}
    spec: Obj = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": spec,
    }


def _pod_spec(*containers: Obj) -> Obj:
    return {"serviceAccountName": "longhorn-service-account", "containers": list(containers)}


def _replicas(env: Mapping[str, str], variable: str) -> int:
    try:
        count = int(env.get(variable, ""))
    except ValueError:
        return DEFAULT_REPLICAS
    return count if count > 0 else DEFAULT_REPLICAS


def csi_objects(deployer: Mapping[str, Any]) -> list[Obj]:
    """What the driver deployer running as pod *deployer* creates, in its order."""
    container = _container(deployer.get("spec") or {}, "longhorn-driver-deployer")
    env = _env(container)
    manager_image = _flag(container, "--manager-image")
    driver: Obj = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": DRIVER_NAME},
        "spec": {"podInfoOnMount": True},
    }
    objects = [driver]
    for name, (image, count) in SIDECARS.items():
        sidecar = {"name": name, "image": env.get(image, ""), "args": ["--v=2"]}
        objects.append(_workload("Deployment", name, _pod_spec(sidecar), _replicas(env, count)))
    plugin = _pod_spec(
        {"name": "node-driver-registrar", "image": env.get("CSI_NODE_DRIVER_REGISTRAR_IMAGE", "")},
        {"name": "longhorn-liveness-probe", "image": env.get("CSI_LIVENESS_PROBE_IMAGE", "")},
        {
            "name": PLUGIN,
            "image": manager_image,
            "args": ["longhorn-manager", "-d", "csi", f"--drivername={DRIVER_NAME}"],
            "securityContext": {"privileged": True},
        },
    )
    objects.append(_workload("DaemonSet", PLUGIN, plugin))
    return objects


def engine_image_objects(manager_spec: Mapping[str, Any]) -> list[Obj]:
    """The default engine image's DaemonSet, from the manager's ``--engine-image``."""
    image = _flag(_container(manager_spec, MANAGER), "--engine-image")
    if not image:
        return []
    name = engine_image_daemonset(image)
    container = {"name": name, "image": image, "securityContext": {"privileged": True}}
    daemonset = _workload("DaemonSet", name, _pod_spec(container))
    selector = {**MANAGED_BY, "longhorn.io/component": "engine-image"}
    selector["longhorn.io/engine-image"] = name.removeprefix("engine-image-")
    daemonset["spec"]["selector"] = {"matchLabels": dict(selector)}
    daemonset["spec"]["template"]["metadata"]["labels"] = dict(selector)
    daemonset["metadata"]["labels"] = dict(selector)
    return [daemonset]


def _create_missing(store: ObjectStore, objects: list[Obj]) -> None:
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        plural = {"CSIDriver": "csidrivers", "Deployment": "deployments", "DaemonSet": "daemonsets"}
        rt = store_access.kind(store, group, plural[obj["kind"]])
        namespace = NAMESPACE if rt.namespaced else ""
        if store_access.get_or_none(store, rt, namespace, obj["metadata"]["name"]) is None:
            store.create(rt, namespace, obj)


def _ready_deployer(store: ObjectStore) -> Obj | None:
    pods = store.list(
        store_access.kind(store, "", "pods"), NAMESPACE, label_selector=DEPLOYER_LABEL
    )["items"]
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod):
            found: Obj = pod
            return found
    return None


def reconcile_components(store: ObjectStore) -> None:
    """Create what the driver deployer and the manager deploy, once each can (idempotent).

    Called by the Longhorn controller only while a longhorn-manager pod runs.
    """
    manager = store_access.get_or_none(
        store, store_access.kind(store, "apps", "daemonsets"), NAMESPACE, MANAGER
    )
    if manager is not None:
        spec = ((manager.get("spec") or {}).get("template") or {}).get("spec") or {}
        _create_missing(store, engine_image_objects(spec))
    deployer = _ready_deployer(store)
    if deployer is None:
        return
    uid = str(deployer["metadata"].get("uid", "")).encode()
    entry = store.kv.get(DEPLOYED_MARKER)
    if entry is not None and entry.value == uid:
        return  # this deployer pod has deployed already; it does not watch afterwards
    _create_missing(store, csi_objects(deployer))
    store.kv.put(DEPLOYED_MARKER, uid)
