"""The CIL-01, CIL-03 and CIL-06 drifts change state, and the simulator's controllers follow it.

Why beside ``test_drifts.py`` (whose provisioned in-process cluster these
tests reuse): these drifts change inputs -- a node's config, a pod's
container state, the Helm release -- whose visible effects come from the
controllers (Talos's bootstrap manifests, the kubelet's pod status, the
DaemonSet counters), so each test runs a reconcile after the drift and reads
the objects back, then undoes the cause the way an operator would and
checks that the effects go (or, for kube-proxy, stay) as on a real cluster.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from simulator.controllers import cluster as core
from simulator.controllers import podstatus
from simulator.drifts import DriftContext, DriftError, apply_to, edit_config, v1alpha1
from simulator.helm import releases, values
from simulator.helm.actions import manifest_text
from simulator.helm.charts import catalogue
from simulator.kube.errors import ApiError
from simulator.kube.objects import ObjectStore
from simulator.kube.registry import builtin_registry
from simulator.state.machines import SiteStore
from tests.simulator.provisioned_cluster import ROOT
from tests.simulator.test_drifts import _rt


def _reconcile(ctx: DriftContext) -> ObjectStore:
    store = ObjectStore(ctx.kv, builtin_registry())
    core.reconcile(SiteStore(ctx.kv).load(), store, now=dt.datetime.now(dt.UTC))
    return store


def _daemonsets(store: ObjectStore) -> dict[str, dict[str, Any]]:
    listed = store.list(_rt(store, "apps", "v1", "daemonsets"), "kube-system")
    return {d["metadata"]["name"]: d for d in listed["items"]}


def _agents(store: ObjectStore) -> dict[str, dict[str, Any]]:
    pods = store.list(_rt(store, "", "v1", "pods"), "kube-system", label_selector="k8s-app=cilium")
    return {p["spec"]["nodeName"]: p for p in pods["items"]}


def _condition(pod: dict[str, Any], kind: str) -> str:
    return str(next(c["status"] for c in pod["status"]["conditions"] if c["type"] == kind))


def test_proxy_re_enabled_on_one_node_brings_kube_proxy_until_deleted(ctx: DriftContext) -> None:
    assert "kube-proxy" not in _daemonsets(_reconcile(ctx))
    apply_to(ctx, "cilium.proxy_enabled_on_node", "node03")
    machines = SiteStore(ctx.kv).load().machines
    assert (
        v1alpha1([*yaml.safe_load_all(machines["node03"].config or "")], machines["node03"])[
            "cluster"
        ]["proxy"]["disabled"]
        is False
    )
    node01 = v1alpha1([*yaml.safe_load_all(machines["node01"].config or "")], machines["node01"])
    assert node01["cluster"]["proxy"]["disabled"] is True

    store = _reconcile(ctx)
    proxy = _daemonsets(store)["kube-proxy"]
    assert proxy["spec"]["template"]["spec"]["containers"][0]["name"] == "kube-proxy"

    # The operator's fix: the config again, then the DaemonSet deleted; Talos keeps it gone.
    sites = SiteStore(ctx.kv)
    site = sites.load()
    with edit_config(site.machines["node03"]) as docs:
        v1alpha1(docs, site.machines["node03"])["cluster"]["proxy"]["disabled"] = True
    sites.save(site)
    store.delete(_rt(store, "apps", "v1", "daemonsets"), "kube-system", "kube-proxy")
    assert "kube-proxy" not in _daemonsets(_reconcile(ctx))


def test_agent_crashloop_is_reported_by_the_kubelet_until_the_pod_is_recreated(
    ctx: DriftContext,
) -> None:
    said = apply_to(ctx, "cilium.agent_crashloop", "node02")
    assert "node02" in said
    store = _reconcile(ctx)
    agents = _agents(store)
    crashing = agents["k8s-node02"]
    assert crashing["status"]["phase"] == "Running"
    assert _condition(crashing, "Ready") == "False"
    [agent] = [c for c in crashing["status"]["containerStatuses"] if c["name"] == "cilium-agent"]
    assert agent["restartCount"] >= 3  # ten minutes of 10s, 20s, 40s, ... back-off
    assert agent["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "BPF map" in agent["lastState"]["terminated"]["message"]
    assert all(_condition(p, "Ready") == "True" for n, p in agents.items() if n != "k8s-node02")
    status = _daemonsets(store)["cilium"]["status"]
    assert status["numberReady"] == status["desiredNumberScheduled"] - 1 == 5
    assert status["numberUnavailable"] == 1

    # A second reconcile at the same moment writes nothing: the status is stable.
    moment = dt.datetime.now(dt.UTC)
    core.reconcile(SiteStore(ctx.kv).load(), store, now=moment)
    settled = ctx.kv.revision()
    core.reconcile(SiteStore(ctx.kv).load(), store, now=moment)
    assert ctx.kv.revision() == settled

    # Deleting the pod: the DaemonSet starts a fresh one, which runs clean.
    store.delete(_rt(store, "", "v1", "pods"), "kube-system", crashing["metadata"]["name"])
    store = _reconcile(ctx)
    fresh = _agents(store)["k8s-node02"]
    assert fresh["metadata"]["uid"] != crashing["metadata"]["uid"]
    assert _condition(fresh, "Ready") == "True"
    assert _daemonsets(store)["cilium"]["status"]["numberReady"] == 6
    assert ctx.kv.range(podstatus.CRASH_PREFIX)[0] == []


def test_crash_backoff_counts_restarts_like_the_kubelet() -> None:
    crash = podstatus.Crash("c", "boom", "2026-01-01T00:00:00Z")
    pod = {
        "metadata": {"name": "p", "namespace": "n", "uid": "u"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c"}, {"name": "d"}]},
    }
    node = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    status = podstatus.pod_status(pod, node, True, "", "2026-01-01T00:05:09Z", crash)
    crashed, other = status["containerStatuses"]
    # 10+20+40+80 = 150s: four restarts; the next back-off is 160s, not yet over at 309s.
    assert crashed["restartCount"] == 4
    assert crashed["state"]["waiting"]["message"].startswith("back-off 2m40s restarting failed")
    assert other["ready"] is True
    assert not podstatus.is_ready({"status": status})
    assert {c["type"]: c["status"] for c in status["conditions"]}["ContainersReady"] == "False"
    # A crash of a container the pod does not have changes nothing.
    ghost = podstatus.Crash("x", "boom", "2026-01-01T00:00:00Z")
    unharmed = podstatus.pod_status(pod, node, True, "", "2026-01-01T00:05:09Z", ghost)
    assert podstatus.is_ready({"status": unharmed})
    # A record that does not parse is ignored rather than failing every reconcile.
    assert podstatus.Crash.from_bytes(crash.to_bytes()) == crash
    assert podstatus.Crash.from_bytes(b'{"container": "c", "message": "m", "since": "x"}') is None
    assert podstatus.Crash.from_bytes(b"[]") is None


def test_agent_crashloop_needs_the_agent(ctx: DriftContext) -> None:
    store = ObjectStore(ctx.kv, builtin_registry())
    for pod in _agents(store).values():
        store.delete(_rt(store, "", "v1", "pods"), "kube-system", pod["metadata"]["name"])
    with pytest.raises(DriftError, match="needs the Cilium agent pod on node04"):
        apply_to(ctx, "cilium.agent_crashloop", "node04")


def _install_release(store: ObjectStore) -> releases.Release:
    """The revision ``helm upgrade --install cilium`` records (the fixture applied the objects)."""
    chart = catalogue()["cilium"]
    user = values.load_file(ROOT / "cluster" / "helm" / "cilium-values.yaml")
    objects = chart.render(
        values.coalesce(chart.defaults, user),
        release="cilium",
        namespace="kube-system",
        version=chart.version,
    )
    stamp = releases.now()
    release = releases.Release(
        name="cilium",
        namespace="kube-system",
        version=1,
        status="deployed",
        chart_name="cilium",
        chart_version=chart.version,
        app_version=chart.app_version,
        config=dict(user),
        manifest=manifest_text(objects),
        first_deployed=stamp,
        last_deployed=stamp,
        description="Install complete",
        chart_values=dict(chart.defaults),
    )
    store.create(_rt(store, "", "v1", "secrets"), "kube-system", releases.to_secret(release, 1))
    return release


def test_downgrade_records_a_revision_and_retags_the_workloads(ctx: DriftContext) -> None:
    store = ObjectStore(ctx.kv, builtin_registry())
    installed = _install_release(store)
    said = apply_to(ctx, "cilium.downgrade")
    assert "revision 2" in said

    secrets = store.list(
        _rt(store, "", "v1", "secrets"), "kube-system", label_selector="owner=helm,name=cilium"
    )
    history = sorted((releases.from_secret(s) for s in secrets["items"]), key=lambda r: r.version)
    assert [(r.version, r.status, r.chart_version) for r in history] == [
        (1, "superseded", installed.chart_version),
        (2, "deployed", "1.18.12"),
    ]
    assert history[1].config == installed.config  # `helm get values` is unchanged
    assert "quay.io/cilium/cilium:v1.18.12" in history[1].manifest
    assert f":v{installed.app_version}\n" not in history[1].manifest.replace("hubble-ui", "")

    agent = _daemonsets(store)["cilium"]["spec"]["template"]["spec"]
    images = {c["image"] for c in [*agent.get("initContainers", []), *agent["containers"]]}
    assert images == {"quay.io/cilium/cilium:v1.18.12"}
    operator = store.get(_rt(store, "apps", "v1", "deployments"), "kube-system", "cilium-operator")
    [container] = operator["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "quay.io/cilium/operator-generic:v1.18.12"


def test_downgrade_needs_a_deployed_release(ctx: DriftContext) -> None:
    with pytest.raises(DriftError, match="needs a deployed helm release kube-system/cilium"):
        apply_to(ctx, "cilium.downgrade")
    store = ObjectStore(ctx.kv, builtin_registry())
    agent = _daemonsets(store)["cilium"]["spec"]["template"]["spec"]["containers"][0]
    assert agent["image"].endswith(":v1.19.1")  # nothing was retagged
    with pytest.raises(ApiError):
        store.get(_rt(store, "", "v1", "secrets"), "kube-system", "sh.helm.release.v1.cilium.v1")


def test_deleted_agent_daemonset_takes_its_pods_and_a_deleted_operator_its_replicas(
    ctx: DriftContext,
) -> None:
    assert len(_agents(_reconcile(ctx))) == 6
    said = apply_to(ctx, "cilium.agent_daemonset_deleted", None)
    assert "DaemonSet kube-system/cilium deleted" in said
    apply_to(ctx, "cilium.operator_deleted", None)
    store = _reconcile(ctx)
    assert "cilium" not in _daemonsets(store)
    assert _agents(store) == {}  # the garbage collector follows the ownerReferences
    pods = store.list(_rt(store, "", "v1", "pods"), "kube-system")["items"]
    assert [p for p in pods if p["metadata"]["name"].startswith("cilium-operator")] == []
    with pytest.raises(DriftError, match="cilium"):
        apply_to(ctx, "cilium.agent_daemonset_deleted", None)


def test_kube_proxy_statefulset_and_static_pod_run_as_pods(ctx: DriftContext) -> None:
    apply_to(ctx, "cilium.kube_proxy_statefulset", None)
    said = apply_to(ctx, "cilium.kube_proxy_static_pod", "node02")
    assert "node02" in said
    assert "machine.pods" in said
    store = _reconcile(ctx)
    pods = {p["metadata"]["name"]: p for p in store.list(_rt(store, "", "v1", "pods"), "")["items"]}
    [owner] = pods["edge-lb-0"]["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("StatefulSet", "edge-lb")
    [mirror] = [p for n, p in pods.items() if n.startswith("proxyd-")]
    assert mirror["metadata"]["namespace"] == "kube-system"
    assert mirror["metadata"]["name"] == f"proxyd-{mirror['spec']['nodeName']}"
    assert "kubernetes.io/config.mirror" in mirror["metadata"]["annotations"]
    assert "kube-proxy" in mirror["spec"]["containers"][0]["image"]
