"""NP-01 over hand-built snapshots: policies are judged by what they do, not by their name.

The clean state is what ``cluster/manifests/default-deny.yaml`` creates, read
from the shipped file; the other cases are the ways an operator's copy can
look right and deny nothing (``ingress: []``, a partial selector, an opt-out,
an invalid policy, an allow-all).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import network_policy
from checks import snapshot as snap
from checks.findings import Finding, Unobservable
from checks.snapshot import Snapshot
from provisioning.definition import inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped() -> list[dict[str, Any]]:
    """The project's own default-deny manifest (namespace ``default``)."""
    path = ROOT / "cluster" / "manifests" / "default-deny.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def namespace(name: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name}, "status": {"phase": "Active"}}
    obj.update(extra)
    return obj


def in_ns(policies: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    copies = copy.deepcopy(policies)
    for policy in copies:
        policy["metadata"]["namespace"] = name
    return copies


def policy(name: str, ns: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"endpointSelector": {}, **spec},
    }


def make(
    cluster: inventory.Cluster,
    namespaces: list[dict[str, Any]],
    policies: list[dict[str, Any]],
    clusterwide: list[dict[str, Any]] | None = None,
    k8s: list[dict[str, Any]] | None = None,
    configmaps: list[dict[str, Any]] | None = None,
) -> Snapshot:
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 1, 1, tzinfo=UTC),
        kube={
            snap.NAMESPACES.key: namespaces,
            snap.CILIUM_NETWORK_POLICIES.key: policies,
            snap.CILIUM_CLUSTERWIDE_NETWORK_POLICIES.key: clusterwide or [],
            snap.NETWORK_POLICIES.key: k8s or [],
            snap.CONFIGMAPS.key: configmaps or [],
        },
    )


SYSTEM = [
    namespace(n) for n in ("kube-system", "kube-public", "kube-node-lease", "longhorn-system")
]


def check(cluster: inventory.Cluster, policies: list[dict[str, Any]]) -> list[Finding]:
    state = make(cluster, [*SYSTEM, namespace("default"), namespace("team-a")], policies)
    return [
        f for f in network_policy.default_deny_in_every_namespace(state) if "team-a" in f.target
    ]


def test_shipped_policies_satisfy_the_control(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    state = make(
        cluster,
        [*SYSTEM, namespace("default"), namespace("team-a")],
        shipped + in_ns(shipped, "team-a"),
    )
    assert network_policy.default_deny_in_every_namespace(state) == []


def test_namespace_without_policy_is_named_and_system_ones_are_exempt(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    state = make(cluster, [*SYSTEM, namespace("default"), namespace("team-a")], shipped)
    (finding,) = network_policy.default_deny_in_every_namespace(state)
    assert finding.target == "Namespace team-a"
    assert finding.observed == "no CiliumNetworkPolicy"
    assert "endpointSelector: {}" in finding.expected


def test_dns_allow_alone_leaves_ingress_open(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    # The DNS allow selects every endpoint with an egress rule: egress is default deny.
    dns_only = [p for p in in_ns(shipped, "team-a") if p["metadata"]["name"] != "default-deny"]
    (finding,) = check(cluster, dns_only)
    assert finding.observed == "ingress not default deny"


@pytest.mark.parametrize(
    ("spec", "observed"),
    [
        (
            {"ingress": [], "egress": [{}]},
            "ingress not default deny (x has an empty ingress list, which Cilium ignores)",
        ),
        (
            {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}], "egress": [{}]},
            "ingress not default deny (x selects only some endpoints); "
            "egress not default deny (x selects only some endpoints)",
        ),
        (
            {"ingress": [{}], "egress": [{}], "enableDefaultDeny": {"egress": False}},
            "egress not default deny (x sets enableDefaultDeny.egress false)",
        ),
        (
            {"ingress": [{"fromEntities": ["all"]}], "egress": [{}]},
            "ingress open to the entity `all` by x",
        ),
    ],
    ids=["empty-list", "partial-selector", "opt-out", "allow-all"],
)
def test_policies_that_look_right_but_do_not_deny(
    cluster: inventory.Cluster, spec: dict[str, Any], observed: str
) -> None:
    (finding,) = check(cluster, [policy("x", **spec)])
    assert finding.observed == observed


@pytest.mark.parametrize(
    "policies",
    [
        [policy("a", ingress=[{}]), policy("b", egress=[{}])],
        [policy("deny", ingressDeny=[{"fromEntities": ["world"]}], egressDeny=[{}])],
        [policy("explicit", egress=[{}], enableDefaultDeny={"ingress": True, "egress": True})],
        [
            {
                "metadata": {"name": "specs", "namespace": "team-a"},
                "specs": [
                    {"endpointSelector": {}, "ingress": [{}]},
                    {"endpointSelector": {}, "egress": [{"toEntities": ["kube-apiserver"]}]},
                ],
            }
        ],
        [
            policy(
                "ports",
                ingress=[{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "80"}]}]}],
                egress=[{}],
            )
        ],
    ],
    ids=["two-policies", "deny-rules", "enable-default-deny", "specs-list", "allow-on-a-port"],
)
def test_other_shapes_of_default_deny_are_accepted(
    cluster: inventory.Cluster, policies: list[dict[str, Any]]
) -> None:
    assert check(cluster, policies) == []


