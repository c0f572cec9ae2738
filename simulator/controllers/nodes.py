"""Node objects: what each machine's kubelet (and Talos's node controllers) register.

What belongs here: which machines run a kubelet (:func:`kubelets`), the
cluster-wide settings the Kubernetes side follows (:class:`ClusterSettings`,
read from a control-plane config), and :func:`reconcile_nodes`, which keeps
one Node per kubelet -- labels, taints, addresses, capacity, node info and
conditions -- as the kubelet, Talos's node label/taint controllers and the
node lifecycle controller would.  Derived from the site on every pass;
nothing here is stored apart from the Node objects themselves.

Readiness follows the kubelet: Ready=True only when a CNI agent Pod is
Running on the node (before that the runtime reports the network plugin not
ready); a machine that is not running leaves its Node at Unknown
(``NodeStatusUnknown``), and so does a Node no kubelet posts for any
more (its machine took another node name, or is gone).  The node lifecycle
controller's ``not-ready`` and ``unreachable`` NoSchedule taints are kept in
step, which is what keeps ordinary pods off such nodes.  Labels from ``machine.nodeLabels`` and the
control-plane taint are owned (annotations ``talos.dev/owned-labels`` /
``talos.dev/owned-taints``) so removing them from the config removes them
from the Node while labels added by others stay.

Deviations: allocatable equals capacity (no system-reserved), no lease
objects, no kernel or runtime versions in node info, architecture amd64,
and ``lastHeartbeatTime`` moves only when a condition changes (a pass over
an unchanged site must write nothing).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.controllers import workloads
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType
from simulator.state.machines import KUBERNETES_VERSION, Machine, Site, Stage
from simulator.talos import convergence
from simulator.talos.configview import ConfigError, ConfigView

Obj = dict[str, Any]

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNREACHABLE_TAINT = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
_LIFECYCLE_KEYS = {NOT_READY_TAINT["key"], UNREACHABLE_TAINT["key"]}
OWNED_LABELS = "talos.dev/owned-labels"
OWNED_TAINTS = "talos.dev/owned-taints"
# DaemonSets whose running pod makes a node's network ready, per CNI.
CNI_DAEMONSETS = (("kube-system", "cilium"), ("kube-system", "kube-flannel"))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class ClusterSettings:
    """The cluster-wide config values the Kubernetes objects follow."""

    proxy_disabled: bool = False
    cni_name: str = "flannel"
    allow_scheduling_on_control_planes: bool = False

    @classmethod
    def from_view(cls, view: ConfigView) -> ClusterSettings:
        cluster = _mapping((view.v1alpha1 or {}).get("cluster"))
        cni = _mapping(_mapping(cluster.get("network")).get("cni"))
        return cls(
            proxy_disabled=_mapping(cluster.get("proxy")).get("disabled") is True,
            cni_name=str(cni.get("name") or "flannel"),
            allow_scheduling_on_control_planes=cluster.get("allowSchedulingOnControlPlanes")
            is True,
        )


@dataclass(frozen=True)
class Kubelet:
    """One machine's kubelet, as far as the API server can tell."""

    machine: str
    node_name: str
    ip: str
    is_control_plane: bool
    is_running: bool
    cpu: int
    memory_bytes: int
    talos_version: str
    node_labels: Mapping[str, str] = field(default_factory=dict)
    kubelet_version: str = KUBERNETES_VERSION
    # machine.pods: the static pods Talos hands this kubelet (full Pod manifests).
    static_pods: tuple[Mapping[str, Any], ...] = ()


