"""Waits poll soon at first, then at their usual pace (provisioning.polling)."""

from __future__ import annotations

from itertools import islice
from typing import Any

import pytest

from provisioning import polling
from provisioning.plan_context import PlanError, StepContext, Timeouts, wait_for


def test_intervals_double_from_a_short_first_one_up_to_the_ceiling() -> None:
    assert list(islice(polling.intervals(1.0), 6)) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert list(islice(polling.intervals(3.0, first=0.25), 6)) == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert list(islice(polling.intervals(0.05), 2)) == [0.05, 0.05]  # never above the ceiling


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _ctx(clock: Clock, poll: float) -> StepContext:
    fields: dict[str, Any] = dict.fromkeys(
        ("cluster", "target", "talos", "helm", "kube", "secrets")
    )
    return StepContext(
        **fields,
        allow_destructive=False,
        log=lambda _: None,
        timeouts=Timeouts(poll=poll),
        sleep=clock.sleep,
        clock=clock,
    )


def test_a_wait_looks_again_soon_and_then_at_the_usual_pace() -> None:
    clock = Clock()
    answers = iter([["node01"], ["node01"], []])
    wait_for(_ctx(clock, poll=1.0), 30, lambda: next(answers), "nodes Ready")
    assert clock.sleeps == [0.1, 0.2]

    clock = Clock()
    with pytest.raises(
        PlanError,
        match=r"timed out after 3s \(the deadline\) waiting for etcd; not ready yet: node02",
    ):
        wait_for(_ctx(clock, poll=1.0), 3, lambda: ["node02"], "etcd")
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert clock.now >= 3
