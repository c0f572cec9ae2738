"""The pytest side of remediation with fakes: what runs before the Lease, what a waiting run does.

Why these cases: a kubeconfig the API server rejects cannot take the Lease,
so its regeneration must run first; and a run that had to wait for another
run's Lease must look at the cluster again instead of applying a plan made
before the other run changed it.  The end-to-end proofs are in
tests/suite/test_remediate_*.py; these pin the decisions.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from checks import cilium, judged
from checks import snapshot as model
from checks.findings import Finding
from checks.snapshot import Snapshot
from fixtures.remediate import Remediator
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from remediation import journal
from remediation.actions import Action, Plan, RebuildNode, Risk
from remediation.execute import allowed_risks
from remediation.lease import NAME, NAMESPACE, RemediationLease
from remediation.operations import ClusterOperations
from tests.remediation.test_journal import FakeKube
from tests.remediation.test_lease import Clock, FakeApi, _status

ROOT = Path(__file__).resolve().parents[2]


class Router:
    """The Lease fake for Leases, a ConfigMap fake for the remediation journal."""

    def __init__(self, api: FakeApi, configmaps: FakeKube) -> None:
        self.api, self.configmaps = api, configmaps

    def __getattr__(self, verb: str) -> Any:
        def call(kind: tuple[str, str, str], *args: Any, **kwargs: Any) -> Any:
            store = self.configmaps if kind == journal.CONFIGMAPS else self.api
            return getattr(store, verb)(kind, *args, **kwargs)

        return call


class FakeOps:
    """Records actions; the Lease API refuses the client until the kubeconfig is regenerated."""

    def __init__(self, api: FakeApi, *, rejected: bool) -> None:
        self.api, self.rejected, self.ran = api, rejected, cast(list[str], [])
        self.configmaps = FakeKube()

    @property
    def kube(self) -> Any:
        if self.rejected:
            raise _status(errors.ApiStatusError, 401, "Unauthorized")
        return Router(self.api, self.configmaps)

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


def _finding(findings: list[Finding]) -> Callable[[object], list[Finding]]:
    """A check that returns *findings*, declared as judging the six nodes."""
    return judged.judges(nodes=lambda _s, **_p: 6)(lambda _s: findings)


@judged.judges(nodes=lambda _s, **_p: 6)
def _quiet(_state: object) -> list[Finding]:
    """A check that finds nothing, declared as judging the six nodes (checks.judged)."""
    return []


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

    findings: list[Finding] = [
        cilium.KubeProxyRunning(
            "DaemonSet kube-system/kube-proxy",
            "absent",
            "present",
            kind="DaemonSet",
            namespace="kube-system",
            name="kube-proxy",
        )
    ]
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


# -- an interrupted run's journal ------------------------------------------------------------


def _rebuild(node: str) -> Action:
    change = RebuildNode(node, "10.10.20.16")
    return Action("ENC-01", f"{node}", "rebuild", change, Risk.DESTRUCTIVE, node=node)


def _left_by_a_dead_run(
    ops: FakeOps, *, definition: str | None = None, step: int | None = 1
) -> None:
    cluster = snapshot().definition
    actions = [_rebuild("node01"), _rebuild("node02")]
    fp = definition if definition is not None else journal.fingerprint(cluster)
    entry = journal.Entry("dead@host:1:x", "ENC-01", actions, fp, current=0, step=step)
    journal.write(ops.configmaps, entry)


def _destructive(ops: FakeOps, log: list[str]) -> Remediator:
    r = remediator(ops, [])
    r.allowed = allowed_risks(disruptive=True, destructive=True)
    r.log = log.append
    return r


class StepRecorder(FakeOps):
    def __init__(self, api: FakeApi) -> None:
        super().__init__(api, rejected=False)
        self.resume_step: int | None = None
        self.resumed_at: list[int | None] = []

    def run(self, action: Action) -> None:
        self.resumed_at.append(self.resume_step)
        self.resume_step = None
        super().run(action)


def test_the_next_run_continues_an_interrupted_plan_where_it_stopped() -> None:
    ops = StepRecorder(FakeApi())
    _left_by_a_dead_run(ops, step=1)
    log: list[str] = []
    r = _destructive(ops, log)
    r.verify(cast(pytest.Item, Item()), "SEC-01", _quiet, snapshot(), {})
    assert ops.ran == ["RebuildNode", "wait node01", "RebuildNode", "wait node02"]
    assert ops.resumed_at == [1, None]  # the first action resumes at its step in progress
    assert any("action 1 of 2, step 2 was interrupted (dead@host:1:x)" in line for line in log)
    assert journal.read(ops.configmaps) is None  # done: nothing left to continue
    r.close()
    assert ops.api.lease is None


def test_a_run_killed_once_the_action_was_journaled_but_before_its_first_step_starts_it() -> None:
    """The kill point between "action journaled" and "step 1 journaled" (step None)."""
    ops = StepRecorder(FakeApi())
    _left_by_a_dead_run(ops, step=None)
    log: list[str] = []
    r = _destructive(ops, log)
    r.verify(cast(pytest.Item, Item()), "SEC-01", _quiet, snapshot(), {})
    assert ops.ran == ["RebuildNode", "wait node01", "RebuildNode", "wait node02"]
    assert ops.resumed_at == [None, None]  # from its first step: none was recorded
    assert any("action 1 of 2 was interrupted (dead@host:1:x)" in line for line in log)
    assert journal.read(ops.configmaps) is None
    r.close()
    assert ops.api.lease is None


def test_an_interrupted_plan_from_another_definition_is_dropped_and_said_so() -> None:
    ops = StepRecorder(FakeApi())
    _left_by_a_dead_run(ops, definition="0ther")
    log: list[str] = []
    r = _destructive(ops, log)
    r.verify(cast(pytest.Item, Item()), "SEC-01", _quiet, snapshot(), {})
    assert ops.ran == []
    assert any("the definition changed since" in line for line in log)
    assert journal.read(ops.configmaps) is None
    r.close()


def test_an_interrupted_plan_needing_more_than_allowed_refuses_clearly() -> None:
    ops = StepRecorder(FakeApi())
    _left_by_a_dead_run(ops)
    r = remediator(ops, [])
    with pytest.raises(AssertionError, match=r"could not be continued(.|\n)*--allow-destructive"):
        r.verify(cast(pytest.Item, Item()), "SEC-01", _quiet, snapshot(), {})
    assert ops.ran == []
    assert journal.read(ops.configmaps) is not None  # kept for a run that may continue it
    r.close()


def test_sigterm_during_an_action_stops_after_it_and_releases_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    ops = StepRecorder(FakeApi())
    log: list[str] = []
    r = _destructive(ops, log)

    def run(action: Action) -> None:
        ops.ran.append(type(action.change).__name__)
        if len(ops.ran) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the first action runs

    ops.run = run  # type: ignore[method-assign]
    findings = [Finding("node01 (k8s-node01) volume STATE", "luks2", "plain")] * 2
    plan = Plan("ENC-01", (_rebuild("node01"), _rebuild("node02")))
    monkeypatch.setattr("fixtures.remediate._plan", lambda *_a: plan)
    with pytest.raises(pytest.exit.Exception) as stopped:
        r.verify(
            cast(pytest.Item, Item()),
            "ENC-01",
            judged.judges(nodes=lambda _s, **_p: 6)(lambda _s: findings),
            snapshot(),
            {},
        )
    assert ops.ran == ["RebuildNode", "wait node01"]  # the action ran to its end, no further
    assert stopped.value.returncode == 128 + signal.SIGTERM
    assert "Lease released" in str(stopped.value)
    assert ops.api.lease is None
    left = journal.read(ops.configmaps)
    assert left is not None
    assert left.remaining == [plan.actions[1]]
    r.close()
    assert signal.getsignal(signal.SIGTERM) == before  # the session's own handler is back


def test_sigterm_during_the_last_action_still_stops_the_run_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ops = StepRecorder(FakeApi())
    r = _destructive(ops, [])

    def run(action: Action) -> None:
        ops.ran.append(type(action.change).__name__)
        os.kill(os.getpid(), signal.SIGTERM)

    ops.run = run  # type: ignore[method-assign]
    findings = [Finding("node01 (k8s-node01) volume STATE", "luks2", "plain")]
    monkeypatch.setattr("fixtures.remediate._plan", lambda *_a: Plan("ENC-01", (_rebuild("n"),)))
    with pytest.raises(pytest.exit.Exception) as stopped:
        r.verify(
            cast(pytest.Item, Item()),
            "ENC-01",
            judged.judges(nodes=lambda _s, **_p: 6)(lambda _s: findings),
            snapshot(),
            {},
        )
    assert ops.ran == ["RebuildNode", "wait n"]
    assert "stopped after 1 of 1 action(s)" in str(stopped.value)
    assert ops.api.lease is None
    assert journal.read(ops.configmaps) is None  # nothing left to continue


def test_sigint_during_an_action_stops_after_it_and_releases_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = signal.getsignal(signal.SIGINT)
    ops = StepRecorder(FakeApi())
    r = _destructive(ops, [])

    def run(action: Action) -> None:
        ops.ran.append(type(action.change).__name__)
        if len(ops.ran) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first rebuild runs

    ops.run = run  # type: ignore[method-assign]
    findings = [Finding("node01 (k8s-node01) volume STATE", "luks2", "plain")] * 2
    plan = Plan("ENC-01", (_rebuild("node01"), _rebuild("node02")))
    monkeypatch.setattr("fixtures.remediate._plan", lambda *_a: plan)
    with pytest.raises(pytest.exit.Exception) as stopped:
        r.verify(
            cast(pytest.Item, Item()),
            "ENC-01",
            judged.judges(nodes=lambda _s, **_p: 6)(lambda _s: findings),
            snapshot(),
            {},
        )
    assert ops.ran == ["RebuildNode", "wait node01"]  # not a KeyboardInterrupt mid-rebuild
    assert stopped.value.returncode == 128 + signal.SIGINT
    assert str(stopped.value).startswith("SIGINT: ENC-01: stopped after 1 of 2 action(s)")
    assert ops.api.lease is None
    left = journal.read(ops.configmaps)
    assert left is not None
    assert left.remaining == [plan.actions[1]]
    r.close()
    assert signal.getsignal(signal.SIGINT) == before


def _signal_self(signum: signal.Signals) -> None:
    os.kill(os.getpid(), signum)
    for _ in range(500):
        time.sleep(0.01)  # the handler runs at the next bytecode; this only bounds the wait


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_between_actions_interrupts_at_once_and_the_teardown_releases_the_lease(
    signum: signal.Signals,
) -> None:
    before = signal.getsignal(signum)
    ops = StepRecorder(FakeApi())
    r = _destructive(ops, [])
    r._hold_lease(cast(ClusterOperations, ops))  # taken by an earlier control's plan
    held: list[bool] = [ops.api.lease is not None]
    with pytest.raises(KeyboardInterrupt, match=signum.name):
        _signal_self(signum)  # while the run observes or judges: no action runs
    assert ops.ran == []
    held.append(ops.api.lease is not None)  # not yet released: the session's teardown does
    r.close()  # what the plugin's session teardown calls
    held.append(ops.api.lease is not None)
    assert held == [True, True, False]
    assert signal.getsignal(signum) == before
