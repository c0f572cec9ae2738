"""The Lease kept alive while a long plan runs, and a run that lost it stopping in time.

Why these cases: a rolling plan (node by node, each followed by a health
wait) can outlast ``leaseDurationSeconds``; renewed only between plans, the
Lease would look stale to a second run, which would take it over and start
changing the cluster alongside the first.  The clock is injected (the
fakes of test_lease.py), so minutes of waiting cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from checks.findings import Finding
from checks.snapshot import Snapshot
from provisioning.definition import inventory
from provisioning.drivers import Target, errors
from provisioning.drivers.talosctl import EtcdMemberRow
from provisioning.plan_context import Timeouts
from remediation.actions import Action, ApplyConfig, Plan, Risk
from remediation.execute import RemediationFailed, execute
from remediation.lease import LeaseHeld, LeaseLost, RemediationLease
from remediation.operations import ClusterOperations
from tests.remediation.test_lease import Clock, FakeApi, holder_of, lease
from tests.remediation.test_remediator import FakeOps, Item, remediator, snapshot

ROOT = Path(__file__).resolve().parents[2]


def writes(api: FakeApi) -> int:
    return api.version


def test_keep_alive_renews_once_a_third_of_the_duration_has_passed() -> None:
    api, clock = FakeApi(), Clock()
    held = lease(api, clock, "run-a")  # 60 s
    held.acquire()
    assert writes(api) == 1
    for _ in range(19):  # 19 polls of 1 s: not yet due
        clock.now += 1
        held.keep_alive()
    assert writes(api) == 1
    clock.now += 1
    held.keep_alive()
    assert writes(api) == 2
    assert held.held
    assert held.lost is None


def test_a_wait_longer_than_the_lease_keeps_other_runs_out() -> None:
    api, clock = FakeApi(), Clock()
    held = lease(api, clock, "run-a")
    held.acquire()
    for _ in range(120):  # a ten-minute health wait, polled every 5 s
        clock.sleep(5)
        held.keep_alive()
        with pytest.raises(LeaseHeld):
            lease(api, clock, "run-b").acquire()
    held.hold()  # still ours before the next action
    assert holder_of(api) == "run-a"


def test_a_lease_taken_during_a_wait_is_remembered_and_stops_the_next_change() -> None:
    api, clock = FakeApi(), Clock()
    held = lease(api, clock, "run-a")
    held.acquire()
    clock.now += 61  # blocked longer than the lease in one call (e.g. talosctl upgrade --wait)
    lease(api, clock, "run-b").acquire()  # the lease looked stale: taken over
    held.keep_alive()  # the wait notices; it does not raise mid-step
    assert not held.held
    with pytest.raises(LeaseLost, match=r"no longer held by run-a: another run \('run-b'\)"):
        held.hold()
    held.release()  # not ours: left alone
    assert holder_of(api) == "run-b"


class FlakyApi(FakeApi):
    """The API refuses calls while ``down`` (a control-plane node restarting)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.down:
            raise errors.Unreachable("API server did not answer")
        return super().get(kind, name, namespace)


def test_a_failed_renewal_is_tolerated_while_half_the_lease_is_left() -> None:
    api, clock = FlakyApi(), Clock()
    held = lease(api, clock, "run-a")
    held.acquire()
    api.down = True
    clock.now += 20
    held.keep_alive()  # due, fails, never raises
    held.hold()  # 40 s of 60 left: the next action has at least half the lease to itself
    clock.now += 10
    with pytest.raises(LeaseLost, match=r"could not be renewed .* less than half of its 60s"):
        held.hold()
    api.down = False
    with pytest.raises(LeaseLost):  # remembered: another run may have acted meanwhile
        held.hold()


def config_action(node: str) -> Action:
    return Action("SEC-01", node, "re-apply", ApplyConfig(node), Risk.SAFE, node=None)


class Steps:
    """Operations whose first action takes longer than the lease; another run takes over."""

    def __init__(self, api: FakeApi, clock: Clock) -> None:
        self.api, self.clock, self.ran = api, clock, cast(list[str], [])

    def run(self, action: Action) -> None:
        self.ran.append(action.target)
        if len(self.ran) == 1:
            self.clock.now += 61
            lease(self.api, self.clock, "run-b").acquire()

    def wait_healthy(self, node: str) -> None:
        raise AssertionError("safe actions need no health wait")


