"""Audit drift end to end, and the AUD-02 probe against a running cluster.

The clean run creates, reads and deletes the probe's test Secret through the
real drivers, finds the get in the serving control plane's audit log at
RequestResponse, leaves no Secret behind, and keeps the Secret's data out of
the suite's output and reports.  ``audit.reorder_rules`` reverses the policy
on every control plane: one suite run fails AUD-01 naming each node and
AUD-02 with the get logged at Metadata only (the suite run is the
observation; the findings' shape is unit-tested in tests/checks/test_audit.py).
The log-parsing helpers are tested without a cluster first.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest

from checks import audit
from checks.audit import AuditProbe
from checks.snapshot import Snapshot
from fixtures import probe_audit
from provisioning.definition import inventory
from provisioning.drivers import errors
from provisioning.drivers.kube import KubeDriver
from provisioning.drivers.talosctl import TalosDriver
from tests.suite.harness import RunningCluster

ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANES = [f"node0{i} (k8s-node0{i})" for i in range(1, 7)]
PROBE_DATA = base64.b64encode(b"talos-conformance audit probe").decode()


def _line(verb: str, name: str, level: str = "RequestResponse") -> bytes:
    event = {
        "kind": "Event",
        "level": level,
        "stage": "ResponseComplete",
        "verb": verb,
        "objectRef": {"resource": "secrets", "namespace": "default", "name": name},
        "responseObject": {"data": {"probe": PROBE_DATA}},
    }
    return json.dumps(event).encode()


def test_events_in_keeps_only_the_named_secret_reduced() -> None:
    log = b"\n".join(
        [
            _line("get", "conformance-audit-probe-ab"),
            _line("get", "conformance-audit-probe-abc"),  # a longer name is another secret
            b'{"truncated": "conformance-audit-probe-ab"',  # a line cut by rotation
            _line("delete", "conformance-audit-probe-ab", "Metadata"),
        ]
    )
    events = probe_audit.events_in("node02", log, "conformance-audit-probe-ab")
    assert [(e.node, e.verb, e.level) for e in events] == [
        ("node02", "get", "RequestResponse"),
        ("node02", "delete", "Metadata"),
    ]
    assert PROBE_DATA not in repr(events)


def test_probe_secret_is_labelled_and_holds_nothing_secret() -> None:
    body = probe_audit.probe_secret("conformance-audit-probe-r1", "r1")
    assert body["metadata"]["labels"][probe_audit.RUN_LABEL] == "r1"
    assert base64.b64decode(body["data"]["probe"]) == b"talos-conformance audit probe"


class FakeKube:
    """Records calls; *fail* maps a verb to the error it raises."""

    def __init__(self, **fail: Exception) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def _call(self, verb: str) -> dict[str, Any]:
        self.calls.append(verb)
        if verb in self.fail:
            raise self.fail[verb]
        return {}

    def create(self, kind: Any, body: Any, namespace: str) -> dict[str, Any]:
        return self._call("create")

    def get(self, kind: Any, name: str, namespace: str) -> dict[str, Any]:
        return self._call("get")

    def delete(self, kind: Any, name: str, namespace: str) -> dict[str, Any]:
        return self._call("delete")


class FakeTalos:
    """node01 holds the log; node02's file is absent; node03 does not answer."""

    def read(self, node: str, path: str) -> bytes:
        assert path == probe_audit.AUDIT_LOG
        if node == "10.10.20.16":
            return _line("get", "conformance-audit-probe-f1")
        if node == "10.10.20.17":
            raise errors.DriverError(
                "open /var/log/audit/kube/kube-apiserver.log: no such file or directory"
            )
        if node == "10.10.20.18":
            raise errors.Unreachable("rpc error: code = Unavailable desc = connection refused")
        return b""


@pytest.fixture(scope="module")
def cluster() -> inventory.Cluster:
    return inventory.load_cluster(ROOT / "cluster")