def test_invalid_policy_is_not_enforced(cluster: inventory.Cluster) -> None:
    broken = policy("default-deny", ingress=[{}], egress=[{}])
    broken["status"] = {"conditions": [{"type": "Valid", "status": "False"}]}
    (finding,) = check(cluster, [broken])
    assert finding.observed == (
        "ingress not default deny (default-deny is not Valid); "
        "egress not default deny (default-deny is not Valid)"
    )


def test_name_does_not_matter_and_other_namespaces_do_not_count(
    cluster: inventory.Cluster,
) -> None:
    assert check(cluster, [policy("whatever", ingress=[{}], egress=[{}])]) == []
    elsewhere = policy("default-deny", ns="team-b", ingress=[{}], egress=[{}])
    (finding,) = check(cluster, [elsewhere])
    assert finding.observed == "no CiliumNetworkPolicy"


def test_terminating_namespaces_and_declared_system_namespaces_are_skipped(
    cluster: inventory.Cluster,
) -> None:
    namespaces = [
        *SYSTEM,
        namespace("leaving", status={"phase": "Terminating"}),
        namespace("gone", metadata={"name": "gone", "deletionTimestamp": "2026-01-01T00:00:00Z"}),
        namespace("team-a"),
    ]
    state = make(cluster, namespaces, [])
    assert [f.target for f in network_policy.default_deny_in_every_namespace(state)] == [
        "Namespace team-a"
    ]


def test_unlisted_policies_are_unobservable(cluster: inventory.Cluster) -> None:
    state = Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 1, 1, tzinfo=UTC),
        kube={
            snap.NAMESPACES.key: [namespace("default")],
            snap.CILIUM_CLUSTERWIDE_NETWORK_POLICIES.key: [],
        },
        missing={snap.CILIUM_NETWORK_POLICIES.key: "the server could not find the resource"},
    )
    with pytest.raises(Unobservable, match="could not find"):
        network_policy.default_deny_in_every_namespace(state)


# -- CiliumClusterwideNetworkPolicy: applies to every namespace its selector matches ----------

DENY = [policy("default-deny", ingress=[{}], egress=[{}])]


def ccnp(name: str, selector: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"endpointSelector": selector, **spec}}


def clusterwide_check(
    cluster: inventory.Cluster, clusterwide: list[dict[str, Any]], **labels: str
) -> list[Finding]:
    team = namespace("team-a", metadata={"name": "team-a", "labels": labels})
    state = make(cluster, [*SYSTEM, team], DENY, clusterwide)
    return list(network_policy.default_deny_in_every_namespace(state))


@pytest.mark.parametrize(
    "selector",
    [
        {},
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "team-a"}},
        {"matchLabels": {"io.kubernetes.pod.namespace": "team-a"}},
        {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.tier": "apps"}},
        {
            "matchExpressions": [
                {"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn", "values": ["x"]}
            ]
        },
    ],
)
def test_a_clusterwide_allow_all_selecting_the_namespace_defeats_its_default_deny(
    cluster: inventory.Cluster, selector: dict[str, Any]
) -> None:
    allow = ccnp("allow-all", selector, ingress=[{"fromEntities": ["all"]}])
    (finding,) = clusterwide_check(cluster, [allow], tier="apps")
    assert isinstance(finding, network_policy.NamespaceNotDenied)
    assert finding.target == "Namespace team-a"
    assert finding.observed == (
        "ingress open to the entity `all` by CiliumClusterwideNetworkPolicy allow-all"
    )
    assert finding.opened_by == ("allow-all",)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "team-b"}},
        {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.tier": "db"}},
        {"matchLabels": {"app": "web"}},  # only some endpoints: the rest stay denied
        {"matchExpressions": [{"key": "io.kubernetes.pod.namespace", "operator": "DoesNotExist"}]},
    ],
)
def test_a_clusterwide_policy_not_selecting_all_of_the_namespace_does_not_open_it(
    cluster: inventory.Cluster, selector: dict[str, Any]
) -> None:
    allow = ccnp("allow-all", selector, egress=[{"toEntities": ["all"]}])
    assert clusterwide_check(cluster, [allow], tier="apps") == []


def test_host_policies_and_invalid_clusterwide_policies_do_not_count(
    cluster: inventory.Cluster,
) -> None:
    host = {
        "metadata": {"name": "host"},
        "spec": {"nodeSelector": {}, "ingress": [{"fromEntities": ["all"]}]},
    }
    invalid = ccnp("broken", {}, ingress=[{"fromEntities": ["all"]}])
    invalid["status"] = {"conditions": [{"type": "Valid", "status": "False"}]}
    assert clusterwide_check(cluster, [host, invalid]) == []