def test_execute_renews_before_each_action_and_stops_before_the_next_when_lost() -> None:
    api, clock = FakeApi(), Clock()
    held = lease(api, clock, "run-a")
    held.acquire()
    ops = Steps(api, clock)
    plan = Plan("SEC-01", tuple(config_action(n) for n in ("node01", "node02", "node03")))
    with pytest.raises(RemediationFailed) as failed:
        execute(plan, ops, {Risk.SAFE}, log=lambda _: None, hold=held.hold)
    message = str(failed.value)
    assert message.startswith("SEC-01: stopped before node02: re-apply: Lease")
    assert "another run ('run-b') took it" in message
    assert "1 earlier action(s) were applied, 2 (this one included) were not" in message
    assert ops.ran == ["node01"]
    assert [a.target for a in failed.value.applied] == ["node01"]


def test_execute_renews_the_lease_before_every_action() -> None:
    api, clock = FakeApi(), Clock()
    held = lease(api, clock, "run-a")
    held.acquire()
    ops = Steps(api, clock)
    ops.ran.append("earlier")  # no takeover in this run
    plan = Plan("SEC-01", tuple(config_action(n) for n in ("node01", "node02")))
    execute(plan, ops, {Risk.SAFE}, log=lambda _: None, hold=held.hold)
    assert writes(api) == 3  # acquired, then renewed twice


class Kube:
    """The Node object the health wait reads: Ready once *ready_at* has passed."""

    def __init__(self, clock: Clock, ready_at: float) -> None:
        self.clock, self.ready_at = clock, ready_at

    def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        ready = "True" if self.clock.now >= self.ready_at else "False"
        return {"status": {"conditions": [{"type": "Ready", "status": ready}]}}

    def close(self) -> None:
        pass


def test_a_long_health_wait_keeps_the_lease_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, clock = FakeApi(), Clock()
    cluster = inventory.load_cluster(ROOT / "cluster")
    target = Target("fake", None, None, None)
    kube = Kube(clock, ready_at=clock.now + 400)  # the node comes back after 400 s
    ops = ClusterOperations(
        cluster,
        target,
        lambda: cast(Any, kube),
        scratch=tmp_path,
        log=lambda _: None,
        timeouts=Timeouts(nodes=900, poll=5),
        sleep=clock.sleep,
    )
    ops.ctx.clock = clock
    members = [
        EtcdMemberRow(None, str(i), n.hostname, (), (), False)
        for i, n in enumerate(cluster.control_plane_nodes)
    ]
    monkeypatch.setattr(ops.talos, "etcd_members", lambda node: members)
    monkeypatch.setattr(ops.talos, "etcd_alarms", lambda node: [])
    held = lease(api, clock, "run-a")  # 60 s, much shorter than the wait
    held.acquire()
    attempts: list[str] = []

    def contender() -> None:  # the heartbeat, with another run trying at every poll
        held.keep_alive()
        try:
            lease(api, clock, "run-b").acquire()
            attempts.append("taken")
        except LeaseHeld:
            attempts.append("refused")

    ops.heartbeat = contender
    node = cluster.nodes[0].name
    ops.wait_healthy(node)
    assert clock.now >= kube.ready_at
    assert len(attempts) > 60  # polled every 5 s for 400 s
    assert set(attempts) == {"refused"}
    held.hold()
    assert holder_of(api) == "run-a"


