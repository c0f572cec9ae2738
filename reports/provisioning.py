"""The provisioning run as one Allure result, its plan steps as Allure steps.

Why a result of its own: ``pytest --provision`` builds the cluster in a
session fixture, before any scenario, and allure-pytest-bdd records steps
only inside a scenario.  An operator reading the morning report still wants
to see what the build did (which steps ran, which were already true, where it
failed and after how long), so the outcomes the plan reports are written
through allure-commons' own file logger as a result named for the cluster,
labelled so it sorts apart from the controls (epic ``provisioning``).

Only step names, statuses and durations are written, and the failure text the
plan produced (which names nodes and files, never secrets).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import (
    Label,
    Status,
    StatusDetails,
    TestResult,
    TestStepResult,
)

from provisioning.plan import StepOutcome

_STATUS = {
    "done": Status.PASSED,
    "skipped (already true)": Status.SKIPPED,
    "would run": Status.SKIPPED,
    "failed": Status.FAILED,
}


def provisioning_result(
    cluster: str,
    target: str,
    mode: str,
    outcomes: Sequence[StepOutcome],
    *,
    started_ms: int,
    error: str | None = None,
) -> TestResult:
    """The Allure result of one provisioning run (``mode`` ``plan`` or ``apply``)."""
    name = f"Provision {cluster} ({mode})"
    steps: list[TestStepResult] = []
    clock = started_ms
    for outcome in outcomes:
        stop = clock + int(outcome.seconds * 1000)
        steps.append(
            TestStepResult(
                name=f"{outcome.name}: {outcome.status}",
                status=_STATUS.get(outcome.status, Status.BROKEN),
                start=clock,
                stop=stop,
            )
        )
        clock = stop
    if error is not None:
        status, details = Status.FAILED, StatusDetails(message=error)
    else:
        status, details = Status.PASSED, None
    identity = hashlib.md5(f"provisioning:{cluster}:{mode}".encode()).hexdigest()
    return TestResult(
        uuid=str(uuid.uuid4()),
        name=name,
        fullName=f"provisioning.plan:{cluster}:{mode}",
        historyId=identity,
        testCaseId=identity,
        status=status,
        statusDetails=details,
        start=started_ms,
        stop=max(clock, int(time.time() * 1000)),
        steps=steps,
        labels=[
            Label(name="epic", value="provisioning"),
            Label(name="feature", value=f"Provisioning {cluster}"),
            Label(name="story", value=f"pytest --provision ({mode})"),
            Label(name="severity", value="critical"),
            Label(name="tag", value=f"target:{target}"),
        ],
    )


def write_result(alluredir: Path, result: TestResult) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    logger = AllureFileLogger(str(alluredir))  # type: ignore[no-untyped-call]
    logger.report_result(result)  # type: ignore[no-untyped-call]