def test_a_clusterwide_default_deny_denies_a_namespace_without_its_own(
    cluster: inventory.Cluster,
) -> None:
    deny_all = ccnp("cluster-deny", {}, ingress=[{}], egress=[{}])
    state = make(cluster, [*SYSTEM, namespace("team-a")], [], [deny_all])
    assert network_policy.default_deny_in_every_namespace(state) == []


def test_unlisted_clusterwide_policies_are_unobservable(cluster: inventory.Cluster) -> None:
    state = Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime(2026, 1, 1, tzinfo=UTC),
        kube={snap.NAMESPACES.key: [namespace("team-a")], snap.CILIUM_NETWORK_POLICIES.key: DENY},
        missing={snap.CILIUM_CLUSTERWIDE_NETWORK_POLICIES.key: "403 Forbidden"},
    )
    with pytest.raises(Unobservable, match="403 Forbidden"):
        network_policy.default_deny_in_every_namespace(state)


def k8s_policy(name: str, ns: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"podSelector": {}, **spec}}


def test_a_kubernetes_network_policy_allowing_every_peer_opens_the_namespace(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    # kubectl apply of a NetworkPolicy with an empty ingress rule: every source allowed.
    allow = k8s_policy("allow-all", policyTypes=["Ingress"], ingress=[{}])
    narrow = k8s_policy("web", policyTypes=["Ingress"], ingress=[{"ports": [{"port": 80}]}])
    state = make(
        cluster,
        [*SYSTEM, namespace("team-a")],
        in_ns(shipped, "team-a"),
        k8s=[allow, narrow],
    )
    (finding,) = network_policy.default_deny_in_every_namespace(state)
    assert isinstance(finding, network_policy.NamespaceNotDenied)
    assert finding.observed == "ingress open to the entity `all` by NetworkPolicy allow-all"
    assert finding.opened_here == ("networkpolicies/allow-all",)
    assert finding.opened_by == ()


def test_a_kubernetes_default_deny_network_policy_denies(cluster: inventory.Cluster) -> None:
    deny = k8s_policy("deny", policyTypes=["Ingress", "Egress"])
    state = make(cluster, [*SYSTEM, namespace("team-a")], [], k8s=[deny])
    assert network_policy.default_deny_in_every_namespace(state) == []
    ingress_only = make(cluster, [*SYSTEM, namespace("team-a")], [], k8s=[k8s_policy("deny")])
    (finding,) = network_policy.default_deny_in_every_namespace(ingress_only)
    assert finding.observed == "egress not default deny"


def test_a_namespace_policy_allowing_all_is_named_as_opened_here(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    allow = policy("allow-all", egress=[{"toEntities": ["all"]}])
    state = make(cluster, [*SYSTEM, namespace("team-a")], [*in_ns(shipped, "team-a"), allow])
    (finding,) = network_policy.default_deny_in_every_namespace(state)
    assert isinstance(finding, network_policy.NamespaceNotDenied)
    assert finding.opened_here == ("ciliumnetworkpolicies/allow-all",)


def cilium_config(**data: str) -> dict[str, Any]:
    return {"metadata": {"name": "cilium-config", "namespace": "kube-system"}, "data": data}


@pytest.mark.parametrize(
    ("data", "observed"),
    [
        ({"enable-policy": "never"}, "enable-policy: never -- Cilium enforces no policy at all"),
        (
            {"enable-policy": "default", "policy-audit-mode": "true"},
            "policy-audit-mode: true -- Cilium logs policy verdicts and drops nothing",
        ),
    ],
)
def test_cilium_switching_policy_enforcement_off_fails_every_namespace_at_once(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]], data: dict[str, str], observed: str
) -> None:
    state = make(
        cluster,
        [*SYSTEM, namespace("default")],
        shipped,
        configmaps=[cilium_config(**data)],
    )
    (finding,) = network_policy.default_deny_in_every_namespace(state)
    assert isinstance(finding, network_policy.PolicyEnforcementOff)
    assert finding.target == "ConfigMap kube-system/cilium-config"
    assert finding.observed == observed


def test_enforcing_cilium_config_passes_and_unlisted_configmaps_block_a_pass(
    cluster: inventory.Cluster, shipped: list[dict[str, Any]]
) -> None:
    enforcing = cilium_config(**{"enable-policy": "always", "policy-audit-mode": "false"})
    state = make(cluster, [*SYSTEM, namespace("default")], shipped, configmaps=[enforcing])
    assert network_policy.default_deny_in_every_namespace(state) == []
    unlisted = make(cluster, [*SYSTEM, namespace("default")], shipped)
    unlisted = Snapshot(
        definition=unlisted.definition,
        target=unlisted.target,
        taken_at=unlisted.taken_at,
        kube={k: v for k, v in unlisted.kube.items() if k != snap.CONFIGMAPS.key},
        missing={snap.CONFIGMAPS.key: "403 Forbidden"},
    )
    with pytest.raises(Unobservable, match="403 Forbidden"):
        network_policy.default_deny_in_every_namespace(unlisted)
