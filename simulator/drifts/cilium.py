"""Cilium drifts (CIL-01..06): proxy re-enabled, kube-proxy back, an agent down, KPR off ...

Each changes what an operator or a failure would: a node's machine config
(a patch re-enabling kube-proxy, which that node's Talos then deploys), the
object an operator's ``kubectl`` edits (a kube-proxy DaemonSet created in
kube-system, ``cilium-config``'s ``kube-proxy-replacement`` key, the
``cilium-operator`` Deployment's replicas), the container runtime's state of
one agent pod (it crash-loops; the kubelet reports it) and the ``cilium``
Helm release (a downgrade: a new release revision of an older chart, its
workloads' images with it).

Deviation in ``cilium.downgrade``: the simulator renders only the declared
chart version, so the older revision is the current manifest with the
older version's image tags (its chart ``values`` record stays the current
chart's defaults); the objects are what checks and ``helm`` look at.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import yaml

from simulator.controllers import podstatus
from simulator.controllers.store_access import ts
from simulator.drifts import DriftContext, DriftError, drift, edit_config, hostname_of, v1alpha1
from simulator.helm import releases
from simulator.helm.actions import manifest_text

NAMESPACE = "kube-system"
KUBE_PROXY_IMAGE = "registry.k8s.io/kube-proxy:v1.35.2"


def _kube_proxy() -> dict[str, Any]:
    labels = {"k8s-app": "kube-proxy"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "kube-proxy",
                            "image": KUBE_PROXY_IMAGE,
                            "command": ["/usr/local/bin/kube-proxy"],
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }


@drift(
    "cilium.deploy_kube_proxy",
    controls=("CIL-02",),
    description="a kube-proxy DaemonSet (k8s-app=kube-proxy) runs in kube-system",
)
def deploy_kube_proxy(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("cilium.deploy_kube_proxy")
    ctx.store.create(ctx.rt("apps", "v1", "daemonsets"), NAMESPACE, _kube_proxy())
    return "DaemonSet kube-system/kube-proxy created"


@drift(
    "cilium.kube_proxy_deployment",
    controls=("CIL-02",),
    description="kube-proxy run by a Deployment kube-system/net-proxy labelled app=net-proxy "
    "(kubectl create deployment net-proxy --image=registry.k8s.io/kube-proxy:...)",
)
def kube_proxy_deployment(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned("cilium.kube_proxy_deployment")
    labels = {"app": "net-proxy"}
    template = copy.deepcopy(_kube_proxy()["spec"]["template"])
    template["metadata"] = {"labels": labels}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "net-proxy", "namespace": NAMESPACE, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }
    ctx.store.create(ctx.rt("apps", "v1", "deployments"), NAMESPACE, deployment)
    return f"Deployment {NAMESPACE}/net-proxy created, running {KUBE_PROXY_IMAGE}"


@drift(
    "cilium.disable_kpr",
    controls=("CIL-04",),
    description='ConfigMap kube-system/cilium-config says kube-proxy-replacement: "false"',
)
def disable_kpr(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("", "v1", "configmaps")
    ctx.get(rt, NAMESPACE, "cilium-config", "cilium.disable_kpr")
    ctx.merge_patch(rt, NAMESPACE, "cilium-config", {"data": {"kube-proxy-replacement": "false"}})
    return 'cilium-config: kube-proxy-replacement set to "false"'


@drift(
    "cilium.single_operator",
    controls=("CIL-05",),
    description="Deployment kube-system/cilium-operator is scaled to 1 replica",
)
def single_operator(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("apps", "v1", "deployments")
    ctx.get(rt, NAMESPACE, "cilium-operator", "cilium.single_operator")
    ctx.merge_patch(rt, NAMESPACE, "cilium-operator", {"spec": {"replicas": 1}})
    return "Deployment kube-system/cilium-operator scaled to 1 replica"


# -- CIL-01: a node's config re-enables kube-proxy -----------------------------------------

PROXY = "cilium.proxy_enabled_on_node"


@drift(
    PROXY,
    controls=("CIL-01", "CIL-02"),
    description="a node's applied config (--node, default the first) sets "
    "cluster.proxy.disabled: false; that control-plane node's Talos then creates "
    "the kube-proxy DaemonSet it renders",
    takes_node=True,
)
def proxy_enabled_on_node(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(PROXY)
    machine = ctx.configured(node, PROXY)
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        proxy = cluster.get("proxy")
        cluster["proxy"] = {**(proxy if isinstance(proxy, dict) else {}), "disabled": False}
    ctx.save_site()
    return f"{machine.name}: cluster.proxy.disabled set to false in its applied config"


# -- CIL-03: one agent crash-loops ------------------------------------------------------------

CRASHLOOP = "cilium.agent_crashloop"
AGENT_CONTAINER = "cilium-agent"
CRASH_MESSAGE = (
    'level=fatal msg="failed to start: daemon creation failed: unable to create BPF map '
    'cilium_lb4_services_v2: cannot allocate memory" subsys=daemon'
)
CRASHING_FOR = dt.timedelta(minutes=10)


@drift(
    CRASHLOOP,
    controls=("CIL-03",),
    description="the Cilium agent pod on a node (--node, default the first) crash-loops "
    "(CrashLoopBackOff after a BPF map error at start-up) until the pod is recreated",
    takes_node=True,
)
def agent_crashloop(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(CRASHLOOP)
    machine = ctx.machine(node)
    hostname = hostname_of(machine)
    pods = ctx.store.list(ctx.rt("", "v1", "pods"), NAMESPACE, label_selector="k8s-app=cilium")
    agents = [p for p in pods["items"] if (p.get("spec") or {}).get("nodeName") == hostname]
    if not agents:
        raise DriftError(
            f"drift {CRASHLOOP} needs the Cilium agent pod on {machine.name} ({hostname}), "
            "which the simulated cluster does not have (is it provisioned?)"
        )
    since = ts(dt.datetime.now(dt.UTC) - CRASHING_FOR)
    for pod in agents:
        crash = podstatus.Crash(AGENT_CONTAINER, CRASH_MESSAGE, since)
        ctx.kv.put(podstatus.crash_key(pod["metadata"]["uid"]), crash.to_bytes())
    names = ", ".join(f"{NAMESPACE}/{p['metadata']['name']}" for p in agents)
    return f"Pod {names} on {machine.name}: container {AGENT_CONTAINER} crash-loops"


# -- CIL-06: the release is downgraded -----------------------------------------------------

DOWNGRADE = "cilium.downgrade"
RELEASE = "cilium"
OLDER_VERSION = "1.18.12"
_WORKLOAD_PLURALS = {"DaemonSet": "daemonsets", "Deployment": "deployments"}


def _retag(obj: dict[str, Any], old: str, new: str) -> bool:
    """Point every container image tagged *old* of a workload's pod template at *new*."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    changed = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            image = str(container.get("image") or "")
            if image.endswith(f":{old}"):
                container["image"] = image.removesuffix(old) + new
                changed = True
    return changed


