"""Cilium controls over hand-built snapshots of the reference cluster.

The clean snapshot holds what the chart and Talos produce for the shipped
definition (objects shaped as the API returns them); each test breaks one
thing and looks for the finding that names it, or for a skip when the check
cannot see.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checks import cilium
from checks import snapshot as snap
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory

DIGEST = "@sha256:" + "ab" * 32


def machine_config(cni: str | None = "none", disabled: Any = True) -> list[dict[str, Any]]:
    cluster_section: dict[str, Any] = {"network": {}, "proxy": {"image": "kube-proxy"}}
    if cni is not None:
        cluster_section["network"]["cni"] = {"name": cni}
    if disabled is not None:
        cluster_section["proxy"]["disabled"] = disabled
    return [
        {"version": "v1alpha1", "machine": {"type": "controlplane"}, "cluster": cluster_section},
        {"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": "x"},
    ]


def env(host: str = "localhost", port: str = "7445") -> list[dict[str, Any]]:
    return [
        {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "KUBERNETES_SERVICE_HOST", "value": host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": port},
    ]


def agent_daemonset(version: str = "v1.19.1") -> dict[str, Any]:
    image = f"quay.io/cilium/cilium:{version}{DIGEST}"
    return {
        "metadata": {"name": "cilium", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "config", "image": image, "env": env()}],
                    "containers": [{"name": "cilium-agent", "image": image, "env": env()}],
                }
            }
        },
        "status": {"desiredNumberScheduled": 6, "numberReady": 6},
    }


def operator_deployment(replicas: int = 2, ready: int = 2) -> dict[str, Any]:
    image = f"quay.io/cilium/operator-generic:v1.19.1{DIGEST}"
    return {
        "metadata": {"name": "cilium-operator", "namespace": "kube-system"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {"containers": [{"name": "cilium-operator", "image": image, "env": env()}]}
            },
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def agent_pod(hostname: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"cilium-{hostname[-2:]}",
            "namespace": "kube-system",
            "labels": {"k8s-app": "cilium"},
        },
        "spec": {"nodeName": hostname},
        "status": {
            "phase": "Running" if ready else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def hubble_deployment(name: str, ready: int = 1) -> dict[str, Any]:
    repository = {"hubble-relay": "quay.io/cilium/hubble-relay"}.get(name, f"quay.io/cilium/{name}")
    tag = "v1.19.1" if name == "hubble-relay" else "v0.13.3"
    return {
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": name, "image": f"{repository}:{tag}"}]}},
        },
        "status": {"replicas": 1, "readyReplicas": ready},
    }


L2_POLICY = {
    "metadata": {"name": "default-l2-announcement"},
    "spec": {"loadBalancerIPs": True},
}
LB_POOL = {
    "metadata": {"name": "default-pool"},
    "spec": {"blocks": [{"start": "10.10.20.200", "stop": "10.10.20.220"}]},
}


def clean_kube(cluster: inventory.Cluster) -> dict[str, list[dict[str, Any]]]:
    hostnames = [n.hostname for n in cluster.nodes]
    return {
        snap.NODES.key: [{"metadata": {"name": h}} for h in hostnames],
        snap.PODS.key: [agent_pod(h) for h in hostnames],
        snap.DAEMONSETS.key: [agent_daemonset()],
        snap.DEPLOYMENTS.key: [
            operator_deployment(),
            hubble_deployment("hubble-relay"),
            hubble_deployment("hubble-ui"),
        ],
        snap.CILIUM_L2_POLICIES.key: [copy.deepcopy(L2_POLICY)],
        snap.CILIUM_LB_POOLS.key: [copy.deepcopy(LB_POOL)],
        snap.CONFIGMAPS.key: [
            {
                "metadata": {"name": "cilium-config", "namespace": "kube-system"},
                "data": {
                    "kube-proxy-replacement": "true",
                    "enable-l2-announcements": "true",
                    "enable-hubble": "true",
                    "ipam": "kubernetes",
                },
            }
        ],
    }


def clean_configs(cluster: inventory.Cluster) -> dict[str, list[dict[str, Any]]]:
    return {
        n.name: [{"node": str(n.ip), "metadata": {}, "spec": machine_config()}]
        for n in cluster.nodes
    }


def make(
    cluster: inventory.Cluster,
    kube: dict[str, list[dict[str, Any]]] | None = None,
    configs: dict[str, list[dict[str, Any]]] | None = None,
    missing: dict[str, str] | None = None,
) -> Snapshot:
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 1, 1, tzinfo=UTC),
        kube=clean_kube(cluster) if kube is None else kube,
        talos={snap.MACHINE_CONFIG: clean_configs(cluster) if configs is None else configs},
        missing=missing or {},
    )


ALL_CHECKS = (
    cilium.cni_and_proxy_left_to_cilium,
    cilium.no_kube_proxy,
    cilium.agent_ready_on_every_node,
    cilium.running_config_as_declared,
    cilium.operator_replicas_ready,
    cilium.version_as_declared,
)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_clean_snapshot_has_no_findings(cluster: inventory.Cluster, check: Any) -> None:
    assert check(make(cluster)) == []


def with_values(cluster: inventory.Cluster, tmp_path: Path, text: str) -> inventory.Cluster:
    values = tmp_path / "cilium-values.yaml"
    values.write_text(text)
    release = dataclasses.replace(cluster.helm["cilium"], values=values)
    return dataclasses.replace(cluster, helm={**cluster.helm, "cilium": release})


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# -- CIL-01 ----------------------------------------------------------------------------


def test_flannel_and_kube_proxy_named_per_node(cluster: inventory.Cluster) -> None:
    configs = clean_configs(cluster)
    configs["node03"][0]["spec"] = machine_config(cni=None, disabled=None)
    configs["node05"][0]["spec"] = machine_config(cni="flannel", disabled=True)
    found = cilium.cni_and_proxy_left_to_cilium(make(cluster, configs=configs))
    assert [f.target for f in found] == ["node03 (k8s-node03)", "node05 (k8s-node05)"]
    assert "flannel" in found[0].observed
    assert "kube-proxy enabled" in found[0].observed
    assert found[1].observed == "CNI flannel"
    assert "cni.name none" in found[1].expected


def test_unread_machine_config_is_a_skip_unless_another_node_fails(
    cluster: inventory.Cluster,
) -> None:
    configs = clean_configs(cluster)
    del configs["node02"]
    with pytest.raises(Unobservable, match=r"^node02: no machine config was read from node02$"):
        cilium.cni_and_proxy_left_to_cilium(make(cluster, configs=configs))
    configs["node04"][0]["spec"] = machine_config(disabled=False)
    finding = only(cilium.cni_and_proxy_left_to_cilium(make(cluster, configs=configs)))
    assert finding.target == "node04 (k8s-node04)"


def test_machine_config_source_missing_is_unobservable(cluster: inventory.Cluster) -> None:
    state = dataclasses.replace(
        make(cluster), talos={}, missing={snap.MACHINE_CONFIG: "talosctl timed out"}
    )
    with pytest.raises(Unobservable, match=r"^talosctl timed out$"):
        cilium.cni_and_proxy_left_to_cilium(state)
    # Failing on every node for one reason is said once, naming the nodes.
    per_node = {snap.on_node(snap.MACHINE_CONFIG, n.name): "timed out" for n in cluster.nodes}
    state = dataclasses.replace(make(cluster), talos={snap.MACHINE_CONFIG: {}}, missing=per_node)
    with pytest.raises(Unobservable) as raised:
        cilium.cni_and_proxy_left_to_cilium(state)
    assert raised.value.reason == "node01, node02, node03, node04, node05, node06: timed out"


# -- CIL-02 ----------------------------------------------------------------------------


def test_kube_proxy_daemonset_and_pods_found_by_name_or_label(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.DAEMONSETS.key].append(
        {
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "status": {"desiredNumberScheduled": 6},
        }
    )
    kube[snap.DAEMONSETS.key].append(
        {"metadata": {"name": "proxy", "namespace": "ops", "labels": {"k8s-app": "kube-proxy"}}}
    )
    kube[snap.PODS.key].append(
        {
            "metadata": {
                "name": "kube-proxy-abcde",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-proxy"},
            },
            "spec": {"nodeName": "k8s-node02"},
            "status": {"phase": "Running"},
        }
    )
    found = cilium.no_kube_proxy(make(cluster, kube=kube))
    assert [f.target for f in found] == [
        "DaemonSet kube-system/kube-proxy",
        "DaemonSet ops/proxy",
        "Pod kube-system/kube-proxy-abcde",
    ]
    assert "6 pod(s)" in found[0].observed
    assert found[2].observed == (
        "present on node02 (k8s-node02) (Running, bare pod): labelled k8s-app=kube-proxy"
    )


KUBE_PROXY = {"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.35.2"}


@pytest.mark.parametrize(
    "container",
    [
        KUBE_PROXY,
        {"name": "p", "image": "mirror.example:5000/k8s/kube-proxy@sha256:" + "ab" * 32},
        {"name": "p", "image": "kube-proxy"},
        {"name": "p", "image": "busybox", "command": ["/usr/local/bin/kube-proxy", "--v=2"]},
        {"name": "p", "image": "debian", "command": ["sh", "-c"], "args": ["exec kube-proxy"]},
    ],
)
def test_kube_proxy_found_by_what_runs_in_a_deployment_of_any_label(
    cluster: inventory.Cluster, container: dict[str, Any]
) -> None:
    kube = clean_kube(cluster)
    kube[snap.DEPLOYMENTS.key].append(
        {
            "metadata": {"name": "net-helper", "namespace": "ops", "labels": {"app": "x"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
        }
    )
    [found] = cilium.no_kube_proxy(make(cluster, kube=kube))
    assert isinstance(found, cilium.KubeProxyRunning)
    assert (found.kind, found.namespace, found.name) == ("Deployment", "ops", "net-helper")
    assert found.target == "Deployment ops/net-helper"
    assert found.expected == "no kube-proxy (Cilium replaces it)"
    assert found.observed.startswith("present (1 replica(s)): container p") or (
        found.observed
        == f"present (1 replica(s)): container kube-proxy (image {KUBE_PROXY['image']})"
    )


def test_kube_proxy_pods_of_any_owner_are_named_with_their_owner(
    cluster: inventory.Cluster,
) -> None:
    kube = clean_kube(cluster)
    spec = {"nodeName": "k8s-node02", "containers": [KUBE_PROXY]}
    kube[snap.PODS.key] += [
        {
            "metadata": {"name": "bare", "namespace": "default"},
            "spec": spec,
            "status": {"phase": "Running"},
        },
        {
            "metadata": {
                "name": "kube-proxy-k8s-node02",
                "namespace": "kube-system",
                "annotations": {"kubernetes.io/config.mirror": "abc"},
            },
            "spec": spec,
            "status": {"phase": "Running"},
        },
        {
            "metadata": {
                "name": "p-0",
                "namespace": "ops",
                "ownerReferences": [{"kind": "StatefulSet", "name": "p", "controller": True}],
            },
            "spec": spec,
        },
    ]
    found = cilium.no_kube_proxy(make(cluster, kube=kube))
    image = f"container kube-proxy (image {KUBE_PROXY['image']})"
    assert [(f.target, f.observed) for f in found] == [
        ("Pod default/bare", f"present on node02 (k8s-node02) (Running, bare pod): {image}"),
        (
            "Pod kube-system/kube-proxy-k8s-node02",
            f"present on node02 (k8s-node02) (Running, static pod): {image}",
        ),
        (
            "Pod ops/p-0",
            f"present on node02 (k8s-node02) (unknown phase, of StatefulSet p): {image}",
        ),
    ]


def test_an_image_merely_named_like_kube_proxy_is_not_kube_proxy(
    cluster: inventory.Cluster,
) -> None:
    kube = clean_kube(cluster)
    containers = [
        {"name": "a", "image": "example.org/kube-proxy-exporter:1.0"},
        {"name": "b", "image": "example.org/kube-proxy/tools:1.0"},
        {"name": "c", "image": "busybox", "command": ["kube-proxy-check"]},
    ]
    kube[snap.PODS.key].append(
        {"metadata": {"name": "lookalike", "namespace": "ops"}, "spec": {"containers": containers}}
    )
    assert cilium.no_kube_proxy(make(cluster, kube=kube)) == []


def test_unlisted_pods_make_kube_proxy_check_unobservable(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    del kube[snap.PODS.key]
    with pytest.raises(Unobservable):
        cilium.no_kube_proxy(make(cluster, kube=kube, missing={snap.PODS.key: "403 Forbidden"}))


# -- CIL-03 ----------------------------------------------------------------------------


def test_nodes_without_a_ready_agent_are_named(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    pods = [p for p in kube[snap.PODS.key] if p["spec"]["nodeName"] != "k8s-node02"]
    pods[2] = agent_pod("k8s-node04", ready=False)
    kube[snap.PODS.key] = pods
    found = cilium.agent_ready_on_every_node(make(cluster, kube=kube))
    assert [f.target for f in found] == ["node02 (k8s-node02)", "node04 (k8s-node04)"]
    assert found[0].observed == "no agent pod"
    assert found[1].observed == "cilium-04 not Ready (Pending)"


def test_missing_daemonset_is_a_finding_with_every_node(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.DAEMONSETS.key] = []
    kube[snap.PODS.key] = []
    found = cilium.agent_ready_on_every_node(make(cluster, kube=kube))
    assert found[0].target == "DaemonSet kube-system/cilium"
    assert len(found) == 1 + len(cluster.nodes)


def test_a_declared_node_without_a_node_object_is_judged(cluster: inventory.Cluster) -> None:
    """A node that never registered has no agent: it fails CIL-03, never passes by absence."""
    kube = clean_kube(cluster)
    kube[snap.NODES.key] = [
        n for n in kube[snap.NODES.key] if n["metadata"]["name"] != "k8s-node05"
    ]
    kube[snap.PODS.key] = [p for p in kube[snap.PODS.key] if p["spec"]["nodeName"] != "k8s-node05"]
    (finding,) = cilium.agent_ready_on_every_node(make(cluster, kube=kube))
    assert isinstance(finding, cilium.AgentNotReady)
    assert (finding.target, finding.node, finding.hostname) == (
        "node05 (k8s-node05)",
        "node05",
        "k8s-node05",
    )
    assert "never registered" in finding.observed


def test_agent_of_other_namespace_or_label_does_not_count(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.PODS.key][0]["metadata"]["namespace"] = "default"
    kube[snap.PODS.key][1]["metadata"]["labels"] = {"k8s-app": "cilium-envoy"}
    found = cilium.agent_ready_on_every_node(make(cluster, kube=kube))
    assert [f.target for f in found] == ["node01 (k8s-node01)", "node02 (k8s-node02)"]


# -- CIL-04 ----------------------------------------------------------------------------


def test_hubble_relay_scaled_to_zero_or_absent_ui_is_a_finding(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    relay = kube[snap.DEPLOYMENTS.key][1]
    relay["spec"]["replicas"] = 0
    relay["status"]["readyReplicas"] = 0
    del kube[snap.DEPLOYMENTS.key][2]
    found = cilium.running_config_as_declared(make(cluster, kube=kube))
    assert [(f.target, f.observed) for f in found] == [
        ("Deployment kube-system/hubble-relay", "0 replicas, 0 Ready"),
        ("Deployment kube-system/hubble-ui", "absent"),
    ]
    assert all(isinstance(f, cilium.HubbleNotRunning) for f in found)
    assert "hubble.relay.enabled in cilium-values.yaml" in found[0].expected


def test_hubble_components_not_declared_are_not_required(
    cluster: inventory.Cluster, tmp_path: Path
) -> None:
    values = "kubeProxyReplacement: true\nk8sServiceHost: localhost\nk8sServicePort: 7445\n"
    values += "l2announcements:\n  enabled: true\n"
    kube = clean_kube(cluster)
    kube[snap.DEPLOYMENTS.key] = kube[snap.DEPLOYMENTS.key][:1]
    state = make(with_values(cluster, tmp_path, values), kube=kube)
    assert cilium.running_config_as_declared(state) == []


def test_declared_l2_policy_and_pool_must_exist_as_declared(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.CILIUM_L2_POLICIES.key] = []
    kube[snap.CILIUM_LB_POOLS.key][0]["spec"]["disabled"] = True
    found = cilium.running_config_as_declared(make(cluster, kube=kube))
    assert [(f.target, f.observed) for f in found] == [
        ("CiliumL2AnnouncementPolicy default-l2-announcement", "absent"),
        ("CiliumLoadBalancerIPPool default-pool", "spec.disabled: true"),
    ]
    assert [(f.kind, f.name) for f in found if isinstance(f, cilium.L2ObjectWrong)] == [
        ("CiliumL2AnnouncementPolicy", "default-l2-announcement"),
        ("CiliumLoadBalancerIPPool", "default-pool"),
    ]
    kube = clean_kube(cluster)
    kube[snap.CILIUM_LB_POOLS.key][0]["spec"]["blocks"] = [{"cidr": "10.10.30.0/24"}]
    finding = only(cilium.running_config_as_declared(make(cluster, kube=kube)))
    assert finding.observed.startswith("spec differs:")


def test_kpr_off_and_l2_absent_are_findings_naming_the_values_field(
    cluster: inventory.Cluster,
) -> None:
    kube = clean_kube(cluster)
    data = kube[snap.CONFIGMAPS.key][0]["data"]
    data["kube-proxy-replacement"] = "false"
    del data["enable-l2-announcements"]
    found = cilium.running_config_as_declared(make(cluster, kube=kube))
    assert [f.target for f in found] == [
        "ConfigMap kube-system/cilium-config key kube-proxy-replacement",
        "ConfigMap kube-system/cilium-config key enable-l2-announcements",
    ]
    assert found[0].expected == '"true" (kubeProxyReplacement in cilium-values.yaml)'
    assert found[0].observed == '"false"'
    assert found[1].observed == "absent"


def test_expected_values_follow_the_values_file_and_chart_defaults(
    cluster: inventory.Cluster, tmp_path: Path
) -> None:
    # hubble.enabled left out: the chart default (true) applies; L2 off: key must be absent.
    declared = with_values(
        cluster, tmp_path, 'kubeProxyReplacement: "true"\nl2announcements:\n  enabled: false\n'
    )
    kube = clean_kube(cluster)
    finding = only(cilium.running_config_as_declared(make(declared, kube=kube)))
    assert finding.target.endswith("key enable-l2-announcements")
    assert finding.expected.startswith("absent")
    del kube[snap.CONFIGMAPS.key][0]["data"]["enable-l2-announcements"]
    assert cilium.running_config_as_declared(make(declared, kube=kube)) == []


def test_api_address_must_be_kubeprism_on_declared_port(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    agent = kube[snap.DAEMONSETS.key][0]["spec"]["template"]["spec"]["containers"][0]
    agent["env"] = env(host="10.10.20.10", port="6443")
    operator = kube[snap.DEPLOYMENTS.key][0]["spec"]["template"]["spec"]["containers"][0]
    operator["env"] = env(host="127.0.0.1")
    assert only(cilium.running_config_as_declared(make(cluster, kube=kube))) == Finding(
        "DaemonSet kube-system/cilium container cilium-agent",
        "the API through KubePrism: KUBERNETES_SERVICE_HOST localhost, PORT 7445",
        "KUBERNETES_SERVICE_HOST 10.10.20.10, KUBERNETES_SERVICE_PORT 6443",
        cilium.KUBEPRISM_DOC,
    )
    # The VIP on the KubePrism port is still not KubePrism (it is not on loopback).
    agent["env"] = env(host="10.10.20.10")
    assert only(cilium.running_config_as_declared(make(cluster, kube=kube))).observed == (
        "KUBERNETES_SERVICE_HOST 10.10.20.10, KUBERNETES_SERVICE_PORT 7445"
    )
    moved = dataclasses.replace(
        cluster, control_plane=dataclasses.replace(cluster.control_plane, kubeprism_port=7446)
    )
    found = cilium.running_config_as_declared(make(moved, kube=kube))
    assert {f.target for f in found} == {
        "DaemonSet kube-system/cilium container cilium-agent",
        "Deployment kube-system/cilium-operator container cilium-operator",
    }


def test_unset_env_and_missing_configmap_are_findings(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.CONFIGMAPS.key] = []
    operator = kube[snap.DEPLOYMENTS.key][0]["spec"]["template"]["spec"]["containers"][0]
    operator["env"] = []
    found = cilium.running_config_as_declared(make(cluster, kube=kube))
    assert [(f.target, f.observed) for f in found] == [
        ("ConfigMap kube-system/cilium-config", "absent"),
        (
            "Deployment kube-system/cilium-operator container cilium-operator",
            "KUBERNETES_SERVICE_HOST unset, KUBERNETES_SERVICE_PORT unset",
        ),
    ]


def test_unreadable_values_file_is_unobservable_naming_the_file(
    cluster: inventory.Cluster, tmp_path: Path
) -> None:
    broken = with_values(cluster, tmp_path, "hubble: [unclosed\n")
    with pytest.raises(Unobservable, match=r"cannot read .*cilium-values\.yaml:2: not valid YAML"):
        cilium.running_config_as_declared(make(broken))
    listed = with_values(cluster, tmp_path, "- a\n")
    with pytest.raises(Unobservable, match="not a mapping"):
        cilium.operator_replicas_ready(make(listed))
    no_release = dataclasses.replace(cluster, helm={})
    with pytest.raises(Unobservable, match="no `cilium` release"):
        cilium.agent_ready_on_every_node(make(no_release))


# -- CIL-05 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "ready", "observed"),
    [(1, 1, "1 replicas, 1 Ready"), (2, 1, "2 replicas, 1 Ready"), (3, 3, "3 replicas, 3 Ready")],
)
def test_operator_replicas_and_readiness(
    cluster: inventory.Cluster, replicas: int, ready: int, observed: str
) -> None:
    kube = clean_kube(cluster)
    kube[snap.DEPLOYMENTS.key] = [operator_deployment(replicas, ready)]
    finding = only(cilium.operator_replicas_ready(make(cluster, kube=kube)))
    assert finding.target == "Deployment kube-system/cilium-operator"
    assert finding.expected == "2 replicas, 2 Ready (operator.replicas in cilium-values.yaml)"
    assert finding.observed == observed


def test_operator_replicas_expected_from_values_file(
    cluster: inventory.Cluster, tmp_path: Path
) -> None:
    three = with_values(cluster, tmp_path, "operator:\n  replicas: 3\n")
    assert only(cilium.operator_replicas_ready(make(three))).expected.startswith("3 replicas")
    defaulted = with_values(cluster, tmp_path, "hubble:\n  enabled: true\n")
    assert cilium.operator_replicas_ready(make(defaulted)) == []
    bad = with_values(cluster, tmp_path, "operator:\n  replicas: two\n")
    with pytest.raises(Unobservable, match=r"operator\.replicas must be a whole number"):
        cilium.operator_replicas_ready(make(bad))


def test_operator_without_ready_status_counts_zero(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    deployment = operator_deployment()
    del deployment["status"]["readyReplicas"]
    kube[snap.DEPLOYMENTS.key] = [deployment]
    assert only(cilium.operator_replicas_ready(make(cluster, kube=kube))).observed == (
        "2 replicas, 0 Ready"
    )
    kube[snap.DEPLOYMENTS.key] = []
    assert only(cilium.operator_replicas_ready(make(cluster, kube=kube))).observed == "absent"


# -- CIL-06 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("quay.io/cilium/cilium:v1.19.1@sha256:abc", "v1.19.1"),
        ("quay.io/cilium/cilium:v1.19.1", "v1.19.1"),
        ("registry.local:5000/cilium/cilium:v1.18.0", "v1.18.0"),
        ("registry.local:5000/cilium/cilium@sha256:abc", None),
        ("cilium", None),
    ],
)
def test_image_tag(image: str, tag: str | None) -> None:
    assert cilium.image_tag(image) == tag


def test_old_agent_image_is_named_per_container(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    kube[snap.DAEMONSETS.key] = [agent_daemonset("v1.18.4")]
    found = cilium.version_as_declared(make(cluster, kube=kube))
    assert [f.target for f in found] == [
        "DaemonSet kube-system/cilium container config",
        "DaemonSet kube-system/cilium container cilium-agent",
    ]
    assert found[1].expected == "image quay.io/cilium/cilium:v1.19.1"
    assert found[1].observed.startswith("quay.io/cilium/cilium:v1.18.4@sha256:")


def test_look_alike_repository_with_the_declared_tag_is_a_finding(
    cluster: inventory.Cluster,
) -> None:
    # kubectl set image daemonset/cilium cilium-agent=docker.io/someone/cilium:v1.19.1
    kube = clean_kube(cluster)
    ds = agent_daemonset()
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/someone/cilium:v1.19.1"
    kube[snap.DAEMONSETS.key] = [ds]
    finding = only(cilium.version_as_declared(make(cluster, kube=kube)))
    assert finding.target == "DaemonSet kube-system/cilium container cilium-agent"
    assert (finding.expected, finding.observed) == (
        "image quay.io/cilium/cilium:v1.19.1",
        "docker.io/someone/cilium:v1.19.1",
    )


def test_operator_repository_is_judged_by_its_declared_prefix(cluster: inventory.Cluster) -> None:
    kube = clean_kube(cluster)
    deployment = operator_deployment()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "ghcr.io/fork/operator-generic:v1.19.1"
    kube[snap.DEPLOYMENTS.key] = [deployment, *kube[snap.DEPLOYMENTS.key][1:]]
    finding = only(cilium.version_as_declared(make(cluster, kube=kube)))
    assert finding.expected == "image quay.io/cilium/operator-*:v1.19.1"


def test_hubble_relay_image_is_judged_when_the_relay_is_enabled(
    cluster: inventory.Cluster,
) -> None:
    kube = clean_kube(cluster)
    kube[snap.DEPLOYMENTS.key][1] = hubble_deployment("hubble-relay")
    relay = kube[snap.DEPLOYMENTS.key][1]["spec"]["template"]["spec"]["containers"][0]
    relay["image"] = "quay.io/cilium/hubble-relay:v1.18.12"
    finding = only(cilium.version_as_declared(make(cluster, kube=kube)))
    assert finding.target == "Deployment kube-system/hubble-relay container hubble-relay"


def test_digest_only_image_is_unobservable_and_missing_operator_a_finding(
    cluster: inventory.Cluster,
) -> None:
    kube = clean_kube(cluster)
    ds = copy.deepcopy(agent_daemonset())
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "quay.io/cilium/cilium" + DIGEST
    kube[snap.DAEMONSETS.key] = [ds]
    with pytest.raises(
        Unobservable, match=r"cilium-agent image quay\.io/cilium/cilium@sha256:[0-9a-f]+: no tag"
    ):
        cilium.version_as_declared(make(cluster, kube=kube))
    kube[snap.DEPLOYMENTS.key] = kube[snap.DEPLOYMENTS.key][1:]
    finding = only(cilium.version_as_declared(make(cluster, kube=kube)))
    assert (finding.target, finding.observed) == (
        "Deployment kube-system/cilium-operator",
        "absent",
    )
