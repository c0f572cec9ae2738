"""Applying a plan: the one place that decides whether an action may run, and in what order.

Why one gate: planners only propose; whatever the caller asked for,
:func:`execute` refuses a plan that needs a risk class the run did not allow,
naming the switch that would allow it, before touching anything (a plan is
all or nothing, so a half-fixed control never hides behind a pass).  Actions
run in plan order; an action that disrupts a node is followed by waiting for
that node and etcd to be healthy before the next one, so a rolling fix never
takes two control-plane nodes down at once; the first failure stops the run.
Before each action the caller's ``hold`` hook (the run's Lease) is asked
whether the run may still act: a Lease another run took stops the plan
there, saying what was applied and what was not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from remediation.actions import Action, Plan, Risk
from remediation.lease import LeaseLost


class Operations(Protocol):
    """What executing an action needs from the cluster (drivers behind it)."""

    def run(self, action: Action) -> None: ...

    def wait_healthy(self, node: str) -> None: ...


class Refused(Exception):
    """The plan needs a risk class this run does not allow; nothing was changed."""


class RemediationFailed(Exception):
    """An action failed; the actions before it were applied, the ones after it were not."""

    def __init__(self, message: str, applied: tuple[Action, ...]) -> None:
        super().__init__(message)
        self.applied = applied


@dataclass(frozen=True)
class Applied:
    plan: Plan
    actions: tuple[Action, ...]


def allowed_risks(*, disruptive: bool, destructive: bool) -> frozenset[Risk]:
    """What ``--remediate`` plus the two allowance switches permit."""
    allowed = {Risk.SAFE}
    if disruptive:
        allowed.add(Risk.DISRUPTIVE)
    if destructive:
        allowed.add(Risk.DESTRUCTIVE)
    return frozenset(allowed)


def check_allowed(plan: Plan, allowed: Collection[Risk]) -> None:
    """:class:`Refused` naming every switch the plan needs beyond *allowed*."""
    missing = plan.needs(list(allowed))
    if not missing:
        return
    needed = [a for a in plan.actions if a.risk in missing]
    flags = " and ".join(risk.flag for risk in missing)
    listed = "; ".join(a.describe() for a in needed)
    raise Refused(
        f"{plan.control}: not remediated: {len(needed)} action(s) need {flags} "
        f"(nothing was changed): {listed}"
    )


def execute(
    plan: Plan,
    ops: Operations,
    allowed: Collection[Risk],
    log: Callable[[str], None],
    *,
    hold: Callable[[], None] | None = None,
    journal: Callable[[int], None] | None = None,
) -> Applied:
    """Apply every action of *plan* in order, or raise before/at the first problem.

    *hold* runs before each action; its :class:`LeaseLost` stops the plan
    before that action (any other exception of it propagates: a stop the
    caller asked for).  *journal* then receives the index of the action
    about to run, to record it in the cluster before anything changes.
    """
    check_allowed(plan, allowed)
    done: list[Action] = []
    for action in plan.actions:
        if hold is not None:
            try:
                hold()
            except LeaseLost as exc:
                raise RemediationFailed(
                    f"{plan.control}: stopped before {action.target}: {action.summary}: {exc}; "
                    f"{len(done)} earlier action(s) were applied, "
                    f"{len(plan.actions) - len(done)} (this one included) were not",
                    tuple(done),
                ) from exc
        if journal is not None:
            journal(len(done))
        log(f"{plan.control}: {action.describe()}")
        try:
            ops.run(action)
            if action.risk is not Risk.SAFE and action.node is not None:
                ops.wait_healthy(action.node)
        except Exception as exc:
            raise RemediationFailed(
                f"{plan.control}: {action.target}: {action.summary} failed: {exc}; "
                f"{len(done)} earlier action(s) were applied, "
                f"{len(plan.actions) - len(done) - 1} later one(s) were not",
                tuple(done),
            ) from exc
        done.append(action)
    return Applied(plan, tuple(done))
