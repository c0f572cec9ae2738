"""The exit status: failures graded by ``--fail-on``, expired waivers always failing."""

from __future__ import annotations

import datetime

import pytest

from provisioning.definition.waivers import Waiver
from reports import gate, summary
from reports.summary import Record

EXPIRED = Waiver("HYG-03", "team-x", "old reason", datetime.date(2020, 1, 1))


def failed(severity: str, outcome: str = "failed") -> Record:
    return Record(nodeid=severity, outcome=outcome, controls=("X-01",), severity=severity)


@pytest.mark.parametrize(
    ("severity", "fail_on", "status"),
    [
        ("normal", "normal", 1),
        ("minor", "normal", 0),
        ("trivial", "normal", 0),
        ("critical", "critical", 1),
        ("normal", "critical", 0),
        ("blocker", "blocker", 1),
        ("critical", "blocker", 0),
        ("trivial", "trivial", 1),
    ],
)
def test_failures_below_the_threshold_do_not_fail_the_run(
    severity: str, fail_on: str, status: int
) -> None:
    assert gate.exit_status(1, [failed(severity)], fail_on, []) == status


def test_one_failure_at_the_threshold_is_enough() -> None:
    records = [failed("minor"), failed("critical")]
    assert gate.exit_status(1, records, "critical", []) == 1
    assert gate.below_threshold(records, "critical") == [records[0]]


def test_broken_and_unlabelled_failures_always_fail() -> None:
    assert gate.exit_status(1, [failed("trivial", "broken")], "blocker", []) == 1
    assert gate.exit_status(1, [failed("")], "blocker", []) == 1


def test_an_expired_waiver_fails_an_otherwise_green_run() -> None:
    assert gate.exit_status(0, [failed("normal", "passed")], "normal", [EXPIRED]) == 1


def test_an_expired_waiver_outranks_not_verified() -> None:
    """6 means nothing failed; an expired waiver is a failure of the run, so 1 wins."""
    records = [failed("normal", "passed"), failed("normal", "skipped")]
    assert gate.exit_status(summary.EXIT_NOT_VERIFIED, records, "normal", [EXPIRED]) == 1
    assert gate.exit_status(summary.EXIT_NOT_VERIFIED, records, "normal", []) == 6


@pytest.mark.parametrize("status", [2, 3, 4, 5, 7])
def test_other_statuses_are_left_alone(status: int) -> None:
    assert gate.exit_status(status, [failed("trivial")], "normal", [EXPIRED]) == status


def test_default_is_normal_and_severities_are_allures() -> None:
    assert gate.DEFAULT_FAIL_ON == "normal"
    assert gate.SEVERITIES == ("blocker", "critical", "normal", "minor", "trivial")


def test_a_graded_failure_beside_an_unverified_control_still_exits_not_verified() -> None:
    records = [failed("minor"), failed("normal", "skipped")]
    assert gate.exit_status(1, records, "normal", []) == summary.EXIT_NOT_VERIFIED


def test_a_failed_session_without_failed_scenarios_keeps_its_status() -> None:
    """pytest.exit(..., returncode=1) from provisioning: nothing graded, nothing let through."""
    assert gate.exit_status(1, [], "normal", []) == 1
    assert gate.exit_status(1, [failed("normal", "skipped")], "normal", []) == 1
