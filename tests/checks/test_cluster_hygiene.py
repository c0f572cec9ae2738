"""Running-cluster hygiene controls (HYG-05, HYG-06) over hand-built snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from checks import cluster_hygiene
from checks import snapshot as snapshot_module
from checks.findings import Unobservable
from checks.snapshot import ApiHealth, ClientCertificate, Snapshot
from provisioning.definition import inventory
from tests.checks.builders import reference_cluster

NOW = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
HOSTNAMES = snapshot_module.HOSTNAME_STATUS


def hostname_status(node: inventory.Node, hostname: str | None = None) -> list[dict[str, Any]]:
    spec = {"hostname": hostname or node.hostname, "domainname": ""}
    return [{"node": str(node.ip), "metadata": {"id": "hostname"}, "spec": spec}]


def cert(days_left: float, accepted: bool = True) -> ClientCertificate:
    return ClientCertificate(
        subject="O=system:masters, CN=admin",
        not_after=NOW + dt.timedelta(days=days_left),
        accepted=accepted,
    )


def snap(
    hostnames: dict[str, str] | None = None, silent: tuple[str, ...] = (), **overrides: Any
) -> Snapshot:
    cluster = reference_cluster()
    per_node = {
        n.name: hostname_status(n, (hostnames or {}).get(n.name))
        for n in cluster.nodes
        if n.name not in silent
    }
    values: dict[str, Any] = {
        "definition": cluster,
        "target": "test",
        "taken_at": NOW,
        "talos": {HOSTNAMES: per_node},
        "client_certificate": cert(365),
        "api": ApiHealth(server="https://127.0.0.1:41234", answered=True, seconds=0.01),
        "missing": {snapshot_module.on_node(HOSTNAMES, n): "powered off" for n in silent},
    }
    values.update(overrides)
    return Snapshot(**values)


def test_clean_cluster_conforms() -> None:
    assert cluster_hygiene.hostnames_as_declared(snap()) == []
    assert cluster_hygiene.kubeconfig_certificate_current(snap()) == []


def test_generated_hostname_is_named_with_node_and_address() -> None:
    (finding,) = cluster_hygiene.hostnames_as_declared(snap({"node03": "talos-7gk-2xq"}))
    assert finding.target == "node03 (10.10.20.18)"
    assert (finding.expected, finding.observed) == ("hostname k8s-node03", "talos-7gk-2xq")


def test_silent_node_makes_hostnames_unobservable_unless_another_is_wrong() -> None:
    with pytest.raises(Unobservable, match="node01: powered off"):
        cluster_hygiene.hostnames_as_declared(snap(silent=("node01",)))
    wrong = snap({"node02": "k8s-node01"}, silent=("node01",))
    (finding,) = cluster_hygiene.hostnames_as_declared(wrong)
    assert finding.target.startswith("node02")


def test_hostname_statuses_not_read_are_unobservable() -> None:
    with pytest.raises(Unobservable, match="talosctl failed"):
        cluster_hygiene.hostnames_as_declared(
            snap(talos={}, missing={HOSTNAMES: "talosctl failed"})
        )


def test_expired_certificate_is_rejected_and_expired() -> None:
    findings = cluster_hygiene.kubeconfig_certificate_current(
        snap(client_certificate=cert(-1, accepted=False))
    )
    assert [f.observed for f in findings] == [
        "rejected",
        "expired 2026-11-25T01:00+00:00 (1.0 days ago)",
    ]
    assert all(f.target.startswith("kubeconfig client certificate") for f in findings)


@pytest.mark.parametrize(("days", "conforms"), [(29.9, False), (30, True), (400, True)])
def test_certificate_needs_thirty_days_left(days: float, conforms: bool) -> None:
    findings = cluster_hygiene.kubeconfig_certificate_current(snap(client_certificate=cert(days)))
    assert (findings == []) is conforms
    if not conforms:
        assert findings[0].observed.endswith("(29.9 days left)")


def test_acceptance_is_not_judged_when_the_api_did_not_answer() -> None:
    down = ApiHealth(server="https://127.0.0.1:1", answered=False, seconds=0.0, error="503")
    unknown = {snapshot_module.KUBECONFIG: "acceptance unknown: the API did not answer"}
    rejected = cert(365, accepted=False)
    with pytest.raises(Unobservable, match="acceptance unknown"):
        cluster_hygiene.kubeconfig_certificate_current(
            snap(client_certificate=rejected, api=down, missing=unknown)
        )
    with pytest.raises(Unobservable, match="not tried"):
        cluster_hygiene.kubeconfig_certificate_current(snap(client_certificate=rejected, api=down))
    (finding,) = cluster_hygiene.kubeconfig_certificate_current(
        snap(client_certificate=cert(3, accepted=False), api=down, missing=unknown)
    )
    assert finding.observed.endswith("(3.0 days left)")


def test_unread_kubeconfig_is_unobservable() -> None:
    with pytest.raises(Unobservable, match="no kubeconfig"):
        cluster_hygiene.kubeconfig_certificate_current(
            snap(client_certificate=None, missing={snapshot_module.KUBECONFIG: "no kubeconfig"})
        )
    with pytest.raises(Unobservable, match="not read"):
        cluster_hygiene.kubeconfig_certificate_current(snap(client_certificate=None))