def _kubelet_version(view: ConfigView) -> str:
    """The kubelet image's tag (``machine.kubelet.image``), as the kubelet reports its version."""
    machine = _mapping((view.v1alpha1 or {}).get("machine"))
    image = str(_mapping(machine.get("kubelet")).get("image") or "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return tag.removeprefix("v") if tag.startswith("v") else KUBERNETES_VERSION


def _machine_pods(view: ConfigView) -> tuple[Mapping[str, Any], ...]:
    """``machine.pods``: the entries that are Pod manifests with a name (others are skipped)."""
    machine = _mapping((view.v1alpha1 or {}).get("machine"))
    pods = machine.get("pods")
    return tuple(
        p
        for p in (pods if isinstance(pods, list) else [])
        if isinstance(p, dict) and _mapping(p.get("metadata")).get("name")
    )


@functools.lru_cache(maxsize=128)
def _parse(text: str) -> ConfigView | None:
    # Every pass reads every machine's config; parsing YAML dominates otherwise.
    try:
        return ConfigView.parse(text)
    except ConfigError:
        return None


def _view(machine: Machine) -> ConfigView | None:
    return None if machine.config is None else _parse(machine.config)


def settings(site: Site) -> ClusterSettings:
    """Settings from the first configured control-plane machine (they are cluster-wide)."""
    for name in sorted(site.machines):
        view = _view(site.machines[name])
        if view is not None and view.is_control_plane:
            return ClusterSettings.from_view(view)
    return ClusterSettings()


def running_control_plane_settings(site: Site) -> list[ClusterSettings]:
    """Each running control-plane machine's own settings: what its Talos renders manifests from."""
    found: list[ClusterSettings] = []
    for name in sorted(site.machines):
        machine = site.machines[name]
        view = _view(machine)
        if view is not None and view.is_control_plane and machine.stage is Stage.RUNNING:
            found.append(ClusterSettings.from_view(view))
    return found


def kubelets(site: Site) -> list[Kubelet]:
    """The kubelets of configured machines once the cluster is bootstrapped."""
    if not site.bootstrapped:
        return []
    found: list[Kubelet] = []
    for name in sorted(site.machines):
        machine = site.machines[name]
        view = _view(machine)
        if view is None or not machine.installed:
            continue
        labels = _mapping(_mapping((view.v1alpha1 or {}).get("machine")).get("nodeLabels"))
        found.append(
            Kubelet(
                machine=name,
                node_name=convergence.hostname_of(machine, view),
                ip=machine.ip,
                is_control_plane=view.is_control_plane,
                is_running=machine.stage is Stage.RUNNING,
                cpu=machine.hardware.cpu,
                memory_bytes=machine.hardware.memory_bytes,
                talos_version=machine.talos_version,
                node_labels={str(k): str(v) for k, v in labels.items()},
                kubelet_version=_kubelet_version(view),
                static_pods=_machine_pods(view),
            )
        )
    return found


def _cni_nodes(store: ObjectStore) -> set[str]:
    """Nodes with a Running CNI agent Pod (read once per pass: one listing, not one per Node)."""
    found: set[str] = set()
    for pod in workloads.items(store, workloads.kind(store, "", "pods"), "kube-system"):
        refs = pod["metadata"].get("ownerReferences") or []
        owner = next(
            (("kube-system", r.get("name")) for r in refs if r.get("kind") == "DaemonSet"), None
        )
        if owner in CNI_DAEMONSETS and (pod.get("status") or {}).get("phase") == "Running":
            found.add(str(pod["spec"].get("nodeName")))
    return found


def _labels(kubelet: Kubelet) -> dict[str, str]:
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": kubelet.node_name,
        "kubernetes.io/os": "linux",
    }
    if kubelet.is_control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return labels


def _spec_and_meta(node: Obj, kubelet: Kubelet, cluster: ClusterSettings, ready: str) -> Obj:
    """*node* with the labels, taints and ownership annotations it should carry."""
    body = copy.deepcopy(node)
    meta = body["metadata"]
    annotations = meta.setdefault("annotations", {})
    labels = meta.setdefault("labels", {})
    previously = json.loads(annotations.get(OWNED_LABELS, "[]"))
    for key in previously:
        if key not in kubelet.node_labels:
            labels.pop(key, None)
    labels.update(_labels(kubelet))
    labels.update(kubelet.node_labels)
    if kubelet.node_labels:
        annotations[OWNED_LABELS] = json.dumps(sorted(kubelet.node_labels))
    else:
        annotations.pop(OWNED_LABELS, None)
    owned_taints = [CP_TAINT] if kubelet.is_control_plane else []
    if cluster.allow_scheduling_on_control_planes:
        owned_taints = []
    taints = [
        t
        for t in body.setdefault("spec", {}).get("taints") or []
        if t.get("key") not in _LIFECYCLE_KEYS and t.get("key") != CP_TAINT["key"]
    ]
    taints.extend(dict(t) for t in owned_taints)
    if ready == "False":
        taints.append(dict(NOT_READY_TAINT))
    elif ready == "Unknown":
        taints.append(dict(UNREACHABLE_TAINT))
    if taints:
        body["spec"]["taints"] = taints
    else:
        body["spec"].pop("taints", None)
    if owned_taints:
        annotations[OWNED_TAINTS] = json.dumps([t["key"] for t in owned_taints])
    else:
        annotations.pop(OWNED_TAINTS, None)
    return body


