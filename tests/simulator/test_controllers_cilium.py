"""Cilium controller: CRDs appear with the operator, CiliumNodes, policy validity."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.controllers import cilium, cluster
from simulator.kube.objects import ObjectStore
from tests.simulator import talos_site as ts
from tests.simulator.test_controllers_core import (
    CILIUM_READY,
    NOW,
    install_cilium,
    new_store,
    rt,
    running,
)

Obj = dict[str, Any]


def cilium_cluster(count: int = 2) -> tuple[ObjectStore, Any]:
    life = running(count, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    install_cilium(store)
    cluster.reconcile(life.site, store, now=NOW)
    return store, life


def crd_names(store: ObjectStore) -> set[str]:
    crds = store.list(rt(store, "apiextensions.k8s.io", "customresourcedefinitions"))
    return {c["metadata"]["name"] for c in crds["items"]}


def test_no_cilium_crds_without_a_running_operator() -> None:
    life = running(1, CILIUM_READY)
    store = new_store()
    cluster.reconcile(life.site, store, now=NOW)
    assert not {n for n in crd_names(store) if n.endswith(".cilium.io")}


def test_operator_installs_crds_with_versions_and_short_names() -> None:
    store, _ = cilium_cluster()
    assert {
        "ciliumnetworkpolicies.cilium.io",
        "ciliumclusterwidenetworkpolicies.cilium.io",
        "ciliumnodes.cilium.io",
        "ciliumloadbalancerippools.cilium.io",
        "ciliuml2announcementpolicies.cilium.io",
    } <= crd_names(store)
    assert store.registry.lookup("cilium.io", "v2", "ciliumloadbalancerippools") is not None
    assert store.registry.lookup("cilium.io", "v2alpha1", "ciliumloadbalancerippools") is not None
    assert store.registry.lookup("cilium.io", "v2alpha1", "ciliuml2announcementpolicies")
    assert store.registry.lookup("cilium.io", "v2", "ciliuml2announcementpolicies") is None
    cnp = store.registry.lookup("cilium.io", "v2", "ciliumnetworkpolicies")
    assert cnp is not None
    assert set(cnp.short_names) == {"cnp", "ciliumnp"}
    assert cnp.namespaced


def test_one_cilium_node_per_node_with_its_address() -> None:
    store, life = cilium_cluster(2)
    cn_rt = rt(store, "cilium.io", "ciliumnodes", "v2")
    found = {c["metadata"]["name"]: c for c in store.list(cn_rt)["items"]}
    assert set(found) == {"k8s-node01", "k8s-node02"}
    assert found["k8s-node02"]["spec"]["addresses"] == [{"type": "InternalIP", "ip": ts.ip(2)}]
    store.delete(rt(store, "", "nodes"), "", "k8s-node02")
    life.shutdown(ts.ip(2))  # a deleted Node of a stopped machine stays gone
    cluster.reconcile(life.site, store, now=NOW)
    assert {c["metadata"]["name"] for c in store.list(cn_rt)["items"]} == {"k8s-node01"}


def _policy(name: str, spec: Obj) -> Obj:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_policy_status_valid_and_invalid() -> None:
    store, life = cilium_cluster(1)
    cnp_rt = rt(store, "cilium.io", "ciliumnetworkpolicies", "v2")
    deny: Obj = {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}
    store.create(cnp_rt, "default", _policy("default-deny", deny))
    store.create(cnp_rt, "default", _policy("selector-only", {"endpointSelector": {}}))
    cluster.reconcile(life.site, store, now=NOW)
    good = store.get(cnp_rt, "default", "default-deny")["status"]["conditions"][0]
    bad = store.get(cnp_rt, "default", "selector-only")["status"]["conditions"][0]
    assert (good["type"], good["status"]) == ("Valid", "True")
    assert (bad["type"], bad["status"]) == ("Valid", "False")
    assert "anyOf" in bad["message"]
    revision = store.kv.revision()
    cluster.reconcile(life.site, store, now=NOW)
    assert store.kv.revision() == revision


_SELECTORS = st.sampled_from(["endpointSelector", "nodeSelector"])
_DIRECTIONS = st.sampled_from(["ingress", "ingressDeny", "egress", "egressDeny"])


@settings(max_examples=60, deadline=None)
@given(st.sets(_SELECTORS), st.sets(_DIRECTIONS))
def test_policy_problem_is_any_of_directions_and_one_of_selectors(
    selectors: set[str], directions: set[str]
) -> None:
    spec: Obj = {key: {} for key in selectors}
    spec.update({key: [{}] for key in directions})
    problem = cilium.policy_problem(spec)
    assert (problem is None) == (bool(directions) and len(selectors) == 1)
