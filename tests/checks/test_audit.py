"""Audit controls: the first-match evaluator, the policy check, and the probe's verdict."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks import audit
from checks.audit import AuditEvent, AuditProbe, Request
from checks.findings import Unobservable
from checks.snapshot import MACHINE_CONFIG
from provisioning.definition import inventory
from tests.checks.builders import Docs, machine_config_snapshot, unread_machine_config


def reference_policy(rendered: dict[str, Docs]) -> dict[str, Any]:
    policy: dict[str, Any] = rendered["node01"][0]["cluster"]["apiServer"]["auditPolicy"]
    return policy


# -- the evaluator -----------------------------------------------------------------------------


def test_first_matching_rule_wins(rendered: dict[str, Docs]) -> None:
    policy = reference_policy(rendered)
    assert audit.policy_level(policy, Request("get", "", "secrets", "default", "s")).rule == 0
    rbac = Request("create", audit.RBAC_GROUP, "clusterroles")
    assert audit.policy_level(policy, rbac) == audit.Level("RequestResponse", 1, False)
    read = Request("get", audit.RBAC_GROUP, "clusterroles", name="r")
    assert audit.policy_level(policy, read) == audit.Level("Metadata", 2, False)
    reordered = {**policy, "rules": policy["rules"][::-1]}
    assert audit.policy_level(reordered, rbac) == audit.Level("Metadata", 0, False)


def test_no_matching_rule_means_none() -> None:
    policy = {"rules": [{"level": "Metadata", "resources": [{"group": "", "resources": ["pods"]}]}]}
    assert audit.policy_level(policy, Request("get", "", "secrets", "default")).level == "None"


@pytest.mark.parametrize(
    ("rule", "request_", "matches"),
    [
        ({"resources": [{"group": "", "resources": ["pods"]}]}, Request("get", "", "pods"), True),
        (
            {"resources": [{"group": "", "resources": ["pods"]}]},
            Request("get", "", "pods", subresource="log"),
            False,
        ),
        (
            {"resources": [{"group": "", "resources": ["pods/*"]}]},
            Request("get", "", "pods", subresource="log"),
            True,
        ),
        (
            {"resources": [{"group": "", "resources": ["*/log"]}]},
            Request("get", "", "pods", subresource="log"),
            True,
        ),
        ({"resources": [{"group": "apps"}]}, Request("get", "apps", "deployments"), True),
        ({"resources": [{"group": "apps"}]}, Request("get", "", "pods"), False),
        (
            {"resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["a"]}]},
            Request("get", "", "secrets", name="b"),
            False,
        ),
        ({"namespaces": ["kube-system"]}, Request("get", "", "pods", "default"), False),
        ({"namespaces": [""]}, Request("list", "", "nodes"), True),
        ({"verbs": ["get"]}, Request("list", "", "pods"), False),
        ({"users": ["system:kube-proxy"]}, Request("get", "", "pods"), False),
        ({"userGroups": ["system:authenticated"]}, Request("get", "", "pods"), True),
        ({"nonResourceURLs": ["/healthz*"]}, Request("get", "", "pods"), False),
        ({}, Request("get", "", "pods"), True),
    ],
)
def test_rule_matching_follows_the_api_server(
    rule: dict[str, Any], request_: Request, matches: bool
) -> None:
    assert audit.rule_matches(rule, request_) is matches


def test_omitted_stage_logs_nothing() -> None:
    policy = {"omitStages": ["ResponseComplete"], "rules": [{"level": "RequestResponse"}]}
    assert audit.policy_level(policy, Request("get", "", "secrets")).omitted
    rule_level = {"rules": [{"level": "Metadata", "omitStages": ["ResponseComplete"]}]}
    assert audit.policy_level(rule_level, Request("get", "", "pods")).omitted


@given(st.permutations(range(3)))
def test_only_the_declared_order_satisfies_the_claim(order: list[int]) -> None:
    """The reference rules in any order other than catch-all last give some sample a wrong level."""
    rules = [
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]},
        {
            "level": "RequestResponse",
            "verbs": list(audit.WRITE_VERBS),
            "resources": [
                {
                    "group": audit.RBAC_GROUP,
                    "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                }
            ],
        },
        {"level": "Metadata"},
    ]
    policy = {"rules": [rules[i] for i in order]}
    wrong = [
        r
        for e in audit.EXPECTATIONS
        for r in e.requests
        if audit.policy_level(policy, r).level != e.level
    ]
    assert (wrong == []) is (order[-1] == 2)


# -- AUD-01 ------------------------------------------------------------------------------------


def test_reference_policy_holds(cluster: inventory.Cluster, rendered: dict[str, Docs]) -> None:
    assert audit.policy_as_declared(machine_config_snapshot(cluster, rendered)) == []


def test_reordered_rules_fail_on_every_control_plane(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def reverse(node: str, doc: dict[str, Any]) -> None:
        doc["cluster"]["apiServer"]["auditPolicy"]["rules"].reverse()

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, reverse))
    assert len(findings) == 2 * len(cluster.control_plane_nodes)
    first = findings[0]
    assert first.target == "node01 (k8s-node01)"
    assert first.expected == "requests on secrets logged at RequestResponse"
    assert "get secrets" in first.observed
    assert "rule 1 level Metadata (matches everything)" in first.observed
    assert findings[1].expected == "RBAC writes logged at RequestResponse"


def test_missing_policy_is_judged_as_talos_default(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def drop(node: str, doc: dict[str, Any]) -> None:
        if node == "node06":
            del doc["cluster"]["apiServer"]["auditPolicy"]

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, drop))
    assert {f.target for f in findings} == {"node06 (k8s-node06)"}
    assert all("Talos default" in f.observed for f in findings)


@pytest.mark.parametrize(
    ("flag", "value", "meaning"),
    [
        ("audit-log-path", "-", "events are not written to the control plane's audit log"),
        ("audit-policy-file", "/var/lib/p.yaml", "kube-apiserver reads another policy"),
    ],
)
def test_an_audit_flag_overridden_in_extra_args_is_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs], flag: str, value: str, meaning: str
) -> None:
    def override(node: str, doc: dict[str, Any]) -> None:
        extra = doc["cluster"]["apiServer"].setdefault("extraArgs", {})
        # Talos's own value is no override; another value on node03 is.
        extra[flag] = value if node == "node03" else audit.TALOS_AUDIT_FLAGS[flag][0]

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, override))
    [finding] = findings
    assert finding.target == "node03 (k8s-node03)"
    assert finding.observed.startswith(f"cluster.apiServer.extraArgs {flag}={value}: {meaning}")
    assert finding.expected == f"{flag} {audit.TALOS_AUDIT_FLAGS[flag][0]} (as Talos sets it)"


def test_rbac_writes_missing_a_verb(cluster: inventory.Cluster, rendered: dict[str, Docs]) -> None:
    def narrow(node: str, doc: dict[str, Any]) -> None:
        if node == "node02":
            doc["cluster"]["apiServer"]["auditPolicy"]["rules"][1]["verbs"].remove("patch")

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, narrow))
    assert [f.target for f in findings] == ["node02 (k8s-node02)"]
    assert "patch roles.rbac.authorization.k8s.io" in findings[0].observed
    assert "create roles" not in findings[0].observed


def test_everything_else_at_request_response_is_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def loud(node: str, doc: dict[str, Any]) -> None:
        doc["cluster"]["apiServer"]["auditPolicy"]["rules"][-1]["level"] = "RequestResponse"

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, loud))
    assert {f.expected for f in findings} == {"every other request logged at Metadata"}


@pytest.mark.parametrize(
    ("shadow", "shown"),
    [
        ({"userGroups": ["system:authenticated"]}, "get secrets"),
        ({"userGroups": ["ops"]}, "get secrets (groups ops, system:authenticated)"),
        ({"users": ["alice"]}, "get secrets (user alice)"),
        ({"namespaces": ["payments"]}, "get secrets (namespace payments)"),
        (
            {"userGroups": ["ops"], "namespaces": ["payments"]},
            "(groups ops, system:authenticated, namespace payments)",
        ),
        (
            {"resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["db"]}]},
            "get secrets (name db)",
        ),
    ],
)
def test_a_first_rule_logging_nothing_for_some_requesters_fails(
    cluster: inventory.Cluster, rendered: dict[str, Docs], shadow: dict[str, Any], shown: str
) -> None:
    # The shadowing rule goes first: for its requesters nothing further is evaluated.
    def prepend(node: str, doc: dict[str, Any]) -> None:
        doc["cluster"]["apiServer"]["auditPolicy"]["rules"].insert(0, {"level": "None", **shadow})

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, prepend))
    secrets = [f for f in findings if f.expected == "requests on secrets logged at RequestResponse"]
    assert len(secrets) == len(cluster.control_plane_nodes)
    assert shown in secrets[0].observed
    assert "-> rule 1 level None" in secrets[0].observed


def test_a_shadowing_rule_for_some_group_spares_the_unnamed_requesters(
    rendered: dict[str, Docs],
) -> None:
    policy = copy.deepcopy(reference_policy(rendered))
    policy["rules"].insert(0, {"level": "None", "userGroups": ["ops"]})
    classes = audit.request_classes(policy)
    assert classes.groups == (("system:authenticated",), ("ops", "system:authenticated"))
    assert audit.SAMPLE_NAMESPACE in classes.namespaces
    sample = audit.Request("get", "", "secrets", "default", "s")
    decided = {str(r): audit.policy_level(policy, r).level for r in audit.variants(sample, classes)}
    assert decided["get secrets"] == "RequestResponse"
    assert decided["get secrets (groups ops, system:authenticated)"] == "None"


def test_many_wrong_requests_are_counted_not_all_listed(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def prepend(node: str, doc: dict[str, Any]) -> None:
        doc["cluster"]["apiServer"]["auditPolicy"]["rules"].insert(
            0, {"level": "None", "userGroups": ["a", "b", "c"], "namespaces": ["x", "y"]}
        )

    findings = audit.policy_as_declared(machine_config_snapshot(cluster, rendered, prepend))
    assert " more -> rule 1 level None" in findings[0].observed


# -- AUD-02 ------------------------------------------------------------------------------------


def event(verb: str, level: str, node: str = "node01", name: str = "probe-1") -> AuditEvent:
    return AuditEvent(node, verb, level, "ResponseComplete", "secrets", "default", name)


def probe(*events: AuditEvent, **overrides: Any) -> AuditProbe:
    values: dict[str, Any] = {
        "namespace": "default",
        "secret": "probe-1",
        "events": events,
        "logs_read": ("node01", "node02"),
    }
    values.update(overrides)
    return AuditProbe(**values)


def test_request_response_get_holds() -> None:
    found = probe(event("delete", "Metadata"), event("get", "RequestResponse"))
    assert audit.secret_read_logged(found) == []


def test_get_at_metadata_is_a_finding_naming_the_node() -> None:
    findings = audit.secret_read_logged(probe(event("get", "Metadata", node="node02")))
    assert len(findings) == 1
    assert findings[0].target == "Secret default/probe-1 (get)"
    assert findings[0].observed == "logged at Metadata in the log of node02"


def test_events_of_other_secrets_do_not_count() -> None:
    findings = audit.secret_read_logged(probe(event("get", "RequestResponse", name="other")))
    assert "no event for the get" in findings[0].observed


def test_no_event_with_unread_logs_is_unobservable() -> None:
    unread = probe(unread={"node03": "connection refused"})
    with pytest.raises(Unobservable, match="node03: connection refused"):
        audit.secret_read_logged(unread)
    with pytest.raises(Unobservable):
        audit.secret_read_logged(probe(logs_read=()))


def test_probe_error_is_unobservable() -> None:
    with pytest.raises(Unobservable, match="creating the test Secret failed"):
        audit.secret_read_logged(probe(error="creating the test Secret failed: 403"))


def test_reduce_event_keeps_no_bodies() -> None:
    raw = {
        "verb": "get",
        "level": "RequestResponse",
        "stage": "ResponseComplete",
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "probe-1"},
        "responseObject": {"data": {"token": "c2VjcmV0"}},
        "requestObject": {"data": {"token": "c2VjcmV0"}},
    }
    reduced = audit.reduce_event("node01", raw)
    assert reduced == event("get", "RequestResponse")
    assert "c2VjcmV0" not in repr(reduced)


def test_one_unread_node_blocks_a_pass(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    clean = machine_config_snapshot(cluster, rendered)
    partial = unread_machine_config(clean, "node04")
    with pytest.raises(Unobservable, match=r"node04 \(k8s-node04\)"):
        audit.policy_as_declared(partial)
    with pytest.raises(Unobservable, match="talosctl failed"):
        audit.policy_as_declared(
            dataclasses.replace(clean, talos={}, missing={MACHINE_CONFIG: "talosctl failed"})
        )
