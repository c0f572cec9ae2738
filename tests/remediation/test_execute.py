"""The remediation gate: refused plans change nothing, order is kept, the first failure stops."""

from __future__ import annotations

import pytest

from remediation.actions import (
    Action,
    ApplyConfig,
    DeleteObject,
    Plan,
    RebuildNode,
    Risk,
    UpgradeNode,
)
from remediation.execute import (
    Refused,
    RemediationFailed,
    allowed_risks,
    check_allowed,
    execute,
)

DS = ("apps", "v1", "daemonsets")


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[str] = []
        self.fail_on = fail_on

    def run(self, action: Action) -> None:
        if action.target == self.fail_on:
            raise RuntimeError("talosctl said no")
        self.events.append(f"run {action.target}")

    def wait_healthy(self, node: str) -> None:
        self.events.append(f"wait {node}")


def safe(target: str) -> Action:
    return Action(
        "CIL-02", target, "delete", DeleteObject(DS, "kube-proxy", "kube-system"), Risk.SAFE
    )


def upgrade(node: str) -> Action:
    change = UpgradeNode(node, "factory.talos.dev/installer/abc:v1.12.5")
    return Action("LH-01", node, "install extensions", change, Risk.DISRUPTIVE, node=node)


def test_allowances_widen_only_what_is_asked() -> None:
    assert allowed_risks(disruptive=False, destructive=False) == {Risk.SAFE}
    assert allowed_risks(disruptive=True, destructive=False) == {Risk.SAFE, Risk.DISRUPTIVE}
    assert Risk.DESTRUCTIVE in allowed_risks(disruptive=False, destructive=True)


def test_a_plan_needing_more_than_allowed_is_refused_naming_the_flag_and_runs_nothing() -> None:
    plan = Plan("LH-01", (safe("a"), upgrade("node02")))
    ops = Recorder()
    with pytest.raises(
        Refused, match=r"LH-01: not remediated: 1 action\(s\) need --allow-disruptive"
    ):
        execute(plan, ops, allowed_risks(disruptive=False, destructive=False), log=lambda s: None)
    assert ops.events == []
    rebuild = Action(
        "ENC-01",
        "node03",
        "re-encrypt",
        RebuildNode("node03", "10.10.20.18"),
        Risk.DESTRUCTIVE,
        node="node03",
    )
    with pytest.raises(Refused, match="--allow-disruptive and --allow-destructive"):
        check_allowed(Plan("X-01", (upgrade("node02"), rebuild)), {Risk.SAFE})


def test_disruptive_actions_roll_one_node_at_a_time_with_a_health_wait() -> None:
    plan = Plan("LH-01", (upgrade("node02"), upgrade("node03"), safe("ds")))
    ops = Recorder()
    applied = execute(plan, ops, set(Risk), log=lambda s: None)
    assert ops.events == ["run node02", "wait node02", "run node03", "wait node03", "run ds"]
    assert len(applied.actions) == 3


def test_the_first_failure_stops_the_run_and_says_what_was_applied() -> None:
    plan = Plan("LH-01", (upgrade("node02"), upgrade("node03"), upgrade("node04")))
    ops = Recorder(fail_on="node03")
    with pytest.raises(RemediationFailed) as failed:
        execute(plan, ops, set(Risk), log=lambda s: None)
    assert "node03: install extensions failed: talosctl said no" in str(failed.value)
    assert "1 earlier action(s) were applied, 1 later one(s) were not" in str(failed.value)
    assert ops.events == ["run node02", "wait node02"]
    assert [a.target for a in failed.value.applied] == ["node02"]


def test_plans_describe_their_exact_changes() -> None:
    plan = Plan(
        "SEC-01",
        (Action("SEC-01", "node02", "re-apply config", ApplyConfig("node02"), Risk.SAFE),),
        manual=("power the node on",),
    )
    text = plan.describe()
    assert "[safe] node02: re-apply config -- talosctl apply-config --nodes <node02>" in text
    assert "--mode no-reboot" in text
    assert "[manual] power the node on" in text
    assert "(nothing to do)" in Plan("X-01").describe()
