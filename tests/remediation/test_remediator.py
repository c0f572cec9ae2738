"""The pytest side of remediation with fakes: what runs before the Lease, what a waiting run does.

Why these cases: a kubeconfig the API server rejects cannot take the Lease,
so its regeneration must run first; and a run that had to wait for another
run's Lease must look at the cluster again instead of applying a plan made
before the other run changed it.  The end-to-end proofs are in
tests/suite/test_remediate_*.py; these pin the decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from checks import snapshot as model
from checks.findings import Finding
from checks.snapshot import Snapshot
from fixtures.remediate import Remediator
from provisioning import inventory
from provisioning.drivers import Target, errors
from remediation.actions import Action
from remediation.lease import NAME, NAMESPACE, RemediationLease
from remediation.operations import ClusterOperations
from tests.remediation.test_lease import Clock, FakeApi, _status

ROOT = Path(__file__).resolve().parents[2]


class FakeOps:
    """Records actions; the Lease API refuses the client until the kubeconfig is regenerated."""

    def __init__(self, api: FakeApi, *, rejected: bool) -> None:
        self.api, self.rejected, self.ran = api, rejected, cast(list[str], [])

    @property
    def kube(self) -> Any:
        if self.rejected:
            raise _status(errors.ApiStatusError, 401, "Unauthorized")
        return self.api

    def run(self, action: Action) -> None:
        self.ran.append(type(action.change).__name__)
        if type(action.change).__name__ == "RegenerateKubeconfig":
            self.rejected = False

    def wait_healthy(self, node: str) -> None:
        self.ran.append(f"wait {node}")

    def close(self) -> None:
        pass


class Item:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, object]] = []


PROXY = {"metadata": {"name": "kube-proxy", "namespace": "kube-system"}}


def snapshot() -> Snapshot:
    cluster = inventory.load_cluster(ROOT / "cluster")
    return Snapshot(
        definition=cluster,
        target="test",
        taken_at=datetime.now(UTC),
        kube={model.DAEMONSETS.key: [PROXY]},
    )


def remediator(ops: FakeOps, fresh: list[Snapshot]) -> Remediator:
    state = snapshot()

    def refresh() -> Snapshot:
        fresh.append(state)
        return state

    r = Remediator(
        "apply",
        disruptive=False,
        destructive=False,
        target=lambda: cast(Target, None),
        cluster=lambda: state.definition,
        current=lambda: state,
        refresh=refresh,
        scratch=Path("/nonexistent"),
        log=lambda _line: None,
    )
    r._ops = cast(ClusterOperations, ops)
    return r


def test_a_rejected_kubeconfig_is_regenerated_before_the_lease_is_taken() -> None:
    api = FakeApi()
    ops = FakeOps(api, rejected=True)
    r = remediator(ops, [])
    calls: list[int] = []

    def check(state: Snapshot) -> Sequence[Finding]:
        calls.append(1)
        return [Finding("kubeconfig client certificate", "accepted", "rejected")] * (
            len(calls) == 1
        )

    item = Item()
    r.verify(cast(pytest.Item, item), "HYG-06", check, snapshot(), {})
    assert ops.ran == ["RegenerateKubeconfig"]
    assert item.user_properties == [("remediated", "true")]
    assert api.lease is None  # a plan of local actions only never took it


def test_a_run_that_waited_for_the_lease_looks_again_and_leaves_a_fixed_control_alone() -> None:
    api, clock = FakeApi(), Clock()
    other = RemediationLease(api, "other-run", duration=60, clock=clock, sleep=clock.sleep)
    other.acquire()
    ops = FakeOps(api, rejected=False)
    fresh: list[Snapshot] = []
    r = remediator(ops, fresh)

    def patient(*args: Any, **kwargs: Any) -> RemediationLease:
        lease = RemediationLease(*args, **kwargs, clock=clock, sleep=lambda s: other.release())
        return lease

    findings = [Finding("DaemonSet kube-system/kube-proxy", "absent", "present")]
    calls: list[int] = []

    def check(state: Snapshot) -> Sequence[Finding]:
        calls.append(1)
        return findings if len(calls) == 1 else []  # the other run fixed it meanwhile

    item = Item()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("fixtures.remediate.RemediationLease", patient)
        r.patience = 30
        r.verify(cast(pytest.Item, item), "CIL-02", check, snapshot(), {})
    assert ops.ran == []  # nothing applied: the plan was stale
    assert fresh  # the cluster was observed again after waiting
    assert item.user_properties == []  # passed, but not remediated by this run
    r.close()
    with pytest.raises(errors.NotFound):
        api.get(("coordination.k8s.io", "v1", "leases"), NAME, NAMESPACE)
