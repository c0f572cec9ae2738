"""Cluster controllers: Nodes, Talos's bootstrap manifests, workloads and idempotence.

Sites come from :mod:`tests.simulator.talos_site` (configs applied through
the Talos lifecycle), objects live in a MemoryKV-backed ObjectStore, and
:func:`simulator.controllers.cluster.reconcile` is called as the serve
command would call it after each operation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from simulator.controllers import cluster, nodes, psa, workloads
from simulator.helm.charts import cilium_workloads
from simulator.kube import errors
from simulator.kube.hooks import AdmissionRequest
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import ResourceType, builtin_registry
from simulator.state.machines import Stage
from simulator.store.kv import MemoryKV
from simulator.talos.lifecycle import Lifecycle
from tests.simulator import talos_site as ts

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
Obj = dict[str, Any]


def cluster_section(**extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "clusterName": "K8S-CLUSTER",
        "controlPlane": {"endpoint": f"https://{ts.VIP}:6443"},
        "apiServer": {"admissionControl": [{"name": "PodSecurity", "configuration": {}}]},
    }
    section.update(extra)
    return section


CILIUM_READY = cluster_section(network={"cni": {"name": "none"}}, proxy={"disabled": True})


def running(count: int, section: dict[str, Any] | None = None) -> Lifecycle:
    extra = {"cluster": section} if section is not None else None
    return ts.running_cluster(count, extra_v1alpha1=extra)


def new_store() -> ObjectStore:
    return ObjectStore(MemoryKV(), builtin_registry())


def rt(store: ObjectStore, group: str, plural: str, version: str = "v1") -> ResourceType:
    return workloads.kind(store, group, plural, version)


def node(store: ObjectStore, name: str) -> Obj:
    return store.get(rt(store, "", "nodes"), "", name)


def condition(obj: Obj, type_: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def taint_keys(obj: Obj) -> set[str]:
    return {t["key"] for t in obj.get("spec", {}).get("taints") or []}


def pods(store: ObjectStore, namespace: str, **labels: str) -> list[Obj]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    listed: list[Obj] = store.list(rt(store, "", "pods"), namespace, label_selector=selector)[
        "items"
    ]
    return listed


def install_cilium(store: ObjectStore, *, operator_replicas: int = 2) -> None:
    values = {"operator": {"replicas": operator_replicas}}
    store.create(
        rt(store, "apps", "daemonsets"),
        "kube-system",
        cilium_workloads.agent(values, "kube-system"),
    )
    store.create(
        rt(store, "apps", "deployments"),
        "kube-system",
        cilium_workloads.operator(values, "kube-system"),
    )


# -- nodes ---------------------------------------------------------------------------------------


def test_nothing_before_bootstrap() -> None:
    life = Lifecycle(ts.site(2))
    life.apply_config(ts.ip(1), ts.config(1), insecure=True)
    store = new_store()
    revision = store.kv.revision()
    cluster.reconcile(life.site, store, now=NOW)
    assert store.kv.revision() == revision


def test_nodes_are_not_ready_until_the_cilium_agent_runs_on_them() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    before = node(store, "k8s-node01")
    assert condition(before, "Ready")["status"] == "False"
    assert condition(before, "Ready")["reason"] == "KubeletNotReady"
    assert "node.kubernetes.io/not-ready" in taint_keys(before)
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    for name in ("k8s-node01", "k8s-node02"):
        after = node(store, name)
        assert condition(after, "Ready")["status"] == "True"
        assert "node.kubernetes.io/not-ready" not in taint_keys(after)
    agents = pods(store, "kube-system", **{"k8s-app": "cilium"})
    assert sorted(p["spec"]["nodeName"] for p in agents) == ["k8s-node01", "k8s-node02"]
    assert all(p["status"]["phase"] == "Running" for p in agents)


def test_node_carries_identity_capacity_and_version() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    obj = node(store, "k8s-node01")
    labels = obj["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "k8s-node01"
    assert labels["kubernetes.io/os"] == "linux"
    assert "node-role.kubernetes.io/control-plane" in labels
    assert {"type": "InternalIP", "address": ts.ip(1)} in obj["status"]["addresses"]
    assert obj["status"]["capacity"]["cpu"] == "4"
    assert obj["status"]["capacity"]["memory"] == f"{16 * 1024 * 1024}Ki"
    assert obj["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.2"
    assert obj["status"]["nodeInfo"]["osImage"] == "Talos (v1.12.5)"
    assert "node-role.kubernetes.io/control-plane" in taint_keys(obj)


def test_control_plane_taint_follows_allow_scheduling_and_node_labels_apply() -> None:
    section = cluster_section(allowSchedulingOnControlPlanes=True)
    life = Lifecycle(ts.site(1))
    text = ts.config(1, extra_v1alpha1={"cluster": section})
    text = text.replace(
        "    type: controlplane", "    type: controlplane\n    nodeLabels:\n        zone: a", 1
    )
    life.apply_config(ts.ip(1), text, insecure=True)
    life.bootstrap(ts.ip(1))
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    obj = node(store, "k8s-node01")
    assert "node-role.kubernetes.io/control-plane" not in taint_keys(obj)
    assert obj["metadata"]["labels"]["zone"] == "a"


def test_powered_off_machine_leaves_its_node_unknown() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)  # Helm installs after bootstrap
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    life.shutdown(ts.ip(2))
    assert life.site.machines["node02"].stage is Stage.POWERED_OFF
    cluster.reconcile(life.site, store, now=NOW)
    ready = condition(node(store, "k8s-node02"), "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert "node.kubernetes.io/unreachable" in taint_keys(node(store, "k8s-node02"))
    agent = next(
        p
        for p in pods(store, "kube-system", **{"k8s-app": "cilium"})
        if p["spec"]["nodeName"] == "k8s-node02"
    )
    assert condition(agent, "Ready")["status"] == "False"
    assert condition(node(store, "k8s-node01"), "Ready")["status"] == "True"


def test_deleted_node_of_a_running_machine_is_registered_again() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    store.delete(rt(store, "", "nodes"), "", "k8s-node01")
    cluster.reconcile(life.site, store, now=NOW)
    assert node(store, "k8s-node01")["metadata"]["labels"]["kubernetes.io/hostname"] == "k8s-node01"


# -- Talos bootstrap manifests ---------------------------------------------------------------


def test_kube_proxy_absent_when_proxy_disabled() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    found = store.list(
        rt(store, "apps", "daemonsets"), "kube-system", label_selector="k8s-app=kube-proxy"
    )
    assert found["items"] == []
    assert pods(store, "kube-system", **{"k8s-app": "flannel"}) == []


def test_default_cluster_gets_kube_proxy_flannel_and_ready_nodes() -> None:
    life = running(2)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    proxies = store.list(
        rt(store, "apps", "daemonsets"), "kube-system", label_selector="k8s-app=kube-proxy"
    )["items"]
    assert [d["metadata"]["name"] for d in proxies] == ["kube-proxy"]
    assert proxies[0]["status"]["numberReady"] == 2
    assert condition(node(store, "k8s-node02"), "Ready")["status"] == "True"
    assert store.get(rt(store, "", "services"), "kube-system", "kube-dns")["spec"]["clusterIP"]


def test_deleted_kube_proxy_is_not_recreated() -> None:
    life = running(1)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    store.delete(rt(store, "apps", "daemonsets"), "kube-system", "kube-proxy")
    cluster.reconcile(life.site, store, now=NOW)
    found = store.list(
        rt(store, "apps", "daemonsets"), "kube-system", label_selector="k8s-app=kube-proxy"
    )
    assert found["items"] == []


def test_coredns_runs_two_replicas_once_nodes_are_ready() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    deploy_rt = rt(store, "apps", "deployments")
    dns = store.get(deploy_rt, "kube-system", "coredns")
    assert dns["status"].get("readyReplicas", 0) == 0  # NotReady nodes keep them Pending
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    dns = store.get(deploy_rt, "kube-system", "coredns")
    assert (dns["spec"]["replicas"], dns["status"]["readyReplicas"]) == (2, 2)


def test_static_pod_mirrors_on_control_plane_nodes() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    names = {p["metadata"]["name"] for p in pods(store, "kube-system", tier="control-plane")}
    assert names == {
        f"{component}-k8s-node0{i}" for component in cluster.STATIC_PODS for i in (1, 2)
    }


def _with_machine_pods(life: Lifecycle, machine: str, static: list[Obj]) -> None:
    docs = [*yaml.safe_load_all(life.site.machines[machine].config or "")]
    docs[0]["machine"]["pods"] = static
    life.site.machines[machine].config = yaml.safe_dump_all(docs)


def test_machine_pods_run_as_mirror_pods_until_removed_from_the_config() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    static = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "kube-system", "labels": {"app": "probe"}},
        "spec": {"containers": [{"name": "probe", "image": "busybox:1.37"}]},
    }
    first = sorted(life.site.machines)[1]
    _with_machine_pods(life, first, [static])
    cluster.reconcile(life.site, store, now=NOW)
    mirrors = pods(store, "kube-system", app="probe")
    assert [p["metadata"]["name"] for p in mirrors] == ["probe-k8s-node02"]
    meta = mirrors[0]["metadata"]
    assert meta["annotations"][cluster.MIRROR] == "probe-k8s-node02"
    assert meta["ownerReferences"][0]["kind"] == "Node"
    assert mirrors[0]["spec"]["nodeName"] == "k8s-node02"
    _with_machine_pods(life, first, [])
    cluster.reconcile(life.site, store, now=NOW)
    assert pods(store, "kube-system", app="probe") == []
    # the control-plane components' mirrors stay
    assert len(pods(store, "kube-system", tier="control-plane")) == 2 * len(cluster.STATIC_PODS)


def test_statefulset_pods_keep_their_ordinal_names_and_go_with_it() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    labels = {"app": "db"}
    sts_rt = rt(store, "apps", "statefulsets")
    store.create(
        sts_rt,
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
                },
            },
        },
    )
    cluster.reconcile(life.site, store, now=NOW)
    found = pods(store, "default", app="db")
    assert sorted(p["metadata"]["name"] for p in found) == ["db-0", "db-1"]
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in found} == {"StatefulSet"}
    sts = store.get(sts_rt, "default", "db")
    sts["spec"]["replicas"] = 1
    store.replace(sts_rt, "default", "db", sts)
    cluster.reconcile(life.site, store, now=NOW)
    assert [p["metadata"]["name"] for p in pods(store, "default", app="db")] == ["db-0"]
    store.delete(sts_rt, "default", "db")
    cluster.reconcile(life.site, store, now=NOW)
    assert pods(store, "default", app="db") == []


# -- workloads -------------------------------------------------------------------------------


def test_operator_anti_affinity_two_nodes_two_running() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)  # Helm installs after bootstrap
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    operators = pods(store, "kube-system", **{"io.cilium/app": "operator"})
    assert sorted(p["spec"]["nodeName"] for p in operators) == ["k8s-node01", "k8s-node02"]
    deploy = store.get(rt(store, "apps", "deployments"), "kube-system", "cilium-operator")
    assert (deploy["status"]["replicas"], deploy["status"]["readyReplicas"]) == (2, 2)


def test_operator_anti_affinity_one_node_leaves_one_pending() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)  # Helm installs after bootstrap
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    operators = pods(store, "kube-system", **{"io.cilium/app": "operator"})
    phases = sorted(p["status"]["phase"] for p in operators)
    assert phases == ["Pending", "Running"]
    pending = next(p for p in operators if p["status"]["phase"] == "Pending")
    scheduled = condition(pending, "PodScheduled")
    assert scheduled["reason"] == "Unschedulable"
    assert "didn't match pod anti-affinity rules" in scheduled["message"]
    deploy = store.get(rt(store, "apps", "deployments"), "kube-system", "cilium-operator")
    assert deploy["status"]["readyReplicas"] == 1
    assert deploy["status"]["unavailableReplicas"] == 1


def test_scaling_and_pod_deletion() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)  # Helm installs after bootstrap
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    deploy_rt = rt(store, "apps", "deployments")
    deploy = store.get(deploy_rt, "kube-system", "cilium-operator")
    deploy["spec"]["replicas"] = 1
    store.replace(deploy_rt, "kube-system", "cilium-operator", deploy)
    cluster.reconcile(life.site, store, now=NOW)
    operators = pods(store, "kube-system", **{"io.cilium/app": "operator"})
    assert len(operators) == 1
    store.delete(rt(store, "", "pods"), "kube-system", operators[0]["metadata"]["name"])
    cluster.reconcile(life.site, store, now=NOW)
    again = pods(store, "kube-system", **{"io.cilium/app": "operator"})
    assert len(again) == 1
    assert again[0]["metadata"]["uid"] != operators[0]["metadata"]["uid"]
    assert store.get(deploy_rt, "kube-system", "cilium-operator")["status"]["readyReplicas"] == 1


def test_second_reconcile_writes_nothing() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)  # Helm installs after bootstrap
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    revision = store.kv.revision()
    cluster.reconcile(life.site, store, now=NOW + dt.timedelta(minutes=5))
    assert store.kv.revision() == revision


def test_reconcile_from_a_write_hook_does_not_recurse() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    calls: list[int] = []

    def hook(_: object) -> None:
        calls.append(1)
        cluster.reconcile(life.site, store, now=NOW)

    store.hooks.after_write.append(hook)
    cluster.reconcile(life.site, store, now=NOW)
    assert calls  # the hook ran for the reconcile's writes, and returned at once
    assert condition(node(store, "k8s-node01"), "Ready")["status"] == "False"


def test_cluster_settings_default_to_flannel_with_proxy() -> None:
    assert nodes.ClusterSettings() == nodes.settings(ts.site(1))
    manifests = cluster.bootstrap_manifests(
        nodes.ClusterSettings(proxy_disabled=True, cni_name="none")
    )
    assert [m["metadata"]["name"] for m in manifests] == ["coredns", "kube-dns"]


PSA_CONFIGURATION: dict[str, Any] = {
    "apiVersion": "pod-security.admission.config.k8s.io/v1",
    "kind": "PodSecurityConfiguration",
    "defaults": {"enforce": "baseline", "enforce-version": "latest"},
    "exemptions": {"namespaces": ["kube-system", "longhorn-system"]},
}


def install_pod_security(store: ObjectStore) -> None:
    """An admission hook enforcing PodSecurity on Pods, as the API server does."""
    config = psa.PodSecurityConfig.from_configuration(PSA_CONFIGURATION)
    namespaces = rt(store, "", "namespaces")

    def admit(request: AdmissionRequest) -> None:
        if request.resource.kind != "Pod" or request.object is None:
            return
        labels = store.get(namespaces, "", request.namespace)["metadata"].get("labels") or {}
        decision = psa.admit_pod(
            config,
            request.namespace,
            labels,
            request.object,
            operation=request.operation.value,
            old_pod=request.old_object,
        )
        if not decision.allowed:
            raise errors.ApiError(403, "Forbidden", decision.message or "forbidden")

    store.hooks.admission.append(admit)


def privileged_daemonset(namespace: str) -> Obj:
    labels = {"app": "probe"}
    return {
        "metadata": {"name": "probe", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
                    ],
                },
            },
        },
    }


@pytest.mark.parametrize(("namespace", "created"), [("apps", 0), ("kube-system", 2)])
def test_privileged_daemonset_pods_follow_pod_security(namespace: str, created: int) -> None:
    life = running(2)
    store = new_store()
    install_pod_security(store)
    cluster.reconcile(life.site, store, now=NOW)
    if namespace != "kube-system":
        store.create(rt(store, "", "namespaces"), "", {"metadata": {"name": namespace}})
    store.create(rt(store, "apps", "daemonsets"), namespace, privileged_daemonset(namespace))
    cluster.reconcile(life.site, store, now=NOW)
    ds = store.get(rt(store, "apps", "daemonsets"), namespace, "probe")
    assert ds["status"]["currentNumberScheduled"] == created
    assert ds["status"]["desiredNumberScheduled"] == 2
    events = store.list(rt(store, "", "events"), namespace)["items"]
    failed = [e for e in events if e["reason"] == "FailedCreate"]
    if created:
        assert failed == []
    else:
        assert failed
        assert failed[0]["involvedObject"]["name"] == "probe"
        assert failed[0]["type"] == "Warning"
        assert 'violates PodSecurity "baseline:latest": privileged' in failed[0]["message"]
        assert failed[0]["message"].startswith("Error creating: ")
        revision = store.kv.revision()
        cluster.reconcile(life.site, store, now=NOW)
        assert store.kv.revision() == revision  # the same rejection is not recorded twice


def plain_daemonset(tolerations: list[Obj]) -> Obj:
    labels = {"app": "plain"}
    return {
        "metadata": {"name": "plain", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"tolerations": tolerations, "containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


def test_daemonset_skips_not_ready_and_untolerated_tainted_nodes() -> None:
    life = running(2, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    ds_rt = rt(store, "apps", "daemonsets")
    cp = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}
    store.create(ds_rt, "default", plain_daemonset([cp]))
    cluster.reconcile(life.site, store, now=NOW)
    status = store.get(ds_rt, "default", "plain")["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"]) == (0, 0)
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    status = store.get(ds_rt, "default", "plain")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (2, 2)
    store.delete(ds_rt, "default", "plain")
    store.create(ds_rt, "default", plain_daemonset([]))  # control-plane taint not tolerated
    cluster.reconcile(life.site, store, now=NOW)
    assert store.get(ds_rt, "default", "plain")["status"]["desiredNumberScheduled"] == 0
    assert pods(store, "default", app="plain") == []  # the deleted DaemonSet's pods went too


def test_removed_node_label_leaves_the_node_but_foreign_labels_stay() -> None:
    life = Lifecycle(ts.site(1))
    plain = ts.config(1)
    labelled = plain.replace(
        "    type: controlplane", "    type: controlplane\n    nodeLabels:\n        zone: a", 1
    )
    life.apply_config(ts.ip(1), labelled, insecure=True)
    life.bootstrap(ts.ip(1))
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    nodes_rt = rt(store, "", "nodes")
    obj = node(store, "k8s-node01")
    obj["metadata"]["labels"]["team"] = "ops"
    store.replace(nodes_rt, "", "k8s-node01", obj)
    life.apply_config(ts.ip(1), plain)
    cluster.reconcile(life.site, store, now=NOW)
    labels = node(store, "k8s-node01")["metadata"]["labels"]
    assert "zone" not in labels
    assert labels["team"] == "ops"


def test_conflicting_write_is_retried_from_fresh_reads() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    conflicts: list[str] = []

    def admit(request: AdmissionRequest) -> None:
        if request.resource.kind == "Node" and request.subresource == "status" and not conflicts:
            conflicts.append(request.name)
            raise errors.conflict("nodes", "", request.name)

    store.hooks.admission.append(admit)
    cluster.reconcile(life.site, store, now=NOW)
    assert conflicts == ["k8s-node01"]
    assert condition(node(store, "k8s-node01"), "Ready")["status"] == "False"


def test_other_api_errors_propagate() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()

    def admit(request: AdmissionRequest) -> None:
        if request.resource.kind == "Node":
            raise errors.forbidden("nodes", "", request.name, "not today")

    store.hooks.admission.append(admit)
    with pytest.raises(errors.ApiError) as caught:
        cluster.reconcile(life.site, store, now=NOW)
    assert caught.value.code == 403