@drift(
    DOWNGRADE,
    controls=("CIL-06",),
    description=f"the cilium Helm release is downgraded to chart {OLDER_VERSION} "
    "(helm upgrade --version with the same values): a new revision, the agent and "
    f"operator images at v{OLDER_VERSION}, their pods replaced by the controllers",
)
def downgrade(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(DOWNGRADE)
    secrets = ctx.rt("", "v1", "secrets")
    stored = ctx.store.list(secrets, NAMESPACE, label_selector=f"owner=helm,name={RELEASE}")
    history = sorted(
        ((releases.from_secret(s), s) for s in stored["items"]), key=lambda pair: pair[0].version
    )
    deployed = [(r, s) for r, s in history if r.status == "deployed"]
    if not deployed:
        raise DriftError(
            f"drift {DOWNGRADE} needs a deployed helm release {NAMESPACE}/{RELEASE}, which "
            "the simulated cluster does not have (is it provisioned?)"
        )
    current, secret = deployed[-1]
    old_tag, new_tag = f"v{current.app_version}", f"v{OLDER_VERSION}"
    manifest = [d for d in yaml.safe_load_all(current.manifest) if isinstance(d, dict)]
    changed: list[str] = []
    for doc in manifest:
        plural = _WORKLOAD_PLURALS.get(str(doc.get("kind")))
        if plural is None or not _retag(doc, old_tag, new_tag):
            continue
        rt, name = ctx.rt("apps", "v1", plural), doc["metadata"]["name"]
        live = ctx.get(rt, NAMESPACE, name, DOWNGRADE)
        if _retag(live, old_tag, new_tag):
            ctx.store.replace(rt, NAMESPACE, name, live)
        changed.append(f"{doc['kind']} {NAMESPACE}/{name}")
    if not changed:
        raise DriftError(f"drift {DOWNGRADE}: no {RELEASE} workload has an image tagged {old_tag}")
    stamp = releases.now()
    older = releases.Release(
        name=RELEASE,
        namespace=NAMESPACE,
        version=history[-1][0].version + 1,
        status="deployed",
        chart_name=current.chart_name,
        chart_version=OLDER_VERSION,
        app_version=OLDER_VERSION,
        config=dict(current.config),
        manifest=manifest_text(manifest),
        first_deployed=current.first_deployed,
        last_deployed=stamp,
        description="Upgrade complete",
        chart_values=dict(current.chart_values),
    )
    modified = int(dt.datetime.now(dt.UTC).timestamp())
    superseded = releases.to_secret(current.with_status("superseded"), modified)
    secret["metadata"]["labels"] = superseded["metadata"]["labels"]
    secret["data"] = superseded["data"]
    ctx.store.replace(secrets, NAMESPACE, secret["metadata"]["name"], secret)
    ctx.store.create(secrets, NAMESPACE, releases.to_secret(older, modified))
    return (
        f"helm release {NAMESPACE}/{RELEASE} revision {older.version}: chart "
        f"{current.chart_name}-{OLDER_VERSION}; images {new_tag} in {', '.join(changed)}"
    )


# -- more ways kube-proxy, the running config and the images drift ----------------------------

BARE_POD = "cilium.kube_proxy_bare_pod"


@drift(
    BARE_POD,
    controls=("CIL-02",),
    description="kube-proxy run as a bare pod kube-system/node-netd with no label and no "
    "owner (kubectl run node-netd --image=registry.k8s.io/kube-proxy:... on the first node)",
)
def kube_proxy_bare_pod(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(BARE_POD)
    hostname = hostname_of(ctx.machine(None))
    spec = copy.deepcopy(_kube_proxy()["spec"]["template"]["spec"])
    spec["containers"][0]["name"] = "netd"
    spec["nodeName"] = hostname
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "node-netd", "namespace": NAMESPACE, "labels": {"run": "node-netd"}},
        "spec": spec,
    }
    ctx.store.create(ctx.rt("", "v1", "pods"), NAMESPACE, pod)
    return f"Pod {NAMESPACE}/node-netd on {hostname} runs {KUBE_PROXY_IMAGE}"