def test_probe_reads_every_control_plane_and_cleans_up(cluster: inventory.Cluster) -> None:
    kube = FakeKube()
    probe = probe_audit.probe_secret_read(
        cast(Any, kube), cast(Any, FakeTalos()), cluster.control_plane_nodes, "default", "f1"
    )
    assert kube.calls == ["create", "get", "delete"]
    assert [(e.node, e.verb) for e in probe.events] == [("node01", "get")]
    assert set(probe.logs_read) == {"node01", "node02", "node04", "node05", "node06"}
    assert list(probe.unread) == ["node03"]
    assert audit.secret_read_logged(probe) == []


def test_probe_failures_are_reported_and_the_secret_still_deleted(
    cluster: inventory.Cluster,
) -> None:
    def probe_with(kube: FakeKube, run: str) -> AuditProbe:
        return probe_audit.probe_secret_read(
            cast(Any, kube), cast(Any, FakeTalos()), cluster.control_plane_nodes, "default", run
        )

    refused = errors.Forbidden("secrets is forbidden", code=403, reason="Forbidden", request="x")
    create_fails = FakeKube(create=refused)
    probe = probe_with(create_fails, "f2")
    assert create_fails.calls == ["create"]
    assert "creating the test Secret failed" in str(probe.error)

    get_fails = FakeKube(get=refused)
    probe = probe_with(get_fails, "f3")
    assert get_fails.calls == ["create", "get", "delete"]
    assert "reading the test Secret failed" in str(probe.error)

    delete_fails = FakeKube(delete=errors.Unreachable("connection refused"))
    with pytest.raises(errors.DriverError, match="was not deleted"):
        probe_with(delete_fails, "f4")


def _probe(running: RunningCluster, run: str) -> tuple[AuditProbe, list[Any]]:
    """The probe against *running*; also what is left with the run's label afterwards."""
    with KubeDriver(running.target) as kube:
        probe = probe_audit.probe_secret_read(
            kube,
            TalosDriver(running.target),
            running.cluster.control_plane_nodes,
            "default",
            run,
        )
        left = kube.list(
            probe_audit.SECRETS, "default", label_selector=f"{probe_audit.RUN_LABEL}={run}"
        )
    return probe, left


def _no_probe_data_in(directory: Path, output: str) -> None:
    assert PROBE_DATA not in output
    for path in directory.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".xml", ".txt"):
            assert PROBE_DATA not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_clean_cluster_audits_the_secret_read(clean_snapshot: Snapshot, cluster_with: Any) -> None:
    assert audit.policy_as_declared(clean_snapshot) == []
    with cluster_with() as running:
        probe, left = _probe(running, "clean1")
        run = running.run_suite("steps/test_audit.py")
        scratch = running.layout.base

    assert probe.error is None
    assert left == []
    gets = [e for e in probe.events if e.verb == "get"]
    assert [e.level for e in gets] == ["RequestResponse"]
    assert len(probe.logs_read) == len(CONTROL_PLANES)
    assert audit.secret_read_logged(probe) == []

    assert run.returncode == 0, run.output
    assert run.outcomes == {"AUD-01": "passed", "AUD-02": "passed"}, run.output
    _no_probe_data_in(scratch, run.output)


@pytest.mark.slow
def test_reordered_rules_fail_aud01_and_aud02(cluster_with: Any) -> None:
    with cluster_with("audit.reorder_rules") as running:
        run = running.run_suite("steps/test_audit.py")

    assert run.returncode == 1, run.output
    assert run.outcomes == {"AUD-01": "failed", "AUD-02": "failed"}, run.output
    policy = run.messages["AUD-01"]
    # one finding per node and class of request, each decided by the catch-all now first
    for node in CONTROL_PLANES:
        assert f"{node}: expected requests on secrets logged at RequestResponse" in policy, policy
        assert f"{node}: expected RBAC writes logged at RequestResponse" in policy, policy
    assert "-> rule 1 level Metadata (matches everything)" in policy
    assert "Secret default/conformance-audit-probe-" in run.messages["AUD-02"]
    assert "logged at Metadata in the log of node" in run.messages["AUD-02"]
