"""PodSecurity controls over hand-built snapshots of the reference definition's rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from checks import pod_security
from checks.findings import Unobservable
from checks.pod_security import AdmissionOutcome, AdmissionProbe, Verdict
from checks.snapshot import MACHINE_CONFIG, NAMESPACES, Snapshot
from provisioning.definition import inventory
from tests.checks import builders
from tests.checks.builders import Docs, Edit, unread_machine_config

ENFORCE = "pod-security.kubernetes.io/enforce"


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


# The namespaces of a freshly provisioned cluster (the exempt ones labelled privileged, as
# their charts do).
NAMESPACE_LIST = [
    namespace("default"),
    namespace("kube-system", **{ENFORCE: "privileged"}),
    namespace("kube-public"),
    namespace("longhorn-system", **{ENFORCE: "privileged"}),
]


def machine_config_snapshot(
    cluster: inventory.Cluster,
    rendered: dict[str, Docs],
    edit: Edit | None = None,
    namespaces: list[dict[str, Any]] | None = None,
) -> Snapshot:
    """The builders' snapshot with the Namespace list PSA-01 also judges."""
    base = builders.machine_config_snapshot(cluster, rendered, edit)
    listed = NAMESPACE_LIST if namespaces is None else namespaces
    return dataclasses.replace(base, kube={NAMESPACES.key: listed})


