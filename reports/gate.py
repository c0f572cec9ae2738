"""The run's exit status: ``--fail-on SEVERITY`` and expired waivers.

pytest exits 1 when any test failed.  A team gating CI on the suite decides
which failures block: ``--fail-on critical`` lets a ``normal`` control's drift
be reported (summary, Allure, SARIF) without failing the job.  The default is
``normal``: blocker, critical and normal failures fail the run, ``minor`` and
``trivial`` ones are reported only.  Only *drift* is graded: a broken scenario
(the suite or the target failed) always fails the run, as does a failure with
no severity.  Waived controls never fail it (they are expected failures); an
expired waiver of a control the run verified always does, whatever its
severity, so an exception cannot quietly outlive its date.

A run whose only blocking problem is an unverified control (its source could
not be observed) exits :data:`reports.summary.EXIT_NOT_VERIFIED`, never 0.
An expired waiver is a failure of the run, so it outranks that status: 6
says "nothing failed, some controls not verified", which is no longer true,
and a CI job or nightly alert keyed on 1 must see it.  Exit statuses other
than 0, 1 and 6 (interrupted, usage error, no tests, and any status another
part of the suite chose) are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provisioning.definition.waivers import Waiver
from reports import summary

SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
DEFAULT_FAIL_ON = "normal"
OK, TESTS_FAILED = 0, 1


def blocks(record: summary.Record, fail_on: str) -> bool:
    """Whether *record* fails the run at threshold *fail_on*."""
    if record.outcome == "broken":
        return True
    if record.outcome != "failed":
        return False
    if record.severity not in SEVERITIES:
        return True
    return SEVERITIES.index(record.severity) <= SEVERITIES.index(fail_on)


def below_threshold(records: Iterable[summary.Record], fail_on: str) -> list[summary.Record]:
    """Failed scenarios that the threshold lets pass (reported, not blocking)."""
    return [r for r in records if r.outcome == "failed" and not blocks(r, fail_on)]


def exit_status(
    current: int, records: Sequence[summary.Record], fail_on: str, expired: Sequence[Waiver]
) -> int:
    """The status the run should exit with, given pytest's *current* one."""
    if current not in (OK, TESTS_FAILED, summary.EXIT_NOT_VERIFIED):
        return current
    if expired:
        return TESTS_FAILED
    graded = below_threshold(records, fail_on)
    # Only a run whose failures are all graded below the threshold is let through: a status 1
    # with no failed scenario at all (provisioning stopped the session) keeps its 1.
    if current == TESTS_FAILED and graded and not any(blocks(r, fail_on) for r in records):
        # Graded failures pass the gate; a control that was not verified still does not.
        unverified = any(r.outcome == "skipped" for r in records)
        return summary.EXIT_NOT_VERIFIED if unverified else OK
    return current