LOOK_ALIKE = "cilium.agent_image_look_alike"
LOOK_ALIKE_REPOSITORY = "docker.io/cilium-mirror/cilium"


@drift(
    LOOK_ALIKE,
    controls=("CIL-06",),
    description="the agent's image points at a look-alike repository with the declared tag "
    f"(kubectl set image daemonset/cilium cilium-agent={LOOK_ALIKE_REPOSITORY}:<tag>)",
)
def agent_image_look_alike(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("apps", "v1", "daemonsets")
    daemonset = ctx.get(rt, NAMESPACE, "cilium", LOOK_ALIKE)
    containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    for container in containers:
        if container.get("name") == AGENT_CONTAINER:
            tag = str(container.get("image") or "").split("@", 1)[0].rsplit(":", 1)[-1]
            container["image"] = f"{LOOK_ALIKE_REPOSITORY}:{tag}"
            ctx.store.replace(rt, NAMESPACE, "cilium", daemonset)
            image = container["image"]
            return f"DaemonSet {NAMESPACE}/cilium: container {AGENT_CONTAINER} runs {image}"
    raise DriftError(f"drift {LOOK_ALIKE}: DaemonSet {NAMESPACE}/cilium has no {AGENT_CONTAINER}")


@drift(
    "cilium.hubble_relay_scaled_to_zero",
    controls=("CIL-04",),
    description="Deployment kube-system/hubble-relay is scaled to 0 "
    "(kubectl scale deployment hubble-relay --replicas=0): no flows leave the nodes",
)
def hubble_relay_scaled_to_zero(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("apps", "v1", "deployments")
    ctx.get(rt, NAMESPACE, "hubble-relay", "cilium.hubble_relay_scaled_to_zero")
    ctx.merge_patch(rt, NAMESPACE, "hubble-relay", {"spec": {"replicas": 0}})
    return f"Deployment {NAMESPACE}/hubble-relay scaled to 0"


@drift(
    "cilium.lb_pool_deleted",
    controls=("CIL-04",),
    description="the declared CiliumLoadBalancerIPPool is deleted "
    "(kubectl delete ciliumloadbalancerippools default-pool): LoadBalancer Services get no IP",
)
def lb_pool_deleted(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("cilium.io", "v2", "ciliumloadbalancerippools")
    pools = ctx.store.list(rt, "")["items"]
    if not pools:
        raise DriftError("drift cilium.lb_pool_deleted needs a CiliumLoadBalancerIPPool")
    names = sorted(p["metadata"]["name"] for p in pools)
    for name in names:
        ctx.store.delete(rt, "", name)
    return f"CiliumLoadBalancerIPPool {', '.join(names)} deleted"


@drift(
    "cilium.l2_announcements_off",
    controls=("CIL-04",),
    description="cilium-config lost enable-l2-announcements, as after helm upgrade --set "
    "l2announcements.enabled=false (the chart leaves the key out when off)",
)
def l2_announcements_off(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("", "v1", "configmaps")
    ctx.get(rt, NAMESPACE, "cilium-config", "cilium.l2_announcements_off")
    patch = {"data": {"enable-l2-announcements": None}}
    ctx.merge_patch(rt, NAMESPACE, "cilium-config", patch)
    return "cilium-config: enable-l2-announcements removed"


@drift(
    "cilium.agent_api_through_vip",
    controls=("CIL-04",),
    description="the agent reaches the API through the VIP instead of KubePrism "
    "(kubectl set env daemonset/cilium -c cilium-agent KUBERNETES_SERVICE_HOST=<vip>)",
)
def agent_api_through_vip(ctx: DriftContext, node: str | None) -> str:
    rt = ctx.rt("apps", "v1", "daemonsets")
    daemonset = ctx.get(rt, NAMESPACE, "cilium", "cilium.agent_api_through_vip")
    vip = str(ctx.cluster.control_plane.vip)
    containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    for container in containers:
        if container.get("name") != AGENT_CONTAINER:
            continue
        env = [e for e in container.get("env") or [] if e.get("name") not in _API_ENV]
        container["env"] = [
            *env,
            {"name": "KUBERNETES_SERVICE_HOST", "value": vip},
            {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
        ]
        ctx.store.replace(rt, NAMESPACE, "cilium", daemonset)
        return f"DaemonSet {NAMESPACE}/cilium: {AGENT_CONTAINER} reaches the API at {vip}:6443"
    raise DriftError(f"drift cilium.agent_api_through_vip: no {AGENT_CONTAINER} container")


_API_ENV = frozenset({"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"})


CNI = "cilium.cni_on_node"


@drift(
    CNI,
    controls=("CIL-01",),
    description="a node's applied config (--node, default the first) names a CNI "
    "(cluster.network.cni.name: flannel), which that node's Talos would deploy beside Cilium",
    takes_node=True,
)
def cni_on_node(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(CNI)
    machine = ctx.configured(node, CNI)
    with edit_config(machine) as docs:
        cluster = v1alpha1(docs, machine).setdefault("cluster", {})
        network = cluster.setdefault("network", {})
        network["cni"] = {"name": "flannel"}
    ctx.save_site()
    return f"{machine.name}: cluster.network.cni.name set to flannel in its applied config"


# -- CIL-03 / CIL-05: the release's workloads deleted ------------------------------------------

AGENT_DELETED = "cilium.agent_daemonset_deleted"


def _delete_workload(ctx: DriftContext, plural: str, kind: str, name: str, drift_name: str) -> str:
    """``kubectl delete <kind> <name> -n kube-system``; its pods go by garbage collection."""
    rt = ctx.rt("apps", "v1", plural)
    ctx.get(rt, NAMESPACE, name, drift_name)
    ctx.store.delete(rt, NAMESPACE, name)
    return f"{kind} {NAMESPACE}/{name} deleted (its pods follow by garbage collection)"


@drift(
    AGENT_DELETED,
    controls=("CIL-03",),
    description="the agent DaemonSet is deleted (kubectl delete daemonset cilium -n "
    "kube-system): the garbage collector removes its pods, no node has an agent",
)
def agent_daemonset_deleted(ctx: DriftContext, node: str | None) -> str:
    return _delete_workload(ctx, "daemonsets", "DaemonSet", "cilium", AGENT_DELETED)


OPERATOR_DELETED = "cilium.operator_deleted"


@drift(
    OPERATOR_DELETED,
    controls=("CIL-05",),
    description="the operator Deployment is deleted (kubectl delete deployment "
    "cilium-operator -n kube-system): its ReplicaSets and pods are garbage-collected",
)
def operator_deleted(ctx: DriftContext, node: str | None) -> str:
    return _delete_workload(ctx, "deployments", "Deployment", "cilium-operator", OPERATOR_DELETED)


# -- CIL-02: kube-proxy run by owners the fix does not delete ------------------------------------

STATEFULSET = "cilium.kube_proxy_statefulset"


@drift(
    STATEFULSET,
    controls=("CIL-02",),
    description="kube-proxy run by a StatefulSet kube-system/edge-lb labelled app=edge-lb "
    "(kubectl apply): its controller starts pod edge-lb-0",
)
def kube_proxy_statefulset(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(STATEFULSET)
    labels = {"app": "edge-lb"}
    template = copy.deepcopy(_kube_proxy()["spec"]["template"])
    template["metadata"] = {"labels": labels}
    template["spec"]["containers"][0]["name"] = "lb"
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "edge-lb", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "serviceName": "edge-lb",
            "selector": {"matchLabels": labels},
            "template": template,
        },
    }
    ctx.store.create(ctx.rt("apps", "v1", "statefulsets"), NAMESPACE, statefulset)
    return f"StatefulSet {NAMESPACE}/edge-lb created, running {KUBE_PROXY_IMAGE}"


STATIC_POD = "cilium.kube_proxy_static_pod"
STATIC_POD_NAME = "proxyd"


@drift(
    STATIC_POD,
    controls=("CIL-02",),
    description=f"a node's applied config (--node, default the first) lists a Pod "
    f"kube-system/{STATIC_POD_NAME} running kube-proxy in machine.pods: its kubelet runs it "
    f"as a static pod, seen in the API as mirror pod {STATIC_POD_NAME}-<node>",
    takes_node=True,
)
def kube_proxy_static_pod(ctx: DriftContext, node: str | None) -> str:
    ctx.require_provisioned(STATIC_POD)
    machine = ctx.configured(node, STATIC_POD)
    spec = copy.deepcopy(_kube_proxy()["spec"]["template"]["spec"])
    spec["containers"][0]["name"] = STATIC_POD_NAME
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": STATIC_POD_NAME, "namespace": NAMESPACE},
        "spec": spec,
    }
    with edit_config(machine) as docs:
        config = v1alpha1(docs, machine).setdefault("machine", {})
        pods = config.get("pods")
        config["pods"] = [*(pods if isinstance(pods, list) else []), pod]
    ctx.save_site()
    return f"{machine.name}: machine.pods runs {NAMESPACE}/{STATIC_POD_NAME} ({KUBE_PROXY_IMAGE})"