def psa(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = doc["cluster"]["apiServer"]["admissionControl"][0]
    assert entry["name"] == "PodSecurity"
    return entry


def without_plugins(*nodes: str) -> Edit:
    """An edit emptying ``admissionControl`` on *nodes* (on every node when none is named)."""

    def drop(node: str, doc: dict[str, Any]) -> None:
        if not nodes or node in nodes:
            doc["cluster"]["apiServer"]["admissionControl"] = []

    return drop


def test_reference_definition_holds(cluster: inventory.Cluster, rendered: dict[str, Docs]) -> None:
    snap = machine_config_snapshot(cluster, rendered)
    assert pod_security.baseline_enforced(snap) == []
    assert pod_security.exemptions_as_declared(snap) == []


def test_missing_plugin_entry_names_the_node(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    snap = machine_config_snapshot(cluster, rendered, without_plugins("node03"))
    findings = pod_security.baseline_enforced(snap)
    assert [f.target for f in findings] == ["node03 (k8s-node03)"]
    assert "no PodSecurity entry" in findings[0].observed
    assert "'baseline'" in findings[0].expected


def test_weaker_or_omitted_enforce_level_is_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def weaken(node: str, doc: dict[str, Any]) -> None:
        if node == "node01":
            psa(doc)["configuration"]["defaults"]["enforce"] = "privileged"
        if node == "node02":
            del psa(doc)["configuration"]["defaults"]["enforce"]

    findings = pod_security.baseline_enforced(machine_config_snapshot(cluster, rendered, weaken))
    assert [f.target for f in findings] == ["node01 (k8s-node01)", "node02 (k8s-node02)"]
    assert all("defaults.enforce 'privileged'" in f.observed for f in findings)
    assert ["omitted" in f.observed for f in findings] == [False, True]


def test_plugin_disabled_by_flag_is_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def disable(node: str, doc: dict[str, Any]) -> None:
        if node == "node05":
            doc["cluster"]["apiServer"]["extraArgs"] = {
                "disable-admission-plugins": "DefaultStorageClass, PodSecurity"
            }

    findings = pod_security.baseline_enforced(machine_config_snapshot(cluster, rendered, disable))
    assert [f.target for f in findings] == ["node05 (k8s-node05)"]
    assert "disable-admission-plugins" in findings[0].observed


def test_another_admission_config_file_is_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def point_elsewhere(node: str, doc: dict[str, Any]) -> None:
        extra = doc["cluster"]["apiServer"].setdefault("extraArgs", {})
        # Talos's own path is no override; another path on node06 is.
        extra[pod_security.CONFIG_FILE_FLAG] = (
            "/var/lib/a.yaml" if node == "node06" else pod_security.TALOS_CONFIG_FILE
        )

    snap = machine_config_snapshot(cluster, rendered, point_elsewhere)
    [finding] = pod_security.baseline_enforced(snap)
    assert finding.target == "node06 (k8s-node06)"
    assert finding.observed.startswith(
        "cluster.apiServer.extraArgs admission-control-config-file=/var/lib/a.yaml"
    )


def test_expected_level_comes_from_the_definition(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    security = inventory.Security("restricted", cluster.security.exempt_namespaces, ())
    stricter = machine_config_snapshot(dataclasses.replace(cluster, security=security), rendered)
    findings = pod_security.baseline_enforced(stricter)
    assert len(findings) == len(cluster.control_plane_nodes)
    assert "'restricted'" in findings[0].expected


def test_missing_and_extra_exemptions_are_named(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def change(node: str, doc: dict[str, Any]) -> None:
        exemptions = psa(doc)["configuration"]["exemptions"]
        if node == "node02":
            exemptions["namespaces"] = ["kube-system"]
        if node == "node04":
            exemptions["namespaces"] = ["longhorn-system", "kube-system", "monitoring"]

    findings = pod_security.exemptions_as_declared(
        machine_config_snapshot(cluster, rendered, change)
    )
    assert [f.target for f in findings] == ["node02 (k8s-node02)", "node04 (k8s-node04)"]
    assert "missing longhorn-system" in findings[0].observed
    assert "not declared monitoring" in findings[1].observed
    assert "['kube-system', 'longhorn-system']" in findings[0].expected


def test_exemption_order_does_not_matter(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def reverse(node: str, doc: dict[str, Any]) -> None:
        psa(doc)["configuration"]["exemptions"]["namespaces"].reverse()

    assert (
        pod_security.exemptions_as_declared(machine_config_snapshot(cluster, rendered, reverse))
        == []
    )


def test_exemptions_without_any_plugin_config_are_unobservable(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    snap = machine_config_snapshot(cluster, rendered, without_plugins())
    with pytest.raises(Unobservable, match="PSA-01 reports"):
        pod_security.exemptions_as_declared(snap)
    assert len(pod_security.baseline_enforced(snap)) == len(cluster.control_plane_nodes)


@pytest.mark.parametrize("level", ["privileged", "PRIVILEGED-typo"])
def test_a_namespace_label_looser_than_declared_fails_psa01(
    cluster: inventory.Cluster, rendered: dict[str, Docs], level: str
) -> None:
    # kubectl label namespace default pod-security.kubernetes.io/enforce=privileged
    listed = [*NAMESPACE_LIST, namespace("apps", **{ENFORCE: level})]
    findings = pod_security.baseline_enforced(
        machine_config_snapshot(cluster, rendered, namespaces=listed)
    )
    if level != "privileged":
        # A label that does not parse is evaluated as restricted: not looser.
        assert findings == []
        return
    [finding] = findings
    assert isinstance(finding, pod_security.NamespaceLevelLoosened)
    assert (finding.namespace, finding.level) == ("apps", "privileged")
    assert finding.target == "Namespace apps"
    assert finding.expected == (
        "PodSecurity enforcing at least 'baseline' "
        f"(not an exempt namespace: no looser {ENFORCE} label)"
    )
    assert finding.observed == f"label {ENFORCE}=privileged, which overrides the API server default"


@pytest.mark.parametrize(("version", "pinned"), [("v1.20", True), ("latest", False), ("v2", False)])
def test_an_enforce_version_label_pin_fails_psa01(
    cluster: inventory.Cluster, rendered: dict[str, Docs], version: str, pinned: bool
) -> None:
    # kubectl label namespace apps pod-security.kubernetes.io/enforce-version=v1.20; an
    # unparsable version (v2) is evaluated as latest, so it pins nothing.
    listed = [
        *NAMESPACE_LIST,
        namespace("apps", **{f"{ENFORCE}-version": version}),
        namespace("kube-system", **{f"{ENFORCE}-version": "v1.20"}),  # exempt: not judged
    ]
    findings = pod_security.baseline_enforced(
        machine_config_snapshot(cluster, rendered, namespaces=listed)
    )
    if not pinned:
        assert findings == []
        return
    [finding] = findings
    assert isinstance(finding, pod_security.NamespaceVersionPinned)
    assert (finding.target, finding.namespace, finding.version) == (
        "Namespace apps",
        "apps",
        version,
    )
    assert f"{ENFORCE}-version=v1.20" in finding.observed
    assert "'latest'" in finding.expected


def test_a_pinned_default_version_fails_psa01(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    def pin(node: str, doc: dict[str, Any]) -> None:
        if node == "node04":
            psa(doc)["configuration"]["defaults"]["enforce-version"] = "v1.20"

    [finding] = pod_security.baseline_enforced(machine_config_snapshot(cluster, rendered, pin))
    assert finding.target == "node04 (k8s-node04)"
    assert finding.observed.startswith("defaults.enforce-version 'v1.20'")
    assert finding.expected.endswith("at enforce-version 'latest'")


def test_stricter_labels_and_labelled_exempt_namespaces_pass(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    listed = [*NAMESPACE_LIST, namespace("apps", **{ENFORCE: "restricted"})]
    snap = machine_config_snapshot(cluster, rendered, namespaces=listed)
    assert pod_security.baseline_enforced(snap) == []


def test_unlisted_namespaces_make_psa01_unobservable_unless_a_node_fails(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    base = builders.machine_config_snapshot(cluster, rendered)
    unlisted = dataclasses.replace(base, missing={NAMESPACES.key: "403 Forbidden"})
    with pytest.raises(Unobservable, match="403 Forbidden"):
        pod_security.baseline_enforced(unlisted)
    broken = builders.machine_config_snapshot(cluster, rendered, without_plugins("node03"))
    broken = dataclasses.replace(broken, missing={NAMESPACES.key: "403 Forbidden"})
    assert [f.target for f in pod_security.baseline_enforced(broken)] == ["node03 (k8s-node03)"]


def test_a_labelled_namespace_fails_psa01_even_with_no_machine_config(
    cluster: inventory.Cluster,
) -> None:
    snap = Snapshot(
        definition=cluster,
        target="test",
        taken_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        kube={NAMESPACES.key: [namespace("default", **{ENFORCE: "privileged"})]},
        missing={MACHINE_CONFIG: "talosctl get machineconfig: connection refused"},
    )
    [finding] = pod_security.baseline_enforced(snap)
    assert finding.target == "Namespace default"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("usernames", "system:serviceaccount:ci:deployer"), ("runtimeClasses", "kata")],
)
def test_exempt_usernames_and_runtime_classes_are_not_declared(
    cluster: inventory.Cluster, rendered: dict[str, Docs], kind: str, value: str
) -> None:
    def exempt(node: str, doc: dict[str, Any]) -> None:
        if node == "node03":
            psa(doc)["configuration"]["exemptions"][kind] = [value]

    findings = pod_security.exemptions_as_declared(
        machine_config_snapshot(cluster, rendered, exempt)
    )
    assert [f.target for f in findings] == ["node03 (k8s-node03)"]
    assert findings[0].observed == f"exemptions.{kind} ['{value}']; not declared {value}"
    assert findings[0].expected == (
        "exemptions.namespaces ['kube-system', 'longhorn-system'], "
        "exemptions.usernames [], exemptions.runtimeClasses []"
    )


def test_unread_machine_config_is_unobservable(cluster: inventory.Cluster) -> None:
    snap = Snapshot(
        definition=cluster,
        target="test",
        taken_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        missing={MACHINE_CONFIG: "talosctl get machineconfig: connection refused"},
    )
    with pytest.raises(Unobservable, match="connection refused"):
        pod_security.baseline_enforced(snap)
    with pytest.raises(Unobservable, match="connection refused"):
        pod_security.exemptions_as_declared(snap)


# -- PSA-03 ------------------------------------------------------------------------------------

REJECTION = (
    'pods "conformance-psa-probe-1" is forbidden: violates PodSecurity "baseline:latest": '
    'privileged (container "probe" must not set securityContext.privileged=true)'
)


def probe(*outcomes: AdmissionOutcome, level: str = "baseline") -> AdmissionProbe:
    return AdmissionProbe(enforce_level=level, outcomes=outcomes)


def rejected(namespace: str, exempt: bool = False, message: str = REJECTION) -> AdmissionOutcome:
    return AdmissionOutcome(namespace, exempt, Verdict.REJECTED, message)


def admitted(namespace: str, exempt: bool = True) -> AdmissionOutcome:
    return AdmissionOutcome(namespace, exempt, Verdict.ADMITTED)


def test_expected_behaviour_holds() -> None:
    result = probe(rejected("default"), admitted("kube-system"), admitted("longhorn-system"))
    assert pod_security.privileged_pod_admission(result) == []


def test_admitted_in_regular_namespace_is_a_finding() -> None:
    findings = pod_security.privileged_pod_admission(
        probe(admitted("default", exempt=False), admitted("kube-system"))
    )
    assert [f.target for f in findings] == ["privileged Pod dry run in namespace default"]
    assert findings[0].observed == "admitted"
    assert 'violates PodSecurity "baseline:' in findings[0].expected


def test_rejection_by_another_policy_is_not_pod_security() -> None:
    other = 'admission webhook "validate.kyverno.svc" denied the request: privileged'
    findings = pod_security.privileged_pod_admission(
        probe(rejected("default", message=other), admitted("kube-system"))
    )
    assert len(findings) == 1
    assert "rejected by something else" in findings[0].observed


def test_rejection_at_another_level_is_a_finding() -> None:
    findings = pod_security.privileged_pod_admission(
        probe(rejected("default"), admitted("kube-system"), level="restricted")
    )
    assert len(findings) == 1
    assert 'violates PodSecurity "restricted:' in findings[0].expected


def test_rejected_in_exempt_namespace_is_a_finding() -> None:
    findings = pod_security.privileged_pod_admission(
        probe(rejected("default"), rejected("longhorn-system", exempt=True))
    )
    assert [f.target for f in findings] == ["privileged Pod dry run in namespace longhorn-system"]
    assert findings[0].expected == "admitted (exempt namespace)"
    assert findings[0].observed.startswith("rejected: pods")


def test_rejection_at_a_stricter_level_is_pod_security_enforcing() -> None:
    # A namespace labelled enforce=restricted (or with an unparsable level) refuses at restricted.
    stricter = REJECTION.replace('"baseline:latest"', '"restricted:latest"')
    result = probe(rejected("apps", message=stricter), rejected("default"), admitted("kube-system"))
    assert pod_security.privileged_pod_admission(result) == []


def test_every_regular_namespace_is_judged() -> None:
    findings = pod_security.privileged_pod_admission(
        probe(rejected("default"), admitted("ci", exempt=False), admitted("kube-system"))
    )
    assert [f.target for f in findings] == ["privileged Pod dry run in namespace ci"]


def test_a_probe_of_exempt_namespaces_only_is_unobservable() -> None:
    with pytest.raises(Unobservable, match="no namespace outside the exemptions"):
        pod_security.privileged_pod_admission(probe(admitted("kube-system")))


def test_privileged_level_expects_admission_everywhere() -> None:
    result = probe(admitted("default", exempt=False), level="privileged")
    assert pod_security.privileged_pod_admission(result) == []


def test_no_verdict_is_unobservable_unless_something_already_fails() -> None:
    down = AdmissionOutcome("default", False, None, "POST /api/v1/...: cannot connect")
    with pytest.raises(Unobservable, match="cannot connect"):
        pod_security.privileged_pod_admission(probe(down, admitted("kube-system")))
    failing = probe(down, rejected("kube-system", exempt=True))
    assert len(pod_security.privileged_pod_admission(failing)) == 1
    with pytest.raises(Unobservable):
        pod_security.privileged_pod_admission(probe())


def test_one_unread_node_blocks_a_pass_but_not_a_finding(
    cluster: inventory.Cluster, rendered: dict[str, Docs]
) -> None:
    partial = unread_machine_config(machine_config_snapshot(cluster, rendered), "node02")
    with pytest.raises(Unobservable, match=r"node02 \(k8s-node02\)"):
        pod_security.baseline_enforced(partial)
    with pytest.raises(Unobservable, match="node02"):
        pod_security.exemptions_as_declared(partial)

    broken = machine_config_snapshot(cluster, rendered, without_plugins("node03"))
    findings = pod_security.baseline_enforced(unread_machine_config(broken, "node02"))
    assert [f.target for f in findings] == ["node03 (k8s-node03)"]
