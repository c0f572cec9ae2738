"""Planners turn findings into exact actions with the declared risk (hand-built snapshots)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import (
    api_endpoint,
    backups,
    cluster_hygiene,
    disk_encryption,
    etcd,
    longhorn,
    longhorn_volumes,
    network_policy,
    pod_security,
    seccomp,
    topology,
)
from checks import cilium as checks_cilium
from checks import snapshot as model
from checks.findings import Finding, NodeFinding, NodeUnread, Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from remediation import catalogue
from remediation.actions import (
    ApplyConfig,
    CreateObject,
    DeleteObject,
    HelmUpgrade,
    PatchObject,
    RebuildNode,
    Risk,
    UpgradeNode,
)
from remediation.targets import nodes_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster")


def snap(cluster: inventory.Cluster, **kube: list[dict[str, Any]]) -> Snapshot:
    """A snapshot holding *kube* objects, keyed by plural (core and Longhorn nodes differ:
    ``nodes`` and ``longhorn_nodes``)."""
    keys = {kind.plural: kind.key for kind in reversed(model.KUBE_KINDS)}
    keys["longhorn_nodes"] = model.LONGHORN_NODES.key
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime.now(UTC),
        kube={keys[name]: objects for name, objects in kube.items()},
    )


def finding(target: str) -> Finding:
    return Finding(target, "x", "y")


def mismatch(node: str, *hostnames: str) -> cluster_hygiene.HostnameMismatch:
    return cluster_hygiene.HostnameMismatch(
        f"{node} (ip)", "hostname", ", ".join(hostnames), node=node, hostnames=hostnames
    )


def stale_member(node: str, answers_at: str) -> etcd.MemberPeerUrlStale:
    return etcd.MemberPeerUrlStale(
        f"{node} etcd member", "x", "y", node=node, member_id=f"{node}-id", answers_at=answers_at
    )


def test_nodes_are_those_of_typed_node_findings_only(cluster: inventory.Cluster) -> None:
    found = nodes_in(
        [
            NodeFinding("about node05", "x", "y", node="node03"),  # the type, not the words
            NodeUnread("node05 (k8s-node05)", "x", "not read", node="node05"),
            finding("node01 (k8s-node01)"),
            finding("k8s-node02"),
        ],
        cluster,
    )
    assert [n.name for n in found] == ["node03"]
    kinds = [longhorn.ExtensionMissing("n", "x", "y", node="node04"), finding("node06")]
    assert nodes_in(kinds, cluster, longhorn.ExtensionMissing) == [cluster.node("node04")]
    assert nodes_in(kinds, cluster, topology.NodeCordoned) == []


# Every control whose planner acts on nodes, with a typed finding it acts on.
NODE_CONTROLS = {
    "ETCD-02": stale_member("node03", "10.10.20.18"),
    "LH-01": longhorn.ExtensionMissing("n", "x", "y", node="node03"),
    "TOP-02": topology.NodeCordoned("n", "x", "y", node="node03"),
    "API-01": api_endpoint.VipNotConfigured("n", "x", "y", node="node03"),
    "API-04": api_endpoint.KubePrismUnhealthy("n", "x", "y", node="node03"),
    "SEC-01": seccomp.SeccompDefaultOff("n", "x", "y", node="node03"),
    "CIL-01": checks_cilium.CniOrProxyInstalled("n", "x", "y", node="node03"),
    "HYG-05": cluster_hygiene.HostnameMismatch("n", "x", "y", node="node03"),
}


@pytest.mark.parametrize("control", sorted(NODE_CONTROLS))
def test_a_finding_that_only_names_a_node_in_its_text_plans_nothing(
    control: str, cluster: inventory.Cluster
) -> None:
    untyped = Finding("node03 (k8s-node03)", "node03 conforms", "node03 (k8s-node03) does not")
    state = snap(cluster, nodes=[])
    registry = catalogue.loaded()
    assert registry.plan(control, [untyped], state).actions == ()
    # The same control acts on node03 once the finding is typed.
    typed = registry.plan(control, [NODE_CONTROLS[control]], state)
    assert typed.actions
    assert all("node03" in a.target for a in typed.actions), typed.actions


def test_a_node_whose_addresses_were_not_read_is_never_rebuilt(cluster: inventory.Cluster) -> None:
    nodes = {n.name: n for n in cluster.control_plane_nodes}
    advertised = {"node02": "10.10.20.117", "node03": "10.10.20.118"}
    members = [
        model.EtcdMember(
            id=f"{n.name}-id",
            hostname=n.hostname,
            peer_urls=(f"https://{advertised.get(n.name, str(n.ip))}:2380",),
            client_urls=(),
            is_learner=False,
        )
        for n in nodes.values()
    ]
    # Talos reports every node's addresses (the declared ones) but node03's; Kubernetes
    # lists no Node, so nobody observed where node03 answers.
    addresses = {
        name: [{"spec": {"address": f"{n.ip}/24"}}] for name, n in nodes.items() if name != "node03"
    }
    state = dataclasses.replace(
        snap(cluster, nodes=[]),
        etcd_members=members,
        talos={model.ADDRESS_STATUS: addresses},
        missing={model.on_node(model.ADDRESS_STATUS, "node03"): "connection refused"},
    )
    findings = etcd.peer_urls_match_node_addresses(state)
    assert [(type(f), getattr(f, "node", None)) for f in findings] == [
        (etcd.MemberPeerUrlStale, "node02"),
        (NodeUnread, "node03"),
    ]
    plan = catalogue.loaded().plan("ETCD-02", findings, state)
    assert [a.change for a in plan.actions] == [RebuildNode("node02", str(nodes["node02"].ip))]
    unread_only = [f for f in findings if isinstance(f, NodeUnread)]
    assert catalogue.loaded().plan("ETCD-02", unread_only, state).actions == ()
    # Alone, node03's member makes the control unobservable, not failed.
    members[1] = dataclasses.replace(members[1], peer_urls=(f"https://{nodes['node02'].ip}:2380",))
    with pytest.raises(Unobservable, match=r"node03 .*observed at no address"):
        etcd.peer_urls_match_node_addresses(dataclasses.replace(state, etcd_members=members))


def test_config_controls_reapply_to_the_typed_nodes_or_every_control_plane(
    cluster: inventory.Cluster,
) -> None:
    registry = catalogue.loaded()
    off = seccomp.SeccompDefaultOff("node02 (k8s-node02) kubelet", "x", "y", node="node02")
    plan = registry.plan("SEC-01", [off], snap(cluster))
    assert [(a.target, a.change, a.risk) for a in plan.actions] == [
        ("node02 (k8s-node02)", ApplyConfig("node02"), Risk.SAFE)
    ]
    cluster_wide = registry.plan("PSA-02", [finding("node02 (k8s-node02)")], snap(cluster))
    assert [a.change for a in cluster_wide.actions] == [
        ApplyConfig(n.name) for n in cluster.control_plane_nodes
    ]


def _pod(
    name: str, namespace: str, owner: tuple[str, str] | None = None, **meta: Any
) -> dict[str, Any]:
    refs = [{"kind": owner[0], "name": owner[1], "controller": True}] if owner else []
    return {
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": refs, **meta},
        "spec": {
            "nodeName": "k8s-node02",
            "containers": [{"name": "p", "image": "registry.k8s.io/kube-proxy:v1.35.2"}],
        },
    }


def test_kube_proxy_is_deleted(cluster: inventory.Cluster) -> None:
    proxy = {"metadata": {"name": "kube-proxy", "namespace": "kube-system"}}
    cilium = {"metadata": {"name": "cilium", "namespace": "kube-system"}}
    state = snap(cluster, daemonsets=[proxy, cilium], deployments=[], pods=[])
    found = checks_cilium.no_kube_proxy(state)
    plan = catalogue.loaded().plan("CIL-02", found, state)
    assert [a.change for a in plan.actions] == [
        DeleteObject(model.DAEMONSETS.path, "kube-proxy", "kube-system")
    ]
    # Only typed findings are acted on: a finding's words name nothing to delete.
    assert (
        catalogue.loaded()
        .plan("CIL-02", [finding("DaemonSet kube-system/kube-proxy")], state)
        .actions
        == ()
    )


def test_kube_proxy_of_any_owner_is_deleted_or_left_manual(cluster: inventory.Cluster) -> None:
    image = "registry.k8s.io/kube-proxy:v1.35.2"
    template = {"spec": {"containers": [{"name": "p", "image": image}]}}
    deployment = {"metadata": {"name": "net", "namespace": "ops"}, "spec": {"template": template}}
    pods = [
        _pod("net-5d8f7c9b4-abcde", "ops", ("ReplicaSet", "net-5d8f7c9b4")),  # the Deployment's
        _pod("loose", "default"),  # bare
        _pod("proxy-0", "ops", ("StatefulSet", "proxy")),
        _pod(
            "kube-proxy-k8s-node02",
            "kube-system",
            ("Node", "k8s-node02"),
            annotations={"kubernetes.io/config.mirror": "x"},
        ),
    ]
    state = snap(cluster, daemonsets=[], deployments=[deployment], pods=pods)
    plan = catalogue.loaded().plan("CIL-02", checks_cilium.no_kube_proxy(state), state)
    assert [a.change for a in plan.actions] == [
        DeleteObject(model.DEPLOYMENTS.path, "net", "ops"),
        DeleteObject(model.PODS.path, "loose", "default"),
    ]
    assert plan.manual == (
        "Pod ops/proxy-0 is run by StatefulSet ops/proxy: "
        "kubectl --namespace ops delete statefulset proxy",
        "Pod kube-system/kube-proxy-k8s-node02 is the mirror of a static pod on k8s-node02: "
        "remove it from that node's machine.pods "
        "(talosctl --nodes <k8s-node02> edit machineconfig)",
    )


def test_a_clusterwide_allow_all_is_left_manual_with_the_command(
    cluster: inventory.Cluster,
) -> None:
    state = snap(cluster, namespaces=[{"metadata": {"name": "apps"}}], ciliumnetworkpolicies=[])
    opened = [
        network_policy.NamespaceNotDenied(
            f"Namespace {ns}", "x", "y", namespace=ns, opened_by=("allow-all",)
        )
        for ns in ("apps", "default")
    ]
    plan = catalogue.loaded().plan("NP-01", opened, state)
    assert plan.actions == ()
    assert plan.manual == (
        "CiliumClusterwideNetworkPolicy allow-all allows the entity all in namespaces "
        "apps, default (and every other it selects): review what else it allows, "
        "then kubectl delete ciliumclusterwidenetworkpolicies allow-all",
    )


def test_loosened_namespace_label_is_removed_and_node_findings_reapplied(
    cluster: inventory.Cluster,
) -> None:
    label = "pod-security.kubernetes.io/enforce"
    loose = pod_security.NamespaceLevelLoosened(
        "Namespace apps", "x", "y", namespace="apps", level="privileged"
    )
    remove = PatchObject(
        model.NAMESPACES.path, "apps", None, {"metadata": {"labels": {label: None}}}
    )
    registry = catalogue.loaded()
    only_label = registry.plan("PSA-01", [loose], snap(cluster))
    assert [a.change for a in only_label.actions] == [remove]
    both = registry.plan("PSA-01", [finding("node02 (k8s-node02)"), loose], snap(cluster))
    assert [a.change for a in both.actions] == [
        *(ApplyConfig(n.name) for n in cluster.control_plane_nodes),
        remove,
    ]


def test_default_deny_is_created_only_where_missing(cluster: inventory.Cluster) -> None:
    namespaces = [
        {"metadata": {"name": name}}
        for name in ("default", "apps", "kube-system", "longhorn-system")
    ]
    deny = {
        "metadata": {"name": "default-deny", "namespace": "default"},
        "spec": {"endpointSelector": {}, "ingress": [{}], "egress": [{}]},
    }
    state = snap(cluster, namespaces=namespaces, ciliumnetworkpolicies=[deny])
    apps = network_policy.NamespaceNotDenied("Namespace apps", "x", "none", namespace="apps")
    # Only the typed finding is acted on: a finding's words name nothing to change.
    plan = catalogue.loaded().plan("NP-01", [apps, finding("Namespace default")], state)
    (action,) = plan.actions
    assert isinstance(action.change, CreateObject)
    assert action.change.namespace == "apps"
    assert action.change.body["metadata"] == {"name": "default-deny", "namespace": "apps"}
    assert action.change.body["spec"] == deny["spec"]
    assert action.risk is Risk.SAFE


def test_a_default_deny_that_does_not_deny_is_replaced_not_created(
    cluster: inventory.Cluster,
) -> None:
    emptied = {
        "metadata": {"name": "default-deny", "namespace": "apps"},
        "spec": {"endpointSelector": {}, "ingress": [], "egress": [{}]},
        "specs": [{"endpointSelector": {}}],
    }
    state = snap(
        cluster, namespaces=[{"metadata": {"name": "apps"}}], ciliumnetworkpolicies=[emptied]
    )
    apps = network_policy.NamespaceNotDenied("Namespace apps", "x", "ingress", namespace="apps")
    (action,) = catalogue.loaded().plan("NP-01", [apps], state).actions
    declared: dict[str, Any] = {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}
    assert action.change == PatchObject(
        model.CILIUM_NETWORK_POLICIES.path,
        "default-deny",
        "apps",
        [{"op": "add", "path": "/spec", "value": declared}, {"op": "remove", "path": "/specs"}],
        patch_type="json",
    )
    assert action.risk is Risk.SAFE


def test_replica_counts_patch_setting_class_configmap_and_volumes(
    cluster: inventory.Cluster,
) -> None:
    setting = {
        "metadata": {"name": "default-replica-count", "namespace": "longhorn-system"},
        "value": "2",
    }
    sc_text = yaml.safe_dump({"kind": "StorageClass", "parameters": {"numberOfReplicas": "2"}})
    configmap = {
        "metadata": {"name": "longhorn-storageclass", "namespace": "longhorn-system"},
        "data": {"storageclass.yaml": sc_text},
    }
    good = {
        "metadata": {"name": "pvc-a", "namespace": "longhorn-system"},
        "spec": {"numberOfReplicas": 3},
    }
    bad = {
        "metadata": {"name": "pvc-b", "namespace": "longhorn-system"},
        "spec": {"numberOfReplicas": 2},
    }
    state = snap(cluster, settings=[setting], configmaps=[configmap], volumes=[good, bad])
    plan = catalogue.loaded().plan("LH-04", [], state)
    changes = [a.change for a in plan.actions]
    assert all(isinstance(c, PatchObject) for c in changes)
    patches = {c.name: c.patch for c in changes if isinstance(c, PatchObject)}
    assert patches["default-replica-count"] == {"value": "3"}
    assert patches["pvc-b"] == {"spec": {"numberOfReplicas": 3}}
    assert "pvc-a" not in patches
    new_class = yaml.safe_load(patches["longhorn-storageclass"]["data"]["storageclass.yaml"])
    assert new_class["parameters"]["numberOfReplicas"] == "3"


@pytest.mark.parametrize(
    ("name", "key", "text", "says"),
    [
        pytest.param(
            "longhorn-storageclass",
            "storageclass.yaml",
            "kind: StorageClass\nparameters: {numberOfReplicas: '2'\n",
            "not valid YAML",
            id="class-malformed",
        ),
        pytest.param(
            "longhorn-storageclass",
            "storageclass.yaml",
            "kind: StorageClass\nkind: Secret\n",
            'mapping key "kind" already defined at line 1',
            id="class-duplicate-key",
        ),
        pytest.param(
            "longhorn-storageclass",
            "storageclass.yaml",
            "- a\n- b\n",
            "is not a StorageClass",
            id="class-a-list",
        ),
        pytest.param(
            "longhorn-default-setting",
            "default-setting.yaml",
            "default-replica-count: [2\n",
            "not valid YAML",
            id="setting-malformed",
        ),
    ],
)
def test_a_configmap_that_is_not_yaml_is_left_to_a_person_naming_it(
    cluster: inventory.Cluster, name: str, key: str, text: str, says: str
) -> None:
    configmap = {"metadata": {"name": name, "namespace": "longhorn-system"}, "data": {key: text}}
    state = snap(cluster, settings=[], configmaps=[configmap], volumes=[])
    plan = catalogue.loaded().plan("LH-04", [], state)
    assert not [a for a in plan.actions if getattr(a.change, "name", "") == name]
    (manual,) = plan.manual
    assert manual.startswith(f"ConfigMap longhorn-system/{name} data.{key}"), manual
    assert says in manual
    assert manual.endswith("not changed: fix it by hand")


def test_another_longhorn_class_with_another_count_is_manual_with_the_commands(
    cluster: inventory.Cluster,
) -> None:
    found = longhorn_volumes.ReplicaCountMismatch(
        "StorageClass/longhorn-single", "x", "y", storage_class="longhorn-single"
    )
    chart_class = longhorn_volumes.ReplicaCountMismatch(
        "StorageClass/longhorn", "x", "y", storage_class="longhorn"
    )
    state = snap(cluster, configmaps=[], settings=[], volumes=[])
    plan = catalogue.loaded().plan("LH-04", [found, chart_class], state)
    (manual,) = plan.manual
    assert "kubectl delete storageclass longhorn-single && kubectl apply -f sc.yaml" in manual


def test_cilium_config_upgrades_the_release_and_restores_the_l2_objects(
    cluster: inventory.Cluster,
) -> None:
    pool = checks_cilium.L2ObjectWrong(
        "CiliumLoadBalancerIPPool default-pool",
        "x",
        "absent",
        kind="CiliumLoadBalancerIPPool",
        name="default-pool",
    )
    policy = checks_cilium.L2ObjectWrong(
        "CiliumL2AnnouncementPolicy default-l2-announcement",
        "x",
        "spec.disabled: true",
        kind="CiliumL2AnnouncementPolicy",
        name="default-l2-announcement",
    )
    live = {"metadata": {"name": "default-l2-announcement"}, "spec": {"loadBalancerIPs": False}}
    state = snap(cluster, ciliuml2announcementpolicies=[live], ciliumloadbalancerippools=[])
    plan = catalogue.loaded().plan("CIL-04", [pool, policy], state)
    create, patch = (a.change for a in plan.actions)
    assert isinstance(create, CreateObject)
    assert create.body["metadata"]["name"] == "default-pool"
    assert create.kind == model.CILIUM_LB_POOLS.path
    assert isinstance(patch, PatchObject)
    assert patch.patch == [{"op": "add", "path": "/spec", "value": {"loadBalancerIPs": True}}]
    assert {a.risk for a in plan.actions} == {Risk.SAFE}
    kpr = finding("ConfigMap kube-system/cilium-config key kube-proxy-replacement")
    plan = catalogue.loaded().plan("CIL-04", [kpr, pool], state)
    assert next(a.change for a in plan.actions) == HelmUpgrade("cilium")


def test_a_backup_dated_in_the_future_is_manual_with_the_command(
    cluster: inventory.Cluster,
) -> None:
    ahead = backups.BackupDatedInFuture("/b/etcd-x", "x", "y", path="/b/etcd-x")
    plan = catalogue.loaded().plan("BAK-01", [ahead], snap(cluster))
    assert plan.actions == ()
    assert plan.manual[0].endswith("then rm /b/etcd-x")
    stale = finding("/b/etcd-old")
    plan = catalogue.loaded().plan("BAK-01", [ahead, stale], snap(cluster))
    assert len(plan.actions) == 1
    assert len(plan.manual) == 1


def test_exactly_one_default_class_is_restored(cluster: inventory.Cluster) -> None:
    annotation = "storageclass.kubernetes.io/is-default-class"
    longhorn = {"metadata": {"name": "longhorn"}, "provisioner": "driver.longhorn.io"}
    local = {"metadata": {"name": "local-path", "annotations": {annotation: "true"}}}
    plan = catalogue.loaded().plan("LH-05", [], snap(cluster, storageclasses=[longhorn, local]))
    patches = {
        a.change.name: a.change.patch for a in plan.actions if isinstance(a.change, PatchObject)
    }
    assert patches == {
        "longhorn": {"metadata": {"annotations": {annotation: "true"}}},
        "local-path": {"metadata": {"annotations": {annotation: None}}},
    }


def test_node_actions_are_rolled_per_node_with_their_risk(cluster: inventory.Cluster) -> None:
    node03 = cluster.node("node03")
    node = {
        "metadata": {"name": "k8s-node03"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.10.20.118"}]},
    }
    registry = catalogue.loaded()
    state = snap(cluster, nodes=[node])
    [stale] = etcd.peer_urls_match_node_addresses(
        dataclasses.replace(
            state,
            etcd_members=[
                model.EtcdMember(
                    id=f"{n.name}-id",
                    hostname=n.hostname,
                    peer_urls=(f"https://{'10.10.20.118' if n is node03 else n.ip}:2380",),
                    client_urls=(),
                    is_learner=False,
                )
                for n in cluster.control_plane_nodes
            ],
        )
    )
    assert isinstance(stale, etcd.MemberPeerUrlStale)
    rebuild = registry.plan("ETCD-02", [stale], state)
    (action,) = rebuild.actions
    assert action.change == RebuildNode("node03", "10.10.20.118")
    assert (action.risk, action.node) == (Risk.DESTRUCTIVE, "node03")
    missing = longhorn.ExtensionMissing("node04 (k8s-node04)", "x", "y", node="node04")
    upgrade = registry.plan("LH-01", [missing], snap(cluster))
    (action,) = upgrade.actions
    assert isinstance(action.change, UpgradeNode)
    assert action.change.image.startswith("factory.talos.dev/installer/613e1592")
    assert action.risk is Risk.DISRUPTIVE


def test_helm_controls_share_one_release_upgrade(cluster: inventory.Cluster) -> None:
    plan = catalogue.loaded().plan(
        "CIL-05", [finding("Deployment kube-system/cilium-operator")], snap(cluster)
    )
    assert [a.change for a in plan.actions] == [HelmUpgrade("cilium")]
    assert plan.actions[0].risk is Risk.DISRUPTIVE


def test_a_control_without_a_planner_is_manual_with_its_docs(cluster: inventory.Cluster) -> None:
    found = Finding("node01 (k8s-node01)", "Ready", "absent", doc="https://example.invalid/doc")
    plan = catalogue.loaded().plan("TOP-01", [found], snap(cluster))
    assert plan.actions == ()
    assert plan.manual == (
        "no automatic remediation for this control; see https://example.invalid/doc",
    )
    assert catalogue.loaded().risk("TOP-01") is None


def test_stale_peer_urls_on_a_majority_need_a_restore_not_a_rebuild(
    cluster: inventory.Cluster,
) -> None:
    members = len(cluster.control_plane_nodes)
    majority = [stale_member(n.name, str(n.ip)) for n in cluster.control_plane_nodes]
    majority = majority[: members // 2 + 1]
    plan = catalogue.loaded().plan("ETCD-02", majority, snap(cluster, nodes=[]))
    assert plan.actions == ()
    assert "quorum is lost" in plan.manual[0]
    assert "--recover-from" in plan.manual[0]
    minority = majority[: members - (members // 2 + 1)]
    assert len(catalogue.loaded().plan("ETCD-02", minority, snap(cluster, nodes=[])).actions) == (
        len(minority)
    )


def test_only_volumes_observed_plain_are_reencrypted(cluster: inventory.Cluster) -> None:
    # The words are swapped on purpose: the plan follows the types, never the text.
    plain = disk_encryption.VolumeNotLuks2(
        "node03 (k8s-node03) volume STATE", "luks2", "not read as LUKS2", node="node03"
    )
    unread = NodeUnread("node02 (k8s-node02) volume STATE", "luks2", "plain?", node="node02")
    text_only = Finding("node04 (k8s-node04) volume STATE", "luks2", "no encryption provider")
    plan = catalogue.loaded().plan("ENC-01", [plain, unread, text_only], snap(cluster, nodes=[]))
    assert [a.node for a in plan.actions] == ["node03"]
    assert plan.actions[0].risk is Risk.DESTRUCTIVE
    assert plan.manual[0].startswith("node02 (k8s-node02): its volume status or config was not")


def test_a_config_declaring_other_keying_is_reapplied_not_rebuilt(
    cluster: inventory.Cluster,
) -> None:
    config = disk_encryption.EncryptionConfigDrift(
        "node05 (k8s-node05) volume EPHEMERAL config", "luks2", "static", node="node05"
    )
    both = disk_encryption.EncryptionConfigDrift(
        "node03 volume STATE config", "", "", node="node03"
    )
    plain = disk_encryption.VolumeNotLuks2("node03 volume STATE", "luks2", "plain", node="node03")
    plan = catalogue.loaded().plan("ENC-01", [config, both, plain], snap(cluster, nodes=[]))
    assert [(a.change, a.risk) for a in plan.actions] == [
        (ApplyConfig("node05"), Risk.SAFE),
        (RebuildNode("node03", "10.10.20.18"), Risk.DESTRUCTIVE),
    ]
    assert plan.manual == ()


def test_a_cordoned_node_is_uncordoned(cluster: inventory.Cluster) -> None:
    cordoned = {"metadata": {"name": "k8s-node05"}, "spec": {"unschedulable": True}}
    tainted = {"metadata": {"name": "k8s-node06"}, "spec": {}}
    named = [
        topology.NodeCordoned("node05 (k8s-node05)", "x", "y", node="node05"),
        topology.NodeTainted(
            "node06 (k8s-node06)",
            "x",
            "y",
            node="node06",
            keys=((topology.CONTROL_PLANE_LABEL, "NoSchedule"),),
        ),
    ]
    plan = catalogue.loaded().plan("TOP-02", named, snap(cluster, nodes=[cordoned, tainted]))
    assert [a.change for a in plan.actions] == [
        PatchObject(model.NODES.path, "k8s-node05", None, {"spec": {"unschedulable": None}}),
        ApplyConfig("node06"),
    ]
    assert {a.risk for a in plan.actions} == {Risk.SAFE}


def test_a_taint_no_config_sets_is_patched_off_keeping_the_others(
    cluster: inventory.Cluster,
) -> None:
    taints = [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"},
        {"key": "example.com/soft", "effect": "PreferNoSchedule"},
    ]
    node = {"metadata": {"name": "k8s-node04"}, "spec": {"taints": taints}}
    # The words are swapped on purpose: the plan follows the finding's fields.
    tainted = topology.NodeTainted(
        "node04 (k8s-node04)",
        "x",
        "cordoned",
        node="node04",
        taints=("dedicated=infra:NoSchedule",),
        keys=(("dedicated", "NoSchedule"),),
    )
    plan = catalogue.loaded().plan("TOP-02", [tainted], snap(cluster, nodes=[node]))
    assert [a.change for a in plan.actions] == [
        PatchObject(model.NODES.path, "k8s-node04", None, {"spec": {"taints": [taints[1]]}})
    ]


def test_a_kubelet_on_another_version_gets_its_config_again(cluster: inventory.Cluster) -> None:
    kubelet = topology.KubeletVersionDrift("node02 (k8s-node02) kubelet", "x", "y", "", "node02")
    plan = catalogue.loaded().plan("TOP-03", [kubelet], snap(cluster, nodes=[]))
    assert [(a.change, a.risk) for a in plan.actions] == [(ApplyConfig("node02"), Risk.SAFE)]
    assert plan.manual == ()
    apiserver = topology.ApiServerVersionDrift("Kubernetes API server", "x", "v1.35.1")
    plan = catalogue.loaded().plan("TOP-03", [apiserver], snap(cluster, nodes=[]))
    assert plan.actions == ()
    assert "talosctl upgrade-k8s --to 1.35.2" in plan.manual[0]


def test_talos_versions_compare_without_the_v_and_the_tag_keeps_it(
    cluster: inventory.Cluster,
) -> None:
    bare = dataclasses.replace(
        cluster, versions=dataclasses.replace(cluster.versions, talos="1.12.5")
    )
    seen = {n.name: "v1.12.5" for n in bare.nodes} | {"node05": "v1.12.4"}
    state = dataclasses.replace(snap(bare), talos_versions=seen)
    drift = topology.TalosVersionDrift("node05 (k8s-node05)", "1.12.5", "v1.12.4", node="node05")
    plan = catalogue.loaded().plan("TOP-03", [drift], state)
    (action,) = plan.actions  # only node05: v1.12.5 on the others is the declared 1.12.5
    assert isinstance(action.change, UpgradeNode)
    assert action.change.node == "node05"
    assert action.change.image.startswith("factory.talos.dev/installer/613e1592")
    assert action.change.image.endswith(":v1.12.5")
    assert "Talos v1.12.5" in action.summary
    unprefixed = dataclasses.replace(snap(cluster), talos_versions={"node05": "1.12.5"})
    assert catalogue.loaded().plan("TOP-03", [], unprefixed).actions == ()


def test_a_renamed_node_is_reapplied_then_its_stray_node_deleted(
    cluster: inventory.Cluster,
) -> None:
    nodes = [{"metadata": {"name": n.hostname}} for n in cluster.nodes]
    stray = {"metadata": {"name": "k8s-node04-renamed"}}
    renamed = mismatch("node04", "k8s-node04-renamed")
    # node05 took node06's hostname: that Node is declared, never deleted.
    swapped = mismatch("node05", "k8s-node06")
    # node03's stray name never registered a Node: nothing to delete.
    unregistered = mismatch("node03", "other")
    plan = catalogue.loaded().plan(
        "HYG-05", [renamed, swapped, unregistered], snap(cluster, nodes=[*nodes, stray])
    )
    assert [(a.target, a.change) for a in plan.actions] == [
        ("node03 (k8s-node03)", ApplyConfig("node03")),
        ("node04 (k8s-node04)", ApplyConfig("node04")),
        ("node05 (k8s-node05)", ApplyConfig("node05")),
        ("Node k8s-node04-renamed", DeleteObject(model.NODES.path, "k8s-node04-renamed", None)),
    ]
    assert {a.risk for a in plan.actions} == {Risk.SAFE}
    assert plan.manual == ()


def test_a_renamed_node_with_unread_nodes_is_reapplied_and_the_delete_left_manual(
    cluster: inventory.Cluster,
) -> None:
    renamed = mismatch("node04", "k8s-node04-renamed")
    plan = catalogue.loaded().plan("HYG-05", [renamed], snap(cluster))
    assert [a.change for a in plan.actions] == [ApplyConfig("node04")]
    (note,) = plan.manual
    assert note.startswith("Node k8s-node04-renamed: the Nodes were not read")


def test_a_namespace_allow_all_and_enforcement_off_are_left_manual_with_the_command(
    cluster: inventory.Cluster,
) -> None:
    state = snap(cluster, namespaces=[{"metadata": {"name": "apps"}}], ciliumnetworkpolicies=[])
    opened = network_policy.NamespaceNotDenied(
        "Namespace apps",
        "x",
        "ingress open",
        namespace="apps",
        opened_here=("networkpolicies/allow-all",),
    )
    off = network_policy.PolicyEnforcementOff(
        "ConfigMap kube-system/cilium-config", "x", "enable-policy: never", key="enable-policy"
    )
    plan = catalogue.loaded().plan("NP-01", [opened, off], state)
    assert plan.actions == ()
    assert plan.manual == (
        "namespace apps: networkpolicies/allow-all allows the entity all (ingress open): review "
        "what else it allows, then kubectl -n apps delete networkpolicies/allow-all",
        "ConfigMap kube-system/cilium-config: enable-policy: never; set it back in the Cilium "
        "Helm values and roll the agents: helm upgrade cilium cilium/cilium -n kube-system "
        "--reuse-values --set policyEnforcementMode=default && "
        "kubectl -n kube-system rollout restart daemonset/cilium",
    )


def test_a_version_pin_label_is_removed(cluster: inventory.Cluster) -> None:
    pinned = pod_security.NamespaceVersionPinned(
        "Namespace apps", "x", "y", namespace="apps", version="v1.20"
    )
    (action,) = catalogue.loaded().plan("PSA-01", [pinned], snap(cluster)).actions
    label = "pod-security.kubernetes.io/enforce-version"
    assert action.change == PatchObject(
        model.NAMESPACES.path, "apps", None, {"metadata": {"labels": {label: None}}}
    )


def test_an_invalid_default_deny_with_the_right_rules_is_replaced(
    cluster: inventory.Cluster,
) -> None:
    invalid = {
        "metadata": {"name": "default-deny", "namespace": "apps"},
        "spec": {"endpointSelector": {}, "nodeSelector": {}, "ingress": [{}], "egress": [{}]},
    }
    state = snap(
        cluster, namespaces=[{"metadata": {"name": "apps"}}], ciliumnetworkpolicies=[invalid]
    )
    apps = network_policy.NamespaceNotDenied("Namespace apps", "x", "invalid", namespace="apps")
    (action,) = catalogue.loaded().plan("NP-01", [apps], state).actions
    assert isinstance(action.change, PatchObject)
    assert action.change.patch_type == "json"