def test_a_run_whose_lease_was_taken_fails_the_scenario_before_its_next_action() -> None:
    api, clock = FakeApi(), Clock()
    ops = FakeOps(api, rejected=False)
    r = remediator(ops, [])
    original = ops.run

    def slow(action: Action) -> None:
        original(action)
        clock.now += 400  # longer than the default 300 s lease, no wait to renew in
        lease(api, clock, "run-b").acquire()

    ops.run = slow  # type: ignore[method-assign]
    findings = [
        Finding("DaemonSet kube-system/kube-proxy", "absent", "present"),
    ]

    def check(state: Snapshot) -> Sequence[Finding]:
        return findings

    def clocked(*args: Any, **kwargs: Any) -> RemediationLease:
        return RemediationLease(*args, **kwargs, clock=clock, sleep=clock.sleep)

    item = Item()
    two = Plan(
        "CIL-02",
        (
            Action("CIL-02", "a", "first", ApplyConfig("node01"), Risk.SAFE),
            Action("CIL-02", "b", "second", ApplyConfig("node02"), Risk.SAFE),
        ),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("fixtures.remediate.RemediationLease", clocked)
        mp.setattr("fixtures.remediate._plan", lambda *_: two)
        with pytest.raises(AssertionError) as failed:
            r.verify(cast(pytest.Item, item), "CIL-02", check, snapshot(), {})
    message = str(failed.value)
    assert "stopped before b: second" in message, message
    assert "another run ('run-b') took it" in message, message
    assert ops.ran == ["ApplyConfig"]
    assert item.user_properties == []
    r.close()
    assert holder_of(api) == "run-b"


def test_a_manual_control_after_an_earlier_fix_is_judged_again_while_it_settles() -> None:
    ops = FakeOps(FakeApi(), rejected=False)
    clock = Clock()
    calls: list[int] = []
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        clock.sleep(seconds)

    def check(state: Snapshot) -> Sequence[Finding]:
        calls.append(1)  # fixed by the earlier control's action on the third look
        return [] if len(calls) >= 3 else [Finding("Volume v", "3 healthy", "2 healthy")]

    for changed, passes in ((True, True), (False, False)):
        calls.clear()
        r = remediator(ops, [])
        pauses.clear()
        r.clock, r.sleep = clock, pause
        r._changed_at = clock() if changed else None
        item = Item()
        if passes:
            r.verify(cast(pytest.Item, item), "TOP-01", check, snapshot(), {})
        else:
            with pytest.raises(AssertionError, match="no automatic remediation"):
                r.verify(cast(pytest.Item, item), "TOP-01", check, snapshot(), {})
        # Failing at first, fixed by the run: remediated, though by another control's action.
        assert item.user_properties == ([("remediated", "true")] if passes else [])
        assert len(calls) == (3 if passes else 1)
        # The look after the fix's first one comes soon, not a whole settle interval later.
        assert pauses == ([0.1] if passes else [])


def test_a_manual_control_gets_the_settle_time_from_the_change_not_from_its_own_look() -> None:
    ops = FakeOps(FakeApi(), rejected=False)
    clock = Clock()
    looks: list[float] = []

    def check(state: Snapshot) -> Sequence[Finding]:
        looks.append(clock())
        return [Finding("Node n", "schedulable", "allowScheduling=False")]

    r = remediator(ops, [])
    r.clock, r.sleep = clock, clock.sleep
    changed = clock()
    r._changed_at = changed
    clock.sleep(r.settle - 1)  # an earlier manual control already waited most of it
    with pytest.raises(AssertionError, match="no automatic remediation"):
        r.verify(cast(pytest.Item, Item()), "LH-03", check, snapshot(), {})
    # Judged on a fresh observation, then only until the settle time since the change ends.
    assert len(looks) >= 2
    assert looks[-1] - changed <= r.settle + 3
    clock.sleep(r.settle * 5)
    looks.clear()
    with pytest.raises(AssertionError, match="no automatic remediation"):
        r.verify(cast(pytest.Item, Item()), "LH-03", check, snapshot(), {})
    assert len(looks) == 2  # the first judgement and one fresh look, no waiting
    assert looks[0] == looks[1]


def test_a_probe_given_as_a_param_is_made_afresh_for_each_rejudgement() -> None:
    ops = FakeOps(FakeApi(), rejected=False)
    clock = Clock()
    probes: list[str] = []

    def probe_again() -> str:
        probes.append(f"claim-{len(probes) + 2}")
        return probes[-1]

    def check(state: Snapshot, probe: str) -> Sequence[Finding]:
        # The first claim was made before the earlier control's fix: no volume came of it.
        ok = probe != "claim-1"
        return [] if ok else [Finding(f"PVC {probe}", "a Longhorn volume", "none")]

    r = remediator(ops, [])
    r.clock, r.sleep = clock, clock.sleep
    r._changed_at = clock()
    item = Item()
    r.verify(
        cast(pytest.Item, item),
        "LH-06",
        check,
        snapshot(),
        {"probe": "claim-1"},
        rerun={"probe": probe_again},
    )
    assert probes == ["claim-2"]
    assert item.user_properties == [("remediated", "true")]
    # Without a rerun the stale probe is judged again, and the control stays failed.
    r2 = remediator(ops, [])
    r2.clock, r2.sleep = clock, clock.sleep
    r2._changed_at = clock()
    with pytest.raises(AssertionError, match="no automatic remediation"):
        r2.verify(cast(pytest.Item, Item()), "LH-06", check, snapshot(), {"probe": "claim-1"})