def _conditions(ready: str) -> list[Obj]:
    if ready == "Unknown":
        pressure = [
            (
                "MemoryPressure",
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            ),
            (
                "DiskPressure",
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            ),
            ("PIDPressure", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."),
            ("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."),
        ]
    else:
        pressure = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (
                "Ready",
                ready,
                "KubeletReady" if ready == "True" else "KubeletNotReady",
                "kubelet is posting ready status"
                if ready == "True"
                else "container runtime network not ready: NetworkReady=false "
                "reason:NetworkPluginNotReady message:Network plugin returns error: "
                "cni plugin not initialized",
            ),
        ]
    return [
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": "",
            "lastTransitionTime": "",
        }
        for type_, status, reason, message in pressure
    ]


def _status(node: Obj, kubelet: Kubelet, ready: str, now: str) -> Obj:
    old = node.get("status") or {}
    conditions = _conditions(ready)
    for cond in conditions:
        cond["lastHeartbeatTime"] = cond["lastTransitionTime"] = now
    resources = {
        "cpu": str(kubelet.cpu),
        "memory": f"{kubelet.memory_bytes // 1024}Ki",
        "pods": "110",
    }
    return {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "conditions": workloads.merge_conditions(old.get("conditions") or [], conditions, now),
        "addresses": [
            {"type": "InternalIP", "address": kubelet.ip},
            {"type": "Hostname", "address": kubelet.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": f"Talos ({kubelet.talos_version})",
            "kubeletVersion": f"v{kubelet.kubelet_version}",
            # Deprecated and no longer filled by 1.35 kubelets, but the field is still
            # required by client models (V1NodeSystemInfo), so it is sent empty as upstream.
            "kubeProxyVersion": "",
            "kernelVersion": "",
            "containerRuntimeVersion": "",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


def reconcile_nodes(
    store: ObjectStore, site: Site, cluster: ClusterSettings, now: dt.datetime
) -> dict[str, Obj]:
    """Register and update Nodes; returns the Nodes by name as stored afterwards."""
    nodes_rt = workloads.kind(store, "", "nodes")
    stamp = workloads.ts(now)
    # One listing of Nodes and one of CNI pods per pass: per-Node reads are quadratic at scale.
    known = {n["metadata"]["name"]: n for n in workloads.items(store, nodes_rt)}
    with_cni = _cni_nodes(store)
    running = kubelets(site)
    for kubelet in running:
        node = known.get(kubelet.node_name)
        if node is None:
            if not kubelet.is_running:
                continue
            node = store.create(nodes_rt, "", {"metadata": {"name": kubelet.node_name}})
        if not kubelet.is_running:
            ready = "Unknown"
        else:
            ready = "True" if kubelet.node_name in with_cni else "False"
        wanted = _spec_and_meta(node, kubelet, cluster, ready)
        if wanted != node:
            node = store.replace(nodes_rt, "", kubelet.node_name, wanted)
        status = _status(node, kubelet, ready, stamp)
        if node.get("status") != status:
            workloads.write_status(store, nodes_rt, node, status)
            node = store.get(nodes_rt, "", kubelet.node_name)
        known[kubelet.node_name] = node
    claimed = {k.node_name for k in running}
    for name, node in list(known.items()):
        if name not in claimed and _ready_condition(node) is not None:
            known[name] = _abandoned(store, nodes_rt, node, stamp)
    return known


def _ready_condition(node: Obj) -> Obj | None:
    conditions = (node.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def _abandoned(store: ObjectStore, nodes_rt: ResourceType, node: Obj, stamp: str) -> Obj:
    """A Node no kubelet posts for any more (its machine renamed or gone): Ready=Unknown.

    What the node lifecycle controller does once the grace period passes
    without a heartbeat: every condition Unknown, the unreachable taint; the
    rest of the last status (capacity, addresses, node info) stays as posted.
    """
    name = node["metadata"]["name"]
    body = copy.deepcopy(node)
    taints = [
        t
        for t in (body.setdefault("spec", {}).get("taints") or [])
        if t.get("key") not in _LIFECYCLE_KEYS
    ]
    body["spec"]["taints"] = [*taints, dict(UNREACHABLE_TAINT)]
    if body != node:
        node = store.replace(nodes_rt, "", name, body)
    old = node.get("status") or {}
    conditions = _conditions("Unknown")
    for cond in conditions:
        cond["lastHeartbeatTime"] = cond["lastTransitionTime"] = stamp
    status = {
        **old,
        "conditions": workloads.merge_conditions(old.get("conditions") or [], conditions, stamp),
    }
    if old != status:
        workloads.write_status(store, nodes_rt, node, status)
        node = store.get(nodes_rt, "", name)
    return node
